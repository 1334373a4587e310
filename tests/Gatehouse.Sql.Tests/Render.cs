namespace Gatehouse.Sql.Tests;

/// <summary>Facts as one compact line, so expectations read like the SQL they describe:
/// "class COMMAND r=reads w=writes f=functions lock".</summary>
internal static class Render
{
    public static string Class(StatementClass c) => c switch
    {
        StatementClass.CopyOut => "copy-out",
        _ => c.ToString().ToLowerInvariant(),
    };

    public static string Facts(StatementFacts f)
    {
        var s = Class(f.Class) + " " + f.Command;
        if (f.ReadRelations.Count > 0) s += " r=" + string.Join(',', f.ReadRelations);
        if (f.WrittenRelations.Count > 0) s += " w=" + string.Join(',', f.WrittenRelations);
        if (f.Functions.Count > 0) s += " f=" + string.Join(',', f.Functions);
        if (f.IsLockingRead) s += " lock";
        return s.TrimEnd();
    }

    /// <summary>Puts the r=/w=/f=/lock parts of a hand-written expectation in rendering order.</summary>
    public static string Canon(string expected)
    {
        var parts = expected.Split(' ');
        static int Rank(string p) => p.StartsWith("r=", StringComparison.Ordinal) ? 1 : p.StartsWith("w=", StringComparison.Ordinal) ? 2
            : p.StartsWith("f=", StringComparison.Ordinal) ? 3 : p == "lock" ? 4 : 0;
        return string.Join(' ', parts.Where(p => Rank(p) == 0).Concat(parts.Where(p => Rank(p) > 0).OrderBy(Rank)));
    }

    public static string One(string sql, SqlSessionState? session = null)
    {
        var a = SqlAnalyzer.Instance.Analyze(sql, session ?? new SqlSessionState());
        Assert.Single(a.Statements);
        return Facts(a.Statements[0]);
    }
}
