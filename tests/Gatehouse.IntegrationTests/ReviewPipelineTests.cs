using System.Net;
using System.Text.Json;

namespace Gatehouse.IntegrationTests;

/// <summary>
/// node-postgres in pipeline mode: a query held for review in the middle of pipelined extended-protocol queries. The
/// query before it answers while it is held, and after the decision the pipeline goes on.
/// </summary>
public sealed class ReviewPipelineTests(ReviewHoldFixture fixture) : IClassFixture<ReviewHoldFixture>
{
    private TestGateway Gateway => fixture.Gateway;

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_held_query_in_a_node_postgres_pipeline_resumes_after_the_decision(bool approve)
    {
        string marker = Guid.NewGuid().ToString("N")[..8];
        var env = new Dictionary<string, string>
        {
            ["PGHOST"] = "127.0.0.1", ["PGPORT"] = Gateway.Port.ToString(System.Globalization.CultureInfo.InvariantCulture), ["PGDATABASE"] = TestGateway.Target,
            ["PGUSER"] = "agent", ["PGPASSWORD"] = Gateway.Token("agent-node"), ["PGSSLMODE"] = "require", ["NODE_TLS_REJECT_UNAUTHORIZED"] = "0",
            ["GH_MARKER"] = marker,
        };
        var node = ProcessRunner.RunAsync("node", [Path.Combine(ProcessRunner.RepositoryRoot(), "tests", "node", "pg-review-pipeline.mjs")], env, TimeSpan.FromSeconds(60));
        string id = await ReviewSupport.PendingAsync(Gateway, marker);
        await Task.Delay(300); // the held query stays held: nothing is answered for it or after it
        Assert.False(node.IsCompleted);
        long decided = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        Assert.Equal(HttpStatusCode.OK, await ReviewSupport.DecideAsync(Gateway, id, approve, ReviewSupport.Reviewer(Gateway), approve ? null : "not from node"));

        var result = await node;
        Assert.True(result.ExitCode == 0, result.Stderr + result.Stdout);
        var lines = result.Stdout.Trim().Split('\n').Select(l => JsonDocument.Parse(l).RootElement).ToDictionary(l => l.GetProperty("name").GetString()!);
        long At(string name) => lines[name].GetProperty("at").GetInt64();
        Assert.True(At("before") < decided, "the query before the held one answered while it was held");
        Assert.True(decided <= At("held") && At("held") <= At("after") && At("after") <= At("later"), result.Stdout);
        Assert.Equal(1, lines["before"].GetProperty("rows")[0].GetProperty("n").GetInt32());
        if (approve)
        {
            Assert.Equal("card-" + marker, lines["held"].GetProperty("rows")[0].GetProperty("card_number").GetString());
        }
        else
        {
            Assert.Equal("42501", lines["held"].GetProperty("code").GetString());
            Assert.Equal($"gatehouse: review {id} rejected: not from node", lines["held"].GetProperty("message").GetString());
        }

        Assert.Equal("after", lines["after"].GetProperty("rows")[0].GetProperty("t").GetString());
        Assert.Equal(2, lines["later"].GetProperty("rows")[0].GetProperty("n").GetInt32());
        Assert.Equal(approve ? 1L : 0L, await Gateway.Postgres.ScalarAsync<long>($"SELECT count(*) FROM payments WHERE card_number = 'card-{marker}'", "shop"));
    }
}
