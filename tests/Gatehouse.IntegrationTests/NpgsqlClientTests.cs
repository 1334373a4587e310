using Npgsql;
using NpgsqlTypes;

namespace Gatehouse.IntegrationTests;

/// <summary>Npgsql through the gateway: the extended protocol, binary results, COPY, cancellation, notifications.</summary>
[Collection(GatewayCollection.Name)]
public sealed class NpgsqlClientTests(GatewayFixture fixture)
{
    [Fact]
    public async Task Simple_and_extended_queries_return_the_servers_rows()
    {
        await using var connection = await fixture.OpenAsync();
        await using (var simple = new NpgsqlCommand("SELECT count(*) FROM customers", connection))
        {
            Assert.Equal(100L, await simple.ExecuteScalarAsync());
        }

        await using var command = new NpgsqlCommand("SELECT name, email FROM customers WHERE id = $1", connection);
        command.Parameters.Add(new NpgsqlParameter { Value = 7 });
        await command.PrepareAsync();
        await using var reader = await command.ExecuteReaderAsync();
        Assert.True(await reader.ReadAsync());
        Assert.Equal("Customer 7", reader.GetString(0));
        Assert.Equal("customer7@example.com", reader.GetString(1));
    }

    [Fact]
    public async Task Pipelined_batch_returns_every_result_in_order()
    {
        await using var connection = await fixture.OpenAsync();
        await using var batch = new NpgsqlBatch(connection)
        {
            BatchCommands =
            {
                new("SELECT 1"),
                new("SELECT name FROM customers WHERE id = 2"),
                new("SELECT count(*) FROM orders"),
            },
        };
        await using var reader = await batch.ExecuteReaderAsync();
        Assert.True(await reader.ReadAsync());
        Assert.Equal(1, reader.GetInt32(0));
        Assert.True(await reader.NextResultAsync());
        Assert.True(await reader.ReadAsync());
        Assert.Equal("Customer 2", reader.GetString(0));
        Assert.True(await reader.NextResultAsync());
        Assert.True(await reader.ReadAsync());
        Assert.Equal(500L, reader.GetInt64(0));
    }

    [Fact]
    public async Task Binary_copy_round_trips_bytea()
    {
        await using var connection = await fixture.OpenAsync();
        var payload = new byte[200_000];
        Random.Shared.NextBytes(payload);
        int id = Random.Shared.Next(1_000_000, int.MaxValue);
        await using (var importer = await connection.BeginBinaryImportAsync("COPY blobs (id, data) FROM STDIN (FORMAT BINARY)"))
        {
            await importer.StartRowAsync();
            await importer.WriteAsync(id, NpgsqlDbType.Integer);
            await importer.WriteAsync(payload, NpgsqlDbType.Bytea);
            await importer.CompleteAsync();
        }

        await using var exporter = await connection.BeginBinaryExportAsync($"COPY (SELECT data FROM blobs WHERE id = {id}) TO STDOUT (FORMAT BINARY)");
        Assert.Equal(1, await exporter.StartRowAsync());
        Assert.Equal(payload, await exporter.ReadAsync<byte[]>());
        Assert.Equal(-1, await exporter.StartRowAsync());
    }

    [Fact]
    public async Task Cancellation_reaches_the_server_and_the_session_stays_usable()
    {
        await using var connection = await fixture.OpenAsync();
        await using var command = new NpgsqlCommand("SELECT pg_sleep(30)", connection);
        using var cancel = new CancellationTokenSource(TimeSpan.FromMilliseconds(500));
        var started = DateTime.UtcNow;
        var error = await Assert.ThrowsAnyAsync<Exception>(() => command.ExecuteNonQueryAsync(cancel.Token));
        Assert.True(DateTime.UtcNow - started < TimeSpan.FromSeconds(10), "the cancel did not stop the query");
        var postgresError = error as PostgresException ?? error.InnerException as PostgresException;
        Assert.Equal("57014", postgresError?.SqlState);
        await using var next = new NpgsqlCommand("SELECT 42", connection);
        Assert.Equal(42, await next.ExecuteScalarAsync());
    }

    [Fact]
    public async Task Notifications_reach_a_listening_client()
    {
        await using var listener = await fixture.OpenAsync();
        await using var notifier = await fixture.OpenAsync();
        var received = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        listener.Notification += (_, e) => received.TrySetResult(e.Channel + ":" + e.Payload);
        await using (var listen = new NpgsqlCommand("LISTEN gatehouse_test", listener))
        {
            await listen.ExecuteNonQueryAsync();
        }

        await using (var notify = new NpgsqlCommand("NOTIFY gatehouse_test, 'hello'", notifier))
        {
            await notify.ExecuteNonQueryAsync();
        }

        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(15));
        while (!received.Task.IsCompleted)
        {
            await listener.WaitAsync(timeout.Token);
        }

        Assert.Equal("gatehouse_test:hello", await received.Task);
    }

    [Fact]
    public async Task Server_errors_pass_through_and_the_session_continues()
    {
        await using var connection = await fixture.OpenAsync();
        await using var bad = new NpgsqlCommand("SELECT * FROM no_such_table", connection);
        var error = await Assert.ThrowsAsync<PostgresException>(() => bad.ExecuteNonQueryAsync());
        Assert.Equal("42P01", error.SqlState);
        await using var good = new NpgsqlCommand("SELECT 'still here'", connection);
        Assert.Equal("still here", await good.ExecuteScalarAsync());
    }

    [Fact]
    public async Task Plaintext_from_loopback_is_allowed_when_tls_is_not_required()
    {
        await using var connection = await fixture.OpenAsync(ssl: false);
        await using var command = new NpgsqlCommand("SELECT current_database()", connection);
        Assert.Equal("shop", await command.ExecuteScalarAsync());
    }

    [Fact]
    public async Task A_large_result_streams_through()
    {
        await using var connection = await fixture.OpenAsync();
        await using var command = new NpgsqlCommand("SELECT repeat('x', 1000) FROM generate_series(1, 50000)", connection);
        await using var reader = await command.ExecuteReaderAsync();
        long bytes = 0;
        while (await reader.ReadAsync())
        {
            bytes += reader.GetString(0).Length;
        }

        Assert.Equal(50_000_000L, bytes);
    }
}
