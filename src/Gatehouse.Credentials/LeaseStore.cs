using System.Text.Json;
using Microsoft.Data.Sqlite;

namespace Gatehouse.Credentials;

/// <summary>One lease as recorded in the state store. <see cref="DbRoles"/> is sorted and distinct.</summary>
public sealed record LeaseRecord(
    string Role,
    string Target,
    string Subject,
    IReadOnlyList<string> DbRoles,
    string InstanceId,
    DateTimeOffset Created,
    DateTimeOffset Expires);

/// <summary>
/// Leases in the state store, so a crash leaves a record the reaper can act on and several instances
/// sharing the store can tell live roles from leftovers. Rows hold no password. A row is removed once its
/// role is gone; the conditional delete in <see cref="ClaimAsync"/> makes exactly one reaper drop a role.
/// </summary>
public sealed class LeaseStore
{
    private readonly string _connectionString;

    private LeaseStore(string connectionString) => _connectionString = connectionString;

    /// <summary>Opens the store a <c>state:</c> URI names. Only <c>sqlite:PATH</c> is supported so far.</summary>
    public static LeaseStore Open(string state)
    {
        if (state.StartsWith("sqlite:", StringComparison.OrdinalIgnoreCase))
            return OpenSqlite(state["sqlite:".Length..]);
        if (state.StartsWith("postgres://", StringComparison.OrdinalIgnoreCase) || state.StartsWith("postgresql://", StringComparison.OrdinalIgnoreCase))
            throw new NotSupportedException("credential leases cannot be kept in a postgres:// state store yet; use state: sqlite:PATH");
        throw new ArgumentException("the state store must be sqlite:PATH or postgres://…", nameof(state));
    }

    public static LeaseStore OpenSqlite(string path)
    {
        var full = Path.GetFullPath(path);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        var cs = new SqliteConnectionStringBuilder
        {
            DataSource = full,
            Mode = SqliteOpenMode.ReadWriteCreate,
            Pooling = true,
            DefaultTimeout = 30,
        }.ToString();
        var store = new LeaseStore(cs);
        store.Initialize();
        return store;
    }

    public async Task InsertAsync(LeaseRecord lease, CancellationToken ct)
    {
        await using var conn = await OpenAsync(ct);
        await using var cmd = conn.CreateCommand();
        cmd.CommandText = """
            INSERT INTO credential_leases (role, target, subject, db_roles, instance_id, created, expires)
            VALUES ($role, $target, $subject, $roles, $instance, $created, $expires)
            """;
        cmd.Parameters.AddWithValue("$role", lease.Role);
        cmd.Parameters.AddWithValue("$target", lease.Target);
        cmd.Parameters.AddWithValue("$subject", lease.Subject);
        cmd.Parameters.AddWithValue("$roles", JsonSerializer.Serialize(lease.DbRoles));
        cmd.Parameters.AddWithValue("$instance", lease.InstanceId);
        cmd.Parameters.AddWithValue("$created", lease.Created.ToUnixTimeMilliseconds());
        cmd.Parameters.AddWithValue("$expires", lease.Expires.ToUnixTimeMilliseconds());
        await cmd.ExecuteNonQueryAsync(ct);
    }

    /// <summary>Moves a lease's expiry; false when the row is gone (another reaper claimed it).</summary>
    public async Task<bool> RenewAsync(string target, string role, DateTimeOffset expires, CancellationToken ct)
    {
        await using var conn = await OpenAsync(ct);
        await using var cmd = conn.CreateCommand();
        cmd.CommandText = "UPDATE credential_leases SET expires = $expires WHERE target = $target AND role = $role";
        cmd.Parameters.AddWithValue("$expires", expires.ToUnixTimeMilliseconds());
        cmd.Parameters.AddWithValue("$target", target);
        cmd.Parameters.AddWithValue("$role", role);
        return await cmd.ExecuteNonQueryAsync(ct) == 1;
    }

    /// <summary>
    /// Removes the row if it still has the expiry the caller saw. True means the caller, and no one else,
    /// now owns dropping the role; false means it was renewed or claimed meanwhile.
    /// </summary>
    public async Task<bool> ClaimAsync(string target, string role, DateTimeOffset seenExpires, CancellationToken ct)
    {
        await using var conn = await OpenAsync(ct);
        await using var cmd = conn.CreateCommand();
        cmd.CommandText = "DELETE FROM credential_leases WHERE target = $target AND role = $role AND expires = $expires";
        cmd.Parameters.AddWithValue("$target", target);
        cmd.Parameters.AddWithValue("$role", role);
        cmd.Parameters.AddWithValue("$expires", seenExpires.ToUnixTimeMilliseconds());
        return await cmd.ExecuteNonQueryAsync(ct) == 1;
    }

    public async Task DeleteAsync(string target, string role, CancellationToken ct)
    {
        await using var conn = await OpenAsync(ct);
        await using var cmd = conn.CreateCommand();
        cmd.CommandText = "DELETE FROM credential_leases WHERE target = $target AND role = $role";
        cmd.Parameters.AddWithValue("$target", target);
        cmd.Parameters.AddWithValue("$role", role);
        await cmd.ExecuteNonQueryAsync(ct);
    }

    /// <summary>Leases of a target whose expiry is at or before <paramref name="now"/>, any instance.</summary>
    public Task<IReadOnlyList<LeaseRecord>> ExpiredAsync(string target, DateTimeOffset now, CancellationToken ct) =>
        QueryAsync("WHERE target = $target AND expires <= $now", ct, ("$target", target), ("$now", now.ToUnixTimeMilliseconds()));

    /// <summary>Every recorded lease, e.g. for metrics.</summary>
    public Task<IReadOnlyList<LeaseRecord>> ListAsync(CancellationToken ct) => QueryAsync("", ct);

    /// <summary>Whether any target has a lease row for this role name.</summary>
    public async Task<bool> HasRoleAsync(string role, CancellationToken ct)
    {
        await using var conn = await OpenAsync(ct);
        await using var cmd = conn.CreateCommand();
        cmd.CommandText = "SELECT EXISTS (SELECT 1 FROM credential_leases WHERE role = $role)";
        cmd.Parameters.AddWithValue("$role", role);
        return Convert.ToInt64(await cmd.ExecuteScalarAsync(ct), System.Globalization.CultureInfo.InvariantCulture) == 1;
    }

    private async Task<IReadOnlyList<LeaseRecord>> QueryAsync(string where, CancellationToken ct, params (string Name, object Value)[] parameters)
    {
        await using var conn = await OpenAsync(ct);
        await using var cmd = conn.CreateCommand();
        cmd.CommandText = $"SELECT role, target, subject, db_roles, instance_id, created, expires FROM credential_leases {where} ORDER BY expires";
        foreach (var (name, value) in parameters)
            cmd.Parameters.AddWithValue(name, value);
        var result = new List<LeaseRecord>();
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
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
    }

    private async Task<SqliteConnection> OpenAsync(CancellationToken ct)
    {
        var conn = new SqliteConnection(_connectionString);
        await conn.OpenAsync(ct);
        return conn;
    }

    private void Initialize()
    {
        using var conn = new SqliteConnection(_connectionString);
        conn.Open();
        using var cmd = conn.CreateCommand();
        cmd.CommandText = """
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
        cmd.ExecuteNonQuery();
    }
}
