using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using Microsoft.IdentityModel.Tokens;

namespace Gatehouse.Identity;

/// <summary>One configured development login (<c>identity.dev_logins</c>): only these may sign in at the dev issuer.</summary>
public sealed class DevLogin
{
    public DevLogin(string subject, string password, IReadOnlyList<KeyValuePair<string, string>> claims)
    {
        ArgumentException.ThrowIfNullOrEmpty(subject);
        ArgumentException.ThrowIfNullOrEmpty(password);
        Subject = subject;
        Claims = claims;
        PasswordHash = SHA256.HashData(Encoding.UTF8.GetBytes(password));
    }

    public string Subject { get; }

    public IReadOnlyList<KeyValuePair<string, string>> Claims { get; }

    /// <summary>SHA-256 of the password: fixed length, so the comparison leaks nothing about it.</summary>
    internal byte[] PasswordHash { get; }
}

/// <summary>
/// The dev issuer's authorization code + PKCE flow for the one client it knows, the admin console:
/// <code>
///  GET /authorize (client_id, redirect_uri must be the console's) ─► login form (hidden request fields)
///  POST /authorize ─► throttle per address ─► dev login + password (constant time) ─► code (60 s, single use)
///                  ─► 302 redirect_uri?code&amp;state
///  POST /token (code, redirect_uri, client_id, code_verifier: S256) ─► access token + id_token (nonce)
/// </code>
/// Anyone who can reach the admin port can reach this page, so only configured logins with a password sign in:
/// an access token minted here is accepted on the wire too.
/// </summary>
public sealed class DevIssuerLogin
{
    /// <summary>The console's client id at the dev issuer (a public client: PKCE, no secret).</summary>
    public const string ConsoleClientId = "gatehouse-console";

    public static readonly TimeSpan CodeLifetime = TimeSpan.FromSeconds(60);

    public static readonly TimeSpan TokenLifetime = TimeSpan.FromHours(1);

    private const int MaxPendingCodes = 1000;

    private static readonly byte[] NoSuchLogin = SHA256.HashData("gatehouse: no such dev login"u8);

    private readonly DevIssuer _issuer;
    private readonly Dictionary<string, DevLogin> _logins;
    private readonly string _audience;
    private readonly TimeProvider _time;
    private readonly ConcurrentDictionary<string, IssuedCode> _codes = new(StringComparer.Ordinal);

    /// <param name="redirectUri">The console's callback, the only place a code is sent.</param>
    /// <param name="audience">The <c>aud</c> of the access tokens (an audience the gateway accepts).</param>
    public DevIssuerLogin(DevIssuer issuer, IReadOnlyList<DevLogin> logins, string redirectUri, string audience, TimeProvider time)
    {
        _issuer = issuer;
        _logins = logins.ToDictionary(l => l.Subject, StringComparer.Ordinal);
        RedirectUri = redirectUri;
        _audience = audience;
        _time = time;
        Throttle = new DevIssuerThrottle(time);
    }

    public string RedirectUri { get; }

    public string AuthorizationEndpoint => _issuer.IssuerUrl + "/authorize";

    public int LoginCount => _logins.Count;

    internal DevIssuerThrottle Throttle { get; }

    /// <summary>Checks the request fields the form carries; null when they are fit, else why not (shown on the page).</summary>
    internal string? CheckRequest(AuthorizationRequest request)
    {
        if (request.ClientId != ConsoleClientId)
        {
            return $"client_id must be {ConsoleClientId}";
        }

        if (request.RedirectUri != RedirectUri)
        {
            return $"redirect_uri must be {RedirectUri}";
        }

        if (request.ResponseType != "code")
        {
            return "response_type must be code";
        }

        if (request.CodeChallengeMethod != "S256" || request.CodeChallenge is not { Length: 43 } || !IsBase64Url(request.CodeChallenge))
        {
            return "a PKCE code_challenge with code_challenge_method S256 is required";
        }

        if (string.IsNullOrEmpty(request.State) || request.State.Length > 512 || string.IsNullOrEmpty(request.Nonce) || request.Nonce.Length > 512)
        {
            return "state and nonce are required (at most 512 characters each)";
        }

        return request.Scope?.Split(' ').Contains("openid", StringComparer.Ordinal) == true ? null : "scope must include openid";
    }

    /// <summary>Checks a login and password; on success issues a code and returns where to send the browser.</summary>
    internal SignInResult SignIn(AuthorizationRequest request, string? subject, string? password)
    {
        byte[] given = SHA256.HashData(Encoding.UTF8.GetBytes(password ?? string.Empty));
        var login = subject is null ? null : _logins.GetValueOrDefault(subject);
        // The same work for an unknown login as for a wrong password.
        bool match = CryptographicOperations.FixedTimeEquals(given, login?.PasswordHash ?? NoSuchLogin) && login is not null && !string.IsNullOrEmpty(password);
        if (!match)
        {
            return new SignInResult(null, Busy: false);
        }

        var now = _time.GetUtcNow();
        if (_codes.Count >= MaxPendingCodes)
        {
            foreach (var (key, value) in _codes)
            {
                if (value.Expires <= now)
                {
                    _codes.TryRemove(key, out _);
                }
            }
        }

        if (_codes.Count >= MaxPendingCodes)
        {
            return new SignInResult(null, Busy: true);
        }

        string code = Base64UrlEncoder.Encode(RandomNumberGenerator.GetBytes(32));
        _codes[code] = new IssuedCode(login!, request.RedirectUri!, request.CodeChallenge!, request.Nonce!, now + CodeLifetime);
        return new SignInResult($"{request.RedirectUri}?code={code}&state={Uri.EscapeDataString(request.State!)}", Busy: false);
    }

    /// <summary>The token endpoint's work (RFC 6749 §4.1.3, RFC 7636 §4.6). A code is spent by any attempt to use it.</summary>
    public DevTokenResult Exchange(string? grantType, string? code, string? redirectUri, string? clientId, string? verifier)
    {
        if (grantType != "authorization_code")
        {
            return DevTokenResult.Fail("unsupported_grant_type", "grant_type must be authorization_code");
        }

        if (string.IsNullOrEmpty(code) || string.IsNullOrEmpty(verifier) || string.IsNullOrEmpty(redirectUri) || string.IsNullOrEmpty(clientId))
        {
            return DevTokenResult.Fail("invalid_request", "code, redirect_uri, client_id and code_verifier are required");
        }

        if (clientId != ConsoleClientId)
        {
            return DevTokenResult.Fail("invalid_client", $"unknown client; the dev issuer knows only {ConsoleClientId}");
        }

        if (!_codes.TryRemove(code, out var issued))
        {
            return DevTokenResult.Fail("invalid_grant", "the code is unknown or was already used");
        }

        if (issued.Expires <= _time.GetUtcNow())
        {
            return DevTokenResult.Fail("invalid_grant", $"the code expired (codes live {CodeLifetime.TotalSeconds:0} s)");
        }

        if (issued.RedirectUri != redirectUri)
        {
            return DevTokenResult.Fail("invalid_grant", "redirect_uri differs from the authorization request's");
        }

        if (verifier.Length is < 43 or > 128 || !verifier.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '.' or '_' or '~'))
        {
            return DevTokenResult.Fail("invalid_grant", "code_verifier must be 43 to 128 unreserved characters (RFC 7636)");
        }

        byte[] expected = Encoding.ASCII.GetBytes(issued.CodeChallenge);
        byte[] actual = Encoding.ASCII.GetBytes(Base64UrlEncoder.Encode(SHA256.HashData(Encoding.ASCII.GetBytes(verifier))));
        if (!CryptographicOperations.FixedTimeEquals(expected, actual))
        {
            return DevTokenResult.Fail("invalid_grant", "code_verifier does not match the code_challenge");
        }

        var login = issued.Login;
        string accessToken = _issuer.Mint(login.Subject, login.Claims, TokenLifetime, _audience);
        string idToken = _issuer.Mint(login.Subject, [new("nonce", issued.Nonce)], TokenLifetime, ConsoleClientId);
        return new DevTokenResult(accessToken, idToken, (int)TokenLifetime.TotalSeconds, null, null);
    }

    private static bool IsBase64Url(string value) => value.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_');

    private sealed record IssuedCode(DevLogin Login, string RedirectUri, string CodeChallenge, string Nonce, DateTimeOffset Expires);
}

/// <summary>Where to send the browser with its code; null when the login failed, or (Busy) too many codes are outstanding.</summary>
internal sealed record SignInResult(string? Location, bool Busy);

/// <summary>The fields of an authorization request, from the query (GET) or the form's hidden fields (POST).</summary>
internal sealed record AuthorizationRequest(
    string? ResponseType, string? ClientId, string? RedirectUri, string? Scope, string? State, string? Nonce, string? CodeChallenge, string? CodeChallengeMethod);

/// <summary>What the dev token endpoint answered: tokens, or an OAuth error code and description.</summary>
public sealed record DevTokenResult(string? AccessToken, string? IdToken, int ExpiresIn, string? Error, string? ErrorDescription)
{
    public static DevTokenResult Fail(string error, string description) => new(null, null, 0, error, description);
}

/// <summary>Failed dev sign-ins per source address: at most <see cref="MaxFailures"/> within <see cref="Window"/>.</summary>
internal sealed class DevIssuerThrottle(TimeProvider time)
{
    public const int MaxFailures = 5;

    public static readonly TimeSpan Window = TimeSpan.FromMinutes(1);

    private const int MaxAddresses = 10_000;

    private readonly Dictionary<string, List<DateTimeOffset>> _failures = new(StringComparer.Ordinal);
    private readonly Lock _lock = new();

    /// <summary>
    /// How long the address must wait before trying again; zero when it may try now, and then the attempt counts as a
    /// failure at once, until <see cref="Succeeded"/> takes it back: parallel attempts cannot all pass the check
    /// before the first failure is counted.
    /// </summary>
    public TimeSpan TryAttempt(string address)
    {
        lock (_lock)
        {
            var now = time.GetUtcNow();
            if (_failures.TryGetValue(address, out var list))
            {
                list.RemoveAll(t => t <= now - Window);
                if (list.Count >= MaxFailures)
                {
                    return list[0] + Window - now;
                }
            }

            Failed(address, now);
            return TimeSpan.Zero;
        }
    }

    /// <summary>The attempt <see cref="TryAttempt"/> counted signed in: it is not a failure.</summary>
    public void Succeeded(string address)
    {
        lock (_lock)
        {
            if (_failures.TryGetValue(address, out var list) && list.Count > 0)
            {
                list.RemoveAt(list.Count - 1);
            }
        }
    }

    private void Failed(string address, DateTimeOffset now)
    {
        if (_failures.Count >= MaxAddresses && !_failures.ContainsKey(address))
        {
            foreach (var key in _failures.Where(f => f.Value.Count == 0 || f.Value[^1] <= now - Window).Select(f => f.Key).ToList())
            {
                _failures.Remove(key);
            }
        }

        if (!_failures.TryGetValue(address, out var list))
        {
            // Still full of fresh failures: count this address with the oldest one rather than grow without bound.
            if (_failures.Count >= MaxAddresses)
            {
                _failures.Remove(_failures.MinBy(f => f.Value[^1]).Key);
            }

            _failures[address] = list = [];
        }

        list.Add(now);
    }
}
