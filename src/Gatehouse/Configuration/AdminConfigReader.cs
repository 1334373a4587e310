using Gatehouse.Yaml;

namespace Gatehouse.Configuration;

/// <summary>The <c>admin</c> section: the policy identities that manage the gateway and read the trail (SPEC §2).</summary>
public sealed record AdminConfig(string? Identities, string? Auditors)
{
    public static AdminConfig None { get; } = new(null, null);

    /// <summary><c>admin.console</c>: how humans sign in to the web console (docs/console-sign-in.md).</summary>
    public ConsoleSignInConfig SignIn { get; init; } = ConsoleSignInConfig.Default;

    /// <summary><c>admin.allowed_hosts</c>: further names the admin port answers to in the Host header (docs/operations.md).</summary>
    public IReadOnlyList<string> AllowedHosts { get; init; } = [];

    /// <summary><c>admin.keep_alive_timeout</c>, <c>request_headers_timeout</c>, <c>max_connections</c>: the admin listener's connections (docs/operations.md).</summary>
    public AdminConnectionLimits Connections { get; init; } = AdminConnectionLimits.Default;
}

/// <summary>
/// What one admin connection may hold (Kestrel's limits; its defaults kept an idle connection 130s, with no cap).
/// </summary>
/// <param name="KeepAliveTimeout">A connection with no request in progress, before its first request or between two, is closed after this.</param>
/// <param name="RequestHeadersTimeout">Time a request has to send all its headers.</param>
/// <param name="MaxConnections">Open connections at once; Kestrel closes further ones as they are accepted.</param>
public sealed record AdminConnectionLimits(TimeSpan KeepAliveTimeout, TimeSpan RequestHeadersTimeout, int MaxConnections)
{
    public static AdminConnectionLimits Default { get; } = new(TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(10), 1000);
}

/// <summary>
/// The console's OIDC client: with a <c>client_id</c> at <c>identity.issuer</c>, without one at the dev issuer. The
/// secret is read when needed, never kept here.
/// </summary>
public sealed record ConsoleSignInConfig(string? ClientId, string? ClientSecretFile, string? ClientSecretEnv, IReadOnlyList<string> Scopes, string? RedirectUri, TimeSpan LoginTimeout)
{
    public static readonly IReadOnlyList<string> DefaultScopes = ["openid"];

    public static ConsoleSignInConfig Default { get; } = new(null, null, null, DefaultScopes, null, TimeSpan.FromMinutes(10));

    /// <summary>The client secret of a confidential client; null for a public client (PKCE only).</summary>
    public string? ReadSecret()
    {
        if (ClientSecretFile is not null)
        {
            return File.ReadAllText(ClientSecretFile).TrimEnd('\r', '\n');
        }

        return ClientSecretEnv is null
            ? null
            : Environment.GetEnvironmentVariable(ClientSecretEnv) is { Length: > 0 } value
                ? value
                : throw new InvalidOperationException($"environment variable {ClientSecretEnv} (admin.console.client_secret_env) is not set");
    }
}

internal static class AdminConfigReader
{
    public static AdminConfig Read(YamlSection root, IdentityConfig identity, Func<string?, string> resolve, ConfigFiles files)
    {
        if (root.Section("admin") is not { } section)
        {
            return AdminConfig.None;
        }

        var config = new AdminConfig(section.String("identities"), section.String("auditors"));
        if (section.Section("console") is { } console)
        {
            config = config with { SignIn = ReadConsole(console, identity, resolve, files) };
        }

        var hosts = section.StringList("allowed_hosts", []);
        if (hosts.FirstOrDefault(h => !Admin.AdminHosts.IsPattern(h)) is { } bad)
        {
            section.Error(section.Get("allowed_hosts")!, $"'{bad}' is not a host name: give names like gatehouse.example.com or *.example.com, or IP addresses ([::1] for IPv6), without a scheme, port or path");
        }

        config = config with { AllowedHosts = hosts, Connections = ReadConnections(section) };

        section.RejectUnknownKeys("admin");
        return config;
    }

    private static AdminConnectionLimits ReadConnections(YamlSection section)
    {
        var d = AdminConnectionLimits.Default;
        var limits = new AdminConnectionLimits(
            section.Duration("keep_alive_timeout", d.KeepAliveTimeout),
            section.Duration("request_headers_timeout", d.RequestHeadersTimeout),
            section.Int("max_connections", d.MaxConnections, 1, 100_000));
        if (limits.KeepAliveTimeout < TimeSpan.FromSeconds(1) || limits.KeepAliveTimeout > TimeSpan.FromHours(1))
        {
            section.Error(section.Get("keep_alive_timeout")!, "'keep_alive_timeout' must be from 1s to 1h");
        }

        if (limits.RequestHeadersTimeout < TimeSpan.FromSeconds(1) || limits.RequestHeadersTimeout > TimeSpan.FromMinutes(5))
        {
            section.Error(section.Get("request_headers_timeout")!, "'request_headers_timeout' must be from 1s to 5m");
        }

        return limits;
    }

    private static ConsoleSignInConfig ReadConsole(YamlSection section, IdentityConfig identity, Func<string?, string> resolve, ConfigFiles files)
    {
        string? clientId = section.String("client_id");
        string? secretFile = files.Read(section, "client_secret_file", "admin.console.client_secret_file", ConfigFileKind.Secret, resolve);
        string? secretEnv = section.String("client_secret_env");
        var scopes = section.StringList("scopes", ConsoleSignInConfig.DefaultScopes);
        string? redirectUri = section.String("redirect_uri");
        var timeout = section.Duration("login_timeout", ConsoleSignInConfig.Default.LoginTimeout);
        if (identity.Issuer is null && clientId is not null)
        {
            section.Error(section.Get("client_id")!, "'client_id' names the console's client at identity.issuer, which is not set (the dev issuer needs no client_id)");
        }

        if (clientId is null && !identity.DevIssuer)
        {
            section.Error(section.Node, "admin.console needs 'client_id': the console's client registered at identity.issuer");
        }

        if (secretFile is not null && secretEnv is not null)
        {
            section.Error(section.Get("client_secret_env")!, "give at most one of 'client_secret_file' or 'client_secret_env'");
        }

        if (!scopes.Contains("openid", StringComparer.Ordinal))
        {
            section.Error(section.Get("scopes")!, "'scopes' must include openid (the id_token carries the sign-in's nonce)");
        }

        if (scopes.FirstOrDefault(s => s.Any(c => c <= ' ' || c is '"' or '\\' or '\x7f')) is { } bad)
        {
            section.Error(section.Get("scopes")!, $"scope '{bad}' contains a space, quote, backslash or control character");
        }

        if (redirectUri is not null && !(Uri.TryCreate(redirectUri, UriKind.Absolute, out var uri)
            && (uri.Scheme == Uri.UriSchemeHttps || uri.Scheme == Uri.UriSchemeHttp)
            && uri.AbsolutePath.EndsWith("/auth/callback", StringComparison.Ordinal) && uri.Query.Length == 0 && uri.Fragment.Length == 0 && uri.UserInfo.Length == 0))
        {
            section.Error(section.Get("redirect_uri")!, "'redirect_uri' must be http(s)://HOST[:PORT]/auth/callback, the address browsers reach the gateway's callback at");
        }

        if (timeout < TimeSpan.FromSeconds(1) || timeout > TimeSpan.FromHours(1))
        {
            section.Error(section.Get("login_timeout")!, "'login_timeout' must be from 1s to 1h");
        }

        section.RejectUnknownKeys("admin.console");
        return new ConsoleSignInConfig(clientId, secretFile, secretEnv, scopes, redirectUri, timeout);
    }
}
