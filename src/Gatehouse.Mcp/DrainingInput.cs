namespace Gatehouse.Mcp;

/// <summary>
/// Standard input for the stdio bridge that reports its end only once no request is being answered: the SDK stops
/// its server at end of input and cancels what is still running, so <c>printf '…' | gatehouse mcp</c> exited without
/// its replies. At end of input it waits until every request line read whose method is one of
/// <paramref name="entering"/> has started (<see cref="Enter"/>; the SDK reads a line before it starts its handler, which
/// on a loaded machine can take a while) and is done, and no new one started for a short while.
/// </summary>
internal sealed class DrainingInput(Stream inner, IReadOnlySet<string> entering, CancellationToken stopping) : Stream
{
    private static readonly TimeSpan Quiet = TimeSpan.FromMilliseconds(200);

    // How long end of input waits for requests read but not started (a line the SDK refuses never starts).
    private static readonly TimeSpan NotStartedAtMost = TimeSpan.FromSeconds(30);

    private int _running;
    private int _entered;
    private int _requests;
    private long _lastActivity = Environment.TickCount64;
    private readonly List<byte> _line = [];

    /// <summary>A request began; dispose the result when it has been answered.</summary>
    public IDisposable Enter()
    {
        Interlocked.Increment(ref _entered);
        Interlocked.Increment(ref _running);
        Touch();
        return new Request(this);
    }

    // Counts the requests (a method in `entering`, with an id) in what was read, line by line.
    private void Count(ReadOnlySpan<byte> read)
    {
        int newline;
        while ((newline = read.IndexOf((byte)'\n')) >= 0)
        {
            _line.AddRange(read[..newline]);
            CountLine();
            read = read[(newline + 1)..];
        }

        _line.AddRange(read);
    }

    private void CountLine()
    {
        try
        {
            using var message = System.Text.Json.JsonDocument.Parse(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(_line).ToArray());
            if (message.RootElement.ValueKind == System.Text.Json.JsonValueKind.Object
                && message.RootElement.TryGetProperty("id", out _)
                && message.RootElement.TryGetProperty("method", out var method) && method.ValueKind == System.Text.Json.JsonValueKind.String
                && entering.Contains(method.GetString()!))
            {
                Interlocked.Increment(ref _requests);
            }
        }
        catch (System.Text.Json.JsonException)
        {
            // Not a request the bridge starts: the SDK answers it (or not) on its own.
        }

        _line.Clear();
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
            Count(buffer.Span[..read]);
            Touch();
            return read;
        }

        if (_line.Count > 0)
        {
            CountLine();
        }

        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, stopping);
        long ended = Environment.TickCount64;
        try
        {
            while (Volatile.Read(ref _running) > 0
                || (Volatile.Read(ref _entered) < Volatile.Read(ref _requests) && Environment.TickCount64 - ended < NotStartedAtMost.TotalMilliseconds)
                || Environment.TickCount64 - Interlocked.Read(ref _lastActivity) < Quiet.TotalMilliseconds)
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
