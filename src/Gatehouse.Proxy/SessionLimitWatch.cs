using Gatehouse.Policy.Model;
using Gatehouse.Protocol;

namespace Gatehouse.Proxy;

/// <summary>
/// Enforces a grant's time limits on one wire session, whatever the agent SETs (SPEC §3):
/// <code>
///  client pump: Query or Sync sent ──► Sent()     a statement starts (or waits behind earlier ones)
///  server pump: ReadyForQuery      ──► Ready(s)   it ended; s tells whether a transaction is open
///  timer: statement_timeout           → CancelRequest upstream; the server's 57014 is re-worded (RewriteError)
///         transaction_timeout         → Ended: FATAL 25P04, the session closes
///         idle_in_transaction_timeout → Ended: FATAL 25P03, the session closes
/// </code>
/// Each Query and each Sync gets exactly one ReadyForQuery, so the count of those outstanding says whether the server
/// is working. The limits are read at each statement start, so a policy reload reaches open sessions.
/// Called from both pumps and a timer thread: all state is under one lock.
/// </summary>
internal sealed class SessionLimitWatch : IDisposable
{
    public const string StatementTimeoutState = "57014";
    public const string IdleInTransactionTimeoutState = "25P03";
    public const string TransactionTimeoutState = "25P04";

    private readonly Func<GrantLimits> _limits;
    private readonly Func<ValueTask> _cancelUpstream;
    private readonly TimeProvider _time;
    private readonly ITimer _timer;
    private readonly Lock _lock = new();
    private readonly TaskCompletionSource<(string SqlState, string Message)> _ended = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private GrantLimits _current = GrantLimits.None;
    private int _outstanding;
    private long _statementStart;
    private long? _transactionStart;
    private long? _idleSince;
    private TransactionStatus _status = TransactionStatus.Idle;

    // The running statement was cancelled for its timeout; the timeout it had, for the message.
    private bool _cancelSent;
    private TimeSpan _cancelledAfter;
    private int _rewritesOwed;

    public SessionLimitWatch(Func<GrantLimits> limits, Func<ValueTask> cancelUpstream, TimeProvider time)
    {
        _limits = limits;
        _cancelUpstream = cancelUpstream;
        _time = time;
        _timer = time.CreateTimer(_ => OnTimer(), null, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
    }

    /// <summary>Completes with the FATAL error to end the session with, when a transaction limit is exceeded.</summary>
    public Task<(string SqlState, string Message)> Ended => _ended.Task;

    // Requests sent and ReadyForQuery messages received, counted from the start; the number of the last ReadyForQuery
    // that found no transaction open (every portal a Bind made was gone by then).
    private long _sent;
    private long _readies;
    private long _lastIdleReady;

    /// <summary>How many Query and Sync messages went to the server so far (read on the client side, which counts them).</summary>
    public long SentCount => Volatile.Read(ref _sent);

    /// <summary>A transaction ended (a ReadyForQuery said idle) for a request sent after the first <paramref name="sent"/> ones.</summary>
    public bool EndedTransactionAfter(long sent) => Volatile.Read(ref _lastIdleReady) > sent;

    /// <summary>Client side: a Query or Sync is about to go to the server.</summary>
    public void Sent()
    {
        lock (_lock)
        {
            _sent++;
            long now = _time.GetTimestamp();
            if (_outstanding++ == 0)
            {
                _current = _limits();
                StartStatement(now);
            }

            _idleSince = null;
            Arm(now);
        }
    }

    /// <summary>Server side: the server skipped <paramref name="count"/> queries after an error of the extended protocol
    /// (no ReadyForQuery comes for them): they are no longer outstanding.</summary>
    public void Skipped(int count)
    {
        lock (_lock)
        {
            _readies += count;
            _outstanding = Math.Max(0, _outstanding - count);
        }
    }

    /// <summary>Server side: a ReadyForQuery arrived.</summary>
    public void Ready(TransactionStatus status)
    {
        lock (_lock)
        {
            long now = _time.GetTimestamp();
            _readies++;
            if (status == TransactionStatus.Idle)
            {
                _lastIdleReady = _readies;
            }

            _status = status;
            _outstanding = Math.Max(0, _outstanding - 1);
            _rewritesOwed = 0; // a cancel's 57014 arrives before the ReadyForQuery of the statement it ended
            if (status == TransactionStatus.Idle)
            {
                _transactionStart = null;
            }

            if (_outstanding > 0)
            {
                StartStatement(now); // the next pipelined request starts now
            }
            else
            {
                _cancelSent = false;
                _idleSince = status == TransactionStatus.Idle ? null : now;
            }

            Arm(now);
        }
    }

    /// <summary>Server side: an ErrorResponse. Returns Gatehouse's wording when it is the cancel this watch sent.</summary>
    public byte[]? RewriteError(ReadOnlySpan<byte> frame)
    {
        lock (_lock)
        {
            if (_rewritesOwed == 0)
            {
                return null;
            }
        }

        var error = ErrorFields.Parse(new System.Buffers.ReadOnlySequence<byte>(frame[FrameHeader.Size..].ToArray()));
        if (error.SqlState != StatementTimeoutState)
        {
            return null;
        }

        TimeSpan after;
        lock (_lock)
        {
            _rewritesOwed--;
            after = _cancelledAfter;
        }

        return BackendMessages.Error(StatementTimeoutState, $"gatehouse: canceling statement due to limits.statement_timeout ({Format(after)}) of the grant");
    }

    private void StartStatement(long now)
    {
        _statementStart = now;
        _cancelSent = false;
        if (_status == TransactionStatus.Idle)
        {
            _transactionStart ??= now; // an implicit transaction (one statement) counts too, as in PostgreSQL
        }
    }

    private void OnTimer()
    {
        bool cancel = false;
        (string, string)? end = null;
        lock (_lock)
        {
            long now = _time.GetTimestamp();
            var limits = _current;
            if (_outstanding > 0 && !_cancelSent && limits.StatementTimeout is { } statement && Elapsed(_statementStart, now) >= statement)
            {
                _cancelSent = cancel = true;
                _cancelledAfter = statement;
                _rewritesOwed++;
            }

            if (_transactionStart is { } started && limits.TransactionTimeout is { } transaction && Elapsed(started, now) >= transaction)
            {
                end = (TransactionTimeoutState, $"gatehouse: terminating connection due to transaction timeout (limits.transaction_timeout {Format(transaction)} of the grant)");
            }
            else if (_idleSince is { } idle && limits.IdleInTransactionTimeout is { } idleLimit && Elapsed(idle, now) >= idleLimit)
            {
                end = (IdleInTransactionTimeoutState, $"gatehouse: terminating connection due to idle-in-transaction timeout (limits.idle_in_transaction_timeout {Format(idleLimit)} of the grant)");
            }

            if (end is null)
            {
                Arm(now);
            }
        }

        if (end is { } fatal)
        {
            _ended.TrySetResult(fatal);
        }
        else if (cancel)
        {
            _ = CancelAsync();
        }
    }

    private async Task CancelAsync()
    {
        try
        {
            await _cancelUpstream();
        }
        catch (Exception ex) when (ex is IOException or System.Net.Sockets.SocketException or OperationCanceledException or System.Security.Authentication.AuthenticationException)
        {
            // The server is unreachable: the session fails on its own; nothing to cancel.
        }
    }

    /// <summary>Sets the timer to the nearest deadline still ahead.</summary>
    private void Arm(long now)
    {
        var limits = _current;
        TimeSpan? next = null;
        if (_outstanding > 0 && !_cancelSent && limits.StatementTimeout is { } statement)
        {
            next = Min(next, statement - Elapsed(_statementStart, now));
        }

        if (_transactionStart is { } started && limits.TransactionTimeout is { } transaction)
        {
            next = Min(next, transaction - Elapsed(started, now));
        }

        if (_idleSince is { } idle && limits.IdleInTransactionTimeout is { } idleLimit)
        {
            next = Min(next, idleLimit - Elapsed(idle, now));
        }

        _timer.Change(next is { } due ? (due < TimeSpan.Zero ? TimeSpan.Zero : due) : Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
    }

    private TimeSpan Elapsed(long from, long now) => _time.GetElapsedTime(from, now);

    private static TimeSpan? Min(TimeSpan? a, TimeSpan b) => a is { } x && x < b ? x : b;

    /// <summary>As written in a policy: 500ms, 30s, 5m, 2h.</summary>
    internal static string Format(TimeSpan value)
    {
        long ms = (long)value.TotalMilliseconds;
        return ms % 1000 != 0 ? $"{ms}ms"
            : ms % 60_000 != 0 ? $"{ms / 1000}s"
            : ms % 3_600_000 != 0 ? $"{ms / 60_000}m"
            : $"{ms / 3_600_000}h";
    }

    public void Dispose() => _timer.Dispose();
}
