using System.Globalization;
using System.Text.Json;
using Microsoft.Data.Sqlite;

namespace Gatehouse.State.Sqlite;

/// <summary>Leases in <c>credential_leases</c>: writes through the store's writer, reads on their own connections.</summary>
internal sealed class SqliteLeaseStore(SqliteStateStore store) : ILeaseStore
{
    private const string Columns = "role, target, subject, db_roles, instance_id, created, expires";

    public Task InsertAsync(LeaseRecord lease, CancellationToken ct)
    {
        var roles = JsonSerializer.Serialize(lease.DbRoles);
        return store.WriteAsync((cmd, token) =>
        {
            cmd.CommandText = $"INSERT INTO credential_leases ({Columns}) VALUES ($role, $target, $subject, $roles, $instance, $created, $expires)";
            cmd.Parameters.AddWithValue("$role", lease.Role);
            cmd.Parameters.AddWithValue("$target", lease.Target);
            cmd.Parameters.AddWithValue("$subject", lease.Subject);
            cmd.Parameters.AddWithValue("$roles", roles);
            cmd.Parameters.AddWithValue("$instance", lease.InstanceId);
            cmd.Parameters.AddWithValue("$created", lease.Created.ToUnixTimeMilliseconds());
            cmd.Parameters.AddWithValue("$expires", lease.Expires.ToUnixTimeMilliseconds());
            return cmd.ExecuteNonQueryAsync(token);
        }, ct);
    }

    public async Task<bool> RenewAsync(string target, string role, DateTimeOffset expires, CancellationToken ct) =>
        await store.WriteAsync((cmd, token) =>
        {
            cmd.CommandText = "UPDATE credential_leases SET expires = $expires WHERE target = $target AND role = $role";
            cmd.Parameters.AddWithValue("$expires", expires.ToUnixTimeMilliseconds());
            cmd.Parameters.AddWithValue("$target", target);
            cmd.Parameters.AddWithValue("$role", role);
            return cmd.ExecuteNonQueryAsync(token);
        }, ct) == 1;

    public async Task<bool> ClaimAsync(string target, string role, DateTimeOffset seenExpires, CancellationToken ct) =>
        await store.WriteAsync((cmd, token) =>
        {
            cmd.CommandText = "DELETE FROM credential_leases WHERE target = $target AND role = $role AND expires = $expires";
            cmd.Parameters.AddWithValue("$target", target);
            cmd.Parameters.AddWithValue("$role", role);
            cmd.Parameters.AddWithValue("$expires", seenExpires.ToUnixTimeMilliseconds());
            return cmd.ExecuteNonQueryAsync(token);
        }, ct) == 1;

    public Task DeleteAsync(string target, string role, CancellationToken ct) =>
        store.WriteAsync((cmd, token) =>
        {
            cmd.CommandText = "DELETE FROM credential_leases WHERE target = $target AND role = $role";
            cmd.Parameters.AddWithValue("$target", target);
            cmd.Parameters.AddWithValue("$role", role);
            return cmd.ExecuteNonQueryAsync(token);
        }, ct);

    public Task<IReadOnlyList<LeaseRecord>> ExpiredAsync(string target, DateTimeOffset now, CancellationToken ct) =>
        QueryAsync("WHERE target = $target AND expires <= $now", ct, ("$target", target), ("$now", now.ToUnixTimeMilliseconds()));

    public Task<IReadOnlyList<LeaseRecord>> ListAsync(CancellationToken ct) => QueryAsync("", ct);

    public Task<bool> HasRoleAsync(string role, CancellationToken ct) =>
        store.ReadAsync(async (cmd, token) =>
        {
            cmd.CommandText = "SELECT EXISTS (SELECT 1 FROM credential_leases WHERE role = $role)";
            cmd.Parameters.AddWithValue("$role", role);
            return Convert.ToInt64(await cmd.ExecuteScalarAsync(token), CultureInfo.InvariantCulture) == 1;
        }, ct);

    private Task<IReadOnlyList<LeaseRecord>> QueryAsync(string where, CancellationToken ct, params (string Name, object Value)[] parameters) =>
        store.ReadAsync<IReadOnlyList<LeaseRecord>>(async (cmd, token) =>
        {
            cmd.CommandText = $"SELECT {Columns} FROM credential_leases {where} ORDER BY expires, target, role";
            foreach (var (name, value) in parameters)
                cmd.Parameters.AddWithValue(name, value);
            var result = new List<LeaseRecord>();
            await using var reader = await cmd.ExecuteReaderAsync(token);
            while (await reader.ReadAsync(token))
            {
                result.Add(new LeaseRecord(
                    reader.GetString(0),
                    reader.GetString(1),
                    reader.GetString(2),
                    JsonSerializer.Deserialize<string[]>(reader.GetString(3)) ?? [],
                    reader.GetString(4),
                    DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(5)),
                    DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(6))));
            }
            return result;
        }, ct);
}
