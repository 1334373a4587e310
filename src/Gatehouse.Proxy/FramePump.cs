using System.Buffers;
using System.IO.Pipelines;
using Gatehouse.Protocol;

namespace Gatehouse.Proxy;

/// <summary>
/// Moves protocol frames from one peer to the other. Frames pass as raw bytes; only the frames a subclass
/// asks for are gathered whole and shown to it. Large frames it does not inspect (DataRow, CopyData) stream
/// through in pieces, so memory stays flat whatever their size, and every flush is awaited so a slow reader
/// slows the sender instead of growing a buffer.
/// </summary>
internal abstract class FramePump(PipeReader input, PipeWriter output, int maxInspectedPayload)
{
    /// <summary>Below this, an incomplete streamable frame is waited for rather than split.</summary>
    private const int StreamThreshold = 32 * 1024;

    private long _passThroughRemaining;

    protected PipeWriter Output { get; } = output;

    /// <summary>True: the frame must arrive whole and go to <see cref="OnFrameAsync"/>. False: it may stream.</summary>
    protected abstract bool Inspects(byte code);

    /// <summary>Handles one whole inspected frame (header included). Returns false to end the pump.</summary>
    protected abstract ValueTask<bool> OnFrameAsync(byte code, ReadOnlySequence<byte> frame, CancellationToken ct);

    /// <summary>A frame with an unknown type byte; throw to end the connection.</summary>
    protected virtual void CheckCode(byte code)
    {
    }

    /// <summary>Runs until the input ends (returns) or a handler stops it.</summary>
    public async Task RunAsync(CancellationToken ct)
    {
        while (true)
        {
            var result = await input.ReadAsync(ct);
            var buffer = result.Buffer;
            var (keepGoing, consumed) = await ProcessAsync(buffer, ct);
            input.AdvanceTo(consumed, buffer.End);
            var flush = await Output.FlushAsync(ct);
            if (!keepGoing || flush.IsCompleted)
            {
                return;
            }

            if (result.IsCompleted)
            {
                if (!buffer.Slice(consumed).IsEmpty || _passThroughRemaining > 0)
                {
                    throw new EndOfStreamException("the peer closed the connection in the middle of a message");
                }

                return;
            }
        }
    }

    private async ValueTask<(bool KeepGoing, SequencePosition Consumed)> ProcessAsync(ReadOnlySequence<byte> buffer, CancellationToken ct)
    {
        // Frames that pass untouched are copied as one run, not one by one.
        var run = buffer;
        long runLength = 0;
        while (buffer.Length > runLength)
        {
            var rest = buffer.Slice(runLength);
            if (_passThroughRemaining > 0)
            {
                long take = Math.Min(_passThroughRemaining, rest.Length);
                runLength += take;
                _passThroughRemaining -= take;
                continue;
            }

            if (!FrameReader.TryReadHeader(rest, int.MaxValue - FrameHeader.Size, out var header, out var error))
            {
                if (error != FrameError.None)
                {
                    throw new ProtocolException($"invalid length in message of type '{StreamReads.Printable(rest.FirstSpan[0])}'");
                }

                break;
            }

            CheckCode(header.Code);
            if (!Inspects(header.Code))
            {
                if (rest.Length < header.TotalLength && rest.Length < StreamThreshold)
                {
                    break;
                }

                long take = Math.Min(header.TotalLength, rest.Length);
                runLength += take;
                _passThroughRemaining = header.TotalLength - take;
                continue;
            }

            if (header.PayloadLength > maxInspectedPayload)
            {
                throw new ProtocolException($"message of type '{StreamReads.Printable(header.Code)}' is {header.PayloadLength} bytes, above the limit of {maxInspectedPayload}");
            }

            if (rest.Length < header.TotalLength)
            {
                break;
            }

            Write(run.Slice(0, runLength));
            var frame = rest.Slice(0, header.TotalLength);
            buffer = rest.Slice(header.TotalLength);
            run = buffer;
            runLength = 0;
            if (!await OnFrameAsync(header.Code, frame, ct))
            {
                return (false, buffer.Start);
            }
        }

        Write(run.Slice(0, runLength));
        return (true, buffer.GetPosition(runLength));
    }

    protected void Write(in ReadOnlySequence<byte> bytes)
    {
        if (bytes.IsSingleSegment)
        {
            Output.Write(bytes.FirstSpan);
            return;
        }

        foreach (var segment in bytes)
        {
            Output.Write(segment.Span);
        }
    }

    protected void Write(ReadOnlySpan<byte> bytes) => Output.Write(bytes);
}
