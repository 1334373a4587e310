using Microsoft.Playwright;

namespace Gatehouse.ConsoleTests;

/// <summary>
/// Stored XSS in the review queue and the header: a SQL comment and a name claim hold script and onerror payloads;
/// the console shows them as text, runs nothing and makes no element from them.
/// </summary>
[Collection(ConsoleCollection.Name)]
public sealed class ConsoleXssTests(ConsoleGateway gateway)
{
    private const string Payload = ConsoleGateway.Payload;

    [Fact]
    public async Task A_sql_comment_with_markup_shows_as_text_in_the_review_queue()
    {
        string marker = Guid.NewGuid().ToString("N")[..8];
        string sql = $"INSERT INTO payments (card_number) VALUES ('{marker}') /* {Payload} */";
        var psql = gateway.PsqlAsync(await gateway.AgentTokenAsync("agent-comment-" + marker), sql);

        await using var console = await ConsoleSession.OpenAsync(gateway);
        await console.RunAsync("xss-comment-review", async page =>
        {
            await console.SignInAsync("ada", "#/reviews");
            var card = page.Locator("article.review", new() { HasText = marker });
            await card.WaitForAsync(new() { Timeout = 20_000 });
            Assert.Equal(sql, await card.Locator("pre.sql").TextContentAsync());
            await card.GetByLabel("Reason").FillAsync("not with markup in it " + ConsoleGateway.ImagePayload);
            await card.GetByRole(AriaRole.Button, new() { Name = "Reject" }).ClickAsync();
            var rejected = await psql.WaitAsync(TimeSpan.FromSeconds(20));
            Assert.Contains("rejected: not with markup in it " + ConsoleGateway.ImagePayload, rejected.Stderr, StringComparison.Ordinal);

            // The decided request, reason included, is text too.
            await page.GetByLabel("show decided requests too").CheckAsync();
            var decided = page.Locator("article.review", new() { HasText = marker });
            await Assertions.Expect(decided.Locator(".decision-reason")).ToHaveTextAsync("not with markup in it " + ConsoleGateway.ImagePayload);
            await console.AssertInertAsync();
        });
    }

    [Fact]
    public async Task A_bidirectional_override_in_a_held_statement_is_shown_written_out_not_applied()
    {
        // U+2067 inside the literal makes a browser draw "OR id > 0" after the "--", as if it were a comment.
        string marker = Guid.NewGuid().ToString("N")[..8];
        string sql = $"INSERT INTO payments (card_number) SELECT card_number FROM payments WHERE card_number = '{marker}\u2067' OR id > 0 --'";
        var psql = gateway.PsqlAsync(await gateway.AgentTokenAsync("agent-bidi-" + marker), sql);

        await using var console = await ConsoleSession.OpenAsync(gateway);
        await console.RunAsync("bidi-review", async page =>
        {
            await console.SignInAsync("ada", "#/reviews");
            var card = page.Locator("article.review", new() { HasText = marker });
            await card.WaitForAsync(new() { Timeout = 20_000 });
            var shown = card.Locator("pre.sql");
            Assert.Equal(sql.Replace("\u2067", "\\u2067", StringComparison.Ordinal), await shown.TextContentAsync());
            Assert.Equal("\\u2067", await shown.Locator(".invisible-char").TextContentAsync());
            await card.GetByLabel("Reason").FillAsync("hidden characters");
            await card.GetByRole(AriaRole.Button, new() { Name = "Reject" }).ClickAsync();
            await psql.WaitAsync(TimeSpan.FromSeconds(20));
        });
    }

    [Fact]
    public async Task A_name_claim_with_markup_shows_as_text_for_the_signed_in_user()
    {
        await using var console = await ConsoleSession.OpenAsync(gateway);
        await console.RunAsync("xss-claim-header", async page =>
        {
            await console.SignInAsync("mallory", "#/reviews");
            await Assertions.Expect(page.Locator("#identity")).ToHaveTextAsync($"{Payload} (mallory)");
            await page.Locator("#reviews").WaitForAsync(new() { State = WaitForSelectorState.Attached });
            await console.AssertInertAsync();
        });
    }
}
