namespace Gatehouse.IntegrationTests;

/// <summary>
/// psycopg 3 (Debian's python3-psycopg, on the system's libpq) through the gateway: tests/clients/python/psycopg_probe.py
/// logs in with an OIDC token as the password over TLS (sslmode=require), dbname = the target.
/// </summary>
[Collection(MaskingCollection.Name)]
public sealed class PsycopgClientTests(MaskingFixture fixture)
{
    // Debian's package installs for the system interpreter; a python3 earlier on PATH (pyenv) would not see it.
    private static readonly string Python = File.Exists("/usr/bin/python3") ? "/usr/bin/python3" : "python3";

    private const string Denied = "InsufficientPrivilege 42501 gatehouse: denied by rule no-ddl";

    private Task<ClientOutput> RunAsync(string part) =>
        LibraryClients.RunAsync(fixture, Python, [LibraryClients.ProgramPath("python", "psycopg_probe.py"), part], TimeSpan.FromMinutes(2));

    [Fact]
    public async Task Parameterized_query_is_masked_in_text_and_binary_before_and_after_the_statement_is_prepared()
    {
        var expected = await LibraryClients.MaskedCustomersAsync(fixture);
        var output = await RunAsync("queries");

        output.AssertStartsWith("psycopg", "3.");
        // default: prepare_threshold 5, so executions 6–7 run the prepared statement; prepare=True from the first.
        foreach (var (label, executions) in new[] { ("default", 7), ("prepare", 3), ("binary", 7), ("binary-prepare", 3) })
        {
            LibraryClients.AssertCustomerRows(output, "row " + label, executions, expected);
            Assert.Equal("1", output["prepared " + label]);
            string formats = label.StartsWith("binary", StringComparison.Ordinal) ? "1,1,1,1,1,1" : "0,0,0,0,0,0";
            Assert.Equal(formats, output[$"formats {label} 1"]);
            Assert.Equal(formats, output[$"formats {label} {executions}"]);
        }

        // A named (server-side) cursor: DECLARE, then FETCH two rows at a time.
        LibraryClients.AssertFetchedRows(output, "fetched", expected);
    }

    [Fact]
    public async Task Denied_statement_raises_InsufficientPrivilege_and_the_connection_keeps_working()
    {
        var expected = await LibraryClients.MaskedCustomersAsync(fixture);
        var output = await RunAsync("denials");

        Assert.Equal("True", output["ssl"]);
        Assert.Equal(expected[1], output["row before denied"]);
        output.AssertStartsWith("denied ddl", Denied);
        output.AssertStartsWith("denied files", "InsufficientPrivilege 42501 gatehouse: denied by rule ");
        Assert.Equal("42", output["after denied"]);
        Assert.Equal(expected[1], output["row after denied"]);

        // Outside autocommit the denial fails psycopg's implicit transaction, exactly as a server error does.
        output.AssertStartsWith("tx denied", Denied);
        Assert.Equal("INERROR", output["tx status"]);
        output.AssertStartsWith("tx aborted", "InFailedSqlTransaction 25P02");
        Assert.Equal("42", output["tx denied after rollback"]);
    }

    [Fact]
    public async Task Transaction_blocks_roll_back_and_commit_and_executemany_and_copy_insert_every_row()
    {
        var output = await RunAsync("transactions");

        Assert.Equal("1", output["tx updated"]);
        Assert.Equal("0", output["tx after rollback"]);
        Assert.Equal("1100.00", output["tx after commit"]);
        Assert.Equal("1", output["tx cleanup"]);
        Assert.Equal("5", output["executemany rows"]);
        Assert.Equal("3", output["copy text rows"]);
        Assert.Equal("3", output["copy binary rows"]);
        Assert.Equal("11", output["cleanup"]);
    }

    [Fact]
    public async Task Pipeline_with_an_allowed_then_a_denied_statement_fails_like_a_server_error_and_the_connection_stays_usable()
    {
        var output = await RunAsync("pipeline");

        output.AssertStartsWith("pipeline denied", Denied);
        Assert.Equal("DivisionByZero 22012 division by zero", output["pipeline failing"]);
        // No Sync between them: the insert shares the failed implicit transaction and is rolled back, as with 1 / 0.
        foreach (string what in new[] { "status", "rows", "after" })
        {
            Assert.Equal(output[$"pipeline failing {what}"], output[$"pipeline denied {what}"]);
        }

        Assert.Equal("IDLE", output["pipeline denied status"]);
        Assert.Equal("0", output["pipeline denied rows"]);
        Assert.Equal("42", output["pipeline denied after"]);

        // With a Sync in between the insert is committed before the denial.
        output.AssertStartsWith("pipeline synced", Denied);
        Assert.Equal("1", output["pipeline synced rows"]);
        Assert.Equal("42", output["pipeline synced after"]);
        Assert.Equal("1", output["cleanup"]);
    }
}
