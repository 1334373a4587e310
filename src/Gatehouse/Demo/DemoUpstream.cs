using System.Security.Cryptography;
using Npgsql;

namespace Gatehouse.Demo;

/// <summary>
/// The PostgreSQL behind the demo gateway, seeded with the shop: a throwaway local cluster (its superuser is the
/// provisioner), or a fresh database on the server of --upstream (its user is the provisioner). Cleanup removes
/// what was made: the cluster, or the database, the demo's roles and the leased roles Gatehouse made for them.
/// </summary>
internal sealed class DemoUpstream
{
    private readonly LocalPostgres? _local;
    private readonly UpstreamUri? _existing;

    private DemoUpstream(LocalPostgres? local, UpstreamUri? existing, string database, string readRole, string writeRole, string version)
    {
        _local = local;
        _existing = existing;
        Database = database;
        ReadRole = readRole;
        WriteRole = writeRole;
        Version = version;
    }

    public string Host => _local?.Host ?? _existing!.Host;

    public int Port => _local?.Port ?? _existing!.Port;

    public string Database { get; }

    public string ReadRole { get; }

    public string WriteRole { get; }

    public string Version { get; }

    public string TlsMode => _existing?.TlsMode ?? "disable";

    public string? RootCertificate => _existing?.RootCertificate;

    public string ProvisionerUser => _local?.SuperUser ?? _existing!.User;

    public string ProvisionerPassword => _local?.Password ?? _existing!.Password;

    /// <summary>True for --upstream: the password is passed in this process's environment, never written to disk.</summary>
    public bool PasswordInEnvironment => _existing is not null;

    /// <summary>The throwaway cluster's data folder, or null for --upstream.</summary>
    public string? DataDirectory => _local?.DataDirectory;

    public string Describe() => _local is not null
        ? $"PostgreSQL {Version} (throwaway) on {Host}:{Port}, database {Database}, log {_local.LogFile}"
        : $"PostgreSQL {Version} at {_existing!.Display}, demo database {Database} (dropped at exit)";

    /// <summary>The superuser's connection to the shop database (to read unmasked values the demo compares with).</summary>
    public string ConnectionString() => _local?.ConnectionString(Database) ?? _existing!.ConnectionString(Database);

    public static async Task<(DemoUpstream? Upstream, string Error)> StartLocalAsync(string binDirectory, string directory, CancellationToken ct)
    {
        var (server, error) = await LocalPostgres.StartAsync(binDirectory, directory, port: 0, superUser: "gatehouse_provisioner", password: null, ct);
        if (server is null)
        {
            return (null, error);
        }

        var upstream = new DemoUpstream(server, null, DemoFiles.Target, "app_read", "app_write", server.Version);
        try
        {
            await ExecuteAsync(server.ConnectionString(), $"CREATE DATABASE {DemoFiles.Target}", ct);
            await ExecuteAsync(server.ConnectionString(DemoFiles.Target), DemoFiles.Schema(upstream.ReadRole, upstream.WriteRole, DemoFiles.Target), ct);
            return (upstream, string.Empty);
        }
        catch (NpgsqlException ex)
        {
            await server.StopAsync();
            return (null, $"seeding the shop database failed: {ex.Message}");
        }
    }

    public static async Task<(DemoUpstream? Upstream, string Error)> PrepareExistingAsync(UpstreamUri uri, CancellationToken ct)
    {
        string suffix = Convert.ToHexString(RandomNumberGenerator.GetBytes(4)).ToLowerInvariant();
        string database = $"gatehouse_demo_{suffix}";
        string version;
        try
        {
            await using var connection = new NpgsqlConnection(uri.ConnectionString());
            await connection.OpenAsync(ct);
            await using var check = new NpgsqlCommand("SELECT rolsuper, rolcreaterole, rolcreatedb, current_setting('server_version') FROM pg_roles WHERE rolname = current_user", connection);
            await using (var reader = await check.ExecuteReaderAsync(ct))
            {
                await reader.ReadAsync(ct);
                bool super = reader.GetBoolean(0);
                if (!super && !(reader.GetBoolean(1) && reader.GetBoolean(2)))
                {
                    return (null, $"the --upstream user {uri.User} needs CREATEDB and CREATEROLE (or superuser): the demo creates a database and roles, and Gatehouse creates short-lived login roles");
                }

                version = reader.GetString(3);
            }

            await using var create = new NpgsqlCommand($"CREATE DATABASE {database}", connection);
            await create.ExecuteNonQueryAsync(ct);
        }
        catch (NpgsqlException ex)
        {
            return (null, $"cannot prepare {uri.Display} as {uri.User}: {ex.Message}");
        }

        var upstream = new DemoUpstream(null, uri, database, $"gatehouse_demo_{suffix}_read", $"gatehouse_demo_{suffix}_write", version);
        try
        {
            await ExecuteAsync(uri.ConnectionString(database), DemoFiles.Schema(upstream.ReadRole, upstream.WriteRole, database), ct);
            return (upstream, string.Empty);
        }
        catch (NpgsqlException ex)
        {
            await upstream.CleanupAsync(TextWriter.Null);
            return (null, $"seeding {database} on {uri.Display} failed: {ex.Message}");
        }
    }

    /// <summary>Removes what the demo made upstream. Problems are reported on <paramref name="warnings"/>, never thrown.</summary>
    public async Task CleanupAsync(TextWriter warnings)
    {
        if (_local is not null)
        {
            await _local.StopAsync();
            return;
        }

        var uri = _existing!;
        try
        {
            await using var connection = new NpgsqlConnection(uri.ConnectionString());
            await connection.OpenAsync();
            await RunAsync(connection, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = @name AND pid <> pg_backend_pid()", Database);
            await RunAsync(connection, $"DROP DATABASE IF EXISTS {Database}");
            // The leased roles Gatehouse made for the demo are members of its roles: they go with them.
            var leased = new List<string>();
            await using (var find = new NpgsqlCommand(
                """
                SELECT DISTINCT m.rolname FROM pg_auth_members a
                JOIN pg_roles m ON m.oid = a.member JOIN pg_roles g ON g.oid = a.roleid
                WHERE g.rolname IN (@read, @write) AND m.rolname LIKE 'gh\_%'
                """, connection))
            {
                find.Parameters.AddWithValue("read", ReadRole);
                find.Parameters.AddWithValue("write", WriteRole);
                await using var reader = await find.ExecuteReaderAsync();
                while (await reader.ReadAsync())
                {
                    leased.Add(reader.GetString(0));
                }
            }

            foreach (string role in leased.Append(ReadRole).Append(WriteRole))
            {
                await RunAsync(connection, $"DROP ROLE IF EXISTS \"{role.Replace("\"", "\"\"", StringComparison.Ordinal)}\"");
            }
        }
        catch (NpgsqlException ex)
        {
            await warnings.WriteLineAsync($"gatehouse: demo: cleanup on {uri.Display} failed ({ex.Message}); drop database {Database} and roles {ReadRole}, {WriteRole} and their gh_* members by hand");
        }
    }

    private static async Task ExecuteAsync(string connectionString, string sql, CancellationToken ct)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync(ct);
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync(ct);
    }

    private static async Task RunAsync(NpgsqlConnection connection, string sql, string? name = null)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        if (name is not null)
        {
            command.Parameters.AddWithValue("name", name);
        }

        await command.ExecuteNonQueryAsync();
    }
}
