using System.Buffers.Binary;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using Gatehouse.Protocol;

namespace Gatehouse.Proxy;

/// <summary>What the startup phase of a client connection ended with.</summary>
internal abstract record HandshakeOutcome
{
    public sealed record Startup(Stream Stream, StartupParameters Parameters, bool Encrypted) : HandshakeOutcome;

    public sealed record Cancel(int ProcessId, int SecretKey) : HandshakeOutcome;

    /// <summary>
    /// The client broke the protocol (08P01). Stream is the channel in use when it did: the TLS stream once TLS is up,
    /// so the error is never written in plaintext into a TLS channel.
    /// </summary>
    public sealed record Violation(Stream Stream, string Message) : HandshakeOutcome;

    /// <summary>The client left, or was sent an error already.</summary>
    public sealed record Closed(string Reason) : HandshakeOutcome;
}

/// <summary>
/// The client's startup phase: direct TLS or SSLRequest, GSSENCRequest ('N'), CancelRequest, and the
/// StartupMessage. Reads exactly one packet at a time so nothing unencrypted is buffered across the TLS switch.
/// A malformed packet is a <see cref="HandshakeOutcome.Violation"/>, not an exception: only the handshake knows whether
/// the answer must go over TLS.
/// </summary>
internal static class ClientHandshake
{
    private const byte TlsHandshakeRecord = 0x16;
    private static readonly SslApplicationProtocol PostgresAlpn = new("postgresql");

    public static async ValueTask<HandshakeOutcome> RunAsync(Socket socket, X509Certificate2 certificate, CancellationToken ct)
    {
        Stream stream = new NetworkStream(socket, ownsSocket: false);
        bool encrypted = false;
        var first = new byte[1];
        if (await socket.ReceiveAsync(first, SocketFlags.Peek, ct) == 0)
        {
            return new HandshakeOutcome.Closed("closed before startup");
        }

        if (first[0] == TlsHandshakeRecord)
        {
            var tls = await StartTlsAsync(stream, certificate, ct);
            stream = tls;
            encrypted = true;
            if (tls.NegotiatedApplicationProtocol != PostgresAlpn)
            {
                return new HandshakeOutcome.Violation(stream, "direct TLS connections must use ALPN \"postgresql\"");
            }
        }

        var header = new byte[8];
        while (true)
        {
            if (!await StreamReads.ReadExactlyOrEndAsync(stream, header.AsMemory(0, 4), ct))
            {
                return new HandshakeOutcome.Closed("closed during startup");
            }

            int length = BinaryPrimitives.ReadInt32BigEndian(header);
            if (length < 8 || length > FrameReader.MaxStartupPacketLength)
            {
                return new HandshakeOutcome.Violation(stream, $"invalid startup packet length {length}");
            }

            var body = new byte[length - 4];
            if (!await StreamReads.ReadExactlyOrEndAsync(stream, body, ct))
            {
                return new HandshakeOutcome.Closed("closed during startup");
            }

            int code = BinaryPrimitives.ReadInt32BigEndian(body);
            switch (code)
            {
                case StartupCodes.SslRequest when !encrypted && length == 8:
                    // Bytes sent along with the request would be read as if they had come encrypted.
                    if (socket.Available > 0)
                    {
                        return new HandshakeOutcome.Violation(stream, "received unencrypted data after SSL request");
                    }

                    await stream.WriteAsync(BackendMessages.SslAccepted.ToArray(), ct);

                    stream = await StartTlsAsync(stream, certificate, ct);
                    encrypted = true;
                    continue;
                case StartupCodes.GssEncRequest when !encrypted && length == 8:
                    await stream.WriteAsync(BackendMessages.EncryptionRefused.ToArray(), ct);
                    continue;
                case StartupCodes.CancelRequest when length == 16:
                    return new HandshakeOutcome.Cancel(BinaryPrimitives.ReadInt32BigEndian(body.AsSpan(4)), BinaryPrimitives.ReadInt32BigEndian(body.AsSpan(8)));
                case StartupCodes.SslRequest or StartupCodes.GssEncRequest or StartupCodes.CancelRequest:
                    return new HandshakeOutcome.Violation(stream, "unexpected encryption or cancel request");
            }

            if (code >> 16 != 3)
            {
                return new HandshakeOutcome.Violation(stream, $"unsupported frontend protocol {code >> 16}.{code & 0xffff}: server supports 3.0");
            }

            if (StartupParameters.TryParse(new(body.AsMemory(4)), out var error) is not { } parameters)
            {
                return new HandshakeOutcome.Violation(stream, error!);
            }

            if ((code & 0xffff) != 0)
            {
                await NegotiateDownAsync(stream, parameters, ct);
            }

            return new HandshakeOutcome.Startup(stream, parameters, encrypted);
        }
    }

    /// <summary>Reads the PasswordMessage that answers AuthenticationCleartextPassword; null when the client left.</summary>
    public static async ValueTask<string?> ReadPasswordAsync(Stream stream, CancellationToken ct)
    {
        await stream.WriteAsync(BackendMessages.AuthenticationCleartextPassword.ToArray(), ct);
        var message = await StreamReads.ReadTypedAsync(stream, 64 * 1024, ct);
        if (message is null || message.Value.Code == (byte)FrontendMessageCode.Terminate)
        {
            return null;
        }

        if (message.Value.Code != (byte)FrontendMessageCode.Password)
        {
            throw new ProtocolException($"expected a password message, got '{StreamReads.Printable(message.Value.Code)}'");
        }

        var reader = new PayloadReader(message.Value.Payload);
        if (!reader.TryReadCString(out var password) || !reader.AtEnd)
        {
            throw new ProtocolException("malformed password message");
        }

        return password;
    }

    public static bool IsLoopback(EndPoint? endPoint) => endPoint is IPEndPoint ip && IPAddress.IsLoopback(ip.Address);

    private static async ValueTask<SslStream> StartTlsAsync(Stream stream, X509Certificate2 certificate, CancellationToken ct)
    {
        var ssl = new SslStream(stream, leaveInnerStreamOpen: false);
        await ssl.AuthenticateAsServerAsync(new SslServerAuthenticationOptions
        {
            ServerCertificate = certificate,
            ApplicationProtocols = [PostgresAlpn],
        }, ct);
        return ssl;
    }

    /// <summary>A 3.x client newer than 3.0 is told the version we speak and which _pq_ options we ignore.</summary>
    private static async ValueTask NegotiateDownAsync(Stream stream, StartupParameters parameters, CancellationToken ct)
    {
        var unsupported = parameters.Items.Where(p => p.Key.StartsWith("_pq_.", StringComparison.Ordinal)).ToList();
        using var writer = new MessageWriter();
        writer.StartMessage((byte)BackendMessageCode.NegotiateProtocolVersion).WriteInt32(StartupCodes.ProtocolVersion3).WriteInt32(unsupported.Count);
        foreach (var option in unsupported)
        {
            writer.WriteCString(option.Key);
        }

        writer.EndMessage();
        await stream.WriteAsync(writer.WrittenMemory, ct);
    }
}
