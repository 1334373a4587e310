using System.Globalization;
using System.Text.Json;
using Npgsql;

namespace Gatehouse.IntegrationTests;

/// <summary>
/// A statement Gatehouse refuses in the middle of a pipelined batch fails where PostgreSQL fails a statement it may
/// not run (its Execute), so the rest of the batch behaves as it does direct (#16 item 7c). Each batch is run
/// straight against PostgreSQL, as a role that may not drop the table, and through the gateway, which denies the
/// DROP by policy; the replies must have the same shape.
/// </summary>
[Collection(GatewayCollection.Name)]
public sealed class RefusedBatchTests(GatewayFixture fixture)
{
    private async Task<(string User, string Password)> DirectRoleAsync()
    {
        string user = $"direct_{Guid.NewGuid():N}"[..20];
        string password = Guid.NewGuid().ToString("N");
        // A verifier, not the password: the shared server's log is checked for plaintext passwords (CredentialTests).
        await fixture.Postgres.ExecuteAsync($"CREATE ROLE {user} LOGIN PASSWORD '{Gatehouse.Protocol.ScramKeys.Verifier(password)}' IN ROLE app_read, app_write");
        return (user, password);
    }

    private async Task<(WireClient Direct, WireClient Gateway)> WireClientsAsync()
    {
        var (user, password) = await DirectRoleAsync();
        return (await WireClient.ConnectAsync(fixture.Postgres.Port, user, password), await WireClient.ConnectAsync(fixture.Port, "agent", fixture.Token()));
    }

    private static string Shape(IEnumerable<WireReply> replies) => string.Join(' ', replies);

    // pgx SendBatch: Parse and Describe of every statement, Sync; then Bind and Execute of each, Sync.
    private static async Task<(List<WireReply> Described, List<WireReply> Executed)> PgxBatchAsync(WireClient client, string prefix, params string[] sql)
    {
        for (int i = 0; i < sql.Length; i++)
        {
            client.Parse($"{prefix}_{i}", sql[i]).Describe('S', $"{prefix}_{i}");
        }

        var described = await client.Sync().RoundTripAsync();
        return (described, await ExecuteAllAsync(client, prefix, sql.Length));
    }

    private static async Task<List<WireReply>> ExecuteAllAsync(WireClient client, string prefix, int count)
    {
        for (int i = 0; i < count; i++)
        {
            client.Bind("", $"{prefix}_{i}").Execute("");
        }

        return await client.Sync().RoundTripAsync();
    }

    [Fact]
    public async Task A_pgx_style_batch_runs_the_statements_before_a_refused_one_as_postgres_does()
    {
        var (direct, gateway) = await WireClientsAsync();
        await using var _ = direct;
        await using var __ = gateway;
        string marker = Guid.NewGuid().ToString("N")[..8];
        var expected = await PgxBatchAsync(direct, "b", "SELECT 1", "DROP TABLE orders", "SELECT 3");
        var actual = await PgxBatchAsync(gateway, "b", "SELECT 1", $"DROP TABLE orders /* {marker} */", "SELECT 3");

        Assert.Equal("1 t T 1 t n 1 t T Z", Shape(expected.Described));
        Assert.Equal(Shape(expected.Described), Shape(actual.Described));
        Assert.Equal("2 D C 2 E(42501) Z", Shape(expected.Executed));
        Assert.Equal(Shape(expected.Executed), Shape(actual.Executed));
        Assert.Equal("1", actual.Executed[1].FirstValue());
        Assert.StartsWith("gatehouse: denied by rule no-ddl", actual.Executed[4].Error.Message, StringComparison.Ordinal);

        // Prepared once, refused at every execution; closed, it is gone as any statement is.
        Assert.Equal(Shape(await ExecuteAllAsync(direct, "b", 3)), Shape(await ExecuteAllAsync(gateway, "b", 3)));
        foreach (var client in new[] { direct, gateway })
        {
            Assert.Equal("3 Z", Shape(await client.Close('S', "b_1").Sync().RoundTripAsync()));
            var gone = await client.Bind("", "b_1").Execute("").Sync().RoundTripAsync();
            Assert.Equal("E(26000) Z", Shape(gone));
        }

        // The refused text never reached the server; the table is there.
        Assert.DoesNotContain(marker, await File.ReadAllTextAsync(fixture.Postgres.LogFile), StringComparison.Ordinal);
        Assert.True(await fixture.Postgres.ScalarAsync<long>("SELECT count(*) FROM orders", "shop") > 0);
    }

    [Fact]
    public async Task A_write_before_a_refused_statement_is_rolled_back_with_the_batch_as_postgres_does()
    {
        var (direct, gateway) = await WireClientsAsync();
        await using var _ = direct;
        await using var __ = gateway;
        int id = Random.Shared.Next(1_000_000, 2_000_000);
        foreach (var (client, customer) in new[] { (direct, id), (gateway, id + 1) })
        {
            var (described, executed) = await PgxBatchAsync(client, "w", $"INSERT INTO customers (id, name) VALUES ({customer}, 'batch')", "DROP TABLE orders", "SELECT 3");
            Assert.Equal("1 t n 1 t n 1 t T Z", Shape(described));
            Assert.Equal("2 C 2 E(42501) Z", Shape(executed));
        }

        // The error aborted the batch's implicit transaction, and its INSERT with it, through the gateway too.
        Assert.Equal(0L, await fixture.Postgres.ScalarAsync<long>($"SELECT count(*) FROM customers WHERE id IN ({id}, {id + 1})", "shop"));
        Assert.Equal("1 t T Z 2 D C Z", Shape([.. await gateway.Parse("", "SELECT 4").Describe('S', "").Sync().RoundTripAsync(),
            .. await gateway.Bind("", "").Execute("").Sync().RoundTripAsync()]));
    }

    [Fact]
    public async Task An_npgsql_batch_and_a_prepared_command_with_a_refused_statement_behave_as_direct()
    {
        var (user, password) = await DirectRoleAsync();
        var directString = new NpgsqlConnectionStringBuilder
        {
            Host = "127.0.0.1", Port = fixture.Postgres.Port, Database = TestGateway.Target, Username = user, Password = password, Pooling = false,
        }.ConnectionString;
        await using var direct = new NpgsqlConnection(directString);
        await direct.OpenAsync();
        await using var gateway = await fixture.OpenAsync();
        foreach (var connection in new[] { direct, gateway })
        {
            await using (var batch = new NpgsqlBatch(connection)
            {
                BatchCommands = { new("SELECT 1"), new("DROP TABLE orders"), new("SELECT 3") },
            })
            {
                await using var reader = await batch.ExecuteReaderAsync();
                Assert.True(await reader.ReadAsync());
                Assert.Equal(1, reader.GetInt32(0));
                var error = await Assert.ThrowsAsync<PostgresException>(() => reader.NextResultAsync());
                Assert.Equal("42501", error.SqlState);
            }

            // Prepared: the statement prepares (the server would not refuse it before running it) and fails at each run.
            await using var drop = new NpgsqlCommand("DROP TABLE orders", connection);
            await drop.PrepareAsync();
            for (int run = 0; run < 2; run++)
            {
                Assert.Equal("42501", (await Assert.ThrowsAsync<PostgresException>(() => drop.ExecuteNonQueryAsync())).SqlState);
            }

            await using var after = new NpgsqlCommand("SELECT 5", connection);
            Assert.Equal(5, await after.ExecuteScalarAsync());
        }
    }

    [Fact]
    public async Task Node_postgres_pipelined_named_statements_with_a_refused_one_behave_as_direct()
    {
        var (user, password) = await DirectRoleAsync();
        string script = Path.Combine(ProcessRunner.RepositoryRoot(), "tests", "node", "pg-refused-batch.mjs");
        async Task<JsonElement> RunAsync(int port, string login, string secret, bool ssl)
        {
            var result = await ProcessRunner.RunAsync("node", [script], new Dictionary<string, string>
            {
                ["PGHOST"] = "127.0.0.1", ["PGPORT"] = port.ToString(CultureInfo.InvariantCulture), ["PGDATABASE"] = TestGateway.Target,
                ["PGUSER"] = login, ["PGPASSWORD"] = secret, ["GH_SSL"] = ssl ? "1" : "0", ["NODE_TLS_REJECT_UNAUTHORIZED"] = "0",
            }, TimeSpan.FromSeconds(60));
            Assert.True(result.ExitCode == 0, result.Stderr + result.Stdout);
            return JsonDocument.Parse(result.Stdout).RootElement.Clone();
        }

        var expected = await RunAsync(fixture.Postgres.Port, user, password, ssl: false);
        var actual = await RunAsync(fixture.Port, "agent", fixture.Token(), ssl: true);
        Assert.Equal(["one: {\"n\":1}", "drop: 42501", "three: {\"n\":3}"], expected.GetProperty("first").EnumerateArray().Select(e => e.GetString()));
        Assert.Equal(expected.GetRawText(), actual.GetRawText());
    }
}
