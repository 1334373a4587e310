using System.Buffers.Binary;
using System.Diagnostics;
using System.Text;
using Gatehouse.Pipeline;
using Gatehouse.Pipeline.Masking;
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
internal sealed class ClientToServerPump(
    Stream input, Stream output, int maxMessage, StatementPipeline? pipeline, StatementLedger ledger, SessionLimitWatch? limits = null)
    : FramePump(input, output, maxMessage)
{
    // Statement and portal names live at the start of a Bind; the parameters after them stream.
    private const int BindPrefix = 4096;

    // Binds up to this size are read whole on sessions with masks, for their result formats (at the end of the message).
    private const int InspectedBind = 1 << 20;

    // Client side: which ticket each statement and portal runs, and whether the client described a portal since its Bind.
    private readonly Dictionary<string, StatementTicket?> _statements = new(StringComparer.Ordinal);
    private readonly Dictionary<string, (StatementTicket? Ticket, bool Described)> _portals = new(StringComparer.Ordinal);

    public bool ClientTerminated { get; private set; }

    protected override FrameHandling Classify(byte code, long total) => (FrontendMessageCode)code switch
    {
        FrontendMessageCode.FunctionCall or FrontendMessageCode.Terminate => FrameHandling.Inspect,
        FrontendMessageCode.Query or FrontendMessageCode.Parse or FrontendMessageCode.Sync or FrontendMessageCode.Describe
            or FrontendMessageCode.Execute or FrontendMessageCode.Close when pipeline is not null => FrameHandling.Inspect,
        // A statement held for review is bound only with an approval for its exact parameters: its Binds are read whole.
        FrontendMessageCode.Bind when _reviewing && !ledger.DiscardingUntilSync => FrameHandling.Inspect,
        // A Bind of a statement refused at Parse is refused: while there is one, Binds are read whole to know.
        FrontendMessageCode.Bind when _refused.Count > 0 && !ledger.DiscardingUntilSync => FrameHandling.Inspect,
        FrontendMessageCode.Bind when pipeline is { HasMasks: true } or { Audit: not null } && total <= InspectedBind && !ledger.DiscardingUntilSync => FrameHandling.Inspect,
        _ => ledger.DiscardingUntilSync ? FrameHandling.Drop : FrameHandling.Pass,
    };

    // A statement held for review waits in OnFrameAsync: pipelined messages before it must reach the server first.
    protected override bool MayWait(byte code, ReadOnlySpan<byte> frame) => (FrontendMessageCode)code switch
    {
        FrontendMessageCode.Query => pipeline?.Reviews is not null,
        FrontendMessageCode.Bind => _reviewing && BindsHeldStatement(frame[FrameHeader.Size..]),
        _ => false,
    };

    private bool BindsHeldStatement(ReadOnlySpan<byte> body)
    {
        var reader = new PayloadReader(body);
        return reader.TryReadCString(out _) && reader.TryReadCString(out var statement) && _statements.GetValueOrDefault(statement) is { NeedsReview: true };
    }

    protected override int PrefixLength(byte code) => code == (byte)FrontendMessageCode.Bind && pipeline is not null ? BindPrefix : 0;

    protected override bool OnStreamed(byte code, ReadOnlySpan<byte> prefix, bool dropped)
    {
        if (code != (byte)FrontendMessageCode.Bind || dropped || pipeline is null)
        {
            return false;
        }

        var reader = new PayloadReader(prefix[FrameHeader.Size..]);
        if (!reader.TryReadCString(out var portal) || !reader.TryReadCString(out var statement))
        {
            throw new ProtocolException($"Bind names are not terminated within the first {BindPrefix} bytes");
        }

        if (!_statements.ContainsKey(statement))
        {
            RefuseParse(Refusals.NotPreparedThroughGatehouse(statement));
            return true;
        }

        // Streamed (large) Bind: its result formats are not read; a masked result on this portal is refused.
        ExpectBind(portal, statement, null, formatsKnown: pipeline.HasMasks is false, StreamedParameters);
        return false;
    }

    // What the audit trail gets for the parameters of a Bind too large to read.
    private static readonly string?[] StreamedParameters = [$"[not recorded: a Bind larger than {InspectedBind} bytes]"];

    /// <summary>
    /// Names a SQL statement of <paramref name="ticket"/> will (re)define or remove lose what Gatehouse knew of them: a
    /// protocol Bind or Execute of such a name is then refused as unknown (a SQL PREPAREd statement or DECLAREd cursor
    /// runs through EXECUTE and FETCH, which are decided and masked), never run with the facts of the name's old owner.
    /// Forgotten before the statement runs, so a failed one errs on the side of refusing.
    /// </summary>
    // Names SQL PREPARE gave statements: a protocol Parse of one is refused as the server refuses it (42P05), and
    // Gatehouse must not take the Parse's text as the name's meanwhile (a Bind would then run the SQL one unreviewed).
    private readonly HashSet<string> _sqlPrepared = new(StringComparer.Ordinal);

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
                        _refused.Remove(p.Name);
                        if (_sqlPrepared.Count < SqlSessionState.MaxEntries)
                        {
                            _sqlPrepared.Add(p.Name);
                        }

                        break;
                    case SessionEffect.Deallocate { Name: { } name }:
                        _statements.Remove(name);
                        _refused.Remove(name);
                        _sqlPrepared.Remove(name);
                        break;
                    case SessionEffect.Deallocate:
                        _statements.Clear();
                        _refused.Clear();
                        _sqlPrepared.Clear();
                        break;
                    case SessionEffect.DeclareCursor c:
                        _portals.Remove(c.Name);
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

    // For each portal, how many requests had gone to the server when it was bound: a transaction that ended after
    // that destroyed it, and a portal of that name later (a PL/pgSQL cursor) is not the one Gatehouse knows.
    private readonly Dictionary<string, long> _boundAt = new(StringComparer.Ordinal);

    private void ExpectBind(string portal, string statement, short[]? formats, bool formatsKnown, string?[]? parameters)
    {
        var ticket = _statements.GetValueOrDefault(statement);
        _refusedPortals.Remove(portal);
        _portals[portal] = (ticket, false);
        if (portal.Length > 0 && limits is not null)
        {
            _boundAt[portal] = limits.SentCount;
        }

        ledger.Expect(new(StatementLedger.Kind.Bind, ticket, Name: statement, Portal: portal, Formats: formats, FormatsKnown: formatsKnown, Parameters: parameters));
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

        if (type == FrontendMessageCode.Sync)
        {
            ledger.DiscardingUntilSync = false;
            ledger.Expect(new(StatementLedger.Kind.Sync));
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
                return RefuseQuery(Refusals.FastPath);
            case FrontendMessageCode.Query:
            {
                string sql = ReadCString(body, out _);
                var submission = await pipeline!.SubmitAsync(StatementRequest.Query(sql), ct);
                if (submission.Refusal is { } refusal)
                {
                    return RefuseQuery(refusal);
                }

                ForgetRedefinedNames(submission.Ticket);
                ledger.Expect(new(StatementLedger.Kind.Query, submission.Ticket, At: Stopwatch.GetTimestamp()));
                limits?.Sent();
                return FrameVerdict.Pass;
            }

            case FrontendMessageCode.Parse:
            {
                string name = ReadCString(body, out int used);
                string sql = ReadCString(body[used..], out int sqlUsed);
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
                _statements[name] = submission.Ticket;
                _reviewing |= submission.Ticket!.NeedsReview;
                ledger.Expect(new(StatementLedger.Kind.Parse, submission.Ticket, Name: name));
                return FrameVerdict.Pass;
            }

            case FrontendMessageCode.Bind:
            {
                var reader = new PayloadReader(body);
                if (!reader.TryReadCString(out var portal) || !reader.TryReadCString(out var statement))
                {
                    throw new ProtocolException("Bind names are not terminated");
                }

                if (_refused.TryGetValue(statement, out var refusedStatement))
                {
                    return AnswerRefusedBind(portal, refusedStatement.Refusal);
                }

                if (!_statements.ContainsKey(statement))
                {
                    return RefuseParse(Refusals.NotPreparedThroughGatehouse(statement));
                }

                var formats = ResultMessages.ReadBindResultFormats(body) ?? throw new ProtocolException("malformed Bind message");
                var parameters = pipeline!.Audit is null ? null : ResultMessages.ReadBindParameters(body, SessionAudit.MaxParameterChars);
                if (_statements.GetValueOrDefault(statement) is { NeedsReview: true } held
                    && await ReviewBindAsync(held, frame[FrameHeader.Size..], ct) is { } refused)
                {
                    // This execution ends here, as the client sees it: the trail gets it as the statement's outcome.
                    held.Complete(new StatementOutcome(false, null, refused.SqlState, refused.Message, parameters));
                    return RefuseParse(refused);
                }

                ExpectBind(portal, statement, formats, formatsKnown: true, parameters);
                return FrameVerdict.Pass;
            }

            case FrontendMessageCode.Describe or FrontendMessageCode.Close:
            {
                if (body.Length < 2)
                {
                    throw new ProtocolException($"{type} message too short");
                }

                string name = ReadCString(body[1..], out _);
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

                var ticket = body[0] == (byte)'P' ? _portals.GetValueOrDefault(name).Ticket : _statements.GetValueOrDefault(name);
                if (type == FrontendMessageCode.Describe && body[0] == (byte)'P' && _portals.ContainsKey(name))
                {
                    _portals[name] = (ticket, true);
                }

                ledger.Expect(new(type == FrontendMessageCode.Describe ? StatementLedger.Kind.Describe : StatementLedger.Kind.Close, ticket, Name: name, Target: body[0]));
                if (type == FrontendMessageCode.Close)
                {
                    // A closed name is unknown again: a later Bind or Execute of it is refused unless it is made anew.
                    _ = body[0] == (byte)'P' ? _portals.Remove(name) : _statements.Remove(name);
                }

                return FrameVerdict.Pass;
            }

            case FrontendMessageCode.Execute:
            {
                string portal = ReadCString(body, out _);
                if (_refusedPortals.TryGetValue(portal, out var refusal))
                {
                    return RefuseParse(refusal); // where the server fails a statement it may not run
                }

                if (portal.Length > 0 && limits is not null && _boundAt.TryGetValue(portal, out long boundAt) && limits.EndedTransactionAfter(boundAt))
                {
                    // Its transaction ended: the server destroyed the portal Gatehouse knows under this name.
                    _portals.Remove(portal);
                    _boundAt.Remove(portal);
                }

                if (!_portals.ContainsKey(portal))
                {
                    return RefuseParse(Refusals.NotBoundThroughGatehouse(portal));
                }

                if (_portals.GetValueOrDefault(portal) is { Described: false } undescribed && undescribed.Ticket is { Masks: not null } or { Result: not null })
                {
                    // Execute sends no RowDescription: describe the portal first, so its rows can be masked (and
                    // recorded) by column; the server's answer to this Describe is not shown to the client.
                    _portals[portal] = (undescribed.Ticket, true);
                    ledger.Expect(new(StatementLedger.Kind.Describe, undescribed.Ticket, Name: portal, Target: (byte)'P', Injected: true));
                    Replace(Describe(portal));
                    Replace(frame.Span);
                    ledger.Expect(new(StatementLedger.Kind.Execute, Portal: portal, At: Stopwatch.GetTimestamp()));
                    return FrameVerdict.Replace;
                }

                ledger.Expect(new(StatementLedger.Kind.Execute, Portal: portal, At: Stopwatch.GetTimestamp()));
                return FrameVerdict.Pass;
            }
            default:
                return FrameVerdict.Pass;
        }
    }

    // Parameters of a reviewed Bind are kept whole (each up to this many characters), so the approval is for exact values.
    private const int ReviewedBind = 64 * 1024;

    private bool _reviewing;

    /// <summary>Holds a Bind of a statement that needs review until a reviewer decides; null when it may run.</summary>
    private async ValueTask<Refusal?> ReviewBindAsync(StatementTicket ticket, ReadOnlyMemory<byte> body, CancellationToken ct)
    {
        if (body.Length > ReviewedBind)
        {
            return Refusals.Denied(ticket.Decision.RuleId ?? "review", $"the statement needs review, and its parameters ({body.Length} bytes) are larger than a review holds ({ReviewedBind} bytes)");
        }

        var parameters = ResultMessages.ReadBindParameters(body.Span, 2 * ReviewedBind) ?? throw new ProtocolException("malformed Bind message");
        var (_, refusal) = await pipeline!.ReviewAsync(ticket, ticket.Sql, parameters, ct);
        return refusal;
    }

    private static byte[] Describe(string portal)
    {
        using var writer = new MessageWriter();
        writer.StartMessage((byte)FrontendMessageCode.Describe).WriteByte((byte)'P').WriteCString(portal).EndMessage();
        return writer.ToArray();
    }

    // A Query or Parse too large to read is refused unread (it streams into the void); the session goes on.
    protected override bool SkipOversized(byte code, long payloadLength, int limit)
    {
        var refusal = RefusalStatement.MessageTooLarge(payloadLength, limit);
        return ledger.DiscardingUntilSync || (FrontendMessageCode)code switch
        {
            FrontendMessageCode.Query => RefuseQuery(refusal) == FrameVerdict.Replace,
            FrontendMessageCode.Parse => RefuseParse(refusal) == FrameVerdict.Replace,
            FrontendMessageCode.Bind when _refused.Count > 0 || _reviewing => RefuseParse(refusal) == FrameVerdict.Replace,
            _ => false,
        };
    }

    // Statements refused at Parse and the portals bound from them, by name: answered as the server would answer a
    // statement it may not run (prepared, described, bound), refused at each Execute. Bounded: past the cap a refusal
    // is delivered at its Parse.
    private const int MaxRefused = 1000;
    private readonly Dictionary<string, (Refusal Refusal, int[] ParameterTypes)> _refused = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Refusal> _refusedPortals = new(StringComparer.Ordinal);

    private FrameVerdict AnswerRefusedParse(string name, Refusal refusal, int[] parameterTypes)
    {
        _statements.Remove(name);
        if (_refused.Count >= MaxRefused)
        {
            return RefuseParse(refusal);
        }

        _refused[name] = (refusal, parameterTypes);
        return StandIn(RefusalStatement.ParseComplete);
    }

    private FrameVerdict AnswerRefusedBind(string portal, Refusal refusal)
    {
        _portals.Remove(portal);
        if (_refusedPortals.Count >= MaxRefused && !_refusedPortals.ContainsKey(portal))
        {
            return RefuseParse(refusal);
        }

        _refusedPortals[portal] = refusal;
        return StandIn(RefusalStatement.BindComplete);
    }

    /// <summary>The server gets a no-op in place of the client's message; the client gets <paramref name="answer"/> in place of its reply.</summary>
    private FrameVerdict StandIn(byte[] answer)
    {
        ledger.Expect(new(StatementLedger.Kind.StandIn, Answer: answer));
        Replace(RefusalStatement.StandInMessage.Span);
        return FrameVerdict.Replace;
    }

    // The parameter types a refused statement is described with: those the Parse declared, text for the rest
    // (the server would infer them from a statement it never sees).
    private static int[] ParameterTypes(ReadOnlySpan<byte> declared, string sql)
    {
        const int Text = 25;
        var reader = new PayloadReader(declared);
        int count = reader.TryReadInt16(out short n) ? (ushort)n : 0;
        var types = new int[Math.Max(count, Placeholders.Highest(sql))];
        for (int i = 0; i < types.Length; i++)
        {
            types[i] = i < count && reader.TryReadInt32(out int oid) && oid != 0 ? oid : Text;
        }

        return types;
    }

    private FrameVerdict RefuseParse(Refusal refusal)
    {
        ledger.Expect(new(StatementLedger.Kind.ParseRefusal, Refusal: refusal));
        ledger.DiscardingUntilSync = true;
        Replace(RefusalStatement.ParseMessage.Span);
        return FrameVerdict.Replace;
    }

    private FrameVerdict RefuseQuery(Refusal refusal)
    {
        ledger.Expect(new(StatementLedger.Kind.QueryRefusal, Refusal: refusal));
        limits?.Sent();
        Replace(RefusalStatement.QueryMessage.Span);
        return FrameVerdict.Replace;
    }

    private static string ReadCString(ReadOnlySpan<byte> bytes, out int consumed)
    {
        int terminator = bytes.IndexOf((byte)0);
        if (terminator < 0)
        {
            throw new ProtocolException("string in message is not terminated");
        }

        consumed = terminator + 1;
        return Encoding.UTF8.GetString(bytes[..terminator]);
    }
}

/// <summary>
/// Server → client consumer: rows and COPY data stream through unless their statement has masks; the responses the
/// ledger pairs, errors, notices, ReadyForQuery and ParameterStatus are looked at. A refusal's syntax error is
/// replaced by Gatehouse's error. Rows of a masked result are gathered (up to <see cref="MaxMaskedRow"/>) and
/// rewritten; a result that cannot be masked is refused: the client gets an error and nothing more of it.
/// </summary>
internal sealed partial class ServerToClientPump(Stream input, Stream output, StatementPipeline? pipeline, StatementLedger ledger, SessionLimitWatch? limits = null,
    (int Upstream, int Client)? ownPid = null)
    : FramePump(input, output, 64 * 1024 * 1024)
{
    /// <summary>Largest DataRow Gatehouse gathers to mask; a larger one ends the result with an error (54000).</summary>
    public const int MaxMaskedRow = 16 * 1024 * 1024;

    private readonly DataRowRewriter? _rewriter = pipeline?.Masker is { } masker ? new DataRowRewriter(masker) : null;
    private ColumnPlan? _rowPlan;

    // Where the DataRow being inspected is recorded as sent (a grant with audit.results); null: not recorded.
    private ResultCapture? _rowCapture;

    // The COPY … TO STDOUT stream being masked, from its CopyOutResponse to its CopyDone.
    private CopyRewriter? _copy;

    // After a result was refused: everything up to ReadyForQuery is dropped.
    private bool _refusingResult;

    /// <summary>The server sent a FATAL error: it is about to close, and the client has been told why.</summary>
    public bool ServerSentFatal { get; private set; }

    public TransactionStatus Status { get; private set; } = TransactionStatus.Idle;

    protected override FrameHandling Classify(byte code, long total)
    {
        ledger.OnServerFrame(code);
        if (_refusingResult)
        {
            // Withholding the rest of a refused result: rows, COPY data and texts go nowhere; responses the ledger pairs
            // are still looked at (and dropped) so it stays in step.
            return code is (byte)BackendMessageCode.DataRow or (byte)BackendMessageCode.CopyData or (byte)BackendMessageCode.NoticeResponse
                or (byte)BackendMessageCode.NotificationResponse ? FrameHandling.Drop : FrameHandling.Inspect;
        }

        switch ((BackendMessageCode)code)
        {
            case BackendMessageCode.ReadyForQuery or BackendMessageCode.ErrorResponse:
                return FrameHandling.Inspect;
            case BackendMessageCode.DataRow when pipeline is { HasMasks: true } or { RecordsResults: true }:
                return ClassifyRow(total);
            case BackendMessageCode.CopyOutResponse when pipeline is { HasMasks: true }:
                return FrameHandling.Inspect;
            case BackendMessageCode.CopyData or BackendMessageCode.CopyDone when _copy is not null:
                return ClassifyCopy(total);
            case BackendMessageCode.NoticeResponse or BackendMessageCode.NotificationResponse when pipeline is { HasMasks: true }:
                return total <= MaxMaskedRow ? FrameHandling.Inspect : FrameHandling.Drop;
            case BackendMessageCode.NotificationResponse when ownPid is not null:
                return FrameHandling.Inspect;
            case BackendMessageCode.ParameterStatus or BackendMessageCode.ParseComplete or BackendMessageCode.BindComplete
                or BackendMessageCode.CloseComplete or BackendMessageCode.CommandComplete or BackendMessageCode.EmptyQueryResponse
                or BackendMessageCode.PortalSuspended or BackendMessageCode.NoData or BackendMessageCode.RowDescription
                when pipeline is not null:
                return FrameHandling.Inspect;
            default:
                return FrameHandling.Pass;
        }
    }

    private FrameHandling ClassifyRow(long total)
    {
        try
        {
            _rowPlan = ledger.RowPlan();
        }
        catch (MaskingException ex)
        {
            RefuseResult(ex.Message);
            return FrameHandling.Drop;
        }

        // Recorded rows are within the grant's bounds (at most 1 MB), so inspecting them whole is bounded too.
        _rowCapture = pipeline!.RecordsResults ? ledger.RowCapture(total) : null;
        if (_rowPlan is null)
        {
            return _rowCapture is null ? FrameHandling.Pass : FrameHandling.Inspect;
        }

        if (total > MaxMaskedRow || _rewriter is null)
        {
            RefuseResult(_rewriter is null ? "no masker is configured" : $"a result row of {total} bytes is larger than masking holds ({MaxMaskedRow} bytes); select fewer or narrower columns");
            return FrameHandling.Drop;
        }

        return FrameHandling.Inspect;
    }

    protected override bool OnStreamed(byte code, ReadOnlySpan<byte> prefix, bool dropped)
    {
        if (dropped && _pendingRefusal is { } error)
        {
            Replace(error);
            _pendingRefusal = null;
        }

        return false;
    }

    private byte[]? _pendingRefusal;

    private void RefuseResult(string why, bool denied = false)
    {
        _refusingResult = true;
        string code = denied ? "42501" : why.Contains("larger than", StringComparison.Ordinal) ? "54000" : "58000";
        _pendingRefusal = BackendMessages.Error(code, denied ? "gatehouse: denied by rule masking: " + why : "gatehouse: masking unavailable: " + why + "; the result was withheld");
    }

    protected override async ValueTask<FrameVerdict> OnFrameAsync(byte code, ReadOnlyMemory<byte> frame, CancellationToken ct)
    {
        if (code is (byte)BackendMessageCode.CommandComplete or (byte)BackendMessageCode.ReadyForQuery
            && pipeline?.Audit is { Outstanding: true } audit && await audit.BarrierAsync() is { } failure)
        {
            return AuditFailed(code, frame.Span, failure);
        }

        var span = frame.Span;
        if (_refusingResult && code is not ((byte)BackendMessageCode.ReadyForQuery or (byte)BackendMessageCode.ParameterStatus))
        {
            if (code == (byte)BackendMessageCode.RowDescription)
            {
                try
                {
                    await ledger.OnRowDescriptionAsync(frame, ct);
                }
                catch (MaskingException)
                {
                    // Already refusing.
                }
            }
            else if (pipeline is not null)
            {
                ledger.OnResponse(code, span);
            }

            return FrameVerdict.Drop;
        }

        switch ((BackendMessageCode)code)
        {
            case BackendMessageCode.ReadyForQuery:
                Status = (TransactionStatus)span[5];
                _refusingResult = false;
                _copy = null;
                limits?.Ready(Status);
                break;
            case BackendMessageCode.ErrorResponse when limits?.RewriteError(span) is { } timedOut:
                ledger.OnResponse(code, span);
                Replace(timedOut);
                return FrameVerdict.Replace;
            case BackendMessageCode.ParameterStatus:
            {
                var reader = new PayloadReader(span[FrameHeader.Size..]);
                if (reader.TryReadCString(out var name) && reader.TryReadCString(out var value))
                {
                    pipeline!.OnServerSetting(name, value);
                }

                return FrameVerdict.Pass;
            }

            case BackendMessageCode.CopyOutResponse or BackendMessageCode.CopyData or BackendMessageCode.CopyDone when pipeline is { HasMasks: true }:
                return OnCopyFrame(code, span);
            case BackendMessageCode.DataRow when _rowPlan is null:
                _rowCapture!.Add(span);
                return FrameVerdict.Pass;
            case BackendMessageCode.DataRow:
                if (_rewriter!.Rewrite(span, _rowPlan) is { } row)
                {
                    // Recorded after the mask: the bytes the client gets.
                    _rowCapture?.Add(row.Span);
                    Replace(row.Span);
                    return FrameVerdict.Replace;
                }

                RefuseResult("a row did not match its row description");
                Replace(_pendingRefusal!);
                _pendingRefusal = null;
                return FrameVerdict.Replace;
            case BackendMessageCode.RowDescription:
                try
                {
                    return await ledger.OnRowDescriptionAsync(frame, ct) ? FrameVerdict.Drop : FrameVerdict.Pass;
                }
                catch (MaskingException ex)
                {
                    RefuseResult(ex.Message, ex.Denied);
                    Replace(_pendingRefusal!);
                    _pendingRefusal = null;
                    return FrameVerdict.Replace;
                }

            case BackendMessageCode.NotificationResponse:
            {
                var own = WithClientPid(span);
                var verdict = Scrub(code, own ?? span, ledger.CurrentTicket());
                if (verdict == FrameVerdict.Pass && own is not null)
                {
                    Replace(own);
                    return FrameVerdict.Replace;
                }

                return verdict;
            }

            case BackendMessageCode.NoticeResponse:
                return Scrub(code, span, ledger.CurrentTicket());
            case BackendMessageCode.ErrorResponse when IsFatal(span):
                ServerSentFatal = true;
                break;
        }

        // The statement an error belongs to, before the ledger moves past it.
        var errorTicket = code == (byte)BackendMessageCode.ErrorResponse ? ledger.CurrentTicket() : null;
        if (pipeline is not null && ledger.OnResponse(code, span) is { } replacement)
        {
            if (replacement.Length == 0)
            {
                return FrameVerdict.Drop;
            }

            Replace(replacement);
            return FrameVerdict.Replace;
        }

        return code == (byte)BackendMessageCode.ErrorResponse && pipeline is { HasMasks: true } ? Scrub(code, span, errorTicket) : FrameVerdict.Pass;
    }

    /// <summary>
    /// A statement record could not be written, so its result is not released: a CommandComplete becomes 58000 and the
    /// rest of the result is withheld; at a ReadyForQuery (a statement whose result was not yet reported) the error
    /// goes just before it. The session stays usable.
    /// </summary>
    private FrameVerdict AuditFailed(byte code, ReadOnlySpan<byte> frame, string failure)
    {
        pipeline!.AuditFailed(failure);
        var error = Refusals.AuditUnavailable(Refusals.AuditUnwritable + "; the result was withheld");
        if (!_refusingResult)
        {
            Replace(BackendMessages.Error(error.SqlState, error.Message));
        }

        if (code == (byte)BackendMessageCode.CommandComplete)
        {
            _refusingResult = true;
            ledger.OnResponse(code, frame);
            return FrameVerdict.Replace;
        }

        Status = (TransactionStatus)frame[5];
        _refusingResult = false;
        limits?.Ready(Status);
        ledger.OnResponse(code, frame);
        Replace(frame);
        return FrameVerdict.Replace;
    }

    /// <summary>Error and notice fields and notification payloads can quote values (a failed cast, a constraint error).</summary>
    private FrameVerdict Scrub(byte code, ReadOnlySpan<byte> frame, StatementTicket? ticket)
    {
        var masker = pipeline?.Masker;
        var rules = ticket?.Masks?.Rules ?? pipeline?.CurrentMaskRules;
        if (masker is null || rules is null)
        {
            return FrameVerdict.Pass;
        }

        bool tainted = ticket?.Masks?.Tainted ?? false;
        var scrubbed = code == (byte)BackendMessageCode.NotificationResponse
            ? ScrubNotification(frame, masker, rules)
            : ScrubFields(frame, masker, rules, tainted);
        if (scrubbed is null)
        {
            return FrameVerdict.Pass;
        }

        Replace(scrubbed);
        return FrameVerdict.Replace;
    }

    // SQLSTATEs whose messages name only the statement's own words and the schema (connection, integrity constraint
    // names, transaction state, serialization, resources, limits, object state, operator intervention; permission,
    // syntax, unknown column): kept in a statement that reads masked data. Every other one is withheld: data
    // exceptions print the value they failed on, and casts to reg* types make errors that print it unquoted
    // (email::regclass: 0A000 "cross-database references are not implemented: …") or quoted (42P01, 42883, 42704).
    private static bool KeepsDataOut(string? code) =>
        code is { Length: 5 } && (code[..2] is "08" or "23" or "25" or "40" or "53" or "54" or "55" or "57" || code is "42501" or "42601" or "42703");

    private static void WithholdMessage(List<(byte Type, string Value)> fields, string message)
    {
        fields.RemoveAll(f => f.Type == (byte)'H');
        for (int i = 0; i < fields.Count; i++)
        {
            if (fields[i].Type == (byte)'M')
            {
                fields[i] = ((byte)'M', message);
            }
        }
    }

    private static byte[]? ScrubFields(ReadOnlySpan<byte> frame, IValueMasker masker, MaskRules rules, bool tainted)
    {
        var reader = new PayloadReader(frame[FrameHeader.Size..]);
        var fields = new List<(byte Type, string Value)>();
        bool changed = false;
        bool hadContext = false;
        string? code = null;
        while (reader.TryReadByte(out byte type) && type != 0)
        {
            if (!reader.TryReadCString(out var value))
            {
                return null;
            }

            hadContext |= type == (byte)'W';
            if (type == (byte)'C')
            {
                code = value;
            }

            // Fields that carry text from the data: message, detail, hint, context, and the internal query. In a
            // statement that reads masked data, detail, context and internal query (a failing row, a key, a JSON
            // token) are withheld whole; the message keeps its words, its quoted values redacted.
            if (tainted && type is (byte)'D' or (byte)'W' or (byte)'q' or (byte)'P' or (byte)'p')
            {
                changed = true;
                continue;
            }

            var scrubbed = type is (byte)'M' or (byte)'D' or (byte)'H' or (byte)'W' or (byte)'q' ? masker.Scrub(value, rules, tainted) : value;
            changed |= !ReferenceEquals(scrubbed, value) && scrubbed != value;
            fields.Add((type, scrubbed));
        }

        // A function's own RAISE (a notice, or an error raised in a function: it carries a context) can put any value
        // in its message, unquoted: in a tainted statement such a message is withheld whole.
        if (tainted && (frame[0] == (byte)BackendMessageCode.NoticeResponse || hadContext || code is "P0001"))
        {
            WithholdMessage(fields, "[redacted: a message raised while reading masked data]");
            changed = true;
        }
        else if (tainted && !KeepsDataOut(code))
        {
            // A data exception quotes or prints the value it failed on, and quotes an attacker added defeat any
            // reading of which part is the value: its message is withheld whole, the SQLSTATE kept.
            WithholdMessage(fields, $"[withheld: the server's message for a statement that reads masked data; SQLSTATE {code}]");
            changed = true;
        }

        if (!changed)
        {
            return null;
        }

        using var writer = new MessageWriter();
        writer.StartMessage(frame[0]);
        foreach (var (type, value) in fields)
        {
            writer.WriteByte(type).WriteCString(value);
        }

        writer.WriteByte(0).EndMessage();
        return writer.ToArray();
    }

    private static byte[]? ScrubNotification(ReadOnlySpan<byte> frame, IValueMasker masker, MaskRules rules)
    {
        var reader = new PayloadReader(frame[FrameHeader.Size..]);
        if (!reader.TryReadInt32(out var pid) || !reader.TryReadCString(out var channel) || !reader.TryReadCString(out var payload))
        {
            return null;
        }

        // A payload can carry any value (pg_notify(ch, email), a trigger): under column masks it cannot be traced, so
        // it is withheld; with detectors only, the detectors scan it.
        var scrubbed = rules.HasColumnRules ? (payload.Length == 0 ? payload : "[redacted]") : masker.Scrub(payload, rules, tainted: false);
        if (scrubbed == payload)
        {
            return null;
        }

        using var writer = new MessageWriter();
        writer.StartMessage((byte)BackendMessageCode.NotificationResponse).WriteInt32(pid).WriteCString(channel).WriteCString(scrubbed).EndMessage();
        return writer.ToArray();
    }

    /// <summary>
    /// The client was given Gatehouse's BackendKeyData pid, so a notification from its own backend carries that pid
    /// (clients tell their own notifications from others' by it). Other backends' pids pass unchanged.
    /// </summary>
    private byte[]? WithClientPid(ReadOnlySpan<byte> frame)
    {
        if (ownPid is not { } pids || frame.Length < FrameHeader.Size + 4
            || BinaryPrimitives.ReadInt32BigEndian(frame[FrameHeader.Size..]) != pids.Upstream)
        {
            return null;
        }

        var copy = frame.ToArray();
        BinaryPrimitives.WriteInt32BigEndian(copy.AsSpan(FrameHeader.Size), pids.Client);
        return copy;
    }

    private static bool IsFatal(ReadOnlySpan<byte> frame)
    {
        var reader = new PayloadReader(frame[FrameHeader.Size..]);
        while (reader.TryReadByte(out byte type) && type != 0)
        {
            if (!reader.TryReadCStringBytes(out var value))
            {
                return false;
            }

            if (type == (byte)'S' || type == (byte)'V')
            {
                return value.SequenceEqual("FATAL"u8) || value.SequenceEqual("PANIC"u8);
            }
        }

        return false;
    }
}
