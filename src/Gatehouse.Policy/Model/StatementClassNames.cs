using Gatehouse.Sql;

namespace Gatehouse.Policy.Model;

/// <summary>The policy-language spelling of <see cref="StatementClass"/> (SPEC §3): read, write, …, copy-out, unknown.</summary>
public static class StatementClassNames
{
    private static readonly (StatementClass Class, string Name)[] Names =
    [
        (StatementClass.Read, "read"),
        (StatementClass.Write, "write"),
        (StatementClass.Ddl, "ddl"),
        (StatementClass.Dcl, "dcl"),
        (StatementClass.Admin, "admin"),
        (StatementClass.Code, "code"),
        (StatementClass.CopyOut, "copy-out"),
        (StatementClass.Transaction, "transaction"),
        (StatementClass.Session, "session"),
        (StatementClass.Unknown, "unknown"),
    ];

    public static IEnumerable<string> All => Names.Select(n => n.Name);

    public static string ToName(StatementClass value)
    {
        foreach (var (c, name) in Names)
        {
            if (c == value)
            {
                return name;
            }
        }

        throw new ArgumentOutOfRangeException(nameof(value), value, null);
    }

    public static bool TryParse(string name, out StatementClass value)
    {
        foreach (var (c, n) in Names)
        {
            if (n == name)
            {
                value = c;
                return true;
            }
        }

        value = default;
        return false;
    }
}
