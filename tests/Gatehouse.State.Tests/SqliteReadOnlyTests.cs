using Gatehouse.Testing;
using Microsoft.Data.Sqlite;

namespace Gatehouse.State.Tests;

/// <summary>
/// The SQLite file and its WAL made read-only while the store runs. Root ignores file modes, so this uses the
/// immutable attribute (chattr +i: root and an ext2/3/4 or similar file system, as the tests run here).
/// </summary>
public sealed class SqliteReadOnlyTests : IAsyncLifetime
{
    private const string Needs = "root and a file system with the immutable attribute";

    private readonly SqliteStoreFactory _factory = new();

    private static AuditRow Row(long seq) => new("i1", seq, DateTimeOffset.UnixEpoch.AddMilliseconds(seq), "statement", null, "{}", [1]);

    public Task InitializeAsync() => Task.CompletedTask;

    [Fact]
    public async Task A_file_made_read_only_faults_appends_and_writable_again_they_succeed()
    {
        await using var store = _factory.Open();
        await store.Audit.AppendAsync([Row(1)], default);

        await RootTool.RunAsync(Needs, "chattr", "+i", _factory.Path, _factory.Path + "-wal");
        try
        {
            var error = await Assert.ThrowsAnyAsync<SqliteException>(() => store.Audit.AppendAsync([Row(2)], default));
            Assert.Equal((10, 778), (error.SqliteErrorCode, error.SqliteExtendedErrorCode)); // SQLITE_IOERR_WRITE: the WAL cannot be written
            await Assert.ThrowsAnyAsync<SqliteException>(() => store.Audit.AppendAsync([Row(2)], default));
            Assert.Equal([1], (await store.Audit.ReadChainAsync("i1", 0, default).ToListAsync()).Select(r => r.Seq));
        }
        finally
        {
            await RootTool.RunAsync(Needs, "chattr", "-i", _factory.Path, _factory.Path + "-wal");
        }

        await store.Audit.AppendAsync([Row(2)], default);
        Assert.Equal([1, 2], (await store.Audit.ReadChainAsync("i1", 0, default).ToListAsync()).Select(r => r.Seq));
    }

    public async Task DisposeAsync() => await _factory.DisposeAsync();
}
