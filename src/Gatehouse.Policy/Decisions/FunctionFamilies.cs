using System.Runtime.CompilerServices;
using Gatehouse.Policy.Model;
using Gatehouse.Sql;

namespace Gatehouse.Policy.Decisions;

/// <summary>
/// Built-in functions that reach the same data by other names. A deny or review rule whose <c>functions</c>
/// patterns match any member of a family covers the whole family: its other functions and the system relations
/// that hold the same data. So <c>lo_*</c> also covers <c>loread</c>/<c>lowrite</c> and
/// <c>SELECT data FROM pg_largeobject</c>. Allow rules are never widened. docs/policy.md lists the families.
/// </summary>
internal static class FunctionFamilies
{
    internal sealed record Family(string Name, string[] Functions, string[] Relations);

    internal static readonly Family[] All =
    [
        new("large objects",
            ["lo_open", "lo_close", "loread", "lowrite", "lo_lseek", "lo_lseek64", "lo_tell", "lo_tell64", "lo_truncate",
             "lo_truncate64", "lo_creat", "lo_create", "lo_unlink", "lo_import", "lo_export", "lo_from_bytea", "lo_put", "lo_get"],
            ["pg_largeobject", "pg_largeobject_metadata"]),
        new("server files",
            ["pg_read_file", "pg_read_binary_file", "pg_ls_dir", "pg_stat_file", "pg_ls_logdir", "pg_ls_waldir", "pg_ls_tmpdir",
             "pg_ls_archive_statusdir", "pg_ls_logicalsnapdir", "pg_ls_logicalmapdir", "pg_ls_replslotdir",
             "pg_file_write", "pg_file_rename", "pg_file_unlink", "pg_file_sync"],
            ["pg_file_settings", "pg_hba_file_rules", "pg_ident_file_mappings"]),
    ];

    private static readonly ConditionalWeakTable<IReadOnlyList<NamePattern>, Family[]> Reached = new();

    /// <summary>For a deny/review rule's patterns: the family member or relation the statement uses, or null.</summary>
    public static string? Match(IReadOnlyList<NamePattern> patterns, StatementFacts facts)
    {
        var families = Reached.GetValue(patterns, Compute);
        foreach (var family in families)
        {
            foreach (var function in facts.Functions)
            {
                if (IsCatalog(function) && family.Functions.Contains(function.Name))
                {
                    return $"function {function} ({family.Name})";
                }
            }

            foreach (var relations in (IReadOnlyList<QualifiedName>[])[facts.ReadRelations, facts.WrittenRelations])
            {
                foreach (var relation in relations)
                {
                    if (IsCatalog(relation) && family.Relations.Contains(relation.Name))
                    {
                        return $"relation {relation} (holds the data of {family.Name})";
                    }
                }
            }
        }

        return null;
    }

    // search_path may not place a schema before pg_catalog (the session guard refuses it), so an unqualified
    // name of a catalog function or relation is the catalog's.
    private static bool IsCatalog(QualifiedName name) => name.Schema is null or "pg_catalog";

    private static Family[] Compute(IReadOnlyList<NamePattern> patterns) =>
        All.Where(f => f.Functions.Any(member => patterns.Any(p => p.Name.IsMatch(member) && p.SchemaMatches("pg_catalog")))).ToArray();
}
