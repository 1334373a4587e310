using System.Buffers;
using Gatehouse.Protocol;

namespace Gatehouse.Proxy;

/// <summary>How the pump carries a frame, decided from its type byte before its body has arrived.</summary>
internal enum FrameHandling : byte
{
    /// <summary>Streams through untouched, in pieces if large.</summary>
    Pass,
    /// <summary>Streams into the void (the client's messages after a refusal, up to Sync).</summary>
    Drop,
    /// <summary>Gathered whole (up to the pump's limit) and shown to <see cref="FramePump.OnFrameAsync"/>.</summary>
    Inspect,
}

/// <summary>What a consumer did with an inspected frame.</summary>
internal enum FrameVerdict : byte
{
    /// <summary>Send it on unchanged.</summary>
    Pass,
    /// <summary>Send what the consumer wrote with <see cref="FramePump.Replace"/> instead.</summary>
    Replace,
    /// <summary>Send nothing for it.</summary>
    Drop,
}

/// <summary>
/// Moves protocol frames from one peer to the other; a subclass per direction is the consumer that decides per frame.
/// Framing is <see cref="FrameReader"/>'s (the fuzzed one). Frames pass as raw bytes; only the frames a consumer asks
/// for are gathered whole. Frames it does not inspect (DataRow, CopyData, Bind) stream through in pieces, so memory
/// stays flat whatever their size; a consumer may still look at the first bytes of one (<see cref="PrefixLength"/>).
/// Each read is answered by at most one write, awaited before the next read, so a slow reader slows the sender
/// instead of growing a buffer. Untouched runs of frames are written straight from the read buffer.
/// </summary>
internal abstract class FramePump(Stream input, Stream output, int maxInspectedPayload) : IDisposable
{
    private const int BufferSize = 64 * 1024;

    private byte[] _buffer = ArrayPool<byte>.Shared.Rent(BufferSize);
    private int _start;
    private int _end;
    private long _passThroughRemaining;
    private bool _passThroughDropped;

    // Bytes of the frame at _start the pump is waiting for (a whole inspected frame, or a streamed frame's prefix).
    private long _waitFor;

    // Output for this read when something was replaced or dropped; otherwise the input is sent as it lies.
    private readonly ArrayBufferWriter<byte> _assembled = new(256);
    private bool _assembling;

    // What a consumer wrote in place of the frame it is looking at.
    private readonly ArrayBufferWriter<byte> _replacement = new(256);

    private bool _stopRequested;

    // Writes to the output, the pump's own and messages of the session's (a notice while a statement is held), one at a
    // time; _outputAtBoundary says whether the output written so far ends at a frame boundary.
    private readonly SemaphoreSlim _outputLock = new(1, 1);
    private bool _outputAtBoundary = true;

    /// <summary>Decided from the header alone: <paramref name="total"/> is the frame's length, header included.</summary>
    protected abstract FrameHandling Classify(byte code, long total);

    /// <summary>Bytes of a streamed frame's start (header included) to show <see cref="OnStreamed"/>; 0 for none.</summary>
    protected virtual int PrefixLength(byte code) => 0;

    /// <summary>True when <see cref="OnFrameAsync"/> may wait long on this inspected frame; the output before it is written first.</summary>
    protected virtual bool MayWait(byte code, ReadOnlySpan<byte> frame) => false;

    /// <summary>Handles one whole inspected frame (header included).</summary>
    protected abstract ValueTask<FrameVerdict> OnFrameAsync(byte code, ReadOnlyMemory<byte> frame, CancellationToken ct);

    /// <summary>Sees every frame that streams through (or is dropped): its type, and its first bytes when asked for.
    /// For a dropped frame the consumer may <see cref="Replace"/> it with bytes of its own; returning true drops a
    /// frame that was to stream through (replaced the same way).</summary>
    protected virtual bool OnStreamed(byte code, ReadOnlySpan<byte> prefix, bool dropped) => false;

    /// <summary>A frame to inspect is above the limit. True: it is dropped unread, replaced by what the consumer wrote
    /// with <see cref="Replace"/>; false: the connection ends (the default).</summary>
    protected virtual bool SkipOversized(byte code, long payloadLength, int limit) => false;

    /// <summary>A frame with an unknown type byte; throw to end the connection.</summary>
    protected virtual void CheckCode(byte code)
    {
    }

    /// <summary>From a consumer: the bytes to send in place of the current frame (answer <see cref="FrameVerdict.Replace"/>).</summary>
    protected void Replace(ReadOnlySpan<byte> bytes) => _replacement.Write(bytes);

    /// <summary>From a consumer: end the pump once the current frame has been handled.</summary>
    protected void Stop() => _stopRequested = true;

    /// <summary>Everything written so far ends at a frame boundary (no frame is half sent), so a message can follow.</summary>
    public bool AtFrameBoundary => _passThroughRemaining == 0;

    /// <summary>Runs until the input ends (returns) or a consumer stops it.</summary>
    public async Task RunAsync(CancellationToken ct)
    {
        while (true)
        {
            MakeRoom();
            int read = await input.ReadAsync(_buffer.AsMemory(_end), ct);
            if (read == 0)
            {
                if (_end > _start || _passThroughRemaining > 0)
                {
                    throw new EndOfStreamException("the peer closed the connection in the middle of a message");
                }

                return;
            }

            _end += read;
            await ProcessAsync(ct);
            if (_stopRequested)
            {
                return;
            }
        }
    }

    private async ValueTask ProcessAsync(CancellationToken ct)
    {
        // [runStart, position) is a run of bytes passing untouched; it is copied only if something is replaced or dropped.
        int position = _start;
        int runStart = _start;
        _waitFor = 0;
        while (position < _end && !_stopRequested)
        {
            if (_passThroughRemaining > 0)
            {
                int take = (int)Math.Min(_passThroughRemaining, _end - position);
                if (_passThroughDropped)
                {
                    CloseRun(runStart, position);
                    runStart = position + take;
                }

                position += take;
                _passThroughRemaining -= take;
                continue;
            }

            int available = _end - position;
            if (!FrameReader.TryReadHeader(_buffer.AsSpan(position, available), int.MaxValue - FrameHeader.Size, out var header, out var error))
            {
                if (error != FrameError.None)
                {
                    throw new ProtocolException($"invalid length in message of type '{StreamReads.Printable(_buffer[position])}'");
                }

                break;
            }

            byte code = header.Code;
            CheckCode(code);
            long total = header.TotalLength;
            var handling = Classify(code, total);
            if (handling == FrameHandling.Inspect && header.PayloadLength > maxInspectedPayload)
            {
                // Too large to gather: the consumer may answer it (and the frame streams into the void), or the stream ends.
                if (!SkipOversized(code, header.PayloadLength, maxInspectedPayload))
                {
                    throw new ProtocolException($"message of type '{StreamReads.Printable(code)}' is {header.PayloadLength} bytes, above the limit of {maxInspectedPayload}");
                }

                handling = FrameHandling.Drop;
            }

            if (handling != FrameHandling.Inspect)
            {
                int prefix = (int)Math.Min(total, PrefixLength(code));
                if (available < prefix)
                {
                    _waitFor = prefix;
                    break;
                }

                int take = (int)Math.Min(total, available);
                _passThroughDropped = handling == FrameHandling.Drop;
                _passThroughDropped |= OnStreamed(code, _buffer.AsSpan(position, prefix), _passThroughDropped);
                if (_passThroughDropped)
                {
                    CloseRun(runStart, position);
                    _assembled.Write(_replacement.WrittenSpan);
                    runStart = position + take;
                }

                _replacement.ResetWrittenCount();
                position += take;
                _passThroughRemaining = total - take;
                continue;
            }

            if (available < total)
            {
                _waitFor = total;
                break;
            }

            var frame = _buffer.AsMemory(position, (int)total);
            if (MayWait(code, frame.Span) && (position > runStart || _assembling))
            {
                // The consumer may hold this frame a long time (a review): what came before it goes out now, so the peer
                // answers earlier pipelined messages meanwhile.
                await WriteOutAsync(runStart, position, ct);
                runStart = position;
            }

            var verdict = await OnFrameAsync(code, frame, ct);
            if (verdict != FrameVerdict.Pass)
            {
                CloseRun(runStart, position);
                if (verdict == FrameVerdict.Replace)
                {
                    _assembled.Write(_replacement.WrittenSpan);
                }

                runStart = position + (int)total;
            }

            _replacement.ResetWrittenCount();
            position += (int)total;
        }

        await WriteOutAsync(runStart, position, ct);
        _start = position;
    }

    /// <summary>Writes the output of this read so far: what was assembled, then the untouched run [runStart, position).</summary>
    private async ValueTask WriteOutAsync(int runStart, int position, CancellationToken ct)
    {
        if (_assembling)
        {
            _assembled.Write(_buffer.AsSpan(runStart, position - runStart));
            await WriteAsync(_assembled.WrittenMemory, ct);
            _assembled.ResetWrittenCount();
            _assembling = false;
        }
        else if (position > runStart)
        {
            await WriteAsync(_buffer.AsMemory(runStart, position - runStart), ct);
        }
    }

    private async ValueTask WriteAsync(ReadOnlyMemory<byte> bytes, CancellationToken ct)
    {
        await _outputLock.WaitAsync(ct);
        try
        {
            await output.WriteAsync(bytes, ct);
            _outputAtBoundary = _passThroughRemaining == 0;
        }
        finally
        {
            _outputLock.Release();
        }
    }

    /// <summary>
    /// Writes whole frames of the session's own between the pump's writes, when the output is at a frame boundary;
    /// false when it is not (a large frame is streaming through) and nothing was written.
    /// </summary>
    public async ValueTask<bool> WriteBetweenFramesAsync(ReadOnlyMemory<byte> frames, CancellationToken ct)
    {
        await _outputLock.WaitAsync(ct);
        try
        {
            if (!_outputAtBoundary)
            {
                return false;
            }

            await output.WriteAsync(frames, ct);
            await output.FlushAsync(ct);
            return true;
        }
        finally
        {
            _outputLock.Release();
        }
    }

    /// <summary>Ends a run of untouched bytes before something is replaced or dropped: from here on, output is assembled.</summary>
    private void CloseRun(int runStart, int position)
    {
        _assembled.Write(_buffer.AsSpan(runStart, position - runStart));
        _assembling = true;
    }

    /// <summary>Keeps the unprocessed tail at the front, growing the buffer for an inspected frame larger than it.</summary>
    private void MakeRoom()
    {
        if (_start == _end)
        {
            _start = _end = 0;
        }

        int pending = _end - _start;
        int needed = (int)Math.Max(BufferSize / 4, _waitFor - pending);
        if (_buffer.Length - _end >= needed)
        {
            return;
        }

        byte[] target = pending + needed > _buffer.Length ? ArrayPool<byte>.Shared.Rent(pending + needed) : _buffer;
        Buffer.BlockCopy(_buffer, _start, target, 0, pending);
        if (!ReferenceEquals(target, _buffer))
        {
            ArrayPool<byte>.Shared.Return(_buffer);
            _buffer = target;
        }

        _start = 0;
        _end = pending;
    }

    public void Dispose()
    {
        _outputLock.Dispose();
        var buffer = _buffer;
        _buffer = [];
        if (buffer.Length > 0)
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}
