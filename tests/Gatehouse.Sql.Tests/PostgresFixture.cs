using Gatehouse.Testing;

namespace Gatehouse.Sql.Tests;

/// <summary>One throwaway PostgreSQL shared by every test class of the "postgres" collection.</summary>
public sealed class PostgresFixture : IAsyncLifetime
{
    private PostgresServer? _server;

    public PostgresServer Server => _server ?? throw new InvalidOperationException("fixture not initialised");

    public async Task InitializeAsync() =>
        _server = await PostgresServer.StartAsync(new PostgresServerOptions
        {
            Settings = new Dictionary<string, string> { ["log_statement"] = "all" },
        });

    public async Task DisposeAsync()
    {
        if (_server is not null)
            await _server.DisposeAsync();
    }
}

[CollectionDefinition("postgres")]
public sealed class PostgresCollection : ICollectionFixture<PostgresFixture>;
