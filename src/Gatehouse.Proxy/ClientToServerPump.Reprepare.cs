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

    // Under masks: statements sent to run (Queries, Executes). A statement run since another was parsed may have been
    // hidden code Gatehouse did not recognise: under masks that other statement is prepared again anyway.
    private long _maskedRuns;

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
            _parses[name] = new KeptStatement(frame.Length <= KeptParse ? frame.ToArray() : null, CodeRuns, _maskedRuns);
        }
    }

    private void ForgetParse(string name) => _parses.Remove(name);

    private void ForgetParses() => _parses.Clear();

    /// <summary>
    /// A ticket is about to run (<paramref name="executes"/>: a Query, an Execute of its portal of
    /// <paramref name="statement"/>) or be bound (PostgreSQL plans at Bind, and may call IMMUTABLE functions then): if it
    /// may run hidden code, every named statement is prepared again at its next use, portals bound before are refused at
    /// their next Execute, and SQL names made before are unknown to EXECUTE and FETCH. Asked only while the session has
    /// names to lose.
    /// </summary>
    private async ValueTask NoteRunAsync(StatementTicket? ticket, string? statement, bool executes, CancellationToken ct)
    {
        if (executes && pipeline!.HasMasks)
        {
            _maskedRuns++;
            if (statement is { Length: > 0 } && _parses.TryGetValue(statement, out var own))
            {
                own.RunsAt = _maskedRuns; // its own executions leave it as it is
            }
        }

        if (_codeAtEveryRun || ((_parses.Count > 0 || _portals.Count > 0 || _sqlNamesMade) && ticket is not null && await pipeline!.RunsHiddenCodeAsync(ticket, ct)))
        {
            _codeAtEveryRun |= ticket?.Statements.Any(s => s.Effects.Any(e => e is Gatehouse.Sql.SessionEffect.DeclareCursor)) == true;
            HiddenCodeRan(executes);
        }
    }

    /// <summary>A Sync: after a cursor over hidden code was declared, the commit it may end runs that code.</summary>
    private void NoteSync()
    {
        if (_codeAtEveryRun)
        {
            HiddenCodeRan(executes: false);
        }
    }

    private void HiddenCodeRan(bool executes)
    {
        pipeline!.HiddenCodeSent();
        // A run gets the number _runs + 1; at a Bind or Sync, portals bound since the last run are left alone.
        _hiddenCodeRanAt = Math.Max(_hiddenCodeRanAt, executes ? _runs + 1 : _runs);
    }

    /// <summary>Hidden code ran since the portal was bound or last executed: it may have replaced it under its name.</summary>
    private bool BoundBeforeHiddenCode(long ranAt) => ranAt < _hiddenCodeRanAt;

    /// <summary>The statement must be prepared again before it is used: hidden code ran since it was (re)parsed, or under
    /// masks any other statement did, or the server lost it when Gatehouse prepared it again (an error skipped that).</summary>
    private bool ParsedBeforeHiddenCode(string name) =>
        _parses.TryGetValue(name, out var kept) && (kept.CodeRunsAt < CodeRuns || (pipeline!.HasMasks && kept.RunsAt < _maskedRuns));

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
        kept.RunsAt = _maskedRuns;
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
