using System.Buffers;
using System.Text;
using Gatehouse.Protocol;

namespace Gatehouse.Protocol.Tests;

/// <summary>Random and mutated bytes through every parser of the codec: results or false, never an exception.</summary>
public sealed class FuzzTests
{
    private static IEnumerable<byte[]> Inputs(int seed, int count)
    {
        var random = new Random(seed);
        byte[][] seeds =
        [
            [0, 0, 0, 8, 0x04, 0xD2, 0x16, 0x2F],
            [0, 0, 0, 0x21, 0, 3, 0, 0, .. "user\0agent\0database\0shop\0\0"u8.ToArray()],
            [(byte)'Q', 0, 0, 0, 13, .. "SELECT 1;\0"u8.ToArray()],
            BackendMessages.Error("42501", "gatehouse: denied"),
        ];
        for (int i = 0; i < count; i++)
        {
            byte[] input;
            if (i % 2 == 0)
            {
                input = new byte[random.Next(0, 64)];
                random.NextBytes(input);
            }
            else
            {
                input = (byte[])seeds[random.Next(seeds.Length)].Clone();
                for (int flips = random.Next(1, 4); flips > 0 && input.Length > 0; flips--)
                {
                    input[random.Next(input.Length)] = (byte)random.Next(256);
                }

                input = input[..random.Next(0, input.Length + 1)];
            }

            yield return input;
        }
    }

    [Fact]
    public void Frame_and_startup_readers_never_throw_and_never_overrun()
    {
        foreach (var input in Inputs(seed: 1, count: 20_000))
        {
            var buffer = new ReadOnlySequence<byte>(input);
            while (FrameReader.TryRead(ref buffer, 1024, out var header, out var payload, out _))
            {
                Assert.Equal(header.PayloadLength, payload.Length);
            }

            var startup = new ReadOnlySequence<byte>(input);
            if (FrameReader.TryReadStartup(ref startup, out _, out var body, out _))
            {
                StartupParameters.TryParse(body, out _);
            }
        }
    }

    [Fact]
    public void Payload_parsers_never_throw()
    {
        foreach (var input in Inputs(seed: 2, count: 20_000))
        {
            ErrorFields.Parse(new ReadOnlySequence<byte>(input));
            StartupParameters.TryParse(new ReadOnlySequence<byte>(input), out _);
            var reader = new PayloadReader(input);
            while (reader.TryReadCString(out _) && reader.TryReadInt16(out _) && reader.TryReadInt32(out _))
            {
            }
        }
    }

    [Fact]
    public void Scram_client_rejects_garbage_server_messages_without_throwing()
    {
        foreach (var input in Inputs(seed: 3, count: 2_000))
        {
            var client = new ScramSha256Client("pw", ["SCRAM-SHA-256"], null);
            string nonce = Encoding.UTF8.GetString(client.ClientFirstMessage())["n,,n=*,r=".Length..];
            byte[] serverFirst = [.. Encoding.UTF8.GetBytes($"r={nonce}"), .. input];
            client.ClientFinalMessage(serverFirst, out _);
            Assert.False(client.VerifyServerFinal(input));
        }
    }
}
