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
