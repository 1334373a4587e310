using System.Diagnostics;
using Gatehouse.Pipeline;
using Gatehouse.Protocol;
using Gatehouse.Sql;

namespace Gatehouse.Proxy;

/// <summary>
/// Client → server consumer: Query and Parse go through the statement pipeline; every request the server answers
/// is entered in the ledger; FunctionCall is refused; Terminate ends the session. A refused message is replaced by
/// <see cref="RefusalStatement"/>; after a refusal the client's messages up to Sync are dropped, as the server would
/// skip them. A Parse refused for anything but its syntax or a limit is answered as prepared (stand-ins) and refused
/// at the Execute of its portal, where the server fails a statement it may not run.
/// </summary>
internal sealed partial class ClientToServerPump(
    Stream input, Stream output, int maxMessage, StatementPipeline? pipeline, StatementLedger ledger, SessionLimitWatch? limits = null)
    : FramePump(input, output, maxMessage)
{
    // Statement and portal names live at the start of a Bind; the parameters after them stream.
    private const int BindPrefix = 4096;

    // Binds up to this size are read whole on sessions with masks, for their result formats (at the end of the message).
    private const int InspectedBind = 1 << 20;

    // Client side: which ticket each statement and portal runs, and whether the client described a portal since its Bind.
    private readonly Dictionary<string, StatementTicket?> _statements = new(StringComparer.Ordinal);
    // BoundAt: how many requests had gone to the server when a named portal was bound (-1 for the unnamed one, or
    // without limits): a transaction that ended after that destroyed it, and a portal of that name later (a PL/pgSQL
    // cursor) is not the one Gatehouse knows.
    // RanAt: _runs when the portal was bound or last executed. Another statement run since may have replaced it under
    // the same name (ROLLBACK TO SAVEPOINT destroys the portals of the subtransaction, a function's CLOSE and OPEN of a
    // refcursor by that name make a new one): see the Execute case.
    private readonly Dictionary<string, (StatementTicket? Ticket, bool Described, long BoundAt, long RanAt)> _portals = new(StringComparer.Ordinal);

    // Statements sent to run: every Query and every Execute forwarded.
    private long _runs;

    public bool ClientTerminated { get; private set; }

    protected override FrameHandling Classify(byte code, long total) => (FrontendMessageCode)code switch
    {
        // While a COPY FROM STDIN may run, the server reads copy messages, ignores Sync and Flush and ends the copy at
        // anything else: every message but copy data is looked at, so the ledger keeps the server's count of requests.
        not FrontendMessageCode.CopyData when _copyOpen => FrameHandling.Inspect,
        FrontendMessageCode.FunctionCall or FrontendMessageCode.Terminate => FrameHandling.Inspect,
        FrontendMessageCode.Query or FrontendMessageCode.Parse or FrontendMessageCode.Sync or FrontendMessageCode.Describe
            or FrontendMessageCode.Execute or FrontendMessageCode.Close when pipeline is not null => FrameHandling.Inspect,
        // A statement held for review is bound only with an approval for its exact parameters: its Binds are read whole.
        FrontendMessageCode.Bind when _reviewing && !ledger.DiscardingUntilSync => FrameHandling.Inspect,
        // A Bind of a statement refused at Parse is refused: while there is one, Binds are read whole to know.
        FrontendMessageCode.Bind when _refused.Count > 0 && !ledger.DiscardingUntilSync => FrameHandling.Inspect,
        FrontendMessageCode.Bind when pipeline is { HasMasks: true } or { Audit: not null } && total <= InspectedBind && !ledger.DiscardingUntilSync => FrameHandling.Inspect,
        // A statement an earlier batch changed is checked against the server's answers at its Bind, which may wait for them.
        FrontendMessageCode.Bind when pipeline is not null && _statementChanges.MayBeUnsettled && total <= InspectedBind && !ledger.DiscardingUntilSync => FrameHandling.Inspect,
        // Code Gatehouse does not read ran since a named statement was prepared: its next Bind prepares it again first.
        FrontendMessageCode.Bind when pipeline is not null && MayReprepare && total <= InspectedBind && !ledger.DiscardingUntilSync => FrameHandling.Inspect,
        // A statement runs another by name (EXECUTE p): its Binds are read whole, to decide it again after the name changed.
        FrontendMessageCode.Bind when pipeline is not null && _followsNames && total <= InspectedBind && !ledger.DiscardingUntilSync => FrameHandling.Inspect,
        // The policy changed since the statements were checked: Binds are read whole until none was decided under an older one.
        FrontendMessageCode.Bind when pipeline is not null && total <= InspectedBind && !ReferenceEquals(pipeline.PolicyNow, _policyChecked) && !ledger.DiscardingUntilSync
            => FrameHandling.Inspect,
        _ => ledger.DiscardingUntilSync ? FrameHandling.Drop : FrameHandling.Pass,
    };

    // The policy under which no known statement was decided under an older one; Binds stream again once it is current.
    private object? _policyChecked;

    // The policy the statements were last scanned under: they are scanned again only when it changed or a Bind decided
    // one again, not at every Bind while a stale statement nobody binds is left.
    private object? _policyScanned;

    private void CheckPreparedPolicies(bool redecided)
    {
        var now = pipeline!.PolicyNow;
        if (ReferenceEquals(now, _policyChecked) || (!redecided && ReferenceEquals(now, _policyScanned)))
        {
            return;
        }

        _policyScanned = now;
        if (!_statements.Values.Any(t => t is not null && pipeline.DecidedUnderOlderPolicy(t, now)))
        {
            _policyChecked = now;
        }
    }

    // A statement held for review waits in OnFrameAsync: pipelined messages before it must reach the server first.
    protected override bool MayWait(byte code, ReadOnlySpan<byte> frame) => (FrontendMessageCode)code switch
    {
        _ when _copyOpen => code is not ((byte)FrontendMessageCode.CopyDone or (byte)FrontendMessageCode.CopyFail),
        FrontendMessageCode.Query => pipeline?.Reviews is not null || PreparedNamesUnsettled(out _),
        FrontendMessageCode.Parse => PreparedNamesUnsettled(out _),
        FrontendMessageCode.Bind => BindMayWait(frame[FrameHeader.Size..]),
        FrontendMessageCode.Execute => ExecuteMayWait(frame[FrameHeader.Size..]),
        _ => false,
    };

    protected override int PrefixLength(byte code) => code == (byte)FrontendMessageCode.Bind && pipeline is not null ? BindPrefix : 0;

    protected override bool OnStreamed(byte code, ReadOnlySpan<byte> prefix, bool dropped)
    {
        if (code != (byte)FrontendMessageCode.Bind || dropped || pipeline is null)
        {
            return false;
        }

        var reader = new PayloadReader(prefix[FrameHeader.Size..]);
        if (!reader.TryReadCStringBytes(out var rawPortal) || !reader.TryReadCStringBytes(out var rawStatement))
        {
            throw new ProtocolException($"Bind names are not terminated within the first {BindPrefix} bytes");
        }

        if (!TryServerName(rawPortal, out var portal) || !TryServerName(rawStatement, out var statement))
        {
            RefuseParse(Refusals.NonAsciiName);
            return true;
        }

        if (SettleStatement(statement) is { } unsettled)
        {
            _ = pipeline.RefusedMessageAsync(BindRecord(statement), unsettled); // recorded meanwhile
            RefuseParse(unsettled);
            return true;
        }

        if (!_statements.TryGetValue(statement, out var known))
        {
            RefuseParse(UnknownStatement(statement).Refusal); // recorded meanwhile: a streamed frame cannot wait
            return true;
        }

        if (known is not null && (pipeline.DecidedUnderOlderPolicy(known, pipeline.PolicyNow) || pipeline.NamesChangedSince(known)))
        {
            // Deciding again needs a wait a streamed frame cannot make (a Bind over 1 MiB): the client prepares it again.
            RefuseParse(Refusals.PreparedUnderOlderPolicy(statement));
            return true;
        }

        if (known is not null && ParsedBeforeHiddenCode(statement))
        {
            // Likewise preparing it again (Close and Parse cannot go ahead of a frame already streaming).
            var stale = Refusals.PreparedBeforeHiddenCode(statement);
            _ = pipeline.RefusedMessageAsync(BindRecord(statement), stale); // recorded meanwhile
            RefuseParse(stale);
            return true;
        }

        // Streamed (large) Bind: its result formats are not read; a masked result on this portal is refused.
        ExpectBind(portal, statement, null, formatsKnown: pipeline.HasMasks is false, StreamedParameters);
        if ((_parses.Count > 0 || _sqlNamesMade) && known is not null && (_codeAtEveryRun || known.RunsHiddenCode != false))
        {
            HiddenCodeRan(executes: false); // planned at this Bind; not known (a streamed frame cannot wait to ask): counted
        }

        return false;
    }

    // What the audit trail gets for the parameters of a Bind too large to read.
    private static readonly string?[] StreamedParameters = [$"[not recorded: a Bind larger than {InspectedBind} bytes]"];

    // Names SQL PREPARE gave statements: a protocol Parse of one is refused as the server refuses it (42P05), and
    // Gatehouse must not take the Parse's text as the name's meanwhile (a Bind would then run the SQL one unreviewed).
    private readonly HashSet<string> _sqlPrepared = new(StringComparer.Ordinal);

    /// <summary>
    /// Names a SQL statement of <paramref name="ticket"/> will (re)define or remove lose what Gatehouse knew of them: a
    /// protocol Bind or Execute of such a name is then refused as unknown (a SQL PREPAREd statement or DECLAREd cursor
    /// runs through EXECUTE and FETCH, which are decided and masked), never run with the facts of the name's old owner.
    /// Forgotten before the statement runs, so a failed one errs on the side of refusing.
    /// </summary>
    private void ForgetRedefinedNames(StatementTicket? ticket)
    {
        if (ticket is null)
        {
            return;
        }

        foreach (var statement in ticket.Statements)
        {
            foreach (var effect in statement.Effects)
            {
                switch (effect)
                {
                    case SessionEffect.Prepare p:
                        _statements.Remove(p.Name);
                        ForgetParse(p.Name);
                        _sqlNamesMade = true;
                        _refused.Remove(p.Name);
                        if (_sqlPrepared.Count < SqlSessionState.MaxEntries)
                        {
                            _sqlPrepared.Add(p.Name);
                        }

                        break;
                    case SessionEffect.Deallocate { Name: { } name }:
                        _statements.Remove(name);
                        ForgetParse(name);
                        _refused.Remove(name);
                        _sqlPrepared.Remove(name);
                        break;
                    case SessionEffect.Deallocate:
                        _statements.Clear();
                        ForgetParses();
                        _refused.Clear();
                        _sqlPrepared.Clear();
                        break;
                    case SessionEffect.DeclareCursor c:
                        _portals.Remove(c.Name);
                        _sqlNamesMade = true;
                        _refusedPortals.Remove(c.Name);
                        break;
                    case SessionEffect.CloseCursor { Name: { } name }:
                        _portals.Remove(name);
                        _refusedPortals.Remove(name);
                        break;
                    case SessionEffect.CloseCursor:
                        _portals.Clear();
                        _refusedPortals.Clear();
                        break;
                }
            }
        }
    }

    // What the trail records for a Bind (or Describe) refused before it is decided.
    private static string BindRecord(string statement) => $"[protocol Bind of prepared statement \"{statement}\"]";

    // A Bind (or Describe) refused before it is decided: recorded, then refused where the server fails it.
    private async ValueTask<FrameVerdict> RefuseBindAsync(string statement, Refusal refusal)
    {
        await pipeline!.RefusedMessageAsync(BindRecord(statement), refusal);
        return RefuseParse(refusal);
    }

    // A Bind of a statement Gatehouse did not see prepared: its refusal (26000), and its record in the trail.
    private (Refusal Refusal, Task Recorded) UnknownStatement(string statement)
    {
        var refusal = Refusals.NotPreparedThroughGatehouse(statement);
        return (refusal, pipeline!.RefusedMessageAsync(BindRecord(statement), refusal));
    }

    private void ExpectBind(string portal, string statement, short[]? formats, bool formatsKnown, string?[]? parameters, StatementTicket? replaced = null)
    {
        var ticket = _statements.GetValueOrDefault(statement);
        _refusedPortals.Remove(portal);
        _portals[portal] = (ticket, false, portal.Length > 0 && limits is not null ? limits.SentCount : -1, _runs);
        _portalChanges.Changed(portal);

        ledger.Expect(new(StatementLedger.Kind.Bind, ticket, Name: statement, Portal: portal, Formats: formats, FormatsKnown: formatsKnown, Parameters: parameters,
            Replaces: replaced));
    }

    protected override void CheckCode(byte code)
    {
        if (!Enum.IsDefined((FrontendMessageCode)code))
        {
            throw new ProtocolException($"invalid frontend message type '{StreamReads.Printable(code)}'");
        }
    }

    protected override async ValueTask<FrameVerdict> OnFrameAsync(byte code, ReadOnlyMemory<byte> frame, CancellationToken ct)
    {
        var type = (FrontendMessageCode)code;
        if (type == FrontendMessageCode.Terminate)
        {
            ClientTerminated = true;
            Stop();
            return FrameVerdict.Pass;
        }

        if (!_watchingNames && pipeline is not null)
        {
            WatchPreparedNames();
        }

        if (_copyOpen && await OnCopyWindowAsync(type, ct) is { } copyVerdict)
        {
            return copyVerdict;
        }

        if (type is FrontendMessageCode.Flush or FrontendMessageCode.CopyDone or FrontendMessageCode.CopyFail or FrontendMessageCode.CopyData)
        {
            return ledger.DiscardingUntilSync ? FrameVerdict.Drop : FrameVerdict.Pass; // inspected only while a copy was open
        }

        if (type == FrontendMessageCode.Sync)
        {
            ledger.DiscardingUntilSync = false;
            ledger.Expect(new(StatementLedger.Kind.Sync));
            NoteSync();
            limits?.Sent();
            return FrameVerdict.Pass;
        }

        if (ledger.DiscardingUntilSync)
        {
            return FrameVerdict.Drop;
        }

        var body = frame.Span[FrameHeader.Size..];
        switch (type)
        {
            case FrontendMessageCode.FunctionCall:
                // The fastpath interface calls functions by OID, around every SQL-level check.
                if (pipeline is not null)
                {
                    await pipeline.RefusedMessageAsync("[protocol FunctionCall (fastpath)]", Refusals.FastPath);
                }

                return RefuseQuery(Refusals.FastPath);
            case FrontendMessageCode.Query:
            {
                if (ClientText(ReadCStringBytes(body, out _)) is not { } sql)
                {
                    return RefuseQuery(Refusals.ClientEncodingUnsettled);
                }

                await SettlePreparedNamesAsync(sql, ct);
                var submission = await pipeline!.SubmitAsync(StatementRequest.Query(sql), ct);
                if (submission.Refusal is { } refusal)
                {
                    return RefuseQuery(refusal);
                }

                if (submission.Ticket is { CopiesFromClient: > 1 } several)
                {
                    several.Complete(new StatementOutcome(false, null, Refusals.SeveralCopiesFromClient.SqlState, Refusals.SeveralCopiesFromClient.Message));
                    return RefuseQuery(Refusals.SeveralCopiesFromClient);
                }

                ForgetRedefinedNames(submission.Ticket);
                NameEffectsSent(submission.Ticket);
                await NoteRunAsync(submission.Ticket, null, executes: true, ct);
                NoteEncodingChange(submission.Ticket!);
                CopySent(submission.Ticket);
                _runs++;
                ledger.Expect(new(StatementLedger.Kind.Query, submission.Ticket, At: Stopwatch.GetTimestamp()));
                limits?.Sent();
                return FrameVerdict.Pass;
            }

            case FrontendMessageCode.Parse:
            {
                if (!TryServerName(ReadCStringBytes(body, out int used), out var name))
                {
                    return RefuseParse(Refusals.NonAsciiName);
                }

                if (ClientText(ReadCStringBytes(body[used..], out int sqlUsed)) is not { } sql)
                {
                    return RefuseParse(Refusals.ClientEncodingUnsettled);
                }

                _refused.Remove(name);
                if (RefusalStatement.IsReserved(name))
                {
                    return RefuseParse(RefusalStatement.ReservedName(name));
                }

                if (name.Length > 0 && (_statements.ContainsKey(name) || _sqlPrepared.Contains(name)))
                {
                    // The server refuses it (42P05) and keeps the statement it has: what Gatehouse knows of the name
                    // must stay that statement's, or a Bind would run it with another's decision (and skip its review).
                    return RefuseParse(Refusals.StatementExists(name));
                }

                await SettlePreparedNamesAsync(sql, ct);
                if (name.Length > 0)
                {
                    PreparedNameSent(name);
                }

                var submission = await pipeline!.SubmitAsync(StatementRequest.Prepare(name, sql), ct);
                if (submission.Refusal is { } refusal)
                {
                    // The server fails a syntax error or a program limit (class 54) at Parse; whatever else Gatehouse
                    // refuses fails where the server fails a statement it may not run: at its execution (#16: the
                    // statements of a batch before it run).
                    return refusal.Kind == RefusalKind.SyntaxError || refusal.SqlState.StartsWith("54", StringComparison.Ordinal)
                        ? RefuseParse(refusal)
                        : AnswerRefusedParse(name, refusal, ParameterTypes(frame.Span[(FrameHeader.Size + used + sqlUsed)..], sql));
                }

                ForgetRedefinedNames(submission.Ticket);
                if (submission.Ticket!.NeedsReview || name.Length > 0)
                {
                    // Named: an EXECUTE of it shows its types to a reviewer; held: so does its Bind.
                    submission.Ticket.DeclaredTypes = DeclaredTypes(frame.Span[(FrameHeader.Size + used + sqlUsed)..]);
                }

                _statements[name] = submission.Ticket;
                _followsNames |= submission.Ticket.DependsOnNames;
                KeepParse(name, frame.Span);
                _statementChanges.Changed(name);
                _reviewing |= submission.Ticket!.NeedsReview;
                ledger.Expect(new(StatementLedger.Kind.Parse, submission.Ticket, Name: name));
                return FrameVerdict.Pass;
            }

            case FrontendMessageCode.Bind:
            {
                var reader = new PayloadReader(body);
                if (!reader.TryReadCStringBytes(out var rawPortal) || !reader.TryReadCStringBytes(out var rawStatement))
                {
                    throw new ProtocolException("Bind names are not terminated");
                }

                if (!TryServerName(rawPortal, out var portal) || !TryServerName(rawStatement, out var statement))
                {
                    return RefuseParse(Refusals.NonAsciiName);
                }

                if (_refused.TryGetValue(statement, out var refusedStatement))
                {
                    return AnswerRefusedBind(portal, refusedStatement.Refusal);
                }

                if (await SettleStatementAsync(statement, ct) is { } unsettled)
                {
                    return await RefuseBindAsync(statement, unsettled);
                }

                if (!_statements.TryGetValue(statement, out var known))
                {
                    var (unknown, recorded) = UnknownStatement(statement);
                    await recorded;
                    return RefuseParse(unknown);
                }

                var formats = ResultMessages.ReadBindResultFormats(frame.Span[FrameHeader.Size..]) ?? throw new ProtocolException("malformed Bind message");
                var parameters = pipeline!.Audit is null ? null : ResultMessages.ReadBindParameters(frame.Span[FrameHeader.Size..], SessionAudit.MaxParameterChars, pipeline.ClientText);
                bool reprepare = known is not null && ParsedBeforeHiddenCode(statement);
                if (reprepare && !CanReprepare(statement))
                {
                    return await RefuseBindAsync(statement, Refusals.PreparedBeforeHiddenCode(statement));
                }

                StatementTicket? replaced = null, reprepared = null;
                if (known is not null && (reprepare || pipeline.DecidedUnderOlderPolicy(known, pipeline.PolicyNow) || pipeline.NamesChangedSince(known)))
                {
                    // Decided again, and recorded, under the policy and session in force now: denied, held for review or
                    // masked as a statement prepared now would be (and on what the names it runs mean now).
                    var redecided = await pipeline.SubmitAsync(StatementRequest.Prepare(statement, known.Sql!), ct);
                    if (redecided.Refusal is { } refusal)
                    {
                        return RefuseParse(refusal);
                    }

                    if (reprepare)
                    {
                        reprepared = redecided.Ticket;
                    }
                    else
                    {
                        _statements[statement] = redecided.Ticket;
                        _reviewing |= redecided.Ticket!.NeedsReview;
                        replaced = known;
                    }
                }

                if ((reprepared ?? _statements.GetValueOrDefault(statement)) is { NeedsReview: true } held
                    && await ReviewBindAsync(held, frame[FrameHeader.Size..], ct) is { } refused)
                {
                    // This execution ends here, as the client sees it: the trail gets it as the statement's outcome.
                    held.Complete(new StatementOutcome(false, null, refused.SqlState, refused.Message, parameters));
                    return RefuseParse(refused);
                }

                if (reprepared is not null)
                {
                    Reprepare(statement, known, reprepared);
                }

                ExpectBind(portal, statement, formats, formatsKnown: true, parameters, replaced);
                CheckPreparedPolicies(redecided: replaced is not null);
                await NoteRunAsync(_statements.GetValueOrDefault(statement), statement, executes: false, ct);
                if (reprepared is null)
                {
                    return FrameVerdict.Pass;
                }

                Replace(frame.Span);
                return FrameVerdict.Replace;
            }

            case FrontendMessageCode.Describe or FrontendMessageCode.Close:
            {
                if (body.Length < 2)
                {
                    throw new ProtocolException($"{type} message too short");
                }

                if (!TryServerName(ReadCStringBytes(body[1..], out _), out var name))
                {
                    return RefuseParse(Refusals.NonAsciiName);
                }

                if (body[0] == (byte)'S' && _refused.TryGetValue(name, out var refusedStatement))
                {
                    if (type == FrontendMessageCode.Describe)
                    {
                        return StandIn(RefusalStatement.Described(refusedStatement.ParameterTypes));
                    }

                    _refused.Remove(name);
                }
                else if (body[0] == (byte)'P' && _refusedPortals.ContainsKey(name))
                {
                    if (type == FrontendMessageCode.Describe)
                    {
                        return StandIn(RefusalStatement.NoData);
                    }

                    _refusedPortals.Remove(name);
                }

                StatementTicket? ticket;
                if (body[0] == (byte)'P')
                {
                    bool known = _portals.TryGetValue(name, out var described);
                    ticket = described.Ticket;
                    if (known && type == FrontendMessageCode.Describe)
                    {
                        _portals[name] = described with { Described = true };
                    }
                }
                else
                {
                    ticket = _statements.GetValueOrDefault(name);
                    if (type == FrontendMessageCode.Describe && ticket is not null && ParsedBeforeHiddenCode(name))
                    {
                        // Described as what it is now: prepared again first, like a Bind of it.
                        if (!CanReprepare(name))
                        {
                            return await RefuseBindAsync(name, Refusals.PreparedBeforeHiddenCode(name));
                        }

                        var redecided = await pipeline!.SubmitAsync(StatementRequest.Prepare(name, ticket.Sql), ct);
                        if (redecided.Refusal is { } refusal)
                        {
                            return RefuseParse(refusal);
                        }

                        Reprepare(name, ticket, redecided.Ticket!);
                        ledger.Expect(new(StatementLedger.Kind.Describe, redecided.Ticket, Name: name, Target: (byte)'S'));
                        Replace(frame.Span);
                        return FrameVerdict.Replace;
                    }
                }

                ledger.Expect(new(type == FrontendMessageCode.Describe ? StatementLedger.Kind.Describe : StatementLedger.Kind.Close, ticket, Name: name, Target: body[0]));
                if (type == FrontendMessageCode.Close)
                {
                    // A closed name is unknown again: a later Bind or Execute of it is refused unless it is made anew.
                    if (body[0] == (byte)'P')
                    {
                        _portals.Remove(name);
                        pipeline!.NameChangeSent(); // a portal and a SQL cursor share their names
                    }
                    else
                    {
                        _statements.Remove(name);
                        ForgetParse(name);
                        PreparedNameSent(name);
                    }
                }

                return FrameVerdict.Pass;
            }

            case FrontendMessageCode.Execute:
            {
                if (!TryServerName(ReadCStringBytes(body, out _), out var portal))
                {
                    return RefuseParse(Refusals.NonAsciiName);
                }

                if (_refusedPortals.TryGetValue(portal, out var refusal))
                {
                    return RefuseParse(refusal); // where the server fails a statement it may not run
                }

                await SettlePortalAsync(portal, ct);

                // Unknown, or its transaction ended (the server destroyed the portal Gatehouse knows under this name).
                if (!_portals.TryGetValue(portal, out var bound) || (bound.BoundAt >= 0 && limits!.EndedTransactionAfter(bound.BoundAt)))
                {
                    _portals.Remove(portal);
                    var unknown = Refusals.NotBoundThroughGatehouse(portal);
                    await pipeline!.RefusedMessageAsync($"[protocol Execute of portal \"{portal}\"]", unknown);
                    return RefuseParse(unknown);
                }

                if (bound.Ticket is { } boundTicket && pipeline!.DecidedUnderOlderPolicy(boundTicket, pipeline.PolicyNow))
                {
                    // Bound under an older policy (named portals live until their transaction ends): what it runs is
                    // decided at a Bind, so it is bound again to be decided under the current one.
                    _portals.Remove(portal);
                    var stale = Refusals.BoundUnderOlderPolicy(portal);
                    await pipeline.RefusedMessageAsync($"[protocol Execute of portal \"{portal}\"]", stale);
                    return RefuseParse(stale);
                }

                if (bound.Ticket is { } following && pipeline!.NamesChangedSince(following))
                {
                    // It runs a statement or cursor by name, and that name may mean something else since the Bind.
                    _portals.Remove(portal);
                    var changed = Refusals.PortalNameChanged(portal);
                    await pipeline.RefusedMessageAsync($"[protocol Execute of portal \"{portal}\"]", changed);
                    return RefuseParse(changed);
                }

                bool hiddenCode = BoundBeforeHiddenCode(bound.RanAt);
                if (hiddenCode || (bound.RanAt != _runs && pipeline!.HasMasks))
                {
                    // Other statements ran since this portal was bound or last executed, and one of them may have replaced
                    // it under the same name with a query whose columns its plan does not cover: under masks it is
                    // bound again (a red team read raw values through a cursor a function reopened under the name), and
                    // after hidden code always (the trail would tie its rows to the wrong statement).
                    _portals.Remove(portal);
                    var replaced = Refusals.PortalMayBeReplaced(portal, hiddenCode);
                    await pipeline!.RefusedMessageAsync($"[protocol Execute of portal \"{portal}\"]", replaced);
                    return RefuseParse(replaced);
                }

                if (bound.Ticket is { } running)
                {
                    NameEffectsSent(running);
                    NoteEncodingChange(running);
                    await NoteRunAsync(running, running.PreparedName ?? "", executes: true, ct);
                }

                _runs++;
                bound.RanAt = _runs;
                _portals[portal] = bound;

                if (bound is { Described: false } undescribed && undescribed.Ticket is { Masks: not null } or { Result: not null })
                {
                    // Execute sends no RowDescription: describe the portal first, so its rows can be masked (and
                    // recorded) by column; the server's answer to this Describe is not shown to the client.
                    _portals[portal] = bound with { Described = true };
                    ledger.Expect(new(StatementLedger.Kind.Describe, undescribed.Ticket, Name: portal, Target: (byte)'P', Injected: true));
                    Replace(TargetMessage(FrontendMessageCode.Describe, (byte)'P', portal));
                    Replace(frame.Span);
                    CopySent(bound.Ticket);
                    ledger.Expect(new(StatementLedger.Kind.Execute, Portal: portal, At: Stopwatch.GetTimestamp()));
                    return FrameVerdict.Replace;
                }

                CopySent(bound.Ticket);
                ledger.Expect(new(StatementLedger.Kind.Execute, Portal: portal, At: Stopwatch.GetTimestamp()));
                return FrameVerdict.Pass;
            }
            default:
                return FrameVerdict.Pass;
        }
    }
}
