namespace Gatehouse.Sql.Tests;

/// <summary>
/// How write laundering reads a statement's names (<see cref="WriteValueReferences"/>) and its dotted references and
/// aliases (<see cref="QualifiedReferences"/>): a value position must never be read as an alias definition, and a
/// dotted reference is reported with the qualifier masking resolves through the catalog.
/// </summary>
public sealed class ReferenceTests
{
    private static StatementFacts Facts(string sql) => Assert.Single(SqlAnalyzer.Instance.Analyze(sql, new SqlSessionState()).Statements);

    private static WriteValueReferences Values(string sql) => WriteValueReferences.Of(sql, Facts(sql));

    private static QualifiedReferences Dotted(string sql) => QualifiedReferences.Of(sql, Facts(sql));

    private const string Update = "UPDATE payments p SET amount = ";
    private const string From = " FROM customers c WHERE c.id = 41 AND p.id <= 22";

    [Theory]
    [InlineData("'' OPERATOR(pg_catalog.||) email")]
    [InlineData("'' operator(pg_catalog.||) email")]
    [InlineData("'' OPERATOR(||) email")]
    [InlineData("OPERATOR(pg_catalog.-) email")]
    [InlineData("1 OPERATOR(pg_catalog.+) (email)")]
    [InlineData("'x' IS NOT DISTINCT FROM email")]
    [InlineData("'x' IS DISTINCT FROM email")]
    [InlineData("email COLLATE \"C\"")]
    [InlineData("CAST(email AS text)")]
    [InlineData("email::text")]
    [InlineData("(email)")]
    [InlineData("ARRAY[email]")]
    [InlineData("ROW(email)")]
    [InlineData("email::timestamptz AT TIME ZONE 'UTC'")]
    [InlineData("(now(), now()) OVERLAPS (email::date, now())")]
    [InlineData("substring('abc' FROM email)")]
    [InlineData("trim(BOTH FROM email)")]
    [InlineData("overlay('abc' PLACING email FROM 1)")]
    [InlineData("position('a' IN email)")]
    [InlineData("CASE WHEN true THEN email END")]
    public void A_column_in_a_value_position_is_a_reference_not_an_alias(string expression)
    {
        var refs = Values(Update + "length(" + expression + ")" + From);
        Assert.Contains("email", refs.Names);
        Assert.DoesNotContain("email", refs.Aliases);
    }

    [Fact]
    public void A_whole_row_after_operator_is_a_bare_reference()
    {
        var refs = Values(Update + "length('' OPERATOR(pg_catalog.||) c)" + From);
        Assert.Contains("c", refs.Bare);
    }

    [Theory]
    [InlineData("SELECT 1 FROM customers c", "c")]
    [InlineData("SELECT email AS e FROM customers", "e")]
    [InlineData("SELECT email e FROM customers", "e")]
    [InlineData("SELECT 'x' e FROM customers", "e")]
    [InlineData("SELECT lower(email) e FROM customers", "e")]
    public void Aliases_are_still_aliases(string query, string alias)
    {
        var refs = Values("INSERT INTO notes (body) " + query);
        Assert.Contains(alias, refs.Aliases);
        Assert.DoesNotContain(alias, refs.Bare);
    }

    [Fact]
    public void Aliases_without_as_and_aliases_defined_twice_are_reported()
    {
        var refs = Values("INSERT INTO notes (body) SELECT lower(name) AS n FROM customers c, (SELECT 1) c2 WHERE EXISTS (SELECT FROM orders c)");
        Assert.Equal(["c", "c2"], refs.BareAliases.Order());
        Assert.Equal(["c"], refs.RepeatedAliases);
    }

    [Fact]
    public void A_name_after_a_dot_is_never_a_whole_row_reference()
    {
        var refs = Values(Update + "length(s.n || c.to_jsonb::text)" + From + " AND c.id = s.id");
        Assert.DoesNotContain("n", refs.Bare);
        Assert.DoesNotContain("to_jsonb", refs.Bare);
        Assert.Contains(new QualifiedReference(new QualifiedName(null, "c"), "to_jsonb"), refs.Qualified);
        Assert.Contains(new QualifiedReference(new QualifiedName(null, "s"), "n"), refs.Qualified);
    }

    [Fact]
    public void Dotted_references_in_value_positions_carry_their_qualifiers()
    {
        var refs = Values("UPDATE customers k SET name = public.customers.to_jsonb::text, id = k.id FROM public.customers WHERE k.id = customers.id");
        Assert.Equal(
            [new QualifiedReference(new QualifiedName(null, "public"), "customers"), new QualifiedReference(new QualifiedName("public", "customers"), "to_jsonb"),
             new QualifiedReference(new QualifiedName(null, "k"), "id")],
            refs.Qualified);
    }

    [Fact]
    public void Assigned_columns_and_the_where_of_an_update_are_not_values()
    {
        var refs = Values("UPDATE customers c SET addr.city = 'x' WHERE c.to_jsonb IS NOT NULL");
        Assert.Empty(refs.Qualified);
    }

    [Theory]
    [InlineData("SELECT o.id, o.customer_email FROM orders o", "o", "customer_email")]
    [InlineData("SELECT orders.customer_email FROM orders", "orders", "customer_email")]
    [InlineData("SELECT public.orders.customer_email FROM public.orders", "public.orders", "customer_email")]
    [InlineData("SELECT 1 FROM orders o WHERE o.customer_email LIKE 'a%'", "o", "customer_email")]
    [InlineData("SELECT (o).customer_email FROM orders o", null, "customer_email")]
    [InlineData("SELECT (o.x).customer_email FROM orders o", null, "customer_email")]
    public void Every_dotted_reference_is_reported(string sql, string? qualifier, string name)
    {
        var expected = new QualifiedReference(qualifier is null ? null : qualifier.Contains('.') ? new QualifiedName(qualifier.Split('.')[0], qualifier.Split('.')[1]) : new QualifiedName(null, qualifier), name);
        Assert.Contains(expected, Dotted(sql).References);
    }

    [Theory]
    [InlineData("SELECT c.id FROM orders o, public.customers c")]
    [InlineData("SELECT x::pg_catalog.text FROM t")]
    [InlineData("SELECT CAST(x AS pg_catalog.text) FROM t")]
    [InlineData("SELECT pg_catalog.lower(x) FROM t")]
    [InlineData("SELECT c.* FROM t c")]
    [InlineData("SELECT '' OPERATOR(pg_catalog.||) x FROM t")]
    public void Relation_type_function_and_operator_names_are_not_references(string sql)
    {
        var references = Dotted(sql).References;
        Assert.DoesNotContain(references, r => r.Qualifier is { Name: "pg_catalog" or "public" } || r.Name is "text" or "lower" or "customers" or "||");
    }

    [Fact]
    public void Aliases_map_to_the_relations_they_name()
    {
        var names = Dotted("""
            UPDATE payments p SET amount = 1
            FROM customers AS c, public.orders o, ONLY (archived) a, customers * star, (SELECT 1) s, generate_series(1, 3) g,
                 ROWS FROM (generate_series(1, 2)) r, (orders x JOIN customers y ON true) j, LATERAL (VALUES (1)) v(n)
            """);
        Assert.Equal([new QualifiedName(null, "payments")], names.Aliases["p"]);
        Assert.Equal([new QualifiedName(null, "customers")], names.Aliases["c"]);
        Assert.Equal([new QualifiedName("public", "orders")], names.Aliases["o"]);
        Assert.Equal([new QualifiedName(null, "archived")], names.Aliases["a"]);
        Assert.Equal([new QualifiedName(null, "customers")], names.Aliases["star"]);
        Assert.Equal([new QualifiedName(null, "orders")], names.Aliases["x"]);
        Assert.Empty(names.Aliases["s"]);
        Assert.Empty(names.Aliases["g"]);
        Assert.Empty(names.Aliases["r"]);
        Assert.Empty(names.Aliases["v"]);
        Assert.Equal([(QualifiedName?)null], names.Aliases["j"]);
    }

    [Fact]
    public void Cte_names_are_reported()
    {
        var names = Dotted("WITH a AS (SELECT 1), b (x, y) AS MATERIALIZED (SELECT 1, 2), c AS NOT MATERIALIZED (SELECT 3) UPDATE t SET v = a.x FROM a, b, c");
        Assert.Equal(["a", "b", "c"], names.Ctes.Order());
    }
}
