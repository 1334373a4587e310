using System.Buffers.Binary;
using System.Net.Sockets;
using Gatehouse.Protocol;

namespace Gatehouse.IntegrationTests;

/// <summary>A client that stops reading must not make the gateway buffer the server's result.</summary>
[Collection(GatewayCollection.Name)]
public sealed class BackpressureTests(GatewayFixture fixture)
{
    [Fact]
    public async Task A_stalled_client_reading_a_large_result_does_not_grow_the_gateways_memory()
    {
        using var client = new TcpClient();
        await client.ConnectAsync("127.0.0.1", fixture.Port);
        var stream = client.GetStream();
        using var writer = new MessageWriter();
        writer.StartUntypedMessage().WriteInt32(StartupCodes.ProtocolVersion3).WriteCString("user").WriteCString("agent").WriteCString("database").WriteCString(TestGateway.Target).WriteByte(0).EndMessage();
        await stream.WriteAsync(writer.WrittenMemory);
        await ReadUntilAsync(stream, (byte)'R');
        writer.Reset();
        FrontendMessages.WritePassword(writer, fixture.Token());
        await stream.WriteAsync(writer.WrittenMemory);
        await ReadUntilAsync(stream, (byte)'Z');

        GC.Collect();
        long before = GC.GetTotalMemory(forceFullCollection: true);
        writer.Reset();
        FrontendMessages.WriteQuery(writer, "SELECT repeat('x', 2000) FROM generate_series(1, 150000)"); // ~300 MB
        await stream.WriteAsync(writer.WrittenMemory);

        // Stall: read nothing while the server would happily send everything. The process also runs other test
        // collections, whose live objects come and go: the least growth over several samples is the gateway's, which
        // would hold hundreds of MiB in every sample if it buffered the result.
        long least = long.MaxValue;
        for (int sample = 0; sample < 5; sample++)
        {
            await Task.Delay(TimeSpan.FromMilliseconds(600));
            least = Math.Min(least, GC.GetTotalMemory(forceFullCollection: true) - before);
        }

        Assert.True(least < 32 * 1024 * 1024, $"managed memory grew by {least / 1024 / 1024} MiB while the client stalled");

        long bytes = await ReadUntilAsync(stream, (byte)'Z');
        Assert.True(bytes > 300_000_000, $"read {bytes} bytes");
    }

    /// <summary>Reads messages until one of the given type; returns the bytes read.</summary>
    private static async Task<long> ReadUntilAsync(NetworkStream stream, byte code)
    {
        var header = new byte[5];
        var skip = new byte[64 * 1024];
        long total = 0;
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        while (true)
        {
            await stream.ReadExactlyAsync(header, timeout.Token);
            int remaining = BinaryPrimitives.ReadInt32BigEndian(header.AsSpan(1)) - 4;
            total += 5 + remaining;
            while (remaining > 0)
            {
                int read = await stream.ReadAsync(skip.AsMemory(0, Math.Min(skip.Length, remaining)), timeout.Token);
                if (read == 0)
                {
                    throw new EndOfStreamException();
                }

                remaining -= read;
            }

            if (header[0] == code)
            {
                return total;
            }
        }
    }
}
