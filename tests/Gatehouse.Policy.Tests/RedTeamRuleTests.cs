using Gatehouse.Policy.Model;
using Gatehouse.Sql;
using static Gatehouse.Policy.Tests.Support;

namespace Gatehouse.Policy.Tests;

/// <summary>Rule matching for the red team's findings: function families, tables by class, tables a statement does not name.</summary>
public class RedTeamRuleTests
{
    private static readonly (PolicySnapshot Snapshot, Grant Grant) Shop = OneGrant("""
        - { id: no-ddl, when: { class: [ddl, dcl, admin, code] }, then: deny }
        - { id: pay-writes, when: { class: write, tables: ["public.payments"] }, then: review }
        - { id: no-files, when: { functions: ["pg_read_file", "pg_ls_dir", "lo_*", "dblink*"] }, then: deny }
        - { id: lower-only, when: { class: read, functions: ["lower"] }, then: allow }
        """);

    private static PolicyDecision Decide(StatementFacts facts) => Shop.Snapshot.Decide(Shop.Grant, facts);

    [Theory]
    [InlineData("loread")]
    [InlineData("lowrite")]
    [InlineData("pg_catalog.loread")]
    [InlineData("lo_get")]
    [InlineData("pg_read_binary_file")]
    [InlineData("pg_stat_file")]
    public void A_function_pattern_covers_its_whole_family(string function)
    {
        var decision = Decide(Facts(StatementClass.Read, functions: [function]));
        Assert.Equal(("no-files", PolicyVerdict.Deny), (decision.RuleId, decision.Verdict));
    }

    [Theory]
    [InlineData("pg_largeobject")]
    [InlineData("pg_catalog.pg_largeobject")]
    [InlineData("pg_largeobject_metadata")]
    [InlineData("pg_file_settings")]
    public void A_function_family_covers_the_relations_that_hold_its_data(string relation)
    {
        var decision = Decide(Facts(StatementClass.Read, read: [relation]));
        Assert.Equal("no-files", decision.RuleId);
        Assert.Contains("holds the data of", decision.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void A_user_table_of_the_same_name_in_another_schema_is_not_a_family_relation()
    {
        Assert.True(Decide(Facts(StatementClass.Read, read: ["public.pg_largeobject"])).IsAllowed);
        Assert.True(Decide(Facts(StatementClass.Read, functions: ["public.loread"])).IsAllowed);
    }

    [Fact]
    public void Allow_rules_are_not_widened_by_families()
    {
        var (snapshot, grant) = OneGrant("""
            - { id: only-lo-get, when: { functions: ["lo_get"] }, then: allow }
            - { id: rest, when: { class: [read] }, then: deny }
            """);
        Assert.True(snapshot.Decide(grant, Facts(StatementClass.Read, functions: ["lo_get"])).IsAllowed);
        Assert.Equal("rest", snapshot.Decide(grant, Facts(StatementClass.Read, functions: ["loread"])).RuleId);
    }

    [Fact]
    public void A_write_rule_matches_the_tables_written_not_the_tables_read()
    {
        // UPDATE orders … FROM payments: payments is only read.
        var update = Facts(StatementClass.Write, "UPDATE", read: ["payments"], written: ["orders"]);
        Assert.True(Decide(update).IsAllowed);
        var intoPayments = Facts(StatementClass.Write, "INSERT", read: ["orders"], written: ["payments"]);
        Assert.Equal("pay-writes", Decide(intoPayments).RuleId);
    }

    [Fact]
    public void A_rule_without_a_modifying_class_still_matches_every_relation()
    {
        var (snapshot, grant) = OneGrant("- { id: no-pay, when: { tables: [\"public.payments\"] }, then: deny }");
        var update = Facts(StatementClass.Write, "UPDATE", read: ["payments"], written: ["orders"]);
        Assert.Equal("no-pay", snapshot.Decide(grant, update).RuleId);
    }

    [Fact]
    public void Tables_a_statement_does_not_name_match_deny_and_review_rules()
    {
        var cascade = Facts(StatementClass.Write, "TRUNCATE TABLE", written: ["orders"]) with { WritesUnlistedRelations = true };
        var decision = Decide(cascade);
        Assert.Equal(("pay-writes", PolicyVerdict.Review), (decision.RuleId, decision.Verdict));
        Assert.Contains("without naming them", decision.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Unlisted_reads_match_a_read_rule_but_not_a_write_rule()
    {
        var (snapshot, grant) = OneGrant("""
            - { id: pay-writes, when: { class: write, tables: ["public.payments"] }, then: deny }
            - { id: no-pay-read, when: { tables: ["public.payments"] }, then: deny }
            """);
        var schemaDump = Facts(StatementClass.Read, functions: ["schema_to_xml"]) with { ReadsUnlistedRelations = true };
        Assert.Equal("no-pay-read", snapshot.Decide(grant, schemaDump).RuleId);
    }

    [Fact]
    public void Unlisted_relations_never_satisfy_an_allow_rule()
    {
        var (snapshot, grant) = OneGrant("""
            - { id: orders-ok, when: { tables: ["public.orders"] }, then: allow }
            - { id: rest, when: { class: [read, write] }, then: deny }
            """);
        var cascade = Facts(StatementClass.Write, "TRUNCATE TABLE", written: ["orders"]) with { WritesUnlistedRelations = true };
        Assert.Equal("rest", snapshot.Decide(grant, cascade).RuleId);
        Assert.True(snapshot.Decide(grant, Facts(StatementClass.Write, "TRUNCATE TABLE", written: ["orders"])).IsAllowed);
    }
}
