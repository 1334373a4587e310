using Gatehouse.Pipeline;

namespace Gatehouse.Mcp;

/// <summary>
/// Who made one HTTP request to /mcp: the principal its bearer token established, and the token itself, held only
/// for this request so the call logs in to the wire door as the caller (never as anyone else), and the HTTP client's
/// address, which the wire session records as its client.
/// </summary>
public sealed record McpCaller(Principal Principal, string Token, System.Net.IPAddress? ClientAddress = null)
{
    /// <summary>Per-identity limits count by issuer and subject, so several tokens of one agent share them.</summary>
    public string IdentityKey => Principal.Issuer + "\n" + Principal.Subject;

    public override string ToString() => Principal.Subject; // never the token
}
