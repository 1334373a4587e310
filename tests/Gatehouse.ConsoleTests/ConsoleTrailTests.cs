using System.Text.RegularExpressions;
using Gatehouse.IntegrationTests;
using Microsoft.Playwright;

namespace Gatehouse.ConsoleTests;

/// <summary>Live sessions, replay and the policy editor, end to end (the admin API's sessions and policy endpoints).</summary>
[Collection(ConsoleCollection.Name)]
public sealed class ConsoleTrailTests(ConsoleGateway gateway)
{
    private static string Marker() => Guid.NewGuid().ToString("N")[..10];

    [Fact]
    public async Task A_psql_session_appears_in_live_sessions_and_leaves_without_a_reload_and_an_admin_ends_another()
    {
        await using var console = await ConsoleSession.OpenAsync(gateway);
        await console.RunAsync("live-session", async page =>
        {
            await console.SignInAsync("ada", "#/live");
            await page.Locator("#live-rows").WaitForAsync(new() { State = WaitForSelectorState.Attached });
            await page.EvaluateAsync("window.__sameDocument = true");

            string agent = "agent-live-" + Marker();
            using var psql = ProcessRunner.Start(gateway.Psql, ["-X", "-At"], gateway.PsqlEnvironment(await gateway.AgentTokenAsync(agent)));
            var output = psql.StandardOutput.ReadToEndAsync();
            await psql.StandardInput.WriteLineAsync("SELECT count(*) FROM orders;");
            await psql.StandardInput.FlushAsync();

            var row = page.Locator("#live-rows tr", new() { HasText = agent });
            await row.WaitForAsync(new() { Timeout = 20_000 });
            Assert.Contains(ConsoleGateway.Target, await row.TextContentAsync(), StringComparison.Ordinal);
            await Assertions.Expect(row).ToContainTextAsync("1 total", new() { Timeout = 10_000 });

            psql.StandardInput.Close();
            await psql.WaitForExitAsync();
            Assert.Equal(0, psql.ExitCode);
            Assert.Matches("^[0-9]+", await output);
            await row.WaitForAsync(new() { State = WaitForSelectorState.Detached, Timeout = 20_000 });
            Assert.True(await page.EvaluateAsync<bool>("window.__sameDocument === true"), "the page reloaded");

            // An admin ends a session: End, then Confirm end; its psql is told why.
            string ended = "agent-ended-" + Marker();
            var held = gateway.PsqlAsync(await gateway.AgentTokenAsync(ended), "SELECT pg_sleep(60)");
            var endRow = page.Locator("#live-rows tr", new() { HasText = ended });
            await Assertions.Expect(endRow).ToContainTextAsync("pg_sleep(60)", new() { Timeout = 20_000 });
            await endRow.GetByRole(AriaRole.Button, new() { Name = "End session of " + ended }).ClickAsync();
            await endRow.GetByRole(AriaRole.Button, new() { Name = "Confirm: end session of " + ended }).ClickAsync();
            var result = await held.WaitAsync(TimeSpan.FromSeconds(20));
            Assert.NotEqual(0, result.ExitCode);
            Assert.Contains("session ended by an administrator (ada)", result.Stderr, StringComparison.Ordinal);
            await endRow.WaitForAsync(new() { State = WaitForSelectorState.Detached, Timeout = 20_000 });
        });
        Assert.Empty(console.Errors);
    }

    [Fact]
    public async Task A_recorded_session_replays_its_statements_in_order_with_decisions_rules_and_masks()
    {
        string agent = "agent-replay-" + Marker();
        var run = await gateway.PsqlAsync(await gateway.AgentTokenAsync(agent),
            "SELECT name, ssn FROM customers WHERE id = 7",
            "CREATE TABLE forbidden (x int)",
            "SELECT pg_sleep(1.5)",
            "SELECT 40 + 2");
        Assert.Contains("0007", run.Stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("123-45-0007", run.Stdout, StringComparison.Ordinal);
        Assert.Contains("42", run.Stdout, StringComparison.Ordinal);

        await using var console = await ConsoleSession.OpenAsync(gateway);
        await console.RunAsync("replay", async page =>
        {
            await console.SignInAsync("ada", "#/sessions");
            await page.GetByLabel("Identity").FillAsync(agent);
            await page.GetByRole(AriaRole.Button, new() { Name = "Search" }).ClickAsync();
            var link = page.Locator("#session-rows").GetByRole(AriaRole.Link, new() { Name = agent });
            await link.ClickAsync(new() { Timeout = 20_000 });
            await page.Locator("#events").WaitForAsync();

            var statements = page.Locator("#events li.statement");
            await Assertions.Expect(statements).ToHaveCountAsync(4);
            var sql = await statements.Locator("pre.sql").AllTextContentsAsync();
            Assert.Equal(["SELECT name, ssn FROM customers WHERE id = 7", "CREATE TABLE forbidden (x int)", "SELECT pg_sleep(1.5)", "SELECT 40 + 2"], sql);
            var denied = statements.Nth(1);
            Assert.Equal("deny", await denied.Locator(".badge").First.TextContentAsync());
            Assert.Contains("no-ddl", await denied.Locator(".rule").TextContentAsync(), StringComparison.Ordinal);
            Assert.Equal("allow", await statements.Nth(0).Locator(".badge").First.TextContentAsync());
            Assert.Contains("ssn", await page.Locator("#events .masked-note").First.TextContentAsync(), StringComparison.Ordinal);

            // Play from the start: the events come back at their recorded offsets (the 1.5 s sleep shows).
            await page.GetByRole(AriaRole.Button, new() { Name = "Play" }).ClickAsync();
            var visible = page.Locator("#events li.statement:visible");
            await Assertions.Expect(visible).Not.ToHaveCountAsync(4, new() { Timeout = 1_000 });
            await page.GetByRole(AriaRole.Button, new() { Name = "Pause" }).WaitForAsync();
            await Assertions.Expect(visible).ToHaveCountAsync(4, new() { Timeout = 15_000 });
            await page.GetByRole(AriaRole.Button, new() { Name = "Play" }).WaitForAsync();
            Assert.Matches(new Regex(@"^(\d+\.\d) s / \1 s$"), (await page.Locator("#replay-clock").TextContentAsync())!);
        });
        Assert.Empty(console.Errors);
    }

    [Fact]
    public async Task A_policy_error_shows_at_its_line_and_the_fixed_policy_is_saved_and_in_force()
    {
        await using var console = await ConsoleSession.OpenAsync(gateway);
        await console.RunAsync("policy-editor", async page =>
        {
            await console.SignInAsync("ada", "#/policy");
            var source = page.GetByLabel("Policy YAML");
            await Assertions.Expect(source).ToHaveValueAsync(new Regex("pay-writes"));
            var lines = (await source.InputValueAsync()).Split('\n').ToList();
            int at = lines.FindIndex(l => l.Contains("id: pay-writes", StringComparison.Ordinal)) + 1;
            string rule = "      - { id: no-order-deletes, when: { class: write, tables: [\"public.orders\"] }, then: refuse }";
            lines.Insert(at, rule);
            int line = at + 1;
            await source.FillAsync(string.Join('\n', lines));

            await page.GetByRole(AriaRole.Button, new() { Name = "Validate" }).ClickAsync();
            var marked = page.Locator($".gutter .line.error[data-line='{line}']");
            await marked.WaitForAsync();
            Assert.Equal(1, await page.Locator(".gutter .line.error").CountAsync());
            var message = await page.Locator($".marks .band[data-line='{line}'] .message").TextContentAsync();
            Assert.Contains("refuse", message, StringComparison.Ordinal);
            Assert.StartsWith($"line {line}", await page.Locator("#policy-errors li").First.TextContentAsync());
            await Assertions.Expect(page.Locator("#policy-status")).ToContainTextAsync("unchanged");

            // Jump to the error, fix it, validate, save.
            await page.Locator("#policy-errors li button").First.ClickAsync();
            lines[at] = rule.Replace("then: refuse", "then: deny", StringComparison.Ordinal);
            await source.FillAsync(string.Join('\n', lines));
            await page.GetByRole(AriaRole.Button, new() { Name = "Validate" }).ClickAsync();
            await Assertions.Expect(page.Locator("#policy-status")).ToHaveTextAsync("Valid.");
            Assert.Equal(0, await page.Locator(".gutter .line.error").CountAsync());
            await page.GetByRole(AriaRole.Button, new() { Name = "Save" }).ClickAsync();
            await Assertions.Expect(page.Locator("#policy-status")).ToContainTextAsync("is in force");
            await Assertions.Expect(source).ToHaveValueAsync(new Regex("no-order-deletes"));
        });

        // In force: the agent's next statement meets the new rule.
        var denied = await gateway.PsqlAsync(await gateway.AgentTokenAsync("agent-policy"), "DELETE FROM orders WHERE id = -1");
        Assert.NotEqual(0, denied.ExitCode);
        Assert.Contains("no-order-deletes", denied.Stderr, StringComparison.Ordinal);
        Assert.Empty(console.Errors);
    }

    [Fact]
    public async Task The_session_list_filters_by_identity_decision_text_and_since_and_pages_by_cursor()
    {
        string agent = "agent-list-" + Marker();
        string token = await gateway.AgentTokenAsync(agent);
        string since = DateTime.UtcNow.AddMinutes(-1).ToString("yyyy-MM-ddTHH:mm", System.Globalization.CultureInfo.InvariantCulture);
        Assert.Equal(0, (await gateway.PsqlAsync(token, "SELECT 'first session'")).ExitCode);
        Assert.NotEqual(0, (await gateway.PsqlAsync(token, "DROP TABLE orders")).ExitCode);
        Assert.Equal(0, (await gateway.PsqlAsync(token, "SELECT 'third session'")).ExitCode);

        await using var console = await ConsoleSession.OpenAsync(gateway);
        await console.RunAsync("session-list", async page =>
        {
            await console.SignInAsync("ada", $"#/sessions?identity={agent}&limit=2");
            var rows = page.Locator("#session-rows tr");
            await Assertions.Expect(page.GetByLabel("Identity")).ToHaveValueAsync(agent);
            await Assertions.Expect(rows).ToHaveCountAsync(2, new() { Timeout = 20_000 });
            var older = page.GetByRole(AriaRole.Button, new() { Name = "Older →" });
            var newer = page.GetByRole(AriaRole.Button, new() { Name = "← Newer" });
            Assert.True(await newer.IsDisabledAsync());
            await older.ClickAsync();
            await Assertions.Expect(rows).ToHaveCountAsync(1);
            Assert.True(await older.IsDisabledAsync());
            await newer.ClickAsync();
            await Assertions.Expect(rows).ToHaveCountAsync(2);

            await page.GetByLabel("Decision").SelectOptionAsync("deny");
            await page.GetByRole(AriaRole.Button, new() { Name = "Search" }).ClickAsync();
            await Assertions.Expect(rows).ToHaveCountAsync(1);
            await Assertions.Expect(rows).ToContainTextAsync("1 denied");
            Assert.Contains("decision=deny", page.Url, StringComparison.Ordinal);

            await page.GetByLabel("Decision").SelectOptionAsync("");
            await page.GetByLabel("SQL text").FillAsync("third session");
            await page.GetByLabel("Since (UTC)").FillAsync(since);
            await page.GetByRole(AriaRole.Button, new() { Name = "Search" }).ClickAsync();
            await Assertions.Expect(rows).ToHaveCountAsync(1);
            await rows.GetByRole(AriaRole.Link).ClickAsync();
            await Assertions.Expect(page.Locator("#events li.statement pre.sql")).ToHaveTextAsync("SELECT 'third session'");

            await page.GotoAsync($"/#/sessions?identity={agent}&since=2999-01-01T00:00");
            await Assertions.Expect(page.Locator("main .status")).ToHaveTextAsync("No sessions match.");
        });
        Assert.Empty(console.Errors);
    }
}
