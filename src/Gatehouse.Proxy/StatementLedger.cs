using System.Collections.Concurrent;
using Gatehouse.Pipeline;
using Gatehouse.Pipeline.Masking;
using Gatehouse.Protocol;

namespace Gatehouse.Proxy;

/// <summary>
/// Pairs what the client asked for with what the server answers, in order, so every response can be attributed to
/// the statement (ticket) that produced it: the client pump appends one entry per request that the server answers
/// (Query, Parse, Bind, Describe, Execute, Close, Sync, and each refusal); the server pump consumes them.
/// <code>
///  Query      → [RowDescription DataRow* | CopyIn/Out …] CommandComplete | EmptyQueryResponse, per statement; ErrorResponse ends it; ReadyForQuery
///  Parse      → ParseComplete           Bind → BindComplete          Close → CloseComplete
///  Describe   → [ParameterDescription] RowDescription | NoData
///  Execute    → DataRow* CommandComplete | EmptyQueryResponse | PortalSuspended
///  Sync       → ReadyForQuery; after an ErrorResponse the server skips every entry up to the Sync
///  injected   → Describe P before an Execute under masks, Close S + Parse before a Bind after hidden code: answers dropped
///  refusal    → the server's syntax error for <see cref="RefusalStatement"/>, replaced by Gatehouse's error
///  stand-in   → CloseComplete for <see cref="RefusalStatement.StandInMessage"/>, replaced by the entry's answer
///               (a refused statement's Parse → ParseComplete, Describe → ParameterDescription NoData,
///               Bind → BindComplete, Describe of that portal → NoData)
/// </code>
/// A statement's session effects are committed when its CommandComplete arrives, never earlier. If the responses
/// ever fail to pair (a protocol flow this ledger does not know), it stops attributing (<see cref="OutOfStep"/>),
/// so nothing more is committed and later statements that depend on session state fail closed.
/// The client side appends from one thread and the server side consumes from another.
/// </summary>
internal sealed partial class StatementLedger
{
    internal enum Kind : byte { Query, QueryRefusal, ParseRefusal, Parse, Bind, Describe, Execute, Close, Sync, StandIn }

    internal readonly record struct Entry(
        Kind Kind, StatementTicket? Ticket = null, string? Name = null, string? Portal = null, Refusal? Refusal = null, byte Target = 0,
        bool Injected = false, short[]? Formats = null, bool FormatsKnown = true, string?[]? Parameters = null, long At = 0, byte[]? Answer = null,
        StatementTicket? Replaces = null);

    /// <summary>A portal as the server side knows it: its statement's ticket, the result formats Bind chose, and its
    /// column plan once a Describe of the portal has been answered.</summary>
    private sealed record PortalState(StatementTicket? Ticket, short[]? Formats, bool FormatsKnown, string?[]? Parameters)
    {
        public ColumnPlan? Plan { get; set; }
    }

    // Described columns of portals whose ticket records its rows, by portal name (made at the first such portal).
    private Dictionary<string, ResultShape>? _portalShapes;

    private readonly ConcurrentQueue<Entry> _entries = new();

    // Server side only.
    private readonly Dictionary<string, StatementTicket?> _statements = new(StringComparer.Ordinal);
    private readonly Dictionary<string, PortalState> _portals = new(StringComparer.Ordinal);
    private int _statementIndex;
    private bool _skippingToSync;

    // The column plan of the simple-query result set whose rows are arriving.
    private ColumnPlan? _queryPlan;

    /// <summary>Client side: the client's messages up to the next Sync are being dropped (after a refused Parse).</summary>
    public bool DiscardingUntilSync { get; set; }

    /// <summary>Responses stopped pairing with requests; nothing more is attributed or committed.</summary>
    public bool OutOfStep { get; private set; }

    /// <summary>Called with the number of Query messages the server skipped (no ReadyForQuery comes for them).</summary>
    public Action<int>? RequestsSkipped { get; init; }

    /// <summary>Whether the session's grant masks anything (rows of a portal not seen bound are then refused).</summary>
    public Func<bool>? SessionHasMasks { get; init; }

    /// <summary>Entries appended and not yet answered (for tests).</summary>
    public int Pending => _entries.Count;

    public void Expect(in Entry entry)
    {
        _expected++;
        if (entry.Kind == Kind.Sync || IsQuery(entry.Kind))
        {
            _readiesOwed++;
        }

        _entries.Enqueue(entry);
        if (entry.At != 0)
        {
            Volatile.Write(ref _lastTimedAt, entry.At);
        }
    }

    /// <summary>Observes the time from a request (Query, Execute) going upstream to its first response; null: not measured.</summary>
    public Prometheus.Histogram? UpstreamLatency { get; init; }

    // The timestamp of the last timed request entered (client side) and of the last whose first response was seen
    // (server side). Equal in the steady state, so a frame costs one compare; timestamps only grow.
    private long _lastTimedAt;
    private long _timedAt;

    /// <summary>Server side, for every frame from upstream: the first one after a timed request is its response.</summary>
    public void OnServerFrame(byte code)
    {
        if (UpstreamLatency is null || Volatile.Read(ref _lastTimedAt) == _timedAt || code == (byte)BackendMessageCode.NotificationResponse)
        {
            return;
        }

        if (Head(out var head) && head.At > _timedAt)
        {
            _timedAt = head.At;
            UpstreamLatency.Observe(System.Diagnostics.Stopwatch.GetElapsedTime(head.At).TotalSeconds);
        }
    }

    /// <summary>Returned by <see cref="OnResponse"/> for a frame the client must not see (the answer to an injected Describe,
    /// Close or Parse).</summary>
    public static readonly byte[] Drop = [];

    /// <summary>Server side: one response frame arrived (RowDescription goes to <see cref="OnRowDescriptionAsync"/>).
    /// Returns the bytes to send the client instead, <see cref="Drop"/>, or null to pass it.</summary>
    public byte[]? OnResponse(byte code, ReadOnlySpan<byte> frame)
    {
        if (OutOfStep)
        {
            return null;
        }

        switch ((BackendMessageCode)code)
        {
            case BackendMessageCode.ParseComplete:
                if (Take(Kind.Parse, out var parse))
                {
                    lock (_names)
                    {
                        _statements[parse.Name!] = parse.Ticket;
                        _lostReprepares?.Remove(parse.Name!);
                    }

                    parse.Ticket?.CommitPrepared();
                    if (parse.Injected)
                    {
                        return Drop; // a statement prepared again ahead of the client's Bind or Describe
                    }
                }

                return null;
            case BackendMessageCode.BindComplete:
                if (Take(Kind.Bind, out var bind))
                {
                    // The client side resolved the statement's ticket when the Bind went out; it decides the masks, but
                    // only if the server confirmed that very Parse. Otherwise (the server refused it: the name was a SQL
                    // PREPAREd statement's) the server bound another statement, and the portal stays unknown: under masks
                    // its rows are refused (RowPlan).
                    var confirmed = _statements.GetValueOrDefault(bind.Name!);
                    if (bind.Replaces is not null && ReferenceEquals(confirmed, bind.Replaces))
                    {
                        // Decided again under a newer policy at this Bind: the same server statement, its new ticket.
                        lock (_names)
                        {
                            _statements[bind.Name!] = confirmed = bind.Ticket;
                        }
                    }

                    if (bind.Ticket is not null && !ReferenceEquals(confirmed, bind.Ticket))
                    {
                        lock (_names)
                        {
                            _portals.Remove(bind.Portal!);
                        }

                        _portalShapes?.Remove(bind.Portal!);
                        return null;
                    }

                    lock (_names)
                    {
                        _portals[bind.Portal!] = new PortalState(bind.Ticket ?? confirmed, bind.Formats, bind.FormatsKnown, bind.Parameters);
                    }

                    _portalShapes?.Remove(bind.Portal!);
                    // A new execution: rows of one that never completed (a suspended portal left behind) are not its.
                    _portals[bind.Portal!].Ticket?.Result?.Reset();
                }

                return null;
            case BackendMessageCode.CloseComplete when Head(out var standIn) && standIn.Kind == Kind.StandIn:
                // In the server's order, so it can neither overtake earlier answers nor outlive an error (the server
                // skips the stand-in like any message after an error, and the client gets nothing for it either).
                Pop();
                return standIn.Answer;
            case BackendMessageCode.CloseComplete:
                if (Take(Kind.Close, out var close))
                {
                    StatementTicket? closed = null;
                    bool removed;
                    lock (_names)
                    {
                        removed = close.Target == (byte)'S' ? _statements.Remove(close.Name!, out closed) : _portals.Remove(close.Name!);
                    }

                    if (close.Target == (byte)'S' && removed)
                    {
                        closed?.CommitClosed();
                    }
                    else if (close.Target == (byte)'P')
                    {
                        _portalShapes?.Remove(close.Name!);
                    }

                    if (close.Injected)
                    {
                        return Drop;
                    }
                }

                return null;
            case BackendMessageCode.NoData when Head(out var head) && head.Kind == Kind.Describe:
                Pop();
                return head.Injected ? Drop : null;
            case BackendMessageCode.CommandComplete or BackendMessageCode.EmptyQueryResponse or BackendMessageCode.PortalSuspended:
                Completed(code, frame);
                CopyProgress(headFinished: true);
                return null;
            case BackendMessageCode.ErrorResponse:
            {
                // Checked before the ledger moves past the failing entry: the copy's own error ends it.
                CopyProgress(headFinished: true);
                var replacement = Failed(frame);
                CopyProgress();
                return replacement;
            }

            case BackendMessageCode.CopyInResponse:
                CopyProgress(copyIn: true);
                return null;
            case BackendMessageCode.ReadyForQuery:
                Ready();
                return null;
            default:
                // DataRow, RowDescription of a query, ParameterDescription, COPY, notices, notifications, ParameterStatus.
                return null;
        }
    }

    private void Completed(byte code, ReadOnlySpan<byte> frame)
    {
        if (!Head(out var head))
        {
            Lost("a command completed with no request outstanding");
            return;
        }

        bool ran = code == (byte)BackendMessageCode.CommandComplete;
        if (head.Kind == Kind.Query)
        {
            _queryPlan = null;
            if (ran)
            {
                head.Ticket?.Commit(_statementIndex);
            }

            _statementIndex++;
            if (ran && head.Ticket is { } ticket && _statementIndex == ticket.Statements.Count)
            {
                ticket.Complete(new StatementOutcome(true, CommandTag(frame), null, StartTimestamp: head.At));
            }
        }
        else if (head.Kind == Kind.Execute)
        {
            Pop();
            var portal = _portals.GetValueOrDefault(head.Portal!);
            if (ran && portal?.Ticket is { } ticket)
            {
                if (ticket.Result is { Described: false } capture && _portalShapes?.GetValueOrDefault(head.Portal!) is { } shape)
                {
                    capture.Describe(shape); // no rows: the outcome still shows the columns
                }

                ticket.Commit(0);
                ticket.Complete(new StatementOutcome(true, CommandTag(frame), null, null, portal.Parameters, head.At));
            }
        }
        else
        {
            Lost($"a command completed while the server owed a response to {head.Kind}");
        }
    }

    private byte[]? Failed(ReadOnlySpan<byte> frame)
    {
        if (!Head(out var head) || head.Kind == Kind.Sync && !_skippingToSync)
        {
            return null; // not an answer to a request: e.g. a FATAL before the server closes
        }

        var error = ErrorFields.Parse(new System.Buffers.ReadOnlySequence<byte>(frame[FrameHeader.Size..].ToArray()));
        byte[]? replacement = null;
        if (head.Kind is Kind.QueryRefusal or Kind.ParseRefusal && RefusalStatement.IsAnswer(error))
        {
            replacement = RefusalStatement.ClientError(head.Refusal!.SqlState, head.Refusal.Message, head.Refusal.Position);
        }
        else
        {
            var portal = head.Kind == Kind.Execute ? _portals.GetValueOrDefault(head.Portal!) : null;
            var ticket = head.Kind == Kind.Execute ? portal?.Ticket : head.Ticket;
            ticket?.Complete(new StatementOutcome(false, null, error.SqlState, error.Message, portal?.Parameters, head.At));
        }

        // A simple query ends at its ReadyForQuery; in the extended protocol the server now skips to Sync.
        if (!IsQuery(head.Kind))
        {
            _skippingToSync = true;
            int queries = 0;
            while (Head(out var skipped) && skipped.Kind != Kind.Sync)
            {
                Pop();
                LoseReprepare(skipped);
                queries += IsQuery(skipped.Kind) ? 1 : 0;
            }

            if (queries > 0)
            {
                Answered(queries, skipped: queries);
            }
        }

        return replacement;
    }

    private void Ready()
    {
        // Everything up to the Sync or query this ReadyForQuery answers is done (skipped entries included). While the
        // server skips to Sync, a query sent after its error is skipped too: this ReadyForQuery is the Sync's.
        int queries = 0;
        while (_entries.TryDequeue(out var entry))
        {
            Interlocked.Increment(ref _answered);
            if (entry.Kind == Kind.Sync || (IsQuery(entry.Kind) && !_skippingToSync))
            {
                break;
            }

            queries += IsQuery(entry.Kind) ? 1 : 0;
        }

        _skippingToSync = false;
        CopyProgress();
        Answered(1 + queries, skipped: queries);

        _statementIndex = 0;
        _queryPlan = null;
    }

    private static bool IsQuery(Kind kind) => kind is Kind.Query or Kind.QueryRefusal;

    /// <summary>
    /// Server side: <paramref name="readies"/> requests owed a ReadyForQuery are answered, <paramref name="skipped"/> of
    /// them Queries the server skipped (sent after an error of the extended protocol, before the Sync: no ReadyForQuery
    /// comes for them, but the client side counted one), so batch numbers and <see cref="RequestsSkipped"/>'s listener
    /// stay in step with the server.
    /// </summary>
    private void Answered(int readies, int skipped)
    {
        lock (_names)
        {
            Interlocked.Add(ref _readies, readies);
            Signal();
        }

        if (skipped > 0)
        {
            RequestsSkipped?.Invoke(skipped);
        }
    }

    private bool Head(out Entry head) => _entries.TryPeek(out head);

    private void Pop()
    {
        _entries.TryDequeue(out _);
        Interlocked.Increment(ref _answered);
    }

    private bool Take(Kind kind, out Entry entry)
    {
        if (_entries.TryPeek(out entry) && entry.Kind == kind)
        {
            Pop();
            return true;
        }

        Lost($"a {kind} completion arrived out of order");
        return false;
    }

    private void Lost(string why)
    {
        OutOfStep = true;
        LostReason = why;
        lock (_names)
        {
            Signal(); // a waiting client side learns nothing more from here: it treats every name as unknown
        }
    }

    /// <summary>Why the ledger stopped pairing, for the log.</summary>
    public string? LostReason { get; private set; }

    private static string? CommandTag(ReadOnlySpan<byte> frame)
    {
        var payload = frame[FrameHeader.Size..];
        int end = payload.IndexOf((byte)0);
        return end < 0 ? null : System.Text.Encoding.UTF8.GetString(payload[..end]);
    }
}

/// <summary>A result that must be masked cannot be: the relay refuses it (the client gets an error, never raw rows).</summary>
internal sealed class MaskingException(string message, bool denied = false) : Exception(message)
{
    /// <summary>Refused by the grant's <c>strict_masking: deny</c> (42501), not because masking failed.</summary>
    public bool Denied { get; } = denied;
}
