namespace Gatehouse.Identity;

/// <summary>The <c>identity:</c> section of gatehouse.yaml, bound by the host.</summary>
public sealed record IdentityOptions
{
    /// <summary>The external OpenID issuer; its JWKS is found through <c>{Issuer}/.well-known/openid-configuration</c>. Null when only the dev issuer is trusted.</summary>
    public string? Issuer { get; init; }

    /// <summary>A token is accepted when its <c>aud</c> names any of these.</summary>
    public IReadOnlyList<string> Audiences { get; init; } = ["gatehouse"];

    /// <summary>Tolerance applied to <c>exp</c> and <c>nbf</c>.</summary>
    public TimeSpan ClockSkew { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Also trust the in-process development issuer. When false its key is never consulted.</summary>
    public bool DevIssuer { get; init; }
}
