using Gatehouse.Pipeline.Masking;
using Gatehouse.Policy;
using Gatehouse.Protocol;
using Gatehouse.Sql;

namespace Gatehouse.Pipeline.Tests;

/// <summary>A catalog held in memory, shaped like the server's: tables, a view over a table, a view with a computed column.</summary>
internal sealed class MemoryCatalog : ICatalogSource
{
    public const uint Customers = 16388, Orders = 16390, Contacts = 16395, Lowered = 16396, Nested = 16397;

    // Inheritance, partitions, rules, views over hidden code and over the planner statistics.
    public const uint Party = 16401, Events = 16402, EventsVip = 16403, Mixed = 16404, Touched = 16405, FunctionView = 16406,
        StatsView = 16407, SampleView = 16408, Statistic = 2619;

    private readonly Dictionary<uint, RelationInfo> _relations = new()
    {
        [Customers] = new(Customers, "public", "customers", 'r', new Dictionary<short, string> { [1] = "id", [2] = "name", [3] = "email", [4] = "ssn" }),
        [Orders] = new(Orders, "public", "orders", 'r', new Dictionary<short, string> { [1] = "id", [2] = "total" }),
        [Contacts] = new(Contacts, "public", "customer_contacts", 'v', new Dictionary<short, string> { [1] = "id", [2] = "mail" })
        {
            Origins = [(Customers, 1), (Customers, 3)], DependsOn = [Customers],
        },
        [Lowered] = new(Lowered, "public", "lowered", 'v', new Dictionary<short, string> { [1] = "id", [2] = "e" })
        {
            Origins = [(Customers, 1), (0, 0)], DependsOn = [Customers],
        },
        [Nested] = new(Nested, "reporting", "nested", 'v', new Dictionary<short, string> { [1] = "m" })
        {
            Origins = [(Contacts, 2)], DependsOn = [Contacts],
        },
        [Party] = new(Party, "public", "party", 'r', new Dictionary<short, string> { [1] = "id", [2] = "email" }) { Descendants = [Customers] },
        [Events] = new(Events, "public", "events", 'p', new Dictionary<short, string> { [1] = "id", [2] = "email" }) { Descendants = [EventsVip] },
        [EventsVip] = new(EventsVip, "public", "events_vip", 'r', new Dictionary<short, string> { [1] = "id", [2] = "email" }) { Parents = [Events] },
        [Mixed] = new(Mixed, "public", "mixed", 'r', new Dictionary<short, string> { [1] = "id", [2] = "email" }) { Descendants = [Customers, EventsVip] },
        [Touched] = new(Touched, "public", "touched", 'r', new Dictionary<short, string> { [1] = "id", [2] = "status" }) { HasRules = true },
        [FunctionView] = new(FunctionView, "public", "function_view", 'v', new Dictionary<short, string> { [1] = "cid", [2] = "mail" })
        {
            Origins = [], CallsHiddenCode = true,
        },
        [StatsView] = new(StatsView, "public", "stats_view", 'v', new Dictionary<short, string> { [1] = "attname", [2] = "bounds" })
        {
            Origins = [(0, 0), (0, 0)], DependsOn = [Statistic],
        },
        [SampleView] = new(SampleView, "public", "sample_view", 'v', new Dictionary<short, string> { [1] = "v" })
        {
            Origins = [(Statistic, 2)], DependsOn = [Statistic],
        },
        [Statistic] = new(Statistic, "pg_catalog", "pg_statistic", 'r', new Dictionary<short, string> { [1] = "starelid", [2] = "stavalues1" }),
    };

    public int Lookups { get; private set; }

    public bool Down { get; set; }

    public ValueTask<IReadOnlyList<RelationInfo>> ByOidAsync(IReadOnlyCollection<uint> oids, CancellationToken ct)
    {
        Check();
        return ValueTask.FromResult<IReadOnlyList<RelationInfo>>(oids.Where(_relations.ContainsKey).Select(o => _relations[o]).ToList());
    }

    public ValueTask<IReadOnlyList<uint>> ByNameAsync(QualifiedName name, CancellationToken ct)
    {
        Check();
        return ValueTask.FromResult<IReadOnlyList<uint>>(_relations.Values
            .Where(r => r.Name == name.Name && (name.Schema is null || r.Schema == name.Schema)).Select(r => r.Oid).ToList());
    }

    public ValueTask<bool> HasUserFunctionAsync(QualifiedName name, CancellationToken ct)
    {
        Check();
        return ValueTask.FromResult(name.Name is "get_customers" or "customer_email");
    }

    private void Check()
    {
        Lookups++;
        if (Down)
        {
            throw new Npgsql.NpgsqlException("connection refused");
        }
    }
}

public sealed class MaskingPlanTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("gatehouse-mask-").FullName;
    private readonly MemoryCatalog _source = new();
    private readonly RelationCatalog _catalog;
    private readonly MaskRules _rules;
    private readonly PolicyStore _store;

    public MaskingPlanTests()
    {
        var path = Path.Combine(_dir, "policy.yaml");
        File.WriteAllText(path, """
            identities:
              agents: { claims: { groups: ai-agents } }
            grants:
              - to: agents
                targets: [shop]
                db_roles: [app_read]
                masks:
                  - { columns: ["public.customers.email"], with: email }
                  - { columns: ["*.ssn"], with: last4 }
                  - { columns: ["public.events_vip.email"], with: hash }
            """);
        _store = PolicyStore.Open(path);
        _rules = MaskRules.For(_store.Current.Grants[0])!;
        _catalog = new RelationCatalog(_source);
    }

    public void Dispose()
    {
        _store.Dispose();
        Directory.Delete(_dir, true);
    }

    private async Task<StatementMasks> MasksFor(string sql) =>
        await StatementMasks.ForAsync(_rules, _catalog, SqlAnalyzer.Instance.Analyze(sql, new SqlSessionState()).Statements, CancellationToken.None, sql);

    private static ResultColumn Col(string name, uint table = 0, short attribute = 0, uint type = 25) => new(name, table, attribute, type, 0);

    [Theory]
    [InlineData("SELECT * FROM customers", true)]
    [InlineData("SELECT * FROM public.customers", true)]
    [InlineData("SELECT * FROM customer_contacts", true)]
    [InlineData("SELECT * FROM reporting.nested", true)]
    [InlineData("SELECT * FROM orders", false)]
    [InlineData("SELECT 1", false)]
    [InlineData("SELECT * FROM get_customers()", true)]
    [InlineData("SELECT lower('x')", false)]
    [InlineData("SELECT * FROM other.customers", false)]
    [InlineData("SELECT schema_to_xml('public', true, false, '')", true)]
    [InlineData("SELECT o.id, o.customer_email FROM orders o", true)]
    [InlineData("SELECT (o).customer_email FROM orders o", true)]
    [InlineData("SELECT orders.customer_email FROM orders", true)]
    [InlineData("SELECT public.orders.customer_email FROM public.orders", true)]
    [InlineData("SELECT x.customer_email FROM (SELECT * FROM orders) x", true)]
    [InlineData("SELECT o.id, o.total FROM orders o", false)]
    [InlineData("SELECT o.id, o.to_jsonb FROM orders o", false)]
    [InlineData("SELECT o.id FROM public.orders AS o WHERE o.total > 1", false)]
    [InlineData("SELECT * FROM party", true)]
    [InlineData("SELECT * FROM events", true)]
    [InlineData("SELECT * FROM function_view", true)]
    [InlineData("SELECT * FROM stats_view", true)]
    [InlineData("SELECT * FROM touched", false)]
    [InlineData("UPDATE touched SET status = status WHERE id = 1", true)]
    public async Task A_statement_is_tainted_when_it_can_read_masked_data(string sql, bool tainted) =>
        Assert.Equal(tainted, (await MasksFor(sql)).Tainted);

    [Fact]
    public async Task An_attribute_notation_call_names_the_function_it_calls()
    {
        var masks = await MasksFor("SELECT o.id, o.customer_email FROM orders o");
        Assert.Contains("customer_email (attribute notation o.customer_email)", masks.TaintReason, StringComparison.Ordinal);
        var plan = await masks.BindAsync([Col("id", MemoryCatalog.Orders, 1, 23), Col("customer_email")], CancellationToken.None);
        Assert.Equal([ColumnAction.Pass, ColumnAction.Redact], plan.Columns.Select(c => c.Action));
    }

    [Fact]
    public async Task Qualified_references_cost_no_catalog_round_trip_once_seen()
    {
        const string Sql = "SELECT o.id, o.total FROM orders o WHERE o.id = 1";
        await MasksFor(Sql);
        var after = _source.Lookups;
        await MasksFor(Sql);
        Assert.Equal(after, _source.Lookups);
    }

    [Fact]
    public async Task Columns_are_masked_by_origin_and_untraceable_ones_redacted_in_a_tainted_statement()
    {
        var masks = await MasksFor("SELECT id, name, email, ssn, lower(email) FROM customers");
        var plan = await masks.BindAsync(
            [Col("id", MemoryCatalog.Customers, 1, 23), Col("n", MemoryCatalog.Customers, 2), Col("e", MemoryCatalog.Customers, 3), Col("ssn", MemoryCatalog.Customers, 4), Col("lower")],
            CancellationToken.None);
        Assert.Equal([ColumnAction.Pass, ColumnAction.Pass, ColumnAction.Mask, ColumnAction.Mask, ColumnAction.Redact], plan.Columns.Select(c => c.Action));
        Assert.Equal("email", plan.Columns[2].With);
        Assert.Equal("last4", plan.Columns[3].With);
    }

    [Fact]
    public async Task View_columns_resolve_to_the_columns_they_come_from()
    {
        var masks = await MasksFor("SELECT * FROM reporting.nested, customer_contacts, lowered");
        var plan = await masks.BindAsync(
            [Col("m", MemoryCatalog.Nested, 1), Col("id", MemoryCatalog.Contacts, 1, 23), Col("mail", MemoryCatalog.Contacts, 2), Col("id", MemoryCatalog.Lowered, 1, 23), Col("e", MemoryCatalog.Lowered, 2)],
            CancellationToken.None);
        Assert.Equal([ColumnAction.Mask, ColumnAction.Pass, ColumnAction.Mask, ColumnAction.Pass, ColumnAction.Redact], plan.Columns.Select(c => c.Action));
    }

    [Fact]
    public async Task An_untainted_statement_passes_computed_columns()
    {
        var masks = await MasksFor("SELECT count(*) FROM orders");
        var plan = await masks.BindAsync([Col("count", type: 20)], CancellationToken.None);
        Assert.True(plan.IsPassThrough);
    }

    [Fact]
    public async Task The_catalog_is_read_once_and_again_after_invalidation()
    {
        await MasksFor("SELECT * FROM customers");
        var after = _source.Lookups;
        await MasksFor("SELECT * FROM customers");
        Assert.Equal(after, _source.Lookups);
        _catalog.Invalidate();
        await MasksFor("SELECT * FROM customers");
        Assert.True(_source.Lookups > after);
    }

    [Fact]
    public async Task A_catalog_that_cannot_be_read_fails_closed()
    {
        _source.Down = true;
        await Assert.ThrowsAsync<CatalogUnavailableException>(() => MasksFor("SELECT * FROM customers"));
    }

    [Fact]
    public void View_origins_are_read_from_the_stored_query()
    {
        var origins = ViewOrigins.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "view-ev-action.txt")));
        Assert.Equal([(16388u, (short)1), (16388u, (short)3), (0u, (short)0), (0u, (short)0)], origins!);
        Assert.Null(ViewOrigins.Parse("not a node tree"));
    }

    [Fact]
    public async Task A_parent_s_column_takes_its_descendants_rule_and_disagreeing_ones_redact()
    {
        var masks = await MasksFor("SELECT * FROM party, events, mixed");
        var plan = await masks.BindAsync(
            [Col("id", MemoryCatalog.Party, 1, 23), Col("email", MemoryCatalog.Party, 2), Col("email", MemoryCatalog.Events, 2), Col("email", MemoryCatalog.Mixed, 2)],
            CancellationToken.None);
        Assert.Equal([ColumnAction.Pass, ColumnAction.Mask, ColumnAction.Mask, ColumnAction.Mask], plan.Columns.Select(c => c.Action));
        Assert.Equal(["email", "hash", "redact"], plan.Columns.Skip(1).Select(c => c.With));
    }

    [Fact]
    public async Task A_view_over_hidden_code_or_the_statistics_is_redacted()
    {
        var masks = await MasksFor("SELECT * FROM function_view, stats_view, sample_view");
        var plan = await masks.BindAsync(
            [Col("cid", MemoryCatalog.FunctionView, 1, 23), Col("mail", MemoryCatalog.FunctionView, 2), Col("attname", MemoryCatalog.StatsView, 1), Col("bounds", MemoryCatalog.StatsView, 2), Col("v", MemoryCatalog.SampleView, 1)],
            CancellationToken.None);
        Assert.Equal([ColumnAction.Redact, ColumnAction.Redact, ColumnAction.Redact, ColumnAction.Redact, ColumnAction.Mask], plan.Columns.Select(c => c.Action));
        Assert.Equal("redact", plan.Columns[4].With);
    }

    [Fact]
    public void Referenced_oids_are_read_from_anywhere_in_the_stored_query()
    {
        const string tree = """({QUERY :rtable ({RANGETBLENTRY :rtekind 0 :relid 16391} {RANGETBLENTRY :rtekind 0 :relid 2619 :alias {ALIAS :aliasname a\:relid\ 5}}) :targetList ({TARGETENTRY :expr {FUNCEXPR :funcid 16403}})})""";
        Assert.Equal([16391u, 2619u], ViewOrigins.Numbers(tree, ":relid "));
        Assert.Equal([16403u], ViewOrigins.Numbers(tree, ":funcid "));
    }
}
