namespace Gatehouse.IntegrationTests;

/// <summary>
/// pgjdbc (Debian's libpostgresql-jdbc-java) through the gateway: tests/clients/java/JdbcProbe.java, run by Java's
/// single-file launcher, logs in with an OIDC token as the password over TLS (sslmode=require), dbname = the target.
/// </summary>
[Collection(MaskingCollection.Name)]
public sealed class JdbcClientTests(MaskingFixture fixture)
{
    private const string Driver = "/usr/share/java/postgresql.jar";

    private const string Text = "0,0,0,0,0,0";

    private Task<ClientOutput> RunAsync(string part, string properties) =>
        LibraryClients.RunAsync(fixture, "java",
            ["-cp", Driver, LibraryClients.ProgramPath("java", "JdbcProbe.java"), part, .. properties.Split(' ', StringSplitOptions.RemoveEmptyEntries)],
            TimeSpan.FromMinutes(3));

    [Theory]
    [InlineData("")] // prepareThreshold 5: executions 1–4 unnamed, then a named statement, binary for int4 from the 6th
    [InlineData("prepareThreshold=1")]
    [InlineData("prepareThreshold=-1")] // named and binary from the first execution
    [InlineData("prepareThreshold=1 binaryTransferEnable=TEXT")] // the masked text columns in binary too
    public async Task Parameterized_query_is_masked_on_every_execution_before_and_after_the_switch_to_a_server_prepared_statement(string properties)
    {
        var expected = await LibraryClients.MaskedCustomersAsync(fixture);
        var output = await RunAsync("queries", properties);

        output.AssertStartsWith("driver", "42.");
        LibraryClients.AssertCustomerRows(output, "row", 8, expected);
        // The named statement exists upstream, so executions 6–8 really ran Bind/Execute of a prepared statement.
        Assert.Equal("1", output["prepared"]);
        output.AssertStartsWith("formats 8", "1,");
        if (properties.Length == 0)
        {
            Assert.Equal(Text, output["formats 1"]);
        }

        if (properties.Contains("binaryTransferEnable=TEXT", StringComparison.Ordinal))
        {
            Assert.Equal("1,1,1,1,1,1", output["formats 8"]);
        }

        Assert.Equal("id,name,email,phone,ssn,card_number", output["metadata columns"]);
    }

    [Theory]
    [InlineData("")]
    [InlineData("prepareThreshold=1")]
    public async Task Denied_statement_raises_PSQLException_42501_and_the_connection_and_its_prepared_statement_keep_working(string properties)
    {
        var expected = await LibraryClients.MaskedCustomersAsync(fixture);
        var output = await RunAsync("denials", properties);

        LibraryClients.AssertCustomerRows(output, "row", 6, expected);
        output.AssertStartsWith("denied ddl", "PSQLException 42501 gatehouse: denied by rule no-ddl");
        // pg_read_file(?) is refused at Parse (by no-ddl: the function is class admin); the second try must fail the same way.
        output.AssertStartsWith("denied files 1", "PSQLException 42501 gatehouse: denied by rule ");
        Assert.Equal(output["denied files 1"], output["denied files 2"]);
        Assert.Equal("42", output["after denied"]);
        Assert.Equal(expected[3], output["row 7"]);
    }

    [Fact]
    public async Task Transaction_rolls_back_and_commits_writes_and_a_denial_aborts_it_like_a_server_error()
    {
        var expected = await LibraryClients.MaskedCustomersAsync(fixture);
        var output = await RunAsync("transactions", "");

        Assert.Equal("1", output["tx updated"]);
        Assert.Equal("0", output["tx after rollback"]);
        Assert.Equal("1100", output["tx after commit"]);
        // setFetchSize in a transaction: one portal read by several Execute messages, masked in each.
        LibraryClients.AssertFetchedRows(output, "tx fetched", expected);
        output.AssertStartsWith("tx denied", "PSQLException 42501 gatehouse: denied by rule no-ddl");
        Assert.Equal("25P02", output["tx aborted"]);
        Assert.Equal("1", output["tx cleanup"]);
    }

    [Fact]
    public async Task ExecuteBatch_inserts_every_row_and_a_denial_in_a_batch_undoes_it_like_a_server_error()
    {
        var output = await RunAsync("batches", "");

        Assert.Equal("[1, 1, 1, 1, 1, 1, 1]", output["batch"]);
        Assert.Equal("7", output["batch rows"]);
        output.AssertStartsWith("mixed batch denied", "BatchUpdateException PSQLException 42501 gatehouse: denied by rule no-ddl");
        Assert.Equal("BatchUpdateException PSQLException 22012 division by zero", output["mixed batch failing"]);
        // One Sync for the whole batch: the insert before the error is rolled back in both cases.
        Assert.Equal("7", output["mixed batch denied rows"]);
        Assert.Equal(output["mixed batch failing rows"], output["mixed batch denied rows"]);
        Assert.Equal("7", output["batch cleanup"]);
    }
}
