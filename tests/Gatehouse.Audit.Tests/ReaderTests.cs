namespace Gatehouse.Audit.Tests;

/// <summary>The reader's queries over a real trail: sessions by filter, one session, its events.</summary>
public sealed class ReaderTests : IAsyncLifetime
{
    private readonly TrailFiles _files = new();

    public async Task InitializeAsync()
    {
        // gw-1: s1 (odd), s2 (even), s3 (odd, ends with a denied DROP); gw-2: s1 (odd, denied DROP), to another target.
        await _files.WriteChainAsync(sessions: 3);
        await using var store = _files.Open();
        await using var trail = _files.Trail(store, "gw-2");
        await trail.StartAsync(default);
        await Records.SessionAsync(trail, _files.Time, "gw-2-s1", subject: "agent-odd", target: "billing", denyLast: true);
    }

    public Task DisposeAsync() => _files.DisposeAsync().AsTask();

    private async Task<string[]> ListAsync(SessionFilter filter)
    {
        await using var store = _files.Open();
        return [.. (await new AuditReader(store.Audit).ListAsync(filter, default)).Select(s => s.Session)];
    }

    [Fact]
    public async Task Sessions_are_listed_oldest_first_across_chains_and_filtered()
    {
        Assert.Equal(["gw-1-s1", "gw-1-s2", "gw-1-s3", "gw-2-s1"], await ListAsync(new SessionFilter()));
        Assert.Equal(["gw-1-s1", "gw-1-s3", "gw-2-s1"], await ListAsync(new SessionFilter { Identity = "agent-odd" }));
        Assert.Equal(["gw-2-s1"], await ListAsync(new SessionFilter { Target = "billing" }));
        Assert.Equal(["gw-1-s3", "gw-2-s1"], await ListAsync(new SessionFilter { Decision = "deny" }));
        Assert.Empty(await ListAsync(new SessionFilter { Decision = "review" }));
        Assert.Equal(["gw-1-s1", "gw-1-s2"], await ListAsync(new SessionFilter { Text = "update ORDERS" }));
        Assert.Equal(["gw-1-s3"], await ListAsync(new SessionFilter { Decision = "deny", Target = "shop" }));
        Assert.Equal(["gw-1-s3", "gw-2-s1"], await ListAsync(new SessionFilter { Limit = 2 }));
        Assert.Equal(["gw-2-s1"], await ListAsync(new SessionFilter { Identity = "agent-odd", Limit = 1 }));
    }

    [Fact]
    public async Task The_time_range_is_on_the_session_start()
    {
        // Record n of gw-1 is at TrailFiles.Start + (n - 1) s: gw-1-s2 starts at +7 s (record 8), gw-1-s3 at +13 s.
        var s2 = TrailFiles.Start.AddSeconds(7);
        Assert.Equal(["gw-1-s2", "gw-1-s3"], await ListAsync(new SessionFilter { Since = s2, Until = s2.AddSeconds(7) }));
        Assert.Equal(["gw-1-s1"], await ListAsync(new SessionFilter { Until = s2 }));
    }

    [Fact]
    public async Task A_summary_counts_the_session()
    {
        await using var store = _files.Open();
        var all = await new AuditReader(store.Audit).ListAsync(new SessionFilter(), default);
        var s1 = all[0];
        Assert.Equal(("gw-1", 2L, 2L, 0L, 1L, "client closed"), (s1.Chain, s1.Statements, s1.Allowed, s1.Denied, s1.Errors, s1.EndReason));
        Assert.Equal(TrailFiles.Start.AddSeconds(1), s1.Started);
        Assert.Equal(TrailFiles.Start.AddSeconds(6), s1.Ended);
        var s3 = all[2];
        Assert.Equal((2L, 1L, 1L, 0L), (s3.Statements, s3.Allowed, s3.Denied, s3.Errors));
        Assert.Equal("agent-odd", s3.Start.Identity.Subject);
    }

    [Fact]
    public async Task Show_gives_statements_in_order_with_their_outcomes()
    {
        await using var store = _files.Open();
        var reader = new AuditReader(store.Audit);
        var detail = await reader.ShowAsync("gw-1-s3", default);
        Assert.NotNull(detail);
        Assert.Equal([1L, -1L], detail.Statements.Select(s => s.Statement.Statement));
        var select = detail.Statements[0];
        Assert.Equal("SELECT 1", Assert.Single(select.Outcomes).Outcome.CommandTag);
        Assert.Equal(["public.customers.email"], select.Outcomes[0].Outcome.MaskedColumns);
        Assert.Equal(["3"], select.Outcomes[0].Outcome.Parameters!);
        var drop = detail.Statements[1];
        Assert.Equal(("deny", "no-ddl", "42501"), (drop.Statement.Decision, drop.Statement.Rule, drop.Statement.SqlState));
        Assert.Empty(drop.Outcomes);
        Assert.Null(await reader.ShowAsync("no-such-session", default));
    }

    [Fact]
    public async Task Events_replay_the_session_in_recorded_order_with_times()
    {
        await using var store = _files.Open();
        var events = await new AuditReader(store.Audit).EventsAsync("gw-1-s2", default).ToListAsync();
        Assert.Equal(["session.start", "statement", "outcome", "statement", "outcome", "session.end"], events.Select(e => e.Kind));
        Assert.Equal(Enumerable.Range(7, 6).Select(i => TrailFiles.Start.AddSeconds(i)), events.Select(e => e.Time));
        Assert.Equal("23505", events[4].Received!.SqlState);
    }

    [Fact]
    public async Task A_body_edited_into_something_else_is_a_one_line_error_naming_the_record()
    {
        _files.Execute("UPDATE audit_records SET body = 'not json' WHERE chain = 'gw-1' AND seq = 9");
        await using var store = _files.Open();
        var error = await Assert.ThrowsAsync<AuditReadException>(() => new AuditReader(store.Audit).ShowAsync("gw-1-s2", default));
        Assert.Equal("chain gw-1 record 9: its body is not a statement record; run gatehouse audit verify", error.Message);
    }
}
