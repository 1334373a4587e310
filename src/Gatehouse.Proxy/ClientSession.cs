using Gatehouse.Pipeline;
using System.Net.Sockets;
using System.Security.Authentication;
using Gatehouse.Protocol;
using Microsoft.Extensions.Logging;

namespace Gatehouse.Proxy;

/// <summary>
/// One client connection, from its first byte to its last.
/// <code>
///  client ──TLS/startup──► ClientHandshake ──token──► IClientAuthenticator ──identity──► ISessionAdmission
///                                                                                        │ upstream login, pipeline
///  client ◄─AuthOk, ParameterStatus, our BackendKeyData, ReadyForQuery── UpstreamConnector ◄┘
///  client ══ ClientToServerPump (Query/Parse → StatementPipeline → ticket | refusal) ═══► server
///                    │ entries: one per request the server answers
///                    ▼
///               StatementLedger (pairs responses with tickets; commits effects; swaps refusal errors)
///                    ▲
///  client ◄═ ServerToClientPump (rows streamed; completions, errors, ReadyForQuery looked at) ═══ server
///                    SessionLimitWatch (the grant's limits: statement, transaction, idle-in-transaction timeouts)
/// </code>
/// Until its token is validated the connection holds an unauthenticated slot (<see cref="ConnectionSlots"/>) and has
/// limits.auth_timeout; the upstream login then has what is left of limits.startup_timeout.
/// Expected failures (bad token, unknown target, upstream down) become ErrorResponses; only bugs throw.
/// </summary>
/// <param name="frontDoor">Mcp: the session came through the MCP door's private Unix socket (<see cref="UnixSocketListener"/>).</param>
public sealed class ClientSession(Socket socket, ProxyServices services, ConnectionSlots.Slot slot, FrontDoor frontDoor = FrontDoor.Wire)
{
    private readonly ILogger _logger = services.LoggerFactory.CreateLogger<ClientSession>();
    private readonly string _id = Guid.NewGuid().ToString("N")[..12];

    public async Task RunAsync(CancellationToken stopping)
    {
        var remote = socket.RemoteEndPoint;
        Stream? clientStream = null;
        AdmittedSession? admission = null;
        UpstreamConnection? upstream = null;
        IDisposable? grantSession = null;
        LiveSession? live = null;
        int cancelKey = 0;
        bool metered = false;
        using var startupTimeout = CancellationTokenSource.CreateLinkedTokenSource(stopping);
        using var authTimeout = CancellationTokenSource.CreateLinkedTokenSource(startupTimeout.Token, slot.EvictedToken);
        try
        {
            startupTimeout.CancelAfter(services.Options.Limits.StartupTimeout);
            authTimeout.CancelAfter(services.Options.Limits.AuthTimeout);
            var outcome = await ClientHandshake.RunAsync(socket, services.Certificate, authTimeout.Token);
            if (outcome is HandshakeOutcome.Cancel cancel)
            {
                await ForwardCancelAsync(cancel, remote);
                return;
            }

            if (outcome is HandshakeOutcome.Violation violation)
            {
                clientStream = violation.Stream; // TLS once negotiated: never plaintext into a TLS channel
                Log.ProtocolViolation(_logger, _id, violation.Message);
                await TrySendErrorAsync(clientStream, SqlStates.ProtocolViolation, "gatehouse: " + violation.Message);
                return;
            }

            if (outcome is not HandshakeOutcome.Startup startup)
            {
                return;
            }

            clientStream = startup.Stream;
            var admitted = await AdmitClientAsync(startup, remote, authTimeout.Token, startupTimeout.Token);
            if (admitted.Error is not null)
            {
                Log.ConnectionRefused(_logger, remote, Log.Printable(admitted.Error.Message));
                await SendErrorAsync(clientStream, admitted.Error.SqlState, admitted.Error.Message, "FATAL");
                return;
            }

            if (admitted.Admission is null)
            {
                return; // the client left during authentication
            }

            admission = admitted.Admission;
            if (admission.Grant is { } grant)
            {
                grantSession = services.GrantSessions.TryEnter(admitted.Principal!.Subject, admitted.Target!.Name, grant);
                if (grantSession is null)
                {
                    string message = $"gatehouse: too many sessions for \"{admitted.Principal.Subject}\" on target \"{admitted.Target.Name}\": "
                        + $"the grant allows {grant.Limits.MaxConnections} at once (limits.max_connections)";
                    Log.ConnectionRefused(_logger, remote, Log.Printable(message));
                    await SendErrorAsync(clientStream, SqlStates.TooManyConnections, message, "FATAL");
                    return;
                }
            }

            (upstream, var failure) = await UpstreamConnector.ConnectAsync(
                admitted.Target!, admission.UpstreamUser, admission.UpstreamPassword, admitted.Parameters!, startupTimeout.Token);
            if (upstream is null)
            {
                Log.UpstreamLoginFailed(_logger, admitted.Target!.Name, failure!.Message);
                await SendErrorAsync(clientStream, failure.SqlState, $"gatehouse: upstream login to target \"{admitted.Target.Name}\" failed: {failure.Message}", "FATAL");
                return;
            }

            var target = admitted.Target!;
            if (admission.Pipeline is { } pipeline)
            {
                // Settings the server chose at login (a database or role default) reach the pipeline like later changes.
                ReplayParameterStatus(upstream.ParameterStatusFrames, pipeline);
            }

            var held = admission.Pipeline;
            var (processId, secret) = services.CancelKeys.Register(
                // A statement held for review is not upstream yet: the cancel withdraws its review.
                () => held?.CancelHold() == true ? ValueTask.CompletedTask : UpstreamConnector.CancelAsync(target, upstream.ProcessId, upstream.SecretKey, CancellationToken.None));
            cancelKey = processId;
            await SendLoginCompleteAsync(clientStream, upstream, processId, secret, stopping);
            Log.SessionStarted(_logger, _id, frontDoor == FrontDoor.Mcp ? $"{admitted.ClientAddress} (mcp)" : admitted.ClientAddress, admitted.Principal!.Subject, target.Name, admission.UpstreamUser);
            services.Metrics?.SessionStarted(frontDoor);
            metered = true;
            live = new LiveSession(_id, admitted.Principal, target.Name, frontDoor, admitted.ClientAddress, services.Time.GetUtcNow(), admission.Pipeline);
            services.Live.Add(live);
            await RelayAsync(clientStream, upstream, processId, admission.Pipeline, target, live.EndRequested, stopping);
        }
        catch (ProtocolException ex)
        {
            Log.ProtocolViolation(_logger, _id, ex.Message);
            // Thrown only once the handshake is over, so clientStream is the client's channel (TLS or not).
            await TrySendErrorAsync(clientStream, SqlStates.ProtocolViolation, "gatehouse: " + ex.Message);
        }
        catch (OperationCanceledException) when (!stopping.IsCancellationRequested)
        {
            await StartupEndedAsync(clientStream, remote, startupTimeout.IsCancellationRequested);
        }
        catch (Exception ex) when (ex is IOException or SocketException or AuthenticationException or OperationCanceledException or ObjectDisposedException)
        {
            Log.ClientGone(_logger, _id, ex.Message);
        }
        catch (Exception ex)
        {
            Log.SessionFailed(_logger, ex, _id);
            await TrySendErrorAsync(clientStream, SqlStates.InternalError, "gatehouse: internal error; the session was closed");
        }
        finally
        {
            if (cancelKey != 0)
            {
                services.CancelKeys.Unregister(cancelKey);
            }

            if (metered)
            {
                services.Metrics?.SessionEnded(frontDoor);
            }

            if (upstream is not null)
            {
                await upstream.DisposeAsync();
                Log.SessionEnded(_logger, _id);
            }

            if (admission is not null)
            {
                await admission.DisposeAsync();
            }

            grantSession?.Dispose();

            if (clientStream is not null)
            {
                await clientStream.DisposeAsync();
            }

            socket.Dispose();
            if (live is not null)
            {
                // After the admission's disposal, which wrote session.end: an administrator's DELETE returns then.
                services.Live.Remove(live);
                live.Gone();
            }
        }
    }

    private sealed record ClientAdmission(
        AdmittedSession? Admission, Refusal? Error, UpstreamTarget? Target = null, Principal? Principal = null,
        List<KeyValuePair<string, string>>? Parameters = null, string? ClientAddress = null);

    /// <summary>The client did not finish in time, or a newer connection took its slot before it authenticated.</summary>
    private async ValueTask StartupEndedAsync(Stream? clientStream, System.Net.EndPoint? remote, bool startupExpired)
    {
        string reason;
        if (slot.Evicted)
        {
            reason = "it had not authenticated when a newer connection needed its slot (limits.max_unauthenticated_per_address or max_client_connections)";
        }
        else if (startupExpired)
        {
            reason = "startup timed out (limits.startup_timeout)";
        }
        else
        {
            reason = "authentication timed out (limits.auth_timeout)";
            Interlocked.Increment(ref services.AuthTimeouts);
        }

        Log.ConnectionRefused(_logger, remote, "closed: " + reason);
        await TrySendErrorAsync(clientStream, slot.Evicted ? SqlStates.TooManyConnections : SqlStates.ProtocolViolation, "gatehouse: connection closed: " + reason);
    }

    private async ValueTask<ClientAdmission> AdmitClientAsync(
        HandshakeOutcome.Startup startup, System.Net.EndPoint? remote, CancellationToken authCt, CancellationToken ct)
    {
        var options = services.Options;
        // The Unix socket never leaves the host (0600, in the state directory): no TLS to require there.
        if (!startup.Encrypted && socket.AddressFamily != AddressFamily.Unix && (options.Tls.Require || !ClientHandshake.IsLoopback(remote)))
        {
            return new(null, new(RefusalKind.AuthenticationFailed, SqlStates.InvalidAuthorizationSpecification, "gatehouse: TLS is required: connect with sslmode=require (the password is a token)"));
        }

        var (parameters, parameterRefusal) = StartupParameterFilter.Filter(startup.Parameters);
        if (parameterRefusal is not null)
        {
            return new(null, new(RefusalKind.SessionGuard, SqlStates.InsufficientPrivilege, "gatehouse: " + parameterRefusal));
        }

        string? database = startup.Parameters["database"] ?? startup.Parameters["user"];
        if (startup.Parameters["user"] is null)
        {
            return new(null, new(RefusalKind.AuthenticationFailed, SqlStates.InvalidAuthorizationSpecification, "gatehouse: no user name given in the startup packet"));
        }

        if (database is null || !options.Targets.TryGetValue(database, out var target))
        {
            // Not authenticated yet: the target names are not told to whoever can reach the port.
            return new(null, Refusals.UnknownTarget(database, []));
        }

        string? token = await ClientHandshake.ReadPasswordAsync(startup.Stream, authCt);
        if (token is null)
        {
            return new(null, null);
        }

        var authentication = await services.Authenticator.AuthenticateAsync(token, authCt);
        if (authentication.Principal is null)
        {
            return new(null, Refusals.AuthenticationFailed(authentication.SqlState, authentication.Reason));
        }

        if (!slot.Authenticated())
        {
            authCt.ThrowIfCancellationRequested();
            throw new OperationCanceledException(slot.EvictedToken); // evicted just as the token was validated
        }

        // A session of the MCP door's socket is the agent's HTTP request: its address, not the socket's empty one.
        string? client = frontDoor == FrontDoor.Mcp ? McpClientAddress.Read(startup.Parameters["application_name"]) : remote?.ToString();
        var origin = new SessionOrigin(client, startup.Stream is System.Net.Security.SslStream tls ? $"{tls.SslProtocol} {tls.NegotiatedCipherSuite}" : null);
        var (admission, refusal) = await services.Admission.AdmitAsync(authentication.Principal, target.Name, frontDoor, _id, ct, origin);
        return new(admission, refusal, target, authentication.Principal, parameters, client);
    }

    private static void ReplayParameterStatus(byte[] frames, StatementPipeline pipeline)
    {
        var rest = frames.AsSpan();
        while (rest.Length >= FrameHeader.Size)
        {
            int length = System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(rest[1..]);
            if (length < 4 || rest.Length < 1 + length)
            {
                return;
            }

            var reader = new PayloadReader(rest[FrameHeader.Size..(1 + length)]);
            if (reader.TryReadCString(out var name) && reader.TryReadCString(out var value))
            {
                pipeline.OnServerSetting(name, value);
            }

            rest = rest[(1 + length)..];
        }
    }

    private static async ValueTask SendLoginCompleteAsync(Stream client, UpstreamConnection upstream, int processId, int secret, CancellationToken ct)
    {
        using var writer = new MessageWriter();
        writer.WriteBytes(BackendMessages.AuthenticationOk);
        writer.WriteBytes(upstream.ParameterStatusFrames);
        BackendMessages.WriteBackendKeyData(writer, processId, secret);
        BackendMessages.WriteReadyForQuery(writer, upstream.Status);
        await client.WriteAsync(writer.WrittenMemory, ct);
        await client.FlushAsync(ct);
    }

    private async Task RelayAsync(
        Stream client, UpstreamConnection upstream, int clientPid, StatementPipeline? pipeline, UpstreamTarget target, Task<(string, string)> endRequested, CancellationToken stopping)
    {
        // The gateway stopping ends the session as an administrator would (FATAL 57P01, the statement cancelled
        // upstream), not by cutting the pumps off, which the client would only see as a lost connection.
        using var done = new CancellationTokenSource();
        var shutdown = new TaskCompletionSource<(string, string)>(TaskCreationOptions.RunContinuationsAsynchronously);
        using var shuttingDown = stopping.Register(() =>
        {
            if (pipeline is not null)
            {
                pipeline.Session.EndReason ??= "the gateway stopped";
            }

            shutdown.TrySetResult((SqlStates.AdminShutdown, "gatehouse: terminating connection because the gateway is shutting down"));
        });
        var ended = Task.WhenAny(endRequested, shutdown.Task).Unwrap();
        using var limits = pipeline is null ? null : new SessionLimitWatch(
            () => pipeline.Limits, () => UpstreamConnector.CancelAsync(target, upstream.ProcessId, upstream.SecretKey, CancellationToken.None), services.Time);
        var ledger = new StatementLedger
        {
            UpstreamLatency = services.Metrics?.UpstreamLatency,
            SessionHasMasks = () => pipeline?.HasMasks == true,
            RequestsSkipped = limits is null ? null : limits.Skipped,
        };
        using var toServer = new ClientToServerPump(client, upstream.Stream, services.Options.Limits.MaxMessageBytes, pipeline, ledger, limits);
        using var toClient = new ServerToClientPump(upstream.Stream, client, pipeline, ledger, limits, (upstream.ProcessId, clientPid));
        if (pipeline is not null)
        {
            pipeline.OnHold = async message =>
            {
                await NoticeAsync(toClient, message, done.Token);
                _ = WatchForHangupAsync(pipeline, done.Token);
            };
        }

        var clientSide = toServer.RunAsync(done.Token);
        var serverSide = toClient.RunAsync(done.Token);
        var limitEnded = limits?.Ended ?? new TaskCompletionSource<(string, string)>().Task;
        var first = await Task.WhenAny(clientSide, serverSide, limitEnded, ended);
        if ((first == limitEnded && limits is not null) || first == ended)
        {
            // A transaction limit of the grant, an administrator or the gateway stopping: the session ends as PostgreSQL ends one (FATAL), upstream closed.
            var (sqlState, message) = await (Task<(string, string)>)first;
            if (first == ended)
            {
                Log.SessionEnded(_logger, _id, message);
            }
            else
            {
                Log.SessionLimit(_logger, _id, message);
            }
            await done.CancelAsync();
            await QuietlyAsync(Task.WhenAll(clientSide, serverSide));
            if (first == ended)
            {
                await CancelUpstreamAsync(target, upstream);
            }

            if (toClient.AtFrameBoundary)
            {
                await TrySendErrorAsync(client, sqlState, message);
            }

            return;
        }

        if (first == serverSide && !toServer.ClientTerminated)
        {
            string reason = serverSide.Exception?.GetBaseException().Message ?? "the server closed the connection";
            if (!toClient.ServerSentFatal)
            {
                Log.UpstreamLost(_logger, _id, reason);
                await TrySendErrorAsync(client, SqlStates.ConnectionFailure, "gatehouse: upstream connection lost");
            }
        }
        else if (clientSide.IsFaulted && clientSide.Exception!.GetBaseException() is ProtocolException protocolError)
        {
            Log.ProtocolViolation(_logger, _id, protocolError.Message);
            await done.CancelAsync();
            await TrySendErrorAsync(client, SqlStates.ProtocolViolation, "gatehouse: " + protocolError.Message);
        }

        await done.CancelAsync();
        await QuietlyAsync(Task.WhenAll(clientSide, serverSide));
    }

    // A statement still running upstream would outlive the closed socket (pg_sleep never reads it): cancel it, unheard.
    private static async Task CancelUpstreamAsync(UpstreamTarget target, UpstreamConnection upstream)
    {
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(2));
            await UpstreamConnector.CancelAsync(target, upstream.ProcessId, upstream.SecretKey, timeout.Token);
        }
        catch (Exception ex) when (ex is IOException or SocketException or OperationCanceledException or AuthenticationException)
        {
            // Closing the connection still ends the backend once its statement is done.
        }
    }

    private static readonly TimeSpan HangupPoll = TimeSpan.FromMilliseconds(500);

    /// <summary>
    /// While a statement is held the client's socket is not read, so a client that went away would not be seen until
    /// the review ended, and an approval would run its statement for nobody. A socket that reads as closed (readable,
    /// nothing to read) withdraws the review, as the client's cancel request would.
    /// </summary>
    private async Task WatchForHangupAsync(StatementPipeline pipeline, CancellationToken ct)
    {
        try
        {
            while (pipeline.Holding && !ct.IsCancellationRequested)
            {
                await Task.Delay(HangupPoll, services.Time, ct);
                if (PeerClosed(socket))
                {
                    Log.ClientGoneWhileHeld(_logger, _id);
                    pipeline.CancelHold();
                    return;
                }
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException or SocketException)
        {
            // The session ended meanwhile.
        }
    }

    /// <summary>
    /// The client closed its side. On Linux TCP the connection's state says so (CLOSE_WAIT) even with bytes still unread
    /// (a Terminate message, a TLS close_notify); elsewhere a socket that is readable with nothing to read.
    /// </summary>
    private static bool PeerClosed(Socket client)
    {
        const int IpProtoTcp = 6, TcpInfo = 11, TcpCloseWait = 8;
        if (OperatingSystem.IsLinux() && client.AddressFamily is AddressFamily.InterNetwork or AddressFamily.InterNetworkV6)
        {
            Span<byte> info = stackalloc byte[8];
            return client.GetRawSocketOption(IpProtoTcp, TcpInfo, info) > 0 && info[0] == TcpCloseWait;
        }

        return client.Poll(0, SelectMode.SelectRead) && client.Available == 0;
    }

    // psql and other clients show notices: the review id and where to approve it, while the statement waits.
    private static async ValueTask NoticeAsync(ServerToClientPump toClient, string message, CancellationToken ct)
    {
        using var writer = new MessageWriter();
        BackendMessages.WriteError(writer, new ErrorFields("NOTICE", "01000", message), notice: true);
        await toClient.WriteBetweenFramesAsync(writer.WrittenMemory, ct);
    }

    private static async Task QuietlyAsync(Task pumps)
    {
        try
        {
            await pumps;
        }
        catch (Exception ex) when (ex is OperationCanceledException or IOException or SocketException or ProtocolException or EndOfStreamException or ObjectDisposedException)
        {
            // The session is over either way; the first outcome was handled above.
        }
    }

    private async ValueTask ForwardCancelAsync(HandshakeOutcome.Cancel cancel, System.Net.EndPoint? remote)
    {
        var forward = services.CancelKeys.Find(cancel.ProcessId, cancel.SecretKey);
        if (forward is null)
        {
            Log.CancelRejected(_logger, remote);
            return;
        }

        await forward();
        Log.CancelForwarded(_logger, _id);
    }

    private static async ValueTask SendErrorAsync(Stream stream, string sqlState, string message, string severity = "ERROR")
    {
        await stream.WriteAsync(BackendMessages.Error(sqlState, message, severity));
        await stream.FlushAsync();
    }

    private static async ValueTask TrySendErrorAsync(Stream? stream, string sqlState, string message)
    {
        if (stream is null)
        {
            return;
        }

        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(2));
            await stream.WriteAsync(BackendMessages.Error(sqlState, message, "FATAL"), timeout.Token);
            await stream.FlushAsync(timeout.Token);
        }
        catch (Exception ex) when (ex is IOException or SocketException or OperationCanceledException or ObjectDisposedException or InvalidOperationException or NotSupportedException)
        {
            // The client is gone; there is nobody to tell.
        }
    }
}
