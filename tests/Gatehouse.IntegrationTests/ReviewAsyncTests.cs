using System.Net;
using Npgsql;

namespace Gatehouse.IntegrationTests;

public sealed class ReviewAsyncFixture : IAsyncLifetime
{
    public TestGateway Gateway { get; private set; } = null!;

    public async Task InitializeAsync() => Gateway = await TestGateway.StartAsync(new TestGatewayOptions { Policy = ReviewSupport.Policy("async", "2m", require: 2) });

    public async Task DisposeAsync() => await Gateway.DisposeAsync();
}

/// <summary>mode: async with require: 2: refused at once, approved by two distinct reviewers, then runs once for exactly its parameters.</summary>
public sealed class ReviewAsyncTests(ReviewAsyncFixture fixture) : IClassFixture<ReviewAsyncFixture>
{
    private TestGateway Gateway => fixture.Gateway;

    private static Task<ProcessRunner.Result> Cli(params string[] arguments) =>
        ProcessRunner.RunAsync(GatewayProcess.Executable, arguments, timeout: TimeSpan.FromSeconds(60));

    private static async Task<PostgresException> RefusedAsync(NpgsqlConnection connection, string sql, string card)
    {
        await using var command = new NpgsqlCommand(sql, connection) { Parameters = { new() { Value = card } } };
        return await Assert.ThrowsAsync<PostgresException>(() => command.ExecuteNonQueryAsync());
    }

    private static async Task<int> RunAsync(NpgsqlConnection connection, string sql, string card)
    {
        await using var command = new NpgsqlCommand(sql, connection) { Parameters = { new() { Value = card } } };
        return await command.ExecuteNonQueryAsync();
    }

    [Fact]
    public async Task An_approved_statement_runs_once_with_its_parameters_only()
    {
        string marker = Guid.NewGuid().ToString("N")[..8];
        string sql = $"INSERT INTO payments (card_number) VALUES ($1) /* {marker} */";
        await using var connection = await Gateway.OpenAsync();
        var first = await RefusedAsync(connection, sql, "a");
        Assert.Equal("42501", first.SqlState);
        string id = await ReviewSupport.PendingAsync(Gateway, marker);
        Assert.StartsWith($"gatehouse: review {id} required by rule pay-writes", first.MessageText, StringComparison.Ordinal);

        // require: 2 — one approval, twice from the same reviewer, is not enough.
        Assert.Equal(HttpStatusCode.OK, await ReviewSupport.DecideAsync(Gateway, id, approve: true, ReviewSupport.Reviewer(Gateway, "dba-1")));
        Assert.NotEqual(HttpStatusCode.OK, await ReviewSupport.DecideAsync(Gateway, id, approve: true, ReviewSupport.Reviewer(Gateway, "dba-1")));
        Assert.Equal("pending", (await ReviewSupport.ShowAsync(Gateway, id)).GetProperty("status").GetString());
        Assert.Equal("42501", (await RefusedAsync(connection, sql, "a")).SqlState);
        Assert.Equal(HttpStatusCode.OK, await ReviewSupport.DecideAsync(Gateway, id, approve: true, ReviewSupport.Reviewer(Gateway, "dba-2")));
        Assert.Equal("approved", (await ReviewSupport.ShowAsync(Gateway, id)).GetProperty("status").GetString());

        Assert.Equal("42501", (await RefusedAsync(connection, sql, "b")).SqlState);
        Assert.Equal(1, await RunAsync(connection, sql, "a"));
        Assert.Equal("used", (await ReviewSupport.ShowAsync(Gateway, id)).GetProperty("status").GetString());
        Assert.Equal("42501", (await RefusedAsync(connection, sql, "a")).SqlState);
        await using var count = new NpgsqlCommand("SELECT count(*) FROM payments WHERE card_number = 'a'", connection);
        Assert.True((long)(await count.ExecuteScalarAsync())! >= 1);
    }

    [Fact]
    public async Task The_same_statement_sent_by_eight_sessions_at_once_makes_one_request()
    {
        string marker = Guid.NewGuid().ToString("N")[..8];
        string sql = $"INSERT INTO payments (card_number) VALUES ($1) /* {marker} */";
        string token = Gateway.Token("agent-burst");
        var connections = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => Gateway.OpenAsync(token)));
        try
        {
            using var start = new SemaphoreSlim(0);
            var sends = connections.Select(async connection =>
            {
                await start.WaitAsync();
                return ReviewIdOf(await RefusedAsync(connection, sql, "burst"));
            }).ToList();
            start.Release(connections.Length);
            var ids = await Task.WhenAll(sends);

            Assert.Single(ids.Distinct());
            Assert.Equal([ids[0]], await ReviewSupport.ListAsync(Gateway.Gateway.AdminUrl, ReviewSupport.Reviewer(Gateway, "dba-burst"), "pending", marker));
        }
        finally
        {
            foreach (var connection in connections)
            {
                await connection.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task Resending_while_pending_reuses_the_request_and_an_approval_runs_once()
    {
        string marker = Guid.NewGuid().ToString("N")[..8];
        string sql = $"INSERT INTO payments (card_number) VALUES ($1) /* {marker} */";
        string admin = Gateway.Gateway.AdminUrl;
        string reviewer = ReviewSupport.Reviewer(Gateway, "dba-reuse");
        await using var connection = await Gateway.OpenAsync(Gateway.Token("agent-reuse"));
        var ids = new List<string>();
        for (int i = 0; i < 4; i++)
        {
            ids.Add(ReviewIdOf(await RefusedAsync(connection, sql, "r")));
        }

        // An agent retrying in a loop has one request, not one per attempt; another identity has its own.
        Assert.Single(ids.Distinct());
        Assert.Equal([ids[0]], await ReviewSupport.ListAsync(admin, reviewer, "pending", marker));
        await using (var other = await Gateway.OpenAsync(Gateway.Token("agent-reuse-2")))
        {
            Assert.NotEqual(ids[0], ReviewIdOf(await RefusedAsync(other, sql, "r")));
        }

        Assert.Equal(2, (await ReviewSupport.ListAsync(admin, reviewer, "pending", marker)).Count);
        Assert.Equal(HttpStatusCode.OK, await ReviewSupport.DecideAsync(Gateway, ids[0], approve: true, reviewer));
        Assert.Equal(HttpStatusCode.OK, await ReviewSupport.DecideAsync(Gateway, ids[0], approve: true, ReviewSupport.Reviewer(Gateway, "dba-reuse-2")));
        Assert.Equal(1, await RunAsync(connection, sql, "r"));

        // Used once: the next send is refused again, with a new request (the used one is never reused).
        string third = ReviewIdOf(await RefusedAsync(connection, sql, "r"));
        Assert.NotEqual(ids[0], third);
        Assert.Equal("used", (await ReviewSupport.ShowAsync(Gateway, ids[0])).GetProperty("status").GetString());
        Assert.Equal(third, ReviewIdOf(await RefusedAsync(connection, sql, "r")));
        await using var count = new NpgsqlCommand($"SELECT count(*) FROM payments WHERE card_number = 'r'", connection);
        Assert.Equal(1L, (long)(await count.ExecuteScalarAsync())!);
    }

    [Fact]
    public async Task An_approval_of_EXECUTE_is_for_the_prepared_statement_it_ran_not_for_the_name()
    {
        // A red team had "EXECUTE h3" approved for one prepared UPDATE, prepared another under the name in a second
        // session of the same identity, and ran it on that approval.
        string marker = Guid.NewGuid().ToString("N")[..8];
        string token = Gateway.Token("agent-execute");
        await using var first = await WireClient.ConnectAsync(Gateway.Port, "agent", token);
        Assert.Equal("1 Z", Shape(await first.Parse("h3", $"INSERT INTO payments (card_number) VALUES ('approved-{marker}')").Sync().RoundTripAsync()));
        var refused = Assert.Single(await first.Query("EXECUTE h3").RoundTripAsync(), r => r.Type == 'E').Error;
        var id = System.Text.RegularExpressions.Regex.Match(refused.Message, @"review (r-\w+)").Groups[1].Value;
        var shown = (await ReviewSupport.ShowAsync(Gateway, id)).GetProperty("sql").GetString()!;
        Assert.Contains($"VALUES ('approved-{marker}')", shown, StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.OK, await ReviewSupport.DecideAsync(Gateway, id, approve: true, ReviewSupport.Reviewer(Gateway, "dba-x1")));
        Assert.Equal(HttpStatusCode.OK, await ReviewSupport.DecideAsync(Gateway, id, approve: true, ReviewSupport.Reviewer(Gateway, "dba-x2")));

        await using (var second = await WireClient.ConnectAsync(Gateway.Port, "agent", token))
        {
            Assert.Equal("1 Z", Shape(await second.Parse("h3", $"INSERT INTO payments (card_number) VALUES ('other-{marker}')").Sync().RoundTripAsync()));
            var other = Assert.Single(await second.Query("EXECUTE h3").RoundTripAsync(), r => r.Type == 'E').Error;
            Assert.Equal("42501", other.SqlState);
            Assert.DoesNotContain(id, other.Message, StringComparison.Ordinal);
        }

        Assert.Contains(await first.Query("EXECUTE h3").RoundTripAsync(), r => r.Type == 'C');
        await using var connection = await Gateway.OpenAsync();
        await using var count = new NpgsqlCommand($"SELECT count(*) FILTER (WHERE card_number = 'approved-{marker}'), count(*) FILTER (WHERE card_number = 'other-{marker}') FROM payments", connection);
        await using var reader = await count.ExecuteReaderAsync();
        Assert.True(await reader.ReadAsync());
        Assert.Equal((1L, 0L), (reader.GetInt64(0), reader.GetInt64(1)));
    }

    private static string Shape(IEnumerable<WireReply> replies) => string.Join(' ', replies);

    private static string ReviewIdOf(PostgresException refusal)
    {
        Assert.Equal("42501", refusal.SqlState);
        var match = System.Text.RegularExpressions.Regex.Match(refusal.MessageText, @"^gatehouse: review (r-\w+) required by rule pay-writes");
        Assert.True(match.Success, refusal.MessageText);
        return match.Groups[1].Value;
    }

    [Fact]
    public async Task A_review_shows_the_statement_with_its_passwords_scrubbed_and_the_approval_still_matches_it()
    {
        string marker = Guid.NewGuid().ToString("N")[..8];
        string sql = $"DELETE FROM payments WHERE card_number = $1 /* {marker} set PASSWORD 'hunter2-{marker}' */";
        await using var connection = await Gateway.OpenAsync(Gateway.Token("agent-secret"));
        await RefusedAsync(connection, sql, "none");
        string id = await ReviewSupport.PendingAsync(Gateway, marker);
        var review = await ReviewSupport.ShowAsync(Gateway, id);
        Assert.DoesNotContain("hunter2", review.GetRawText(), StringComparison.Ordinal);
        Assert.Contains("PASSWORD '[redacted]'", review.GetProperty("sql").GetString(), StringComparison.Ordinal);

        Assert.Equal(HttpStatusCode.OK, await ReviewSupport.DecideAsync(Gateway, id, approve: true, ReviewSupport.Reviewer(Gateway, "dba-1"), "ok"));
        Assert.Equal(HttpStatusCode.OK, await ReviewSupport.DecideAsync(Gateway, id, approve: true, ReviewSupport.Reviewer(Gateway, "dba-2"), "ok"));
        Assert.Equal(0, await RunAsync(connection, sql, "none")); // the fingerprint is of the text the agent sent
    }

    [Fact]
    public async Task A_crafted_comment_cannot_hide_code_from_the_reviewer()
    {
        // Red team 2026-12-03: "--password" then a run of quotes made the scrubber blank everything after it, so the
        // reviewer approved "… OR --password ''[redacted]''" and the approval widened the UPDATE to five rows.
        string marker = Guid.NewGuid().ToString("N")[..8];
        string sql = $"UPDATE payments SET status = 'failed' WHERE card_number = $1 OR --password\n''||'x' = 'x' /* {marker} */";
        await using var connection = await Gateway.OpenAsync(Gateway.Token("agent-comment"));
        await RefusedAsync(connection, sql, "none");
        string id = await ReviewSupport.PendingAsync(Gateway, marker);
        var shown = (await ReviewSupport.ShowAsync(Gateway, id)).GetProperty("sql").GetString()!;
        Assert.Contains("WHERE card_number = $1 OR --password\n''||'x' = 'x' /*", shown, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_approval_is_for_the_parameters_as_bound_binary_or_text()
    {
        // Red team 2026-12-03: the text "\x0000000d" was approved (it reads like a binary integer to a reviewer, and
        // as text it fails), then bound in binary as 13 on the same approval: both rendered alike and fingerprinted alike.
        string marker = Guid.NewGuid().ToString("N")[..8];
        string sql = $"UPDATE payments SET card_number = 'refunded-{marker}' WHERE id = $1";
        string token = Gateway.Token("agent-binary");
        await using var agent = await WireClient.ConnectAsync(Gateway.Port, "agent", token);
        var asText = await agent.Parse("", sql, 23).Bind("", "", 0, "\\x0000000d"u8.ToArray()).Execute("").Sync().RoundTripAsync();
        var refused = Assert.Single(asText, r => r.Type == 'E').Error;
        var id = System.Text.RegularExpressions.Regex.Match(refused.Message, @"review (r-\w+)").Groups[1].Value;
        var shown = (await ReviewSupport.ShowAsync(Gateway, id)).GetProperty("sql").GetString()!;
        Assert.Contains("-- parameters as bound: $1 text of type integer", shown, StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.OK, await ReviewSupport.DecideAsync(Gateway, id, approve: true, ReviewSupport.Reviewer(Gateway, "dba-b1")));
        Assert.Equal(HttpStatusCode.OK, await ReviewSupport.DecideAsync(Gateway, id, approve: true, ReviewSupport.Reviewer(Gateway, "dba-b2")));

        var asBinary = await agent.Parse("", sql, 23).Bind("", "", 1, [0, 0, 0, 13]).Execute("").Sync().RoundTripAsync();
        var other = Assert.Single(asBinary, r => r.Type == 'E').Error;
        Assert.Equal("42501", other.SqlState);
        Assert.DoesNotContain(id, other.Message, StringComparison.Ordinal);
        Assert.Equal("approved", (await ReviewSupport.ShowAsync(Gateway, id)).GetProperty("status").GetString());
        var otherId = System.Text.RegularExpressions.Regex.Match(other.Message, @"review (r-\w+)").Groups[1].Value;
        Assert.Contains("-- parameters as bound: $1 binary of type integer", (await ReviewSupport.ShowAsync(Gateway, otherId)).GetProperty("sql").GetString()!, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_review_shows_parameters_with_their_secrets_scrubbed()
    {
        // Red team round 2: the review API returned a connection string's password and the agent's own token as sent.
        string marker = Guid.NewGuid().ToString("N")[..8];
        string token = Gateway.Token("agent-param-secret");
        await using var connection = await Gateway.OpenAsync(token);
        await using var command = new NpgsqlCommand($"UPDATE payments SET card_number = $1 WHERE card_number = $2 /* {marker} */", connection)
        {
            Parameters = { new() { Value = "host=db user=app password=ParamSecret-3" }, new() { Value = "Bearer " + token } },
        };
        Assert.Equal("42501", (await Assert.ThrowsAsync<PostgresException>(() => command.ExecuteNonQueryAsync())).SqlState);
        string id = await ReviewSupport.PendingAsync(Gateway, marker);
        var review = (await ReviewSupport.ShowAsync(Gateway, id)).GetRawText();
        Assert.DoesNotContain("ParamSecret-3", review, StringComparison.Ordinal);
        Assert.DoesNotContain(token, review, StringComparison.Ordinal);
        Assert.Contains("[withheld: the value holds a secret (", review, StringComparison.Ordinal); // withheld whole: a bound value may be spliced into code
    }

    [Fact]
    public async Task Copy_from_stdin_under_a_review_rule_is_refused_since_its_rows_come_after_the_approval()
    {
        string marker = Guid.NewGuid().ToString("N")[..8];
        await using var connection = await Gateway.OpenAsync(Gateway.Token("agent-copy"));
        var refused = await Assert.ThrowsAsync<PostgresException>(() => connection.BeginTextImportAsync($"COPY payments (card_number) FROM STDIN /* {marker} */"));
        Assert.Equal("42501", refused.SqlState);
        Assert.Contains("COPY … FROM STDIN cannot be reviewed", refused.MessageText, StringComparison.Ordinal);
        Assert.Empty(await ReviewSupport.ListAsync(Gateway.Gateway.AdminUrl, ReviewSupport.Reviewer(Gateway, "dba-copy"), "pending", marker));
        await using var still = new NpgsqlCommand("SELECT 1", connection);
        Assert.Equal(1, await still.ExecuteScalarAsync());
    }

    [Fact]
    public async Task A_scrubbed_comment_keeps_the_line_break_that_ends_it()
    {
        // Red team round 2: "--password = '⏎/* ' */ ; DELETE …" was shown as one line, the DELETE inside the comment.
        string marker = Guid.NewGuid().ToString("N")[..8];
        string sql = $"UPDATE payments SET card_number = $1 WHERE id = 0 --password = '\n/* ' */ AND card_number <> '{marker}'";
        await using var connection = await Gateway.OpenAsync(Gateway.Token("agent-gap"));
        string id = ReviewIdOf(await RefusedAsync(connection, sql, "none"));
        var shown = (await ReviewSupport.ShowAsync(Gateway, id)).GetProperty("sql").GetString()!;
        // The pattern runs past the comment's line break, so the comment cannot be scrubbed alone: the text is withheld
        // whole and says so, never shown with the code after it folded into the comment.
        Assert.StartsWith("[withheld: the statement holds a secret", shown, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_cli_lists_shows_and_decides_through_the_admin_api()
    {
        string marker = Guid.NewGuid().ToString("N")[..8];
        await using var connection = await Gateway.OpenAsync(Gateway.Token("agent-cli"));
        await RefusedAsync(connection, $"DELETE FROM payments WHERE card_number = $1 /* {marker} */", "x\u001b[31m");
        string id = await ReviewSupport.PendingAsync(Gateway, marker);
        string reviewer = ReviewSupport.Reviewer(Gateway, "dba-cli");

        var list = await Cli("reviews", "list", "--status", "pending", "--config", Gateway.ConfigPath, "--token", reviewer);
        Assert.True(list.ExitCode == 0, list.Stderr);
        Assert.Contains(id, list.Stdout, StringComparison.Ordinal);
        var show = await Cli("reviews", "show", id, "--server", Gateway.Gateway.AdminUrl, "--token", reviewer);
        Assert.True(show.ExitCode == 0, show.Stderr);
        Assert.Contains("x\\x1B[31m", show.Stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("\u001b[31m", show.Stdout, StringComparison.Ordinal);

        var agent = await Cli("reviews", "approve", id, "--config", Gateway.ConfigPath, "--token", Gateway.Token());
        Assert.Equal(1, agent.ExitCode);
        Assert.Single(agent.Stderr.Trim().Split('\n'));
        Assert.Contains("(HTTP 403)", agent.Stderr, StringComparison.Ordinal);
        var missing = await Cli("reviews", "list", "--config", Gateway.ConfigPath);
        Assert.NotEqual(0, missing.ExitCode);
        var unknown = await Cli("reviews", "show", "r-nosuchthing", "--config", Gateway.ConfigPath, "--token", reviewer);
        Assert.Equal(1, unknown.ExitCode);
        Assert.Contains("no review r-nosuchthing", unknown.Stderr, StringComparison.Ordinal);

        var reject = await Cli("reviews", "reject", id, "--reason", "not now", "--config", Gateway.ConfigPath, "--token", reviewer);
        Assert.True(reject.ExitCode == 0, reject.Stderr);
        Assert.Contains("rejected", reject.Stdout, StringComparison.Ordinal);
        var json = await Cli("reviews", "show", id, "--json", "--config", Gateway.ConfigPath, "--token", reviewer);
        Assert.Contains("\"not now\"", json.Stdout, StringComparison.Ordinal);

        // With a vote, the table shows it (this crashed on the vote's property names).
        var voted = await Cli("reviews", "show", id, "--config", Gateway.ConfigPath, "--token", reviewer);
        Assert.True(voted.ExitCode == 0, voted.Stderr);
        Assert.Contains("reject", voted.Stdout, StringComparison.Ordinal);
        Assert.Contains("not now", voted.Stdout, StringComparison.Ordinal);
        Assert.Contains("dba-cli", voted.Stdout, StringComparison.Ordinal);
    }
}

/// <summary>mode: hold with a short timeout: nobody decides, the statement fails "timed out".</summary>
public sealed class ReviewTimeoutTests
{
    [Fact]
    public async Task A_held_statement_nobody_decides_times_out()
    {
        await using var gateway = await TestGateway.StartAsync(new TestGatewayOptions { Policy = ReviewSupport.Policy("hold", "2s") });
        await using var connection = await gateway.OpenAsync();
        var error = await Assert.ThrowsAsync<PostgresException>(() => new NpgsqlCommand("UPDATE payments SET amount = 1 WHERE id = -1", connection).ExecuteNonQueryAsync());
        Assert.Equal("42501", error.SqlState);
        Assert.Matches(@"^gatehouse: review r-\w+ timed out", error.MessageText);
        Assert.Equal(3, await new NpgsqlCommand("SELECT 3", connection).ExecuteScalarAsync());
    }
}
