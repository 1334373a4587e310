using System.Data.Common;
using System.Text.Json;

namespace Gatehouse.State.Sql;

/// <summary>Leases in <c>credential_leases</c> (SQLite) or <c>gatehouse_credential_leases</c> (PostgreSQL): writes through the store's writer, reads on their own connections.</summary>
internal sealed class SqlLeaseStore(ISqlStore store) : ILeaseStore
{
    private const string Columns = "role, target, subject, db_roles, instance_id, created, expires";
    private readonly string _table = store.Dialect.Table("credential_leases");
    private readonly SqlDialect _dialect = store.Dialect;

    public Task InsertAsync(LeaseRecord lease, CancellationToken ct)
    {
        var roles = JsonSerializer.Serialize(lease.DbRoles);
        return store.WriteAsync((cmd, token) =>
        {
            cmd.CommandText = $"INSERT INTO {_table} ({Columns}) VALUES (@role, @target, @subject, @roles, @instance, @created, @expires)";
            SqlDialect.Add(cmd, "@role", lease.Role);
            SqlDialect.Add(cmd, "@target", lease.Target);
            SqlDialect.Add(cmd, "@subject", lease.Subject);
            SqlDialect.Add(cmd, "@roles", roles);
            SqlDialect.Add(cmd, "@instance", lease.InstanceId);
            SqlDialect.Add(cmd, "@created", _dialect.Time(lease.Created));
            SqlDialect.Add(cmd, "@expires", _dialect.Time(lease.Expires));
            return cmd.ExecuteNonQueryAsync(token);
        }, ct);
    }

    public async Task<bool> RenewAsync(string target, string role, DateTimeOffset expires, CancellationToken ct) =>
        await store.WriteAsync((cmd, token) =>
        {
            cmd.CommandText = $"UPDATE {_table} SET expires = @expires WHERE target = @target AND role = @role";
            SqlDialect.Add(cmd, "@expires", _dialect.Time(expires));
            SqlDialect.Add(cmd, "@target", target);
            SqlDialect.Add(cmd, "@role", role);
            return cmd.ExecuteNonQueryAsync(token);
        }, ct) == 1;

    public async Task<bool> ClaimAsync(string target, string role, DateTimeOffset seenExpires, CancellationToken ct) =>
        await store.WriteAsync((cmd, token) =>
        {
            cmd.CommandText = $"DELETE FROM {_table} WHERE target = @target AND role = @role AND expires = @expires";
            SqlDialect.Add(cmd, "@target", target);
            SqlDialect.Add(cmd, "@role", role);
            SqlDialect.Add(cmd, "@expires", _dialect.Time(seenExpires));
            return cmd.ExecuteNonQueryAsync(token);
        }, ct) == 1;

    public Task DeleteAsync(string target, string role, CancellationToken ct) =>
        store.WriteAsync((cmd, token) =>
        {
            cmd.CommandText = $"DELETE FROM {_table} WHERE target = @target AND role = @role";
            SqlDialect.Add(cmd, "@target", target);
            SqlDialect.Add(cmd, "@role", role);
            return cmd.ExecuteNonQueryAsync(token);
        }, ct);

    public Task<IReadOnlyList<LeaseRecord>> ExpiredAsync(string target, DateTimeOffset now, CancellationToken ct) =>
        QueryAsync("WHERE target = @target AND expires <= @now", ct, ("@target", target), ("@now", _dialect.Time(now)));

    public Task<IReadOnlyList<LeaseRecord>> ListAsync(CancellationToken ct) => QueryAsync("", ct);

    public Task<bool> HasRoleAsync(string role, CancellationToken ct) =>
        store.ReadAsync(async (cmd, token) =>
        {
            cmd.CommandText = $"SELECT 1 FROM {_table} WHERE role = @role LIMIT 1";
            SqlDialect.Add(cmd, "@role", role);
            return await cmd.ExecuteScalarAsync(token) is not null;
        }, ct);

    private Task<IReadOnlyList<LeaseRecord>> QueryAsync(string where, CancellationToken ct, params (string Name, object Value)[] parameters) =>
        store.ReadAsync<IReadOnlyList<LeaseRecord>>(async (cmd, token) =>
        {
            cmd.CommandText = $"SELECT {Columns} FROM {_table} {where} ORDER BY expires, target, role";
            foreach (var (name, value) in parameters)
                SqlDialect.Add(cmd, name, value);
            var result = new List<LeaseRecord>();
            await using var reader = await cmd.ExecuteReaderAsync(token);
            while (await reader.ReadAsync(token))
                result.Add(Read(reader));
            return result;
        }, ct);

    private LeaseRecord Read(DbDataReader reader) => new(
        reader.GetString(0),
        reader.GetString(1),
        reader.GetString(2),
        JsonSerializer.Deserialize<string[]>(reader.GetString(3)) ?? [],
        reader.GetString(4),
        _dialect.ReadTime(reader, 5),
        _dialect.ReadTime(reader, 6));
}
