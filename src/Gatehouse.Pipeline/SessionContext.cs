using Gatehouse.Sql;

namespace Gatehouse.Pipeline;

/// <summary>One admitted session, whichever front door it came through: who, where, and what its SQL session remembers.</summary>
public sealed class SessionContext(string id, Principal principal, string target, FrontDoor frontDoor, string upstreamUser)
{
    public string Id { get; } = id;

    public Principal Principal { get; } = principal;

    public string Target { get; } = target;

    public FrontDoor FrontDoor { get; } = frontDoor;

    /// <summary>The short-lived role the session runs as upstream.</summary>
    public string UpstreamUser { get; } = upstreamUser;

    /// <summary>Prepared statements and cursors, changed only by statements the server ran (<see cref="StatementTicket.Commit"/>).</summary>
    internal SqlSessionState Sql { get; } = new();
}
