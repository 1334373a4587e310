using System.Text.Json;

namespace Gatehouse.Pipeline;

/// <summary>Who is on the other end of a session, as established from their token. Holds the token's hash, never the token.</summary>
public sealed record Principal(string Subject, string Issuer, JsonElement Claims, string TokenHash, DateTimeOffset ExpiresAt);

/// <summary>The outcome of checking a bearer token. Failures carry the SQLSTATE and a reason safe to show.</summary>
public sealed record AuthenticationResult(Principal? Principal, string SqlState, string Reason)
{
    public static AuthenticationResult Success(Principal principal) => new(principal, string.Empty, string.Empty);
}

/// <summary>Turns a bearer token (the wire password, the MCP Authorization header) into a principal.</summary>
public interface IAuthenticator
{
    ValueTask<AuthenticationResult> AuthenticateAsync(string token, CancellationToken ct);
}

/// <summary>Which front door a session came through; audit records name it.</summary>
public enum FrontDoor
{
    Wire,
    Mcp,
}
