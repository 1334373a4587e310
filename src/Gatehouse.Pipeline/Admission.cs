namespace Gatehouse.Pipeline;

/// <summary>A session that may start: the upstream login to use and the pipeline its statements pass.</summary>
public sealed class AdmittedSession : IAsyncDisposable
{
    public required string UpstreamUser { get; init; }

    public required string UpstreamPassword { get; init; }

    /// <summary>Null: statements pass through unexamined (only for hosts that enforce nothing, e.g. tests of the relay).</summary>
    public StatementPipeline? Pipeline { get; init; }

    /// <summary>The grant that admitted the session (its limits apply at login); null for hosts that enforce nothing.</summary>
    public Gatehouse.Policy.Model.Grant? Grant { get; init; }

    /// <summary>Runs when the session ends, e.g. to release a credential lease.</summary>
    public Func<ValueTask>? OnSessionEnd { get; init; }

    public ValueTask DisposeAsync() => OnSessionEnd?.Invoke() ?? ValueTask.CompletedTask;
}

/// <summary>Decides whether a principal may use a target, and with which upstream login: the same for every front door.</summary>
public interface ISessionAdmission
{
    ValueTask<(AdmittedSession? Session, Refusal? Refusal)> AdmitAsync(
        Principal principal, string target, FrontDoor frontDoor, string sessionId, CancellationToken ct, SessionOrigin? origin = null);
}
