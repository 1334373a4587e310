using System.Text.RegularExpressions;

namespace Gatehouse.Pipeline;

/// <summary>
/// Takes passwords out of SQL text before it is recorded: a role's <c>PASSWORD '…'</c> and <c>password=…</c> in a
/// connection string (dblink, postgres_fdw options). Audit records never hold a password, even one an agent sent.
/// </summary>
public static partial class SecretText
{
    private const string Marker = "[redacted]";

    public static string Scrub(string sql)
    {
        if (sql.IndexOf("password", StringComparison.OrdinalIgnoreCase) < 0)
        {
            return sql;
        }

        var scrubbed = RolePassword().Replace(sql, m => m.Groups["lead"].Value + "'" + Marker + "'");
        return ConnectionPassword().Replace(scrubbed, m => m.Groups["lead"].Value + Marker);
    }

    // PASSWORD 'x' / PASSWORD E'x' / PASSWORD U&'x' / ENCRYPTED PASSWORD $$x$$ …: the literal after the keyword, whatever
    // its quoting, and whatever comes between them (nothing, blanks, comments).
    [GeneratedRegex(@"(?<lead>\bpassword(?:\s|/\*.*?\*/|--[^\n]*(?:\n|$))*)(?:[eE]'(?:[^'\\]|\\.|'')*'|(?:[uU]&)?'(?:[^']|'')*'|\$(?<tag>[A-Za-z_]*)\$.*?\$\k<tag>\$)", RegexOptions.IgnoreCase | RegexOptions.Singleline)]
    private static partial Regex RolePassword();

    // password=secret or password = 'secret' inside a connection string.
    [GeneratedRegex(@"(?<lead>\bpassword\s*=\s*)(?:'(?:[^'\\]|\\.)*'|[^\s']+)", RegexOptions.IgnoreCase)]
    private static partial Regex ConnectionPassword();
}
