using Microsoft.Playwright;

namespace Gatehouse.ConsoleTests;

/// <summary>
/// One browser context (its own cookies) on the console, recording every dialog and page error: a stored-XSS payload
/// that ran would show up in either. <see cref="RunAsync"/> saves a screenshot when the test body fails.
/// </summary>
public sealed class ConsoleSession : IAsyncDisposable
{
    private readonly IBrowserContext _context;

    private ConsoleSession(ConsoleGateway gateway, IBrowserContext context, IPage page)
    {
        Gateway = gateway;
        _context = context;
        Page = page;
        page.Dialog += (_, dialog) =>
        {
            Dialogs.Add($"{dialog.Type}: {dialog.Message}");
            _ = dialog.DismissAsync();
        };
        page.PageError += (_, error) => Errors.Add(error);
        page.Console += (_, message) =>
        {
            // A failed request (the 401 of /api/me while signed out) is the page working; script errors and CSP
            // refusals are not.
            if (message.Type == "error" && !message.Text.StartsWith("Failed to load resource", StringComparison.Ordinal))
            {
                Errors.Add(message.Text);
            }
        };
    }

    public ConsoleGateway Gateway { get; }

    public IPage Page { get; }

    public List<string> Dialogs { get; } = [];

    /// <summary>Script errors and console errors (a CSP violation is reported here too).</summary>
    public List<string> Errors { get; } = [];

    public static async Task<ConsoleSession> OpenAsync(ConsoleGateway gateway, int width = 1280, int height = 900)
    {
        var context = await gateway.Browser.NewContextAsync(new BrowserNewContextOptions
        {
            BaseURL = gateway.AdminUrl,
            ViewportSize = new ViewportSize { Width = width, Height = height },
        });
        context.SetDefaultTimeout(15_000);
        var page = await context.NewPageAsync();
        return new ConsoleSession(gateway, context, page);
    }

    /// <summary>Opens the console signed out, follows its Sign in button to the dev issuer's page and signs in.</summary>
    public async Task SignInAsync(string login, string route = "")
    {
        await Page.GotoAsync("/" + route);
        await Page.Locator("main").GetByRole(AriaRole.Link, new() { Name = "Sign in" }).ClickAsync();
        // The form is usable once its field is there: waiting for a load state of the navigation timed out on a loaded
        // machine even with the page shown (CI screenshot), so the wait is for the field itself.
        await Page.GetByLabel("User name").WaitForAsync();
        Assert.Contains("/dev-issuer/authorize", Page.Url, StringComparison.Ordinal);
        await Page.GetByLabel("User name").FillAsync(login);
        await Page.GetByLabel("Password").FillAsync(Gateway.Password);
        await Page.GetByRole(AriaRole.Button, new() { Name = "Sign in" }).ClickAsync();
        await Page.Locator("#identity").WaitForAsync();
    }

    /// <summary>Nothing ran or was made from data: no dialog, no script error, no image, no script but the console's own.</summary>
    public async Task AssertInertAsync()
    {
        Assert.Empty(Dialogs);
        Assert.Empty(Errors);
        Assert.Equal(0, await Page.Locator("img").CountAsync());
        Assert.Equal(0, await Page.Locator("script:not([src])").CountAsync());
        Assert.Equal(1, await Page.Locator("script").CountAsync());
    }

    /// <summary>Runs a test body; on failure saves a full-page screenshot and names it in the failure message.</summary>
    public async Task RunAsync(string name, Func<IPage, Task> body)
    {
        try
        {
            await body(Page);
        }
        catch (Exception failure)
        {
            string directory = Path.Combine(AppContext.BaseDirectory, "screenshots");
            System.IO.Directory.CreateDirectory(directory);
            string path = Path.Combine(directory, $"{name}-{DateTime.UtcNow:HHmmss}.png");
            string saved;
            try
            {
                await Page.ScreenshotAsync(new PageScreenshotOptions { Path = path, FullPage = true });
                saved = $"screenshot: {path}";
            }
            catch (PlaywrightException e)
            {
                saved = $"no screenshot ({e.Message})";
            }

            throw new Xunit.Sdk.XunitException($"{name} failed at {Page.Url}; {saved}\n{failure}");
        }
    }

    public async ValueTask DisposeAsync() => await _context.DisposeAsync();
}
