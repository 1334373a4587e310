using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using Gatehouse.Pipeline;
using Microsoft.IdentityModel.Tokens;

namespace Gatehouse.Admin;

/// <summary>A signed-in console user: the principal of the access token they signed in with, until that token expires.</summary>
public sealed record ConsoleSession(Principal Principal, string CsrfToken, DateTimeOffset Expires);

/// <summary>
/// Console sessions, in memory (a restart signs everyone out). The cookie holds a random 256-bit id; the table is keyed by
/// its SHA-256, so neither a lookup's timing nor a memory dump gives a usable cookie away. Bounded: when full, expired
/// sessions go first, then the one that expires soonest.
/// </summary>
public sealed class ConsoleSessions(TimeProvider time, int capacity = ConsoleSessions.DefaultCapacity)
{
    public const string CookieName = "gatehouse_session";
    public const string CsrfCookieName = "gatehouse_csrf";
    public const int DefaultCapacity = 10_000;

    private readonly ConcurrentDictionary<string, ConsoleSession> _sessions = new(StringComparer.Ordinal);
    private readonly Lock _admit = new();

    public int Count => _sessions.Count;

    /// <summary>Starts a session for <paramref name="principal"/>; returns the cookie value and the session.</summary>
    public (string Cookie, ConsoleSession Session) Create(Principal principal)
    {
        string id = NewSecret();
        var session = new ConsoleSession(principal, NewSecret(), principal.ExpiresAt);
        lock (_admit)
        {
            if (_sessions.Count >= capacity)
            {
                var now = time.GetUtcNow();
                foreach (var (key, value) in _sessions)
                {
                    if (value.Expires <= now)
                    {
                        _sessions.TryRemove(key, out _);
                    }
                }

                while (_sessions.Count >= capacity && !_sessions.IsEmpty)
                {
                    _sessions.TryRemove(_sessions.MinBy(s => s.Value.Expires).Key, out _);
                }
            }

            _sessions[Key(id)] = session;
        }

        return (id, session);
    }

    /// <summary>The live session of a cookie value; null when unknown or expired (an expired one is removed).</summary>
    public ConsoleSession? Find(string? cookie)
    {
        if (string.IsNullOrEmpty(cookie) || cookie.Length > 128 || !_sessions.TryGetValue(Key(cookie), out var session))
        {
            return null;
        }

        if (session.Expires <= time.GetUtcNow())
        {
            _sessions.TryRemove(Key(cookie), out _);
            return null;
        }

        return session;
    }

    public bool End(string? cookie) => !string.IsNullOrEmpty(cookie) && cookie.Length <= 128 && _sessions.TryRemove(Key(cookie), out _);

    internal static string NewSecret() => Base64UrlEncoder.Encode(RandomNumberGenerator.GetBytes(32));

    private static string Key(string cookie) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(cookie)));
}

/// <summary>A sign-in between /login and /auth/callback: what the callback must find to finish it.</summary>
internal sealed record PendingLogin(string Verifier, string Nonce, string ReturnPath, string Binding, DateTimeOffset Expires);

/// <summary>
/// Sign-ins in flight, keyed by their <c>state</c>, taken out (single use) by the callback. Bounded: a flood of /login
/// requests evicts the oldest, never grows memory.
/// </summary>
internal sealed class PendingLogins(TimeProvider time, TimeSpan lifetime, int capacity = 1000)
{
    private readonly ConcurrentDictionary<string, PendingLogin> _pending = new(StringComparer.Ordinal);
    private readonly Lock _admit = new();

    public TimeSpan Lifetime => lifetime;

    public PendingLogin Add(string state, string verifier, string nonce, string returnPath, string binding)
    {
        var login = new PendingLogin(verifier, nonce, returnPath, binding, time.GetUtcNow() + lifetime);
        lock (_admit)
        {
            var now = time.GetUtcNow();
            if (_pending.Count >= capacity)
            {
                foreach (var (key, value) in _pending)
                {
                    // Long expired ones first; recently expired ones stay to say "expired" rather than "unknown".
                    if (value.Expires <= now - lifetime)
                    {
                        _pending.TryRemove(key, out _);
                    }
                }

                while (_pending.Count >= capacity && !_pending.IsEmpty)
                {
                    _pending.TryRemove(_pending.MinBy(p => p.Value.Expires).Key, out _);
                }
            }

            _pending[state] = login;
        }

        return login;
    }

    public PendingLogin? Take(string state) => _pending.TryRemove(state, out var login) ? login : null;
}
