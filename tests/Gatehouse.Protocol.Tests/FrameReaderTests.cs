using System.Buffers;
using Gatehouse.Protocol;

namespace Gatehouse.Protocol.Tests;

public sealed class FrameReaderTests
{
    private static byte[] Query(string sql)
    {
        using var writer = new MessageWriter();
        FrontendMessages.WriteQuery(writer, sql);
        return writer.ToArray();
    }

    [Fact]
    public void Reads_a_whole_frame_and_advances_past_it()
    {
        var bytes = Query("SELECT 1").Concat(FrontendMessages.Sync.ToArray()).ToArray();
        var buffer = new ReadOnlySequence<byte>(bytes);
        Assert.True(FrameReader.TryRead(ref buffer, 1024, out var header, out var payload, out var error));
        Assert.Equal((byte)'Q', header.Code);
        Assert.Equal("SELECT 1\0"u8.ToArray(), payload.ToArray());
        Assert.Equal(FrameError.None, error);
        Assert.Equal(5, buffer.Length);
    }

    [Fact]
    public void Every_split_point_of_a_frame_reads_as_partial_until_whole()
    {
        var bytes = Query("SELECT 'partial'");
        for (int split = 0; split < bytes.Length; split++)
        {
            var buffer = new ReadOnlySequence<byte>(bytes.AsMemory(0, split));
            Assert.False(FrameReader.TryRead(ref buffer, 1024, out _, out _, out var error));
            Assert.Equal(FrameError.None, error);
            Assert.Equal(split, buffer.Length);
        }
    }

    [Fact]
    public void A_frame_split_across_segments_reads_whole()
    {
        var bytes = Query("SELECT 'segments'");
        var first = new Segment(bytes.AsMemory(0, 3));
        var last = first.Append(bytes.AsMemory(3));
        var buffer = new ReadOnlySequence<byte>(first, 0, last, last.Memory.Length);
        Assert.True(FrameReader.TryRead(ref buffer, 1024, out var header, out var payload, out _));
        Assert.Equal((byte)'Q', header.Code);
        Assert.Equal(bytes.Length - 5, (int)payload.Length);
    }

    [Theory]
    [InlineData(new byte[] { (byte)'Q', 0, 0, 0, 3 }, FrameError.LengthTooSmall)]
    [InlineData(new byte[] { (byte)'Q', 0, 0, 0, 0 }, FrameError.LengthTooSmall)]
    [InlineData(new byte[] { (byte)'Q', 0xff, 0xff, 0xff, 0xff }, FrameError.LengthTooSmall)]
    [InlineData(new byte[] { (byte)'Q', 0x7f, 0xff, 0xff, 0xff }, FrameError.LengthTooLarge)]
    [InlineData(new byte[] { (byte)'Q', 0, 0, 4, 5 }, FrameError.LengthTooLarge)]
    public void Bad_lengths_are_reported(byte[] bytes, FrameError expected)
    {
        var buffer = new ReadOnlySequence<byte>(bytes);
        Assert.False(FrameReader.TryRead(ref buffer, 1024, out _, out _, out var error));
        Assert.Equal(expected, error);
    }

    [Fact]
    public void Startup_packet_above_ten_thousand_bytes_is_refused()
    {
        var bytes = new byte[] { 0, 0, 0x27, 0x11, 0, 3, 0, 0 }; // 10 001
        var buffer = new ReadOnlySequence<byte>(bytes);
        Assert.False(FrameReader.TryReadStartup(ref buffer, out _, out _, out var error));
        Assert.Equal(FrameError.LengthTooLarge, error);
    }

    [Fact]
    public void Startup_packet_below_eight_bytes_is_refused()
    {
        var buffer = new ReadOnlySequence<byte>(new byte[] { 0, 0, 0, 4, 0, 0, 0, 0 });
        Assert.False(FrameReader.TryReadStartup(ref buffer, out _, out _, out var error));
        Assert.Equal(FrameError.LengthTooSmall, error);
    }

    [Fact]
    public void Ssl_request_is_read_with_its_code()
    {
        var buffer = new ReadOnlySequence<byte>(FrontendMessages.SslRequest.ToArray());
        Assert.True(FrameReader.TryReadStartup(ref buffer, out int code, out var body, out _));
        Assert.Equal(StartupCodes.SslRequest, code);
        Assert.True(body.IsEmpty);
    }

    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public Segment(ReadOnlyMemory<byte> memory) => Memory = memory;

        public Segment Append(ReadOnlyMemory<byte> memory)
        {
            var next = new Segment(memory) { RunningIndex = RunningIndex + Memory.Length };
            Next = next;
            return next;
        }
    }
}
