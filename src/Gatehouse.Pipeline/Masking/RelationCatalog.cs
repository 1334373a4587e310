using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using Gatehouse.Credentials;
using Gatehouse.Sql;
using Npgsql;

namespace Gatehouse.Pipeline.Masking;

/// <summary>What masking needs to know about one relation of a target.</summary>
public sealed record RelationInfo(uint Oid, string Schema, string Name, char Kind, IReadOnlyDictionary<short, string> Columns)
{
    /// <summary>Views and materialized views: for each output column (attnum − 1), the column it comes from; (0, 0) when computed.</summary>
    public (uint Table, short Column)[]? Origins { get; init; }

    /// <summary>Relations a view or materialized view reads, for taint: pg_depend's, and every relation its stored query's
    /// range tables name (pg_depend leaves out pinned catalogs such as pg_statistic).</summary>
    public IReadOnlyList<uint> DependsOn { get; init; } = [];

    /// <summary>Tables this one inherits from or is a partition of (pg_inherits): their column masks apply to it by column name.</summary>
    public IReadOnlyList<uint> Parents { get; init; } = [];

    /// <summary>Tables that inherit from this one or are its partitions, transitively (pg_inherits): reading this one
    /// reads their rows, so their column masks apply to it by column name.</summary>
    public IReadOnlyList<uint> Descendants { get; init; } = [];

    /// <summary>A view or materialized view whose stored query calls a function whose body Gatehouse cannot see (outside
    /// pg_catalog and information_schema, directly or as an operator's code) or a built-in that reads what a text argument
    /// names (query_to_xml…): it counts as reading masked data and none of its columns is traced (<see cref="Origins"/> empty).</summary>
    public bool CallsHiddenCode { get; init; }

    /// <summary>The relation has rewrite rules (pg_rewrite) other than a view's <c>_RETURN</c>: a write to it runs queries
    /// Gatehouse does not see, and may return their rows.</summary>
    public bool HasRules { get; init; }

    /// <summary>Each column's type (a domain's base type), by attnum: what COPY masks a column's values as.</summary>
    public IReadOnlyDictionary<short, uint> Types { get; init; } = new Dictionary<short, uint>();

    /// <summary>Generated columns (<c>GENERATED ALWAYS AS (…) STORED</c>), by name: the columns of this relation their
    /// expression reads, and whether it calls a function outside pg_catalog. A generated column holds what its sources
    /// hold, so it is masked as they are; and <c>COPY table TO</c> leaves it out.</summary>
    public IReadOnlyDictionary<string, GeneratedColumn> Generated { get; init; } = new Dictionary<string, GeneratedColumn>();

    public bool IsView => Kind is 'v' or 'm';
}

/// <summary>A stored generated column's expression: the columns it reads and whether it calls a function Gatehouse cannot see.</summary>
public sealed record GeneratedColumn(IReadOnlyList<string> Sources, bool CallsUserCode);

/// <summary>Reads relation metadata from the upstream catalog. An interface so masking can be tested without a server.</summary>
public interface ICatalogSource
{
    ValueTask<IReadOnlyList<RelationInfo>> ByOidAsync(IReadOnlyCollection<uint> oids, CancellationToken ct);

    /// <summary>OIDs of relations with this name (any schema when <see cref="QualifiedName.Schema"/> is null).</summary>
    ValueTask<IReadOnlyList<uint>> ByNameAsync(QualifiedName name, CancellationToken ct);

    /// <summary>Whether a function of this name exists outside pg_catalog and information_schema (in the given schema, if any).</summary>
    ValueTask<bool> HasUserFunctionAsync(QualifiedName name, CancellationToken ct);

    /// <summary>Whether an operator of this name exists outside pg_catalog and information_schema whose function is not C
    /// or internal (a SQL or PL/pgSQL body, which may read anything). Sources without operators answer false.</summary>
    ValueTask<bool> HasUserOperatorAsync(QualifiedName name, CancellationToken ct) => ValueTask.FromResult(false);

    /// <summary>Whether a cast to a type of this name runs a function outside pg_catalog and information_schema that is
    /// not C or internal. Sources without casts answer false.</summary>
    ValueTask<bool> HasUserCastAsync(QualifiedName type, CancellationToken ct) => ValueTask.FromResult(false);

    /// <summary>Names of pg_catalog functions the server marks VOLATILE (they may change state a later statement reads).
    /// Sources without a server answer with none (the fixed list of channels still applies).</summary>
    ValueTask<IReadOnlySet<string>> VolatileBuiltinsAsync(CancellationToken ct) => ValueTask.FromResult<IReadOnlySet<string>>(new HashSet<string>());
}

/// <summary>
/// A per-target cache of relation metadata, filled on a miss over a Gatehouse-owned connection (the provisioner's
/// login, application_name gatehouse-catalog) and cleared after DDL ran in any session on the target. A failed lookup
/// throws <see cref="CatalogUnavailableException"/>: masking then refuses the statement rather than answer unmasked.
/// </summary>
public sealed class RelationCatalog(ICatalogSource source)
{
    private ConcurrentDictionary<uint, RelationInfo> _byOid = new();
    private ConcurrentDictionary<QualifiedName, IReadOnlyList<uint>> _byName = new();
    private ConcurrentDictionary<QualifiedName, bool> _userFunctions = new();
    private ConcurrentDictionary<QualifiedName, bool> _userOperators = new();
    private ConcurrentDictionary<QualifiedName, bool> _userCasts = new();
    private ConditionalWeakTable<StatementFacts, HiddenCodeCall> _hiddenCode = new();
    private IReadOnlySet<string>? _volatileBuiltins;
    private long _generation;

    private sealed record HiddenCodeCall(string? Reason);

    /// <summary>Changes whenever the cache is cleared; results computed from an older generation are stale.</summary>
    public long Generation => Interlocked.Read(ref _generation);

    /// <summary>DDL ran, or the policy changed: forget everything.</summary>
    public void Invalidate()
    {
        _byOid = new();
        _byName = new();
        _userFunctions = new();
        _userOperators = new();
        _userCasts = new();
        _hiddenCode = new();
        Interlocked.Increment(ref _generation);
    }

    public async ValueTask<RelationInfo?> GetAsync(uint oid, CancellationToken ct)
    {
        if (oid == 0)
        {
            return null;
        }

        var map = _byOid;
        if (map.TryGetValue(oid, out var info))
        {
            return info;
        }

        foreach (var found in await Load(() => source.ByOidAsync([oid], ct)))
        {
            map[found.Oid] = found;
        }

        return map.GetValueOrDefault(oid);
    }

    /// <summary>The relations of these OIDs that exist, those not yet cached read in one lookup.</summary>
    public async ValueTask<IReadOnlyList<RelationInfo>> GetManyAsync(IReadOnlyList<uint> oids, CancellationToken ct)
    {
        var map = _byOid;
        var missing = oids.Where(o => o != 0 && !map.ContainsKey(o)).Distinct().ToList();
        if (missing.Count > 0)
        {
            foreach (var found in await Load(() => source.ByOidAsync(missing, ct)))
            {
                map[found.Oid] = found;
            }
        }

        var result = new List<RelationInfo>(oids.Count);
        foreach (var oid in oids)
        {
            if (map.TryGetValue(oid, out var info))
            {
                result.Add(info);
            }
        }

        return result;
    }

    public ValueTask<IReadOnlyList<uint>> FindAsync(QualifiedName name, CancellationToken ct) =>
        Cached(_byName, name, () => source.ByNameAsync(name, ct));

    public ValueTask<bool> HasUserFunctionAsync(QualifiedName name, CancellationToken ct) =>
        Cached(_userFunctions, name, () => source.HasUserFunctionAsync(name, ct));

    public ValueTask<bool> HasUserOperatorAsync(QualifiedName name, CancellationToken ct) =>
        Cached(_userOperators, name, () => source.HasUserOperatorAsync(name, ct));

    public ValueTask<bool> HasUserCastAsync(QualifiedName type, CancellationToken ct) =>
        Cached(_userCasts, type, () => source.HasUserCastAsync(type, ct));

    /// <summary>The target's VOLATILE pg_catalog functions, read once (they change only with the server's version).</summary>
    public async ValueTask<IReadOnlySet<string>> VolatileBuiltinsAsync(CancellationToken ct) =>
        _volatileBuiltins ??= await Load(() => source.VolatileBuiltinsAsync(ct));

    /// <summary>Why the statement may run code Gatehouse cannot see (<see cref="HiddenCode"/>), or null; remembered per
    /// analysis (the analyzer shares the facts of identical texts), so a repeated statement is not lexed again.</summary>
    public async ValueTask<string?> HiddenCodeAsync(StatementFacts facts, string sql, CancellationToken ct)
    {
        var table = _hiddenCode;
        if (table.TryGetValue(facts, out var known))
        {
            return known.Reason;
        }

        var reason = await HiddenCode.CalledAsync(this, facts, sql, ct);
        table.AddOrUpdate(facts, new HiddenCodeCall(reason));
        return reason;
    }

    // The map is the one current when the lookup began: an answer loaded across an Invalidate lands in the old map.
    private static async ValueTask<T> Cached<T>(ConcurrentDictionary<QualifiedName, T> map, QualifiedName key, Func<ValueTask<T>> load)
    {
        if (map.TryGetValue(key, out var known))
        {
            return known;
        }

        known = await Load(load);
        map[key] = known;
        return known;
    }

    private static async ValueTask<T> Load<T>(Func<ValueTask<T>> load)
    {
        try
        {
            return await load();
        }
        catch (Exception ex) when (ex is NpgsqlException or InvalidOperationException or TimeoutException or IOException)
        {
            throw new CatalogUnavailableException(ex.Message, ex);
        }
    }
}

/// <summary>The upstream catalog could not be read; the statement that needed it is refused.</summary>
public sealed class CatalogUnavailableException(string message, Exception inner) : Exception(message, inner);

/// <summary>Reads pg_class, pg_attribute, pg_inherits, pg_rewrite, pg_depend and pg_proc with the target's provisioner login.</summary>
public sealed class UpstreamCatalogSource : ICatalogSource, IAsyncDisposable
{
    private readonly NpgsqlDataSource _dataSource;

    public UpstreamCatalogSource(CredentialTarget target)
    {
        var builder = target.ProvisionerDataSource("gatehouse-catalog", maxPoolSize: 2, commandTimeoutSeconds: 10);
        builder.UsePasswordProvider(_ => target.ProvisionerPassword(), (_, _) => ValueTask.FromResult(target.ProvisionerPassword()));
        _dataSource = builder.Build();
    }

    // Each lookup runs once more on a fresh connection when the server had ended the pooled one (a restart).
    public ValueTask<IReadOnlyList<RelationInfo>> ByOidAsync(IReadOnlyCollection<uint> oids, CancellationToken ct) =>
        EndedConnections.RetryOnceAsync(_dataSource, conn => ByOidAsync(conn, oids, ct), ct);

    private static async ValueTask<IReadOnlyList<RelationInfo>> ByOidAsync(NpgsqlConnection conn, IReadOnlyCollection<uint> oids, CancellationToken ct)
    {
        var relations = new Dictionary<uint, (string Schema, string Name, char Kind, Dictionary<short, string> Columns, Dictionary<short, uint> Types)>();
        await using (var cmd = new NpgsqlCommand("""
            SELECT c.oid, n.nspname, c.relname, c.relkind::text, a.attnum, a.attname,
                   CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE a.atttypid END
            FROM pg_catalog.pg_class c
            JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
            LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
            LEFT JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
            WHERE c.oid = ANY($1::oid[])
            """, conn))
        {
            cmd.Parameters.Add(new NpgsqlParameter { Value = oids.Select(o => (long)o).ToArray(), NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Array | NpgsqlTypes.NpgsqlDbType.Bigint });
            await using var reader = await cmd.ExecuteReaderAsync(ct);
            while (await reader.ReadAsync(ct))
            {
                var oid = await reader.GetFieldValueAsync<uint>(0, ct);
                if (!relations.TryGetValue(oid, out var relation))
                {
                    relation = (reader.GetString(1), reader.GetString(2), reader.GetString(3)[0], new Dictionary<short, string>(), new Dictionary<short, uint>());
                    relations[oid] = relation;
                }

                if (!await reader.IsDBNullAsync(4, ct))
                {
                    relation.Columns[reader.GetInt16(4)] = reader.GetString(5);
                    relation.Types[reader.GetInt16(4)] = await reader.GetFieldValueAsync<uint>(6, ct);
                }
            }
        }

        // Inheritance both ways (descendants transitively: a parent's scan reads every one of them) and rewrite rules.
        var parents = new Dictionary<uint, List<uint>>();
        var descendants = new Dictionary<uint, List<uint>>();
        var ruled = new HashSet<uint>();
        await using (var links = new NpgsqlCommand("""
            WITH RECURSIVE below(root, rel) AS (
                SELECT inhparent, inhrelid FROM pg_catalog.pg_inherits WHERE inhparent = ANY($1::oid[])
                UNION
                SELECT b.root, i.inhrelid FROM below b JOIN pg_catalog.pg_inherits i ON i.inhparent = b.rel)
            SELECT 'p', inhrelid, inhparent FROM pg_catalog.pg_inherits WHERE inhrelid = ANY($1::oid[])
            UNION ALL SELECT 'd', root, rel FROM below
            UNION ALL SELECT DISTINCT 'r', ev_class, 0::oid FROM pg_catalog.pg_rewrite
                WHERE ev_class = ANY($1::oid[]) AND NOT (rulename = '_RETURN' AND ev_type = '1')
            """, conn))
        {
            links.Parameters.Add(new NpgsqlParameter { Value = oids.Select(o => (long)o).ToArray(), NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Array | NpgsqlTypes.NpgsqlDbType.Bigint });
            await using var reader = await links.ExecuteReaderAsync(ct);
            while (await reader.ReadAsync(ct))
            {
                var kind = reader.GetString(0);
                var from = await reader.GetFieldValueAsync<uint>(1, ct);
                var to = await reader.GetFieldValueAsync<uint>(2, ct);
                if (kind == "r")
                {
                    ruled.Add(from);
                    continue;
                }

                var map = kind == "p" ? parents : descendants;
                (map.TryGetValue(from, out var list) ? list : map[from] = []).Add(to);
            }
        }

        var generated = await GeneratedColumnsAsync(conn, oids, ct);
        var result = new List<RelationInfo>();
        foreach (var (oid, r) in relations)
        {
            var info = new RelationInfo(oid, r.Schema, r.Name, r.Kind, r.Columns)
            {
                Parents = parents.GetValueOrDefault(oid) ?? [],
                Descendants = descendants.GetValueOrDefault(oid) ?? [],
                HasRules = ruled.Contains(oid),
                Types = r.Types,
                Generated = generated.GetValueOrDefault(oid) ?? new Dictionary<string, GeneratedColumn>(),
            };
            if (info.IsView)
            {
                info = await WithViewQueryAsync(conn, info, ct);
            }

            result.Add(info);
        }

        return result;
    }

    // Each stored generated column with the columns its expression reads (pg_attrdef's dependencies) and whether it calls
    // a function outside pg_catalog.
    private static async ValueTask<Dictionary<uint, Dictionary<string, GeneratedColumn>>> GeneratedColumnsAsync(
        NpgsqlConnection conn, IReadOnlyCollection<uint> oids, CancellationToken ct)
    {
        var found = new Dictionary<uint, Dictionary<string, (List<string> Sources, bool UserCode)>>();
        await using (var cmd = new NpgsqlCommand("""
            SELECT ad.adrelid, g.attname, s.attname,
                   (p.oid IS NOT NULL AND p.pronamespace <> 'pg_catalog'::regnamespace)
            FROM pg_catalog.pg_attrdef ad
            JOIN pg_catalog.pg_attribute g ON g.attrelid = ad.adrelid AND g.attnum = ad.adnum AND g.attgenerated <> ''
            LEFT JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_attrdef'::regclass AND d.objid = ad.oid
                AND NOT (d.refclassid = 'pg_catalog.pg_class'::regclass AND d.refobjid = ad.adrelid AND d.refobjsubid = ad.adnum)
            LEFT JOIN pg_catalog.pg_attribute s ON d.refclassid = 'pg_catalog.pg_class'::regclass AND s.attrelid = d.refobjid
                AND s.attnum = d.refobjsubid AND d.refobjsubid > 0
            LEFT JOIN pg_catalog.pg_proc p ON d.refclassid = 'pg_catalog.pg_proc'::regclass AND p.oid = d.refobjid
            WHERE ad.adrelid = ANY($1::oid[])
            """, conn))
        {
            cmd.Parameters.Add(new NpgsqlParameter { Value = oids.Select(o => (long)o).ToArray(), NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Array | NpgsqlTypes.NpgsqlDbType.Bigint });
            await using var reader = await cmd.ExecuteReaderAsync(ct);
            while (await reader.ReadAsync(ct))
            {
                var oid = await reader.GetFieldValueAsync<uint>(0, ct);
                var columns = found.TryGetValue(oid, out var known) ? known : found[oid] = [];
                var name = reader.GetString(1);
                var column = columns.TryGetValue(name, out var c) ? c : ([], false);
                if (!await reader.IsDBNullAsync(2, ct))
                {
                    column.Sources.Add(reader.GetString(2));
                }

                columns[name] = (column.Sources, column.UserCode || reader.GetBoolean(3));
            }
        }

        return found.ToDictionary(r => r.Key, r => r.Value.ToDictionary(c => c.Key, c => new GeneratedColumn(c.Value.Sources, c.Value.UserCode)));
    }

    public ValueTask<IReadOnlySet<string>> VolatileBuiltinsAsync(CancellationToken ct) =>
        EndedConnections.RetryOnceAsync<IReadOnlySet<string>>(_dataSource, async conn =>
        {
            await using var cmd = new NpgsqlCommand(
                "SELECT DISTINCT proname FROM pg_catalog.pg_proc WHERE pronamespace = 'pg_catalog'::regnamespace AND provolatile = 'v'", conn);
            var names = new HashSet<string>(StringComparer.Ordinal);
            await using var reader = await cmd.ExecuteReaderAsync(ct);
            while (await reader.ReadAsync(ct))
            {
                names.Add(reader.GetString(0));
            }

            return names;
        }, ct);

    public ValueTask<IReadOnlyList<uint>> ByNameAsync(QualifiedName name, CancellationToken ct) =>
        EndedConnections.RetryOnceAsync(_dataSource, conn => ByNameAsync(conn, name, ct), ct);

    private static async ValueTask<IReadOnlyList<uint>> ByNameAsync(NpgsqlConnection conn, QualifiedName name, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand(name.Schema is null
            ? "SELECT c.oid FROM pg_catalog.pg_class c WHERE c.relname = $1"
            : "SELECT c.oid FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE c.relname = $1 AND n.nspname = $2", conn);
        cmd.Parameters.Add(new NpgsqlParameter { Value = name.Name });
        if (name.Schema is not null)
        {
            cmd.Parameters.Add(new NpgsqlParameter { Value = name.Schema });
        }

        var oids = new List<uint>();
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
        {
            oids.Add(await reader.GetFieldValueAsync<uint>(0, ct));
        }

        return oids;
    }

    public ValueTask<bool> HasUserFunctionAsync(QualifiedName name, CancellationToken ct) => ExistsAsync("""
        SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
                       WHERE p.proname = $1 AND n.nspname NOT IN ('pg_catalog', 'information_schema')
                         AND ($2::text IS NULL OR n.nspname = $2))
        """, name, ct);

    public ValueTask<bool> HasUserOperatorAsync(QualifiedName name, CancellationToken ct) => ExistsAsync("""
        SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_operator o
                         JOIN pg_catalog.pg_namespace n ON n.oid = o.oprnamespace
                         JOIN pg_catalog.pg_proc p ON p.oid = o.oprcode
                         JOIN pg_catalog.pg_language l ON l.oid = p.prolang
                       WHERE o.oprname = $1 AND n.nspname NOT IN ('pg_catalog', 'information_schema')
                         AND l.lanname NOT IN ('c', 'internal')
                         AND ($2::text IS NULL OR n.nspname = $2))
        """, name, ct);

    public ValueTask<bool> HasUserCastAsync(QualifiedName type, CancellationToken ct) => ExistsAsync("""
        SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_cast c
                         JOIN pg_catalog.pg_type t ON t.oid = c.casttarget
                         JOIN pg_catalog.pg_namespace tn ON tn.oid = t.typnamespace
                         JOIN pg_catalog.pg_proc p ON p.oid = c.castfunc
                         JOIN pg_catalog.pg_namespace pn ON pn.oid = p.pronamespace
                         JOIN pg_catalog.pg_language l ON l.oid = p.prolang
                       WHERE t.typname = $1 AND pn.nspname NOT IN ('pg_catalog', 'information_schema')
                         AND l.lanname NOT IN ('c', 'internal')
                         AND ($2::text IS NULL OR tn.nspname = $2))
        """, type, ct);

    /// <summary>Runs an EXISTS query whose $1 is the name and $2 its schema (null: any).</summary>
    private ValueTask<bool> ExistsAsync(string sql, QualifiedName name, CancellationToken ct) =>
        EndedConnections.RetryOnceAsync(_dataSource, async conn =>
        {
            await using var cmd = new NpgsqlCommand(sql, conn);
            cmd.Parameters.Add(new NpgsqlParameter { Value = name.Name });
            cmd.Parameters.Add(new NpgsqlParameter { Value = (object?)name.Schema ?? DBNull.Value, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Text });
            return await cmd.ExecuteScalarAsync(ct) is true;
        }, ct);

    /// <summary>A view's origins, the relations it reads and whether it runs code Gatehouse cannot see, from its stored
    /// query (pg_rewrite) and pg_depend.</summary>
    private static async ValueTask<RelationInfo> WithViewQueryAsync(NpgsqlConnection conn, RelationInfo view, CancellationToken ct)
    {
        string? text;
        await using (var cmd = new NpgsqlCommand("SELECT ev_action::text FROM pg_catalog.pg_rewrite WHERE ev_class = $1::oid AND rulename = '_RETURN'", conn))
        {
            cmd.Parameters.Add(new NpgsqlParameter { Value = (long)view.Oid });
            text = await cmd.ExecuteScalarAsync(ct) as string;
        }

        // A stored query Gatehouse cannot read gives no origins: every column of the view is then untraceable.
        var origins = text is null ? [] : ViewOrigins.Parse(text) ?? [];
        var relations = new HashSet<uint>(text is null ? [] : ViewOrigins.Numbers(text, ":relid "));
        var functions = text is null ? [] : ViewOrigins.Numbers(text, ":funcid ")
            .Concat(ViewOrigins.Numbers(text, ":aggfnoid ")).Concat(ViewOrigins.Numbers(text, ":winfnoid ")).Concat(ViewOrigins.Numbers(text, ":opfuncid "))
            .Distinct().Select(o => (long)o).ToArray();

        await using (var cmd = new NpgsqlCommand("""
            SELECT DISTINCT d.refobjid FROM pg_catalog.pg_rewrite r
            JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_rewrite'::regclass AND d.objid = r.oid
                AND d.refclassid = 'pg_catalog.pg_class'::regclass
            WHERE r.ev_class = $1::oid
            """, conn))
        {
            cmd.Parameters.Add(new NpgsqlParameter { Value = (long)view.Oid });
            await using var reader = await cmd.ExecuteReaderAsync(ct);
            while (await reader.ReadAsync(ct))
            {
                relations.Add(await reader.GetFieldValueAsync<uint>(0, ct));
            }
        }

        relations.Remove(view.Oid);
        relations.Remove(0);

        // Functions from pg_depend (user functions and operators are never pinned, so they are recorded) and from the
        // stored query itself (pinned built-ins are not in pg_depend).
        bool hidden;
        await using (var cmd = new NpgsqlCommand("""
            SELECT EXISTS (
                SELECT 1 FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
                WHERE (n.nspname NOT IN ('pg_catalog', 'information_schema') OR p.proname = ANY($3::text[]))
                  AND (p.oid = ANY($2::oid[]) OR p.oid IN (
                      SELECT CASE WHEN d.refclassid = 'pg_catalog.pg_proc'::regclass THEN d.refobjid ELSE o.oprcode::oid END
                      FROM pg_catalog.pg_rewrite r
                      JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_rewrite'::regclass AND d.objid = r.oid
                      LEFT JOIN pg_catalog.pg_operator o ON d.refclassid = 'pg_catalog.pg_operator'::regclass AND o.oid = d.refobjid
                      WHERE r.ev_class = $1::oid
                        AND d.refclassid IN ('pg_catalog.pg_proc'::regclass, 'pg_catalog.pg_operator'::regclass))))
            """, conn))
        {
            cmd.Parameters.Add(new NpgsqlParameter { Value = (long)view.Oid });
            cmd.Parameters.Add(new NpgsqlParameter { Value = functions, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Array | NpgsqlTypes.NpgsqlDbType.Bigint });
            cmd.Parameters.Add(new NpgsqlParameter { Value = TextReadingFunctions.Names.ToArray(), NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Array | NpgsqlTypes.NpgsqlDbType.Text });
            hidden = await cmd.ExecuteScalarAsync(ct) is true;
        }

        return view with { Origins = hidden ? [] : origins, DependsOn = [.. relations], CallsHiddenCode = hidden };
    }

    public ValueTask DisposeAsync() => _dataSource.DisposeAsync();
}
