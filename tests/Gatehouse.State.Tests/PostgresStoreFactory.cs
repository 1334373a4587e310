using Gatehouse.State.Postgres;
using Gatehouse.Testing;
using Npgsql;

namespace Gatehouse.State.Tests;

/// <summary>One real PostgreSQL per test class (started once, stopped after the class).</summary>
public sealed class PostgresFixture : IAsyncLifetime
{
    private int _databases;

    public PostgresServer Server { get; private set; } = null!;

    public async Task InitializeAsync() => Server = await PostgresServer.StartAsync();

    public async Task DisposeAsync() => await Server.DisposeAsync();

    /// <summary>A fresh, empty database's name.</summary>
    public string NewDatabase()
    {
        var name = $"state_{Interlocked.Increment(ref _databases)}_{Guid.NewGuid():N}"[..30];
        // Not pooled: a test that restarts the server would leave a pooled connection dead.
        using var connection = new NpgsqlConnection(Server.ConnectionString() + ";Pooling=false");
        connection.Open();
        using var command = new NpgsqlCommand($"CREATE DATABASE {name}", connection);
        command.ExecuteNonQuery();
        return name;
    }

    public string Uri(string database, string? password = null) =>
        $"postgres://{Server.SuperUser}:{password ?? Server.SuperUserPassword}@{Server.Host}:{Server.Port}/{database}";
}

/// <summary>A fresh database per test on the class's server.</summary>
public sealed class PostgresStoreFactory(PostgresFixture postgres, StateStoreOptions? options = null) : IStateStoreFactory
{
    public string Database { get; } = postgres.NewDatabase();

    public string Uri => postgres.Uri(Database);

    public PostgresServer Server => postgres.Server;

    public IStateStore Open()
    {
        var opened = StateStore.Open(Uri, options);
        return opened.Store ?? throw new InvalidOperationException(opened.Error);
    }

    public IDisposable HoldWriter(IStateStore store) => ((PostgresStateStore)store).HoldWriter();

    public ValueTask DisposeAsync() => ValueTask.CompletedTask; // the database goes with the server
}

public sealed class PostgresLeaseStoreTests(PostgresFixture postgres) : LeaseStoreContract(new PostgresStoreFactory(postgres)), IClassFixture<PostgresFixture>;

public sealed class PostgresAuditStoreTests(PostgresFixture postgres) : AuditStoreContract(new PostgresStoreFactory(postgres)), IClassFixture<PostgresFixture>;
