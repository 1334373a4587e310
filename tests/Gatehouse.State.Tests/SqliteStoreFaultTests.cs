using System.Text;
using Microsoft.Data.Sqlite;

namespace Gatehouse.State.Tests;

/// <summary>The SQLite file taken away while the store runs: deleted, replaced, restored.</summary>
public sealed class SqliteStoreFaultTests : StoreContract
{
    public SqliteStoreFaultTests() : base(new SqliteStoreFactory())
    {
    }

    private SqliteStoreFactory Sqlite => (SqliteStoreFactory)Factory;

    private static AuditRow Row(long seq) => new("i1", seq, Now.AddMilliseconds(seq), "statement", "s1", $"{{\"seq\":{seq}}}", Encoding.UTF8.GetBytes($"mac{seq}"));

    private string Gone => $"state: sqlite:{Sqlite.Path} was deleted or replaced while running";

    /// <summary>A consistent copy of the live file (WAL included), as an operator's backup would be.</summary>
    private string Backup()
    {
        var backup = Path.Combine(Sqlite.Directory, "backup.db");
        using var connection = Sqlite.Connect();
        using var command = connection.CreateCommand();
        command.CommandText = $"VACUUM INTO '{backup}'";
        command.ExecuteNonQuery();
        return backup;
    }

    private void DeleteDatabase()
    {
        foreach (var suffix in new[] { "", "-wal", "-shm" })
            File.Delete(Sqlite.Path + suffix);
    }

    [Fact]
    public async Task A_deleted_file_faults_appends_until_it_is_restored()
    {
        var store = Open();
        await store.Audit.AppendAsync([Row(1), Row(2)], default);
        Assert.Equal(2, await store.Audit.ReadChainAsync("i1", 0, default).CountAsync()); // a pooled reader now holds the file
        var backup = Backup();

        DeleteDatabase();

        var error = await Assert.ThrowsAsync<IOException>(() => store.Audit.AppendAsync([Row(3)], default));
        Assert.Equal(Gone, error.Message);
        error = await Assert.ThrowsAsync<IOException>(() => store.Leases.InsertAsync(new LeaseRecord("gh_a_0123456789", "orders", "a", [], "i1", Now, Now), default));
        Assert.Equal(Gone, error.Message);
        // A read fails too (not served from the deleted file), and leaves no empty database behind for the writer to adopt.
        error = await Assert.ThrowsAsync<IOException>(async () => await store.Audit.ReadChainAsync("i1", 0, default).ToListAsync());
        Assert.Equal(Gone, error.Message);
        Assert.False(File.Exists(Sqlite.Path));
        Assert.Equal(2, store.WriterStats.FailedWrites);

        File.Copy(backup, Sqlite.Path);

        await store.Audit.AppendAsync([Row(3)], default);
        Assert.Equal([1, 2, 3], (await store.Audit.ReadChainAsync("i1", 0, default).ToListAsync()).Select(r => r.Seq));
        await using var reopened = Sqlite.Open();
        Assert.Equal(3, await reopened.Audit.ReadChainAsync("i1", 0, default).CountAsync());
    }

    [Fact]
    public async Task A_replaced_file_faults_one_batch_then_the_new_file_is_used()
    {
        var store = Open();
        await store.Audit.AppendAsync([Row(1)], default);
        var backup = Backup();
        await store.Audit.AppendAsync([Row(2)], default);

        // An operator puts the backup in place with a rename: the path now names another file.
        File.Move(backup, Sqlite.Path, overwrite: true);
        File.Delete(Sqlite.Path + "-wal");
        File.Delete(Sqlite.Path + "-shm");

        var error = await Assert.ThrowsAsync<IOException>(() => store.Audit.AppendAsync([Row(2)], default));
        Assert.Equal(Gone, error.Message);
        await store.Audit.AppendAsync([Row(2)], default);
        Assert.Equal([1, 2], (await store.Audit.ReadChainAsync("i1", 0, default).ToListAsync()).Select(r => r.Seq));
    }

    [Fact]
    public async Task A_new_empty_file_at_the_path_is_migrated_before_use()
    {
        var store = Open();
        await store.Audit.AppendAsync([Row(1)], default);
        DeleteDatabase();
        await Assert.ThrowsAsync<IOException>(() => store.Audit.AppendAsync([Row(2)], default));

        File.WriteAllBytes(Sqlite.Path, []);

        await store.Audit.AppendAsync([Row(2)], default);
        Assert.Equal([2], (await store.Audit.ReadChainAsync("i1", 0, default).ToListAsync()).Select(r => r.Seq));
    }

    [Fact]
    public async Task A_file_that_is_not_a_database_at_the_path_faults_writes_with_sqlites_error()
    {
        var store = Open();
        DeleteDatabase();
        await File.WriteAllTextAsync(Sqlite.Path, new string('x', 4096));

        var error = await Assert.ThrowsAsync<IOException>(() => store.Audit.AppendAsync([Row(1)], default));
        Assert.Equal(Gone, error.Message);
        error = await Assert.ThrowsAsync<IOException>(() => store.Audit.AppendAsync([Row(1)], default));
        Assert.StartsWith($"state: cannot open sqlite:{Sqlite.Path}: ", error.Message, StringComparison.Ordinal);
        Assert.Contains("not a database", error.Message, StringComparison.Ordinal);
    }
}
