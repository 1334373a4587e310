using System.Diagnostics;
using System.Net;
using System.Text.Json;
using Npgsql;
using static Gatehouse.IntegrationTests.AdminHttp;

namespace Gatehouse.IntegrationTests;

/// <summary>/api/sessions over real HTTP: filters and paging of the trail, replay timing, live sessions and ending one.</summary>
[Collection(AdminGatewayCollection.Name)]
public sealed class AdminSessionsTests(AdminGatewayFixture fixture)
{
    private async Task RunSessionAsync(string subject, params string[] statements)
    {
        await using var connection = await fixture.OpenAsync(fixture.Token(subject));
        foreach (string sql in statements)
        {
            try
            {
                await using var command = new NpgsqlCommand(sql, connection);
                await command.ExecuteNonQueryAsync();
            }
            catch (PostgresException)
            {
                // Refused statements are part of the script: the trail records them.
            }
        }
    }

    private async Task<JsonElement[]> EndedAsync(string query, int count) =>
        await EventuallyAsync<JsonElement[]>(async () =>
        {
            var sessions = (await GetAsync(fixture, "/api/sessions?" + query, Role.Auditor)).GetProperty("sessions").EnumerateArray().ToArray();
            return sessions.Length == count && sessions.All(s => s.GetProperty("ended").ValueKind != JsonValueKind.Null) ? sessions : null;
        }, what: $"{count} ended sessions for {query}");

    [Fact]
    public async Task Sessions_filter_by_identity_decision_text_and_time_and_page_back_with_before()
    {
        string run = Guid.NewGuid().ToString("N")[..8];
        string alice = $"alice-{run}", bob = $"bob-{run}";
        var before = DateTimeOffset.UtcNow.AddSeconds(-1);
        for (int i = 0; i < 3; i++)
        {
            await RunSessionAsync(alice, $"SELECT {i} AS marker_{run}");
        }

        await RunSessionAsync(bob, "SELECT 1", "UPDATE payments SET amount = amount WHERE id = 1");

        var all = await EndedAsync($"identity={alice}", 3);
        Assert.All(all, s => Assert.Equal(alice, s.GetProperty("identity").GetProperty("subject").GetString()));
        Assert.All(all, s => Assert.False(s.GetProperty("live").GetBoolean()));
        Assert.All(all, s => Assert.Equal("wire", s.GetProperty("front_door").GetString()));
        Assert.All(all, s => Assert.StartsWith("127.0.0.1", s.GetProperty("client_address").GetString(), StringComparison.Ordinal));
        var started = all.Select(s => s.GetProperty("started").GetDateTimeOffset()).ToList();
        Assert.Equal(started.OrderDescending(), started); // newest first

        var bobs = await EndedAsync($"identity={bob}&decision=deny", 1);
        Assert.Equal((1L, 1L), (bobs[0].GetProperty("denied").GetInt64(), bobs[0].GetProperty("allowed").GetInt64() >= 1 ? 1L : 0L));
        Assert.Empty((await GetAsync(fixture, $"/api/sessions?identity={alice}&decision=deny", Role.Auditor)).GetProperty("sessions").EnumerateArray());
        Assert.Single((await GetAsync(fixture, $"/api/sessions?text=SELECT 1 AS marker_{run}", Role.Auditor)).GetProperty("sessions").EnumerateArray());
        Assert.Equal(3, (await GetAsync(fixture, $"/api/sessions?identity={alice}&since={Uri.EscapeDataString(before.ToString("O"))}&live=false", Role.Auditor)).GetProperty("sessions").GetArrayLength());
        Assert.Empty((await GetAsync(fixture, $"/api/sessions?identity={alice}&until={Uri.EscapeDataString(before.ToString("O"))}", Role.Auditor)).GetProperty("sessions").EnumerateArray());
        Assert.Empty((await GetAsync(fixture, $"/api/sessions?identity={alice}&live=true", Role.Auditor)).GetProperty("sessions").EnumerateArray());

        // Pages of two, back in time: the second page holds the oldest, then there is no next.
        var first = await GetAsync(fixture, $"/api/sessions?identity={alice}&limit=2", Role.Auditor);
        Assert.Equal(2, first.GetProperty("sessions").GetArrayLength());
        string next = first.GetProperty("next").GetString()!;
        var second = await GetAsync(fixture, $"/api/sessions?identity={alice}&limit=2&before={next}", Role.Auditor);
        Assert.Equal(JsonValueKind.Null, second.GetProperty("next").ValueKind);
        var paged = first.GetProperty("sessions").EnumerateArray().Concat(second.GetProperty("sessions").EnumerateArray()).Select(s => s.GetProperty("session").GetString()).ToList();
        Assert.Equal(all.Select(s => s.GetProperty("session").GetString()), paged);
    }

    [Fact]
    public async Task A_session_shows_its_statements_and_replays_with_offsets_in_order()
    {
        string subject = $"replay-{Guid.NewGuid():N}"[..20];
        await using (var connection = await fixture.OpenAsync(fixture.Token(subject)))
        {
            await using (var query = new NpgsqlCommand("SELECT id, name FROM customers WHERE name = @name", connection))
            {
                query.Parameters.AddWithValue("name", "Customer 3");
                await query.ExecuteScalarAsync();
            }

            // 350 ms for a gap asserted at 300: a timer may fire a millisecond early and offsets are whole milliseconds.
            await Task.Delay(350);
            await using var denied = new NpgsqlCommand("DROP TABLE orders", connection);
            await Assert.ThrowsAsync<PostgresException>(() => denied.ExecuteNonQueryAsync());
        }

        string id = (await EndedAsync($"identity={subject}", 1))[0].GetProperty("session").GetString()!;
        var detail = await GetAsync(fixture, $"/api/sessions/{id}", Role.Auditor);
        Assert.Equal(id, detail.GetProperty("session").GetProperty("session").GetString());
        var statements = detail.GetProperty("statements").EnumerateArray().ToList();
        var select = Assert.Single(statements, s => s.GetProperty("sql").GetString()!.Contains("FROM customers", StringComparison.Ordinal));
        Assert.Equal(("allow", "read"), (select.GetProperty("decision").GetString(), select.GetProperty("class").GetString()));
        Assert.Equal(["Customer 3"], select.GetProperty("parameters").EnumerateArray().Select(p => p.GetString()));
        var outcome = Assert.Single(select.GetProperty("outcomes").EnumerateArray());
        Assert.Equal("SELECT 1", outcome.GetProperty("command_tag").GetString());
        Assert.Equal(1, outcome.GetProperty("rows").GetInt64());
        var drop = Assert.Single(statements, s => s.GetProperty("sql").GetString() == "DROP TABLE orders");
        Assert.Equal(("deny", "no-ddl", "42501"), (drop.GetProperty("decision").GetString(), drop.GetProperty("rule").GetString(), drop.GetProperty("sqlstate").GetString()));

        var replay = await GetAsync(fixture, $"/api/sessions/{id}/replay", Role.Auditor);
        var events = replay.GetProperty("events").EnumerateArray().ToList();
        Assert.Equal("start", events[0].GetProperty("kind").GetString());
        Assert.Equal(0, events[0].GetProperty("offset_ms").GetInt64());
        Assert.Equal("end", events[^1].GetProperty("kind").GetString());
        var offsets = events.Select(e => e.GetProperty("offset_ms").GetInt64()).ToList();
        Assert.Equal(offsets.Order(), offsets);
        var times = events.Select(e => e.GetProperty("time").GetDateTimeOffset()).ToList();
        Assert.All(events, e => Assert.InRange(e.GetProperty("offset_ms").GetInt64() - (long)(e.GetProperty("time").GetDateTimeOffset() - times[0]).TotalMilliseconds, -1, 1));
        var dropEvent = Assert.Single(events, e => e.GetProperty("kind").GetString() == "statement" && e.GetProperty("sql").GetString() == "DROP TABLE orders");
        var selectEvent = Assert.Single(events, e => e.GetProperty("kind").GetString() == "statement" && e.GetProperty("sql").GetString()!.Contains("FROM customers", StringComparison.Ordinal));
        Assert.True(dropEvent.GetProperty("offset_ms").GetInt64() - selectEvent.GetProperty("offset_ms").GetInt64() >= 300);
        Assert.Contains(events, e => e.GetProperty("kind").GetString() == "outcome" && e.GetProperty("command_tag").GetString() == "SELECT 1");
        // This grant has no audit: { results: true }: no rows are recorded, and every event says so with null.
        Assert.All(events, e => Assert.Equal(JsonValueKind.Null, e.GetProperty("result").ValueKind));
    }

    [Fact]
    public async Task A_live_psql_session_is_listed_and_an_admin_ends_it()
    {
        string subject = $"live-{Guid.NewGuid():N}"[..20];
        var env = new Dictionary<string, string>
        {
            ["PGHOST"] = "127.0.0.1", ["PGPORT"] = fixture.Port.ToString(System.Globalization.CultureInfo.InvariantCulture), ["PGDATABASE"] = TestGateway.Target,
            ["PGUSER"] = "agent", ["PGPASSWORD"] = fixture.Token(subject), ["PGSSLMODE"] = "require", ["PGCONNECT_TIMEOUT"] = "10",
        };
        using var psql = ProcessRunner.Start(ProcessRunner.PostgresTool("psql", fixture.Postgres.BinDirectory), ["-X", "-c", "SELECT pg_sleep(30)"], env);
        psql.StandardInput.Close();

        var session = (await EventuallyAsync<JsonElement[]>(async () =>
        {
            var sessions = (await GetAsync(fixture, "/api/sessions/live", Role.Auditor)).GetProperty("sessions").EnumerateArray();
            var found = sessions.Where(s => s.GetProperty("identity").GetProperty("subject").GetString() == subject
                && s.GetProperty("current_statement").GetString() == "SELECT pg_sleep(30)").ToArray();
            return found.Length == 1 ? found : null;
        }, what: "the psql session in /api/sessions/live"))[0];
        Assert.True(session.GetProperty("live").GetBoolean());
        Assert.Equal(JsonValueKind.Null, session.GetProperty("idle_since").ValueKind);
        Assert.Equal(TestGateway.Target, session.GetProperty("target").GetString());
        Assert.Equal(1, session.GetProperty("allowed").GetInt64());
        string id = session.GetProperty("session").GetString()!;

        // The trail knows it as live too, under the same id.
        var listed = Assert.Single((await GetAsync(fixture, $"/api/sessions?identity={subject}&live=true", Role.Auditor)).GetProperty("sessions").EnumerateArray());
        Assert.Equal(id, listed.GetProperty("session").GetString());

        var (status, body, _) = await SendAsync(fixture, HttpMethod.Delete, $"/api/sessions/{id}", Token(fixture, Role.Auditor));
        Assert.Equal(HttpStatusCode.Forbidden, status);
        var watch = Stopwatch.StartNew();
        (status, body, _) = await SendAsync(fixture, HttpMethod.Delete, $"/api/sessions/{id}", Token(fixture, Role.Admin, "admin-7"));
        Assert.True(status == HttpStatusCode.NoContent, body.ToString());

        var result = await ProcessRunner.CollectAsync(psql, TimeSpan.FromSeconds(10));
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(10));
        Assert.NotEqual(0, result.ExitCode);
        Assert.Contains("FATAL:  gatehouse: session ended by an administrator (admin-7)", result.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain((await GetAsync(fixture, "/api/sessions/live", Role.Auditor)).GetProperty("sessions").EnumerateArray(), s => s.GetProperty("session").GetString() == id);
        (status, _, _) = await SendAsync(fixture, HttpMethod.Delete, $"/api/sessions/{id}", Token(fixture, Role.Admin));
        Assert.Equal(HttpStatusCode.NotFound, status);

        // session.end is written before the DELETE answers, with the reason.
        var ended = (await GetAsync(fixture, $"/api/sessions/{id}", Role.Auditor)).GetProperty("session");
        Assert.NotEqual(JsonValueKind.Null, ended.GetProperty("ended").ValueKind);
        Assert.Equal("ended by an administrator (admin-7)", ended.GetProperty("end_reason").GetString());
        Assert.False(ended.GetProperty("live").GetBoolean());

        // The upstream connection is gone: no backend of the session's role is left.
        var role = (await GetAsync(fixture, "/api/leases", Role.Auditor)).GetProperty("leases").EnumerateArray()
            .Where(l => l.GetProperty("subject").GetString() == subject).Select(l => l.GetProperty("role").GetString()).FirstOrDefault();
        Assert.NotNull(role);
        await EventuallyAsync<string>(async () =>
            await fixture.Postgres.ScalarAsync<long>($"SELECT count(*) FROM pg_stat_activity WHERE usename = '{role}'") == 0 ? "gone" : null,
            seconds: 5, what: "the upstream backend to go");
    }
}
