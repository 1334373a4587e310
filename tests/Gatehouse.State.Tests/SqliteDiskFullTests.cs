using Gatehouse.Testing;
using Microsoft.Data.Sqlite;

namespace Gatehouse.State.Tests;

/// <summary>
/// A SQLite store on a 1 MiB tmpfs that fills up: appends fault with SQLITE_FULL, nothing acknowledged is lost,
/// and appends succeed again once there is room. Mounting needs root (as the tests run here).
/// </summary>
public sealed class SqliteDiskFullTests : IAsyncLifetime
{
    private const string Needs = "root, to mount a tmpfs";

    private readonly string _mount = Directory.CreateTempSubdirectory("gatehouse-state-full-").FullName;

    public Task InitializeAsync() => RootTool.RunAsync(Needs, "mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", _mount);

    [Fact]
    public async Task A_full_disk_faults_appends_and_room_brings_them_back()
    {
        var opened = StateStore.Open("sqlite:" + Path.Combine(_mount, "state.db"));
        Assert.True(opened.Success, opened.Error);
        await using var store = opened.Store;
        var body = new string('x', 8_000);

        long acknowledged = 0;
        SqliteException? full = null;
        for (var seq = 1; seq <= 1_000 && full is null; seq++)
        {
            try
            {
                await store.Audit.AppendAsync([new AuditRow("i1", seq, DateTimeOffset.UnixEpoch, "statement", null, body, [1])], default);
                acknowledged = seq;
            }
            catch (SqliteException ex)
            {
                full = ex;
            }
        }

        Assert.NotNull(full);
        Assert.Equal(13, full.SqliteErrorCode); // SQLITE_FULL
        Assert.InRange(acknowledged, 3, 200); // 8 KB rows in 16 KiB pages, WAL and all, on 1 MiB
        await Assert.ThrowsAsync<SqliteException>(() => store.Audit.AppendAsync([new AuditRow("i1", acknowledged + 1, DateTimeOffset.UnixEpoch, "statement", null, body, [1])], default));

        await RootTool.RunAsync(Needs, "mount", "-o", "remount,size=16m", _mount);

        await store.Audit.AppendAsync([new AuditRow("i1", acknowledged + 1, DateTimeOffset.UnixEpoch, "statement", null, body, [1])], default);
        Assert.Equal(Enumerable.Range(1, (int)acknowledged + 1).Select(i => (long)i), (await store.Audit.ReadChainAsync("i1", 0, default).ToListAsync()).Select(r => r.Seq));
    }

    public async Task DisposeAsync()
    {
        SqliteConnection.ClearAllPools();
        await RootTool.RunAsync(Needs, "umount", _mount);
        Directory.Delete(_mount);
    }
}
