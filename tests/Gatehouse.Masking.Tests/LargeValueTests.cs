using System.Buffers;
using System.Diagnostics;
using System.Security.Cryptography;
using static Gatehouse.Masking.Tests.Support;

namespace Gatehouse.Masking.Tests;

/// <summary>Huge values: masked correctly, in bounded pieces, allocating nothing in proportion to their size.</summary>
public sealed class LargeValueTests
{
    private const int Mib = 1024 * 1024;

    [Theory]
    [InlineData("redact", 100)]
    [InlineData("hash", 100)]
    [InlineData("partial(4,4)", 100)]
    [InlineData("last4", 20)]
    [InlineData("fake", 20)]
    [InlineData("email", 20)]
    public void A_huge_value_is_masked_in_one_pass_without_buffering(string strategy, int mebibytes)
    {
        var value = new byte[mebibytes * Mib];
        value.AsSpan().Fill((byte)'7');
        value[^1] = (byte)'x';
        var output = new DigestWriter();
        var allocated = GC.GetAllocatedBytesForCurrentThread();
        var result = TestMasker.MaskText(value, Strategy(strategy), output);
        allocated = GC.GetAllocatedBytesForCurrentThread() - allocated;

        Assert.True(allocated < 64 * 1024, $"{strategy} allocated {allocated} bytes for a {mebibytes} MiB value");
        Assert.True(output.LargestRequest <= 16 * 1024);
        Assert.Equal(output.Written, result.BytesWritten);
        switch (strategy)
        {
            case "redact":
                Assert.Equal("[redacted]"u8.ToArray(), output.Head.ToArray());
                break;
            case "hash":
                Assert.Equal(18, result.BytesWritten);
                break;
            case "partial(4,4)":
                Assert.Equal(value.Length, result.BytesWritten);
                Assert.Equal("7777****"u8.ToArray(), output.Head[..8].ToArray());
                break;
            case "last4":
                Assert.Equal(value.Length, result.BytesWritten);
                Assert.Equal("777x"u8.ToArray(), output.Tail.ToArray());
                break;
            case "fake":
                Assert.Equal(value.Length, result.BytesWritten);
                break;
            case "email":
                Assert.Equal(MaskNote.Redacted, result.Note);
                break;
        }
    }

    [Fact]
    public void A_huge_multibyte_value_is_masked_by_character()
    {
        var value = new byte[20 * Mib]; // "é" (2 bytes) ten million times
        for (var i = 0; i < value.Length; i += 2)
        {
            value[i] = 0xC3;
            value[i + 1] = 0xA9;
        }

        var output = new DigestWriter();
        var result = TestMasker.MaskText(value, Strategy("partial(1,1)"), output);
        Assert.Equal(value.Length / 2 + 2, result.BytesWritten); // é, then one * per é, then é
        Assert.Equal("é*"u8.ToArray(), output.Head[..3].ToArray());
    }

    [Fact]
    public void The_scanner_redacts_values_over_its_limit_and_scans_those_at_it()
    {
        var scanner = ScannerSupport.Scanner();
        var big = new byte[100 * Mib];
        big.AsSpan().Fill((byte)'a');
        var output = new ArrayBufferWriter<byte>();
        var result = scanner.Scan(big, output);
        Assert.Equal(ScanNote.TooLarge, result.Note);
        Assert.Equal("[redacted]"u8.ToArray(), output.WrittenSpan.ToArray());

        var atLimit = big.AsMemory(0, ContentScanner.DefaultMaxScanBytes);
        "alice@example.com"u8.CopyTo(atLimit.Span[^17..]);
        atLimit.Span[^18] = (byte)' ';
        var stopwatch = Stopwatch.StartNew();
        var digest = new DigestWriter();
        result = scanner.Scan(atLimit.Span, digest);
        Assert.True(result.Rewritten);
        Assert.Equal(1, result.Matches);
        Assert.Equal(ContentScanner.DefaultMaxScanBytes - 17 + "[redacted:email]".Length, result.BytesWritten);
        Assert.True(stopwatch.Elapsed < TimeSpan.FromSeconds(20), $"16 MiB scan took {stopwatch.Elapsed}");
    }

    /// <summary>Keeps the first and last bytes and a digest of the rest: memory stays constant whatever is written.</summary>
    private sealed class DigestWriter : IBufferWriter<byte>
    {
        private readonly byte[] _buffer = new byte[32 * 1024];
        private readonly byte[] _head = new byte[16];
        private readonly byte[] _tail = new byte[4];
        private readonly IncrementalHash _digest = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);

        public int Written { get; private set; }

        public int LargestRequest { get; private set; }

        public ReadOnlySpan<byte> Head => _head.AsSpan(0, Math.Min(Written, _head.Length));

        public ReadOnlySpan<byte> Tail => _tail;

        public void Advance(int count)
        {
            var chunk = _buffer.AsSpan(0, count);
            if (Written < _head.Length)
            {
                chunk[..Math.Min(count, _head.Length - Written)].CopyTo(_head.AsSpan(Written));
            }

            if (count >= 4)
            {
                chunk[^4..].CopyTo(_tail);
            }

            _digest.AppendData(chunk);
            Written += count;
        }

        public Memory<byte> GetMemory(int sizeHint = 0) => throw new NotSupportedException();

        public Span<byte> GetSpan(int sizeHint = 0)
        {
            LargestRequest = Math.Max(LargestRequest, sizeHint);
            return _buffer;
        }
    }
}
