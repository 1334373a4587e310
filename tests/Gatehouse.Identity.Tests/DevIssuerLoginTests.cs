using System.Runtime.Versioning;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.IdentityModel.Tokens;

namespace Gatehouse.Identity.Tests;

/// <summary>The dev issuer's code + PKCE flow on an injected clock: what is refused, and what a good exchange mints.</summary>
[UnsupportedOSPlatform("windows")]
public sealed class DevIssuerLoginTests : IDisposable
{
    private const string IssuerUrl = "http://127.0.0.1:8080/dev-issuer";
    private const string Callback = "http://127.0.0.1:8080/auth/callback";
    private const string Password = "correct horse battery";
    private static readonly string Verifier = new('v', 43);

    private readonly string _state = Directory.CreateTempSubdirectory("gatehouse-devlogin-").FullName;
    private readonly ManualTimeProvider _time = new();
    private readonly DevIssuer _issuer;
    private readonly DevIssuerLogin _login;

    public DevIssuerLoginTests()
    {
        _issuer = DevIssuer.LoadOrCreate(_state, IssuerUrl, _time);
        _login = new DevIssuerLogin(_issuer, [new DevLogin("reviewer", Password, [new("roles", "dba")])], Callback, "gatehouse", _time);
    }

    public void Dispose() => Directory.Delete(_state, recursive: true);

    private static AuthorizationRequest Request(string? redirect = Callback, string? method = "S256", string? scope = "openid profile") =>
        new("code", DevIssuerLogin.ConsoleClientId, redirect, scope, "state-1", "nonce-1", Base64UrlEncoder.Encode(SHA256.HashData(Encoding.ASCII.GetBytes(Verifier))), method);

    private string Code(string? password = Password)
    {
        var result = _login.SignIn(Request(), "reviewer", password);
        Assert.NotNull(result.Location);
        Assert.StartsWith(Callback + "?code=", result.Location, StringComparison.Ordinal);
        Assert.EndsWith("&state=state-1", result.Location, StringComparison.Ordinal);
        return result.Location[(Callback.Length + "?code=".Length)..result.Location.IndexOf('&', StringComparison.Ordinal)];
    }

    private DevTokenResult Exchange(string code, string? verifier = null, string redirect = Callback, string client = DevIssuerLogin.ConsoleClientId) =>
        _login.Exchange("authorization_code", code, redirect, client, verifier ?? Verifier);

    [Fact]
    public async Task A_good_exchange_mints_an_access_token_the_validator_accepts_and_an_id_token_with_the_nonce()
    {
        var result = Exchange(Code());
        Assert.Null(result.Error);
        var validator = new TokenValidator(new IdentityOptions { DevIssuer = true, Audiences = ["gatehouse"] }, _issuer, _time);
        var outcome = await validator.ValidateAsync(result.AccessToken!, CancellationToken.None);
        Assert.True(outcome.Succeeded, outcome.Reason);
        Assert.Equal("reviewer", outcome.Identity!.Subject);
        Assert.Equal("dba", outcome.Identity.Claim("roles").GetString());
        Assert.Equal(_time.GetUtcNow() + DevIssuerLogin.TokenLifetime, outcome.Identity.ExpiresAt);

        using var id = JsonDocument.Parse(Base64UrlEncoder.DecodeBytes(result.IdToken!.Split('.')[1]));
        Assert.Equal("nonce-1", id.RootElement.GetProperty("nonce").GetString());
        Assert.Equal(DevIssuerLogin.ConsoleClientId, id.RootElement.GetProperty("aud").GetString());
        // The id_token is not a wire token: its audience is the console's client id.
        Assert.False((await validator.ValidateAsync(result.IdToken, CancellationToken.None)).Succeeded);
    }

    [Fact]
    public void The_discovery_document_lists_the_authorization_and_token_endpoints()
    {
        using var discovery = JsonDocument.Parse(_issuer.DiscoveryDocumentJson());
        var root = discovery.RootElement;
        Assert.Equal(IssuerUrl + "/authorize", root.GetProperty("authorization_endpoint").GetString());
        Assert.Equal(IssuerUrl + "/token", root.GetProperty("token_endpoint").GetString());
        Assert.Equal(["S256"], root.GetProperty("code_challenge_methods_supported").EnumerateArray().Select(m => m.GetString()));
        Assert.Equal(["code"], root.GetProperty("response_types_supported").EnumerateArray().Select(m => m.GetString()));
    }

    [Fact]
    public void A_code_is_spent_by_its_first_use_even_a_failed_one_and_expires_after_60_seconds()
    {
        string code = Code();
        Assert.Equal("code_verifier does not match the code_challenge", Exchange(code, verifier: new string('w', 43)).ErrorDescription);
        Assert.Equal("the code is unknown or was already used", Exchange(code).ErrorDescription);

        string late = Code();
        _time.Advance(DevIssuerLogin.CodeLifetime + TimeSpan.FromSeconds(1));
        var expired = Exchange(late);
        Assert.Equal(("invalid_grant", "the code expired (codes live 60 s)"), (expired.Error, expired.ErrorDescription));
        Assert.Null(Exchange(Code()).Error);
    }

    [Theory]
    [InlineData("http://127.0.0.1:8080/elsewhere", DevIssuerLogin.ConsoleClientId, "invalid_grant", "redirect_uri differs from the authorization request's")]
    [InlineData(Callback, "another-client", "invalid_client", "unknown client; the dev issuer knows only gatehouse-console")]
    public void The_redirect_uri_and_client_must_be_the_console_s(string redirect, string client, string error, string description)
    {
        var result = Exchange(Code(), redirect: redirect, client: client);
        Assert.Equal((error, description), (result.Error, result.ErrorDescription));
    }

    [Fact]
    public void A_short_verifier_is_refused_and_a_wrong_grant_type_too()
    {
        Assert.Equal("code_verifier must be 43 to 128 unreserved characters (RFC 7636)", Exchange(Code(), verifier: "short").ErrorDescription);
        Assert.Equal("unsupported_grant_type", _login.Exchange("password", "x", Callback, DevIssuerLogin.ConsoleClientId, Verifier).Error);
    }

    [Fact]
    public void A_wrong_password_or_unknown_login_gets_no_code()
    {
        Assert.Null(_login.SignIn(Request(), "reviewer", Password + "!").Location);
        Assert.Null(_login.SignIn(Request(), "root", Password).Location);
        Assert.Null(_login.SignIn(Request(), "reviewer", "").Location);
        Assert.Null(_login.SignIn(Request(), null, null).Location);
    }

    [Theory]
    [InlineData("http://evil.example/auth/callback", "S256", "openid", "redirect_uri must be http://127.0.0.1:8080/auth/callback")]
    [InlineData(Callback, "plain", "openid", "a PKCE code_challenge with code_challenge_method S256 is required")]
    [InlineData(Callback, null, "openid", "a PKCE code_challenge with code_challenge_method S256 is required")]
    [InlineData(Callback, "S256", "profile", "scope must include openid")]
    public void An_authorization_request_the_console_would_not_send_is_refused(string redirect, string? method, string scope, string why)
    {
        Assert.Equal(why, _login.CheckRequest(Request(redirect, method, scope)));
    }

    [Fact]
    public void Five_failures_from_an_address_make_it_wait_out_the_minute_and_others_are_not_held_up()
    {
        var throttle = new DevIssuerThrottle(_time);
        for (int i = 0; i < DevIssuerThrottle.MaxFailures; i++)
        {
            Assert.Equal(TimeSpan.Zero, throttle.TryAttempt("10.0.0.1")); // and it failed
            _time.Advance(TimeSpan.FromSeconds(1));
        }

        Assert.Equal(TimeSpan.FromSeconds(55), throttle.TryAttempt("10.0.0.1"));
        Assert.Equal(TimeSpan.Zero, throttle.TryAttempt("10.0.0.2"));
        _time.Advance(TimeSpan.FromSeconds(55));
        Assert.Equal(TimeSpan.Zero, throttle.TryAttempt("10.0.0.1"));
    }

    [Fact]
    public void Parallel_attempts_count_before_they_fail_and_a_success_is_taken_back()
    {
        var throttle = new DevIssuerThrottle(_time);
        // Checked all at once, before any of them could fail: only the first five may try.
        var allowed = Enumerable.Range(0, 50).AsParallel().Count(_ => throttle.TryAttempt("10.0.0.3") == TimeSpan.Zero);
        Assert.Equal(DevIssuerThrottle.MaxFailures, allowed);

        var other = new DevIssuerThrottle(_time);
        for (int i = 0; i < 20; i++)
        {
            Assert.Equal(TimeSpan.Zero, other.TryAttempt("10.0.0.4"));
            other.Succeeded("10.0.0.4");
        }
    }
}
