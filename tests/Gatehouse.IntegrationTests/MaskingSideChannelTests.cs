using System.Text;

namespace Gatehouse.IntegrationTests;

/// <summary>
/// Ways out of a statement that reads masked data besides its result, found by a red team: a server message that
/// prints the value it failed on (with quotes added to confuse the scrubber, as a number, through a reg* cast), and
/// functions whose arguments stay behind for a later statement (notification channels, advisory lock keys).
/// </summary>
[Collection(MaskingCollection.Name)]
public sealed class MaskingSideChannelTests(MaskingFixture fixture)
{
    private async Task<WireClient> ConnectAsync() => await WireClient.ConnectAsync(fixture.Port, "agent", fixture.Token(MaskGrant.Columns));

    [Theory]
    [InlineData("SELECT ('\" ' || email || ' \"')::int FROM customers WHERE id = 1", "22P02")]
    [InlineData("SELECT make_date(('x' || encode(convert_to(substr(email, 1, 4), 'UTF8'), 'hex'))::bit(32)::int, 13, 1) FROM customers WHERE id = 1", "22008")]
    [InlineData("SELECT email::regclass FROM customers WHERE id = 1", "0A000")]
    [InlineData("SELECT split_part(email, '@', 1)::regtype FROM customers WHERE id = 1", "3F000")]
    [InlineData("SELECT email::regproc FROM customers WHERE id = 1", "0A000")]
    [InlineData("SELECT has_column_privilege('customers', 'a\" ' || email || ' \"b', 'select') FROM customers WHERE id = 1", "42703")]
    [InlineData("SELECT to_tsquery('simple', string_agg('a\" ' || email || ' \"b', ' ')) FROM customers WHERE id < 4", "42601")]
    [InlineData("SELECT array_fill(1, array_fill(1, array[ascii(substr(email, 1, 1))])) FROM customers WHERE id = 1", "54000")]
    [InlineData("SELECT emial FROM customers", "42703")]
    public async Task A_server_message_that_could_print_a_masked_value_is_withheld_with_its_SQLSTATE(string sql, string sqlState)
    {
        await using var client = await ConnectAsync();
        var replies = await client.Query(sql).RoundTripAsync();
        var error = Assert.Single(replies, r => r.Type == 'E').Error;
        Assert.True(sqlState == error.SqlState, error.Message);
        Assert.StartsWith("[withheld: the server's message for a statement that reads masked data", error.Message, StringComparison.Ordinal);
        MaskingNameTests.AssertNoRawValue(replies);
    }

    [Fact]
    public async Task A_message_with_no_variable_part_is_kept()
    {
        await using var client = await ConnectAsync();
        var error = Assert.Single(await client.Query("SELECT 1 / (id - id) FROM customers WHERE id = 1").RoundTripAsync(), r => r.Type == 'E').Error;
        Assert.Equal(("22012", "division by zero"), (error.SqlState, error.Message));
    }

    [Theory]
    [InlineData("SELECT count(pg_notify('ch' || substr(email, 1, 1), '')) FROM customers WHERE id = 1", "pg_notify")]
    [InlineData("SELECT pg_advisory_lock(id, length(email)) FROM customers WHERE id = 1", "pg_advisory_lock")]
    [InlineData("SELECT pg_try_advisory_xact_lock(ascii(ssn)) FROM customers WHERE id = 1", "pg_try_advisory_xact_lock")]
    [InlineData("SELECT (ascii(ssn)::bigint).pg_advisory_lock FROM customers WHERE id = 1", "pg_advisory_lock")]
    [InlineData("SELECT (length(email)::float8 / 100).setseed FROM customers WHERE id = 1", "setseed")]
    public async Task A_function_whose_arguments_stay_behind_is_refused_in_a_statement_that_reads_masked_data(string sql, string function)
    {
        await using var client = await ConnectAsync();
        var replies = await client.Query(sql).RoundTripAsync();
        var error = Assert.Single(replies, r => r.Type == 'E').Error;
        Assert.Equal("42501", error.SqlState);
        Assert.Contains($"may not call {function}()", error.Message, StringComparison.Ordinal);

        // Nothing was left behind, and the same calls without masked data still run.
        var locks = await client.Query("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()").RoundTripAsync();
        Assert.Equal("0", Assert.Single(locks, r => r.Type == 'D').FirstValue());
        Assert.DoesNotContain(await client.Query("SELECT pg_notify('free', 'x'), pg_advisory_unlock_all()").RoundTripAsync(), r => r.Type == 'E');
    }

    [Theory]
    [InlineData("SELECT (repeat('x', 3000000) || email)::int FROM customers WHERE id = 1")]
    [InlineData("SELECT repeat('y', 3000000)::int")]
    [InlineData("BEGIN; SELECT (repeat('x', 3000000) || email)::int FROM customers WHERE id = 1")]
    public async Task A_server_error_too_large_to_scrub_keeps_only_its_SQLSTATE_and_the_session_goes_on(string sql)
    {
        await using var client = await ConnectAsync();
        var replies = await client.Query(sql).RoundTripAsync();
        var error = Assert.Single(replies, r => r.Type == 'E').Error;
        Assert.True("22P02" == error.SqlState, error.SqlState + " " + error.Message);
        Assert.Matches(@"^\[withheld: the server's message of 3\d{6} bytes is larger than Gatehouse scrubs \(1048576 bytes\); SQLSTATE 22P02\]$", error.Message);
        MaskingNameTests.AssertNoRawValue(replies);

        // In step: the transaction state the server reported, then the next statement's own result.
        var ready = replies.Last();
        Assert.Equal('Z', ready.Type);
        var next = await client.Query(sql.StartsWith("BEGIN", StringComparison.Ordinal) ? "ROLLBACK; SELECT 41 + 1" : "SELECT 41 + 1").RoundTripAsync();
        Assert.Equal("42", Assert.Single(next, r => r.Type == 'D').FirstValue());
    }
}
