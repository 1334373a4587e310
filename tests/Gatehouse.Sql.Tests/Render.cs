namespace Gatehouse.Sql.Tests;

/// <summary>Facts as one compact line, so expectations read like the SQL they describe:
/// "class COMMAND r=reads w=writes f=functions lock set[…] reads-any writes-any +prepare:p -cursor:* c=NESTED,COMMANDS".
/// Settings: set[name=value], set[name:default], set[name:current], set[name:?] (not a literal), "local " first
/// for SET LOCAL. Effects: +prepare:name, -prepare:name, +cursor:name, -cursor:name, * for ALL. c=: the commands run
/// besides COMMAND (StatementFacts.Commands after the first), spaces as '_' (c=CREATE_TABLE_AS).</summary>
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
        foreach (var setting in f.Settings) s += " " + Setting(setting);
        if (f.ReadsUnlistedRelations) s += " reads-any";
        if (f.WritesUnlistedRelations) s += " writes-any";
        foreach (var effect in f.Effects) s += " " + Effect(effect);
        // Every rendered statement also checks the Commands invariant: the outer command first, no repeats, no SELECT nested.
        Assert.Equal(f.Command, f.Commands[0]);
        Assert.Equal(f.Commands.Count, f.Commands.Distinct().Count());
        Assert.DoesNotContain("SELECT", f.Commands.Skip(1));
        if (f.Commands.Count > 1) s += " c=" + string.Join(',', f.Commands.Skip(1).Select(c => c.Replace(' ', '_')));
        return s.TrimEnd();
    }

    public static string Setting(SettingChange c) => "set[" + (c.IsLocal ? "local " : "") + c.Name + c.Kind switch
    {
        SettingValueKind.Literal => "=" + c.Value,
        SettingValueKind.Default => ":default",
        SettingValueKind.FromCurrent => ":current",
        _ => ":?",
    } + "]";

    public static string Effect(SessionEffect e) => e switch
    {
        SessionEffect.Prepare p => "+prepare:" + p.Name,
        SessionEffect.Deallocate d => "-prepare:" + (d.Name ?? "*"),
        SessionEffect.DeclareCursor c => "+cursor:" + c.Name,
        SessionEffect.CloseCursor c => "-cursor:" + (c.Name ?? "*"),
        _ => "?",
    };

    /// <summary>Puts the parts of a hand-written expectation in rendering order (a set[…] part may hold spaces).</summary>
    public static string Canon(string expected)
    {
        var parts = new List<string>();
        foreach (var word in expected.Split(' '))
        {
            if (parts.Count > 0 && parts[^1].StartsWith("set[", StringComparison.Ordinal) && !parts[^1].EndsWith(']'))
                parts[^1] += " " + word;
            else
                parts.Add(word);
        }
        static int Rank(string p) => p.StartsWith("r=", StringComparison.Ordinal) ? 1 : p.StartsWith("w=", StringComparison.Ordinal) ? 2
            : p.StartsWith("f=", StringComparison.Ordinal) ? 3 : p == "lock" ? 4 : p.StartsWith("set[", StringComparison.Ordinal) ? 5
            : p == "reads-any" ? 6 : p == "writes-any" ? 7 : p.Length > 1 && p[0] is '+' or '-' && char.IsAsciiLetter(p[1]) ? 8
            : p.StartsWith("c=", StringComparison.Ordinal) ? 9 : 0;
        return string.Join(' ', parts.Where(p => Rank(p) == 0).Concat(parts.Where(p => Rank(p) > 0).OrderBy(Rank)));
    }

    public static string One(string sql, SqlSessionState? session = null)
    {
        var a = SqlAnalyzer.Instance.Analyze(sql, session ?? new SqlSessionState());
        Assert.Single(a.Statements);
        return Facts(a.Statements[0]);
    }

    /// <summary>Every statement of <paramref name="sql"/>, applying each one's effects to <paramref name="session"/>
    /// afterwards, as a caller does once the statements ran.</summary>
    public static string[] Run(string sql, SqlSessionState session)
    {
        var a = SqlAnalyzer.Instance.Analyze(sql, session);
        foreach (var f in a.Statements)
            session.Apply(f);
        return a.Statements.Select(Facts).ToArray();
    }
}
