using System.Buffers;
using System.Buffers.Binary;
using Gatehouse.Protocol;

namespace Gatehouse.Proxy;

/// <summary>
/// Moves protocol frames from one peer to the other. Frames pass as raw bytes; only the frames a subclass
/// asks for are gathered whole and shown to it. Frames it does not inspect (DataRow, CopyData, Bind) stream
/// through in pieces, so memory stays flat whatever their size. Each read is answered by at most one write,
/// awaited before the next read, so a slow reader slows the sender instead of growing a buffer.
/// </summary>
internal abstract class FramePump(Stream input, Stream output, int maxInspectedPayload) : IDisposable
{
    private const int BufferSize = 64 * 1024;

    private byte[] _buffer = ArrayPool<byte>.Shared.Rent(BufferSize);
    private int _start;
    private int _end;
    private long _passThroughRemaining;
    private bool _passThroughDropped;

    // Bytes to send for this read when the pump rewrote something; otherwise the input is sent as it lies.
    private readonly ArrayBufferWriter<byte> _rewritten = new(256);
    private bool _rewriting;

    /// <summary>True: the frame must arrive whole and go to <see cref="OnFrameAsync"/>. False: it may stream.</summary>
    protected abstract bool Inspects(byte code);

    /// <summary>Handles one whole inspected frame (header included). Returns false to end the pump.</summary>
    protected abstract ValueTask<bool> OnFrameAsync(byte code, ReadOnlyMemory<byte> frame, CancellationToken ct);

    /// <summary>Sees the type of every frame that streams through (or is dropped) without inspection.</summary>
    protected virtual void OnStreamed(byte code, bool dropped)
    {
    }

    /// <summary>True while frames that are not inspected must be dropped instead of forwarded.</summary>
    protected virtual bool Discarding => false;

    /// <summary>A frame with an unknown type byte; throw to end the connection.</summary>
    protected virtual void CheckCode(byte code)
    {
    }

    /// <summary>Runs until the input ends (returns) or a handler stops it.</summary>
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
            bool keepGoing = await ProcessAsync(ct);
            if (!keepGoing)
            {
                return;
            }
        }
    }

    /// <summary>Queues bytes Gatehouse produced itself, in order with the frames around them.</summary>
    protected void Write(ReadOnlySpan<byte> bytes)
    {
        _rewritten.Write(bytes);
        _rewriting = true;
    }

    /// <summary>Passes the frame on unchanged.</summary>
    protected void Forward(ReadOnlyMemory<byte> frame) => Write(frame.Span);

    private async ValueTask<bool> ProcessAsync(CancellationToken ct)
    {
        // [runStart, position) is a run of bytes passing untouched; it is copied only if something is rewritten.
        int position = _start;
        int runStart = _start;
        bool keepGoing = true;
        while (position < _end)
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
            if (available < FrameHeader.Size)
            {
                break;
            }

            byte code = _buffer[position];
            int length = BinaryPrimitives.ReadInt32BigEndian(_buffer.AsSpan(position + 1));
            if (length < 4)
            {
                throw new ProtocolException($"invalid length in message of type '{StreamReads.Printable(code)}'");
            }

            CheckCode(code);
            long total = 1L + length;
            if (!Inspects(code))
            {
                int take = (int)Math.Min(total, available);
                _passThroughDropped = Discarding;
                OnStreamed(code, _passThroughDropped);
                if (_passThroughDropped)
                {
                    CloseRun(runStart, position);
                    runStart = position + take;
                }

                position += take;
                _passThroughRemaining = total - take;
                continue;
            }

            if (length - 4 > maxInspectedPayload)
            {
                throw new ProtocolException($"message of type '{StreamReads.Printable(code)}' is {length - 4} bytes, above the limit of {maxInspectedPayload}");
            }

            if (available < total)
            {
                break;
            }

            CloseRun(runStart, position);
            var frame = _buffer.AsMemory(position, (int)total);
            position += (int)total;
            runStart = position;
            if (!await OnFrameAsync(code, frame, ct))
            {
                keepGoing = false;
                break;
            }
        }

        if (_rewriting)
        {
            _rewritten.Write(_buffer.AsSpan(runStart, position - runStart));
            await output.WriteAsync(_rewritten.WrittenMemory, ct);
            _rewritten.ResetWrittenCount();
            _rewriting = false;
        }
        else if (position > runStart)
        {
            await output.WriteAsync(_buffer.AsMemory(runStart, position - runStart), ct);
        }

        _start = position;
        return keepGoing;
    }

    /// <summary>Ends a run of untouched bytes before something is rewritten or dropped: from here on, output is assembled.</summary>
    private void CloseRun(int runStart, int position)
    {
        _rewritten.Write(_buffer.AsSpan(runStart, position - runStart));
        _rewriting = true;
    }

    /// <summary>Keeps the unprocessed tail at the front, growing the buffer for an inspected frame larger than it.</summary>
    private void MakeRoom()
    {
        if (_start == _end)
        {
            _start = _end = 0;
        }

        int needed = BufferSize / 4;
        if (_end - _start >= FrameHeader.Size && _passThroughRemaining == 0)
        {
            int length = BinaryPrimitives.ReadInt32BigEndian(_buffer.AsSpan(_start + 1));
            needed = Math.Max(needed, length + 1 - (_end - _start));
        }

        if (_buffer.Length - _end >= needed)
        {
            return;
        }

        int pending = _end - _start;
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
        var buffer = _buffer;
        _buffer = [];
        if (buffer.Length > 0)
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}
