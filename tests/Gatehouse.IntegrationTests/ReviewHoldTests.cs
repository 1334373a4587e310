using System.Text.Json;
using System.Net;
using Npgsql;

namespace Gatehouse.IntegrationTests;

public sealed class ReviewHoldFixture : IAsyncLifetime
{
    public TestGateway Gateway { get; private set; } = null!;

    public async Task InitializeAsync() => Gateway = await TestGateway.StartAsync(new TestGatewayOptions { Policy = ReviewSupport.Policy("hold", "20s") });

    public async Task DisposeAsync() => await Gateway.DisposeAsync();
}

/// <summary>mode: hold: the statement waits in its session until a reviewer decides through /api/reviews.</summary>
public sealed class ReviewHoldTests(ReviewHoldFixture fixture) : IClassFixture<ReviewHoldFixture>
{
    private TestGateway Gateway => fixture.Gateway;

    [Fact]
    public async Task An_approved_held_statement_returns_its_real_result_and_the_trail_names_review_and_reviewer()
    {
        string marker = Guid.NewGuid().ToString("N")[..8];
        await using var connection = await Gateway.OpenAsync(Gateway.Token("agent-hold"));
        await using var insert = new NpgsqlCommand($"INSERT INTO payments (card_number, amount) VALUES ($1, 12.5) RETURNING card_number /* {marker} */", connection)
        {
            Parameters = { new() { Value = "card-" + marker } },
        };
        var running = insert.ExecuteScalarAsync();
        string id = await ReviewSupport.PendingAsync(Gateway, marker);
        Assert.False(running.IsCompleted);
        var review = await ReviewSupport.ShowAsync(Gateway, id);
        Assert.Equal("agent-hold", review.GetProperty("subject").GetString());
        Assert.Equal(["card-" + marker], review.GetProperty("parameters").EnumerateArray().Select(p => p.GetString()));

        Assert.Equal(HttpStatusCode.OK, await ReviewSupport.DecideAsync(Gateway, id, approve: true, ReviewSupport.Reviewer(Gateway, "dba-alice"), "looks fine"));
        Assert.Equal("card-" + marker, await running.WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal(1L, await new NpgsqlCommand("SELECT 1::bigint", connection).ExecuteScalarAsync());

        // The approval ran its statement: used, so no door (MCP takes approvals of statements sent again) runs it twice.
        Assert.Equal("used", (await ReviewSupport.ShowAsync(Gateway, id)).GetProperty("status").GetString());
    }

    [Fact]
    public async Task Psql_shows_the_hold_notice_with_the_review_id_and_gets_the_result()
    {
        string marker = Guid.NewGuid().ToString("N")[..8];
        var psql = ProcessRunner.RunAsync(
            ProcessRunner.PostgresTool("psql", Gateway.Postgres.BinDirectory),
            ["-X", "-At", "-v", "ON_ERROR_STOP=1", "-c", $"INSERT INTO payments (card_number) VALUES ('{marker}') RETURNING card_number"],
            new Dictionary<string, string>
            {
                ["PGHOST"] = "127.0.0.1", ["PGPORT"] = Gateway.Port.ToString(System.Globalization.CultureInfo.InvariantCulture), ["PGDATABASE"] = TestGateway.Target,
                ["PGUSER"] = "agent", ["PGPASSWORD"] = Gateway.Token("agent-psql"), ["PGSSLMODE"] = "require",
            },
            timeout: TimeSpan.FromSeconds(60));
        string id = await ReviewSupport.PendingAsync(Gateway, marker);
        Assert.Equal(HttpStatusCode.OK, await ReviewSupport.DecideAsync(Gateway, id, approve: true, ReviewSupport.Reviewer(Gateway)));
        var result = await psql;
        Assert.True(result.ExitCode == 0, result.Stderr);
        Assert.Contains($"held for review {id}", result.Stderr, StringComparison.Ordinal);
        Assert.Equal(marker, result.Stdout.Split('\n')[0].Trim());

        // The trail's record of the statement names its review and reviewer.
        var session = Assert.Single(await AuditCli.EndedSessionsAsync(Gateway.ConfigPath, "agent-psql", 1));
        var detail = await AuditCli.JsonAsync("sessions", "show", session.GetProperty("session").GetString()!, "--config", Gateway.ConfigPath, "--json");
        var statement = detail.GetProperty("statements").EnumerateArray().Single(s => s.GetProperty("statement").GetProperty("sql").GetString()!.Contains(marker, StringComparison.Ordinal)).GetProperty("statement");
        Assert.Equal(id, statement.GetProperty("review").GetString());
        Assert.Equal("dba-1", statement.GetProperty("reviewer").GetString());
    }

    [Fact]
    public async Task The_command_the_hold_notice_prints_approves_the_statement_as_printed()
    {
        string marker = Guid.NewGuid().ToString("N")[..8];
        await using var client = await WireClient.ConnectAsync(Gateway.Port, "agent", Gateway.Token("agent-hint"));
        await client.Query($"INSERT INTO payments (card_number, amount) VALUES ('hint-{marker}', 1) /* {marker} */").SendAsync();
        string notice = (await client.ReadUntilAsync('N')).Error.Message;
        var command = System.Text.RegularExpressions.Regex.Match(notice, @"or with: gatehouse (?<args>reviews approve \S+ --server \S+)\. Waiting");
        Assert.True(command.Success, notice);

        var approved = await ProcessRunner.RunAsync(GatewayProcess.Executable, command.Groups["args"].Value.Split(' '),
            new Dictionary<string, string> { ["GATEHOUSE_TOKEN"] = ReviewSupport.Reviewer(Gateway) }, TimeSpan.FromSeconds(60));
        Assert.True(approved.ExitCode == 0, approved.Stderr);
        Assert.Equal('C', (await client.ReadUntilAsync('C')).Type);
    }

    [Fact]
    public async Task A_client_that_goes_away_while_held_withdraws_its_review_and_an_approval_runs_nothing()
    {
        string marker = Guid.NewGuid().ToString("N")[..8];
        var client = await WireClient.ConnectAsync(Gateway.Port, "agent", Gateway.Token("agent-gone"));
        await client.Query($"INSERT INTO payments (card_number, amount) VALUES ('gone-{marker}', 1) /* {marker} */").SendAsync();
        Assert.Equal('N', (await client.ReadUntilAsync('N')).Type); // the hold notice
        string id = await ReviewSupport.PendingAsync(Gateway, marker);
        await client.DisposeAsync();

        string status = "pending";
        for (var deadline = DateTime.UtcNow.AddSeconds(10); status == "pending" && DateTime.UtcNow < deadline; await Task.Delay(100))
        {
            status = (await ReviewSupport.ShowAsync(Gateway, id)).GetProperty("status").GetString()!;
        }

        Assert.Equal("withdrawn", status);
        Assert.NotEqual(HttpStatusCode.OK, await ReviewSupport.DecideAsync(Gateway, id, approve: true, ReviewSupport.Reviewer(Gateway, "dba-late"), "too late"));
        Assert.Equal(0L, await Gateway.Postgres.ScalarAsync<long>($"SELECT count(*) FROM payments WHERE card_number = 'gone-{marker}'", TestGateway.Target));
    }

    [Fact]
    public async Task A_rejected_statement_fails_with_42501_naming_the_review_and_reason()
    {
        string marker = Guid.NewGuid().ToString("N")[..8];
        await using var connection = await Gateway.OpenAsync();
        var running = new NpgsqlCommand($"UPDATE payments SET amount = 0 WHERE card_number = '{marker}'", connection).ExecuteNonQueryAsync();
        string id = await ReviewSupport.PendingAsync(Gateway, marker);
        Assert.NotEqual(HttpStatusCode.OK, await ReviewSupport.DecideAsync(Gateway, id, approve: false, ReviewSupport.Reviewer(Gateway)));
        Assert.Equal(HttpStatusCode.OK, await ReviewSupport.DecideAsync(Gateway, id, approve: false, ReviewSupport.Reviewer(Gateway), "no refunds today"));
        var error = await Assert.ThrowsAsync<PostgresException>(() => running);
        Assert.Equal("42501", error.SqlState);
        Assert.Equal($"gatehouse: review {id} rejected: no refunds today", error.MessageText);
        Assert.Equal(HttpStatusCode.Conflict, await ReviewSupport.DecideAsync(Gateway, id, approve: true, ReviewSupport.Reviewer(Gateway, "dba-late")));

        // The trail: the statement (recorded at its Parse) as sent to review by its rule, and the rejection as its outcome.
        var (statement, outcome) = await RecordedStatementAsync(marker);
        Assert.Equal(("review", "pay-writes"), (statement.GetProperty("decision").GetString(), statement.GetProperty("rule").GetString()));
        Assert.Equal(("42501", $"gatehouse: review {id} rejected: no refunds today"), (outcome.GetProperty("sql_state").GetString(), outcome.GetProperty("message").GetString()));
    }

    // The CLI reads the store, which has a record within AuditTrail.LazyFlush of its journal write.
    private async Task<(JsonElement Statement, JsonElement Outcome)> RecordedStatementAsync(string marker)
    {
        for (int attempt = 0; ; attempt++)
        {
            var sessions = (await AuditCli.JsonAsync("sessions", "list", "--config", Gateway.ConfigPath, "--text", marker, "--json")).EnumerateArray().ToList();
            if (sessions.Count == 1)
            {
                var detail = await AuditCli.JsonAsync("sessions", "show", sessions[0].GetProperty("session").GetString()!, "--config", Gateway.ConfigPath, "--json");
                var view = detail.GetProperty("statements").EnumerateArray()
                    .Single(s => s.GetProperty("statement").GetProperty("sql").GetString()!.Contains(marker, StringComparison.Ordinal));
                if (view.GetProperty("outcomes").GetArrayLength() == 1)
                {
                    return (view.GetProperty("statement"), view.GetProperty("outcomes")[0].GetProperty("outcome"));
                }
            }

            Assert.True(attempt < 50, $"no statement with {marker} and its outcome in the trail");
            await Task.Delay(100);
        }
    }

    [Fact]
    public async Task Cancelling_a_held_statement_withdraws_its_review_and_the_session_goes_on()
    {
        string marker = Guid.NewGuid().ToString("N")[..8];
        await using var connection = await Gateway.OpenAsync();
        using var cancel = new CancellationTokenSource();
        var running = new NpgsqlCommand($"DELETE FROM payments WHERE card_number = '{marker}'", connection).ExecuteNonQueryAsync(cancel.Token);
        string id = await ReviewSupport.PendingAsync(Gateway, marker);
        await cancel.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => running);
        Assert.Equal("withdrawn", (await ReviewSupport.ShowAsync(Gateway, id)).GetProperty("status").GetString());
        Assert.Equal(5, await new NpgsqlCommand("SELECT 5", connection).ExecuteScalarAsync());
    }

    [Fact]
    public async Task Only_approvers_other_than_the_requester_decide()
    {
        string both = Gateway.Token("agent-dba", ("groups", "ai-agents"), ("roles", "dba"));
        using (var none = await ReviewSupport.SendAsync(Gateway, HttpMethod.Get, "/api/reviews", null))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, none.StatusCode);
        }

        using (var agent = await ReviewSupport.SendAsync(Gateway, HttpMethod.Get, "/api/reviews", Gateway.Token()))
        {
            Assert.Equal(HttpStatusCode.Forbidden, agent.StatusCode);
        }

        string marker = Guid.NewGuid().ToString("N")[..8];
        await using var connection = await Gateway.OpenAsync(both);
        var running = new NpgsqlCommand($"DELETE FROM payments WHERE card_number = '{marker}'", connection).ExecuteNonQueryAsync();
        string id = await ReviewSupport.PendingAsync(Gateway, marker);
        Assert.Equal(HttpStatusCode.Forbidden, await ReviewSupport.DecideAsync(Gateway, id, approve: true, both));
        Assert.Equal(HttpStatusCode.Forbidden, await ReviewSupport.DecideAsync(Gateway, id, approve: true, Gateway.Token()));
        Assert.Equal("pending", (await ReviewSupport.ShowAsync(Gateway, id)).GetProperty("status").GetString());
        Assert.Equal(HttpStatusCode.OK, await ReviewSupport.DecideAsync(Gateway, id, approve: true, ReviewSupport.Reviewer(Gateway)));
        Assert.Equal(0, await running.WaitAsync(TimeSpan.FromSeconds(10)));
    }
}
