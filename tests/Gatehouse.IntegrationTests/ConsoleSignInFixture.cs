using System.Net;
using System.Security.Cryptography;
using Gatehouse.Testing;

namespace Gatehouse.IntegrationTests;

/// <summary>
/// A PostgreSQL, the test OpenID provider, and `gatehouse serve` processes whose consoles sign in through the dev issuer
/// (dev logins for a reviewer, an auditor, an admin and an agent) and through the provider (a registered client).
/// </summary>
public sealed class ConsoleSignInFixture : IAsyncLifetime
{
    public const string Policy = """
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
              - { id: pay-writes, when: { class: write, tables: ["public.payments"] }, then: review }
        reviews: { approvers: reviewers, mode: hold, timeout: 30s }
        """;

    public const string AdminRoles = "admin:\n  identities: admins\n  auditors: auditors";

    private readonly List<GatewayProcess> _processes = [];

    public TestGateway Fixture { get; private set; } = null!;

    public OidcProviderServer Oidc { get; private set; } = null!;

    /// <summary>The password of every dev login (each has its own file holding it).</summary>
    public string Password { get; } = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(12));

    /// <summary>Console sign-in through the dev issuer.</summary>
    internal GatewayProcess Dev { get; private set; } = null!;

    /// <summary>Console sign-in through the OpenID provider (admin.console.client_id).</summary>
    internal GatewayProcess External { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Oidc = await OidcProviderServer.StartAsync(CancellationToken.None);
        string secrets = Directory.CreateTempSubdirectory("gatehouse-signin-").FullName;
        string logins = string.Join('\n', new[] { ("dba-1", "roles: dba"), ("auditor-1", "groups: security"), ("admin-1", "groups: platform"), ("agent-7", "groups: ai-agents") }.Select(login =>
        {
            string file = Path.Combine(secrets, login.Item1 + ".secret");
            File.WriteAllText(file, Password + "\n");
            return $"  - {{ subject: {login.Item1}, password_file: {file}, claims: {{ {login.Item2} }} }}";
        }));
        Fixture = await TestGateway.StartAsync(new TestGatewayOptions { Policy = Policy, ExtraIdentity = $"issuer: {Oidc.Issuer}\ndev_logins:\n{logins}" });
        Dev = await StartAsync(AdminRoles);

        // The provider must know the console's redirect URI, which names the process's admin port.
        External = Prepare(AdminRoles + "\n  console:\n    client_id: CLIENT_ID\n    client_secret_file: console.secret");
        var (clientId, secret) = await Oidc.RegisterClientAsync(AdminUrl(External) + "/auth/callback");
        await File.WriteAllTextAsync(Path.Combine(External.Directory, "console.secret"), secret);
        await File.WriteAllTextAsync(External.ConfigPath, (await File.ReadAllTextAsync(External.ConfigPath)).Replace("CLIENT_ID", clientId, StringComparison.Ordinal));
        await StartedAsync(External);
    }

    internal GatewayProcess Prepare(string extra)
    {
        var process = GatewayProcess.Prepare(Fixture, extra: extra);
        _processes.Add(process);
        return process;
    }

    internal async Task<GatewayProcess> StartAsync(string extra) => await StartedAsync(Prepare(extra));

    /// <summary>listen.admin of the process, as a URL.</summary>
    internal static string AdminUrl(GatewayProcess process) =>
        "http://" + File.ReadAllLines(process.ConfigPath).Select(l => l.Trim()).First(l => l.StartsWith("admin: 127.", StringComparison.Ordinal))["admin: ".Length..];

    /// <summary>Starts the process and waits until its admin listener answers.</summary>
    internal static async Task<GatewayProcess> StartedAsync(GatewayProcess process)
    {
        process.Start();
        using var http = new HttpClient();
        // A start takes a second or two, but well over 15 s on a 2-core machine running other suites (CI saw that).
        var deadline = System.Diagnostics.Stopwatch.StartNew();
        while (true)
        {
            bool late = deadline.Elapsed > TimeSpan.FromSeconds(90);
            try
            {
                using var health = await http.GetAsync(AdminUrl(process) + "/healthz");
                if (health.StatusCode == HttpStatusCode.OK)
                {
                    return process;
                }
            }
            catch (HttpRequestException) when (!late)
            {
            }

            Assert.False(late, "the gateway process did not answer /healthz within 90 s");
            await Task.Delay(100);
        }
    }

    public async Task DisposeAsync()
    {
        foreach (var process in _processes)
        {
            await process.DisposeAsync();
        }

        if (Fixture is not null)
        {
            await Fixture.DisposeAsync();
        }

        if (Oidc is not null)
        {
            await Oidc.DisposeAsync();
        }
    }
}
