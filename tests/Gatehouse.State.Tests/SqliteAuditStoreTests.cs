using System.Globalization;
using Gatehouse.State.Sqlite;

namespace Gatehouse.State.Tests;

public sealed class SqliteAuditStoreTests() : AuditStoreContract(new SqliteStoreFactory())
{
    [Theory]
    [InlineData(AuditDurability.Process, 1)] // NORMAL: in WAL, synced at checkpoints only
    [InlineData(AuditDurability.Os, 2)]      // FULL: the WAL is synced at every commit
    public async Task Durability_sets_the_writer_connections_synchronous_mode(AuditDurability durability, long expected)
    {
        await using var factory = new SqliteStoreFactory(new StateStoreOptions { Durability = durability });
        await using var store = (SqliteStateStore)factory.Open();

        var mode = await store.WriteAsync(async (cmd, ct) =>
        {
            cmd.CommandText = "PRAGMA synchronous";
            return Convert.ToInt64(await cmd.ExecuteScalarAsync(ct), CultureInfo.InvariantCulture);
        }, default);

        Assert.Equal(expected, mode);
    }

    [Fact]
    public void Without_options_the_durability_is_process()
    {
        Assert.Equal(AuditDurability.Process, new StateStoreOptions().Durability);
    }
}
