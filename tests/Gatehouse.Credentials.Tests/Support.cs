using System.Collections.Concurrent;
using Gatehouse.Protocol;
using Gatehouse.State;
using Gatehouse.Testing;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace Gatehouse.Credentials.Tests;

/// <summary>A clock that moves only when told to; starts at the real time so VALID UNTIL values stay sensible.</summary>
internal sealed class ManualTime : TimeProvider
{
    private DateTimeOffset _now = DateTimeOffset.UtcNow;

    public override DateTimeOffset GetUtcNow() => _now;

    public void Advance(TimeSpan by) => _now += by;

    /// <summary>To <paramref name="offset"/> into the next rotation period of length <paramref name="every"/>.</summary>
    public void AdvanceIntoNextPeriod(TimeSpan every, TimeSpan offset) =>
        _now = RotationPeriods.Start(RotationPeriods.Number(_now, every) + 1, every) + offset;
}

/// <summary>Keeps every formatted log line, so tests can check what was (and was not) logged.</summary>
internal sealed class ListLogger<T> : ILogger<T>
{
    public ConcurrentQueue<string> Lines { get; } = new();

    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => true;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
        Lines.Enqueue($"{logLevel}: {formatter(state, exception)}");

    public string All => string.Join('\n', Lines);
}

[CollectionDefinition(Name)]
public sealed class PostgresCollection : ICollectionFixture<PostgresFixture>
{
    public const string Name = "postgres";
}

/// <summary>
/// One real PostgreSQL for all database tests (they run one after another), logging every statement.
/// Roles: gatehouse_provisioner (CREATEROLE), weak_provisioner (no CREATEROLE), app_read, app_write.
/// </summary>
public sealed class PostgresFixture : IAsyncLifetime
{
    public const string ProvisionerPassword = "prov-Secret-7d1f3";
    public const string WeakPassword = "weak-Secret-91ac";

    public PostgresServer Server { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Server = await PostgresServer.StartAsync(new PostgresServerOptions
        {
            HostAuthMethod = "scram-sha-256",
            Settings = new Dictionary<string, string> { ["log_statement"] = "all", ["log_connections"] = "on" },
        });
        // Even the fixture's own passwords go in as verifiers, so the server log holds no plaintext at all.
        await Server.ExecuteAsync($"""
            CREATE ROLE gatehouse_provisioner LOGIN CREATEROLE PASSWORD '{ScramKeys.Verifier(ProvisionerPassword)}';
            CREATE ROLE weak_provisioner LOGIN PASSWORD '{ScramKeys.Verifier(WeakPassword)}';
            CREATE ROLE app_read NOLOGIN;
            CREATE ROLE app_write NOLOGIN;
            CREATE TABLE items (id int PRIMARY KEY, name text);
            INSERT INTO items VALUES (1, 'one');
            GRANT SELECT ON items TO app_read;
            GRANT INSERT ON items TO app_write;
            GRANT CREATE ON SCHEMA public TO app_write;
            """);
    }

    public Task DisposeAsync() => Server.DisposeAsync().AsTask();

    public CredentialTarget Target(string name = "orders", Func<CredentialTarget, CredentialTarget>? change = null)
    {
        var target = new CredentialTarget
        {
            Name = name,
            Host = Server.Host,
            Port = Server.Port,
            Database = "postgres",
            SslMode = SslMode.Disable,
            ProvisionerUser = "gatehouse_provisioner",
            ProvisionerPassword = () => ProvisionerPassword,
            Ttl = TimeSpan.FromMinutes(15),
        };
        return change?.Invoke(target) ?? target;
    }

    /// <summary>Null when the login works, else the SQLSTATE it failed with.</summary>
    public async Task<string?> TryLoginAsync(string user, string password)
    {
        try
        {
            await using var conn = await OpenAsAsync(user, password);
            return null;
        }
        catch (PostgresException ex)
        {
            return ex.SqlState;
        }
    }

    public async Task<NpgsqlConnection> OpenAsAsync(string user, string password)
    {
        var cs = new NpgsqlConnectionStringBuilder
        {
            Host = Server.Host,
            Port = Server.Port,
            Database = "postgres",
            Username = user,
            Password = password,
            SslMode = SslMode.Disable,
            Pooling = false,
        };
        var conn = new NpgsqlConnection(cs.ConnectionString);
        await conn.OpenAsync();
        return conn;
    }

    public async Task<bool> RoleExistsAsync(string role) =>
        await Server.ScalarAsync<bool>($"SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{role}')");

    public async Task<long> GhRoleCountAsync(string slug) =>
        await Server.ScalarAsync<long>($"SELECT count(*) FROM pg_roles WHERE rolname LIKE 'gh\\_{slug}\\_%'");

    public async Task<string[]> MembershipsAsync(string role)
    {
        await using var conn = new NpgsqlConnection(Server.ConnectionString());
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand(
            "SELECT g.rolname FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid JOIN pg_roles r ON r.oid = m.member WHERE r.rolname = $1 ORDER BY 1", conn);
        cmd.Parameters.Add(new NpgsqlParameter { Value = role });
        var result = new List<string>();
        await using var reader = await cmd.ExecuteReaderAsync();
        while (await reader.ReadAsync())
            result.Add(reader.GetString(0));
        return [.. result];
    }

    public string ServerLog()
    {
        using var stream = new FileStream(Server.LogFile, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }
}

/// <summary>A broker over a fresh SQLite store in a temp folder, with a manual clock and a capturing logger.</summary>
internal sealed class BrokerHarness : IAsyncDisposable
{
    private readonly List<CredentialBroker> _brokers = [];

    public BrokerHarness()
    {
        Directory = System.IO.Directory.CreateTempSubdirectory("gatehouse-leases-").FullName;
        StorePath = Path.Combine(Directory, "state.db");
        var opened = StateStore.Open("sqlite:" + StorePath);
        State = opened.Store ?? throw new InvalidOperationException(opened.Error);
    }

    public string Directory { get; }

    public string StorePath { get; }

    public IStateStore State { get; }

    public ILeaseStore Store => State.Leases;

    public ManualTime Time { get; } = new();

    public ListLogger<CredentialBroker> Logger { get; } = new();

    public CredentialBroker Broker(string instanceId = "instance-a")
    {
        var broker = new CredentialBroker(Store, Time, Logger, instanceId);
        _brokers.Add(broker);
        return broker;
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var broker in _brokers)
            await broker.DisposeAsync();
        await State.DisposeAsync();
        try { System.IO.Directory.Delete(Directory, recursive: true); }
        catch (IOException) { }
    }
}
