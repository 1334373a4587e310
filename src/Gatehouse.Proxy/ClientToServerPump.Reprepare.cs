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

    // Named statements' Parse messages as the client sent them, and the count of hidden-code runs when each was (re)parsed.
    private readonly Dictionary<string, (byte[]? Parse, long CodeRunsAt)> _parses = new(StringComparer.Ordinal);

    // How many entries of _parses were parsed before the latest hidden-code run; and that run's number in _runs (portals
    // bound or run before it may have been replaced).
    private int _staleParses;
    private long _hiddenCodeRanAt = -1;

    // A statement that makes a SQL name (PREPARE, DECLARE) was sent: from then on hidden code is looked for.
    private bool _sqlNamesMade;

    private long CodeRuns => pipeline!.HiddenCodeRuns;

    private void KeepParse(string name, ReadOnlySpan<byte> frame)
    {
        if (name.Length > 0)
        {
            ForgetParse(name);
            _parses[name] = (frame.Length <= KeptParse ? frame.ToArray() : null, CodeRuns);
        }
    }

    private void ForgetParse(string name)
    {
        if (_parses.Remove(name, out var kept) && kept.CodeRunsAt < CodeRuns)
        {
            _staleParses--;
        }
    }

    private void ForgetParses()
    {
        _parses.Clear();
        _staleParses = 0;
    }

    /// <summary>
    /// The ticket is about to run (a Query, an Execute of its portal): if it may run hidden code, every named statement
    /// is prepared again at its next use, portals bound before are refused at their next Execute, and SQL names made
    /// before are unknown to EXECUTE and FETCH. Asked only while the session has names to lose.
    /// </summary>
    private async ValueTask NoteHiddenCodeAsync(StatementTicket? ticket, CancellationToken ct)
    {
        if ((_parses.Count > 0 || _portals.Count > 0 || _sqlNamesMade) && ticket is not null && await pipeline!.RunsHiddenCodeAsync(ticket, ct))
        {
            pipeline.HiddenCodeSent();
            _staleParses = _parses.Count;
            _hiddenCodeRanAt = _runs + 1; // the number this run gets
        }
    }

    /// <summary>Hidden code ran since the portal was bound or last executed: it may have replaced it under its name.</summary>
    private bool BoundBeforeHiddenCode(long ranAt) => ranAt < _hiddenCodeRanAt;

    private bool ParsedBeforeHiddenCode(string name) => _staleParses > 0 && _parses.TryGetValue(name, out var kept) && kept.CodeRunsAt < CodeRuns;

    private bool CanReprepare(string name) => _parses.TryGetValue(name, out var kept) && kept.Parse is not null;

    /// <summary>Sends Close and the client's Parse of <paramref name="name"/> ahead of the message being handled, which the
    /// caller then sends too (<see cref="FramePump.Replace"/>); <paramref name="fresh"/> is the statement decided again.</summary>
    private void Reprepare(string name, StatementTicket? old, StatementTicket fresh)
    {
        var parse = _parses[name].Parse!;
        ledger.Expect(new(StatementLedger.Kind.Close, old, Name: name, Target: (byte)'S', Injected: true));
        Replace(TargetMessage(FrontendMessageCode.Close, (byte)'S', name));
        ledger.Expect(new(StatementLedger.Kind.Parse, fresh, Name: name, Injected: true));
        Replace(parse);
        _parses[name] = (parse, CodeRuns);
        _staleParses--;
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
