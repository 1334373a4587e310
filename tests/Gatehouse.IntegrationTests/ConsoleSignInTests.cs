using System.Net;
using System.Text.Json;
using System.Text.RegularExpressions;
using Npgsql;

namespace Gatehouse.IntegrationTests;

/// <summary>
/// The console's sign-in over real HTTP against `gatehouse serve` processes: through the dev issuer's login page and
/// through a real OpenID provider; the session cookie on /api with CSRF; every way a sign-in can go wrong.
/// All tests come from 127.0.0.1, so the tests on the shared dev process stay under the throttle's 5 failed logins a
/// minute; the throttle itself is tested on a process of its own.
/// </summary>
public sealed partial class ConsoleSignInTests(ConsoleSignInFixture fixture) : IClassFixture<ConsoleSignInFixture>
{
    private string Dev => ConsoleSignInFixture.AdminUrl(fixture.Dev);

    [Fact]
    public async Task A_reviewer_signs_in_at_the_dev_issuer_and_approves_a_held_statement_with_the_cookie_and_csrf_token()
    {
        using var browser = new ConsoleBrowser(Dev);
        using var login = await browser.GetAsync("/login?return=" + Uri.EscapeDataString("/reviews?status=pending"));
        Assert.Equal(HttpStatusCode.Redirect, login.StatusCode);
        string authorize = ConsoleBrowser.Location(login)!;
        Assert.StartsWith(Dev + "/dev-issuer/authorize?", authorize, StringComparison.Ordinal);
        Assert.Equal("S256", ConsoleBrowser.Query(authorize, "code_challenge_method"));
        Assert.Equal(Dev + "/auth/callback", ConsoleBrowser.Query(authorize, "redirect_uri"));

        using var page = await browser.GetAsync(authorize);
        string html = await page.Content.ReadAsStringAsync();
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        Assert.Contains("default-src 'none'", page.Headers.GetValues("Content-Security-Policy").Single(), StringComparison.Ordinal);
        Assert.DoesNotContain("<script", html, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("style=", html, StringComparison.OrdinalIgnoreCase);
        var (action, fields) = ConsoleBrowser.ReadForm(html);
        using var stylesheet = await browser.GetAsync(Regex.Match(html, "href=\"([^\"]+\\.css)\"").Groups[1].Value);
        Assert.Equal(HttpStatusCode.OK, stylesheet.StatusCode);

        using var posted = await browser.PostLoginAsync(action, fields, "dba-1", fixture.Password);
        Assert.Equal(HttpStatusCode.Redirect, posted.StatusCode);
        string callback = ConsoleBrowser.Location(posted)!;
        Assert.StartsWith(Dev + "/auth/callback?code=", callback, StringComparison.Ordinal);
        Assert.Equal(fields["state"], ConsoleBrowser.Query(callback, "state"));
        using var signedIn = await browser.GetAsync(callback);
        Assert.Equal(HttpStatusCode.Redirect, signedIn.StatusCode);
        Assert.Equal("/reviews?status=pending", signedIn.Headers.Location!.OriginalString);
        string[] cookies = [.. signedIn.Headers.GetValues("Set-Cookie")];
        string session = cookies.Single(c => c.StartsWith("gatehouse_session=", StringComparison.Ordinal));
        Assert.Contains("httponly", session, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("samesite=strict", session, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("path=/", session, StringComparison.OrdinalIgnoreCase);
        string csrfCookie = cookies.Single(c => c.StartsWith("gatehouse_csrf=", StringComparison.Ordinal));
        Assert.DoesNotContain("httponly", csrfCookie, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("samesite=strict", csrfCookie, StringComparison.OrdinalIgnoreCase);

        using var me = await browser.SendAsync(HttpMethod.Get, "/api/me");
        Assert.Equal(HttpStatusCode.OK, me.StatusCode);
        var identity = await ConsoleBrowser.JsonAsync(me);
        Assert.Equal("dba-1", identity.GetProperty("subject").GetString());
        Assert.Equal(["approver"], identity.GetProperty("roles").EnumerateArray().Select(r => r.GetString()));
        string csrf = identity.GetProperty("csrf_token").GetString()!;
        Assert.Equal(browser.Cookie("gatehouse_csrf"), csrf);
        Assert.True(identity.GetProperty("expires").GetDateTimeOffset() > DateTimeOffset.UtcNow.AddMinutes(50));

        // An agent's held write, decided from the console's session.
        string marker = Guid.NewGuid().ToString("N")[..8];
        await using var agent = await fixture.Dev.OpenAsync(await fixture.Dev.TokenAsync("agent-held"));
        await using var insert = new NpgsqlCommand($"INSERT INTO payments (card_number, amount) VALUES ('{marker}', 1) RETURNING card_number", agent);
        var running = insert.ExecuteScalarAsync();
        string id = await PendingAsync(browser, marker);
        using var forged = await browser.SendAsync(HttpMethod.Post, $"/api/reviews/{id}/approve", json: "{}");
        Assert.Equal(HttpStatusCode.Forbidden, forged.StatusCode);
        Assert.Equal("csrf token missing or wrong", (await ConsoleBrowser.JsonAsync(forged)).GetProperty("detail").GetString());
        using var wrong = await browser.SendAsync(HttpMethod.Post, $"/api/reviews/{id}/approve", csrf: csrf[..^2] + "xx", json: "{}");
        Assert.Equal(HttpStatusCode.Forbidden, wrong.StatusCode);
        Assert.False(running.IsCompleted);
        using var approved = await browser.SendAsync(HttpMethod.Post, $"/api/reviews/{id}/approve", csrf: csrf, json: """{ "reason": "from the console" }""");
        Assert.Equal(HttpStatusCode.OK, approved.StatusCode);
        Assert.Equal(marker, await running.WaitAsync(TimeSpan.FromSeconds(15)));
        AssertNoTokenIn(browser.Visited);
    }

    [Theory]
    [InlineData("auditor-1", new[] { "auditor" })]
    [InlineData("admin-1", new[] { "auditor", "admin" })]
    [InlineData("agent-7", new string[0])]
    public async Task Api_me_names_the_roles_and_an_agent_signed_in_gets_403_on_role_endpoints(string user, string[] roles)
    {
        using var browser = new ConsoleBrowser(Dev);
        using var signedIn = await browser.SignInAtDevIssuerAsync(user, fixture.Password);
        Assert.Equal(HttpStatusCode.Redirect, signedIn.StatusCode);
        using var me = await browser.SendAsync(HttpMethod.Get, "/api/me");
        Assert.Equal(HttpStatusCode.OK, me.StatusCode);
        Assert.Equal(roles, (await ConsoleBrowser.JsonAsync(me)).GetProperty("roles").EnumerateArray().Select(r => r.GetString()));
        using var reviews = await browser.SendAsync(HttpMethod.Get, "/api/reviews");
        Assert.Equal(roles.Length == 0 ? HttpStatusCode.Forbidden : HttpStatusCode.OK, reviews.StatusCode);
    }

    [Fact]
    public async Task Logout_needs_the_csrf_token_and_ends_the_session_for_good()
    {
        using var browser = new ConsoleBrowser(Dev);
        using var signedIn = await browser.SignInAtDevIssuerAsync("auditor-1", fixture.Password);
        string cookie = browser.Cookie("gatehouse_session")!;
        string csrf = browser.Cookie("gatehouse_csrf")!;
        using (var forged = await browser.SendAsync(HttpMethod.Post, "/logout"))
        {
            Assert.Equal(HttpStatusCode.Forbidden, forged.StatusCode);
        }

        using (var ok = await browser.SendAsync(HttpMethod.Get, "/api/reviews"))
        {
            Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        }

        using (var logout = await browser.SendAsync(HttpMethod.Post, "/logout", csrf: csrf))
        {
            Assert.Equal(HttpStatusCode.NoContent, logout.StatusCode);
        }

        // A plain form post (no script) carries the token as a field and is sent back to /.
        using var form = new ConsoleBrowser(Dev);
        using (await form.SignInAtDevIssuerAsync("auditor-1", fixture.Password))
        {
        }

        using (var posted = await form.PostFormAsync("/logout", [new("csrf_token", form.Cookie("gatehouse_csrf")!)]))
        {
            Assert.Equal(HttpStatusCode.Redirect, posted.StatusCode);
            Assert.Equal("/", posted.Headers.Location!.OriginalString);
        }

        using (var ended = await form.SendAsync(HttpMethod.Get, "/api/me"))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, ended.StatusCode);
        }

        using (var me = await browser.SendAsync(HttpMethod.Get, "/api/me"))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, me.StatusCode);
        }

        // The old cookie value, sent again by hand, is dead too.
        using var replay = new ConsoleBrowser(Dev);
        replay.Cookies.Add(new Uri(Dev), new Cookie("gatehouse_session", cookie));
        using var again = await replay.SendAsync(HttpMethod.Get, "/api/reviews");
        Assert.Equal(HttpStatusCode.Unauthorized, again.StatusCode);
        Assert.Contains("sign in again", (await ConsoleBrowser.JsonAsync(again)).GetProperty("detail").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Signing_in_again_gives_a_new_session_id_and_ends_the_old_session()
    {
        using var browser = new ConsoleBrowser(Dev);
        using (await browser.SignInAtDevIssuerAsync("auditor-1", fixture.Password))
        {
        }

        string first = browser.Cookie("gatehouse_session")!;
        using (await browser.SignInAtDevIssuerAsync("auditor-1", fixture.Password))
        {
        }

        Assert.NotEqual(first, browser.Cookie("gatehouse_session"));
        using (var me = await browser.SendAsync(HttpMethod.Get, "/api/me"))
        {
            Assert.Equal(HttpStatusCode.OK, me.StatusCode);
        }

        using var old = new ConsoleBrowser(Dev);
        old.Cookies.Add(new Uri(Dev), new Cookie("gatehouse_session", first));
        using var refused = await old.SendAsync(HttpMethod.Get, "/api/me");
        Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
    }

    [Fact]
    public async Task A_wrong_dev_password_or_unknown_login_is_one_clear_message_and_mints_nothing()
    {
        using var browser = new ConsoleBrowser(Dev);
        var (action, fields) = await browser.OpenDevLoginAsync();
        foreach (var (user, password) in new[] { ("dba-1", fixture.Password + "x"), ("root", fixture.Password) })
        {
            using var refused = await browser.PostLoginAsync(action, fields, user, password);
            string html = await refused.Content.ReadAsStringAsync();
            Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
            Assert.Null(refused.Headers.Location);
            Assert.Single(Regex.Matches(html, "class=\"error\""));
            Assert.Contains("Wrong user name or password.", html, StringComparison.Ordinal);
            Assert.DoesNotContain("code=", html, StringComparison.Ordinal);
        }

        using var me = await browser.SendAsync(HttpMethod.Get, "/api/me");
        Assert.Equal(HttpStatusCode.Unauthorized, me.StatusCode);
        Assert.Null(browser.Cookie("gatehouse_session"));
    }

    [Fact]
    public async Task The_login_page_encodes_what_the_request_and_the_user_typed()
    {
        const string payload = "\"><script>alert(1)</script><img src=x onerror=alert(2)>";
        using var browser = new ConsoleBrowser(Dev);
        using var login = await browser.GetAsync("/login");
        string authorize = ConsoleBrowser.Location(login)!.Replace("state=", "state=" + Uri.EscapeDataString(payload), StringComparison.Ordinal);
        using var page = await browser.GetAsync(authorize);
        string html = await page.Content.ReadAsStringAsync();
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        Assert.DoesNotContain("<script", html, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("<img", html, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("&quot;&gt;&lt;script&gt;", html, StringComparison.Ordinal);
        var (action, fields) = ConsoleBrowser.ReadForm(html);
        Assert.StartsWith(payload, fields["state"], StringComparison.Ordinal);

        using var refused = await browser.PostLoginAsync(action, fields, payload, "wrong password!");
        string again = await refused.Content.ReadAsStringAsync();
        Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
        Assert.DoesNotContain("<script", again, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("value=\"&quot;&gt;&lt;script&gt;", again, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("//evil.example/")]
    [InlineData("https://evil.example/")]
    [InlineData("/\\evil.example/")]
    [InlineData("/\t/evil.example/")]
    [InlineData("/é")] // a Location header takes ASCII only: the callback failed with a 500 after the password
    [InlineData("/\uFF0Fevil.example")] // a full-width solidus
    [InlineData("evil")]
    public async Task A_return_that_leaves_the_console_is_refused(string target)
    {
        using var browser = new ConsoleBrowser(Dev);
        using var login = await browser.GetAsync("/login?return=" + Uri.EscapeDataString(target));
        Assert.Equal(HttpStatusCode.BadRequest, login.StatusCode);
        Assert.Equal("application/problem+json", login.Content.Headers.ContentType!.MediaType);
        Assert.Contains("return must be a path on this console", (await ConsoleBrowser.JsonAsync(login)).GetProperty("detail").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Wrong_state_replayed_code_wrong_verifier_and_another_browser_are_clear_400_problems()
    {
        using var browser = new ConsoleBrowser(Dev);
        await AssertProblemAsync(await browser.GetAsync("/auth/callback?code=abc&state=not-a-state"), "unknown or already used sign-in state");

        using var first = await browser.SignInAtDevIssuerAsync("dba-1", fixture.Password);
        string callback = first.RequestMessage!.RequestUri!.ToString();
        await AssertProblemAsync(await browser.GetAsync(callback), "unknown or already used sign-in state");

        // The spent code with a fresh sign-in's state: the issuer refuses it.
        var (action, fields) = await browser.OpenDevLoginAsync();
        await AssertProblemAsync(await browser.GetAsync($"/auth/callback?code={ConsoleBrowser.Query(callback, "code")}&state={fields["state"]}"), "invalid_grant (the code is unknown or was already used)");

        // A code tried with another verifier at the token endpoint is spent: the console's own exchange fails after it.
        (action, fields) = await browser.OpenDevLoginAsync();
        using var posted = await browser.PostLoginAsync(action, fields, "dba-1", fixture.Password);
        string code = ConsoleBrowser.Query(ConsoleBrowser.Location(posted)!, "code")!;
        using var token = await browser.PostFormAsync("/dev-issuer/token", new Dictionary<string, string>
        {
            ["grant_type"] = "authorization_code", ["code"] = code, ["redirect_uri"] = Dev + "/auth/callback",
            ["client_id"] = "gatehouse-console", ["code_verifier"] = new string('a', 43),
        });
        Assert.Equal(HttpStatusCode.BadRequest, token.StatusCode);
        var refusal = await ConsoleBrowser.JsonAsync(token);
        Assert.Equal("invalid_grant", refusal.GetProperty("error").GetString());
        Assert.Equal("code_verifier does not match the code_challenge", refusal.GetProperty("error_description").GetString());
        await AssertProblemAsync(await browser.GetAsync(ConsoleBrowser.Location(posted)!), "invalid_grant (the code is unknown or was already used)");

        // Finished in a browser that did not start it (no gatehouse_login cookie): login CSRF.
        (action, fields) = await browser.OpenDevLoginAsync();
        using var elsewhere = await browser.PostLoginAsync(action, fields, "dba-1", fixture.Password);
        using var victim = new ConsoleBrowser(Dev);
        await AssertProblemAsync(await victim.GetAsync(ConsoleBrowser.Location(elsewhere)!), "started in another browser or tab");
        Assert.Null(victim.Cookie("gatehouse_session"));
    }

    [Fact]
    public async Task A_pending_login_expires_and_failures_are_throttled_per_address_and_no_token_is_logged()
    {
        var process = await fixture.StartAsync(ConsoleSignInFixture.AdminRoles + "\n  console:\n    login_timeout: 2s");
        string url = ConsoleSignInFixture.AdminUrl(process);
        using var browser = new ConsoleBrowser(url);
        var (action, fields) = await browser.OpenDevLoginAsync();
        await Task.Delay(TimeSpan.FromSeconds(2.5));
        using var late = await browser.PostLoginAsync(action, fields, "dba-1", fixture.Password);
        await AssertProblemAsync(await browser.GetAsync(ConsoleBrowser.Location(late)!), "the sign-in took longer than 2 s");

        using var signedIn = await browser.SignInAtDevIssuerAsync("admin-1", fixture.Password);
        Assert.Equal(HttpStatusCode.Redirect, signedIn.StatusCode);
        using (var me = await browser.SendAsync(HttpMethod.Get, "/api/me"))
        {
            Assert.Equal(HttpStatusCode.OK, me.StatusCode);
        }

        (action, fields) = await browser.OpenDevLoginAsync();
        for (int i = 0; i < 5; i++)
        {
            using var wrong = await browser.PostLoginAsync(action, fields, "dba-1", "not the password");
            Assert.Equal(HttpStatusCode.Unauthorized, wrong.StatusCode);
        }

        // Throttled: even the right password waits.
        using var throttled = await browser.PostLoginAsync(action, fields, "dba-1", fixture.Password);
        Assert.Equal(HttpStatusCode.TooManyRequests, throttled.StatusCode);
        Assert.Contains("Too many failed sign-ins from your address", await throttled.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.NotNull(throttled.Headers.RetryAfter);

        var output = await process.StopAsync(Signals.Terminate);
        string log = output.Stdout + output.Stderr;
        Assert.Contains("Console sign-in: admin-1", log, StringComparison.Ordinal);
        AssertNoTokenIn([log, .. browser.Visited]);
        Assert.DoesNotContain(fixture.Password, log, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_reviewer_signs_in_through_the_openid_provider_with_a_confidential_client()
    {
        string url = ConsoleSignInFixture.AdminUrl(fixture.External);
        await fixture.Oidc.ArmLoginAsync("alice", new Dictionary<string, object> { ["roles"] = new[] { "dba" }, ["name"] = "Alice <b>Reviewer</b>" });
        using var browser = new ConsoleBrowser(url);
        using var login = await browser.GetAsync("/login?return=/reviews");
        string authorize = ConsoleBrowser.Location(login)!;
        Assert.StartsWith(fixture.Oidc.Issuer + "/auth?", authorize, StringComparison.Ordinal);
        Assert.Equal("openid", ConsoleBrowser.Query(authorize, "scope"));
        Assert.NotNull(ConsoleBrowser.Query(authorize, "nonce"));
        Assert.Equal("S256", ConsoleBrowser.Query(authorize, "code_challenge_method"));

        using var atCallback = await browser.FollowAsync(authorize, stopAt: url + "/auth/callback");
        string callback = ConsoleBrowser.Location(atCallback)!;
        Assert.StartsWith(url + "/auth/callback?code=", callback, StringComparison.Ordinal);
        using var signedIn = await browser.GetAsync(callback);
        Assert.True(signedIn.StatusCode == HttpStatusCode.Redirect, await signedIn.Content.ReadAsStringAsync());
        Assert.Equal("/reviews", signedIn.Headers.Location!.OriginalString);

        using var me = await browser.SendAsync(HttpMethod.Get, "/api/me");
        var identity = await ConsoleBrowser.JsonAsync(me);
        Assert.Equal("alice", identity.GetProperty("subject").GetString());
        Assert.Equal("Alice <b>Reviewer</b>", identity.GetProperty("name").GetString());
        Assert.Equal(["approver"], identity.GetProperty("roles").EnumerateArray().Select(r => r.GetString()));
        using var reviews = await browser.SendAsync(HttpMethod.Get, "/api/reviews");
        Assert.Equal(HttpStatusCode.OK, reviews.StatusCode);

        // The same code again: the provider refuses it, and the state is spent anyway.
        await AssertProblemAsync(await browser.GetAsync(callback), "unknown or already used sign-in state");
        AssertNoTokenIn(browser.Visited);

        // The dev issuer's logins do not sign in here: the console's issuer is the provider.
        using var devLogin = await browser.GetAsync("/login");
        Assert.DoesNotContain("/dev-issuer/", ConsoleBrowser.Location(devLogin)!, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Bearer_tokens_still_work_and_no_credentials_is_401()
    {
        using var browser = new ConsoleBrowser(Dev);
        using var none = await browser.SendAsync(HttpMethod.Get, "/api/me");
        Assert.Equal(HttpStatusCode.Unauthorized, none.StatusCode);
        using var bearer = await browser.SendAsync(HttpMethod.Get, "/api/me", bearer: await fixture.Dev.TokenAsync("agent-9"));
        Assert.Equal(HttpStatusCode.OK, bearer.StatusCode);
        var identity = await ConsoleBrowser.JsonAsync(bearer);
        Assert.Equal("agent-9", identity.GetProperty("subject").GetString());
        Assert.Equal(JsonValueKind.Null, identity.GetProperty("csrf_token").ValueKind);
        using var forbidden = await browser.SendAsync(HttpMethod.Get, "/api/reviews", bearer: await fixture.Dev.TokenAsync("agent-9"));
        Assert.Equal(HttpStatusCode.Forbidden, forbidden.StatusCode);
    }

    private static async Task AssertProblemAsync(HttpResponseMessage response, string detail)
    {
        using (response)
        {
            string body = await response.Content.ReadAsStringAsync();
            Assert.True(response.StatusCode == HttpStatusCode.BadRequest, $"{(int)response.StatusCode}: {body}");
            Assert.Equal("application/problem+json", response.Content.Headers.ContentType!.MediaType);
            Assert.Contains(detail, JsonDocument.Parse(body).RootElement.GetProperty("detail").GetString(), StringComparison.Ordinal);
            Assert.DoesNotContain("gatehouse_session=", string.Join(';', response.Headers.TryGetValues("Set-Cookie", out var c) ? c : []), StringComparison.Ordinal);
        }
    }

    /// <summary>No JWT (header.payload.signature, base64url of a JSON object) in any URL or log text.</summary>
    private static void AssertNoTokenIn(IEnumerable<string> texts)
    {
        foreach (string text in texts)
        {
            Assert.False(Jwt().IsMatch(text), "a token is in: " + text);
        }
    }

    private static async Task<string> PendingAsync(ConsoleBrowser browser, string marker)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(15);
        while (true)
        {
            using var response = await browser.SendAsync(HttpMethod.Get, "/api/reviews?status=pending");
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            foreach (var review in (await ConsoleBrowser.JsonAsync(response)).EnumerateArray())
            {
                if (review.GetProperty("sql").GetString()!.Contains(marker, StringComparison.Ordinal))
                {
                    return review.GetProperty("id").GetString()!;
                }
            }

            Assert.True(DateTime.UtcNow < deadline, "no pending review for " + marker);
            await Task.Delay(100);
        }
    }

    [GeneratedRegex(@"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")]
    private static partial Regex Jwt();
}
