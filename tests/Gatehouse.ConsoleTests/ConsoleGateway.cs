using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using Gatehouse.IntegrationTests;
using Gatehouse.Testing;
using Microsoft.Playwright;

namespace Gatehouse.ConsoleTests;

/// <summary>
/// One `gatehouse serve` process in front of a real PostgreSQL, and one headless Debian Chromium, shared by the
/// console tests. Dev logins sign in at the dev issuer's page; agents connect with psql and dev tokens.
/// </summary>
public sealed class ConsoleGateway : IAsyncLifetime
{
    public const string Target = "shop";

    /// <summary>The console's stored-XSS payloads: each would run script or make an element if rendered as markup.</summary>
    public const string ScriptPayload = "<script>alert(document.domain)</script>";
    public const string ImagePayload = "<img src=x onerror=alert(document.cookie)>";
    public const string Payload = ScriptPayload + ImagePayload;

    public static readonly string Executable = Path.Combine(AppContext.BaseDirectory, "gatehouse");

    private Process? _process;
    private IPlaywright? _playwright;

    public string Directory { get; } = System.IO.Directory.CreateTempSubdirectory("gatehouse-console-").FullName;

    public string ConfigPath => Path.Combine(Directory, "gatehouse.yaml");

    public string PolicyPath => Path.Combine(Directory, "policy.yaml");

    public PostgresServer Postgres { get; private set; } = null!;

    public int Port { get; } = FreePort();

    public string AdminUrl { get; } = $"http://127.0.0.1:{FreePort()}";

    /// <summary>The password of every dev login (random per run).</summary>
    public string Password { get; } = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(12));

    public IBrowser Browser { get; private set; } = null!;

    public static string Policy => """
        identities:
          agents: { claims: { groups: ai-agents } }
          reviewers: { claims: { roles: dba } }
          auditors: { claims: { groups: security } }
          admins: { claims: { groups: platform } }
        grants:
          - to: agents
            targets: [shop]
            db_roles: [app_read, app_write]
            rules:
              - { id: no-ddl, when: { class: [ddl, dcl, admin] }, then: deny }
              - { id: pay-writes, when: { class: write, tables: ["public.payments"] }, then: review }
            masks:
              - { columns: ["public.customers.ssn"], with: last4 }
            audit: { results: true, max_rows: 20 }
        reviews: { approvers: reviewers, mode: hold, timeout: 90s }
        """;

    public async Task InitializeAsync()
    {
        Postgres = await PostgresServer.StartAsync();
        await Postgres.ExecuteAsync("CREATE DATABASE shop");
        await Postgres.ExecuteAsync(TestData.ShopSchema, Target);
        // A row an agent could have written: its value is markup.
        await Postgres.ExecuteAsync($"CREATE TABLE notes (id int PRIMARY KEY, body text); GRANT SELECT ON notes TO app_read; INSERT INTO notes VALUES (1, '{ScriptPayload}{ImagePayload}')", Target);
        await File.WriteAllTextAsync(PolicyPath, Policy);
        await File.WriteAllTextAsync(Path.Combine(Directory, "provisioner.secret"), Postgres.SuperUserPassword);
        await File.WriteAllTextAsync(Path.Combine(Directory, "login.secret"), Password);
        await File.WriteAllTextAsync(ConfigPath, Config());
        _process = ProcessRunner.Start(Executable, ["serve", "--config", ConfigPath]);
        await WaitUntilServingAsync();

        _playwright = await Playwright.CreateAsync();
        Browser = await _playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = "/usr/bin/chromium",
            Headless = true,
            Args = Environment.UserName == "root" ? ["--no-sandbox"] : [],
        });
    }

    private string Config() => $$"""
        listen:
          postgres: 127.0.0.1:{{Port}}
          admin: {{AdminUrl["http://".Length..]}}
        tls:
          require: false
        identity:
          audiences: [gatehouse]
          dev_issuer: true
          dev_logins:
            - { subject: ada, password_file: login.secret, claims: { name: Ada Admin, groups: [platform, security], roles: dba } }
            - { subject: rita, password_file: login.secret, claims: { name: Rita Reviewer, roles: dba } }
            - { subject: mallory, password_file: login.secret, claims: { name: "{{ScriptPayload}}{{ImagePayload}}", groups: security, roles: dba } }
        state: sqlite:{{Path.Combine(Directory, "state.db")}}
        targets:
          shop:
            host: 127.0.0.1
            port: {{Postgres.Port}}
            database: shop
            tls: disable
            provisioner:
              user: postgres
              password_file: provisioner.secret
        policy: policy.yaml
        admin:
          identities: admins
          auditors: auditors
        """;

    private async Task WaitUntilServingAsync()
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (true)
        {
            if (_process!.HasExited)
            {
                var failed = await ProcessRunner.CollectAsync(_process, TimeSpan.FromSeconds(5));
                throw new InvalidOperationException($"gatehouse serve exited with {failed.ExitCode}: {failed.Stderr}{failed.Stdout}");
            }

            try
            {
                using var response = await http.GetAsync(AdminUrl + "/healthz");
                if (response.StatusCode == HttpStatusCode.OK && await CanConnectAsync())
                {
                    return;
                }
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
            {
                // Still starting.
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException("gatehouse serve did not start within 60 s");
            }

            await Task.Delay(100);
        }
    }

    private async Task<bool> CanConnectAsync()
    {
        using var client = new TcpClient();
        try
        {
            await client.ConnectAsync(IPAddress.Loopback, Port);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    /// <summary>A dev token for an agent, minted by `gatehouse token --dev` for this gateway.</summary>
    public async Task<string> AgentTokenAsync(string subject, params string[] claims)
    {
        var arguments = new List<string> { "token", "--dev", "--sub", subject, "--claim", "groups=ai-agents", "--config", ConfigPath };
        foreach (string claim in claims)
        {
            arguments.AddRange(["--claim", claim]);
        }

        var result = await ProcessRunner.RunAsync(Executable, arguments);
        Assert.True(result.ExitCode == 0, result.Stderr);
        return result.Stdout.Trim().Split('\n')[^1];
    }

    /// <summary>The environment psql needs to reach the shop target through the gateway as the token's identity.</summary>
    public Dictionary<string, string> PsqlEnvironment(string token) => new()
    {
        ["PGHOST"] = "127.0.0.1",
        ["PGPORT"] = Port.ToString(CultureInfo.InvariantCulture),
        ["PGDATABASE"] = Target,
        ["PGUSER"] = "agent",
        ["PGPASSWORD"] = token,
        ["PGSSLMODE"] = "require",
        ["PGCONNECT_TIMEOUT"] = "10",
    };

    public string Psql => ProcessRunner.PostgresTool("psql", Postgres.BinDirectory);

    /// <summary>psql -c for each statement, as the agent <paramref name="token"/> names.</summary>
    internal Task<ProcessRunner.Result> PsqlAsync(string token, params string[] statements)
    {
        var arguments = new List<string> { "-X", "-At" };
        foreach (string statement in statements)
        {
            arguments.AddRange(["-c", statement]);
        }

        return ProcessRunner.RunAsync(Psql, arguments, PsqlEnvironment(token), TimeSpan.FromSeconds(120));
    }

    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    public async Task DisposeAsync()
    {
        if (Browser is not null)
        {
            await Browser.DisposeAsync();
        }

        _playwright?.Dispose();
        if (_process is { HasExited: false })
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }

        _process?.Dispose();
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
    }
}

[CollectionDefinition(Name)]
public sealed class ConsoleCollection : ICollectionFixture<ConsoleGateway>
{
    public const string Name = "console";
}
