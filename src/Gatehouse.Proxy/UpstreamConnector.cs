using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using Gatehouse.Protocol;

namespace Gatehouse.Proxy;

/// <summary>A logged-in upstream connection, ready for queries.</summary>
public sealed class UpstreamConnection(Socket socket, Stream stream) : IAsyncDisposable
{
    public Socket Socket { get; } = socket;

    public Stream Stream { get; } = stream;

    public int ProcessId { get; init; }

    public int SecretKey { get; init; }

    /// <summary>The raw ParameterStatus frames the server sent during startup, to replay to the client.</summary>
    public required byte[] ParameterStatusFrames { get; init; }

    public TransactionStatus Status { get; init; } = TransactionStatus.Idle;

    public async ValueTask DisposeAsync()
    {
        await Stream.DisposeAsync();
        Socket.Dispose();
    }
}

/// <summary>Why an upstream login failed: a result, not an exception, so the client gets a clear error.</summary>
public sealed record UpstreamFailure(string SqlState, string Message);

/// <summary>Opens connections to a target: TCP, TLS as the target's mode says, then SCRAM/MD5/cleartext login.</summary>
public static class UpstreamConnector
{
    private const int MaxStartupMessage = 1024 * 1024;

    public static async ValueTask<(UpstreamConnection? Connection, UpstreamFailure? Failure)> ConnectAsync(
        UpstreamTarget target, string user, string password, IEnumerable<KeyValuePair<string, string>> parameters, CancellationToken ct)
    {
        Socket? socket = null;
        Stream? stream = null;
        try
        {
            (socket, stream, var certificate) = await OpenAsync(target, ct);
            using var writer = new MessageWriter();
            FrontendMessages.WriteStartup(writer, [new("user", user), new("database", target.Database), .. parameters]);
            await stream.WriteAsync(writer.WrittenMemory, ct);
            var (connection, failure) = await LoginAsync(socket, stream, certificate, user, password, writer, ct);
            if (connection is not null)
            {
                return (connection, null);
            }

            await stream.DisposeAsync();
            socket.Dispose();
            return (null, failure);
        }
        catch (Exception ex) when (ex is SocketException or IOException or AuthenticationException or ProtocolException)
        {
            if (stream is not null)
            {
                await stream.DisposeAsync();
            }

            socket?.Dispose();
            return (null, new UpstreamFailure(SqlStates.SqlClientUnableToEstablishConnection, $"cannot reach target '{target.Name}': {ex.Message}"));
        }
    }

    /// <summary>Sends a CancelRequest with the real upstream key over a fresh connection.</summary>
    public static async ValueTask CancelAsync(UpstreamTarget target, int processId, int secretKey, CancellationToken ct)
    {
        var (socket, stream, _) = await OpenAsync(target, ct);
        await using (stream)
        using (socket)
        {
            using var writer = new MessageWriter();
            FrontendMessages.WriteCancelRequest(writer, processId, secretKey);
            await stream.WriteAsync(writer.WrittenMemory, ct);
            await stream.FlushAsync(ct);
            // The server closes the connection after reading the request.
            await stream.ReadAtLeastAsync(new byte[1], 1, throwOnEndOfStream: false, ct);
        }
    }

    private static async ValueTask<(Socket, Stream, X509Certificate2?)> OpenAsync(UpstreamTarget target, CancellationToken ct)
    {
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(target.Host, target.Port, ct);
            Stream stream = new NetworkStream(socket, ownsSocket: false);
            if (target.Tls == UpstreamTlsMode.Disable)
            {
                return (socket, stream, null);
            }

            await stream.WriteAsync(FrontendMessages.SslRequest.ToArray(), ct);
            var answer = new byte[1];
            if (!await StreamReads.ReadExactlyOrEndAsync(stream, answer, ct) || answer[0] != (byte)'S')
            {
                throw new AuthenticationException($"target '{target.Name}' does not accept TLS (tls: {target.Tls})");
            }

            var ssl = new SslStream(stream, leaveInnerStreamOpen: false);
            await ssl.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
            {
                TargetHost = target.Host,
                ApplicationProtocols = [new SslApplicationProtocol("postgresql")],
                RemoteCertificateValidationCallback = (_, cert, chain, errors) => UpstreamTrust.Validate(target, cert, errors),
            }, ct);
            var certificate = ssl.RemoteCertificate is null ? null : new X509Certificate2(ssl.RemoteCertificate);
            return (socket, ssl, certificate);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    private static async ValueTask<(UpstreamConnection?, UpstreamFailure?)> LoginAsync(
        Socket socket, Stream stream, X509Certificate2? certificate, string user, string password, MessageWriter writer, CancellationToken ct)
    {
        ScramSha256Client? scram = null;
        using var parameterStatuses = new MessageWriter();
        int processId = 0, secretKey = 0;
        bool authenticated = false;
        while (true)
        {
            var message = await StreamReads.ReadTypedAsync(stream, MaxStartupMessage, ct)
                ?? throw new ProtocolException("the server closed the connection during login");
            var (code, payload) = message;
            var reader = new PayloadReader(payload);
            switch ((BackendMessageCode)code)
            {
                case BackendMessageCode.Authentication:
                    reader.TryReadInt32(out int type);
                    writer.Reset();
                    switch ((AuthenticationRequestType)type)
                    {
                        case AuthenticationRequestType.Ok:
                            authenticated = true;
                            continue;
                        case AuthenticationRequestType.CleartextPassword:
                            FrontendMessages.WritePassword(writer, password);
                            break;
                        case AuthenticationRequestType.Md5Password when reader.TryReadBytes(4, out var salt):
                            FrontendMessages.WritePassword(writer, Md5Password.Compute(user, password, salt));
                            break;
                        case AuthenticationRequestType.Sasl:
                            var mechanisms = new List<string>();
                            while (reader.TryReadCString(out var mechanism) && mechanism.Length > 0)
                            {
                                mechanisms.Add(mechanism);
                            }

                            if (!mechanisms.Contains("SCRAM-SHA-256"))
                            {
                                return (null, new UpstreamFailure(SqlStates.FeatureNotSupported, "the server offers no supported SASL mechanism"));
                            }

                            scram = new ScramSha256Client(password, mechanisms, certificate);
                            FrontendMessages.WriteSaslInitialResponse(writer, scram.Mechanism, scram.ClientFirstMessage());
                            break;
                        case AuthenticationRequestType.SaslContinue when scram is not null:
                            var final = scram.ClientFinalMessage(reader.Rest, out var scramError);
                            if (final is null)
                            {
                                return (null, new UpstreamFailure(SqlStates.ProtocolViolation, scramError!));
                            }

                            FrontendMessages.WriteSaslResponse(writer, final);
                            break;
                        case AuthenticationRequestType.SaslFinal when scram is not null:
                            if (!scram.VerifyServerFinal(reader.Rest))
                            {
                                return (null, new UpstreamFailure(SqlStates.InvalidAuthorizationSpecification, "the server's SCRAM signature is wrong: it does not know the password"));
                            }

                            continue;
                        default:
                            return (null, new UpstreamFailure(SqlStates.FeatureNotSupported, $"the server asked for unsupported authentication method {type}"));
                    }

                    await stream.WriteAsync(writer.WrittenMemory, ct);
                    break;
                case BackendMessageCode.ErrorResponse:
                    var error = ErrorFields.Parse(new(payload));
                    return (null, new UpstreamFailure(error.SqlState, error.Message));
                case BackendMessageCode.ParameterStatus:
                    parameterStatuses.WriteByte(code).WriteInt32(payload.Length + 4).WriteBytes(payload);
                    break;
                case BackendMessageCode.BackendKeyData:
                    reader.TryReadInt32(out processId);
                    reader.TryReadInt32(out secretKey);
                    break;
                case BackendMessageCode.NoticeResponse or BackendMessageCode.NegotiateProtocolVersion:
                    break;
                case BackendMessageCode.ReadyForQuery when authenticated:
                    reader.TryReadByte(out byte status);
                    return (new UpstreamConnection(socket, stream)
                    {
                        ProcessId = processId,
                        SecretKey = secretKey,
                        ParameterStatusFrames = parameterStatuses.ToArray(),
                        Status = (TransactionStatus)status,
                    }, null);
                default:
                    throw new ProtocolException($"unexpected message '{StreamReads.Printable(code)}' during login");
            }
        }
    }
}
