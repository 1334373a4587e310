using Microsoft.Playwright;

namespace Gatehouse.ConsoleTests;

/// <summary>
/// Stored XSS in what the trail shows: a row value (quoted back in the server's error), a SQL comment and an agent's
/// name claim hold script and onerror payloads; replay and live sessions show them as text. The agents' grant records
/// result rows (<c>audit: { results: true, max_rows: 20 }</c>), so the replay also shows the rows the agent received.
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
            // The trail recorded the row: the value is a cell's text. (The failed cast's outcome has the columns the
            // client was described, and no rows.)
            var result = page.Locator("#events li.outcome").First.Locator("table.result");
            await Assertions.Expect(result).ToHaveCountAsync(1);
            await Assertions.Expect(failed.Locator("xpath=..").Locator("table.result tbody tr")).ToHaveCountAsync(0);
            Assert.Equal(Payload, await result.Locator("td").First.TextContentAsync());
            Assert.Equal(0, await result.Locator("td script, td img").CountAsync());

            await page.WaitForTimeoutAsync(300);
            await console.AssertInertAsync();
        });
    }

    [Fact]
    public async Task A_recorded_result_shows_masked_values_marked_and_a_truncated_note()
    {
        string agent = "agent-result-" + Guid.NewGuid().ToString("N")[..8];
        var run = await gateway.PsqlAsync(await gateway.AgentTokenAsync(agent),
            "SELECT id, ssn FROM customers WHERE id IN (3, 4) ORDER BY id",
            "SELECT g FROM generate_series(1, 25) g");
        Assert.True(run.ExitCode == 0, run.Stderr);
        var seen = run.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.DoesNotContain("123-45-0003", run.Stdout, StringComparison.Ordinal);

        await using var console = await ConsoleSession.OpenAsync(gateway);
        await console.RunAsync("result-replay", async page =>
        {
            await console.SignInAsync("ada", "#/sessions");
            await OpenReplayAsync(page, agent);
            var tables = page.Locator("#events li.outcome table.result");
            await Assertions.Expect(tables).ToHaveCountAsync(2);

            // The ssn column is marked masked and holds what psql printed, the masked form.
            var masked = tables.Nth(0);
            Assert.Equal(["id", "ssn masked"], (await masked.Locator("th").AllTextContentsAsync()).Select(t => t.Trim()));
            Assert.Equal(1, await masked.Locator("th.masked").CountAsync());
            Assert.Equal(seen[0].Split('|'), await masked.Locator("tbody tr").First.Locator("td").AllTextContentsAsync());
            Assert.Equal([seen[0].Split('|')[1], seen[1].Split('|')[1]], await masked.Locator("td.masked").AllTextContentsAsync());

            // 25 rows against max_rows 20: twenty shown, and a note that more were returned.
            var cut = tables.Nth(1);
            Assert.Equal(20, await cut.Locator("tbody tr").CountAsync());
            var note = page.Locator("#events li.outcome").Nth(1).GetByText("more rows were returned than the trail keeps");
            await Assertions.Expect(note).ToBeVisibleAsync();
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
