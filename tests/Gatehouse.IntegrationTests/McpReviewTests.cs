using System.Net;
using System.Text.Json;
using ModelContextProtocol.Client;

namespace Gatehouse.IntegrationTests;

public sealed class McpReviewHoldFixture : IAsyncLifetime
{
    public TestGateway Gateway { get; private set; } = null!;

    public async Task InitializeAsync() => Gateway = await TestGateway.StartAsync(new TestGatewayOptions { Policy = ReviewSupport.Policy("hold", "120s") });

    public async Task DisposeAsync() => await Gateway.DisposeAsync();
}

public sealed class McpReviewAsyncFixture : IAsyncLifetime
{
    public TestGateway Gateway { get; private set; } = null!;

    public async Task InitializeAsync() => Gateway = await TestGateway.StartAsync(new TestGatewayOptions { Policy = ReviewSupport.Policy("async", "120s") });

    public async Task DisposeAsync() => await Gateway.DisposeAsync();
}

/// <summary>Reviews over MCP (SDK client, real HTTP): the statement waits mcp.review_wait (10s by default) in hold mode.</summary>
public sealed class McpReviewHoldTests(McpReviewHoldFixture fixture) : IClassFixture<McpReviewHoldFixture>
{
    private TestGateway Gateway => fixture.Gateway;

    [Fact]
    public async Task A_held_query_approved_within_the_wait_returns_its_rows_and_the_review_is_then_used()
    {
        string marker = Guid.NewGuid().ToString("N")[..8];
        await using var client = await McpFixture.ClientAsync(Gateway, Gateway.Token("mcp-holder"));
        var call = McpFixture.QueryAsync(client, $"INSERT INTO payments (card_number) VALUES ('{marker}') RETURNING card_number");
        string id = await ReviewSupport.PendingAsync(Gateway, marker);
        Assert.False(call.IsCompleted);
        Assert.Equal(HttpStatusCode.OK, await ReviewSupport.DecideAsync(Gateway, id, approve: true, ReviewSupport.Reviewer(Gateway)));

        var (result, json) = await call.WaitAsync(TimeSpan.FromSeconds(20));
        Assert.True(result.IsError is not true, json.ToString());
        Assert.Equal(marker, Assert.Single(McpFixture.Rows(json))[0]);
        var (_, status) = await ReviewStatusAsync(client, id);
        Assert.Equal("used", status.GetProperty("review").GetProperty("status").GetString());
    }

    [Fact]
    public async Task An_undecided_query_answers_with_its_review_id_after_the_wait_and_runs_once_when_sent_again_after_approval()
    {
        string marker = Guid.NewGuid().ToString("N")[..8];
        string sql = $"INSERT INTO payments (card_number) VALUES ('{marker}') RETURNING card_number";
        await using var client = await McpFixture.ClientAsync(Gateway, Gateway.Token("mcp-waiter"));
        var started = DateTime.UtcNow;
        var (result, json) = await McpFixture.QueryAsync(client, sql);
        Assert.True(DateTime.UtcNow - started >= TimeSpan.FromSeconds(9), "the call did not wait mcp.review_wait");
        Assert.True(result.IsError);
        string id = json.GetProperty("review").GetProperty("id").GetString()!;
        Assert.StartsWith("r-", id, StringComparison.Ordinal);
        Assert.Contains("a human must approve review " + id, json.GetProperty("next").GetString(), StringComparison.Ordinal);
        Assert.Equal("42501", json.GetProperty("error").GetProperty("sqlstate").GetString());

        // Still pending (not withdrawn): a reviewer approves it afterwards, and the re-sent query runs.
        Assert.Equal("pending", (await ReviewStatusAsync(client, id)).Json.GetProperty("review").GetProperty("status").GetString());
        Assert.Equal(HttpStatusCode.OK, await ReviewSupport.DecideAsync(Gateway, id, approve: true, ReviewSupport.Reviewer(Gateway), "fine"));
        var (_, approved) = await ReviewStatusAsync(client, id);
        Assert.Equal("approved", approved.GetProperty("review").GetProperty("status").GetString());
        Assert.Equal("fine", approved.GetProperty("data").GetProperty("decision_reason").GetString());

        var (rerun, rows) = await McpFixture.QueryAsync(client, sql);
        Assert.True(rerun.IsError is not true, rows.ToString());
        Assert.Equal(marker, Assert.Single(McpFixture.Rows(rows))[0]);
        Assert.Equal(1L, await Gateway.Postgres.ScalarAsync<long>($"SELECT count(*) FROM payments WHERE card_number = '{marker}'", "shop"));
    }

    [Fact]
    public async Task Another_identitys_review_is_not_found_like_an_id_that_does_not_exist()
    {
        string marker = Guid.NewGuid().ToString("N")[..8];
        await using var owner = await McpFixture.ClientAsync(Gateway, Gateway.Token("mcp-owner"));
        var call = McpFixture.QueryAsync(owner, $"UPDATE payments SET amount = 1 WHERE card_number = '{marker}'");
        string id = await ReviewSupport.PendingAsync(Gateway, marker);

        await using var other = await McpFixture.ClientAsync(Gateway, Gateway.Token("mcp-other"));
        var (result, json) = await ReviewStatusAsync(other, id);
        Assert.True(result.IsError);
        Assert.Equal($"no review \"{id}\" asked for by this identity", json.GetProperty("error").GetProperty("message").GetString());
        Assert.DoesNotContain(marker, json.ToString(), StringComparison.Ordinal);
        var (_, missing) = await ReviewStatusAsync(other, "r-nosuchthing");
        Assert.Equal("no review \"r-nosuchthing\" asked for by this identity", missing.GetProperty("error").GetProperty("message").GetString());

        var (_, own) = await ReviewStatusAsync(owner, id);
        Assert.Equal("pending", own.GetProperty("review").GetProperty("status").GetString());
        Assert.Contains(marker, own.GetProperty("data").GetProperty("sql").GetString(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.OK, await ReviewSupport.DecideAsync(Gateway, id, approve: false, ReviewSupport.Reviewer(Gateway), "no"));
        var (_, rejected) = await call.WaitAsync(TimeSpan.FromSeconds(20));
        Assert.Equal($"gatehouse: review {id} rejected: no", rejected.GetProperty("error").GetProperty("message").GetString());
    }

    internal static Task<(ModelContextProtocol.Protocol.CallToolResult Result, JsonElement Json)> ReviewStatusAsync(McpClient client, string id) =>
        McpFixture.CallAsync(client, "review_status", new Dictionary<string, object?> { ["review_id"] = id });
}

/// <summary>reviews.mode: async over MCP: the call answers with the review id at once; the approval lets it run once.</summary>
public sealed class McpReviewAsyncTests(McpReviewAsyncFixture fixture) : IClassFixture<McpReviewAsyncFixture>
{
    private TestGateway Gateway => fixture.Gateway;

    [Fact]
    public async Task The_review_id_comes_back_at_once_and_after_gatehouse_reviews_approve_the_same_query_runs_once()
    {
        string marker = Guid.NewGuid().ToString("N")[..8];
        string sql = "INSERT INTO payments (card_number) VALUES ($1) RETURNING card_number";
        await using var client = await McpFixture.ClientAsync(Gateway, Gateway.Token("mcp-async"));
        var (result, json) = await McpFixture.QueryAsync(client, sql, [marker]);
        Assert.True(result.IsError);
        string id = json.GetProperty("review").GetProperty("id").GetString()!;
        Assert.Equal("pending", json.GetProperty("review").GetProperty("status").GetString());
        Assert.Contains("a human must approve", json.GetProperty("next").GetString(), StringComparison.Ordinal);
        Assert.Equal("pending", (await McpReviewHoldTests.ReviewStatusAsync(client, id)).Json.GetProperty("review").GetProperty("status").GetString());

        var approve = await AuditCli.RunAsync("reviews", "approve", id, "--config", Gateway.ConfigPath, "--token", ReviewSupport.Reviewer(Gateway));
        Assert.True(approve.ExitCode == 0, approve.Stderr);
        Assert.Equal("approved", (await McpReviewHoldTests.ReviewStatusAsync(client, id)).Json.GetProperty("review").GetProperty("status").GetString());

        // Other parameters are another statement: not covered by the approval.
        var (otherValue, other) = await McpFixture.QueryAsync(client, sql, [marker + "-x"]);
        Assert.True(otherValue.IsError);
        Assert.NotEqual(id, other.GetProperty("review").GetProperty("id").GetString());

        var (run, rows) = await McpFixture.QueryAsync(client, sql, [marker]);
        Assert.True(run.IsError is not true, rows.ToString());
        Assert.Equal(marker, Assert.Single(McpFixture.Rows(rows))[0]);
        Assert.Equal("used", (await McpReviewHoldTests.ReviewStatusAsync(client, id)).Json.GetProperty("review").GetProperty("status").GetString());

        // Once: the same query again needs a new review.
        var (again, second) = await McpFixture.QueryAsync(client, sql, [marker]);
        Assert.True(again.IsError);
        Assert.NotEqual(id, second.GetProperty("review").GetProperty("id").GetString());
        Assert.Equal(1L, await Gateway.Postgres.ScalarAsync<long>($"SELECT count(*) FROM payments WHERE card_number = '{marker}'", "shop"));
    }
}
