using Gatehouse.Sql;

namespace Gatehouse.Pipeline.Tests;

public class SettingGuardTests
{
    [Theory]
    [InlineData("UTF8", "UTF8")]
    [InlineData("utf-8", "UTF8")]
    [InlineData("Unicode", "UTF8")]
    [InlineData("latin1", "LATIN1")]
    [InlineData("ISO-8859-1", "LATIN1")]
    [InlineData("mskanji", "SJIS")]
    [InlineData("S-JIS", "SJIS")]
    [InlineData("S.J.I.S", "SJIS")]
    [InlineData("ShiftJIS", "SJIS")]
    [InlineData("Shift_JIS_2004", "SHIFT_JIS_2004")]
    [InlineData("WIN932", "SJIS")]
    [InlineData("windows936", "GBK")]
    [InlineData("win950", "BIG5")]
    [InlineData("cp949", null)]
    [InlineData("", null)]
    public void Encoding_names_resolve_as_the_server_resolves_them(string name, string? canonical) =>
        Assert.Equal(canonical, ClientEncodings.Resolve(name));

    [Theory]
    [InlineData("UTF8")]
    [InlineData("LATIN1")]
    [InlineData("EUC_JP")]
    [InlineData("WIN1252")]
    [InlineData("SQL_ASCII")]
    [InlineData("KOI8-R")]
    public void Encodings_without_ascii_trail_bytes_are_allowed(string name) => Assert.Null(ClientEncodings.Problem(name));

    [Theory]
    [InlineData("sjis")]
    [InlineData("mskanji")]
    [InlineData("WIN932")]
    [InlineData("windows936")]
    [InlineData("win950")]
    [InlineData("S-JIS")]
    [InlineData("S.J.I.S")]
    [InlineData("uhc")]
    [InlineData("gb18030")]
    [InlineData("johab")]
    [InlineData("no-such-encoding")]
    public void Other_encodings_are_refused(string name) => Assert.NotNull(ClientEncodings.Problem(name));

    [Theory]
    [InlineData("public")]
    [InlineData("pg_catalog, public")]
    [InlineData("\"$user\", public")]
    [InlineData("pg_temp, pg_catalog, public")]
    [InlineData("\"public, pg_catalog\"")]
    [InlineData("")]
    [InlineData("PG_CATALOG2, pg_catalog_x")]
    public void Search_paths_that_keep_pg_catalog_first_are_allowed(string value) => Assert.Null(SearchPaths.Problem(value));

    [Theory]
    [InlineData("public, pg_catalog")]
    [InlineData("public,PG_CATALOG")]
    [InlineData("public , \"pg_catalog\"")]
    [InlineData("\"$user\", pg_catalog")]
    [InlineData("pg_temp, evil, pg_catalog")]
    [InlineData("public, \"unterminated")]
    [InlineData("a,,b")]
    public void Search_paths_that_put_a_schema_before_pg_catalog_or_are_malformed_are_refused(string value) =>
        Assert.NotNull(SearchPaths.Problem(value));

    [Fact]
    public void Quoted_elements_keep_case_and_commas()
    {
        Assert.Equal(["a, b", "C", "d"], SearchPaths.Split("\"a, b\", \"C\", D"));
        Assert.Equal(["x\"y"], SearchPaths.Split("\"x\"\"y\""));
    }

    [Fact]
    public void A_statement_setting_a_guarded_parameter_to_an_unknown_value_is_refused()
    {
        var notLiteral = new SettingChange { Name = "client_encoding", Kind = SettingValueKind.NotLiteral };
        Assert.NotNull(SettingGuard.Check(notLiteral));
        Assert.Null(SettingGuard.Check(new SettingChange { Name = "client_encoding", Kind = SettingValueKind.Default }));
        Assert.Null(SettingGuard.Check(new SettingChange { Name = "application_name", Kind = SettingValueKind.NotLiteral }));
        Assert.NotNull(SettingGuard.Check(new SettingChange { Name = "search_path", Value = "public, pg_catalog" }));
        Assert.NotNull(SettingGuard.Check("CLIENT_ENCODING", "mskanji"));
        Assert.NotNull(SettingGuard.Check("Search_Path", "public,pg_catalog"));
    }
}

public class SettingGuardStatementTests
{
    [Theory]
    [InlineData("UPDATE pg_settings SET setting = 'public, pg_catalog' WHERE name = 'search_path'")]
    [InlineData("update pg_catalog.pg_settings set setting = 'sjis' where name = 'client_encoding'")]
    [InlineData("WITH x AS (UPDATE pg_settings SET setting = 'off' WHERE name = 'standard_conforming_strings' RETURNING 1) SELECT 1")]
    public void Writing_pg_settings_is_refused(string sql)
    {
        var facts = SqlAnalyzer.Instance.Analyze(sql, new SqlSessionState()).Statements[0];
        Assert.Contains("pg_settings", SettingGuard.Check(facts) ?? "", StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("SELECT * FROM pg_settings WHERE name = 'search_path'")]
    [InlineData("UPDATE public.pg_settings SET x = 1")]
    public void Reading_pg_settings_or_a_user_table_of_that_name_is_not(string sql)
    {
        var facts = SqlAnalyzer.Instance.Analyze(sql, new SqlSessionState()).Statements[0];
        Assert.Null(SettingGuard.Check(facts));
    }
}

public class SettingGuardRoutesTests
{
    [Theory]
    [InlineData("SET client_encoding = 'mskanji'")]
    [InlineData("SET client_encoding TO 'WIN932'")]
    [InlineData("SET client_encoding = windows936")]
    [InlineData("set client_encoding = 'win950'")]
    [InlineData("SET client_encoding = 'S-JIS'")]
    [InlineData("SET client_encoding = 'S.J.I.S'")]
    [InlineData("SET \"CLIENT_ENCODING\" = 'sjis'")]
    [InlineData("SET U&\"client\\005Fencoding\" = 'sjis'")]
    [InlineData("SET SESSION client_encoding = 'sjis'")]
    [InlineData("SET LOCAL client_encoding = 'sjis'")]
    [InlineData("SET NAMES 'sjis'")]
    [InlineData("SET NAMES sjis")]
    [InlineData("SELECT set_config('client_encoding', 'sjis', false)")]
    [InlineData("SELECT pg_catalog.set_config('CLIENT_ENCODING', 'mskanji', false)")]
    [InlineData("SELECT set_config('client_encoding', $1, false)")]
    [InlineData("SET search_path = public, pg_catalog")]
    [InlineData("SET search_path TO \"$user\", public, pg_catalog")]
    [InlineData("SET SCHEMA 'public'; SET search_path = x, pg_catalog")]
    [InlineData("SELECT set_config('search_path', 'public, pg_catalog', false)")]
    [InlineData("SELECT set_config('search_path', $1, false)")]
    public void Every_sql_route_to_an_unsafe_setting_is_refused(string sql)
    {
        var statements = SqlAnalyzer.Instance.Analyze(sql, new SqlSessionState()).Statements;
        Assert.Contains(statements, s => SettingGuard.Check(s) is not null || s.Class == StatementClass.Unknown);
    }

    [Theory]
    [InlineData("SET client_encoding = 'UTF8'")]
    [InlineData("SET NAMES 'LATIN1'")]
    [InlineData("SET client_encoding TO DEFAULT")]
    [InlineData("RESET client_encoding")]
    [InlineData("SET search_path = public")]
    [InlineData("SET search_path TO pg_catalog, public")]
    [InlineData("SET SCHEMA 'public'")]
    [InlineData("SELECT set_config('search_path', '', false)")]
    [InlineData("SET search_path = 'public, pg_catalog'")]
    public void Safe_settings_pass(string sql)
    {
        var statement = Assert.Single(SqlAnalyzer.Instance.Analyze(sql, new SqlSessionState()).Statements);
        Assert.NotEqual(StatementClass.Unknown, statement.Class);
        Assert.Null(SettingGuard.Check(statement));
    }
}
