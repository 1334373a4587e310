using Gatehouse.Pipeline;
using System.Text.Json;
using Gatehouse.Proxy.Configuration;

namespace Gatehouse.Proxy;

/// <summary>Who is on the other end of a client connection, as established from their token.</summary>
public sealed record ClientIdentity(string Subject, string Issuer, JsonElement Claims, string TokenHash, DateTimeOffset ExpiresAt);

/// <summary>The outcome of checking a client's password (a token). Failures carry the SQLSTATE and a reason safe to show.</summary>
public sealed record AuthenticationResult(ClientIdentity? Identity, string SqlState, string Reason)
{
    public static AuthenticationResult Success(ClientIdentity identity) => new(identity, string.Empty, string.Empty);
}

/// <summary>Turns the password a client sent into an identity. Implemented by the host over the OIDC validator.</summary>
public interface IClientAuthenticator
{
    ValueTask<AuthenticationResult> AuthenticateAsync(string token, CancellationToken ct);
}

/// <summary>What a session needs once admitted: the upstream login to use and the gate its statements pass.</summary>
public sealed class Admission : IAsyncDisposable
{
    public required string UpstreamUser { get; init; }

    public required string UpstreamPassword { get; init; }

    /// <summary>Null: statements pass through unexamined.</summary>
    public IStatementGate? Gate { get; init; }

    /// <summary>Runs when the session ends, e.g. to release a credential lease.</summary>
    public Func<ValueTask>? OnSessionEnd { get; init; }

    public ValueTask DisposeAsync() => OnSessionEnd?.Invoke() ?? ValueTask.CompletedTask;
}

/// <summary>A refusal at connect time, sent to the client as an ErrorResponse.</summary>
public sealed record AdmissionRefusal(string SqlState, string Message);

/// <summary>Decides whether an authenticated identity may use a target, and with which upstream login.</summary>
public interface ISessionAdmission
{
    ValueTask<(Admission? Admission, AdmissionRefusal? Refusal)> AdmitAsync(ClientIdentity identity, TargetConfig target, string sessionId, CancellationToken ct);
}

