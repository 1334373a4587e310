namespace Gatehouse.IntegrationTests;

/// <summary>
/// pgx v4 (Debian's golang-github-jackc-pgx-v4-dev, built offline in GOPATH mode against /usr/share/gocode) through
/// the gateway: tests/clients/go/pgx_probe.go logs in with an OIDC token as the password over TLS (sslmode=require),
/// dbname = the target.
/// </summary>
[Collection(MaskingCollection.Name)]
public sealed class PgxClientTests(MaskingFixture fixture)
{
    private const string Denied = "PgError 42501 gatehouse: denied by rule no-ddl";

    // GOPATH mode against Debian's packaged sources: no module download, no network. A shared build cache makes
    // every `go run` after the first one a link step.
    private static readonly Dictionary<string, string> GoEnvironment = new()
    {
        ["GO111MODULE"] = "off",
        ["GOPATH"] = "/usr/share/gocode",
        ["GOFLAGS"] = "",
        ["GOCACHE"] = Path.Combine(Path.GetTempPath(), "gatehouse-go-build-cache"),
    };

    private Task<ClientOutput> RunAsync(string part, string connectionString = "") =>
        LibraryClients.RunAsync(fixture, "go", ["run", LibraryClients.ProgramPath("go", "pgx_probe.go"), part, connectionString],
            TimeSpan.FromMinutes(5), GoEnvironment);

    [Theory]
    [InlineData("")] // statement_cache_mode=prepare: every query a named prepared statement
    [InlineData("statement_cache_mode=describe")] // unnamed statements, described first
    public async Task Parameterized_query_is_masked_on_every_execution_through_the_statement_cache_in_binary(string connectionString)
    {
        var expected = await LibraryClients.MaskedCustomersAsync(fixture);
        var output = await RunAsync("queries", connectionString);

        Assert.Equal("true", output["ssl"]);
        LibraryClients.AssertCustomerRows(output, "row cached", 8, expected);
        LibraryClients.AssertCustomerRows(output, "row binary", 3, expected);
        for (int n = 1; n <= 8; n++)
        {
            // pgx reads int4 in binary and text as text unless asked (QueryResultFormats) for binary everywhere.
            Assert.Equal("1,0,0,0,0,0", output[$"formats cached {n}"]);
        }

        Assert.Equal("1,1,1,1,1,1", output["formats binary 3"]);
        Assert.Equal(connectionString.Length == 0 ? "1" : "0", output["prepared"]);
    }

    [Fact]
    public async Task Denied_statement_returns_PgError_42501_and_the_connection_and_its_cached_statement_keep_working()
    {
        var expected = await LibraryClients.MaskedCustomersAsync(fixture);
        var output = await RunAsync("denials");

        Assert.Equal(expected[1], output["row cached 1"]);
        output.AssertStartsWith("denied ddl", Denied);
        // pg_read_file($1) is refused at the statement cache's Parse; the second try must not find a half-made entry.
        output.AssertStartsWith("denied files 1", "PgError 42501 gatehouse: denied by rule ");
        Assert.Equal(output["denied files 1"], output["denied files 2"]);
        Assert.Equal("42", output["after denied"]);
        Assert.Equal(expected[2], output["row cached 2"]);
    }

    [Fact]
    public async Task Transaction_rolls_back_and_commits_writes_and_a_denial_aborts_it_like_a_server_error()
    {
        var output = await RunAsync("transactions");

        Assert.Equal("1", output["tx updated"]);
        Assert.Equal("0", output["tx after rollback"]);
        Assert.Equal("1100", output["tx after commit"]);
        output.AssertStartsWith("tx denied", Denied);
        output.AssertStartsWith("tx aborted", "PgError 25P02");
        Assert.Equal("1", output["tx cleanup"]);
    }

    [Fact]
    public async Task SendBatch_and_CopyFrom_insert_every_row_and_a_denial_in_a_batch_undoes_it_like_a_server_error()
    {
        var output = await RunAsync("batches");

        Assert.Equal("1,1,1,1,1,1,1", output["batch"]);
        Assert.Equal("7", output["batch rows"]);
        output.AssertStartsWith("mixed batch denied", "no error; then " + Denied);
        output.AssertStartsWith("mixed batch failing", "no error; then PgError 22012 division by zero");
        Assert.Equal("7", output["mixed batch denied rows"]);
        Assert.Equal(output["mixed batch failing rows"], output["mixed batch denied rows"]);
        Assert.Equal("7", output["batch cleanup"]);
        Assert.Equal("3 no error", output["copy from"]);
        Assert.Equal("3", output["copy rows"]);
    }
}
