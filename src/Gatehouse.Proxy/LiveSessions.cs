using System.Collections.Concurrent;
using Gatehouse.Pipeline;
using Gatehouse.Protocol;

namespace Gatehouse.Proxy;

/// <summary>
/// This instance's sessions that are past login, for the admin API (GET /api/sessions/live, DELETE). A session is
/// added once when its relay starts and removed once after its session.end is written; the relay never touches
/// the registry, and what a session is doing is read from its <see cref="SessionContext.Activity"/>.
/// </summary>
public sealed class LiveSessions
{
    private readonly ConcurrentDictionary<string, LiveSession> _sessions = new(StringComparer.Ordinal);

    public IReadOnlyCollection<LiveSession> All => [.. _sessions.Values];

    public LiveSession? Find(string id) => _sessions.GetValueOrDefault(id);

    public bool IsLive(string id) => _sessions.ContainsKey(id);

    internal void Add(LiveSession session) => _sessions[session.Id] = session;

    internal void Remove(LiveSession session) => _sessions.TryRemove(new KeyValuePair<string, LiveSession>(session.Id, session));
}

/// <summary>One live session: who, where, since when, and how to end it.</summary>
public sealed class LiveSession
{
    private readonly TaskCompletionSource<(string SqlState, string Message)> _endRequested = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _gone = new(TaskCreationOptions.RunContinuationsAsynchronously);

    internal LiveSession(string id, Principal principal, string target, FrontDoor frontDoor, string? clientAddress, DateTimeOffset started, StatementPipeline? pipeline)
    {
        Id = id;
        Principal = principal;
        Target = target;
        FrontDoor = frontDoor;
        ClientAddress = clientAddress;
        Started = started;
        Pipeline = pipeline;
    }

    /// <summary>The session id the audit trail records.</summary>
    public string Id { get; }

    public Principal Principal { get; }

    public string Target { get; }

    public FrontDoor FrontDoor { get; }

    public string? ClientAddress { get; }

    public DateTimeOffset Started { get; }

    /// <summary>Null only for hosts that enforce nothing.</summary>
    public StatementPipeline? Pipeline { get; }

    internal Task<(string SqlState, string Message)> EndRequested => _endRequested.Task;

    /// <summary>
    /// Ends the session as PostgreSQL's pg_terminate_backend does (FATAL 57P01), closes its upstream connection, and
    /// completes once the session is gone and its session.end written, or when <paramref name="ct"/> fires.
    /// </summary>
    public Task EndAsync(string by, CancellationToken ct)
    {
        if (Pipeline is not null)
        {
            Pipeline.Session.EndReason ??= $"ended by an administrator ({by})";
        }

        _endRequested.TrySetResult((SqlStates.AdminShutdown, $"gatehouse: session ended by an administrator ({by})"));
        return _gone.Task.WaitAsync(ct);
    }

    internal void Gone() => _gone.TrySetResult();
}
