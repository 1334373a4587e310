using Gatehouse.Pipeline.Masking;
using Gatehouse.Policy;
using Gatehouse.Sql;

namespace Gatehouse.Pipeline;

/// <summary>
/// What the client saw for one execution of a statement: success with its command tag, or the error. The front door
/// adds the bound parameters (rendered as text, null for SQL NULL) and when the execution started
/// (<see cref="System.Diagnostics.Stopwatch.GetTimestamp"/>), for the audit trail.
/// </summary>
public readonly record struct StatementOutcome(
    bool Succeeded, string? CommandTag, string? SqlState, string? Message = null, IReadOnlyList<string?>? Parameters = null, long StartTimestamp = 0);

/// <summary>
/// A statement (or an all-or-nothing batch) the pipeline let through. The front door keeps it until the server has
/// answered: <see cref="Commit"/> when the server ran statement i, so what it changes in the session (prepared
/// statements, cursors) takes hold only then; <see cref="Complete"/> with what the client saw. Masks and audit
/// records hang off the ticket.
/// </summary>
public sealed class StatementTicket
{
    private readonly SessionContext _session;
    private readonly RelationCatalog? _catalog;

    internal StatementTicket(long id, SessionContext session, IReadOnlyList<StatementFacts> statements, PolicyDecision decision, string? preparedName,
        StatementMasks? masks = null, RelationCatalog? catalog = null)
    {
        Masks = masks;
        _catalog = catalog;
        Id = id;
        _session = session;
        Statements = statements;
        Decision = decision;
        PreparedName = preparedName;
        ChangesClientEncoding = statements.Any(ClientEncodings.MayChange);
        CopiesFromClient = statements.Count(s => s.Command == "COPY" && s.Class == Gatehouse.Sql.StatementClass.Write);
    }

    /// <summary>How many of its statements are COPY … FROM STDIN: while one runs the server reads copy data, not messages.</summary>
    public int CopiesFromClient { get; }

    /// <summary>Running it may change client_encoding: until the server has answered it, outside a transaction, the
    /// front door cannot know how the server reads the client's next non-ASCII text.</summary>
    public bool ChangesClientEncoding { get; }

    /// <summary>The same ticket with the masks its results need.</summary>
    internal StatementTicket WithMasks(StatementMasks masks, RelationCatalog catalog) =>
        new(Id, _session, Statements, Decision, PreparedName, masks, catalog)
        {
            Sql = Sql, NeedsReview = NeedsReview, ReviewId = ReviewId, Reviewers = Reviewers, Result = Result, DecidedUnder = DecidedUnder, RunsHiddenCode = RunsHiddenCode, SentAfter = SentAfter, SentGuardedAfter = SentGuardedAfter,
            NamesSeen = NamesSeen, DependsOnNames = DependsOnNames,
        };

    /// <summary>Whether running it may run code Gatehouse does not read (<see cref="StatementPipeline.RunsHiddenCodeAsync"/>); null: not asked yet.</summary>
    public bool? RunsHiddenCode { get; internal set; }

    /// <summary>The session's hidden-code runs when it was decided: names it makes are known until another comes.</summary>
    internal long SentAfter { get; init; }

    /// <summary>The session's guarded runs after this one's own (a query's), when it was decided.</summary>
    internal long SentGuardedAfter { get; init; }

    /// <summary>The session's name changes sent (<see cref="Gatehouse.Sql.SqlSessionState.NameChangesSent"/>) when it was decided.</summary>
    internal long NamesSeen { get; init; }

    /// <summary>Its analysis looked up a prepared statement or cursor (EXECUTE, FETCH): what it runs follows that name.</summary>
    public bool DependsOnNames { get; internal init; }

    /// <summary>The policy the decision was made under: a prepared statement is decided again at a Bind under a newer one.</summary>
    internal PolicySnapshot? DecidedUnder { get; init; }

    /// <summary>Increasing within the session.</summary>
    public long Id { get; }

    public IReadOnlyList<StatementFacts> Statements { get; }

    public PolicyDecision Decision { get; }

    /// <summary>For an extended-protocol Parse: the statement name ("" for the unnamed statement); null for a query.</summary>
    public string? PreparedName { get; }

    public StatementOutcome? Outcome { get; private set; }

    /// <summary>What to mask in this statement's results; null when the grant has no masks.</summary>
    public StatementMasks? Masks { get; }

    /// <summary>The rows of the current execution as the client receives them, when the grant records results; else null.</summary>
    public ResultCapture? Result { get; internal init; }

    /// <summary>Columns masked in the results, per result set, for the outcome and the audit trail.</summary>
    public IReadOnlyList<string> MaskedColumns => _maskedColumns ?? (IReadOnlyList<string>)[];

    // Made at the first masked result set: a statement without masks allocates none.
    private List<string>? _maskedColumns;

    public void AddMaskedColumns(IEnumerable<string> columns) => (_maskedColumns ??= []).AddRange(columns);

    /// <summary>The server ran statement <paramref name="index"/> (its CommandComplete arrived).</summary>
    public void Commit(int index)
    {
        if ((uint)index < (uint)Statements.Count)
        {
            _session.Sql.Apply(Statements[index], SentAfter, SentGuardedAfter);
            if (Statements[index].Class is StatementClass.Ddl or StatementClass.Unknown)
            {
                // Relations may have changed shape: masking reads the catalog afresh.
                _catalog?.Invalidate();
            }
        }
    }

    /// <summary>The server accepted the Parse: the named statement now exists and SQL EXECUTE may run it.</summary>
    public void CommitPrepared()
    {
        if (PreparedName is { Length: > 0 } name && Statements.Count == 1)
        {
            // Declared types are part of what an EXECUTE of it runs (StatementAnalyzer.DeclaredTypesNote).
            string types = DeclaredTypes is { } declared ? "(" + string.Join(", ", declared.Select(Gatehouse.Sql.TypeOids.Describe)) + ")" : "";
            _session.Sql.RegisterPrepared(name, Statements[0] with { PreparedText = Sql + Gatehouse.Sql.StatementFacts.DeclaredTypesNote(types) }, SentAfter, SentGuardedAfter);
        }
    }

    /// <summary>A Close of this named statement completed.</summary>
    public void CommitClosed()
    {
        if (PreparedName is { Length: > 0 } name)
        {
            _session.Sql.RemovePrepared(name);
        }
    }

    /// <summary>The SQL text as the client sent it (a review is for exactly this text).</summary>
    public string Sql { get; internal init; } = string.Empty;

    /// <summary>A review rule holds it: it may run only once <see cref="StatementPipeline.ReviewAsync"/> approved it.</summary>
    public bool NeedsReview { get; internal set; }

    /// <summary>The parameter types its Parse declared (0: left to the server), set by the wire door; part of what a review approves.</summary>
    public IReadOnlyList<int>? DeclaredTypes { get; set; }

    /// <summary>The review that approved it, and who approved, for the audit record.</summary>
    public string? ReviewId { get; internal set; }

    public string? Reviewers { get; internal set; }

    /// <summary>The write of this statement's audit record; the front door releases results only once it is durable.</summary>
    public Task Recorded { get; internal set; } = Task.CompletedTask;

    internal Action<StatementTicket, StatementOutcome>? OnComplete { get; set; }

    /// <summary>One execution ended as the client saw it (recorded in the audit trail).</summary>
    public void Complete(StatementOutcome outcome)
    {
        Outcome = outcome;
        _session.Finished(!outcome.Succeeded);
        OnComplete?.Invoke(this, outcome);
    }
}
