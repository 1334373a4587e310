namespace Gatehouse.IntegrationTests;

/// <summary>
/// Objects a DBA made that hide where a result comes from, found by a red team (each returned raw values): a parent
/// table whose child is masked, a view over a set-returning function, a view over the planner statistics, a rewrite
/// rule whose query returns rows on an UPDATE. Each test makes its objects directly on PostgreSQL under names no
/// other test uses (so the gateway's catalog cache has nothing stale about them) and drops them again.
/// </summary>
[Collection(MaskingCollection.Name)]
public sealed class MaskingCatalogTests(MaskingFixture fixture)
{
    private async Task<WireClient> ConnectAsync() => await WireClient.ConnectAsync(fixture.Port, "agent", fixture.Token(MaskGrant.Columns));

    private Task DirectAsync(string sql) => fixture.Gateway.Postgres.ExecuteAsync(sql, TestGateway.Target);

    private async Task<List<WireReply>> WithObjectsAsync(string create, string drop, string sql)
    {
        await DirectAsync(create);
        ForgetCatalog();
        try
        {
            await using var client = await ConnectAsync();
            var replies = await client.Query(sql).RoundTripAsync();
            MaskingNameTests.AssertNoRawValue(replies);
            return replies;
        }
        finally
        {
            await DirectAsync(drop);
            ForgetCatalog();
        }
    }

    // Objects made directly on the database are seen after a policy reload (or DDL through the gateway), as documented;
    // without it a lookup another test made before (every statement's functions and operators are looked up) stands.
    private void ForgetCatalog()
    {
        File.AppendAllText(fixture.Gateway.PolicyPath, $"\n# catalog reload {Guid.NewGuid():N}\n"); // a reload of unchanged text is a no-op
        Assert.NotNull(fixture.Gateway.Gateway.Policy.Reload());
    }

    private static List<string?> FirstValues(IEnumerable<WireReply> replies) => [.. replies.Where(r => r.Type == 'D').Select(r => r.FirstValue())];

    [Fact]
    public async Task A_parent_table_masks_the_columns_its_children_mask()
    {
        var replies = await WithObjectsAsync(
            """
            CREATE TABLE catalog_contacts (email text, phone text);
            ALTER TABLE customers INHERIT catalog_contacts;
            GRANT SELECT ON catalog_contacts TO app_read;
            """,
            "ALTER TABLE customers NO INHERIT catalog_contacts; DROP TABLE catalog_contacts;",
            "SELECT email, phone FROM catalog_contacts ORDER BY email");

        // Every customer (and archived customer, a grandchild) is read through the parent, masked as in customers.
        var emails = FirstValues(replies);
        Assert.Equal(MaskingFixture.CustomerCount + MaskingFixture.Archived.Count, emails.Count);
        Assert.All(emails, e => Assert.Contains("***@", e, StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("VIEW")]
    [InlineData("MATERIALIZED VIEW")]
    public async Task A_view_over_a_user_function_is_redacted(string kind)
    {
        var replies = await WithObjectsAsync(
            $"""
            CREATE FUNCTION catalog_contacts_fn() RETURNS TABLE(cid int, mail text, tel text) LANGUAGE sql STABLE AS 'SELECT id, email, phone FROM customers';
            CREATE {kind} catalog_contact_list AS SELECT * FROM catalog_contacts_fn();
            GRANT SELECT ON catalog_contact_list TO app_read;
            """,
            $"DROP {kind} catalog_contact_list; DROP FUNCTION catalog_contacts_fn();",
            "SELECT mail, tel, cid FROM catalog_contact_list");

        Assert.Equal(MaskingFixture.CustomerCount + MaskingFixture.Archived.Count, replies.Count(r => r.Type == 'D'));
        Assert.All(FirstValues(replies), v => Assert.Equal("[redacted]", v));
    }

    [Theory]
    [InlineData("SELECT tablename, attname, most_common_vals::text AS mcv, histogram_bounds::text AS bounds FROM pg_stats WHERE schemaname = 'public'",
        "SELECT bounds, attname FROM catalog_stats WHERE tablename = 'customers' AND attname IN ('email', 'ssn')")]
    [InlineData("SELECT s.staattnum, s.stavalues1::text AS bounds FROM pg_statistic s JOIN pg_class c ON c.oid = s.starelid WHERE c.relname = 'customers'",
        "SELECT bounds FROM catalog_stats")]
    public async Task A_view_over_the_planner_statistics_is_redacted(string view, string sql)
    {
        var replies = await WithObjectsAsync(
            $"ANALYZE customers; CREATE VIEW catalog_stats AS {view}; GRANT SELECT ON catalog_stats TO app_read;",
            "DROP VIEW catalog_stats;",
            sql);

        var values = FirstValues(replies);
        Assert.NotEmpty(values);
        Assert.All(values, v => Assert.True(v is null or "[redacted]", v));
    }

    [Fact]
    public async Task A_write_to_a_table_with_a_rewrite_rule_is_tainted()
    {
        var replies = await WithObjectsAsync(
            """
            CREATE TABLE catalog_orders (id int PRIMARY KEY, customer_id int, status text);
            INSERT INTO catalog_orders VALUES (1, 1, 'new'), (2, 2, 'new');
            CREATE RULE catalog_orders_touch AS ON UPDATE TO catalog_orders
              DO ALSO SELECT lower(c.email) AS contact, c.ssn FROM customers c WHERE c.id = NEW.customer_id;
            GRANT SELECT, UPDATE ON catalog_orders TO app_read, app_write;
            """,
            "DROP TABLE catalog_orders;",
            "UPDATE catalog_orders SET status = status WHERE id = 1");

        // The rule's rows arrive with the e-mail redacted (untraceable) and the SSN masked by its rule.
        var row = Assert.Single(replies, r => r.Type == 'D');
        Assert.Equal("[redacted]", row.FirstValue());
    }

    [Theory]
    [InlineData("SELECT @@@ id AS e FROM orders WHERE id <= 3")]
    [InlineData("SELECT OPERATOR(public.@@@) id AS e FROM orders WHERE id <= 3")]
    [InlineData("SELECT (@@@ customer_id)::int AS e FROM orders WHERE id = 1")]
    public async Task An_operator_over_a_user_function_taints_the_statement(string sql)
    {
        // The red team's F3: the operator's function reads customers, which the statement's text never names; its
        // value came back raw, and a failed cast quoted it in the error (and the audit trail).
        var replies = await WithObjectsAsync(
            """
            CREATE FUNCTION catalog_email_of(int) RETURNS text LANGUAGE sql STABLE AS 'SELECT email FROM customers WHERE id = $1';
            CREATE OPERATOR public.@@@ (RIGHTARG = int, FUNCTION = catalog_email_of);
            """,
            "DROP OPERATOR public.@@@ (NONE, int); DROP FUNCTION catalog_email_of(int);",
            sql);

        Assert.All(FirstValues(replies), v => Assert.True(v is null or "[redacted]", v));
        if (replies.FirstOrDefault(r => r.Type == 'E') is { } error)
        {
            Assert.DoesNotContain("@example", error.Error.Message, StringComparison.Ordinal);
        }
    }

    [Theory]
    [InlineData("SELECT 1 LIKE 2 AS e")]
    [InlineData("SELECT 3 LIKE 4 AS e UNION ALL SELECT 'z'")]
    public async Task LIKE_runs_a_user_operator_and_taints_the_statement(string sql)
    {
        // LIKE is the operator ~~, looked up like any other: one a DBA made for (int, int) is what it runs.
        var replies = await WithObjectsAsync(
            """
            CREATE FUNCTION catalog_like_email(a int, b int) RETURNS text LANGUAGE sql STABLE AS 'SELECT email FROM customers WHERE id = a';
            CREATE OPERATOR public.~~ (LEFTARG = int, RIGHTARG = int, FUNCTION = catalog_like_email);
            """,
            "DROP OPERATOR public.~~ (int, int); DROP FUNCTION catalog_like_email(int, int);",
            sql);
        Assert.All(FirstValues(replies), v => Assert.True(v is null or "[redacted]" or "z", v));
    }

    [Theory]
    [InlineData("SELECT (1::catalog_wrapped).v AS e")]
    [InlineData("SELECT CAST(3 AS catalog_wrapped) AS e")]
    [InlineData("SELECT (id::public.catalog_wrapped).v AS e FROM orders WHERE id <= 2")]
    public async Task A_cast_through_a_user_function_taints_the_statement(string sql)
    {
        var replies = await WithObjectsAsync(
            """
            CREATE TYPE catalog_wrapped AS (v text);
            CREATE FUNCTION catalog_wrap(i int) RETURNS catalog_wrapped LANGUAGE sql STABLE AS 'SELECT ROW((SELECT email FROM customers WHERE id = i))::catalog_wrapped';
            CREATE CAST (int AS catalog_wrapped) WITH FUNCTION catalog_wrap(int);
            """,
            "DROP CAST (int AS catalog_wrapped); DROP FUNCTION catalog_wrap(int); DROP TYPE catalog_wrapped;",
            sql);
        Assert.NotEmpty(FirstValues(replies));
        Assert.All(FirstValues(replies), v => Assert.True(v is null or "[redacted]", v));
    }
}
