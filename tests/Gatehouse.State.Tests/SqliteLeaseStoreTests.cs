using Gatehouse.State.Sqlite;
using Microsoft.Data.Sqlite;

namespace Gatehouse.State.Tests;

public sealed class SqliteLeaseStoreTests() : LeaseStoreContract(new SqliteStoreFactory())
{
    /// <summary>The schema LeaseStore created before migrations existed (Gatehouse.Credentials, up to issue #17).</summary>
    private const string PreMigrationSchema = """
        PRAGMA journal_mode = WAL;
        CREATE TABLE IF NOT EXISTS credential_leases (
            role        TEXT    NOT NULL,
            target      TEXT    NOT NULL,
            subject     TEXT    NOT NULL,
            db_roles    TEXT    NOT NULL,
            instance_id TEXT    NOT NULL,
            created     INTEGER NOT NULL,
            expires     INTEGER NOT NULL,
            PRIMARY KEY (target, role)
        );
        CREATE INDEX IF NOT EXISTS credential_leases_expires ON credential_leases (target, expires);
        """;

    private SqliteStoreFactory Sqlite => (SqliteStoreFactory)Factory;

    [Fact]
    public async Task A_held_burst_commits_in_exactly_one_transaction_per_batch()
    {
        var store = Open();
        List<Task> writes;
        using (Factory.HoldWriter(store))
            writes = [.. Enumerable.Range(0, 200).Select(i => store.Leases.InsertAsync(Lease($"gh_h{i:000}_0123456789"), default))];
        await Task.WhenAll(writes);
        Assert.Equal(new StateWriterStats(200, 1, 0), store.WriterStats);

        using (Factory.HoldWriter(store))
            writes = [.. Enumerable.Range(0, 2 * StoreWriter<SqliteCommand>.MaxBatch + 1).Select(i => store.Leases.DeleteAsync("orders", $"gh_h{i:000}_0123456789", default))];
        await Task.WhenAll(writes);
        Assert.Equal(new StateWriterStats(200 + 2 * StoreWriter<SqliteCommand>.MaxBatch + 1, 1 + 3, 0), store.WriterStats);
        Assert.Empty(await store.Leases.ListAsync(default));
    }

    [Fact]
    public async Task A_new_file_and_its_wal_are_the_owners_only()
    {
        if (OperatingSystem.IsWindows())
            return;
        var store = Open();
        await store.Leases.InsertAsync(Lease("gh_mode_0123456789"), default);

        const UnixFileMode others = UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.OtherRead | UnixFileMode.OtherWrite;
        foreach (var file in new[] { Sqlite.Path, Sqlite.Path + "-wal", Sqlite.Path + "-shm" })
            Assert.Equal((UnixFileMode)0, File.GetUnixFileMode(file) & others);
    }

    [Fact]
    public void The_file_is_in_wal_mode()
    {
        Open();
        using var connection = Sqlite.Connect();

        Assert.Equal("wal", Scalar<string>(connection, "PRAGMA journal_mode"));
        Assert.Equal(16384L, Scalar<long>(connection, "PRAGMA page_size"));
    }

    [Fact]
    public async Task Migrations_are_applied_once_and_recorded()
    {
        var first = Open();
        await first.DisposeAsync();
        var applied = Migrations();

        Assert.Equal(SqliteMigrations.All.Select(m => (m.Version, m.Name)), applied.Select(m => (m.Version, m.Name)));
        var second = Open();
        await second.Leases.InsertAsync(Lease("gh_a_0123456789"), default);
        await second.DisposeAsync();
        Assert.Equal(applied, Migrations());
        Assert.Single(await Open().Leases.ListAsync(default));
    }

    [Fact]
    public async Task Several_instances_opening_a_new_file_at_once_migrate_it_once()
    {
        var stores = await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => Task.Run(Open)));

        Assert.Equal(SqliteMigrations.All.Select(m => m.Version), Migrations().Select(m => m.Version));
        await stores[0].Leases.InsertAsync(Lease("gh_a_0123456789"), default);
        Assert.True(await stores[3].Leases.HasRoleAsync("gh_a_0123456789", default));
    }

    [Fact]
    public async Task A_file_from_before_migrations_is_upgraded_without_losing_rows()
    {
        using (var connection = Sqlite.Connect())
        {
            Execute(connection, PreMigrationSchema);
            Execute(connection, $"""
                INSERT INTO credential_leases VALUES
                  ('gh_old_0123456789', 'orders', 'alice', '["app_read","app_write"]', 'host:1:x', {Now.ToUnixTimeMilliseconds()}, {Now.AddMinutes(-1).ToUnixTimeMilliseconds()})
                """);
        }

        var leases = Open().Leases;

        var row = Assert.Single(await leases.ExpiredAsync("orders", Now, default));
        Assert.Equal(("gh_old_0123456789", "alice", "host:1:x"), (row.Role, row.Subject, row.InstanceId));
        Assert.Equal(["app_read", "app_write"], row.DbRoles);
        Assert.Equal(Now.AddMinutes(-1), row.Expires);
        Assert.Equal(SqliteMigrations.All.Select(m => m.Version), Migrations().Select(m => m.Version));
        Assert.True(await leases.ClaimAsync("orders", "gh_old_0123456789", row.Expires, default));
        await leases.InsertAsync(Lease("gh_new_0123456789"), default);
        Assert.Equal(["gh_new_0123456789"], (await leases.ListAsync(default)).Select(l => l.Role));
    }

    [Fact]
    public async Task A_file_from_a_newer_gatehouse_is_refused()
    {
        await Open().DisposeAsync();
        using (var connection = Sqlite.Connect())
            Execute(connection, "INSERT INTO schema_migrations VALUES (99, 'from the future', 0)");

        var opened = StateStore.Open("sqlite:" + Sqlite.Path);

        Assert.False(opened.Success);
        Assert.Equal(
            $"state: sqlite:{Sqlite.Path} has schema version 99, newer than this Gatehouse knows ({SqliteMigrations.Latest}); run a newer Gatehouse or use another file",
            opened.Error);
    }

    [Fact]
    public void A_file_that_is_not_a_database_is_refused_in_one_line()
    {
        File.WriteAllText(Sqlite.Path, new string('x', 4096));

        var opened = StateStore.Open("sqlite:" + Sqlite.Path);

        Assert.False(opened.Success);
        Assert.StartsWith($"state: cannot open sqlite:{Sqlite.Path}: ", opened.Error, StringComparison.Ordinal);
        Assert.Contains("not a database", opened.Error, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', opened.Error);
    }

    [Fact]
    public void Migrations_are_numbered_from_one_without_gaps()
    {
        Assert.Equal(Enumerable.Range(1, SqliteMigrations.All.Count), SqliteMigrations.All.Select(m => m.Version));
        Assert.All(SqliteMigrations.All, m => Assert.False(string.IsNullOrWhiteSpace(m.Name)));
        Assert.Equal(SqliteMigrations.All.Count, SqliteMigrations.Latest);
    }

    private List<(int Version, string Name, long Applied)> Migrations()
    {
        using var connection = Sqlite.Connect();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT version, name, applied FROM schema_migrations ORDER BY version";
        using var reader = command.ExecuteReader();
        var result = new List<(int, string, long)>();
        while (reader.Read())
            result.Add((reader.GetInt32(0), reader.GetString(1), reader.GetInt64(2)));
        return result;
    }

    private static void Execute(SqliteConnection connection, string sql)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }

    private static T Scalar<T>(SqliteConnection connection, string sql)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        return (T)command.ExecuteScalar()!;
    }
}
