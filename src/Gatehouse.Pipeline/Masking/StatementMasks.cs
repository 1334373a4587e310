using Gatehouse.Protocol;
using Gatehouse.Sql;

namespace Gatehouse.Pipeline.Masking;

/// <summary>
/// Masking for one statement (ticket): whether it reads data a column rule protects (taint), and the column plan of
/// each result set it produces, bound from RowDescription's table OID and attribute number through the catalog
/// (views resolved to the columns they come from). In a tainted statement every column Gatehouse cannot trace to
/// an unmasked source is redacted. Null on a ticket whose grant has no masks.
/// </summary>
public sealed class StatementMasks
{
    private const int MaxViewDepth = 16;

    private readonly RelationCatalog _catalog;

    private StatementMasks(MaskRules rules, RelationCatalog catalog, bool tainted, string? taintReason)
    {
        Rules = rules;
        _catalog = catalog;
        Tainted = tainted;
        TaintReason = taintReason;
    }

    public MaskRules Rules { get; }

    /// <summary>The statement reads (or may read) a relation with masked columns.</summary>
    public bool Tainted { get; }

    // Per statement of the query string: the statements of one simple query are traced separately.
    private bool[] _tainted = [];

    /// <summary>Whether statement <paramref name="index"/> of the ticket reads masked data.</summary>
    public bool IsTainted(int index) => (uint)index < (uint)_tainted.Length ? _tainted[index] : Tainted;

    /// <summary>Plans of the statement's COPY … TO STDOUT, by statement index (only those that must be rewritten).</summary>
    public IReadOnlyDictionary<int, CopyOutPlan> CopyPlans { get; internal set; } = new Dictionary<int, CopyOutPlan>();

    /// <summary>Why the statement is refused: it reads masked data and writes it somewhere the mask does not follow
    /// (another table, a run-time setting); null when it may run.</summary>
    public string? Laundering { get; private set; }

    public string? TaintReason { get; }

    /// <summary>Decides taint from the analyzer's facts: relations read (unqualified names in any schema), relations it
    /// reaches without naming them, and functions outside pg_catalog (their bodies may read anything), also when called
    /// in attribute notation (<c>o.customer_email</c>, read from <paramref name="sql"/>: <see cref="AttributeNotation"/>).</summary>
    /// <param name="sql">The text the facts were read from: with it, attribute-notation calls taint, and writes whose values
    /// come from masked columns are refused (<see cref="WriteLaundering"/>); callers without it get only the coarser checks.</param>
    /// <param name="hiddenCodeRan">Code Gatehouse cannot see ran in the session (or runs in this statement): every
    /// statement is tainted, since what it left behind may be read anywhere (settings, temporary tables, locks).</param>
    public static async ValueTask<StatementMasks> ForAsync(MaskRules rules, RelationCatalog catalog, IReadOnlyList<StatementFacts> statements, CancellationToken ct, string? sql = null,
        bool hiddenCodeRan = false)
    {
        string? reason = null;
        var perStatement = new bool[statements.Count];
        if (rules.HasColumnRules)
        {
            for (int i = 0; i < statements.Count; i++)
            {
                var why = await TaintAsync(rules, catalog, statements[i], sql, ct);
                perStatement[i] = why is not null;
                reason ??= why;
            }
        }

        string? laundering = null;
        if (reason is not null)
        {
            foreach (var facts in statements)
            {
                if (facts.Settings.Any(s => s.Kind == SettingValueKind.NotLiteral))
                {
                    laundering = "a statement that reads masked columns may not set run-time parameters from them";
                }
                else if (await LeavesStateAsync(catalog, facts, ct) is { } channel)
                {
                    laundering = $"a statement that reads masked columns may not call {channel}() (a volatile function: what it leaves behind outside the result would carry the values past the mask)";
                }
                else if (await UnmaskedTargetAsync(rules, catalog, facts, ct) is { } target && await ReadsSensitiveAsync(rules, catalog, facts, ct))
                {
                    laundering = $"a statement that reads masked columns may not write {target} (the values would leave the mask)";
                }
            }
        }

        var masks = new StatementMasks(rules, catalog, reason is not null, reason) { Laundering = laundering, _tainted = perStatement };
        for (int i = 0; i < statements.Count && masks.Laundering is null && sql is not null; i++)
        {
            if (perStatement[i] && statements[i].WrittenRelations.Count > 0)
            {
                masks.Laundering = await WriteLaundering.CheckAsync(masks, catalog, sql, statements[i], ct);
            }
        }

        if (hiddenCodeRan)
        {
            // What that code left behind is anywhere: settings, temporary tables (also ones named like a real table,
            // found first), prepared statements it redefined, advisory locks. Results are read as tainted (columns that
            // trace to a real table are still masked by column, the rest redacted); writes were judged above, as before.
            Array.Fill(perStatement, true);
            if (!masks.Tainted)
            {
                masks = new StatementMasks(rules, catalog, true, "runs after code Gatehouse cannot see ran in this session, which may have left masked values behind")
                {
                    Laundering = masks.Laundering, _tainted = perStatement,
                };
            }
        }

        return masks;
    }

    // Functions whose arguments end up where a later statement, or another session, reads them unmasked: a
    // notification's channel, an advisory lock's keys (pg_locks), a large object and its descriptor's position, a
    // sequence's value, the random generator's seed, a cursor's position, a setting, a logical decoding message, a file.
    // A floor: every built-in the server marks VOLATILE is refused too, but for those below that keep nothing an
    // argument chose (a red team found setseed, the advisory unlocks, lo_lseek and cursor_to_xml's count missing here).
    private static readonly HashSet<string> OutsideChannels = new(StringComparer.Ordinal)
    {
        "pg_notify", "set_config", "setseed", "setval", "nextval", "pg_logical_emit_message", "pg_file_write", "cursor_to_xml",
        "pg_advisory_lock", "pg_advisory_lock_shared", "pg_advisory_xact_lock", "pg_advisory_xact_lock_shared",
        "pg_try_advisory_lock", "pg_try_advisory_lock_shared", "pg_try_advisory_xact_lock", "pg_try_advisory_xact_lock_shared",
        "pg_advisory_unlock", "pg_advisory_unlock_shared", "pg_advisory_unlock_all",
        "lo_from_bytea", "lo_create", "lo_creat", "lo_put", "lowrite", "lo_import", "lo_export", "lo_open", "lo_close",
        "lo_lseek", "lo_lseek64", "lo_tell", "lo_tell64", "lo_truncate", "lo_truncate64", "loread", "lo_unlink", "lo_get",
    };

    // VOLATILE built-ins whose arguments leave nothing behind (they read, or take no argument a value could steer).
    private static readonly HashSet<string> VolatileReadOnly = new(StringComparer.Ordinal)
    {
        "random", "clock_timestamp", "timeofday", "gen_random_uuid", "current_query", "currval", "lastval",
        "query_to_xml", "query_to_xmlschema", "query_to_xml_and_xmlschema", "cursor_to_xmlschema", "ts_stat", "ts_rewrite",
        "pg_relation_size", "pg_table_size", "pg_total_relation_size", "pg_indexes_size", "pg_database_size", "pg_tablespace_size",
        "pg_partition_tree", "pg_partition_ancestors", "pg_is_in_recovery", "pg_jit_available", "txid_status", "pg_xact_status",
    };

    /// <summary>The first built-in the statement calls that may keep something an argument chose, or null.</summary>
    private static async ValueTask<string?> LeavesStateAsync(RelationCatalog catalog, StatementFacts facts, CancellationToken ct)
    {
        IReadOnlySet<string>? volatileBuiltins = null;
        // A name that may be a call in attribute notation ((x).setseed) counts as one: a column of that name is refused too.
        foreach (var functions in (IReadOnlyList<QualifiedName>[])[facts.Functions, facts.AttributeCalls])
        {
            foreach (var function in functions)
            {
                if (function.Schema is not (null or "pg_catalog") || VolatileReadOnly.Contains(function.Name))
                {
                    continue;
                }

                if (OutsideChannels.Contains(function.Name) || (volatileBuiltins ??= await catalog.VolatileBuiltinsAsync(ct)).Contains(function.Name))
                {
                    return function.Name;
                }
            }
        }

        return null;
    }

    /// <summary>A relation the statement writes whose reads masking would not cover (not itself sensitive), or null.</summary>
    private static async ValueTask<QualifiedName?> UnmaskedTargetAsync(MaskRules rules, RelationCatalog catalog, StatementFacts facts, CancellationToken ct)
    {
        if (facts.WritesUnlistedRelations)
        {
            return facts.WrittenRelations.Count > 0 ? facts.WrittenRelations[0] : new QualifiedName(null, "(unlisted tables)");
        }

        foreach (var name in facts.WrittenRelations)
        {
            var oids = await catalog.FindAsync(name, ct);
            if (oids.Count == 0)
            {
                return name;
            }

            foreach (var oid in oids)
            {
                if (!await rules.IsSensitiveAsync(catalog, oid, ct))
                {
                    return name;
                }
            }
        }

        return null;
    }

    private static async ValueTask<bool> ReadsSensitiveAsync(MaskRules rules, RelationCatalog catalog, StatementFacts facts, CancellationToken ct)
    {
        if (facts.ReadsUnlistedRelations)
        {
            return true;
        }

        foreach (var name in facts.ReadRelations)
        {
            foreach (var oid in await catalog.FindAsync(name, ct))
            {
                if (await rules.IsSensitiveAsync(catalog, oid, ct))
                {
                    return true;
                }
            }
        }

        return false;
    }

    private static async ValueTask<string?> TaintAsync(MaskRules rules, RelationCatalog catalog, StatementFacts facts, string? sql, CancellationToken ct)
    {
        if (facts.ReadsUnlistedRelations)
        {
            return "reads tables it does not name";
        }

        if (facts.Class == StatementClass.Code)
        {
            return "runs a DO block or a procedure, whose body Gatehouse cannot see";
        }

        if (facts.Command is "FETCH" or "MOVE" || facts.Functions.Any(f => f.Schema is null or "pg_catalog" && f.Name.StartsWith("cursor_to_xml", StringComparison.Ordinal)))
        {
            // A function can open a cursor under a name the session once declared: its rows are not the declared query's.
            return "fetches from a cursor, which code Gatehouse cannot see may have opened under its name";
        }

        if (facts.Command is "COMMIT" or "SET CONSTRAINTS" or "PREPARE TRANSACTION")
        {
            return "may fire deferred triggers, whose messages Gatehouse cannot see";
        }


        foreach (var relations in (IReadOnlyList<QualifiedName>[])[facts.ReadRelations, facts.WrittenRelations])
        {
            foreach (var name in relations)
            {
                if (name.Schema is null or "pg_catalog" && name.Name.StartsWith("pg_stat", StringComparison.Ordinal))
                {
                    // Planner statistics (pg_stats, pg_statistic, pg_stats_ext…) hold samples of column values.
                    return $"reads {name}, which holds samples of column values";
                }

                foreach (var oid in await catalog.FindAsync(name, ct))
                {
                    if (await rules.IsSensitiveAsync(catalog, oid, ct))
                    {
                        return $"reads {name}, which has masked columns";
                    }
                }
            }
        }

        foreach (var name in facts.WrittenRelations)
        {
            foreach (var oid in await catalog.FindAsync(name, ct))
            {
                if (await FiresRulesAsync(catalog, oid, 0, ct))
                {
                    return $"writes {name}, which has rewrite rules whose queries Gatehouse cannot see";
                }
            }
        }

        return sql is null ? await HiddenCode.CalledAsync(catalog, facts, null, ct) : await catalog.HiddenCodeAsync(facts, sql, ct);
    }

    /// <summary>Whether a write to the relation runs rewrite rules: its own, or (a view written through) those of the
    /// relations it reads; too deep to follow counts as yes.</summary>
    private static async ValueTask<bool> FiresRulesAsync(RelationCatalog catalog, uint oid, int depth, CancellationToken ct)
    {
        if (await catalog.GetAsync(oid, ct) is not { } relation)
        {
            return false;
        }

        if (relation.HasRules || depth > MaxViewDepth)
        {
            return true;
        }

        foreach (var dependency in relation.IsView ? relation.DependsOn : [])
        {
            if (await FiresRulesAsync(catalog, dependency, depth + 1, ct))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>The plan for a result set with these columns (formats as the RowDescription gives them).</summary>
    public async ValueTask<ColumnPlan> BindAsync(IReadOnlyList<ResultColumn> columns, CancellationToken ct, int statement = -1)
    {
        bool tainted = statement < 0 ? Tainted : IsTainted(statement);
        var plan = new ColumnMask[columns.Count];
        var scan = Rules.Detectors.Count > 0;
        for (int i = 0; i < columns.Count; i++)
        {
            var column = columns[i];
            var (action, with, rule) = await TraceAsync(column.TableOid, column.AttributeNumber, tainted, ct);
            if (action == ColumnAction.Pass && scan)
            {
                action = ColumnAction.Scan;
            }

            plan[i] = new ColumnMask(action, with, rule, column.TypeOid, column.Format);
            if (action == ColumnAction.Redact && Rules.StrictDeny)
            {
                return new ColumnPlan(plan, Rules)
                {
                    Denied = $"result column \"{column.Name}\" cannot be traced to an unmasked source (strict_masking: deny); select the columns themselves, not expressions over them",
                };
            }
        }

        return new ColumnPlan(plan, Rules);
    }

    /// <summary>The rule for a column of this relation, of a table it inherits from or partitions, or of its descendants.</summary>
    private ValueTask<(string With, string Pattern)?> RuleForAsync(RelationInfo relation, string column, CancellationToken ct) =>
        Rules.ColumnRuleAsync(_catalog, relation, column, ct);

    internal async ValueTask<(ColumnAction, string?, string?)> TraceAsync(uint table, short attribute, bool tainted, CancellationToken ct)
    {
        var untraceable = tainted ? (ColumnAction.Redact, (string?)null, (string?)null) : (ColumnAction.Pass, null, null);
        for (int depth = 0; depth < MaxViewDepth; depth++)
        {
            if (table == 0 || attribute <= 0)
            {
                return untraceable;
            }

            var relation = await _catalog.GetAsync(table, ct);
            if (relation is null || !relation.Columns.TryGetValue(attribute, out var name))
            {
                return untraceable;
            }

            if (await RuleForAsync(relation, name, ct) is { } rule)
            {
                return (ColumnAction.Mask, rule.With, rule.Pattern);
            }

            if (tainted && relation.Schema.StartsWith("pg_temp", StringComparison.Ordinal))
            {
                // A temporary table read after hidden code ran: that code may have filled it from masked columns.
                return untraceable;
            }

            if (!relation.IsView)
            {
                return (ColumnAction.Pass, null, null);
            }

            // A view's column: follow it to the column it comes from; a computed one is untraceable when the view
            // reads masked data.
            var origins = relation.Origins ?? [];
            if (attribute > origins.Length)
            {
                return await Rules.IsSensitiveAsync(_catalog, table, ct) ? (ColumnAction.Redact, null, null) : untraceable;
            }

            (table, attribute) = origins[attribute - 1];
            if (table == 0 && await Rules.IsSensitiveAsync(_catalog, relation.Oid, ct))
            {
                return (ColumnAction.Redact, null, null);
            }
        }

        return (ColumnAction.Redact, null, null);
    }
}
