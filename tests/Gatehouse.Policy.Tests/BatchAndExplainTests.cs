using Gatehouse.Policy.Model;
using Gatehouse.Policy.Tools;
using Gatehouse.Sql;
using static Gatehouse.Policy.Tests.Support;

namespace Gatehouse.Policy.Tests;

public class BatchAndExplainTests
{
    private static readonly (PolicySnapshot Snapshot, Grant Grant) Shop = OneGrant(
        """
        - { id: no-ddl, when: { class: ddl }, then: deny }
        - { id: pay-writes, when: { class: write, tables: ["public.payments"] }, then: review }
        """);

    private static readonly StatementFacts Select = Facts(StatementClass.Read, read: ["public.orders"]);
    private static readonly StatementFacts PayWrite = Facts(StatementClass.Write, "UPDATE", written: ["public.payments"]);
    private static readonly StatementFacts Drop = Facts(StatementClass.Ddl, "DROP TABLE", written: ["public.orders"]);

    [Fact]
    public void Batch_of_allowed_statements_is_allowed()
    {
        var decision = Shop.Snapshot.DecideAll(Shop.Grant, [Select, Select]);

        Assert.True(decision.IsAllowed);
        Assert.Null(decision.StatementIndex);
    }

    [Fact]
    public void A_deny_anywhere_denies_the_batch_even_after_a_review()
    {
        var decision = Shop.Snapshot.DecideAll(Shop.Grant, [Select, PayWrite, Drop]);

        Assert.Equal(PolicyVerdict.Deny, decision.Verdict);
        Assert.Equal("no-ddl", decision.RuleId);
        Assert.Equal(2, decision.StatementIndex);
    }

    [Fact]
    public void A_review_sends_the_whole_batch_to_review()
    {
        var decision = Shop.Snapshot.DecideAll(Shop.Grant, [Select, PayWrite, Select]);

        Assert.Equal(PolicyVerdict.Review, decision.Verdict);
        Assert.Equal("pay-writes", decision.RuleId);
        Assert.Equal(1, decision.StatementIndex);
    }

    [Fact]
    public void Unknown_statement_in_a_batch_denies_it()
    {
        var decision = Shop.Snapshot.DecideAll(Shop.Grant, [Select, Facts(StatementClass.Unknown, "", unknownReason: "parse error")]);

        Assert.Equal("unknown-sql", decision.RuleId);
        Assert.Equal(1, decision.StatementIndex);
    }

    [Fact]
    public void Explain_prints_each_statement_the_decision_and_the_masks()
    {
        var snapshot = PolicyLoader.LoadFile(Path.Combine(PolicyDir, "examples", "policy.yaml")).Snapshot!;
        var stdout = new StringWriter();

        var code = PolicyExplain.Run(snapshot, """{"groups":["ai-agents"]}""", "orders", [Select, PayWrite], stdout, TextWriter.Null);

        Assert.Equal(PolicyExplain.ExitOk, code);
        Assert.Equal(
            """
            grant: #2 to coding-agents (line 17), db_roles: app_read, app_write
            statement 1: SELECT (read): allow: no rule matched; allowed within db_roles
            statement 2: UPDATE (write): review by rule pay-writes: rule pay-writes matched class write, table public.payments
            decision: review by rule pay-writes: rule pay-writes matched class write, table public.payments (statement 2)
            masks:
              columns [public.customers.email] with email
              columns [*.ssn, *.card_number] with last4
              columns [public.customers.phone] with hash
              detect [email, credit_card, ssn, phone, iban, secret] with redact

            """.ReplaceLineEndings(),
            stdout.ToString());
    }

    [Fact]
    public void Explain_without_a_grant_says_the_connection_is_refused()
    {
        var stdout = new StringWriter();

        var code = PolicyExplain.Run(Shop.Snapshot, """{"groups":"other"}""", "orders", [Select], stdout, TextWriter.Null);

        Assert.Equal(0, code);
        Assert.Equal(
            "decision: refused at connect: gatehouse: no grant (no grant for target 'orders' matches these claims)" + Environment.NewLine,
            stdout.ToString());
    }

    [Theory]
    [InlineData("{\"groups\":", "gatehouse: policy explain: --claims is not valid JSON (line 1, byte 11); pass one object, e.g. {\"sub\":\"ci\",\"groups\":[\"ai-agents\"]}")]
    [InlineData("[1]", "gatehouse: policy explain: --claims must be a JSON object, got array")]
    public void Bad_claims_are_one_error_line(string claims, string expected)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();

        var code = PolicyExplain.Run(Shop.Snapshot, claims, "orders", [Select], stdout, stderr);

        Assert.Equal(PolicyExplain.ExitBadInput, code);
        Assert.Equal("", stdout.ToString());
        Assert.Equal(expected + Environment.NewLine, stderr.ToString());
    }
}
