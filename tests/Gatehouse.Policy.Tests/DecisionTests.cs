using Gatehouse.Policy.Model;
using Gatehouse.Sql;
using static Gatehouse.Policy.Tests.Support;

namespace Gatehouse.Policy.Tests;

public class DecisionTests
{
    private static readonly (PolicySnapshot Snapshot, Grant Grant) Shop = OneGrant("""
        - { id: no-ddl, when: { class: [ddl, dcl, admin] }, then: deny }
        - { id: reporting, when: { class: read, tables: ["reporting.*"] }, then: allow }
        - { id: pay-writes, when: { class: write, tables: ["public.payments"] }, then: review }
        - { id: no-files, when: { functions: ["pg_read_file", "lo_*", "dblink*", "pg_catalog.set_config"] }, then: deny }
        - { id: no-audit, when: { schemas: ["audit*"] }, then: deny }
        - { id: no-truncate, when: { commands: [TRUNCATE, "DROP *"] }, then: deny }
        - { id: secrets, when: { tables: ["vault.secret?"] }, then: deny }
        - { id: any-write-payments, when: { tables: ["public.payments"] }, then: deny }
        """);

    private static PolicyDecision Decide(StatementFacts facts) => Shop.Snapshot.Decide(Shop.Grant, facts);

    [Fact]
    public void No_rule_matching_allows()
    {
        var decision = Decide(Facts(StatementClass.Read, read: ["public.orders"]));

        Assert.Equal(PolicyVerdict.Allow, decision.Verdict);
        Assert.Null(decision.RuleId);
        Assert.Equal("no rule matched; allowed within db_roles", decision.Reason);
    }

    [Fact]
    public void First_match_wins_and_says_why()
    {
        var decision = Decide(Facts(StatementClass.Write, "UPDATE", written: ["public.payments"]));

        Assert.Equal(PolicyVerdict.Review, decision.Verdict);
        Assert.Equal("pay-writes", decision.RuleId);
        Assert.Equal("rule pay-writes matched class write, table public.payments", decision.Reason);
        Assert.Equal("any-write-payments", Decide(Facts(StatementClass.Read, read: ["public.payments"])).RuleId);
    }

    [Fact]
    public void Class_list_matches_any_listed_class()
    {
        Assert.Equal("rule no-ddl matched class dcl", Decide(Facts(StatementClass.Dcl, "GRANT")).Reason);
        Assert.Equal("no-ddl", Decide(Facts(StatementClass.Admin, "VACUUM")).RuleId);
        Assert.Null(Decide(Facts(StatementClass.Session, "SET")).RuleId);
    }

    [Theory]
    [InlineData("pg_read_file", true)]
    [InlineData("pg_catalog.pg_read_file", true)]
    [InlineData("lo_import", true)]
    [InlineData("LO_EXPORT", true)]
    [InlineData("dblink_exec", true)]
    [InlineData("set_config", true)]
    [InlineData("pg_catalog.set_config", true)]
    [InlineData("myschema.set_config", false)]
    [InlineData("lower", false)]
    [InlineData("xlo_import", false)]
    public void Function_globs_match_unqualified_and_qualified_names(string function, bool denied)
    {
        var decision = Decide(Facts(StatementClass.Read, functions: ["now", function]));

        Assert.Equal(denied ? "no-files" : null, decision.RuleId);
    }

    [Theory]
    [InlineData("SELECT (x).dblink_exec FROM t", "rule no-files matched function dblink_exec")]   // a built-in: counted as called
    [InlineData("SELECT (x).audit_fn FROM t", "rule no-user-fns matched function audit_fn (may be a call in attribute notation)")]
    [InlineData("SELECT t.c.\"my_leak\" FROM t", "rule no-user-fns matched function my_leak (may be a call in attribute notation)")]
    [InlineData("SELECT t.email FROM t", null)]
    public void A_deny_function_pattern_matches_a_name_that_may_be_a_call_in_attribute_notation(string sql, string? reason)
    {
        var (snapshot, grant) = OneGrant("- { id: no-files, when: { functions: [\"dblink*\"] }, then: deny }\n- { id: no-user-fns, when: { functions: [public.audit_fn, \"my_*\"] }, then: deny }\n");
        var facts = Assert.Single(SqlAnalyzer.Instance.Analyze(sql, new SqlSessionState()).Statements);
        var decision = snapshot.Decide(grant, facts);

        Assert.Equal(reason, decision.RuleId is null ? null : decision.Reason);
    }

    [Fact]
    public void A_pattern_of_every_name_does_not_match_qualified_columns()
    {
        var (snapshot, grant) = OneGrant("- { id: no-functions, when: { functions: [\"*\"] }, then: deny }\n");
        var facts = Assert.Single(SqlAnalyzer.Instance.Analyze("SELECT c.email FROM customers c", new SqlSessionState()).Statements);

        Assert.Null(snapshot.Decide(grant, facts).RuleId);
    }

    [Theory]
    [InlineData("payments", "pay-writes")]          // unqualified could be public.payments
    [InlineData("public.payments", "pay-writes")]
    [InlineData("billing.payments", null)]          // qualified elsewhere: not public.payments
    [InlineData("public.payments_old", null)]
    public void Tables_in_deny_and_review_rules_match_unqualified_names_in_any_schema(string table, string? rule)
    {
        Assert.Equal(rule, Decide(Facts(StatementClass.Write, "INSERT", written: [table])).RuleId);
    }

    [Theory]
    [InlineData("secrets", "secrets")]              // unqualified: search_path may point at vault
    [InlineData("vault.secrets", "secrets")]
    [InlineData("public.secrets", null)]
    [InlineData("vault.secretsx", null)]
    public void Deny_rule_with_a_schema_part_still_catches_unqualified_names(string table, string? rule)
    {
        Assert.Equal(rule, Decide(Facts(StatementClass.Read, read: [table])).RuleId);
    }

    [Theory]
    [InlineData("audit.log", "no-audit")]
    [InlineData("AUDIT_2024.log", "no-audit")]
    [InlineData("log", null)]                       // unqualified counts as public for schemas
    [InlineData("public.log", null)]
    public void Schema_globs_in_deny_rules(string table, string? rule)
    {
        Assert.Equal(rule, Decide(Facts(StatementClass.Write, "DELETE", written: [table])).RuleId);
    }

    [Theory]
    [InlineData(new[] { "reporting.daily" }, "reporting")]
    [InlineData(new[] { "reporting.daily", "reporting.weekly" }, "reporting")]
    [InlineData(new[] { "reporting.daily", "public.payments" }, "any-write-payments")] // allow needs every relation
    [InlineData(new[] { "daily" }, null)]                                           // unqualified counts as public
    public void Allow_rules_match_only_when_every_relation_matches(string[] tables, string? rule)
    {
        Assert.Equal(rule, Decide(Facts(StatementClass.Read, read: tables)).RuleId);
    }

    [Fact]
    public void Allow_rule_with_public_pattern_matches_unqualified_name()
    {
        var (snapshot, grant) = OneGrant("""
            - { id: ok-products, when: { tables: ["public.products"] }, then: allow }
            - { id: no-reads, when: { class: read }, then: deny }
            """);

        Assert.Equal("ok-products", snapshot.Decide(grant, Facts(StatementClass.Read, read: ["products"])).RuleId);
        Assert.Equal("no-reads", snapshot.Decide(grant, Facts(StatementClass.Read, read: ["shop.products"])).RuleId);
        Assert.Equal("no-reads", snapshot.Decide(grant, Facts(StatementClass.Read)).RuleId);
    }

    [Theory]
    [InlineData("TRUNCATE", "no-truncate")]
    [InlineData("truncate", "no-truncate")]
    [InlineData("DROP TABLE", "no-truncate")]
    [InlineData("DELETE", null)]
    [InlineData("", null)]
    public void Commands_are_case_insensitive_globs(string command, string? rule)
    {
        Assert.Equal(rule, Decide(Facts(StatementClass.Write, command, written: ["public.orders"])).RuleId);
    }

    [Fact]
    public void Conditions_in_one_when_are_anded()
    {
        Assert.Null(Decide(Facts(StatementClass.Read, read: ["reporting.x", "public.orders"])).RuleId);
        Assert.Equal("reporting", Decide(Facts(StatementClass.Read, read: ["reporting.x"])).RuleId);
        Assert.Null(Decide(Facts(StatementClass.Write, "INSERT", written: ["reporting.x"])).RuleId);
    }

    [Fact]
    public void Unknown_statements_are_denied_by_default()
    {
        var decision = Decide(Facts(StatementClass.Unknown, "", unknownReason: "unterminated dollar quote"));

        Assert.Equal(PolicyVerdict.Deny, decision.Verdict);
        Assert.Equal(PolicyDecision.UnknownSqlRuleId, decision.RuleId);
        Assert.Equal("statement not understood: unterminated dollar quote", decision.Reason);
    }

    [Fact]
    public void Only_a_rule_naming_class_unknown_allows_unknown_statements()
    {
        var (snapshot, grant) = OneGrant("""
            - { id: broad, when: { class: [read, session] }, then: allow }
            - { id: anything-else, then: allow }
            """);
        Assert.Equal("unknown-sql", snapshot.Decide(grant, Facts(StatementClass.Unknown, "")).RuleId);

        (snapshot, grant) = OneGrant("- { id: trust-unknown, when: { class: [read, unknown] }, then: allow }");
        Assert.Equal(PolicyVerdict.Allow, snapshot.Decide(grant, Facts(StatementClass.Unknown, "")).Verdict);
        Assert.Equal("trust-unknown", snapshot.Decide(grant, Facts(StatementClass.Unknown, "")).RuleId);
    }

    [Fact]
    public void Deny_and_review_rules_without_class_still_apply_to_unknown_statements()
    {
        var (snapshot, grant) = OneGrant("- { id: hold-all, then: review }");

        var decision = snapshot.Decide(grant, Facts(StatementClass.Unknown, ""));

        Assert.Equal(PolicyVerdict.Review, decision.Verdict);
        Assert.Equal("rule hold-all matches every statement", decision.Reason);
    }
}
