using Microsoft.Extensions.Logging;
using System.Net;
using System.Net.Sockets;
using Gatehouse.Configuration;
using Gatehouse.Hosting;
using Gatehouse.Identity;
using Gatehouse.Testing;
using Npgsql;

namespace Gatehouse.IntegrationTests;

/// <summary>How a test gateway is set up: its PostgreSQL, its policy, its target's TLS, extra identity settings.</summary>
public sealed record TestGatewayOptions
{
    public PostgresServerOptions Postgres { get; init; } = new() { Settings = new Dictionary<string, string> { ["log_statement"] = "all" } };

    public string Policy { get; init; } = TestData.DefaultPolicy;

    public bool RequireTls { get; init; }

    /// <summary>YAML lines appended under the target (e.g. tls mode, root_certificate); {cert} stands for the server certificate.</summary>
    public string TargetTls { get; init; } = "tls: disable";

    /// <summary>YAML lines appended under identity (e.g. an external issuer).</summary>
    public string? ExtraIdentity { get; init; }

    /// <summary>Top-level YAML appended to the configuration (e.g. an admin: section).</summary>
    public string? ExtraConfig { get; init; }

    /// <summary>SQL run as superuser in the shop database after the shop schema, before the gateway starts (e.g. roles the policy grants).</summary>
    public string? ExtraSchema { get; init; }
}

/// <summary>
/// A real PostgreSQL with a small shop schema, and a Gatehouse in front of it with the development issuer on.
/// </summary>
public class TestGateway : IAsyncDisposable
{
    public const string Target = "shop";

    public PostgresServer Postgres { get; private set; } = null!;

    public GatewayHost Gateway { get; private set; } = null!;

    public GatewayConfig Config { get; private set; } = null!;

    public string Directory { get; } = System.IO.Directory.CreateTempSubdirectory("gatehouse-it-").FullName;

    public string ConfigPath => Path.Combine(Directory, "gatehouse.yaml");

    public string PolicyPath => Path.Combine(Directory, "policy.yaml");

    public int Port => Gateway.PostgresEndPoint.Port;

    public static async Task<TestGateway> StartAsync(TestGatewayOptions? options = null)
    {
        var gateway = new TestGateway();
        try
        {
            await gateway.InitializeAsync(options ?? new TestGatewayOptions());
            return gateway;
        }
        catch
        {
            await gateway.DisposeAsync();
            throw;
        }
    }

    protected async Task InitializeAsync(TestGatewayOptions options)
    {
        Postgres = await PostgresServer.StartAsync(options.Postgres);
        await Postgres.ExecuteAsync("CREATE DATABASE shop");
        await Postgres.ExecuteAsync(TestData.ShopSchema, "shop");
        if (options.ExtraSchema is not null)
        {
            await Postgres.ExecuteAsync(options.ExtraSchema, "shop");
        }

        await File.WriteAllTextAsync(PolicyPath, options.Policy);
        await File.WriteAllTextAsync(Path.Combine(Directory, "provisioner.secret"), Postgres.SuperUserPassword);
        await File.WriteAllTextAsync(ConfigPath, ConfigYaml(options));
        Config = GatewayConfigLoader.Load(ConfigPath, out var errors) ?? throw new InvalidOperationException(string.Join("\n", errors));
        Gateway = GatewayHost.Create(Config, Console.Error, logging => logging.SetMinimumLevel(LogLevel.Warning))
            ?? throw new InvalidOperationException("gateway did not build");
        await Gateway.StartAsync(CancellationToken.None);
    }

    private string ConfigYaml(TestGatewayOptions options) => $"""
        listen:
          postgres: 127.0.0.1:{FreePort()}
          admin: 127.0.0.1:{FreePort()}
        tls:
          require: {(options.RequireTls ? "true" : "false")}
        identity:
          audiences: [gatehouse]
          dev_issuer: true
          clock_skew: 5s
        {Indent(options.ExtraIdentity, 2)}
        state: sqlite:{Path.Combine(Directory, "state.db")}
        targets:
          shop:
            host: 127.0.0.1
            port: {Postgres.Port}
            database: shop
            provisioner:
              user: postgres
              password_file: provisioner.secret
        {Indent(options.TargetTls.Replace("{cert}", Postgres.CertificatePath ?? "", StringComparison.Ordinal), 4)}
        policy: policy.yaml
        {options.ExtraConfig}
        """;

    private static string Indent(string? lines, int spaces) =>
        lines is null ? string.Empty : string.Join('\n', lines.Split('\n').Select(l => new string(' ', spaces) + l));

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

    public async ValueTask DisposeAsync()
    {
        if (Gateway is not null)
        {
            await Gateway.DisposeAsync();
        }

        if (Postgres is not null)
        {
            await Postgres.DisposeAsync();
        }
        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
            // Best effort: a temp directory.
        }

        GC.SuppressFinalize(this);
    }
}

/// <summary>The gateway most tests share (default policy, plaintext allowed from loopback).</summary>
public sealed class GatewayFixture : TestGateway, IAsyncLifetime
{
    public Task InitializeAsync() => InitializeAsync(new TestGatewayOptions());

    Task IAsyncLifetime.DisposeAsync() => DisposeAsync().AsTask();
}

[CollectionDefinition(Name)]
public sealed class GatewayCollection : ICollectionFixture<GatewayFixture>
{
    public const string Name = "gateway";
}
