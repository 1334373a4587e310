using System.Collections.Frozen;

namespace Gatehouse.Sql;

/// <summary>What a built-in function does with the text one of its arguments holds.</summary>
internal enum ArgumentRole : byte
{
    /// <summary>Runs the text as SQL (through SPI): its statements' facts are the call's facts.</summary>
    Sql,
    /// <summary>Reads the relation the text names (regclass input).</summary>
    ReadRelation,
    /// <summary>Changes the relation the text names (a sequence's value, an index's summary).</summary>
    WriteRelation,
    /// <summary>Fetches from the cursor the text names (refcursor: the portal name exactly as written).</summary>
    Cursor,
    /// <summary>Reads every table of a schema or of the database: no argument names them.</summary>
    EveryRelation,
    /// <summary>set_config(name, value, is_local): a SET of a run-time parameter.</summary>
    Setting,
}

/// <param name="Position">The argument's position (0-based).</param>
/// <param name="Parameter">Its name for named notation (f(query => …)); null when pg_proc has none.</param>
/// <param name="Arity">Only calls with this many arguments (ts_rewrite(q, 'select …') but not ts_rewrite(q, a, b)); -1: any.</param>
internal sealed record ArgumentFunction(ArgumentRole Role, int Position = 0, string? Parameter = null, int Arity = -1);

/// <summary>
/// Built-in functions (pg_catalog) that run SQL, or reach relations or cursors, named by a text argument rather than
/// written in the statement. Surveyed on PostgreSQL 15.18 (a fresh initdb cluster) with
/// <code>
/// SELECT proname, pg_get_function_arguments(oid) FROM pg_proc
/// WHERE 'regclass'::regtype = ANY(proargtypes) OR 'refcursor'::regtype = ANY(proargtypes)
///    OR proargnames &amp;&amp; ARRAY['query','sqlquery','tbl','cursor','schema']
/// </code>
/// plus the functions whose C code runs SPI on a text argument (ts_rewrite(tsquery, text)) or over every table
/// (database_to_xml*), and set_config(). Left out after reading the list: functions that take a regclass but read
/// only the catalog or file sizes (pg_relation_size, pg_table_size, pg_indexes_size, pg_total_relation_size,
/// pg_relation_filenode/filepath, pg_partition_tree/root/ancestors, pg_index_has_property,
/// pg_index_column_has_property, pg_column_is_updatable, pg_relation_is_updatable, pg_relation_is_publishable,
/// pg_get_replica_identity_index), regclassout/regclasssend, and pg_nextoid / pg_extension_config_dump
/// (superuser-only, binary upgrade and extension scripts). pg_stat_get_activity's "query" is an output column.
/// A call of one of these with a literal argument is analyzed; with any other argument (a column, $1, an
/// expression, a numeric OID) the statement is unknown.
/// </summary>
internal static class ArgumentFunctions
{
    public static readonly FrozenDictionary<string, ArgumentFunction> Table = new Dictionary<string, ArgumentFunction>
    {
        ["query_to_xml"] = new(ArgumentRole.Sql, 0, "query"),
        ["query_to_xmlschema"] = new(ArgumentRole.Sql, 0, "query"),
        ["query_to_xml_and_xmlschema"] = new(ArgumentRole.Sql, 0, "query"),
        ["ts_stat"] = new(ArgumentRole.Sql),
        ["ts_rewrite"] = new(ArgumentRole.Sql, 1, Arity: 2),
        ["table_to_xml"] = new(ArgumentRole.ReadRelation, 0, "tbl"),
        ["table_to_xmlschema"] = new(ArgumentRole.ReadRelation, 0, "tbl"),
        ["table_to_xml_and_xmlschema"] = new(ArgumentRole.ReadRelation, 0, "tbl"),
        ["cursor_to_xml"] = new(ArgumentRole.Cursor, 0, "cursor"),
        ["cursor_to_xmlschema"] = new(ArgumentRole.Cursor, 0, "cursor"),
        ["schema_to_xml"] = new(ArgumentRole.EveryRelation),
        ["schema_to_xmlschema"] = new(ArgumentRole.EveryRelation),
        ["schema_to_xml_and_xmlschema"] = new(ArgumentRole.EveryRelation),
        ["database_to_xml"] = new(ArgumentRole.EveryRelation),
        ["database_to_xmlschema"] = new(ArgumentRole.EveryRelation),
        ["database_to_xml_and_xmlschema"] = new(ArgumentRole.EveryRelation),
        ["nextval"] = new(ArgumentRole.WriteRelation),
        ["setval"] = new(ArgumentRole.WriteRelation),
        ["currval"] = new(ArgumentRole.ReadRelation),
        ["pg_sequence_last_value"] = new(ArgumentRole.ReadRelation),
        ["brin_summarize_range"] = new(ArgumentRole.WriteRelation),
        ["brin_summarize_new_values"] = new(ArgumentRole.WriteRelation),
        ["brin_desummarize_range"] = new(ArgumentRole.WriteRelation),
        ["gin_clean_pending_list"] = new(ArgumentRole.WriteRelation),
        ["set_config"] = new(ArgumentRole.Setting),
    }.ToFrozenDictionary(StringComparer.Ordinal);
}

/// <summary>Built-ins that read relations, run SQL or fetch from cursors named by a text argument: where only the call is
/// visible (a view's stored query), what they read is not.</summary>
public static class TextReadingFunctions
{
    public static IReadOnlyCollection<string> Names { get; } = ArgumentFunctions.Table
        .Where(f => f.Value.Role is ArgumentRole.Sql or ArgumentRole.ReadRelation or ArgumentRole.Cursor or ArgumentRole.EveryRelation)
        .Select(f => f.Key).Order(StringComparer.Ordinal).ToArray();
}

/// <summary>A call of an <see cref="ArgumentFunctions"/> function found while walking a statement: the literal
/// values of its interesting arguments (null when not a literal), resolved by the analyzer after the walk.</summary>
/// <param name="NameColumn">set_config's name is the bare column <c>name</c> (or <c>q.name</c>) in a call at the
/// statement's top level: pg_dump's <c>set_config(name, …) FROM pg_settings WHERE name = '…'</c>.</param>
internal readonly record struct PendingCall(string Function, ArgumentFunction Rule, string? Value, string? Second = null,
    bool SecondLiteral = false, bool IsLocal = false, string? NameColumn = null);
