using Npgsql;

namespace Gatehouse.IntegrationTests;

/// <summary>Clients see through the gateway what they see direct (issue #16, item 7).</summary>
[Collection(GatewayCollection.Name)]
public sealed class ClientFidelityTests(GatewayFixture fixture)
{
    [Fact]
    public async Task A_sessions_own_notification_carries_the_pid_it_was_given()
    {
        await using var listener = await fixture.OpenAsync();
        await using var other = await fixture.OpenAsync();
        var pids = new List<int>();
        listener.Notification += (_, e) => pids.Add(e.PID);
        await ExecuteAsync(listener, "LISTEN gatehouse_fidelity");
        await ExecuteAsync(listener, "NOTIFY gatehouse_fidelity, 'own'");
        await ExecuteAsync(other, "NOTIFY gatehouse_fidelity, 'other'");
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(15));
        while (pids.Count < 2)
        {
            await listener.WaitAsync(timeout.Token);
        }

        // The own notification is delivered before NOTIFY's ReadyForQuery, so it comes first.
        Assert.Equal(listener.ProcessID, pids[0]);
        Assert.NotEqual(listener.ProcessID, pids[1]);
    }

    private static async Task ExecuteAsync(NpgsqlConnection connection, string sql)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }
}
