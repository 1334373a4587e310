using Gatehouse.Pipeline;
using Gatehouse.Protocol;

namespace Gatehouse.Proxy;

/// <summary>
/// Code Gatehouse does not read (a DO block, a procedure, a user function) can redefine a statement the client prepared:
/// <c>EXECUTE 'DEALLOCATE s1'; EXECUTE 'PREPARE s1 AS …'</c> shares the protocol's namespace. After such code was sent,
/// the next Bind or Describe of each named statement prepared before it prepares it again in place: Close and the
/// client's own Parse go first (their answers are not shown), decided again like a new Parse, so the server runs the
/// text Gatehouse decided and recorded. The unnamed statement needs none of this (SQL cannot name it).
/// </summary>
internal sealed partial class ClientToServerPump
{
    // Parses above this size are not kept: a Bind of such a statement after hidden code ran is refused (prepare it again).
    private const int KeptParse = 1 << 20;

    /// <summary>A named statement's Parse as the client sent it (null: too large to keep); the session's hidden-code
    /// count when it was last (re)parsed; under masks, the count of other statements run since.</summary>
    private sealed class KeptStatement(byte[]? parse, long codeRunsAt, long runsAt)
    {
        public byte[]? Parse { get; } = parse;

        public long CodeRunsAt { get; set; } = codeRunsAt;

        public long RunsAt { get; set; } = runsAt;
    }

    private readonly Dictionary<string, KeptStatement> _parses = new(StringComparer.Ordinal);

    // The _runs number of the latest hidden-code run (portals bound or run before it may have been replaced).
    private long _hiddenCodeRanAt = -1;

    // Bytes of Parse frames kept: past the budget a Parse is not kept (a stale Bind of it is refused: prepare it again).
    private const long KeptParseBudget = 16 << 20;
    private long _keptBytes;

    // A guarded session (masks, or hidden code ran): code can run where Gatehouse does not recognise it (a deferred
    // trigger at a commit, a temporary table's default, a DBA's trigger that runs SQL from the row), so a named statement
    // is prepared again once anything else ran or committed since it was (re)parsed (GuardedRuns counts those).
    private bool Guarded => pipeline!.Guarded;

    private long GuardedRuns => pipeline!.GuardedRuns;

    // A statement ran since the last Sync: that Sync may commit (and run deferred triggers).
    private bool _ranSinceSync;

    // A statement that makes a SQL name (PREPARE, DECLARE) was sent: from then on hidden code is looked for.
    private bool _sqlNamesMade;

    // A cursor over hidden code was declared: its query may run at any later message (a WITH HOLD cursor's at the
    // commit, which may be a COMMIT, a Sync or the end of a query string), so every later run and Sync counts as code.
    private bool _codeAtEveryRun;

    private long CodeRuns => pipeline!.HiddenCodeRuns;

    private void KeepParse(string name, ReadOnlySpan<byte> frame)
    {
        if (name.Length > 0)
        {
            ForgetParse(name);
            bool keep = frame.Length <= KeptParse && _keptBytes + frame.Length <= KeptParseBudget;
            _keptBytes += keep ? frame.Length : 0;
            _parses[name] = new KeptStatement(keep ? frame.ToArray() : null, CodeRuns, GuardedRuns);
        }
    }

    private void ForgetParse(string name)
    {
        if (_parses.Remove(name, out var kept))
        {
            _keptBytes -= kept.Parse?.Length ?? 0;
        }
    }

    private void ForgetParses()
    {
        _parses.Clear();
        _keptBytes = 0;
    }

    /// <summary>
    /// A ticket is about to run (<paramref name="executes"/>: a Query, an Execute of its portal of
    /// <paramref name="statement"/>) or be bound (PostgreSQL plans at Bind, and may call IMMUTABLE functions then): if it
    /// may run hidden code, every named statement is prepared again at its next use, portals bound before are refused at
    /// their next Execute, and SQL names made before are unknown to EXECUTE and FETCH. Asked while the session has names
    /// to lose, and for statements that call functions or are code.
    /// </summary>
    private async ValueTask NoteRunAsync(StatementTicket? ticket, string? statement, bool executes, CancellationToken ct)
    {
        // An Execute that may queue deferred triggers (a write): the Sync that ends its implicit transaction runs them. A
        // query commits its own implicit transaction.
        _ranSinceSync = _ranSinceSync || (executes && statement is not null && ticket is not null && MayQueueTriggers(ticket));
        if (executes && Guarded)
        {
            // Its own executions leave it as it is, and so do the prepared statement's its EXECUTE runs.
            string? executed = ticket?.Statements is [{ Executes: { } name }] ? name : null;
            pipeline!.GuardedRunSent(statement, executed);
            if (statement is { Length: > 0 } && _parses.TryGetValue(statement, out var kept))
            {
                kept.RunsAt = GuardedRuns;
            }
        }

        if (_codeAtEveryRun || ((_parses.Count > 0 || _portals.Count > 0 || _sqlNamesMade || MayCallCode(ticket)) && ticket is not null && await pipeline!.RunsHiddenCodeAsync(ticket, ct)))
        {
            _codeAtEveryRun |= ticket?.Statements.Any(s => s.Effects.Any(e => e is Gatehouse.Sql.SessionEffect.DeclareCursor)) == true;
            HiddenCodeRan(executes);
        }
    }

    private static bool MayQueueTriggers(StatementTicket ticket) =>
        ticket.Statements.Any(s => s.WrittenRelations.Count > 0 || s.WritesUnlistedRelations
            || s.Class is Gatehouse.Sql.StatementClass.Write or Gatehouse.Sql.StatementClass.Ddl or Gatehouse.Sql.StatementClass.Code or Gatehouse.Sql.StatementClass.Unknown);

    // Code that runs before the session has names can still make the objects that redefine them later (a temporary
    // table with a trigger): a statement that calls functions or is code is always asked about (one cached lookup).
    private static bool MayCallCode(StatementTicket? ticket) =>
        ticket is not null && ticket.Statements.Any(s => s.Functions.Count > 0 || s.Class is Gatehouse.Sql.StatementClass.Code or Gatehouse.Sql.StatementClass.Unknown);

    /// <summary>A Sync: the implicit transaction it may end runs deferred triggers (and, after a cursor over hidden code
    /// was declared, that code).</summary>
    private void NoteSync()
    {
        if (_codeAtEveryRun)
        {
            HiddenCodeRan(executes: false);
        }

        if (_ranSinceSync && Guarded)
        {
            pipeline!.GuardedRunSent(null, null);
        }

        _ranSinceSync = false;
    }

    private void HiddenCodeRan(bool executes)
    {
        pipeline!.HiddenCodeSent();
        // A run gets the number _runs + 1; at a Bind or Sync, portals bound since the last run are left alone.
        _hiddenCodeRanAt = Math.Max(_hiddenCodeRanAt, executes ? _runs + 1 : _runs);
    }

    /// <summary>Hidden code ran since the portal was bound or last executed: it may have replaced it under its name.</summary>
    private bool BoundBeforeHiddenCode(long ranAt) => ranAt < _hiddenCodeRanAt;

    /// <summary>The statement must be prepared again before it is used: hidden code ran since it was (re)parsed, or in a
    /// guarded session any other statement or a Sync did, or the server lost it when Gatehouse prepared it again.</summary>
    private bool ParsedBeforeHiddenCode(string name) =>
        _parses.TryGetValue(name, out var kept) && (kept.CodeRunsAt < CodeRuns || (Guarded && kept.RunsAt < GuardedRuns));

    private bool CanReprepare(string name) => _parses.TryGetValue(name, out var kept) && kept.Parse is not null;

    // Whether Binds must be read whole for ParsedBeforeHiddenCode (sessions with masks read them whole anyway).
    private bool MayReprepare => _parses.Count > 0 && CodeRuns > 0;

    /// <summary>The server lost a statement Gatehouse prepared again (its Parse failed or was skipped): it is prepared
    /// again at its next Bind, as the client still has it.</summary>
    private void LostOnServer(string name)
    {
        if (_parses.TryGetValue(name, out var kept))
        {
            kept.CodeRunsAt = -1;
        }
    }

    /// <summary>Sends Close and the client's Parse of <paramref name="name"/> ahead of the message being handled, which the
    /// caller then sends too (<see cref="FramePump.Replace"/>); <paramref name="fresh"/> is the statement decided again.</summary>
    private void Reprepare(string name, StatementTicket? old, StatementTicket fresh)
    {
        var kept = _parses[name];
        ledger.Expect(new(StatementLedger.Kind.Close, old, Name: name, Target: (byte)'S', Injected: true));
        Replace(TargetMessage(FrontendMessageCode.Close, (byte)'S', name));
        ledger.Expect(new(StatementLedger.Kind.Parse, fresh, Name: name, Injected: true));
        Replace(kept.Parse);
        kept.CodeRunsAt = CodeRuns;
        kept.RunsAt = GuardedRuns;
        _statements[name] = fresh;
        _statementChanges.Changed(name);
        _reviewing |= fresh.NeedsReview;
    }

    /// <summary>A Describe or Close message of one statement ('S') or portal ('P'), as Gatehouse sends it itself.</summary>
    private static byte[] TargetMessage(FrontendMessageCode type, byte target, string name)
    {
        using var writer = new MessageWriter();
        writer.StartMessage((byte)type).WriteByte(target).WriteCString(name).EndMessage();
        return writer.ToArray();
    }
}
