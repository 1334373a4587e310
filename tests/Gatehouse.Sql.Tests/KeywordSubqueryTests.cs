using Npgsql;

namespace Gatehouse.Sql.Tests;

/// <summary>
/// Every keyword of the server before a subquery, in the positions where SQL puts a word before an expression: where
/// PostgreSQL plans the statement with the subquery's table in it, the analyzer reports that table or refuses the
/// statement. Red teams found `x BETWEEN (SELECT …)`, `xmlserialize(CONTENT (SELECT …))` and `AT TIME ZONE (SELECT …)`
/// read as calls of between(), content() and zone(), their tables unseen.
/// </summary>
[Collection("postgres")]
public sealed class KeywordSubqueryTests(PostgresFixture fixture)
{
    private const string Subquery = "(SELECT x FROM kw_secret LIMIT 1)";

    private static readonly string[] Templates =
    [
        "SELECT {0} " + Subquery,
        "SELECT 'a' {0} " + Subquery,
        "SELECT 'a' NOT {0} " + Subquery,
        "SELECT 'a' {0} " + Subquery + " AND 'z'",
        "SELECT lower('a' {0} " + Subquery + ")",
        "SELECT xmlserialize({0} (SELECT x::xml FROM kw_secret LIMIT 1) AS text)",
        "SELECT now() AT {0} " + Subquery,
        "SELECT 1 FETCH {0} (SELECT 1 FROM kw_secret LIMIT 1) ROWS ONLY",
        "SELECT count(*) OVER (ORDER BY 1 ROWS {0} (SELECT 1 FROM kw_secret LIMIT 1) PRECEDING)",
        "SELECT xmlexists('//a' PASSING BY {0} (SELECT x::xml FROM kw_secret LIMIT 1))",
        "SELECT 'a' LIKE 'b' {0} " + Subquery,
    ];

    [Fact]
    public async Task A_subquery_after_any_keyword_is_seen_wherever_the_server_plans_it()
    {
        await using var connection = new NpgsqlConnection(fixture.Server.ConnectionString());
        await connection.OpenAsync();
        await using (var create = new NpgsqlCommand("CREATE TABLE IF NOT EXISTS kw_secret (x text)", connection))
            await create.ExecuteNonQueryAsync();
        var keywords = new List<string>();
        await using (var list = new NpgsqlCommand("SELECT word FROM pg_get_keywords()", connection))
        await using (var reader = await list.ExecuteReaderAsync())
            while (await reader.ReadAsync())
                keywords.Add(reader.GetString(0));

        var problems = new List<string>();
        int planned = 0;
        foreach (var template in Templates)
        {
            foreach (var keyword in keywords)
            {
                var sql = string.Format(System.Globalization.CultureInfo.InvariantCulture, template, keyword);
                if (await PlanAsync(connection, sql) is not { } plan || !plan.Contains("kw_secret", StringComparison.Ordinal))
                    continue;
                planned++;
                var statements = SqlAnalyzer.Instance.Analyze(sql, new SqlSessionState()).Statements;
                if (statements.Any(s => s.Class == StatementClass.Unknown))
                    continue;
                if (!statements.Any(s => s.ReadRelations.Concat(s.WrittenRelations).Any(r => r.Name == "kw_secret")))
                    problems.Add($"{sql}  →  {string.Join("; ", statements.Select(Render.Facts))}");
            }
        }

        // The templates must reach the server's grammar often enough for the check to mean something.
        Assert.True(planned >= 20, $"only {planned} statements planned");
        Assert.True(problems.Count == 0, $"{problems.Count} of {planned} planned statements hide kw_secret:\n{string.Join("\n", problems)}");
    }

    private static async Task<string?> PlanAsync(NpgsqlConnection connection, string sql)
    {
        try
        {
            await using var explain = new NpgsqlCommand("EXPLAIN (COSTS off) " + sql, connection);
            await using var reader = await explain.ExecuteReaderAsync();
            var plan = new System.Text.StringBuilder();
            while (await reader.ReadAsync())
                plan.AppendLine(reader.GetString(0));
            return plan.ToString();
        }
        catch (PostgresException)
        {
            return null;
        }
    }
}
