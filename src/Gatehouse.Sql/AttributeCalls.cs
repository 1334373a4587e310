using System.Collections.Frozen;

namespace Gatehouse.Sql;

/// <summary>
/// PostgreSQL calls a one-argument function written as a field: <c>(expr).f</c>, <c>q.f</c> and <c>t.c.f</c> are
/// <c>f(expr)</c>, <c>f(q)</c> and <c>f(t.c)</c> when no column or field of that name is there, for any argument type
/// (<c>('/etc/passwd'::text).pg_read_file</c>, <c>(pid).pg_terminate_backend</c>). The analyzer has no catalog, so
/// it cannot tell such a call from a column. It records every name in that position as a possible call
/// (<see cref="StatementFacts.AttributeCalls"/>), counts the built-ins that change the verdict as called (admin
/// functions, server files and large objects, state an argument chooses, remote connections: a column of that name
/// is refused along with them), and refuses the functions that take SQL or a relation as text: their argument is an
/// expression here, never a literal it could read.
/// </summary>
internal static class AttributeCalls
{
    private static readonly FrozenSet<string> Named = FrozenSet.Create(StringComparer.Ordinal,
        "loread", "lowrite", "setseed", "setval", "nextval", "pg_notify", "set_config", "pg_sleep", "pg_sleep_for",
        "pg_sleep_until", "pg_reload_conf", "pg_terminate_backend", "pg_cancel_backend");

    private static readonly string[] Prefixes =
        ["lo_", "pg_advisory_", "pg_try_advisory_", "dblink", "pg_read_", "pg_ls_", "pg_file_", "pg_stat_file",
         "pg_stat_reset", "pg_replication_", "pg_logical_", "pg_create_", "pg_drop_", "pg_copy_", "pg_backup_",
         "pg_wal_", "pg_switch_wal", "pg_log_", "pg_export_snapshot", "pg_import_"];

    /// <summary>Whether a possible call of <paramref name="name"/> in attribute notation counts as a call.</summary>
    public static bool CountsAsCall(string name)
    {
        if (Named.Contains(name) || StatementAnalyzer.AdminFunctions.Contains(name))
        {
            return true;
        }

        foreach (var prefix in Prefixes)
        {
            if (name.StartsWith(prefix, StringComparison.Ordinal))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Why a possible call of <paramref name="name"/> makes the statement unknown, or null.</summary>
    public static string? Refusal(string name) =>
        ArgumentFunctions.Table.ContainsKey(name)
            ? $"may call {name}() in attribute notation ((…).{name}), whose argument Gatehouse cannot read"
            : null;
}
