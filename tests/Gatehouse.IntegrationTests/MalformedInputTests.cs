using System.Buffers.Binary;
using System.Net.Security;
using System.Net.Sockets;
using System.Text;
using Gatehouse.Protocol;
using Npgsql;

namespace Gatehouse.IntegrationTests;

/// <summary>Bytes no real client sends: each gets a clear 08P01 where the protocol allows, and nobody else notices.</summary>
[Collection(GatewayCollection.Name)]
public sealed class MalformedInputTests(GatewayFixture fixture)
{
    private async Task<NetworkStream> ConnectAsync()
    {
        var client = new TcpClient();
        await client.ConnectAsync("127.0.0.1", fixture.Port);
        return client.GetStream();
    }

    private static byte[] Startup(string user = "agent", string database = TestGateway.Target, int version = StartupCodes.ProtocolVersion3)
    {
        using var writer = new MessageWriter();
        writer.StartUntypedMessage().WriteInt32(version).WriteCString("user").WriteCString(user).WriteCString("database").WriteCString(database).WriteByte(0).EndMessage();
        return writer.ToArray();
    }

    /// <summary>Reads everything until the gateway closes; fails if it does not close within the timeout.</summary>
    private static async Task<byte[]> ReadUntilClosedAsync(Stream stream)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var all = new MemoryStream();
        var buffer = new byte[4096];
        try
        {
            int read;
            while ((read = await stream.ReadAsync(buffer, timeout.Token)) > 0)
            {
                all.Write(buffer, 0, read);
            }
        }
        catch (IOException)
        {
            // A reset after the error is as good as a close.
        }

        return all.ToArray();
    }

    private static ErrorFields SingleError(byte[] response)
    {
        Assert.True(response.Length > 5, "expected an ErrorResponse");
        Assert.Equal((byte)'E', response[0]);
        int length = BinaryPrimitives.ReadInt32BigEndian(response.AsSpan(1));
        return ErrorFields.Parse(new System.Buffers.ReadOnlySequence<byte>(response.AsMemory(5, length - 4)));
    }

    private async Task AssertGatewayStillServesAsync()
    {
        await using var connection = await fixture.OpenAsync();
        await using var command = new NpgsqlCommand("SELECT 1", connection);
        Assert.Equal(1, await command.ExecuteScalarAsync());
    }

    [Theory]
    [InlineData(10_001)]
    [InlineData(4)]
    [InlineData(-1)]
    public async Task A_startup_packet_with_a_bad_length_gets_08P01(int length)
    {
        await using var stream = await ConnectAsync();
        var packet = new byte[8];
        BinaryPrimitives.WriteInt32BigEndian(packet, length);
        BinaryPrimitives.WriteInt32BigEndian(packet.AsSpan(4), StartupCodes.ProtocolVersion3);
        await stream.WriteAsync(packet);
        var error = SingleError(await ReadUntilClosedAsync(stream));
        Assert.Equal("08P01", error.SqlState);
        Assert.Contains("invalid startup packet length", error.Message, StringComparison.Ordinal);
        await AssertGatewayStillServesAsync();
    }

    [Fact]
    public async Task An_unsupported_protocol_version_is_refused()
    {
        await using var stream = await ConnectAsync();
        await stream.WriteAsync(Startup(version: 2 << 16));
        var error = SingleError(await ReadUntilClosedAsync(stream));
        Assert.Equal("08P01", error.SqlState);
        Assert.Contains("unsupported frontend protocol 2.0", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Plaintext_bytes_after_an_ssl_request_end_the_connection()
    {
        await using var stream = await ConnectAsync();
        await stream.WriteAsync(FrontendMessages.SslRequest.ToArray().Concat(Startup()).ToArray());
        var error = SingleError(await ReadUntilClosedAsync(stream));
        Assert.Contains("unencrypted data after SSL request", error.Message, StringComparison.Ordinal);
        await AssertGatewayStillServesAsync();
    }

    [Fact]
    public async Task Garbage_instead_of_a_tls_handshake_closes_only_that_connection()
    {
        await using var stream = await ConnectAsync();
        await stream.WriteAsync(FrontendMessages.SslRequest.ToArray());
        var answer = new byte[1];
        await stream.ReadExactlyAsync(answer);
        Assert.Equal((byte)'S', answer[0]);
        await stream.WriteAsync(Encoding.ASCII.GetBytes("this is not a TLS ClientHello at all\r\n\r\n"));
        await ReadUntilClosedAsync(stream);
        await AssertGatewayStillServesAsync();
    }

    [Fact]
    public async Task A_gss_encryption_request_is_answered_N_and_startup_continues()
    {
        await using var stream = await ConnectAsync();
        var gss = new byte[8];
        BinaryPrimitives.WriteInt32BigEndian(gss, 8);
        BinaryPrimitives.WriteInt32BigEndian(gss.AsSpan(4), StartupCodes.GssEncRequest);
        await stream.WriteAsync(gss);
        var answer = new byte[1];
        await stream.ReadExactlyAsync(answer);
        Assert.Equal((byte)'N', answer[0]);
        await stream.WriteAsync(Startup());
        var request = new byte[9];
        await stream.ReadExactlyAsync(request);
        Assert.Equal(BackendMessages.AuthenticationCleartextPassword.ToArray(), request);
    }

    [Fact]
    public async Task Direct_tls_with_alpn_postgresql_reaches_the_password_request()
    {
        await using var raw = await ConnectAsync();
        await using var tls = new SslStream(raw);
        await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
        {
            TargetHost = "localhost",
            ApplicationProtocols = [new SslApplicationProtocol("postgresql")],
            // The gateway's self-signed certificate: this test is about the handshake, not trust.
#pragma warning disable CA5359
            RemoteCertificateValidationCallback = (_, _, _, _) => true,
#pragma warning restore CA5359
        });
        await tls.WriteAsync(Startup());
        var request = new byte[9];
        await tls.ReadExactlyAsync(request);
        Assert.Equal(BackendMessages.AuthenticationCleartextPassword.ToArray(), request);
    }

    [Theory]
    [InlineData("database", "database")]
    [InlineData("user", "user")]
    public async Task A_bad_startup_message_inside_tls_gets_08P01_over_tls(string first, string second)
    {
        // Was answered in plaintext on the raw socket: the client's TLS layer failed (WRONG_VERSION_NUMBER) and never saw it.
        await using var raw = await ConnectAsync();
        await raw.WriteAsync(FrontendMessages.SslRequest.ToArray());
        var answer = new byte[1];
        await raw.ReadExactlyAsync(answer);
        Assert.Equal((byte)'S', answer[0]);
        await using var tls = await TlsAsync(raw, alpn: false);
        using var writer = new MessageWriter();
        writer.StartUntypedMessage().WriteInt32(StartupCodes.ProtocolVersion3)
            .WriteCString(first).WriteCString("agent").WriteCString(second).WriteCString(TestGateway.Target).WriteByte(0).EndMessage();
        await tls.WriteAsync(writer.WrittenMemory);
        var error = SingleError(await ReadUntilClosedAsync(tls));
        Assert.Equal("08P01", error.SqlState);
        Assert.Equal("FATAL", error.Severity);
        Assert.Equal($"gatehouse: startup parameter \"{second}\" is given twice", error.Message);
        await AssertGatewayStillServesAsync();
    }

    [Fact]
    public async Task Direct_tls_without_alpn_gets_08P01_over_tls()
    {
        await using var raw = await ConnectAsync();
        await using var tls = await TlsAsync(raw, alpn: false);
        var error = SingleError(await ReadUntilClosedAsync(tls));
        Assert.Equal("08P01", error.SqlState);
        Assert.Contains("ALPN \"postgresql\"", error.Message, StringComparison.Ordinal);
    }

    private static async Task<SslStream> TlsAsync(Stream raw, bool alpn)
    {
        var tls = new SslStream(raw, leaveInnerStreamOpen: true);
        await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
        {
            TargetHost = "localhost",
            ApplicationProtocols = alpn ? [new SslApplicationProtocol("postgresql")] : null,
            // The gateway's self-signed certificate: these tests are about the handshake, not trust.
#pragma warning disable CA5359
            RemoteCertificateValidationCallback = (_, _, _, _) => true,
#pragma warning restore CA5359
        });
        return tls;
    }

    [Fact]
    public async Task A_password_message_of_the_wrong_type_gets_08P01()
    {
        await using var stream = await ConnectAsync();
        await stream.WriteAsync(Startup());
        var request = new byte[9];
        await stream.ReadExactlyAsync(request);
        await stream.WriteAsync(new byte[] { (byte)'Q', 0, 0, 0, 5, 0 });
        var error = SingleError(await ReadUntilClosedAsync(stream));
        Assert.Equal("08P01", error.SqlState);
    }

    [Fact]
    public async Task An_unknown_message_type_after_login_ends_only_that_session()
    {
        await using var bystander = await fixture.OpenAsync();
        await using var stream = await LoggedInAsync();
        await stream.WriteAsync(new byte[] { (byte)'z', 0, 0, 0, 4 });
        var error = SingleError(await ReadUntilClosedAsync(stream));
        Assert.Equal("08P01", error.SqlState);
        Assert.Contains("invalid frontend message type 'z'", error.Message, StringComparison.Ordinal);
        await using var command = new NpgsqlCommand("SELECT 2", bystander);
        Assert.Equal(2, await command.ExecuteScalarAsync());
    }

    [Fact]
    public async Task A_message_length_below_four_after_login_gets_08P01()
    {
        await using var stream = await LoggedInAsync();
        await stream.WriteAsync(new byte[] { (byte)'Q', 0, 0, 0, 2 });
        var error = SingleError(await ReadUntilClosedAsync(stream));
        Assert.Equal("08P01", error.SqlState);
    }

    [Fact]
    public async Task A_truncated_frame_followed_by_a_disconnect_harms_nobody()
    {
        await using (var stream = await LoggedInAsync())
        {
            await stream.WriteAsync(new byte[] { (byte)'Q', 0, 0, 1, 0, (byte)'S', (byte)'E' });
        }

        await AssertGatewayStillServesAsync();
    }

    [Fact]
    public async Task The_fastpath_function_call_is_refused_and_the_session_continues()
    {
        await using var stream = await LoggedInAsync();
        using var writer = new MessageWriter();
        writer.StartMessage((byte)FrontendMessageCode.FunctionCall).WriteInt32(1).WriteInt16(0).WriteInt16(0).WriteInt16(0).EndMessage();
        await stream.WriteAsync(writer.WrittenMemory);
        var (code, payload) = await ReadMessageAsync(stream);
        Assert.Equal((byte)'E', code);
        var error = ErrorFields.Parse(new(payload));
        Assert.Equal("42501", error.SqlState);
        Assert.Contains("fastpath", error.Message, StringComparison.Ordinal);
        Assert.Equal((byte)'Z', (await ReadMessageAsync(stream)).Code);
    }

    private async Task<NetworkStream> LoggedInAsync()
    {
        var stream = await ConnectAsync();
        await stream.WriteAsync(Startup());
        Assert.Equal((byte)'R', (await ReadMessageAsync(stream)).Code);
        using var writer = new MessageWriter();
        FrontendMessages.WritePassword(writer, fixture.Token());
        await stream.WriteAsync(writer.WrittenMemory);
        while ((await ReadMessageAsync(stream)).Code != (byte)'Z')
        {
        }

        return stream;
    }

    private static async Task<(byte Code, byte[] Payload)> ReadMessageAsync(Stream stream)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var header = new byte[5];
        await stream.ReadExactlyAsync(header, timeout.Token);
        var payload = new byte[BinaryPrimitives.ReadInt32BigEndian(header.AsSpan(1)) - 4];
        await stream.ReadExactlyAsync(payload, timeout.Token);
        return (header[0], payload);
    }
}
