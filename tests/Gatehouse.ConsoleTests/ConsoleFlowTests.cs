using Microsoft.Playwright;

namespace Gatehouse.ConsoleTests;

/// <summary>Signing in and the review queue, end to end: real browser, gateway process, psql, PostgreSQL.</summary>
[Collection(ConsoleCollection.Name)]
public sealed class ConsoleFlowTests(ConsoleGateway gateway)
{
    private static string Marker() => Guid.NewGuid().ToString("N")[..10];

    [Fact]
    public async Task Signing_in_at_the_dev_issuer_shows_the_identity_and_only_what_its_roles_allow()
    {
        await using var admin = await ConsoleSession.OpenAsync(gateway);
        await admin.RunAsync("sign-in-admin", async page =>
        {
            await page.GotoAsync("/");
            Assert.True(await page.Locator("#nav").IsHiddenAsync());
            Assert.StartsWith("/login?return=", await page.Locator("main").GetByRole(AriaRole.Link, new() { Name = "Sign in" }).GetAttributeAsync("href"));
            await admin.SignInAsync("ada");
            // Expect waits for the text: the header is shown before the identity's details are filled in.
            await Assertions.Expect(page.Locator("#identity")).ToHaveTextAsync("Ada Admin (ada)");
            await Assertions.Expect(page.Locator("#roles")).ToContainTextAsync("admin");
            await Assertions.Expect(page.Locator("#roles")).ToContainTextAsync("approver");
            foreach (string section in new[] { "Live", "Sessions", "Reviews", "Policy" })
            {
                Assert.True(await page.Locator("#nav").GetByRole(AriaRole.Link, new() { Name = section }).IsVisibleAsync(), section);
            }

            await page.WaitForURLAsync("**/#/live");

        });

        await using var reviewer = await ConsoleSession.OpenAsync(gateway);
        await reviewer.RunAsync("sign-in-reviewer", async page =>
        {
            await reviewer.SignInAsync("rita");
            await Assertions.Expect(page.Locator("#identity")).ToHaveTextAsync("Rita Reviewer (rita)");
            await Assertions.Expect(page.Locator("#roles")).ToHaveTextAsync("approver");
            await page.WaitForURLAsync("**/#/reviews");
            Assert.True(await page.Locator("#nav").GetByRole(AriaRole.Link, new() { Name = "Reviews" }).IsVisibleAsync());
            foreach (string section in new[] { "Live", "Sessions", "Policy" })
            {
                Assert.False(await page.Locator("#nav").GetByRole(AriaRole.Link, new() { Name = section }).IsVisibleAsync(), section);
            }

            await page.GotoAsync("/#/policy");
            await page.GetByRole(AriaRole.Heading, new() { Name = "Not allowed" }).WaitForAsync();

            // The console session ends behind the page's back (here: a logout from another tab): the next refresh
            // offers Sign in instead of failing over and over.
            await page.GotoAsync("/#/reviews");
            await page.Locator("#reviews").WaitForAsync(new() { State = WaitForSelectorState.Attached });
            int status = await page.EvaluateAsync<int>(
                "async () => (await fetch('/logout', { method: 'POST', headers: { 'X-CSRF-Token': decodeURIComponent(document.cookie.split('gatehouse_csrf=')[1].split(';')[0]) } })).status");
            Assert.Equal(204, status);
            await Assertions.Expect(page.Locator("main")).ToContainTextAsync("Your console session has ended", new() { Timeout = 10_000 });
            Assert.True(await page.Locator("#nav").IsHiddenAsync());

            // Signing out ends the console session: the console offers Sign in again.
            await reviewer.SignInAsync("rita", "#/reviews");
            await page.GetByRole(AriaRole.Button, new() { Name = "Sign out" }).ClickAsync();
            await page.Locator("main").GetByRole(AriaRole.Link, new() { Name = "Sign in" }).WaitForAsync();
        });
        Assert.Empty(admin.Errors.Concat(reviewer.Errors));
    }

    [Fact]
    public async Task Approving_a_held_statement_on_a_phone_returns_the_agents_psql_its_result()
    {
        await using var console = await ConsoleSession.OpenAsync(gateway, width: 390, height: 844);
        await console.RunAsync("approve-held", async page =>
        {
            await console.SignInAsync("rita", "#/reviews");
            string marker = Marker();
            var psql = gateway.PsqlAsync(await gateway.AgentTokenAsync("agent-held"),
                $"INSERT INTO payments (card_number, amount) VALUES ('card-{marker}', 42.5) RETURNING card_number");

            var card = page.Locator("article.review", new() { HasText = marker });
            await card.WaitForAsync(new() { Timeout = 20_000 });
            Assert.Contains($"VALUES ('card-{marker}', 42.5)", await card.Locator("pre.sql").TextContentAsync(), StringComparison.Ordinal);
            Assert.Equal("agent-held", await card.Locator(".subject").TextContentAsync());
            Assert.Contains("pending", await card.TextContentAsync(), StringComparison.Ordinal);
            Assert.False(psql.IsCompleted, "psql finished before anyone approved");
            // Nothing is wider than the phone's screen.
            Assert.True(await page.EvaluateAsync<bool>("document.documentElement.scrollWidth <= window.innerWidth"), "the page scrolls sideways at 390 px");

            await card.GetByLabel("Reason").FillAsync("checked with the payments team");
            await card.GetByRole(AriaRole.Button, new() { Name = "Approve" }).ClickAsync();
            var result = await psql.WaitAsync(TimeSpan.FromSeconds(20));
            Assert.True(result.ExitCode == 0, result.Stderr);
            Assert.Equal($"card-{marker}", result.Stdout.Split('\n')[0].Trim());
            Assert.Contains("held for review", result.Stderr, StringComparison.Ordinal);
            // Decided: it leaves the pending queue.
            await card.WaitForAsync(new() { State = WaitForSelectorState.Detached, Timeout = 10_000 });
        });
        Assert.Empty(console.Errors);
    }

    [Fact]
    public async Task The_link_in_an_agents_notice_opens_that_review()
    {
        await using var console = await ConsoleSession.OpenAsync(gateway);
        await console.RunAsync("review-link", async page =>
        {
            await console.SignInAsync("rita", "#/reviews");
            string marker = Marker();
            var psql = gateway.PsqlAsync(await gateway.AgentTokenAsync("agent-link"),
                $"INSERT INTO payments (card_number, amount) VALUES ('link-{marker}', 1) RETURNING card_number");
            await page.Locator("article.review", new() { HasText = marker }).WaitForAsync(new() { Timeout = 20_000 });
            string id = await page.EvaluateAsync<string>(
                "async (m) => (await (await fetch('/api/reviews?status=pending&limit=200')).json()).find(r => r.sql.includes(m)).id", marker);

            // Opened fresh at the link the agent was given: the Reviews page, that request first and marked.
            await page.GotoAsync("about:blank");
            await page.GotoAsync($"/#/reviews/{id}");
            var focused = page.Locator("article.review.focused");
            await focused.WaitForAsync(new() { Timeout = 10_000 });
            Assert.Equal(id, await focused.GetAttributeAsync("data-review"));
            Assert.Equal(id, await page.Locator("article.review").First.GetAttributeAsync("data-review"));
            Assert.Equal("page", await page.GetByRole(AriaRole.Link, new() { Name = "Reviews" }).GetAttributeAsync("aria-current"));

            await focused.GetByLabel("Reason").FillAsync("not for the link test");
            await focused.GetByRole(AriaRole.Button, new() { Name = "Reject" }).ClickAsync();
            var result = await psql.WaitAsync(TimeSpan.FromSeconds(20));
            Assert.NotEqual(0, result.ExitCode);

            // Decided, it is still shown at its link (the queue alone shows pending requests).
            await page.ReloadAsync();
            await Assertions.Expect(page.Locator("article.review.focused")).ToContainTextAsync("rejected", new() { Timeout = 10_000 });
        });
        Assert.Empty(console.Errors);
    }
}
