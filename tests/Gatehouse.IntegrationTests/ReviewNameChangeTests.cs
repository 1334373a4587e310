using System.Net;
using System.Text;
using Npgsql;

namespace Gatehouse.IntegrationTests;

public sealed class NameChangeHoldFixture : IAsyncLifetime
{
    public TestGateway Gateway { get; private set; } = null!;

    // hold, short timeout: a statement nobody approves fails within 4 s.
    public async Task InitializeAsync() => Gateway = await TestGateway.StartAsync(new TestGatewayOptions { Policy = ReviewSupport.Policy("hold", "4s") });

    public async Task DisposeAsync() => await Gateway.DisposeAsync();
}

/// <summary>
/// A statement that runs another by name (EXECUTE p) follows what the name means when it runs (red team, 2026-12-03:
/// x prepared as EXECUTE p while p was harmless, then p closed and prepared again as a held write, ran it unreviewed).
/// </summary>
public sealed class ReviewNameChangeTests(NameChangeHoldFixture fixture) : IClassFixture<NameChangeHoldFixture>
{
    private TestGateway Gateway => fixture.Gateway;

    private static string Shape(IEnumerable<WireReply> replies) => string.Join(' ', replies);

    private Task<long> CountAsync(string card) =>
        Gateway.Postgres.ScalarAsync<long>($"SELECT count(*) FROM payments WHERE card_number = '{card}'", "shop");

    private Task<List<string>> AnyReviewsAsync(string marker) =>
        ReviewSupport.ListAsync(Gateway.Gateway.AdminUrl, ReviewSupport.Reviewer(Gateway), status: null, marker);

    [Fact]
    public async Task Baseline_a_protocol_insert_into_payments_is_held()
    {
        string card = "base-" + Guid.NewGuid().ToString("N")[..8];
        await using var c = await WireClient.ConnectAsync(Gateway.Port, "agent", Gateway.Token("rt-base"));
        var replies = await c.Parse("", $"INSERT INTO payments (card_number) VALUES ('{card}')").Bind("", "").Execute("").Sync().RoundTripAsync();
        Assert.Contains(replies, r => r.Type == 'E'); // held, nobody approves, times out
        Assert.Equal(0, await CountAsync(card));
    }

    [Fact]
    public async Task A6_a_reviewed_EXECUTE_shows_and_fingerprints_the_declared_parameter_types()
    {
        // Red team 2026-12-04: declared as "char", '%-x-target' is '%': the reviewer saw a one-row DELETE that deleted all.
        string marker = "a6-" + Guid.NewGuid().ToString("N")[..8];
        await using var c = await WireClient.ConnectAsync(Gateway.Port, "agent", Gateway.Token("rt-a6"));
        Assert.Equal("1 Z", Shape(await c.Parse("p6", "DELETE FROM payments WHERE card_number LIKE $1::text", 18).Sync().RoundTripAsync()));
        var replies = await c.Query($"EXECUTE p6('%-{marker}-target')").RoundTripAsync();
        Assert.Contains(replies, r => r.Type == 'E'); // held, nobody approves, times out
        string reviewed = Assert.Single(await ReviewSupport.ListAsync(Gateway.Gateway.AdminUrl, ReviewSupport.Reviewer(Gateway), status: null, marker));
        Assert.Single(await ReviewSupport.ListAsync(Gateway.Gateway.AdminUrl, ReviewSupport.Reviewer(Gateway), status: null, "LIKE $1::text\n-- with parameter types (\"char\")"));

        // Prepared again with other types, the same EXECUTE is another request, not the first one's approval.
        Assert.Equal("3 1 Z", Shape(await c.Close('S', "p6").Parse("p6", "DELETE FROM payments WHERE card_number LIKE $1::text", 25).Sync().RoundTripAsync()));
        await c.Query($"EXECUTE p6('%-{marker}-target')").RoundTripAsync();
        var both = await ReviewSupport.ListAsync(Gateway.Gateway.AdminUrl, ReviewSupport.Reviewer(Gateway), status: null, marker);
        Assert.Equal(2, both.Count);
        Assert.Contains(reviewed, both);
    }

    [Fact]
    public async Task A1_EXECUTE_of_a_name_closed_and_prepared_again_in_the_batch_of_its_Bind_is_refused()
    {
        string card = "a1-" + Guid.NewGuid().ToString("N")[..8];
        await using var c = await WireClient.ConnectAsync(Gateway.Port, "agent", Gateway.Token("rt-a1"));
        // p is harmless; x = "EXECUTE p" is decided as running it (allowed, no review).
        Assert.Equal("1 Z", Shape(await c.Parse("p", "SELECT 1").Sync().RoundTripAsync()));
        Assert.Equal("1 Z", Shape(await c.Parse("x", "EXECUTE p").Sync().RoundTripAsync()));
        // p is closed and prepared again as a write the review rule holds: a Parse is forwarded (reviewed only at ITS Bind).
        // x is then bound and executed: the server's EXECUTE p runs the new p.
        var replies = await c.Close('S', "p").Parse("p", $"INSERT INTO payments (card_number) VALUES ('{card}')")
            .Bind("", "x").Execute("").Sync().RoundTripAsync(notices: true);
        Assert.Contains(replies, r => r.Type == 'E' && r.Error.Message.Contains("being closed or prepared again", StringComparison.Ordinal));
        Assert.Equal(0, await CountAsync(card));
        Assert.Empty(await AnyReviewsAsync(card));
    }

    [Fact]
    public async Task A2_EXECUTE_of_a_name_deallocated_and_prepared_again_is_refused()
    {
        string card = "a2-" + Guid.NewGuid().ToString("N")[..8];
        await using var c = await WireClient.ConnectAsync(Gateway.Port, "agent", Gateway.Token("rt-a2"));
        Assert.Contains("C", Shape(await c.Query("PREPARE q AS SELECT 1").RoundTripAsync()));
        Assert.Equal("1 Z", Shape(await c.Parse("x2", "EXECUTE q").Sync().RoundTripAsync()));
        Assert.Contains("C", Shape(await c.Query("DEALLOCATE q").RoundTripAsync()));
        var replies = await c.Parse("q", $"INSERT INTO payments (card_number) VALUES ('{card}')")
            .Bind("", "x2").Execute("").Sync().RoundTripAsync(notices: true);
        Assert.Contains(replies, r => r.Type == 'E');
        Assert.Equal(0, await CountAsync(card));
    }

    [Fact]
    public async Task A0_EXECUTE_of_an_unchanged_name_runs_as_decided()
    {
        await using var c = await WireClient.ConnectAsync(Gateway.Port, "agent", Gateway.Token("nc-a0"));
        Assert.Equal("1 Z", Shape(await c.Parse("p", "SELECT 41 + 1").Sync().RoundTripAsync()));
        Assert.Equal("1 Z", Shape(await c.Parse("x", "EXECUTE p").Sync().RoundTripAsync()));
        for (int i = 0; i < 2; i++)
        {
            var replies = await c.Bind("", "x").Execute("").Sync().RoundTripAsync();
            Assert.Equal("42", Assert.Single(replies, r => r.Type == 'D').FirstValue());
        }
    }

    [Fact]
    public async Task A3_after_the_name_changed_and_was_answered_a_Bind_is_decided_on_what_it_means_now()
    {
        string card = "a3-" + Guid.NewGuid().ToString("N")[..8];
        await using var c = await WireClient.ConnectAsync(Gateway.Port, "agent", Gateway.Token("nc-a3"));
        Assert.Equal("1 Z", Shape(await c.Parse("p", "SELECT 1").Sync().RoundTripAsync()));
        Assert.Equal("1 Z", Shape(await c.Parse("x", "EXECUTE p").Sync().RoundTripAsync()));
        Assert.Equal("3 1 Z", Shape(await c.Close('S', "p").Parse("p", $"INSERT INTO payments (card_number) VALUES ('{card}')").Sync().RoundTripAsync()));

        // x now runs the INSERT: held for review (nobody decides; it times out), the reviewer shown what p is now.
        await c.Bind("", "x").Execute("").Sync().SendAsync();
        string id = await ReviewSupport.PendingAsync(Gateway, card);
        var shown = (await ReviewSupport.ShowAsync(Gateway, id)).GetProperty("sql").GetString()!;
        Assert.Contains($"INSERT INTO payments (card_number) VALUES ('{card}')", shown, StringComparison.Ordinal);
        var error = await c.ReadUntilAsync('E');
        Assert.Equal("42501", error.Error.SqlState);
        await c.ReadUntilAsync('Z');
        Assert.Equal(0, await CountAsync(card));
    }

    [Fact]
    public async Task A4_a_bound_portal_is_not_executed_after_the_name_it_runs_changed()
    {
        string card = "a4-" + Guid.NewGuid().ToString("N")[..8];
        await using var c = await WireClient.ConnectAsync(Gateway.Port, "agent", Gateway.Token("nc-a4"));
        Assert.Equal("1 Z", Shape(await c.Parse("p", "SELECT 1").Sync().RoundTripAsync()));
        Assert.Equal("1 Z", Shape(await c.Parse("x", "EXECUTE p").Sync().RoundTripAsync()));
        Assert.Contains("C", Shape(await c.Query("BEGIN").RoundTripAsync()));
        Assert.Equal("2 Z", Shape(await c.Bind("P", "x").Sync().RoundTripAsync()));
        Assert.Equal("3 1 Z", Shape(await c.Close('S', "p").Parse("p", $"INSERT INTO payments (card_number) VALUES ('{card}')").Sync().RoundTripAsync()));

        var replies = await c.Execute("P").Sync().RoundTripAsync();
        Assert.Contains(replies, r => r.Type == 'E' && r.Error.Message.Contains("bind it again", StringComparison.Ordinal));
        await c.Query("ROLLBACK").RoundTripAsync();
        Assert.Equal(0, await CountAsync(card));
    }

    [Fact]
    public async Task A5_SQL_EXECUTE_in_the_batch_that_prepares_the_name_again_is_refused()
    {
        string card = "a5-" + Guid.NewGuid().ToString("N")[..8];
        await using var c = await WireClient.ConnectAsync(Gateway.Port, "agent", Gateway.Token("nc-a5"));
        Assert.Equal("1 Z", Shape(await c.Parse("p", "SELECT 1").Sync().RoundTripAsync()));
        var replies = await c.Close('S', "p").Parse("p", $"INSERT INTO payments (card_number) VALUES ('{card}')")
            .Parse("", "EXECUTE p").Bind("", "").Execute("").Sync().RoundTripAsync();
        Assert.Contains(replies, r => r.Type == 'E' && r.Error.Message.Contains("being closed or prepared again", StringComparison.Ordinal));
        Assert.Equal(0, await CountAsync(card));
    }
}

public sealed class NameChangeStrictFixture : IAsyncLifetime
{
    public TestGateway Gateway { get; private set; } = null!;

    public const string Policy = """
        identities:
          agents: { claims: { groups: ai-agents } }
          reviewers: { claims: { roles: dba } }
        grants:
          - to: agents
            targets: [shop]
            db_roles: [app_read, app_write]
            rules:
              - { id: no-ddl, when: { class: [ddl, dcl, admin, code, unknown] }, then: deny }
              - { id: fixed-session, when: { class: session }, then: deny }
              - { id: pay-writes, when: { class: write, tables: ["public.payments"] }, then: review }
              - { id: no-delete, when: { commands: [DELETE] }, then: review }
            masks:
              - { columns: ["public.customers.ssn"], with: last4 }
        reviews: { approvers: reviewers, mode: async, timeout: 2m }
        """;

    public async Task InitializeAsync() => Gateway = await TestGateway.StartAsync(new TestGatewayOptions { Policy = Policy });

    public async Task DisposeAsync() => await Gateway.DisposeAsync();
}

/// <summary>The same attacks under a strict policy (DDL, code, session commands denied; masks on: a guarded session), async mode.</summary>
public sealed class ReviewNameChangeStrictTests(NameChangeStrictFixture fixture) : IClassFixture<NameChangeStrictFixture>
{
    private TestGateway Gateway => fixture.Gateway;

    private static string Shape(IEnumerable<WireReply> replies) => string.Join(' ', replies);

    private Task<long> CountAsync(string card) =>
        Gateway.Postgres.ScalarAsync<long>($"SELECT count(*) FROM payments WHERE card_number = '{card}'", "shop");

    [Fact]
    public async Task S1_strict_policy_guarded_session_reprepared_insert_is_refused_at_every_Bind()
    {
        string card = "s1-" + Guid.NewGuid().ToString("N")[..8];
        await using var c = await WireClient.ConnectAsync(Gateway.Port, "agent", Gateway.Token("rt-s1"));
        Assert.Equal("1 Z", Shape(await c.Parse("p", "SELECT 1").Sync().RoundTripAsync()));
        Assert.Equal("1 Z", Shape(await c.Parse("x", "EXECUTE p").Sync().RoundTripAsync()));
        var r = await c.Close('S', "p").Parse("p", $"INSERT INTO payments (card_number) VALUES ('{card}')")
            .Bind("", "x").Execute("").Bind("", "x").Execute("").Bind("", "x").Execute("").Sync().RoundTripAsync();
        Assert.Contains(r, x => x.Type == 'E');
        Assert.Equal(0, await CountAsync(card));
    }

    [Fact]
    public async Task S2_strict_policy_reprepared_delete_is_refused()
    {
        await Gateway.Postgres.ExecuteAsync("INSERT INTO payments (card_number) VALUES ('s2-victim')", "shop");
        await using var c = await WireClient.ConnectAsync(Gateway.Port, "agent", Gateway.Token("rt-s2"));
        Assert.Equal("1 Z", Shape(await c.Parse("p", "SELECT 1").Sync().RoundTripAsync()));
        Assert.Equal("1 Z", Shape(await c.Parse("x", "EXECUTE p").Sync().RoundTripAsync()));
        var r = await c.Close('S', "p").Parse("p", "DELETE FROM payments WHERE card_number = 's2-victim'")
            .Bind("", "x").Execute("").Sync().RoundTripAsync();
        Assert.Contains(r, x => x.Type == 'E');
        Assert.Equal(1, await CountAsync("s2-victim"));
    }

    [Fact]
    public async Task S3_an_approval_of_one_insert_does_not_run_another()
    {
        // The reviewer approves "EXECUTE p -- runs INSERT … 'benign'"; the agent re-prepares p and the same approval runs it.
        string marker = Guid.NewGuid().ToString("N")[..8];
        await using var c = await WireClient.ConnectAsync(Gateway.Port, "agent", Gateway.Token("rt-s3"));
        Assert.Equal("1 Z", Shape(await c.Parse("p", $"INSERT INTO payments (card_number) VALUES ('benign-{marker}')").Sync().RoundTripAsync()));
        Assert.Equal("1 Z", Shape(await c.Parse("x", "EXECUTE p").Sync().RoundTripAsync()));
        var first = await c.Bind("", "x").Execute("").Sync().RoundTripAsync();
        var error = Assert.Single(first, r => r.Type == 'E').Error;
        var id = System.Text.RegularExpressions.Regex.Match(error.Message, @"review (r-\w+)").Groups[1].Value;
        Assert.NotEmpty(id);
        var shown = (await ReviewSupport.ShowAsync(Gateway, id)).GetProperty("sql").GetString()!;
        Assert.Contains($"benign-{marker}", shown, StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.OK, await ReviewSupport.DecideAsync(Gateway, id, approve: true, ReviewSupport.Reviewer(Gateway, "dba-s3")));

        var r2 = await c.Close('S', "p").Parse("p", $"INSERT INTO payments (card_number) SELECT 'evil-{marker}' FROM generate_series(1, 50)")
            .Bind("", "x").Execute("").Sync().RoundTripAsync();
        Assert.Contains(r2, x => x.Type == 'E');
        Assert.Equal(0, await CountAsync($"evil-{marker}"));
    }

    [Fact]
    public async Task S5_a_query_EXECUTE_pipelined_behind_Close_and_Parse_is_decided_on_the_new_statement()
    {
        string card = "s5-" + Guid.NewGuid().ToString("N")[..8];
        await using var c = await WireClient.ConnectAsync(Gateway.Port, "agent", Gateway.Token("rt-s5"));
        Assert.Equal("1 Z", Shape(await c.Parse("p5", "SELECT 1").Sync().RoundTripAsync()));
        // One write: the Query is analyzed before the server's CloseComplete/ParseComplete reach Gatehouse.
        await c.Close('S', "p5").Parse("p5", $"INSERT INTO payments (card_number) VALUES ('{card}')").Sync().Query("EXECUTE p5").SendAsync();
        var first = await c.RoundTripAsync();
        var second = await c.RoundTripAsync();
        // The Query waited for the Close and Parse to be answered, so it was decided on the new p5: held for review.
        Assert.Equal("3 1 Z", Shape(first));
        Assert.Contains(second, x => x.Type == 'E' && x.Error.Message.Contains("review", StringComparison.OrdinalIgnoreCase));
        Assert.Equal(0, await CountAsync(card));
    }

    [Fact]
    public async Task S4_rows_through_a_reprepared_name_stay_masked()
    {
        await using var c = await WireClient.ConnectAsync(Gateway.Port, "agent", Gateway.Token("rt-s4"));
        Assert.Equal("1 Z", Shape(await c.Parse("p", "SELECT 'x'::text").Sync().RoundTripAsync()));
        Assert.Equal("1 Z", Shape(await c.Parse("x", "EXECUTE p").Sync().RoundTripAsync()));
        var r = await c.Close('S', "p").Parse("p", "SELECT ssn FROM customers WHERE id = 1")
            .Bind("", "x").Execute("").Sync().RoundTripAsync();
        Assert.DoesNotContain(r, x => x.Type == 'D' && x.FirstValue() == "123-45-0001");
    }
}

/// <summary>Pipelined Binds and re-executed portals of a held statement, in hold mode.</summary>
public sealed class ReviewHeldPipelineTests(NameChangeHoldFixture fixture) : IClassFixture<NameChangeHoldFixture>
{
    private TestGateway Gateway => fixture.Gateway;

    private static string Shape(IEnumerable<WireReply> replies) => string.Join(' ', replies);

    private Task<long> CountAsync(string card) =>
        Gateway.Postgres.ScalarAsync<long>($"SELECT count(*) FROM payments WHERE card_number = '{card}'", "shop");

    [Fact]
    public async Task B1_pipelined_binds_each_need_their_own_approval()
    {
        string m = Guid.NewGuid().ToString("N")[..8];
        await using var c = await WireClient.ConnectAsync(Gateway.Port, "agent", Gateway.Token("rt-b1"));
        await c.Parse("s", $"INSERT INTO payments (card_number) VALUES ($1) /* {m} */").Bind("", "s", $"a-{m}").Execute("")
            .Bind("", "s", $"b-{m}").Execute("").Bind("", "s", $"a-{m}").Execute("").Sync().SendAsync();
        string id = await ReviewSupport.PendingAsync(Gateway, m);
        Assert.Equal(HttpStatusCode.OK, await ReviewSupport.DecideAsync(Gateway, id, approve: true, ReviewSupport.Reviewer(Gateway)));
        // The second Bind: a new request; nobody decides it (times out).
        var r = await c.ReadUntilAsync('Z');
        // The first (approved) insert is rolled back with the implicit transaction the second's timeout failed: fail-safe.
        Assert.Equal(0, await CountAsync($"b-{m}"));
    }

    [Fact]
    public async Task B2_an_approved_named_portal_executed_twice_runs_once()
    {
        string m = Guid.NewGuid().ToString("N")[..8];
        await using var c = await WireClient.ConnectAsync(Gateway.Port, "agent", Gateway.Token("rt-b2"));
        Assert.Contains("C", Shape(await c.Query("BEGIN").RoundTripAsync()));
        await c.Parse("s", $"INSERT INTO payments (card_number) VALUES ('{m}') RETURNING id").Bind("P", "s").Execute("P", 1).Sync().SendAsync();
        string id = await ReviewSupport.PendingAsync(Gateway, m);
        Assert.Equal(HttpStatusCode.OK, await ReviewSupport.DecideAsync(Gateway, id, approve: true, ReviewSupport.Reviewer(Gateway)));
        await c.ReadUntilAsync('Z');
        var again = await c.Execute("P", 0).Execute("P", 0).Sync().RoundTripAsync();
        Assert.DoesNotContain(again, x => x.Type == 'E');
        Assert.Contains("C", Shape(await c.Query("COMMIT").RoundTripAsync()));
        Assert.Equal(1, await CountAsync(m));
    }
}
