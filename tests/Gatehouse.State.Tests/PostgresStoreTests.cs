using System.Data.Common;
using System.Text;
using Gatehouse.State.Postgres;
using Npgsql;

namespace Gatehouse.State.Tests;

/// <summary>What is particular to the PostgreSQL store: its URI, migrations, durability, and the server going away.</summary>
public sealed class PostgresStoreTests(PostgresFixture postgres) : StoreContract(new PostgresStoreFactory(postgres)), IClassFixture<PostgresFixture>
{
    private PostgresStoreFactory Postgres => (PostgresStoreFactory)Factory;

    private static AuditRow Row(long seq) => new("i1", seq, Now.AddMilliseconds(seq), "statement", "s1", $"{{\"seq\":{seq}}}", Encoding.UTF8.GetBytes($"mac{seq}"));

    private async Task<List<(int Version, string Name)>> MigrationsAsync()
    {
        await using var connection = new NpgsqlConnection(Postgres.Server.ConnectionString(Postgres.Database));
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("SELECT version, name FROM gatehouse_schema_migrations ORDER BY version", connection);
        await using var reader = await command.ExecuteReaderAsync();
        var result = new List<(int, string)>();
        while (await reader.ReadAsync())
            result.Add((reader.GetInt32(0), reader.GetString(1)));
        return result;
    }

    [Fact]
    public async Task Several_instances_starting_at_once_apply_each_migration_once()
    {
        var stores = await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => Task.Run(Open)));

        Assert.Equal(PostgresMigrations.All.Select(m => (m.Version, m.Name)), await MigrationsAsync());
        await stores[0].Audit.AppendAsync([Row(1)], default);
        Assert.Equal(1, await stores[3].Audit.ReadChainAsync("i1", 0, default).CountAsync());
        await using var again = Postgres.Open();
        Assert.Equal(PostgresMigrations.All.Count, (await MigrationsAsync()).Count);
    }

    [Fact]
    public async Task Migrations_are_numbered_from_one_without_gaps()
    {
        Assert.Equal(Enumerable.Range(1, PostgresMigrations.All.Count), PostgresMigrations.All.Select(m => m.Version));
        Assert.Equal(PostgresMigrations.All.Count, PostgresMigrations.Latest);
        await Task.CompletedTask;
    }

    [Fact]
    public async Task A_database_from_a_newer_gatehouse_is_refused()
    {
        await Open().DisposeAsync();
        await Postgres.Server.ExecuteAsync("INSERT INTO gatehouse_schema_migrations (version, name) VALUES (99, 'from the future')", Postgres.Database);

        var opened = StateStore.Open(Postgres.Uri);

        Assert.Equal(
            $"state: postgres://{Postgres.Server.Host}:{Postgres.Server.Port}/{Postgres.Database} has schema version 99, newer than this Gatehouse knows ({PostgresMigrations.Latest}); run a newer Gatehouse or use another database",
            opened.Error);
    }

    [Fact]
    public async Task A_wrong_password_is_one_line_without_the_password()
    {
        var opened = StateStore.Open(postgres.Uri(Postgres.Database, password: "not-the-password-42"));

        Assert.False(opened.Success);
        Assert.StartsWith($"state: cannot open postgres://{Postgres.Server.Host}:{Postgres.Server.Port}/{Postgres.Database}: 28P01: ", opened.Error, StringComparison.Ordinal);
        Assert.DoesNotContain("not-the-password-42", opened.Error, StringComparison.Ordinal);
        await Task.CompletedTask;
    }

    [Fact]
    public async Task The_password_can_come_from_a_file_or_pgpassword()
    {
        var file = Path.GetTempFileName();
        try
        {
            await File.WriteAllTextAsync(file, Postgres.Server.SuperUserPassword + "\n");
            var uri = $"postgresql://{Postgres.Server.SuperUser}@{Postgres.Server.Host}:{Postgres.Server.Port}/{Postgres.Database}?sslmode=disable&password_file={Uri.EscapeDataString(file)}";
            var opened = StateStore.Open(uri);
            Assert.True(opened.Success, opened.Error);
            await opened.Store.DisposeAsync();
        }
        finally
        {
            File.Delete(file);
        }

        var (settings, error) = PostgresStoreUri.Parse("postgres://u@h/d", name => name == "PGPASSWORD" ? "from-env" : null);
        Assert.Null(error);
        Assert.Equal("from-env", settings!.Password);
        (settings, _) = PostgresStoreUri.Parse("postgres://u:from%40uri@h:6000/d%2Fx?sslmode=verify-full&sslrootcert=/ca.pem", _ => "from-env");
        Assert.Null(settings); // a database name cannot hold a slash
        (settings, _) = PostgresStoreUri.Parse("postgres://u%40corp:from%40uri@[::1]:6000/state?sslmode=verify-full&sslrootcert=/ca.pem", _ => "from-env");
        Assert.Equal(("u@corp", "from@uri", "::1", 6000, "state", SslMode.VerifyFull, "/ca.pem"),
            (settings!.Username, settings.Password, settings.Host, settings.Port, settings.Database, settings.SslMode, settings.RootCertificate));
    }

    [Theory]
    [InlineData(AuditDurability.Process, "off")]
    [InlineData(AuditDurability.Os, "on")]
    public async Task Durability_sets_synchronous_commit_on_the_writer(AuditDurability durability, string expected)
    {
        await using var store = (PostgresStateStore)StateStore.Open(Postgres.Uri, new StateStoreOptions { Durability = durability }).Store!;

        var setting = await store.WriteAsync(async (cmd, ct) =>
        {
            cmd.CommandText = "SHOW synchronous_commit";
            return (string)(await cmd.ExecuteScalarAsync(ct))!;
        }, default);

        Assert.Equal(expected, setting);
    }

    [Fact]
    public async Task With_the_server_stopped_appends_fault_and_succeed_once_it_is_back()
    {
        // os: a commit is flushed before it is acknowledged, so row 1 survives the server's crash. (With
        // process, synchronous_commit = off, a server crash may lose the last commits; a clean restart does not.)
        await using var store = StateStore.Open(Postgres.Uri, new StateStoreOptions { Durability = AuditDurability.Os }).Store!;
        await store.Audit.AppendAsync([Row(1)], default);

        await Postgres.Server.StopImmediatelyAsync();
        try
        {
            await Assert.ThrowsAnyAsync<DbException>(() => store.Audit.AppendAsync([Row(2)], default));
            await Assert.ThrowsAnyAsync<DbException>(() => store.Audit.AppendAsync([Row(2)], default));
            await Assert.ThrowsAnyAsync<DbException>(async () => await store.Audit.ReadChainAsync("i1", 0, default).ToListAsync());
            Assert.Equal(2, store.WriterStats.FailedWrites);
        }
        finally
        {
            await Postgres.Server.StartAgainAsync();
        }

        await store.Audit.AppendAsync([Row(2)], default);
        Assert.Equal([1, 2], (await store.Audit.ReadChainAsync("i1", 0, default).ToListAsync()).Select(r => r.Seq));
    }

    [Fact]
    public async Task A_server_restart_between_batches_costs_no_write()
    {
        var store = Open();
        await store.Audit.AppendAsync([Row(1)], default);

        await Postgres.Server.RestartAsync(); // ends the writer's idle connection (57P01)

        await store.Audit.AppendAsync([Row(2)], default);
        await store.Leases.InsertAsync(new LeaseRecord("gh_a_0123456789", "orders", "a", [], "i1", Now, Now), default);
        Assert.Equal(new StateWriterStats(3, 3, 0), store.WriterStats);
        Assert.Equal([1, 2], (await store.Audit.ReadChainAsync("i1", 0, default).ToListAsync()).Select(r => r.Seq));
    }

    [Fact]
    public async Task A_batch_whose_connection_is_killed_faults_whole_and_nothing_of_it_is_written()
    {
        var store = Open();
        await store.Audit.AppendAsync([Row(1)], default);
        var writerPid = await ((PostgresStateStore)store).WriteAsync(async (cmd, ct) =>
        {
            cmd.CommandText = "SELECT pg_backend_pid()";
            return (int)(await cmd.ExecuteScalarAsync(ct))!;
        }, default);

        // Inside one batch: a write that kills its own connection, between two appends that must not survive it.
        Task before, kill, after;
        using (Factory.HoldWriter(store))
        {
            before = store.Audit.AppendAsync([Row(2)], default);
            kill = ((PostgresStateStore)store).WriteAsync(async (cmd, ct) =>
            {
                cmd.CommandText = "SELECT pg_terminate_backend(pg_backend_pid())";
                return await cmd.ExecuteNonQueryAsync(ct);
            }, default);
            after = store.Audit.AppendAsync([Row(3)], default);
        }

        // The connection broke before COMMIT, so the batch is run once more on a new connection, where the
        // killer kills again: then every write of the batch faults.
        await Assert.ThrowsAnyAsync<DbException>(() => before);
        await Assert.ThrowsAnyAsync<DbException>(() => kill);
        await Assert.ThrowsAnyAsync<DbException>(() => after);
        Assert.Equal([1], (await store.Audit.ReadChainAsync("i1", 0, default).ToListAsync()).Select(r => r.Seq));
        await store.Audit.AppendAsync([Row(2)], default);
        Assert.Equal([1, 2], (await store.Audit.ReadChainAsync("i1", 0, default).ToListAsync()).Select(r => r.Seq));
        Assert.NotEqual(0, writerPid);
    }
}
