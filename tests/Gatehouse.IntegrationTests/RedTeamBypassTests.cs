using System.Text;
using Xunit.Abstractions;
using static Gatehouse.IntegrationTests.Step;

namespace Gatehouse.IntegrationTests;

/// <summary>
/// The red team's bypasses, as a table: each row is SQL (or protocol steps) that once got past the policy
/// (no DDL/DCL/admin/code, payments writes to review, no file or large-object functions). A row passes when,
/// whatever the client was told, nothing the bypass aimed at happened — checked afterwards as superuser
/// directly on PostgreSQL — and the session still works as the leased gh_ role. Each row runs in set-up (a)
/// (default db_roles) and (b) (a leased role that could do anything), through the simple and the extended protocol.
/// </summary>
[Collection(RedTeamCollection.Name)]
public sealed class RedTeamBypassTests(RedTeamFixture fixture, ITestOutputHelper output)
{
    // Payloads after a standard_conforming_strings desync. {stmts}: statements to smuggle; {expr}: an expression.
    // Gatehouse lexing with scs=off but the server on: the first and third run what follows the quote.
    // Gatehouse lexing with scs=on but the server off: the second and fourth do.
    private static readonly Step[] ScsPayloads =
    [
        Q("""SELECT 'a\'; {stmts}; --'"""),
        Q("""SELECT 'a\''; {stmts}; --'"""),
        Q("""SELECT 'a\', {expr} --'"""),
        Q("""SELECT 'a\'', {expr} --'"""),
    ];

    // After a client encoding whose second byte may be 0x5C: 0x95 0x5C is one SJIS/GBK character, 0xA4 0x5C one BIG5
    // character, so the server sees the quote close the string where a UTF-8 reader sees an escaped quote.
    private static readonly Step[] EncodingPayloads =
    [
        Bytes("SELECT E'\u0095\\'; {stmts}; --'"),
        Bytes("SELECT E'\u0095\\', {expr} --'"),
        Bytes("SELECT E'\u00a4\\'; {stmts}; --'"),
        Bytes("SELECT E'\u00a4\\', {expr} --'"),
    ];

    // Text a refusal built as SQL (a DO block raising the message in a '…' literal) must not execute. Short enough
    // to survive the 63-byte identifier limit with a prefix: "lo_\'; EXCEPTION WHEN OTHERS THEN SET ROLE postgres; END --".
    private const string Breakout = """\'; EXCEPTION WHEN OTHERS THEN SET ROLE {role}; END --""";

    private static readonly Step LowerX = Q("SELECT lower('x')");

    private static readonly Func<IReadOnlyList<Outcome>, string?> ExplainDidNotAnalyze = outcomes =>
        outcomes.SelectMany(o => o.Values).Any(v => v.Contains("(actual ", StringComparison.Ordinal))
            ? "EXPLAIN ANALYZE ran the statement (the plan shows actual rows)" : null;

    private static RedTeamRow Row(string id, params Step[] steps) => new(id, steps);

    private static RedTeamRow Row(string id, string sql) => new(id, [Q(sql)]);

    private static RedTeamRow Scs(string id, params Step[] before) => new(id, [.. before, .. ScsPayloads]);

    private static RedTeamRow Charset(string id, params Step[] before) =>
        new(id, [.. before, .. EncodingPayloads]) { Protocols = RedTeamProtocol.Simple | RedTeamProtocol.RawExtended, MayClose = true };

    private static RedTeamRow EncodingAtStartup(string id, string key, string value) =>
        Charset(id) with { Startup = [new(key, value)] };

    private static RedTeamRow Injection(string id, string denied) =>
        Row(id, Q("SET standard_conforming_strings = off"), Q(denied)) with { NoEffectWithoutGateway = true };

    private static RedTeamRow SearchPath(string id, params Step[] before) => Row(id, [.. before, LowerX]);

    private static RedTeamRow Blind(string id, string sql) => Row(id, sql) with { Grant = RedTeamGrant.PaymentsBlind };

    public static readonly RedTeamRow[] Rows =
    [
        // 1. EXPLAIN options the analyzer did not recognise as ANALYZE: the statement runs.
        Row("1 explain (\"analyze\")", """EXPLAIN ("analyze") DELETE FROM payments WHERE id = 7"""),
        Row("1 explain (ANALYZE 001)", "EXPLAIN (ANALYZE 001) DELETE FROM payments WHERE id = 7"),
        Row("1 explain (ANALYZE +1)", "EXPLAIN (ANALYZE +1) DELETE FROM payments WHERE id = 7"),
        Row("1 explain (ANALYZE \"true\")", """EXPLAIN (ANALYZE "true") DELETE FROM payments WHERE id = 7"""),
        Row("1 explain (ANALYZE E'on')", "EXPLAIN (ANALYZE E'on') DELETE FROM payments WHERE id = 7"),
        Row("1 explain (ANALYZE 'true')", "EXPLAIN (ANALYZE 'true') DELETE FROM payments WHERE id = 7"),
        Row("1 explain (ANALYZE $$on$$)", "EXPLAIN (ANALYZE $$on$$) DELETE FROM payments WHERE id = 7"),
        Row("1 explain (AnAlYzE TrUe, COSTS off)", "EXPLAIN (AnAlYzE TrUe, COSTS off) DELETE FROM payments WHERE id = 7"),
        Row("1 explain (U&\"analyze\")", """EXPLAIN (U&"analyze") DELETE FROM payments WHERE id = 7"""),
        Row("1 explain (U&\"\\0061nalyze\")", """EXPLAIN (U&"\0061nalyze") DELETE FROM payments WHERE id = 7"""),
        Row("1 explain (U&\"!0061nalyze\" UESCAPE '!')", """EXPLAIN (U&"!0061nalyze" UESCAPE '!') DELETE FROM payments WHERE id = 7"""),
        Row("1 explain (VERBOSE, \"analyze\")", """EXPLAIN (VERBOSE, "analyze") DELETE FROM payments WHERE id = 7"""),
        Row("1 explain (/**/\"analyze\"/**/on)", """EXPLAIN (/* a */ "analyze" /* b */ on) DELETE FROM payments WHERE id = 7"""),
        Row("1 explain (ANALYSE)", "EXPLAIN (ANALYSE) DELETE FROM payments WHERE id = 7"),
        Row("1 explain ANALYSE", "EXPLAIN ANALYSE DELETE FROM payments WHERE id = 7"),
        Row("1 explain (\"analyze\") update", """EXPLAIN ("analyze") UPDATE payments SET amount = 0 WHERE id = 7"""),
        Row("1 explain (\"analyze\") with delete", """EXPLAIN ("analyze") WITH d AS (DELETE FROM payments WHERE id = 7 RETURNING 1) SELECT count(*) FROM d"""),
        Row("1 explain (\"analyze\") create table as", """EXPLAIN ("analyze") CREATE TABLE redteam_pwned AS SELECT 1 AS x"""),
        Row("1 explain ANALYZE pg_read_file", "EXPLAIN ANALYZE SELECT pg_read_file('{secret_file}')") with { Saw = ExplainDidNotAnalyze },
        Row("1 explain (\"analyze\") pg_read_file", """EXPLAIN ("analyze") SELECT pg_read_file('{secret_file}')""") with { Saw = ExplainDidNotAnalyze },
        Row("1 explain ANALYZE lo_creat", "EXPLAIN ANALYZE SELECT lo_creat(-1)"),
        Row("1 explain (\"analyze\") lo_creat", """EXPLAIN ("analyze") SELECT lo_creat(-1)"""),
        Row("1 explain (\"analyze\") set_config role", """EXPLAIN ("analyze") SELECT set_config('role', '{role}', false)"""),

        // 2. standard_conforming_strings: Gatehouse and the server must never lex a string differently.
        Scs("2 scs no change (control)"),
        Scs("2 scs off in a failing batch", Q("SET standard_conforming_strings = off; SELECT 1/0")),
        Scs("2 scs off pipelined before a failure", Pipe("SET standard_conforming_strings = off", "SELECT 1/0")),
        Scs("2 scs SET LOCAL off rolled back (one query)", Q("BEGIN; SET LOCAL standard_conforming_strings = off; ROLLBACK")),
        Scs("2 scs SET LOCAL off rolled back", Q("BEGIN"), Q("SET LOCAL standard_conforming_strings = off"), Q("ROLLBACK")),
        Scs("2 scs SET off rolled back", Q("BEGIN"), Q("SET standard_conforming_strings = off"), Q("ROLLBACK")),
        Scs("2 scs SET off rolled back to savepoint", Q("BEGIN"), Q("SAVEPOINT s"), Q("SET standard_conforming_strings = off"), Q("ROLLBACK TO SAVEPOINT s"), Q("COMMIT")),
        Scs("2 scs SET LOCAL off outside a transaction", Q("SET LOCAL standard_conforming_strings = off")),
        Scs("2 scs 'of' (invalid)", Q("SET standard_conforming_strings = 'of'")),
        Scs("2 scs 't'", Q("SET standard_conforming_strings = 't'")),
        Scs("2 scs 'y'", Q("SET standard_conforming_strings = 'y'")),
        Scs("2 scs E'on'", Q("SET standard_conforming_strings = E'on'")),
        Scs("2 scs '1'", Q("SET standard_conforming_strings = '1'")),
        Scs("2 scs yes", Q("SET standard_conforming_strings TO yes")),
        Scs("2 scs off", Q("SET standard_conforming_strings = off")),
        Scs("2 scs 'f'", Q("SET standard_conforming_strings = 'f'")),
        Scs("2 scs 'n'", Q("SET standard_conforming_strings = 'n'")),
        Scs("2 scs 0", Q("SET standard_conforming_strings = 0")),
        Scs("2 scs E'off'", Q("SET standard_conforming_strings = E'off'")),
        Scs("2 scs \"off\"", Q("""SET standard_conforming_strings = "off" """)),
        Scs("2 scs \"STANDARD_CONFORMING_STRINGS\"", Q("""SET "STANDARD_CONFORMING_STRINGS" = off""")),
        Scs("2 scs U&\"…\\0073\"", Q("""SET U&"standard_conforming_string\0073" = off""")),
        Scs("2 scs SET SESSION", Q("SET SESSION standard_conforming_strings TO off")),
        Scs("2 scs set_config", Q("SELECT set_config('standard_conforming_strings', 'off', false)")),
        Scs("2 scs set_config concatenated", Q("SELECT set_config('standard_conforming_' || 'strings', 'off', false)")),
        Row("2 scs set_config concatenated, pipelined",
            Pipe("SELECT set_config('standard_conforming_' || 'strings', 'off', false)", """SELECT 'a\', {expr} --'""", """SELECT 'a\'', {expr} --'"""),
            ScsPayloads[0], ScsPayloads[1]),
        Scs("2 scs set_config with bound name", Bind("SELECT set_config($1, $2, false)", "standard_conforming_strings", "off")) with { Protocols = RedTeamProtocol.Extended | RedTeamProtocol.RawExtended },
        Scs("2 scs UPDATE pg_settings", Q("UPDATE pg_settings SET setting = 'off' WHERE name = 'standard_conforming_strings'")),
        Scs("2 scs UPDATE pg_settings, computed name", Q("UPDATE pg_settings SET setting = 'off' WHERE name LIKE 'standard_conforming%'")),
        Scs("2 scs Parse never executed", ParseOnly("scs", "SET standard_conforming_strings = off")),
        Row("2 E-strings", Q("""SELECT E'a\'', {expr} --'"""), Q("""SELECT e'a\''; {stmts}; --'"""), Q("""SELECT E'a\\', {expr} --'""")),
        Row("2 E-strings with scs off", Q("SET standard_conforming_strings = off"), Q("""SELECT E'a\'', {expr} --'"""), Q("""SELECT E'a\\', {expr} --'""")),
        Row("2 backslash in an identifier", Q("""SELECT 1 AS "a\", {expr} --" """), Q("SET standard_conforming_strings = off"), Q("""SELECT 1 AS "a\", {expr} --" """)),

        // 3. Client encodings where a multibyte character may end in a backslash: setting one is refused (or the session ends).
        Charset("3 encoding control (UTF8)") with { NoEffectWithoutGateway = true }, // UTF-8 rejects the lone 0x95
        Charset("3 encoding 'SJIS'", Q("SET client_encoding = 'SJIS'")),
        Charset("3 encoding 'mskanji'", Q("SET client_encoding = 'mskanji'")),
        Charset("3 encoding 'WIN932'", Q("SET client_encoding = 'WIN932'")),
        Charset("3 encoding 'windows932'", Q("SET client_encoding = 'windows932'")),
        Charset("3 encoding 'windows936'", Q("SET client_encoding = 'windows936'")),
        Charset("3 encoding 'win950'", Q("SET client_encoding = 'win950'")),
        Charset("3 encoding 'Big-5'", Q("SET client_encoding = 'Big-5'")),
        Charset("3 encoding 'GB-18030'", Q("SET client_encoding = 'GB-18030'")),
        Charset("3 encoding 'S-JIS'", Q("SET client_encoding = 'S-JIS'")),
        Charset("3 encoding 'S.J.I.S'", Q("SET client_encoding = 'S.J.I.S'")),
        Charset("3 encoding 'Shift-JIS'", Q("SET client_encoding = 'Shift-JIS'")),
        Charset("3 encoding 'ShiftJIS'", Q("SET client_encoding = 'ShiftJIS'")),
        Charset("3 encoding bare sjis", Q("SET client_encoding = sjis")),
        Charset("3 encoding E'sjis'", Q("SET client_encoding = E'sjis'")),
        Charset("3 encoding U&'sjis'", Q("SET client_encoding = U&'sjis'")),
        Charset("3 encoding TO \"SJIS\"", Q("""SET client_encoding TO "SJIS" """)),
        Charset("3 encoding \"CLIENT_ENCODING\"", Q("""SET "CLIENT_ENCODING" = 'sjis'""")),
        Charset("3 encoding U&\"client\\005Fencoding\"", Q("""SET U&"client\005Fencoding" = 'sjis'""")),
        Charset("3 encoding SET NAMES 'sjis'", Q("SET NAMES 'sjis'")),
        Charset("3 encoding SET NAMES 'mskanji'", Q("SET NAMES 'mskanji'")),
        Charset("3 encoding SET/**/client_encoding", Q("SET/**/client_encoding/**/=/**/'mskanji'")),
        new("3 encoding SET LOCAL in a transaction", [Q("BEGIN"), Q("SET LOCAL client_encoding = 'mskanji'"), EncodingPayloads[0], Q("COMMIT")])
            { Protocols = RedTeamProtocol.Simple | RedTeamProtocol.RawExtended, MayClose = true },
        Charset("3 encoding set_config", Q("SELECT set_config('client_encoding', 'sjis', false)")),
        Charset("3 encoding set_config concatenated", Q("SELECT set_config('client_' || 'encoding', 'sjis', false)")),
        Charset("3 encoding set_config with bound name", Bind("SELECT set_config($1, $2, false)", "client_encoding", "SJIS")) with { Protocols = RedTeamProtocol.RawExtended },
        Charset("3 encoding UPDATE pg_settings", Q("UPDATE pg_settings SET setting = 'SJIS' WHERE name = 'client_encoding'")),
        EncodingAtStartup("3 encoding startup client_encoding=ShiftJIS", "client_encoding", "ShiftJIS"),
        EncodingAtStartup("3 encoding startup client_encoding=mskanji", "client_encoding", "mskanji"),
        EncodingAtStartup("3 encoding startup -c client_encoding=mskanji", "options", "-c client_encoding=mskanji"),
        EncodingAtStartup("3 encoding startup -c client_encoding=SJIS", "options", "-c client_encoding=SJIS"),
        EncodingAtStartup("3 encoding startup --client-encoding=SJIS", "options", "--client-encoding=SJIS"),
        EncodingAtStartup("3 encoding startup -c client_encoding=S\\ JIS", "options", @"-c client_encoding=S\ JIS"),
        new("3 encoding psql PGCLIENTENCODING=mskanji", EncodingPayloads.Take(2).ToArray())
            { Protocols = RedTeamProtocol.Psql, MayClose = true, Startup = [new("client_encoding", "mskanji")] },
        new("3 encoding psql PGOPTIONS -c client_encoding=…", EncodingPayloads.Take(2).ToArray())
            { Protocols = RedTeamProtocol.Psql, MayClose = true, Startup = [new("options", "-c client_encoding=mskanji")] },

        // 4. A refusal must not be built as SQL the client's text can break out of (with scs off, \' ends a '…' literal).
        Injection("4 injection EXECUTE \"…\"", $"EXECUTE \"{Breakout}\""),
        Injection("4 injection DROP TABLE \"…\"", $"DROP TABLE \"x{Breakout}\""),
        Injection("4 injection denied function name lo_…", $"SELECT \"lo_{Breakout}\"()"),
        Injection("4 injection denied function name pg_catalog.lo_…", $"SELECT pg_catalog.\"lo_{Breakout}\"(1)"),
        Injection("4 injection denied function name dblink…", $"SELECT \"dblink{Breakout}\"('x')"),
        Injection("4 injection unknown statement", $"FROBNICATE \"{Breakout}\""),
        Injection("4 injection review: PREPARE \"…\"", $"PREPARE \"p{Breakout}\" AS DELETE FROM payments WHERE id = 7"),
        Injection("4 injection review: alias", $"DELETE FROM payments AS \"p{Breakout}\" WHERE id = -1"),
        Injection("4 injection review: column", $"UPDATE payments SET \"amount{Breakout}\" = 0 WHERE id = 7"),
        Row("4 injection after set_config concatenated",
            Q("SELECT set_config('standard_conforming_' || 'strings', 'off', false)"), Q($"SELECT \"lo_{Breakout}\"()")) with { NoEffectWithoutGateway = true },

        // 5. Role changes spelled as settings: the session stays the leased role.
        Row("5 SET \"ROLE\"", "SET \"ROLE\" = {role}"),
        Row("5 SET \"Role\" TO '…'", "SET \"Role\" TO '{role}'"),
        Row("5 SET U&\"\\0052OLE\"", """SET U&"\0052OLE" = {role}"""),
        Row("5 SET U&\"!0052OLE\" UESCAPE '!'", """SET U&"!0052OLE" UESCAPE '!' = {role}"""),
        Row("5 SET SESSION \"ROLE\"", "SET SESSION \"ROLE\" TO {role}"),
        Row("5 SET/**/\"role\"", "SET/**/\"role\"/**/=/**/{role}"),
        Row("5 SET LOCAL \"role\" in a transaction",
            Q("BEGIN"), Q("SET LOCAL \"role\" = {role}"),
            Q("INSERT INTO redteam_marker SELECT 'ran as ' || current_user WHERE current_user::text NOT LIKE 'gh\\_%'"), Q("COMMIT")),
        // Only a superuser session may change session_authorization: no effect even without Gatehouse, kept for the classification.
        Row("5 SET \"SESSION_AUTHORIZATION\"", "SET \"SESSION_AUTHORIZATION\" = 'postgres'") with { NoEffectWithoutGateway = true },
        Row("5 SET U&\"session\\005Fauthorization\"", """SET U&"session\005Fauthorization" = 'postgres'""") with { NoEffectWithoutGateway = true },
        Row("5 set_config('role')", "SELECT set_config('role', '{role}', false)"),
        Row("5 set_config('ROLE')", "SELECT set_config('ROLE', '{role}', false)"),
        Row("5 set_config('ro' || 'le')", "SELECT set_config('ro' || 'le', '{role}', false)"),
        Row("5 pg_catalog.set_config", "SELECT pg_catalog.set_config('role', '{role}', false)"),
        Row("5 set_config in FROM", "SELECT * FROM set_config('role', '{role}', false)"),
        Row("5 set_config in a CTE", "WITH s AS (SELECT set_config('role', '{role}', false)) SELECT * FROM s"),
        Row("5 set_config with bound name", Bind("SELECT set_config($1, $2, false)", "role", "{role}")) with { Protocols = RedTeamProtocol.Extended | RedTeamProtocol.RawExtended },
        Row("5 set_config session_authorization", "SELECT set_config('session_authorization', 'postgres', false)") with { NoEffectWithoutGateway = true },

        // 6. SQL and relations passed as text to functions that run them.
        Row("6 query_to_xml pg_read_file", "SELECT query_to_xml('select pg_read_file(''{secret_file}'')', true, false, '')"),
        Row("6 query_to_xml lo_creat", "SELECT query_to_xml('select lo_creat(-1)', true, false, '')"),
        Row("6 query_to_xml set_config role", "SELECT query_to_xml('select set_config(''role'', ''{role}'', false)', true, false, '')"),
        Row("6 pg_catalog.query_to_xml in FROM", "SELECT * FROM pg_catalog.query_to_xml('select pg_read_file(''{secret_file}'')', true, false, '')"),
        Row("6 query_to_xml concatenated", "SELECT query_to_xml('select pg_read' || '_file(''{secret_file}'')', true, false, '')"),
        Row("6 query_to_xml_and_xmlschema lo_creat", "SELECT query_to_xml_and_xmlschema('select lo_creat(-1)', true, false, '')"),
        Row("6 xpath over query_to_xml", "SELECT xpath('//text()', query_to_xml('select pg_read_file(''{secret_file}'')', true, false, ''))"),
        Row("6 query_to_xml with bound SQL", Bind("SELECT query_to_xml($1, true, false, '')", "select pg_read_file('{secret_file}')")) with { Protocols = RedTeamProtocol.Extended | RedTeamProtocol.RawExtended },
        Row("6 query_to_xml with bound SQL lo_creat", Bind("SELECT query_to_xml($1, true, false, '')", "select lo_creat(-1)")) with { Protocols = RedTeamProtocol.Extended | RedTeamProtocol.RawExtended },
        Row("6 ts_stat pg_read_file", "SELECT * FROM ts_stat('select to_tsvector(''simple'', pg_read_file(''{secret_file}''))')"),
        Row("6 ts_stat lo_creat", "SELECT * FROM ts_stat('select to_tsvector(''simple'', lo_creat(-1)::text)')"),
        Row("6 ts_rewrite lo_creat", "SELECT ts_rewrite('a'::tsquery, 'select to_tsquery(''simple'', lo_creat(-1)::text), ''b''::tsquery')"),
        Blind("6 blind table_to_xml('payments')", "SELECT table_to_xml('payments', true, false, '')"),
        Blind("6 blind table_to_xml regclass", "SELECT table_to_xml('public.payments'::regclass, true, false, '')"),
        Blind("6 blind table_to_xml quoted", "SELECT table_to_xml('\"payments\"', true, false, '')"),
        Blind("6 blind table_to_xml by oid", "SELECT table_to_xml((SELECT oid FROM pg_class WHERE relname = 'pay' || 'ments'), true, false, '')"),
        Blind("6 blind table_to_xml_and_xmlschema", "SELECT table_to_xml_and_xmlschema('payments', true, false, '')"),
        Blind("6 blind schema_to_xml", "SELECT schema_to_xml('public', true, false, '')"),
        Blind("6 blind database_to_xml", "SELECT database_to_xml(true, false, '')"),
        Blind("6 blind query_to_xml", "SELECT query_to_xml('select card_number from payments', true, false, '')"),
        Blind("6 blind ts_stat", "SELECT * FROM ts_stat('select to_tsvector(''simple'', card_number) from payments')"),
        Blind("6 blind xpath over table_to_xml", "SELECT xpath('//card_number/text()', table_to_xml('payments', true, false, ''))"),
        Row("6 blind table_to_xml with bound name", Bind("SELECT table_to_xml($1::regclass, true, false, '')", "payments"))
            with { Grant = RedTeamGrant.PaymentsBlind, Protocols = RedTeamProtocol.Extended | RedTeamProtocol.RawExtended },

        // 7. TRUNCATE … CASCADE empties the tables that reference it: payments too.
        Row("7 TRUNCATE orders CASCADE", "TRUNCATE orders CASCADE"),
        Row("7 TRUNCATE TABLE orders CASCADE", "TRUNCATE TABLE orders CASCADE"),
        Row("7 TRUNCATE ONLY orders CASCADE", "TRUNCATE ONLY orders CASCADE"),
        Row("7 TRUNCATE orders * CASCADE", "TRUNCATE orders * CASCADE"),
        Row("7 TRUNCATE \"orders\" RESTART IDENTITY CASCADE", "TRUNCATE \"orders\" RESTART IDENTITY CASCADE"),
        Row("7 TRUNCATE public.orders, blobs CASCADE", "TRUNCATE public.orders, blobs CASCADE"),
        Row("7 truncate customers cascade", "truncate table customers cascade"),
        Row("7 TRUNCATE payments CASCADE (control)", "TRUNCATE payments CASCADE"),

        // 8. Denied data by other names: large objects through their relation or other functions, server files through COPY.
        Row("8 SELECT data FROM pg_largeobject", "SELECT data FROM pg_largeobject"),
        Row("8 TABLE pg_largeobject", "TABLE pg_largeobject"),
        Row("8 pg_catalog.pg_largeobject", "SELECT * FROM pg_catalog.pg_largeobject"),
        Row("8 \"pg_largeobject\"", "SELECT data FROM \"pg_largeobject\""),
        Row("8 convert_from(data) FROM pg_largeobject", "SELECT convert_from(data, 'UTF8') FROM pg_largeobject"),
        Row("8 pg_largeobject in a CTE", "WITH x AS (SELECT data FROM pg_largeobject) SELECT * FROM x"),
        Row("8 pg_largeobject in a subquery", "SELECT (SELECT data FROM pg_largeobject LIMIT 1)"),
        Row("8 COPY pg_largeobject TO STDOUT", Copy("COPY pg_largeobject TO STDOUT")),
        Row("8 COPY (SELECT … pg_largeobject) TO STDOUT", Copy("COPY (SELECT data FROM pg_largeobject) TO STDOUT")),
        Row("8 loread(lo_open(…))", Q("BEGIN"), Q("SELECT loread(lo_open({lo}, 262144), 1000)"), Q("COMMIT")),
        Row("8 lo_get", "SELECT lo_get({lo})"),
        Row("8 pg_catalog.lo_get", "SELECT pg_catalog.lo_get({lo})"),
        Row("8 \"lo_get\"", "SELECT \"lo_get\"({lo})"),
        Row("8 LO_GET", "SELECT LO_GET({lo})"),
        Row("8 lo_export", "SELECT lo_export({lo}, '{export}')"),
        Row("8 lo_from_bytea", "SELECT lo_from_bytea(0, '\\x00')"),
        Row("8 lo_import", "SELECT lo_import('{secret_file}')"),
        Row("8 pg_read_binary_file", "SELECT pg_read_binary_file('{secret_file}')"),
        Row("8 pg_catalog.pg_read_file", "SELECT pg_catalog.pg_read_file('{secret_file}')"),
        Row("8 \"pg_read_file\"", "SELECT \"pg_read_file\"('{secret_file}', 0, 100)"),
        Row("8 pg_ls_dir", "SELECT pg_ls_dir('{dir}')"),
        Row("8 pg_ls_dir in FROM", "SELECT * FROM pg_catalog.pg_ls_dir('{dir}')"),
        Row("8 COPY … TO PROGRAM", "COPY (SELECT 1) TO PROGRAM 'touch {marker}'"),
        Row("8 COPY … FROM PROGRAM", "COPY redteam_marker FROM PROGRAM 'echo program-ran'"),
        Row("8 COPY … FROM server file", "COPY redteam_marker FROM '{secret_file}'"),
        Row("8 COPY … TO server file", "COPY (SELECT 1) TO '{export}'"),

        // 10. One-argument calls in attribute notation, (expr).f for f(expr): the analyzer saw no call at all.
        Row("10 (…).pg_read_file", "SELECT ('{secret_file}'::text).pg_read_file"),
        Row("10 (…).\"pg_read_binary_file\"", "SELECT ('{secret_file}'::text).\"pg_read_binary_file\""),
        Row("10 (…).lo_get", "SELECT ({lo}::oid).lo_get"),
        Row("10 (…).lo_creat", "SELECT (-1).lo_creat"),
        Row("10 (…).LO_CREAT in a subquery", "SELECT (SELECT (-1).LO_CREAT)"),
        Row("10 INSERT column subscript lo_creat", "INSERT INTO redteam_arrays (tags[lo_creat(-1)::int % 100]) VALUES (1)"),
        Row("10 INSERT column subscript (…).lo_creat", "INSERT INTO redteam_arrays (tags[(-1).lo_creat::int % 100]) VALUES (1)"),
        Row("10 (…).ts_stat pg_read_file", "SELECT ('select to_tsvector(''simple'', pg_read_file(''{secret_file}''))'::text).ts_stat"),
        Row("10 (…).ts_stat lo_creat", "SELECT ('select to_tsvector(''simple'', lo_creat(-1)::text)'::text).ts_stat"),
        Row("10 column.ts_stat lo_creat", "SELECT (s.q).ts_stat FROM (SELECT 'select to_tsvector(''simple'', lo_creat(-1)::text)'::text AS q) s"),

        // 9. search_path placing a schema before pg_catalog: an unqualified catalog function may be someone else's.
        SearchPath("9 search_path control (default)") with { NoEffectWithoutGateway = true },
        SearchPath("9 SET search_path = public, pg_catalog", Q("SET search_path = public, pg_catalog")),
        SearchPath("9 SET search_path TO public,pg_catalog", Q("SET search_path TO public,pg_catalog")),
        SearchPath("9 SET search_path quoted", Q("SET search_path = \"public\", \"pg_catalog\"")),
        SearchPath("9 SET search_path with $user", Q("SET search_path = \"$user\", public, pg_catalog")),
        SearchPath("9 SET \"SEARCH_PATH\"", Q("SET \"SEARCH_PATH\" = public, pg_catalog")),
        SearchPath("9 SET U&\"search\\005Fpath\"", Q("""SET U&"search\005Fpath" = public, pg_catalog""")),
        Row("9 SET search_path in the same query", "SET search_path = public, pg_catalog; SELECT lower('x')"),
        SearchPath("9 set_config search_path", Q("SELECT set_config('search_path', 'public, pg_catalog', false)")),
        SearchPath("9 set_config concatenated", Q("SELECT set_config('search_' || 'path', 'public, pg_catalog', false)")),
        SearchPath("9 UPDATE pg_settings search_path", Q("UPDATE pg_settings SET setting = 'public, pg_catalog' WHERE name = 'search_path'")),
        SearchPath("9 UPDATE pg_catalog.pg_settings search_path", Q("UPDATE pg_catalog.pg_settings SET setting = 'public, pg_catalog' WHERE name = 'search_path'")),
        SearchPath("9 UPDATE pg_settings, computed name", Q("UPDATE pg_settings s SET setting = 'public, pg_catalog' WHERE s.name = 'search' || '_path'")),
        SearchPath("9 set_config(name, …) FROM pg_settings", Q("SELECT set_config(name, 'public, pg_catalog', false) FROM pg_settings WHERE name = 'search_path'")),
        Row("9 SET LOCAL search_path in a transaction", Q("BEGIN"), Q("SET LOCAL search_path = public, pg_catalog"), LowerX, Q("COMMIT")),
        Row("9 set_config local in a transaction", Q("BEGIN"), Q("SELECT set_config('search_path', 'public, pg_catalog', true)"), LowerX, Q("COMMIT")),
        SearchPath("9 startup options -csearch_path") with { Startup = [new("options", "-csearch_path=public,pg_catalog")], MayClose = true },
        SearchPath("9 startup options --search-path") with { Startup = [new("options", "--search-path=public,pg_catalog")], MayClose = true },
        SearchPath("9 startup search_path") with { Startup = [new("search_path", "public,pg_catalog")], MayClose = true },
        SearchPath("9 psql PGOPTIONS -csearch_path") with { Startup = [new("options", "-csearch_path=public,pg_catalog")], MayClose = true, Protocols = RedTeamProtocol.Psql },
    ];

    public static TheoryData<string, string, RedTeamProtocol> Cases() => RedTeamRunner.Cases(Rows);

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task Bypass_has_no_effect(string id, string setupName, RedTeamProtocol protocol)
    {
        var (row, setup) = RedTeamRunner.Find(Rows, id, setupName);
        string caseId = RedTeamRunner.CaseId(row, setup, protocol);
        var (problems, transcript) = await RunAsync(fixture, row, setup, protocol);
        output.WriteLine(transcript);
        Assert.True(problems.Count == 0, $"{caseId}: {string.Join("\n", problems)}\ntranscript:\n{transcript}");
    }

    /// <summary>Runs one case; returns each way it failed (none when the bypass had no effect) and what was sent and seen.</summary>
    internal static async Task<(List<string> Problems, string Transcript)> RunAsync(
        RedTeamFixture fixture, RedTeamRow row, RedTeamSetup setup, RedTeamProtocol protocol, bool direct = false)
    {
        var transcript = new StringBuilder();
        var outcomes = new List<Outcome>();
        var problems = new List<string>();
        RedTeamRunner.After after;
        if (protocol == RedTeamProtocol.Psql)
        {
            var (outcome, psqlAfter) = await RedTeamRunner.RunPsqlAsync(fixture, row, setup, direct);
            outcomes.Add(outcome);
            transcript.Append("  psql: ").AppendLine(outcome.ToString());
            after = psqlAfter;
        }
        else
        {
            var (session, refusal) = await RedTeamRunner.OpenAsync(fixture, row, setup, protocol, direct);
            if (session is null)
            {
                transcript.Append("  connection refused: ").AppendLine(refusal);
                after = new RedTeamRunner.After(false, null, null, "never connected");
                if (row.Startup is null)
                {
                    problems.Add("could not connect: " + refusal);
                }
            }
            else
            {
                await using (session)
                {
                    foreach (var step in row.Steps.Select(s => RedTeamRunner.Render(fixture, s, setup)))
                    {
                        var outcome = await session.RunAsync(step);
                        outcomes.Add(outcome);
                        transcript.Append("  ").Append(step).Append("\n    → ").AppendLine(outcome.ToString());
                        if (session.Closed)
                        {
                            break;
                        }
                    }

                    after = await RedTeamRunner.AfterAsync(session);
                }
            }
        }

        transcript.Append("  after: ").AppendLine(after.Log);
        bool connected = !(after.Log == "never connected");
        if (connected && !after.Usable && !row.MayClose)
        {
            problems.Add("the session is not usable afterwards (SELECT 1 failed or the connection closed)");
        }

        bool expectedUser = direct ? after.SessionUser == RedTeamFixture.DirectRole(setup) : after.SessionUser?.StartsWith("gh_", StringComparison.Ordinal) == true;
        if (after.Usable && (after.CurrentUser != after.SessionUser || !expectedUser))
        {
            problems.Add($"the session's identity changed: current_user {after.CurrentUser}, session_user {after.SessionUser}");
        }

        problems.AddRange(await fixture.EffectsAsync());
        var seen = outcomes.SelectMany(o => o.AllText()).ToList();
        foreach (var (what, text) in fixture.Secrets(row.Grant))
        {
            if (seen.Any(s => s.Contains(text, StringComparison.Ordinal)))
            {
                problems.Add("the client saw " + what);
            }
        }

        if (row.Saw?.Invoke(outcomes) is { } effect)
        {
            problems.Add(effect);
        }

        if (problems.Count > 0)
        {
            await fixture.ResetAsync();
        }

        return (problems, transcript.ToString().TrimEnd());
    }
}
