using Gatehouse.Configuration;

namespace Gatehouse.IntegrationTests;

/// <summary>admin.console, admin's listener settings and identity.dev_logins as gatehouse.yaml gives them: values read, each mistake one error at its place.</summary>
public sealed class ConsoleSignInConfigTests : IDisposable
{
    private const string Target = "targets:\n  orders: { host: h, provisioner: { user: u, password_env: X } }\npolicy: policy.yaml\n";
    private readonly string _directory = Directory.CreateTempSubdirectory("gatehouse-signin-config-").FullName;

    private (GatewayConfig? Config, IReadOnlyList<string> Errors) Load(string yaml)
    {
        string path = Path.Combine(_directory, "gatehouse.yaml");
        File.WriteAllText(path, yaml + Target);
        var config = GatewayConfigLoader.Load(path, out var errors);
        return (config, errors.Select(e => e.Replace(path, "c.yaml", StringComparison.Ordinal)).ToList());
    }

    [Fact]
    public void A_console_client_and_dev_logins_are_read_with_paths_from_the_file_s_directory()
    {
        var (config, errors) = Load("""
            identity:
              issuer: https://idp.example.com/realms/agents
              dev_issuer: true
              dev_logins:
                - { subject: reviewer, password_file: reviewer.secret, claims: { roles: [dba, ops], team: db } }
                - { subject: agent, password_env: AGENT_PW }
            admin:
              identities: admins
              console:
                client_id: gatehouse-console
                client_secret_file: console.secret
                scopes: [openid, profile]
                redirect_uri: https://gatehouse.example.com/auth/callback
                login_timeout: 5m

            """);

        Assert.Empty(errors);
        var signIn = config!.Admin.SignIn;
        Assert.Equal(("gatehouse-console", Path.Combine(_directory, "console.secret"), (string?)null), (signIn.ClientId, signIn.ClientSecretFile, signIn.ClientSecretEnv));
        Assert.Equal(["openid", "profile"], signIn.Scopes);
        Assert.Equal(("https://gatehouse.example.com/auth/callback", TimeSpan.FromMinutes(5)), (signIn.RedirectUri, signIn.LoginTimeout));
        var reviewer = config.Identity.DevLogins[0];
        Assert.Equal(("reviewer", Path.Combine(_directory, "reviewer.secret")), (reviewer.Subject, reviewer.PasswordFile));
        Assert.Equal([new("roles", "dba"), new("roles", "ops"), new("team", "db")], reviewer.Claims);
        Assert.Equal(("agent", "AGENT_PW"), (config.Identity.DevLogins[1].Subject, config.Identity.DevLogins[1].PasswordEnv));
    }

    [Fact]
    public void Without_the_section_the_console_signs_in_at_the_dev_issuer_with_defaults()
    {
        var (config, errors) = Load("identity: { dev_issuer: true }\n");
        Assert.Empty(errors);
        Assert.Equal(ConsoleSignInConfig.Default, config!.Admin.SignIn);
        Assert.Empty(config.Identity.DevLogins);
    }

    [Fact]
    public void Every_bad_value_is_one_error_at_its_position()
    {
        var (config, errors) = Load("""
            identity:
              dev_issuer: true
              dev_logins:
                - { subject: a, password_file: f, password_env: E }
                - { subject: a, password_env: E, claims: { sub: root } }
                - { password_env: E, claims: [x], colour: red }
                - just-a-name
            admin:
              console:
                client_id: c
                client_secret_file: s
                client_secret_env: S
                scopes: [profile, "a b"]
                redirect_uri: https://gatehouse.example.com/callback
                login_timeout: 2h
                extra: 1

            """);

        Assert.Null(config);
        Assert.Equal(
            [
                "c.yaml:4:7: error: dev login 'a' needs exactly one of 'password_file' or 'password_env'",
                "c.yaml:5:48: error: claim 'sub' is set by the dev issuer and cannot be given",
                "c.yaml:5:7: error: dev login 'a' is listed twice",
                "c.yaml:6:7: error: 'subject' is required",
                "c.yaml:6:34: error: the claims of dev login #3 must be a mapping, e.g. { groups: dba }",
                "c.yaml:6:39: error: unknown key 'colour' in identity.dev_logins (#3)",
                "c.yaml:7:7: error: each dev login must be a mapping { subject, password_env | password_file, claims }",
                "c.yaml:10:16: error: 'client_id' names the console's client at identity.issuer, which is not set (the dev issuer needs no client_id)",
                "c.yaml:12:24: error: give at most one of 'client_secret_file' or 'client_secret_env'",
                "c.yaml:13:13: error: 'scopes' must include openid (the id_token carries the sign-in's nonce)",
                "c.yaml:13:13: error: scope 'a b' contains a space, quote, backslash or control character",
                "c.yaml:14:19: error: 'redirect_uri' must be http(s)://HOST[:PORT]/auth/callback, the address browsers reach the gateway's callback at",
                "c.yaml:15:20: error: 'login_timeout' must be from 1s to 1h",
                "c.yaml:16:5: error: unknown key 'extra' in admin.console",
            ],
            errors);
    }

    [Fact]
    public void Allowed_hosts_are_host_names_or_addresses_without_scheme_port_or_path()
    {
        var (config, errors) = Load("identity: { dev_issuer: true }\nadmin:\n  allowed_hosts: [gatehouse.example.com, \"*.corp.example\", \"[::1]\", 10.0.0.5]\n");
        Assert.Empty(errors);
        Assert.Equal(["gatehouse.example.com", "*.corp.example", "[::1]", "10.0.0.5"], config!.Admin.AllowedHosts);

        foreach (var bad in new[] { "https://gatehouse.example.com", "gatehouse.example.com:8080", "host/path", "a..b", "[not-v6]", "*" })
        {
            (_, errors) = Load($"identity: {{ dev_issuer: true }}\nadmin:\n  allowed_hosts: [\"{bad}\"]\n");
            Assert.Equal([$"c.yaml:3:18: error: '{bad}' is not a host name: give names like gatehouse.example.com or *.example.com, or IP addresses ([::1] for IPv6), without a scheme, port or path"], errors);
        }
    }

    [Fact]
    public void Admin_connection_limits_have_defaults_and_bounds()
    {
        var (config, errors) = Load("identity: { dev_issuer: true }\n");
        Assert.Empty(errors);
        Assert.Equal(new AdminConnectionLimits(TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(10), 1000), config!.Admin.Connections);

        (config, errors) = Load("identity: { dev_issuer: true }\nadmin:\n  keep_alive_timeout: 2m\n  request_headers_timeout: 5s\n  max_connections: 200\n");
        Assert.Empty(errors);
        Assert.Equal(new AdminConnectionLimits(TimeSpan.FromMinutes(2), TimeSpan.FromSeconds(5), 200), config!.Admin.Connections);

        (_, errors) = Load("identity: { dev_issuer: true }\nadmin:\n  keep_alive_timeout: 500ms\n  request_headers_timeout: 10m\n  max_connections: 0\n");
        Assert.Equal(
            [
                "c.yaml:3:23: error: 'keep_alive_timeout' must be from 1s to 1h",
                "c.yaml:4:28: error: 'request_headers_timeout' must be from 1s to 5m",
                "c.yaml:5:20: error: 'max_connections' must be a whole number from 1 to 100000",
            ],
            errors.Order(StringComparer.Ordinal));
    }

    [Fact]
    public void Dev_logins_need_the_dev_issuer_and_a_console_needs_a_client_id_without_it()
    {
        var (_, errors) = Load("""
            identity:
              issuer: https://idp.example.com
              dev_logins: [ { subject: a, password_env: E } ]
            admin:
              console: { scopes: [openid] }

            """);
        Assert.Equal(
            [
                "c.yaml:3:15: error: 'dev_logins' sign in at the dev issuer: set 'dev_issuer: true' or remove them",
                "c.yaml:5:12: error: admin.console needs 'client_id': the console's client registered at identity.issuer",
            ],
            errors);
    }

    [Theory]
    [InlineData("password_env: GATEHOUSE_TEST_UNSET_PASSWORD", "the password of dev login 'reviewer' cannot be read: environment variable GATEHOUSE_TEST_UNSET_PASSWORD is not set")]
    [InlineData("password_file: short.secret", "the password of dev login 'reviewer' is shorter than 12 characters")]
    public async Task Serve_refuses_a_dev_login_whose_password_is_missing_or_short_in_one_line(string password, string expected)
    {
        await File.WriteAllTextAsync(Path.Combine(_directory, "short.secret"), "hunter2\n");
        await File.WriteAllTextAsync(Path.Combine(_directory, "policy.yaml"), "identities: { a: { claims: { groups: x } } }\ngrants: [ { to: a, targets: [orders], db_roles: [r] } ]\n");
        var (config, errors) = Load($"identity:\n  dev_issuer: true\n  dev_logins: [ {{ subject: reviewer, {password} }} ]\n");
        Assert.Empty(errors);
        var result = await ProcessRunner.RunAsync(GatewayProcess.Executable, ["serve", "--config", config!.SourcePath]);
        Assert.NotEqual(0, result.ExitCode);
        Assert.Equal($"{config.SourcePath}: error: {expected}", result.Stderr.Trim());
    }

    public void Dispose() => Directory.Delete(_directory, recursive: true);
}
