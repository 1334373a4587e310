using Microsoft.Data.Sqlite;
using Npgsql;

namespace Gatehouse.IntegrationTests;

/// <summary>A trail written by a real gateway process, then changed in the state file by hand: `audit verify` names the record.</summary>
[Collection(GatewayCollection.Name)]
public sealed class AuditTamperTests(GatewayFixture fixture)
{
    [Fact]
    public async Task An_edited_deleted_or_reordered_record_is_named_and_verify_exits_non_zero()
    {
        await using var gateway = GatewayProcess.Prepare(fixture);
        gateway.Start();
        await using (var connection = await gateway.OpenAsync(await gateway.TokenAsync("tamper-agent")))
        {
            foreach (var sql in new[] { "SELECT 1", "SELECT count(*) FROM customers", "DROP TABLE orders", "SELECT 2" })
            {
                try
                {
                    await using var command = new NpgsqlCommand(sql, connection);
                    await command.ExecuteScalarAsync();
                }
                catch (PostgresException ex) when (ex.SqlState == "42501")
                {
                    // The DROP is denied, and recorded as such.
                }
            }
        }

        var stopped = await gateway.StopAsync(Signals.Terminate);
        Assert.True(stopped.ExitCode == 0, stopped.Stderr);
        string state = Path.Combine(gateway.Directory, "state.db");

        var clean = await AuditCli.RunAsync("audit", "verify", "--config", gateway.ConfigPath);
        Assert.True(clean.ExitCode == 0, clean.Stdout + clean.Stderr);
        Assert.Contains("ok: every chain verifies", clean.Stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("note:", clean.Stdout, StringComparison.Ordinal);

        long drop = Scalar(state, "SELECT seq FROM audit_records WHERE kind = 'statement' AND body LIKE '%DROP TABLE orders%'");
        string chain = (string)Query(state, "SELECT chain FROM audit_records LIMIT 1")!;
        var cases = new (string Name, string Sql, long Seq, string What)[]
        {
            ("edited", $"UPDATE audit_records SET body = replace(body, '\"deny\"', '\"allow\"') WHERE seq = {drop}", drop, "statement record altered"),
            ("deleted", $"DELETE FROM audit_records WHERE seq = {drop}", drop, $"record {drop} is missing"),
            ("reordered", $"UPDATE audit_records SET seq = -seq WHERE seq IN ({drop}, {drop + 1}); UPDATE audit_records SET seq = {drop + 1} WHERE seq = -{drop}; UPDATE audit_records SET seq = {drop} WHERE seq = -{drop + 1}", drop, "record altered, moved or forged"),
        };
        string pristine = Path.Combine(gateway.Directory, "pristine.db");
        Execute(state, $"VACUUM INTO '{pristine}'");
        foreach (var (name, sql, seq, what) in cases)
        {
            SqliteConnection.ClearAllPools();
            File.Copy(pristine, state, overwrite: true);
            File.Delete(state + "-wal");
            File.Delete(state + "-shm");
            Assert.True(Execute(state, sql) > 0, name);

            var result = await AuditCli.RunAsync("audit", "verify", "--config", gateway.ConfigPath);
            Assert.True(result.ExitCode == 1, $"{name}: exit {result.ExitCode}\n{result.Stdout}");
            Assert.Contains($"BROKEN: chain {chain} record {seq}: ", result.Stdout, StringComparison.Ordinal);
            Assert.Contains(what, result.Stdout, StringComparison.Ordinal);
            Assert.Equal($"gatehouse: audit verify: 1 of 1 chain(s) broken", result.Stderr.Trim());
        }
    }

    private static SqliteConnection Connect(string path)
    {
        var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = path, Pooling = false }.ConnectionString);
        connection.Open();
        return connection;
    }

    private static int Execute(string path, string sql)
    {
        using var connection = Connect(path);
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        return command.ExecuteNonQuery();
    }

    private static object? Query(string path, string sql)
    {
        using var connection = Connect(path);
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        return command.ExecuteScalar();
    }

    private static long Scalar(string path, string sql) => Convert.ToInt64(Query(path, sql), System.Globalization.CultureInfo.InvariantCulture);
}
