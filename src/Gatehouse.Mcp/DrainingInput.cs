namespace Gatehouse.Mcp;

/// <summary>
/// Standard input for the stdio bridge that reports its end only once no request is being answered: the SDK stops
/// its server at end of input and cancels what is still running, so <c>printf '…' | gatehouse mcp</c> exited without
/// its replies. At end of input it waits until the requests counted by <see cref="Enter"/> are done and no new one
/// started for a short while (the SDK reads the last line before it starts that line's handler).
/// </summary>
internal sealed class DrainingInput(Stream inner, CancellationToken stopping) : Stream
{
    private static readonly TimeSpan Quiet = TimeSpan.FromMilliseconds(200);

    private int _running;
    private long _lastActivity = Environment.TickCount64;

    /// <summary>A request began; dispose the result when it has been answered.</summary>
    public IDisposable Enter()
    {
        Interlocked.Increment(ref _running);
        Touch();
        return new Request(this);
    }

    private void Leave()
    {
        Touch();
        Interlocked.Decrement(ref _running);
    }

    private void Touch() => Interlocked.Exchange(ref _lastActivity, Environment.TickCount64);

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        int read = await inner.ReadAsync(buffer, cancellationToken);
        if (read > 0)
        {
            Touch();
            return read;
        }

        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, stopping);
        try
        {
            while (Volatile.Read(ref _running) > 0 || Environment.TickCount64 - Interlocked.Read(ref _lastActivity) < Quiet.TotalMilliseconds)
            {
                await Task.Delay(Quiet / 4, linked.Token);
            }
        }
        catch (OperationCanceledException)
        {
            // Stopping (Ctrl-C): end now.
        }

        return 0;
    }

    public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => false;

    public override long Length => throw new NotSupportedException();

    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            inner.Dispose();
        }

        base.Dispose(disposing);
    }

    private sealed class Request(DrainingInput owner) : IDisposable
    {
        private int _done;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _done, 1) == 0)
            {
                owner.Leave();
            }
        }
    }
}
