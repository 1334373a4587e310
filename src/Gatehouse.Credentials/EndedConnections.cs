using System.Data;
using System.Net.Sockets;
using Npgsql;

namespace Gatehouse.Credentials;

/// <summary>
/// Gatehouse's own pooled connections (the provisioner's, the masking catalog's) may be ones the server has already
/// ended while they sat idle: pg_terminate_backend, a restart or failover, idle_session_timeout. Their first use then
/// fails with 57P01/57P02/57P05 or a broken socket, before the action reached the server. This runs the action once
/// more on a fresh connection after clearing the pool (its other idle connections died the same way), so a client
/// never sees it; after an upstream restart, work succeeds as soon as the server accepts connections again.
/// </summary>
public static class EndedConnections
{
    public static async ValueTask<T> RetryOnceAsync<T>(NpgsqlDataSource dataSource, Func<NpgsqlConnection, ValueTask<T>> action, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(dataSource);
        ArgumentNullException.ThrowIfNull(action);
        for (var attempt = 0; ; attempt++)
        {
            await using var conn = await dataSource.OpenConnectionAsync(ct);
            try
            {
                return await action(conn);
            }
            catch (NpgsqlException ex) when (attempt == 0 && !ct.IsCancellationRequested && EndedByServer(ex, conn))
            {
                dataSource.Clear();
            }
        }
    }

    private static bool EndedByServer(NpgsqlException ex, NpgsqlConnection conn) => ex is PostgresException pg
        ? pg.SqlState is PostgresErrorCodes.AdminShutdown or PostgresErrorCodes.CrashShutdown or "57P05"
        : conn.FullState.HasFlag(ConnectionState.Broken) && ex.InnerException is IOException or SocketException or EndOfStreamException;
}
