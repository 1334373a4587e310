using Npgsql;

namespace Gatehouse.IntegrationTests;

/// <summary>Policy decisions in the data path, as real clients see them (default test policy: no DDL, payments read-only).</summary>
[Collection(GatewayCollection.Name)]
public sealed class EnforcementTests(GatewayFixture fixture)
{
    private static async Task<PostgresException> DeniedAsync(NpgsqlConnection connection, string sql)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        return await Assert.ThrowsAsync<PostgresException>(() => command.ExecuteNonQueryAsync());
    }

    private static async Task<object?> ScalarAsync(NpgsqlConnection connection, string sql)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        return await command.ExecuteScalarAsync();
    }

    [Fact]
    public async Task Ddl_is_denied_with_the_rule_id_and_the_session_continues()
    {
        await using var connection = await fixture.OpenAsync();
        var error = await DeniedAsync(connection, "DROP TABLE orders");
        Assert.Equal("42501", error.SqlState);
        Assert.StartsWith("gatehouse: denied by rule no-ddl", error.MessageText, StringComparison.Ordinal);
        Assert.Null(error.Where);
        Assert.Equal(500L, await ScalarAsync(connection, "SELECT count(*) FROM orders"));
    }

    [Fact]
    public async Task A_multi_statement_query_is_all_or_nothing()
    {
        await using var connection = await fixture.OpenAsync();
        await using var command = new NpgsqlCommand("UPDATE customers SET name = 'changed' WHERE id = 1; CREATE TABLE sneaky (x int)", connection);
        command.AllResultTypesAreUnknown = true;
        var error = await Assert.ThrowsAsync<PostgresException>(() => command.ExecuteNonQueryAsync());
        Assert.Equal("42501", error.SqlState);
        Assert.Equal("Customer 1", await fixture.Postgres.ScalarAsync<string>("SELECT name FROM customers WHERE id = 1", "shop"));
    }

    [Fact]
    public async Task A_denied_statement_in_the_middle_of_a_pipelined_batch_stops_the_rest_and_the_connection_recovers()
    {
        await using var connection = await fixture.OpenAsync();
        await using var batch = new NpgsqlBatch(connection)
        {
            BatchCommands = { new("SELECT 1"), new("DELETE FROM payments"), new("SELECT 3") },
        };
        var error = await Assert.ThrowsAsync<PostgresException>(() => batch.ExecuteNonQueryAsync());
        Assert.Equal("42501", error.SqlState);
        Assert.Contains("payments-readonly", error.MessageText, StringComparison.Ordinal);
        Assert.Equal(7, await ScalarAsync(connection, "SELECT 7"));
    }

    [Fact]
    public async Task A_denied_statement_inside_a_transaction_aborts_it_like_a_server_error()
    {
        await using var connection = await fixture.OpenAsync();
        await using var transaction = await connection.BeginTransactionAsync();
        Assert.Equal(1, await ScalarAsync(connection, "SELECT 1"));
        await DeniedAsync(connection, "TRUNCATE orders");
        var aborted = await DeniedAsync(connection, "SELECT 2");
        Assert.Equal("25P02", aborted.SqlState);
        await transaction.RollbackAsync();
        Assert.Equal(3, await ScalarAsync(connection, "SELECT 3"));
    }

    [Fact]
    public async Task Prepare_and_execute_of_a_denied_statement_are_refused()
    {
        await using var connection = await fixture.OpenAsync();
        var prepare = await DeniedAsync(connection, "PREPARE wipe AS DELETE FROM payments");
        Assert.Contains("payments-readonly", prepare.MessageText, StringComparison.Ordinal);
        var execute = await DeniedAsync(connection, "EXECUTE wipe");
        Assert.Equal("42501", execute.SqlState);
    }

    [Theory]
    [InlineData("WITH gone AS (DELETE FROM payments RETURNING *) SELECT count(*) FROM gone")]
    [InlineData("EXPLAIN ANALYZE DELETE FROM payments")]
    [InlineData("SELECT 1; DELETE FROM payments")]
    [InlineData("/* harmless */ DeLeTe /* really */ FROM \"payments\"")]
    [InlineData("DELETE FROM public.\"payments\" WHERE true")]
    [InlineData("-- a comment; SELECT 1\nINSERT INTO payments (amount) VALUES (1)")]
    [InlineData("UPDATE PAYMENTS SET amount = 0")]
    [InlineData("SELECT pg_read_file('/etc/passwd')")]
    [InlineData("COPY payments FROM STDIN")]
    [InlineData("MERGE INTO payments p USING orders o ON p.order_id = o.id WHEN MATCHED THEN DELETE")]
    public async Task Write_denial_on_a_table_is_not_bypassed(string sql)
    {
        await using var connection = await fixture.OpenAsync();
        var error = await DeniedAsync(connection, sql);
        Assert.Equal("42501", error.SqlState);
        Assert.StartsWith("gatehouse: ", error.MessageText, StringComparison.Ordinal);
        Assert.Equal(1, await ScalarAsync(connection, "SELECT 1"));
    }

    [Fact]
    public async Task A_denied_parameterized_statement_reports_the_rule_and_prepared_ones_stay_refused()
    {
        await using var connection = await fixture.OpenAsync();
        await using var command = new NpgsqlCommand("UPDATE payments SET amount = $1 WHERE id = $2", connection);
        command.Parameters.Add(new NpgsqlParameter { Value = 0m });
        command.Parameters.Add(new NpgsqlParameter { Value = 1 });
        var error = await Assert.ThrowsAsync<PostgresException>(() => command.ExecuteNonQueryAsync());
        Assert.Equal("42501", error.SqlState);
        Assert.StartsWith("gatehouse: denied by rule payments-readonly", error.MessageText, StringComparison.Ordinal);

        // Prepared, as the server prepares a statement it will not let run, and refused at every execution (#16).
        await command.PrepareAsync();
        for (int run = 0; run < 2; run++)
        {
            var prepared = await Assert.ThrowsAsync<PostgresException>(() => command.ExecuteNonQueryAsync());
            Assert.StartsWith("gatehouse: denied by rule payments-readonly", prepared.MessageText, StringComparison.Ordinal);
        }

        Assert.Equal(5, await ScalarAsync(connection, "SELECT 5"));

        await using var allowed = new NpgsqlCommand("SELECT name FROM customers WHERE id = $1", connection);
        allowed.Parameters.Add(new NpgsqlParameter { Value = 4 });
        await allowed.PrepareAsync();
        Assert.Equal("Customer 4", await allowed.ExecuteScalarAsync());
    }

    [Fact]
    public async Task Unknown_sql_is_refused_as_not_understood()
    {
        await using var connection = await fixture.OpenAsync();
        // Valid SQL Gatehouse cannot analyze (a prepared statement it never saw) is refused as not understood …
        var error = await DeniedAsync(connection, "EXECUTE never_prepared");
        Assert.Equal("42501", error.SqlState);
        Assert.StartsWith("gatehouse: statement not understood", error.MessageText, StringComparison.Ordinal);

        // … and text that is not SQL at all gets the server's own syntax error, run nowhere.
        var syntax = await DeniedAsync(connection, "FROBNICATE the database");
        Assert.Equal("42601", syntax.SqlState);
        Assert.Contains("FROBNICATE", syntax.MessageText, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Allowed_reads_and_writes_pass()
    {
        await using var connection = await fixture.OpenAsync();
        Assert.Equal(100L, await ScalarAsync(connection, "SELECT count(*) FROM customers c JOIN orders o ON o.customer_id = c.id WHERE o.id <= 100"));
        await using var command = new NpgsqlCommand("INSERT INTO orders (customer_id, total) VALUES (1, 9.99) RETURNING id", connection);
        Assert.IsType<int>(await command.ExecuteScalarAsync());
    }
}
