using Microsoft.Data.Sqlite;
using Npgsql;

namespace Gatehouse.IntegrationTests;

/// <summary>The state file deleted under a running gateway: statements are refused with 58000, the session lives on, and it recovers.</summary>
[Collection(GatewayCollection.Name)]
public sealed class AuditStoreFaultTests(GatewayFixture fixture)
{
    [Fact]
    public async Task Statements_get_58000_while_the_store_is_gone_and_run_again_when_it_returns()
    {
        await using var gateway = GatewayProcess.Prepare(fixture);
        gateway.Start();
        string state = Path.Combine(gateway.Directory, "state.db");
        await using (var connection = await gateway.OpenAsync(await gateway.TokenAsync("fault-agent")))
        {
            Assert.Equal(1, await ScalarAsync(connection, "SELECT 1"));

            // A consistent copy (WAL included) of the file as it is now, then the file is gone.
            string backup = Path.Combine(gateway.Directory, "backup.db");
            using (var copy = new SqliteConnection($"Data Source={state};Pooling=false"))
            {
                copy.Open();
                using var vacuum = copy.CreateCommand();
                vacuum.CommandText = $"VACUUM INTO '{backup}'";
                vacuum.ExecuteNonQuery();
            }

            foreach (var suffix in new[] { "", "-wal", "-shm" })
            {
                File.Delete(state + suffix);
            }

            for (int i = 0; i < 3; i++)
            {
                var refused = await Record.ExceptionAsync(() => ScalarAsync(connection, $"SELECT {10 + i}"));
                Assert.True(refused is PostgresException { SqlState: "58000" }, $"statement {i}: {refused} (connection {connection.FullState})");
                Assert.StartsWith("gatehouse: audit unavailable", ((PostgresException)refused).MessageText, StringComparison.Ordinal);
                Assert.True(connection.FullState == System.Data.ConnectionState.Open,
                    $"statement {i}: the session ended after {((PostgresException)refused).Severity} {((PostgresException)refused).MessageText}");
            }

            File.Copy(backup, state);
            Assert.Equal(2, await ScalarAsync(connection, "SELECT 2"));
            Assert.Equal(3, await ScalarAsync(connection, "SELECT 3"));
        }

        var stopped = await gateway.StopAsync(Signals.Terminate);
        Assert.True(stopped.ExitCode == 0, stopped.Stderr);
        var verify = await AuditCli.RunAsync("audit", "verify", "--config", gateway.ConfigPath);
        Assert.True(verify.ExitCode == 0, verify.Stdout + verify.Stderr);
        Assert.DoesNotContain("note:", verify.Stdout, StringComparison.Ordinal);

        // The refused statements were never stored; those after the store returned were, in one unbroken chain.
        var session = Assert.Single((await AuditCli.JsonAsync("sessions", "list", "--config", gateway.ConfigPath, "--identity", "fault-agent", "--json")).EnumerateArray());
        var detail = await AuditCli.JsonAsync("sessions", "show", session.GetProperty("session").GetString()!, "--config", gateway.ConfigPath, "--json");
        var sql = detail.GetProperty("statements").EnumerateArray().Select(s => s.GetProperty("statement").GetProperty("sql").GetString()).ToList();
        Assert.Contains("SELECT 1", sql);
        Assert.Contains("SELECT 2", sql);
        Assert.Contains("SELECT 3", sql);
        Assert.DoesNotContain("SELECT 10", sql);
    }

    private static async Task<int> ScalarAsync(NpgsqlConnection connection, string sql)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        return (int)(await command.ExecuteScalarAsync())!;
    }
}
