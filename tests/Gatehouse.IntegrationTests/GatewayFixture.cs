using System.Net;
using System.Net.Sockets;
using Gatehouse.Hosting;
using Gatehouse.Identity;
using Gatehouse.Proxy.Configuration;
using Gatehouse.Testing;
using Npgsql;

namespace Gatehouse.IntegrationTests;

/// <summary>
/// A real PostgreSQL with a small shop schema, and a Gatehouse in front of it with the development issuer on.
/// Shared by the tests of a collection; each test makes its own connections.
/// </summary>
public sealed class GatewayFixture : IAsyncLifetime
{
    public const string Target = "shop";

    public PostgresServer Postgres { get; private set; } = null!;

    public GatewayHost Gateway { get; private set; } = null!;

    public GatewayConfig Config { get; private set; } = null!;

    public string Directory { get; } = System.IO.Directory.CreateTempSubdirectory("gatehouse-it-").FullName;

    public string ConfigPath => Path.Combine(Directory, "gatehouse.yaml");

    public string PolicyPath => Path.Combine(Directory, "policy.yaml");

    public int Port => Gateway.PostgresEndPoint.Port;

    public async Task InitializeAsync()
    {
        Postgres = await PostgresServer.StartAsync(new PostgresServerOptions
        {
            Settings = new Dictionary<string, string> { ["log_statement"] = "all" },
        });
        await Postgres.ExecuteAsync("CREATE DATABASE shop");
        await Postgres.ExecuteAsync(TestData.ShopSchema, "shop");
        await File.WriteAllTextAsync(PolicyPath, TestData.DefaultPolicy);
        await File.WriteAllTextAsync(Path.Combine(Directory, "provisioner.secret"), Postgres.SuperUserPassword);
        await File.WriteAllTextAsync(ConfigPath, ConfigYaml(FreePort(), FreePort(), requireTls: false, extraIdentity: ExtraIdentityYaml));
        Config = GatewayConfigLoader.Load(ConfigPath, out var errors) ?? throw new InvalidOperationException(string.Join("\n", errors));
        Gateway = GatewayHost.Create(Config, Console.Error, logging => logging.SetMinimumLevel(Microsoft.Extensions.Logging.LogLevel.Warning))
            ?? throw new InvalidOperationException("gateway did not build");
        await Gateway.StartAsync(CancellationToken.None);
    }

    /// <summary>Identity settings tests may add before start (e.g. a real OIDC issuer).</summary>
    public static string? ExtraIdentityYaml { get; set; }

    public string ConfigYaml(int pgPort, int adminPort, bool requireTls, string? extraIdentity = null) => $"""
        listen:
          postgres: 127.0.0.1:{pgPort}
          admin: 127.0.0.1:{adminPort}
        tls:
          require: {(requireTls ? "true" : "false")}
        identity:
          audiences: [gatehouse]
          dev_issuer: true
          clock_skew: 5s{extraIdentity}
        state: sqlite:{Path.Combine(Directory, "state.db")}
        targets:
          shop:
            host: 127.0.0.1
            port: {Postgres.Port}
            database: shop
            tls: disable
            provisioner:
              user: postgres
              password_file: provisioner.secret
        policy: policy.yaml
        """;

    /// <summary>A development token the gateway accepts, for a member of the ai-agents group by default.</summary>
    public string Token(string subject = "agent-1", params (string Key, string Value)[] claims)
    {
        var issuer = DevIssuer.LoadOrCreate(Config.StateDirectory, GatewayHost.DevIssuerUrl(Config), TimeProvider.System);
        var list = claims.Length == 0 ? [new("groups", "ai-agents")] : claims.Select(c => new KeyValuePair<string, string>(c.Key, c.Value)).ToList();
        return issuer.Mint(subject, list, TimeSpan.FromMinutes(10), "gatehouse");
    }

    public string ConnectionString(string? token = null, string database = Target, bool ssl = true) => new NpgsqlConnectionStringBuilder
    {
        Host = "127.0.0.1",
        Port = Port,
        Database = database,
        Username = "agent",
        Password = token ?? Token(),
        SslMode = ssl ? SslMode.Require : SslMode.Disable,
        Pooling = false,
        Timeout = 15,
        CommandTimeout = 30,
    }.ConnectionString;

    public async Task<NpgsqlConnection> OpenAsync(string? token = null, bool ssl = true)
    {
        var connection = new NpgsqlConnection(ConnectionString(token, ssl: ssl));
        await connection.OpenAsync();
        return connection;
    }

    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    public async Task DisposeAsync()
    {
        await Gateway.DisposeAsync();
        await Postgres.DisposeAsync();
        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
            // Best effort: a temp directory.
        }
    }
}

[CollectionDefinition(Name)]
public sealed class GatewayCollection : ICollectionFixture<GatewayFixture>
{
    public const string Name = "gateway";
}
