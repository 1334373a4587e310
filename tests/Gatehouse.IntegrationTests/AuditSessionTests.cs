using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Npgsql;

namespace Gatehouse.IntegrationTests;

/// <summary>Sessions through Npgsql and psql are in the trail with their identity, decisions and outcomes, and the CLI shows them.</summary>
[Collection(GatewayCollection.Name)]
public sealed class AuditSessionTests(GatewayFixture fixture)
{
    private string StatePath => Path.Combine(fixture.Directory, "state.db");

    [Fact]
    public async Task An_npgsql_session_is_recorded_with_identity_decisions_and_outcomes()
    {
        string subject = $"audit-npgsql-{Guid.NewGuid():N}"[..24];
        string token = fixture.Token(subject);
        await using (var connection = await fixture.OpenAsync(token))
        {
            await AuditSessionScript.RunAsync(connection);
        }

        var session = Assert.Single(await AuditCli.EndedSessionsAsync(fixture.ConfigPath, subject, 1));
        AuditSessionScript.AssertStartedBy(session, subject, token);
        Assert.Equal(1, session.GetProperty("denied").GetInt64());
        Assert.True(session.GetProperty("errors").GetInt64() >= 1);

        string id = session.GetProperty("session").GetString()!;
        var detail = await AuditCli.JsonAsync("sessions", "show", id, "--config", fixture.ConfigPath, "--json");
        AuditSessionScript.AssertRecorded(detail);

        // The same session as tables and as a replay, in the order the agent saw it.
        var table = await AuditCli.RunAsync("sessions", "show", id, "--config", fixture.ConfigPath);
        Assert.True(table.ExitCode == 0, table.Stderr);
        Assert.Contains(subject, table.Stdout, StringComparison.Ordinal);
        Assert.Contains("no-ddl", table.Stdout, StringComparison.Ordinal);
        var replay = await AuditCli.RunAsync("sessions", "replay", id, "--config", fixture.ConfigPath);
        Assert.True(replay.ExitCode == 0, replay.Stderr);
        string[] order = ["started", "→ [", "SELECT name FROM customers WHERE id = $1", "← [", "SELECT 1 (1 row)", "DROP TABLE orders", "ERROR 42501", "SELECT 1/0", "ERROR 22012", "UPDATE 1", "session ended"];
        int at = 0;
        foreach (var step in order)
        {
            int found = replay.Stdout.IndexOf(step, at, StringComparison.Ordinal);
            Assert.True(found >= 0, $"replay lacks '{step}' after position {at}:\n{replay.Stdout}");
            at = found;
        }

        var listed = await AuditCli.RunAsync("sessions", "list", "--config", fixture.ConfigPath, "--identity", subject, "--decision", "deny");
        Assert.True(listed.ExitCode == 0, listed.Stderr);
        Assert.Contains(id, listed.Stdout, StringComparison.Ordinal);

        // Only the token's hash is kept: the token is nowhere in the state file.
        byte[] state = AuditCli.StateBytes(StatePath);
        Assert.True(state.AsSpan().IndexOf(Encoding.UTF8.GetBytes(subject)) >= 0, "the grep finds what the trail does hold");
        Assert.True(state.AsSpan().IndexOf(Encoding.UTF8.GetBytes(token)) < 0, "the token is in the state file");
        Assert.True(state.AsSpan().IndexOf(Encoding.UTF8.GetBytes(token.Split('.')[2])) < 0, "the token's signature is in the state file");
    }

    [Fact]
    public async Task Protocol_messages_refused_without_a_statement_are_recorded_too()
    {
        string subject = $"audit-names-{Guid.NewGuid():N}"[..24];
        await using (var client = await WireClient.ConnectAsync(fixture.Port, "agent", fixture.Token(subject)))
        {
            Assert.Equal("E(26000) Z", string.Join(' ', await client.Bind("", "never_parsed").Execute("").Sync().RoundTripAsync()));
            Assert.Equal("E(34000) Z", string.Join(' ', await client.Execute("never_bound").Sync().RoundTripAsync()));
        }

        var session = Assert.Single(await AuditCli.EndedSessionsAsync(fixture.ConfigPath, subject, 1));
        var detail = await AuditCli.JsonAsync("sessions", "show", session.GetProperty("session").GetString()!, "--config", fixture.ConfigPath, "--json");
        var statements = detail.GetProperty("statements").EnumerateArray().Select(s => s.GetProperty("statement")).ToList();
        string? Field(JsonElement s, string name) => s.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;
        Assert.True(statements.Any(s => Field(s, "sql") == "[protocol Bind of prepared statement \"never_parsed\"]"
            && Field(s, "decision") == "deny" && Field(s, "sql_state") == "26000"), detail.ToString());
        Assert.True(statements.Any(s => Field(s, "sql") == "[protocol Execute of portal \"never_bound\"]" && Field(s, "sql_state") == "34000"), detail.ToString());
    }

    [Fact]
    public async Task A_psql_session_is_recorded_and_the_trail_verifies()
    {
        string subject = $"audit-psql-{Guid.NewGuid():N}"[..22];
        string token = fixture.Token(subject);
        var env = new Dictionary<string, string>
        {
            ["PGHOST"] = "127.0.0.1", ["PGPORT"] = fixture.Port.ToString(System.Globalization.CultureInfo.InvariantCulture), ["PGDATABASE"] = TestGateway.Target,
            ["PGUSER"] = "agent", ["PGPASSWORD"] = token, ["PGSSLMODE"] = "require", ["PGCONNECT_TIMEOUT"] = "10",
        };
        var psql = await ProcessRunner.RunAsync(ProcessRunner.PostgresTool("psql", fixture.Postgres.BinDirectory),
            ["-X", "-At", "-c", "SELECT count(*) FROM orders", "-c", "SELECT pg_read_file('/etc/passwd')"], env);
        // Other tests of the shared fixture insert orders: the count is a number, not a fixed one.
        Assert.True(int.TryParse(psql.Stdout.Trim(), out int orders) && orders >= 500, psql.Stdout + psql.Stderr);
        var rule = System.Text.RegularExpressions.Regex.Match(psql.Stderr, "denied by rule ([a-z-]+)");
        Assert.True(rule.Success, psql.Stderr);

        var session = Assert.Single(await AuditCli.EndedSessionsAsync(fixture.ConfigPath, subject, 1));
        var detail = await AuditCli.JsonAsync("sessions", "show", session.GetProperty("session").GetString()!, "--config", fixture.ConfigPath, "--json");
        var count = Assert.Single(AuditCli.Statement(detail, "SELECT count(*) FROM orders").GetProperty("outcomes").EnumerateArray()).GetProperty("outcome");
        Assert.Equal("SELECT 1", count.GetProperty("command_tag").GetString());
        var file = AuditCli.Statement(detail, "SELECT pg_read_file('/etc/passwd')").GetProperty("statement");
        Assert.Equal(("deny", rule.Groups[1].Value), (file.GetProperty("decision").GetString(), file.GetProperty("rule").GetString()));
        Assert.Contains(file.GetProperty("parts")[0].GetProperty("functions").EnumerateArray(), f => f.GetString()!.Contains("pg_read_file", StringComparison.Ordinal));

        var textFilter = await AuditCli.JsonAsync("sessions", "list", "--config", fixture.ConfigPath, "--text", "PG_READ_FILE('/etc/passwd')", "--since", "1h", "--json");
        Assert.Contains(textFilter.EnumerateArray(), s => s.GetProperty("session").GetString() == session.GetProperty("session").GetString());

        // The fixture's gateway is still running: its chain verifies and has no chain.end yet (a note, not a break).
        var verify = await AuditCli.RunAsync("audit", "verify", "--config", fixture.ConfigPath);
        Assert.True(verify.ExitCode == 0, verify.Stdout + verify.Stderr);
        Assert.Contains("ok: every chain verifies", verify.Stdout, StringComparison.Ordinal);
        Assert.Contains("note: chain ", verify.Stdout, StringComparison.Ordinal);
        Assert.True(AuditCli.StateBytes(StatePath).AsSpan().IndexOf(Encoding.UTF8.GetBytes(token)) < 0, "the token is in the state file");
    }

    [Fact]
    public async Task Control_characters_and_markup_in_recorded_sql_are_shown_escaped()
    {
        string subject = $"audit-esc-{Guid.NewGuid():N}"[..21];
        await using (var connection = await fixture.OpenAsync(fixture.Token(subject)))
        {
            await using var command = new NpgsqlCommand("SELECT '[red]x[/] \u001b[2J\u001b]0;pwned\u0007' AS t", connection);
            await command.ExecuteScalarAsync();
        }

        var session = Assert.Single(await AuditCli.EndedSessionsAsync(fixture.ConfigPath, subject, 1));
        string id = session.GetProperty("session").GetString()!;
        foreach (var verb in new[] { "show", "replay" })
        {
            var result = await AuditCli.RunAsync("sessions", verb, id, "--config", fixture.ConfigPath);
            Assert.True(result.ExitCode == 0, result.Stderr);
            Assert.DoesNotContain('\u001b', result.Stdout);
            Assert.DoesNotContain('\u0007', result.Stdout);
            Assert.Contains("\\x1B[2J", result.Stdout, StringComparison.Ordinal);
            Assert.Contains("[red]x[/]", result.Stdout, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Bad_input_to_the_verbs_is_one_line_and_a_non_zero_exit()
    {
        var cases = new (string[] Arguments, string Error)[]
        {
            (["sessions", "show", "no-such-session", "--config", fixture.ConfigPath], "gatehouse: sessions show: no session no-such-session in the trail"),
            (["sessions", "list", "--config", fixture.ConfigPath, "--since", "yesterday"], "gatehouse: sessions list: --since \"yesterday\" is not a time"),
            (["sessions", "list", "--config", fixture.ConfigPath, "--limit", "0"], "gatehouse: sessions list: --limit must be at least 1"),
            (["sessions", "replay", "x", "--config", fixture.ConfigPath, "--speed", "-1"], "gatehouse: sessions replay: --speed must be 0"),
            (["sessions", "list", "--config", fixture.ConfigPath, "--decision", "maybe"], "gatehouse: Argument 'maybe' not recognized"),
            (["audit", "export", "--config", fixture.ConfigPath, "--format", "csv"], "gatehouse: Argument 'csv' not recognized"),
        };
        foreach (var (arguments, error) in cases)
        {
            var result = await AuditCli.RunAsync(arguments);
            Assert.NotEqual(0, result.ExitCode);
            Assert.StartsWith(error, result.Stderr, StringComparison.Ordinal);
            Assert.DoesNotContain("   at ", result.Stderr, StringComparison.Ordinal);
        }

        string config = Path.Combine(fixture.Directory, $"{Guid.NewGuid():N}.yaml");
        await File.WriteAllTextAsync(config, (await File.ReadAllTextAsync(fixture.ConfigPath)).Replace("state.db", "never-written.db", StringComparison.Ordinal));
        var missing = await AuditCli.RunAsync("audit", "verify", "--config", config);
        Assert.Equal(1, missing.ExitCode);
        Assert.Contains("never-written.db does not exist", missing.Stderr, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(fixture.Directory, "never-written.db")));
    }

    [Fact]
    public async Task Export_prints_one_record_a_line_with_its_body_as_an_object()
    {
        string subject = $"audit-export-{Guid.NewGuid():N}"[..23];
        await using (var connection = await fixture.OpenAsync(fixture.Token(subject)))
        {
            await using var command = new NpgsqlCommand("SELECT 42", connection);
            await command.ExecuteScalarAsync();
        }

        var records = await ExportedSessionAsync(fixture.ConfigPath, subject);
        Assert.Equal("session.start", records[0].GetProperty("kind").GetString());
        Assert.Equal("session.end", records[^1].GetProperty("kind").GetString());
        int select = records.FindIndex(r => r.GetProperty("kind").GetString() == "statement" && r.GetProperty("body").GetProperty("sql").GetString() == "SELECT 42");
        Assert.True(select > 0, string.Join('\n', records));
        var outcome = records.Skip(select).First(r => r.GetProperty("kind").GetString() == "outcome").GetProperty("body");
        Assert.Equal(records[select].GetProperty("body").GetProperty("statement").GetInt64(), outcome.GetProperty("statement").GetInt64());
        Assert.Equal("SELECT 1", outcome.GetProperty("command_tag").GetString());
        Assert.All(records, r => Assert.Matches("^[0-9a-f]{64}$", r.GetProperty("mac").GetString()!));
        var seqs = records.Select(r => r.GetProperty("seq").GetInt64()).ToList();
        Assert.Equal(seqs.Order(), seqs);
    }

    [Fact]
    public async Task A_statement_masking_refuses_keeps_its_number_and_says_why()
    {
        // QA: the refused statement took two numbers (a gap an auditor reads as a missing record) and its reason read
        // "no rule matched; allowed within db_roles".
        await using var gateway = await TestGateway.StartAsync(new TestGatewayOptions
        {
            Policy = TestData.DefaultPolicy + "\n    masks:\n      - { columns: [\"public.customers.email\"], with: email }\n",
        });
        string subject = "agent-numbers-" + Guid.NewGuid().ToString("N")[..6];
        await using (var client = await WireClient.ConnectAsync(gateway.Port, "agent", gateway.Token(subject)))
        {
            Assert.Contains(await client.Query("SELECT 1").RoundTripAsync(), r => r.Type == 'D');
            var refused = Assert.Single(await client.Query("UPDATE orders SET total = (SELECT length(email) FROM customers LIMIT 1)").RoundTripAsync(), r => r.Type == 'E').Error;
            Assert.Contains("masking", refused.Message, StringComparison.Ordinal);
            Assert.Contains(await client.Query("SELECT 2").RoundTripAsync(), r => r.Type == 'D');
        }

        var records = await ExportedSessionAsync(gateway.ConfigPath, subject);
        var statements = records.Where(l => l.GetProperty("kind").GetString() == "statement")
            .Select(l => l.GetProperty("body")).ToList();
        Assert.Equal([1L, 2L, 3L], statements.Select(b => b.GetProperty("statement").GetInt64()));
        var update = statements[1];
        Assert.Equal(("deny", "masking"), (update.GetProperty("decision").GetString(), update.GetProperty("rule").GetString()));
        Assert.Contains("masked", update.GetProperty("reason").GetString()!, StringComparison.Ordinal);
        Assert.DoesNotContain("allowed within db_roles", update.GetProperty("reason").GetString()!, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_statement_record_carries_the_previous_outcome_and_an_idle_session_s_last_outcome_is_written_alone()
    {
        string subject = $"audit-carry-{Guid.NewGuid():N}"[..22];
        await using (var client = await WireClient.ConnectAsync(fixture.Port, "agent", fixture.Token(subject)))
        {
            foreach (var sql in new[] { "SELECT 1", "SELECT 2", "SELECT 1/0", "SELECT 4" })
            {
                await client.Query(sql).RoundTripAsync();
            }

            // Idle: the last outcome has no next statement to ride with; the trail writes it alone within 200 ms.
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
            while (!await LastOutcomeStoredAsync(subject, 4))
            {
                Assert.True(DateTime.UtcNow < deadline, "the idle session's last outcome was not written on its own");
                await Task.Delay(100);
            }
        }

        var records = await ExportedSessionAsync(fixture.ConfigPath, subject);
        var statements = records.Where(r => r.GetProperty("kind").GetString() == "statement").Select(r => r.GetProperty("body")).ToList();
        Assert.Equal(4, statements.Count);
        Assert.False(statements[0].TryGetProperty("previous_outcome", out _));
        Assert.Equal([1L, 2L, 3L], statements.Skip(1).Select(s => s.GetProperty("previous_outcome").GetProperty("statement").GetInt64()));
        Assert.Equal("22012", statements[3].GetProperty("previous_outcome").GetProperty("sql_state").GetString());
        Assert.Equal([1L, 2L, 3L, 4L], Outcomes(records).Select(o => o.GetProperty("statement").GetInt64()));

        // The readers show each outcome with its statement.
        string id = records[0].GetProperty("session").GetString()!;
        var detail = await AuditCli.JsonAsync("sessions", "show", id, "--config", fixture.ConfigPath, "--json");
        var shown = detail.GetProperty("statements").EnumerateArray()
            .Select(s => (s.GetProperty("statement").GetProperty("sql").GetString(), Assert.Single(s.GetProperty("outcomes").EnumerateArray()).GetProperty("outcome").GetProperty("succeeded").GetBoolean()))
            .ToList();
        Assert.Equal([("SELECT 1", true), ("SELECT 2", true), ("SELECT 1/0", false), ("SELECT 4", true)], shown);
        Assert.All(detail.GetProperty("statements").EnumerateArray(), s => Assert.False(s.GetProperty("statement").TryGetProperty("previous_outcome", out _)));
    }

    [Fact]
    public async Task A_tainted_statement_s_error_is_kept_in_the_trail_where_the_wire_keeps_it()
    {
        // The wire keeps a tainted statement's error when it can carry no value (division by zero, a permission
        // error); the trail withheld every such message, so an auditor saw less than the agent did.
        await using var gateway = await TestGateway.StartAsync(new TestGatewayOptions
        {
            Policy = TestData.DefaultPolicy + "\n    masks:\n      - { columns: [\"public.customers.email\"], with: email }\n",
        });
        string subject = "agent-errors-" + Guid.NewGuid().ToString("N")[..6];
        await using (var client = await WireClient.ConnectAsync(gateway.Port, "agent", gateway.Token(subject)))
        {
            var zero = Assert.Single(await client.Query("SELECT email, 1 / (id - id) FROM customers").RoundTripAsync(), r => r.Type == 'E').Error;
            Assert.Equal("division by zero", zero.Message);
            var cast = Assert.Single(await client.Query("SELECT email::int FROM customers").RoundTripAsync(), r => r.Type == 'E').Error;
            Assert.DoesNotContain("@", cast.Message, StringComparison.Ordinal);
        }

        var records = await ExportedSessionAsync(gateway.ConfigPath, subject);
        var messages = Outcomes(records).Select(o => o.GetProperty("message").GetString()).ToList();
        Assert.Equal(2, messages.Count);
        Assert.Equal("division by zero", messages[0]);
        Assert.StartsWith("[withheld", messages[1], StringComparison.Ordinal);
        Assert.DoesNotContain("@", string.Join(' ', messages), StringComparison.Ordinal);
    }

    // Whether the store has an outcome record of its own for statement <paramref name="statement"/> of the session of <paramref name="subject"/>.
    private async Task<bool> LastOutcomeStoredAsync(string subject, long statement)
    {
        var export = await AuditCli.RunAsync("audit", "export", "--config", fixture.ConfigPath, "--since", "10m");
        var lines = export.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        var session = lines.FirstOrDefault(l => l.GetProperty("kind").GetString() == "session.start"
            && l.GetProperty("body").GetProperty("identity").GetProperty("subject").GetString() == subject);
        return session.ValueKind == JsonValueKind.Object && lines.Any(l => l.GetProperty("kind").GetString() == "outcome"
            && l.GetProperty("session").GetString() == session.GetProperty("session").GetString()
            && l.GetProperty("body").GetProperty("statement").GetInt64() == statement);
    }

    /// <summary>
    /// The outcome bodies among exported records, in order: outcome records, and outcomes a statement record carries
    /// for the statement before it (<c>previous_outcome</c>).
    /// </summary>
    internal static IEnumerable<JsonElement> Outcomes(IEnumerable<JsonElement> records)
    {
        foreach (var record in records)
        {
            var body = record.GetProperty("body");
            if (record.GetProperty("kind").GetString() == "outcome")
            {
                yield return body;
            }
            else if (body.ValueKind == JsonValueKind.Object && body.TryGetProperty("previous_outcome", out var previous))
            {
                yield return previous;
            }
        }
    }

    /// <summary>The records of the one session of <paramref name="subject"/>, in order, from <c>audit export</c> once it ended.</summary>
    internal static async Task<List<JsonElement>> ExportedSessionAsync(string configPath, string subject)
    {
        await AuditCli.EndedSessionsAsync(configPath, subject, 1);
        var result = await AuditCli.RunAsync("audit", "export", "--config", configPath, "--since", "10m");
        Assert.True(result.ExitCode == 0, result.Stderr);
        var lines = result.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        string session = Assert.Single(lines, l => l.GetProperty("kind").GetString() == "session.start"
            && l.GetProperty("body").GetProperty("identity").GetProperty("subject").GetString() == subject).GetProperty("session").GetString()!;
        return lines.Where(l => l.GetProperty("session").GetString() == session).ToList();
    }
}
