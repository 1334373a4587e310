using System.Data.Common;
using Gatehouse.State.Sql;

namespace Gatehouse.State.Postgres;

/// <summary>
/// The shared review repository, telling every instance on the database about each change: a
/// <c>NOTIFY gatehouse_reviews, 'id'</c> inside the change's own transaction (PostgreSQL delivers it at COMMIT,
/// and only then), heard by each store's <see cref="PostgresNotificationListener"/>, which signals that store's waiters.
/// </summary>
internal sealed class PostgresReviewStore(ISqlStore store, PostgresNotificationListener listener, ChangeSignal changed) : SqlReviewStore(store, changed)
{
    public const string Channel = "gatehouse_reviews";

    public override Task WaitForChangeAsync(CancellationToken ct)
    {
        var wait = Changed.WaitAsync(ct);
        listener.Start(); // the first waiter opens the LISTEN connection; a store never waited on needs none
        return wait;
    }

    // A wait that ends at once starts the listener, as the first real wait would.
    public override void Listen() => _ = WaitForChangeAsync(new CancellationToken(canceled: true));

    protected override async Task NotifyAsync(DbCommand cmd, string id, CancellationToken ct)
    {
        cmd.CommandText = $"SELECT pg_notify('{Channel}', @id)";
        SqlDialect.Add(cmd, "@id", id);
        await cmd.ExecuteNonQueryAsync(ct);
    }
}
