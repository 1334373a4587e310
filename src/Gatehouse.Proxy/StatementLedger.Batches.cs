using Gatehouse.Pipeline;

namespace Gatehouse.Proxy;

/// <summary>
/// What the client side may rely on across batches: which names the server has, and whether a COPY FROM STDIN
/// it sent is running (docs/design/statement-path.md).
/// </summary>
internal sealed partial class StatementLedger
{
    // Cross-batch bookkeeping. The client side changes what it knows of a name (a Parse, a Bind) when it sends the
    // message, but the server may skip it (an earlier message of its batch failed) or refuse it; within a batch that
    // is harmless (what depends on it is skipped too), across batches it is not. So a name changed by an earlier batch
    // is checked against the server's answers (the maps below, made from them) once that batch's ReadyForQuery came.
    private readonly Lock _names = new();
    private long _expected;        // client side: entries appended
    private long _readiesOwed;     // client side: requests answered by a ReadyForQuery (Sync, Query), appended
    private long _answered;        // server side: entries answered or skipped
    private long _readies;         // server side: ReadyForQuery seen (changed under _names, read without it by BatchAnswered)
    private long _waitingFor;      // under _names: the ReadyForQuery count the client side waits for, or -1: the copy's start
    private TaskCompletionSource? _waiter;

    /// <summary>Where a COPY … FROM STDIN the client side sent stands, as far as the server's answers tell.</summary>
    internal enum CopyState : byte { None, Pending, Active, Ended }

    // Under _names: the entry of the COPY FROM STDIN the client has not ended yet, and whether the server entered copy-in for it.
    private long _copyEntry = -1;
    private CopyState _copyState;
    private int _copyOpen; // 1 while _copyState is Pending or Active

    /// <summary>Client side: the batch a message sent now belongs to (requests answered by a ReadyForQuery so far).</summary>
    public long Batch => _readiesOwed;

    /// <summary>Client side: the index the next entry appended gets.</summary>
    public long NextEntry => _expected;

    /// <summary>Client side: completes once the server answered every batch before <paramref name="batch"/> ends (or the ledger lost step).</summary>
    public Task BatchAnsweredAsync(long batch, CancellationToken ct)
    {
        lock (_names)
        {
            if (_readies > batch || OutOfStep)
            {
                return Task.CompletedTask;
            }

            _waitingFor = batch + 1;
            _waiter = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            return _waiter.Task.WaitAsync(ct);
        }
    }

    /// <summary>Client side: whether the server answered batch <paramref name="batch"/> (its ReadyForQuery came).</summary>
    public bool BatchAnswered(long batch) => Interlocked.Read(ref _readies) > batch || OutOfStep; // _readies only grows

    /// <summary>Client side, once the batches that changed the name were answered: the server's statement of that name is <paramref name="ticket"/>'s.</summary>
    public bool ServerHasStatement(string name, StatementTicket? ticket)
    {
        lock (_names)
        {
            return !OutOfStep && _statements.TryGetValue(name, out var known) && ReferenceEquals(known, ticket);
        }
    }

    /// <summary>Client side, once the batch was answered: whether a Parse Gatehouse put before a Bind or Describe (to prepare
    /// the statement again) failed or was skipped, so the server has no statement of that name; asked once.</summary>
    public bool TakeLostReprepare(string name)
    {
        lock (_names)
        {
            return _lostReprepares?.Remove(name) == true;
        }
    }

    // Under _names: names whose injected Parse the server failed or skipped (Close went first, or was skipped too).
    private HashSet<string>? _lostReprepares;

    private void LoseReprepare(in Entry entry)
    {
        if (entry.Kind == Kind.Parse && entry.Injected)
        {
            lock (_names)
            {
                (_lostReprepares ??= new(StringComparer.Ordinal)).Add(entry.Name!);
            }
        }
    }

    /// <summary>Client side, likewise: the server's portal of that name runs <paramref name="ticket"/>'s statement.</summary>
    public bool ServerHasPortal(string name, StatementTicket? ticket)
    {
        lock (_names)
        {
            return !OutOfStep && _portals.TryGetValue(name, out var known) && ReferenceEquals(known.Ticket, ticket);
        }
    }

    /// <summary>
    /// Client side: the COPY … FROM STDIN of entry <paramref name="entry"/> was sent. Until the client ends it, the server
    /// ignores Sync and Flush and takes any other message as the end of the copy, so what the client sends meanwhile
    /// depends on whether the copy started (<see cref="CopyStartAsync"/>).
    /// </summary>
    public void CopySent(long entry)
    {
        lock (_names)
        {
            _copyEntry = entry;
            _copyState = CopyState.Pending;
            _copyOpen = 1;
        }
    }

    /// <summary>Client side: the client ended its copy (CopyDone, CopyFail), or Gatehouse ended it for the client.</summary>
    public void CopyClosed()
    {
        lock (_names)
        {
            _copyState = CopyState.None;
            _copyEntry = -1;
            _copyOpen = 0;
        }
    }

    /// <summary>Client side: waits until the server's answers tell whether the copy runs (Active) or not any more (Ended).</summary>
    public async ValueTask<CopyState> CopyStartAsync(CancellationToken ct)
    {
        Task wait;
        lock (_names)
        {
            if (_copyState != CopyState.Pending || OutOfStep)
            {
                return OutOfStep ? CopyState.Ended : _copyState;
            }

            _waitingFor = -1;
            _waiter = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            wait = _waiter.Task.WaitAsync(ct);
        }

        await wait;
        lock (_names)
        {
            return OutOfStep || _copyState == CopyState.None ? CopyState.Ended : _copyState;
        }
    }

    // Server side: a CopyInResponse, or the end of a command (headFinished) or of a request; the copy's state follows.
    private void CopyProgress(bool copyIn = false, bool headFinished = false)
    {
        if (Volatile.Read(ref _copyOpen) == 0)
        {
            return; // no copy from the client: the usual case costs a read
        }

        lock (_names)
        {
            if (_copyState is CopyState.Pending or CopyState.Active)
            {
                long head = Interlocked.Read(ref _answered);
                if (head > _copyEntry || (_copyState == CopyState.Active && headFinished && head == _copyEntry))
                {
                    _copyState = CopyState.Ended;
                    _copyOpen = 0;
                }
                else if (copyIn && head == _copyEntry)
                {
                    _copyState = CopyState.Active;
                }
            }

            Signal();
        }
    }

    // Under _names.
    private void Signal()
    {
        if (_waiter is { } waiter && (OutOfStep || (_waitingFor >= 0 ? _readies >= _waitingFor : _copyState != CopyState.Pending)))
        {
            _waiter = null;
            waiter.TrySetResult();
        }
    }
}
