using Microsoft.Playwright;

namespace Gatehouse.ConsoleTests;

/// <summary>
/// Stored XSS in what the trail shows: a row value (quoted back in the server's error), a SQL comment and an agent's
/// name claim hold script and onerror payloads; replay and live sessions show them as text.
/// </summary>
[Collection(ConsoleCollection.Name)]
public sealed class ConsoleTrailXssTests(ConsoleGateway gateway)
{
    private const string Payload = ConsoleGateway.Payload;

    private static async Task OpenReplayAsync(IPage page, string agent)
    {
        await page.GotoAsync("/#/sessions?identity=" + agent);
        await page.Locator("#session-rows").GetByRole(AriaRole.Link, new() { Name = agent }).ClickAsync(new() { Timeout = 20_000 });
        await page.Locator("#events li.statement").First.WaitForAsync();
    }

    [Fact]
    public async Task A_row_value_with_markup_shows_as_text_in_the_replay()
    {
        string agent = "agent-row-" + Guid.NewGuid().ToString("N")[..8];
        var run = await gateway.PsqlAsync(await gateway.AgentTokenAsync(agent),
            "SELECT body FROM notes WHERE id = 1",
            "SELECT body::int FROM notes WHERE id = 1");
        Assert.True(run.Stdout.Contains(Payload, StringComparison.Ordinal), run.Stdout + run.Stderr);
        // The server's error quotes the value: a row value reaches the trail's outcome message.
        Assert.True(run.Stderr.Contains(Payload, StringComparison.Ordinal), run.Stderr);

        await using var console = await ConsoleSession.OpenAsync(gateway);
        await console.RunAsync("xss-row", async page =>
        {
            await console.SignInAsync("ada", "#/sessions");
            await OpenReplayAsync(page, agent);
            var failed = page.Locator("#events li.outcome.failed .error");
            await failed.WaitForAsync();
            Assert.Contains(Payload, await failed.TextContentAsync(), StringComparison.Ordinal);
            var result = page.Locator("#events table.result");
            if (await result.CountAsync() > 0)
            {
                // The trail recorded the rows: the value is a cell's text.
                Assert.Equal(Payload, await result.Locator("td").First.TextContentAsync());
            }

            await page.WaitForTimeoutAsync(300);
            await console.AssertInertAsync();
        });
    }

    [Fact]
    public async Task A_sql_comment_with_markup_shows_as_text_in_the_replay()
    {
        string agent = "agent-comment-" + Guid.NewGuid().ToString("N")[..8];
        string sql = $"SELECT 1 /* {Payload} */";
        var run = await gateway.PsqlAsync(await gateway.AgentTokenAsync(agent), sql);
        Assert.True(run.ExitCode == 0, run.Stderr);

        await using var console = await ConsoleSession.OpenAsync(gateway);
        await console.RunAsync("xss-comment-replay", async page =>
        {
            await console.SignInAsync("ada", "#/sessions");
            await OpenReplayAsync(page, agent);
            Assert.Equal(sql, await page.Locator("#events li.statement pre.sql").TextContentAsync());
            await page.WaitForTimeoutAsync(300);
            await console.AssertInertAsync();
        });
    }

    [Fact]
    public async Task A_name_claim_with_markup_shows_as_text_for_a_live_agent()
    {
        await using var console = await ConsoleSession.OpenAsync(gateway);
        await console.RunAsync("xss-claim-live", async page =>
        {
            await console.SignInAsync("ada", "#/live");
            string agent = "agent-claim-" + Guid.NewGuid().ToString("N")[..8];
            string token = await gateway.AgentTokenAsync(agent, "name=" + Payload);
            var psql = gateway.PsqlAsync(token, "SELECT pg_sleep(4)");
            var row = page.Locator("#live-rows tr", new() { HasText = agent });
            await row.WaitForAsync(new() { Timeout = 20_000 });
            Assert.Equal($"{Payload} ({agent})", await row.GetByRole(AriaRole.Link).TextContentAsync());
            await console.AssertInertAsync();
            Assert.Equal(0, (await psql).ExitCode);
        });
    }
}
