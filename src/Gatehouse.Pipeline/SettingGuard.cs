using Gatehouse.Sql;

namespace Gatehouse.Pipeline;

/// <summary>
/// Settings that decide how the server reads later SQL must stay where Gatehouse can follow them:
/// client_encoding (the bytes of a multibyte character may hide a quote or backslash) and search_path
/// (which function an unqualified name calls). Checked for every route: SET, set_config() with a literal
/// name (the analyzer reports both as <see cref="StatementFacts.Settings"/>), startup parameters and options.
/// standard_conforming_strings needs no guard: the analyzer reads text under both of its meanings.
/// </summary>
public static class SettingGuard
{
    /// <summary>Returns why the statement is refused, or null.</summary>
    public static string? Check(StatementFacts facts)
    {
        foreach (var written in facts.WrittenRelations)
        {
            // pg_settings' update rule calls set_config() for every row it touches: a SET the analyzer cannot read.
            if (written is { Name: "pg_settings", Schema: null or "pg_catalog" })
            {
                return "writing pg_settings changes run-time parameters; use SET";
            }
        }

        foreach (var setting in facts.Settings)
        {
            if (Check(setting) is { } problem)
            {
                return problem;
            }
        }

        return null;
    }

    public static string? Check(SettingChange setting)
    {
        bool guarded = setting.Name is "client_encoding" or "search_path";
        if (!guarded)
        {
            return null;
        }

        return setting.Kind switch
        {
            SettingValueKind.NotLiteral => $"{setting.Name} may only be set to a literal value, which Gatehouse can check",
            SettingValueKind.Literal => Check(setting.Name, setting.Value ?? string.Empty),
            _ => null, // DEFAULT / FROM CURRENT: back to a value that was checked at startup
        };
    }

    /// <summary>A setting by name and raw value (startup parameter, options -c): null when acceptable.</summary>
    public static string? Check(string name, string value) => name.ToLowerInvariant() switch
    {
        "client_encoding" => ClientEncodings.Problem(value),
        "search_path" => SearchPaths.Problem(value),
        _ => null,
    };
}
