using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Npgsql;

namespace Gatehouse.IntegrationTests;

/// <summary>The audit trail on a <c>postgres://</c> state store: sessions, two instances on one store, and a hand-edited record.</summary>
[Collection(GatewayCollection.Name)]
public sealed class AuditPostgresTests(GatewayFixture fixture)
{
    [Fact]
    public async Task An_npgsql_session_is_recorded_on_the_postgres_store_and_verifies()
    {
        var store = await AuditPostgresStore.CreateAsync(fixture);
        await using var gateway = store.Prepare();
        gateway.Start();
        string subject = $"pg-audit-{Guid.NewGuid():N}"[..20];
        string token = await gateway.TokenAsync(subject);
        await using (var connection = await gateway.OpenAsync(token))
        {
            await AuditSessionScript.RunAsync(connection);
        }

        var session = Assert.Single(await AuditCli.EndedSessionsAsync(gateway.ConfigPath, subject, 1));
        AuditSessionScript.AssertStartedBy(session, subject, token);
        Assert.Equal((1L, 1L), (session.GetProperty("denied").GetInt64(), session.GetProperty("errors").GetInt64()));

        var detail = await AuditCli.JsonAsync("sessions", "show", session.GetProperty("session").GetString()!, "--config", gateway.ConfigPath, "--json");
        // Our four, and the type-loading query Npgsql sends at open.
        Assert.Equal(session.GetProperty("statements").GetInt64(), detail.GetProperty("statements").GetArrayLength());
        Assert.True(detail.GetProperty("statements").GetArrayLength() >= 4);
        AuditSessionScript.AssertRecorded(detail);

        // The rows are in the PostgreSQL database, not in a SQLite file beside the config; the token is not in them.
        Assert.False(File.Exists(Path.Combine(gateway.Directory, "state.db")));
        Assert.True(await store.ScalarAsync<long>($"SELECT count(*) FROM gatehouse_audit_records WHERE body LIKE '%{subject}%'") > 0);
        Assert.Equal(0L, await store.ScalarAsync<long>($"SELECT count(*) FROM gatehouse_audit_records WHERE strpos(body, '{token.Split('.')[2]}') > 0"));

        var verify = await AuditCli.RunAsync("audit", "verify", "--config", gateway.ConfigPath);
        Assert.True(verify.ExitCode == 0, verify.Stdout + verify.Stderr);
        Assert.Contains("ok: every chain verifies", verify.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Two_gateways_on_one_postgres_store_write_chains_that_both_verify()
    {
        var store = await AuditPostgresStore.CreateAsync(fixture);
        await using var first = store.Prepare();
        await using var second = store.Prepare();
        first.Start();
        second.Start();
        string subject = $"pg-two-{Guid.NewGuid():N}"[..18];
        // Interleaved sessions on both instances, so their appends to the one table overlap in time.
        var sessions = new List<Task>();
        foreach (var gateway in new[] { first, second, first, second })
        {
            string token = await gateway.TokenAsync(subject);
            sessions.Add(Task.Run(async () =>
            {
                await using var connection = await gateway.OpenAsync(token);
                await AuditSessionScript.RunAsync(connection);
            }));
        }

        await Task.WhenAll(sessions);
        foreach (var gateway in new[] { first, second })
        {
            var stopped = await gateway.StopAsync(Signals.Terminate);
            Assert.True(stopped.ExitCode == 0, stopped.Stderr);
        }

        var listed = await AuditCli.EndedSessionsAsync(first.ConfigPath, subject, 4);
        var chains = listed.GroupBy(s => s.GetProperty("chain").GetString()).ToList();
        Assert.True(chains.Count == 2 && chains.All(c => c.Count() == 2), string.Join(", ", listed.Select(s => s.GetProperty("chain").GetString())));
        Assert.Equal(listed.Select(s => s.GetProperty("session").GetString()).Order(),
            (await AuditCli.EndedSessionsAsync(second.ConfigPath, subject, 4)).Select(s => s.GetProperty("session").GetString()).Order());

        var verify = await AuditCli.RunAsync("audit", "verify", "--config", second.ConfigPath);
        Assert.True(verify.ExitCode == 0, verify.Stdout + verify.Stderr);
        long inTable = await store.ScalarAsync<long>("SELECT count(*) FROM gatehouse_audit_records");
        Assert.Contains($"chains: 2, records: {inTable}", verify.Stdout, StringComparison.Ordinal);
        Assert.Contains("ok: every chain verifies", verify.Stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("note:", verify.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_record_edited_in_the_postgres_store_is_named_and_verify_exits_1()
    {
        var store = await AuditPostgresStore.CreateAsync(fixture);
        await using var gateway = store.Prepare();
        gateway.Start();
        await using (var connection = await gateway.OpenAsync(await gateway.TokenAsync("pg-tamper-agent")))
        {
            await AuditSessionScript.RunAsync(connection);
        }

        var stopped = await gateway.StopAsync(Signals.Terminate);
        Assert.True(stopped.ExitCode == 0, stopped.Stderr);
        var clean = await AuditCli.RunAsync("audit", "verify", "--config", gateway.ConfigPath);
        Assert.True(clean.ExitCode == 0, clean.Stdout + clean.Stderr);

        long seq = await store.ScalarAsync<long>("SELECT seq FROM gatehouse_audit_records WHERE kind = 'statement' AND body LIKE '%DROP TABLE orders%'");
        string chain = (await store.ScalarAsync<string>("SELECT chain FROM gatehouse_audit_records LIMIT 1"))!;
        await store.ExecuteAsync($"UPDATE gatehouse_audit_records SET body = replace(body, '\"deny\"', '\"allow\"') WHERE seq = {seq}");
        Assert.Contains("\"allow\"", await store.ScalarAsync<string>($"SELECT body FROM gatehouse_audit_records WHERE seq = {seq}"), StringComparison.Ordinal);

        var result = await AuditCli.RunAsync("audit", "verify", "--config", gateway.ConfigPath);
        Assert.True(result.ExitCode == 1, $"exit {result.ExitCode}\n{result.Stdout}");
        Assert.Contains($"BROKEN: chain {chain} record {seq}: statement record altered", result.Stdout, StringComparison.Ordinal);
        Assert.Equal("gatehouse: audit verify: 1 of 1 chain(s) broken", result.Stderr.Trim());
    }
}
