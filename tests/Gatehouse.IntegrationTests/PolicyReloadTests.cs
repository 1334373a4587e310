using Npgsql;

namespace Gatehouse.IntegrationTests;

/// <summary>Policy changes reach sessions that are already open; a bad change leaves the last good policy in force.</summary>
public sealed class PolicyReloadTests
{
    private const string DenyOrders = """
        identities:
          coding-agents: { claims: { groups: ai-agents } }
        grants:
          - to: coding-agents
            targets: [shop]
            db_roles: [app_read]
            rules:
              - { id: no-orders, when: { tables: ["public.orders"] }, then: deny }
        """;

    private static async Task<bool> OrdersAllowedAsync(NpgsqlConnection connection)
    {
        await using var command = new NpgsqlCommand("SELECT count(*) FROM orders", connection);
        try
        {
            await command.ExecuteScalarAsync();
            return true;
        }
        catch (PostgresException error) when (error.SqlState == "42501")
        {
            Assert.Contains("no-orders", error.MessageText, StringComparison.Ordinal);
            return false;
        }
    }

    private static async Task EventuallyAsync(Func<Task<bool>> condition, string what)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(15);
        while (!await condition())
        {
            Assert.True(DateTime.UtcNow < deadline, $"timed out waiting for {what}");
            await Task.Delay(100);
        }
    }

    [Fact]
    public async Task A_valid_change_applies_to_an_open_session_and_an_invalid_one_is_ignored()
    {
        await using var gateway = await TestGateway.StartAsync();
        await using var connection = await gateway.OpenAsync();
        Assert.True(await OrdersAllowedAsync(connection));

        await File.WriteAllTextAsync(gateway.PolicyPath, DenyOrders);
        await EventuallyAsync(async () => !await OrdersAllowedAsync(connection), "the reload to deny orders");

        var rejected = new TaskCompletionSource<Policy.PolicyReloadResult>(TaskCreationOptions.RunContinuationsAsynchronously);
        gateway.Gateway.Policy.Reloaded += result => { if (!result.Success) rejected.TrySetResult(result); };
        await File.WriteAllTextAsync(gateway.PolicyPath, "grants: [ this is: not valid");
        var result = await rejected.Task.WaitAsync(TimeSpan.FromSeconds(15));
        Assert.NotEmpty(result.Errors);
        Assert.False(await OrdersAllowedAsync(connection));

        await using var newSession = await gateway.OpenAsync();
        Assert.False(await OrdersAllowedAsync(newSession));
    }

    [Fact]
    public async Task A_statement_prepared_before_a_change_is_decided_again_at_its_Bind()
    {
        // A red team prepared statements under a loose policy and ran them, unreviewed, after a strict one was loaded.
        await using var gateway = await TestGateway.StartAsync();
        await using var client = await WireClient.ConnectAsync(gateway.Port, "agent", gateway.Token());
        Assert.Equal("1 Z", string.Join(' ', await client.Parse("orders", "SELECT count(*) FROM orders").Sync().RoundTripAsync()));
        Assert.Equal("1 Z", string.Join(' ', await client.Parse("", "SELECT count(*) FROM orders WHERE id > 0").Sync().RoundTripAsync()));
        Assert.Contains(await client.Bind("", "orders").Execute("").Sync().RoundTripAsync(), r => r.Type == 'D');

        await File.WriteAllTextAsync(gateway.PolicyPath, DenyOrders);
        await using (var probe = await gateway.OpenAsync())
        {
            await EventuallyAsync(async () => !await OrdersAllowedAsync(probe), "the reload to deny orders");
        }

        foreach (var name in new[] { "orders", "" })
        {
            var bound = await client.Bind("", name).Execute("").Sync().RoundTripAsync();
            var error = Assert.Single(bound, r => r.Type == 'E').Error;
            Assert.Equal("42501", error.SqlState);
            Assert.Contains("no-orders", error.Message, StringComparison.Ordinal);
            Assert.DoesNotContain(bound, r => r.Type == 'D');
        }

        // Still refused on the next Bind, and the session goes on.
        Assert.Contains(await client.Bind("", "orders").Execute("").Sync().RoundTripAsync(), r => r.Type == 'E');
        Assert.Contains(await client.Query("SELECT 1").RoundTripAsync(), r => r.Type == 'D');

        // Allowed again: the prepared statement runs, decided once more under the restored policy.
        await File.WriteAllTextAsync(gateway.PolicyPath, DenyOrders.Replace("tables: [\"public.orders\"]", "tables: [\"public.nothing\"]", StringComparison.Ordinal));
        await EventuallyAsync(async () => (await client.Bind("", "orders").Execute("").Sync().RoundTripAsync()).Any(r => r.Type == 'D'), "the reload to allow orders");
        Assert.Contains(await client.Bind("", "orders").Execute("").Sync().RoundTripAsync(), r => r.Type == 'D');
    }

    [Fact]
    public async Task A_portal_bound_before_a_change_is_not_executed_after_it()
    {
        await using var gateway = await TestGateway.StartAsync();
        await using var client = await WireClient.ConnectAsync(gateway.Port, "agent", gateway.Token());
        Assert.Contains(await client.Query("BEGIN").RoundTripAsync(), r => r.Type == 'C');
        Assert.Equal("1 2 Z", string.Join(' ', await client.Parse("orders", "SELECT count(*) FROM orders").Bind("held", "orders").Sync().RoundTripAsync()));

        await File.WriteAllTextAsync(gateway.PolicyPath, DenyOrders);
        await using (var probe = await gateway.OpenAsync())
        {
            await EventuallyAsync(async () => !await OrdersAllowedAsync(probe), "the reload to deny orders");
        }

        var executed = await client.Execute("held").Sync().RoundTripAsync();
        Assert.Equal("0A000", Assert.Single(executed, r => r.Type == 'E').Error.SqlState);
        Assert.DoesNotContain(executed, r => r.Type == 'D');
        Assert.Contains(await client.Query("ROLLBACK").RoundTripAsync(), r => r.Type == 'C');
    }

    [Fact]
    public async Task A_mask_added_after_a_statement_was_prepared_masks_its_rows()
    {
        await using var gateway = await TestGateway.StartAsync();
        await using var direct = await gateway.OpenAsync();
        await using (var seed = new NpgsqlCommand("SELECT email FROM customers WHERE email IS NOT NULL LIMIT 1", direct))
        {
            Assert.NotNull(await seed.ExecuteScalarAsync());
        }

        await using var client = await WireClient.ConnectAsync(gateway.Port, "agent", gateway.Token());
        Assert.Equal("1 Z", string.Join(' ', await client.Parse("emails", "SELECT email FROM customers WHERE email IS NOT NULL").Sync().RoundTripAsync()));
        var before = await client.Bind("", "emails").Execute("").Sync().RoundTripAsync();
        string raw = before.First(r => r.Type == 'D').FirstValue()!;
        Assert.Contains("@", raw, StringComparison.Ordinal);

        await File.WriteAllTextAsync(gateway.PolicyPath, TestData.DefaultPolicy + "\n    masks:\n      - { columns: [\"public.customers.email\"], with: redact }\n");
        await EventuallyAsync(async () =>
        {
            await using var probe = new NpgsqlCommand("SELECT email FROM customers WHERE email IS NOT NULL LIMIT 1", direct);
            return (string?)await probe.ExecuteScalarAsync() != raw;
        }, "the reload to mask email");

        var after = await client.Bind("", "emails").Describe('P', "").Execute("").Sync().RoundTripAsync();
        Assert.Contains(after, r => r.Type == 'D');
        Assert.All(after.Where(r => r.Type == 'D'), r => Assert.DoesNotContain("@", r.FirstValue() ?? "", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Losing_the_grant_refuses_the_next_statement_of_an_open_session()
    {
        await using var gateway = await TestGateway.StartAsync();
        await using var connection = await gateway.OpenAsync();
        await File.WriteAllTextAsync(gateway.PolicyPath, DenyOrders.Replace("groups: ai-agents", "groups: somebody-else", StringComparison.Ordinal));
        await EventuallyAsync(async () =>
        {
            await using var command = new NpgsqlCommand("SELECT 1", connection);
            try
            {
                await command.ExecuteScalarAsync();
                return false;
            }
            catch (PostgresException error)
            {
                Assert.Contains("gatehouse: no grant", error.MessageText, StringComparison.Ordinal);
                return true;
            }
        }, "the grant to disappear");
    }
}
