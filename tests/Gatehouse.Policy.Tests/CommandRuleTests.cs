using Gatehouse.Policy.Model;
using Gatehouse.Sql;
using static Gatehouse.Policy.Tests.Support;

namespace Gatehouse.Policy.Tests;

/// <summary>
/// <c>commands</c> rules against every command a statement runs (red team finding F3: they saw only the outer tag,
/// so a DELETE inside a CTE, EXPLAIN ANALYZE, MERGE, PREPARE/EXECUTE or COPY (…) ran under a <c>commands: [DELETE]</c>
/// deny). The facts come from the real analyzer, as in the gateway.
/// </summary>
public class CommandRuleTests
{
    private static readonly (PolicySnapshot Snapshot, Grant Grant) Shop = OneGrant("""
        - { id: no-delete, when: { commands: [DELETE] }, then: deny }
        - { id: no-update, when: { commands: [UPDATE] }, then: deny }
        - { id: no-create, when: { commands: ["CREATE *"] }, then: deny }
        - { id: no-truncate, when: { commands: [TRUNCATE] }, then: deny }
        - { id: pay-writes, when: { class: write, tables: ["public.payments"] }, then: review }
        """);

    private static readonly (PolicySnapshot Snapshot, Grant Grant) Inserts = OneGrant("""
        - { id: no-insert, when: { commands: [INSERT] }, then: deny }
        """);

    private static StatementFacts One(string sql, SqlSessionState? session = null)
    {
        var statements = SqlAnalyzer.Instance.Analyze(sql, session ?? new SqlSessionState()).Statements;
        Assert.Single(statements);
        return statements[0];
    }

    private static PolicyDecision Decide(string sql, SqlSessionState? session = null) => Shop.Snapshot.Decide(Shop.Grant, One(sql, session));

    [Theory]
    [InlineData("DELETE FROM orders WHERE id=3")]
    [InlineData("WITH x AS (DELETE FROM orders WHERE id=3 RETURNING id) SELECT * FROM x")]
    [InlineData("WITH a AS (WITH b AS (DELETE FROM orders RETURNING *) SELECT * FROM b) SELECT * FROM a")]
    [InlineData("WITH d AS (DELETE FROM orders RETURNING *) INSERT INTO archive SELECT * FROM d")]
    [InlineData("EXPLAIN ANALYZE DELETE FROM orders WHERE id=4")]
    [InlineData("EXPLAIN (ANALYZE, FORMAT json) DELETE FROM orders WHERE id=4")]
    [InlineData("MERGE INTO orders o USING (SELECT 7 id) s ON o.id=s.id WHEN MATCHED THEN DELETE")]
    [InlineData("PREPARE p AS DELETE FROM orders WHERE id=8")]
    [InlineData("COPY (DELETE FROM orders RETURNING *) TO STDOUT")]
    [InlineData("CREATE TABLE gone AS WITH d AS (DELETE FROM orders RETURNING *) SELECT * FROM d")]
    [InlineData("SELECT query_to_xml('delete from orders', true, false, '')")]
    public void A_delete_anywhere_in_the_statement_is_denied(string sql)
    {
        var decision = Decide(sql);

        Assert.Equal((PolicyVerdict.Deny, "no-delete"), (decision.Verdict, decision.RuleId));
        Assert.Equal("rule no-delete matched command DELETE", decision.Reason);
    }

    [Fact]
    public void Execute_carries_the_commands_of_what_was_prepared()
    {
        // SQL PREPARE in the same string, then in a later one once it ran; and a protocol-level Parse.
        var session = new SqlSessionState();
        var both = SqlAnalyzer.Instance.Analyze("PREPARE p AS DELETE FROM orders WHERE id=8; EXECUTE p", session).Statements;
        Assert.All(both, f => Assert.Equal("no-delete", Shop.Snapshot.Decide(Shop.Grant, f).RuleId));
        Assert.Equal(["PREPARE", "DELETE"], both[0].Commands);
        Assert.Equal(["EXECUTE", "DELETE"], both[1].Commands);

        session.Apply(both[0]);
        Assert.Equal("no-delete", Decide("EXECUTE p", session).RuleId);
        Assert.Equal("no-delete", Decide("EXPLAIN ANALYZE EXECUTE p", session).RuleId);
        Assert.Equal(PolicyVerdict.Allow, Decide("EXPLAIN EXECUTE p", session).Verdict);

        session.RegisterPrepared("s1", One("DELETE FROM orders WHERE id = $1"));
        Assert.Equal("no-delete", Decide("EXECUTE s1(9)", session).RuleId);
    }

    [Theory]
    [InlineData("EXPLAIN DELETE FROM orders WHERE id=4")]
    [InlineData("EXPLAIN (ANALYZE false) DELETE FROM orders WHERE id=4")]
    [InlineData("PREPARE p AS SELECT * FROM orders")]
    [InlineData("SELECT * FROM orders WHERE id IN (SELECT id FROM orders)")]
    [InlineData("INSERT INTO orders (id) VALUES (1) ON CONFLICT DO NOTHING")]
    [InlineData("SELECT CASE WHEN paid THEN update ELSE delete END FROM orders")]
    [InlineData("DECLARE c CURSOR FOR SELECT * FROM orders")]
    public void What_runs_no_delete_update_or_create_is_allowed(string sql)
    {
        Assert.Equal(PolicyVerdict.Allow, Decide(sql).Verdict);
    }

    [Theory]
    [InlineData("UPDATE orders SET total = 0")]
    [InlineData("INSERT INTO orders (id) VALUES (1) ON CONFLICT (id) DO UPDATE SET total = 0")]
    [InlineData("MERGE INTO orders o USING (SELECT 7 id) s ON o.id = s.id WHEN MATCHED THEN UPDATE SET total = 0")]
    [InlineData("WITH u AS (UPDATE orders SET total = 0 RETURNING *) SELECT * FROM u")]
    [InlineData("COPY (WITH u AS (UPDATE orders SET total = 0 RETURNING *) SELECT * FROM u) TO STDOUT")]
    public void An_update_rule_also_holds_upserts_and_merge_updates(string sql)
    {
        Assert.Equal("no-update", Decide(sql).RuleId);
    }

    [Theory]
    [InlineData("MERGE INTO orders o USING (SELECT 7 id) s ON o.id = s.id WHEN NOT MATCHED THEN INSERT VALUES (s.id)", "no-insert")]
    [InlineData("WITH i AS (INSERT INTO orders (id) VALUES (1) RETURNING *) SELECT * FROM i", "no-insert")]
    [InlineData("MERGE INTO orders o USING (SELECT 7 id) s ON o.id = s.id WHEN MATCHED THEN DELETE", null)]
    public void An_insert_rule_sees_merge_inserts(string sql, string? rule)
    {
        Assert.Equal(rule, Inserts.Snapshot.Decide(Inserts.Grant, One(sql)).RuleId);
    }

    [Theory]
    [InlineData("CREATE TABLE x AS SELECT * FROM orders", "CREATE TABLE AS")]
    [InlineData("SELECT * INTO x FROM orders", "CREATE TABLE AS")]
    [InlineData("EXPLAIN ANALYZE CREATE TABLE x AS SELECT * FROM orders", "CREATE TABLE AS")]
    [InlineData("EXPLAIN ANALYZE SELECT * INTO x FROM orders", "CREATE TABLE AS")]
    [InlineData("CREATE INDEX ON orders (id)", "CREATE INDEX")]
    public void A_create_rule_sees_every_table_a_statement_creates(string sql, string command)
    {
        var decision = Decide(sql);

        Assert.Equal("no-create", decision.RuleId);
        Assert.Equal("rule no-create matched command " + command, decision.Reason);
    }

    [Theory]
    [InlineData("TRUNCATE orders")]
    [InlineData("truncate table orders, payments cascade")]
    public void Truncate_matches_the_servers_tag_truncate_table(string sql)
    {
        Assert.Equal("TRUNCATE TABLE", One(sql).Command);
        Assert.Equal("no-truncate", Decide(sql).RuleId);
        var (snapshot, grant) = OneGrant("""- { id: full-tag, when: { commands: ["TRUNCATE TABLE"] }, then: deny }""");
        Assert.Equal("full-tag", snapshot.Decide(grant, One(sql)).RuleId);
    }

    [Fact]
    public void An_allow_rule_must_match_every_command()
    {
        var (snapshot, grant) = OneGrant("""
            - { id: reads, when: { commands: [SELECT] }, then: allow }
            - { id: explains, when: { commands: [EXPLAIN] }, then: allow }
            - { id: rest, when: {}, then: deny }
            """);
        PolicyDecision D(string sql) => snapshot.Decide(grant, One(sql));

        Assert.Equal("reads", D("SELECT * FROM orders").RuleId);
        Assert.Equal("rule reads matched commands SELECT", D("SELECT * FROM orders").Reason);
        Assert.Equal("rest", D("WITH x AS (DELETE FROM orders RETURNING *) SELECT * FROM x").RuleId);
        Assert.Equal("explains", D("EXPLAIN ANALYZE SELECT * FROM orders").RuleId);
        Assert.Equal("explains", D("EXPLAIN DELETE FROM orders").RuleId);
        Assert.Equal("rest", D("EXPLAIN ANALYZE DELETE FROM orders").RuleId);
        Assert.Equal("rest", D("SELECT * INTO x FROM orders").RuleId);

        var (both, bothGrant) = OneGrant("""
            - { id: explain-deletes, when: { commands: [EXPLAIN, DELETE] }, then: allow }
            - { id: rest, when: {}, then: deny }
            """);
        var decision = both.Decide(bothGrant, One("EXPLAIN ANALYZE DELETE FROM orders"));
        Assert.Equal(("explain-deletes", "rule explain-deletes matched commands EXPLAIN, DELETE"), (decision.RuleId, decision.Reason));
    }

    [Theory]
    [InlineData("WITH x AS (UPDATE payments SET amount = 0 RETURNING *) SELECT * FROM x")]
    [InlineData("WITH x AS (DELETE FROM public.payments RETURNING *) SELECT count(*) FROM x")]
    [InlineData("EXPLAIN ANALYZE UPDATE payments SET amount = 0")]
    [InlineData("COPY (UPDATE payments SET amount = 0 RETURNING *) TO STDOUT")]
    [InlineData("INSERT INTO payments (id) VALUES (1) ON CONFLICT (id) DO NOTHING")]
    public void Class_and_tables_rules_see_nested_writes(string sql)
    {
        // Regression guard: these already went to review; class write and the written tables escalate through nesting.
        var (snapshot, grant) = OneGrant("""- { id: pay-writes, when: { class: write, tables: ["public.payments"] }, then: review }""");
        var decision = snapshot.Decide(grant, One(sql));
        Assert.Equal((PolicyVerdict.Review, "pay-writes"), (decision.Verdict, decision.RuleId));
    }

    [Fact]
    public void Cached_facts_decide_the_same_every_time()
    {
        var cache = new CachingSqlAnalyzer(SqlAnalyzer.Instance);
        const string sql = "WITH x AS (DELETE FROM orders WHERE id=3 RETURNING id) SELECT * FROM x";
        for (var i = 0; i < 2; i++)
        {
            var facts = cache.Analyze(sql, new SqlSessionState()).Statements[0];
            Assert.Equal(["SELECT", "DELETE"], facts.Commands);
            Assert.Equal("no-delete", Shop.Snapshot.Decide(Shop.Grant, facts).RuleId);
        }

        Assert.Equal(1, cache.Count);
    }

    [Fact]
    public void Hand_built_facts_without_commands_match_on_their_command()
    {
        Assert.Equal(["DELETE"], Facts(StatementClass.Write, "DELETE").Commands);
        Assert.Equal("no-delete", Shop.Snapshot.Decide(Shop.Grant, Facts(StatementClass.Write, "DELETE", written: ["orders"])).RuleId);
    }
}
