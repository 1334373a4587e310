using System.Net;
using System.Net.Sockets;
using Gatehouse.Demo;
using Gatehouse.Testing;

namespace Gatehouse.IntegrationTests;

/// <summary>
/// `gatehouse demo` as a newcomer runs it: a real process, the psql line it prints used by real psql, then a signal,
/// after which no PostgreSQL of its own and no temp folder may remain. Bad input: one line, non-zero exit.
/// Each test gives the demo its own TMPDIR, so what it leaves behind can be seen.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class DemoTests : IDisposable
{
    private readonly string _tmp = Directory.CreateTempSubdirectory("gatehouse-demo-test-").FullName;

    public DemoTests()
    {
        // When the tests run as root, the demo's PostgreSQL runs as the postgres OS user, which must reach its folder.
        File.SetUnixFileMode(_tmp, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute);
    }

    private Dictionary<string, string> Environment(params (string Key, string Value)[] extra)
    {
        var environment = new Dictionary<string, string> { ["TMPDIR"] = _tmp };
        foreach (var (key, value) in extra)
        {
            environment[key] = value;
        }

        return environment;
    }

    [Fact]
    public async Task The_printed_psql_line_works_ddl_is_denied_and_sigint_removes_everything()
    {
        await using var demo = DemoProcess.Start(["--port", "0", "--admin-port", "0"], Environment());
        await demo.WaitUntilReadyAsync();
        Assert.StartsWith(_tmp, demo.Root, StringComparison.Ordinal);
        Assert.Matches(@"^host=127\.0\.0\.1 port=\d+ dbname=shop user=agent sslmode=require$", demo.ConnectionInfo);

        var select = await demo.PsqlAsync("SELECT count(*) AS orders FROM orders;");
        Assert.True(select.ExitCode == 0 && select.Stderr.Length == 0, select.Stdout + select.Stderr);
        Assert.Contains("200", select.Stdout, StringComparison.Ordinal);

        // The banner says what the demo saw when it read a customer's e-mail through the gateway; psql sees the same.
        var masked = await demo.PsqlAsync($"SELECT email FROM customers WHERE id = {DemoFiles.ProbeCustomer};");
        Assert.True(masked.ExitCode == 0, masked.Stdout + masked.Stderr);
        Assert.Contains(masked.Stdout.Contains(DemoFiles.ProbeEmail, StringComparison.Ordinal)
            ? $"Masking is not applied yet (coming): the demo read {DemoFiles.ProbeEmail} back unmasked"
            : $"Masking is on: the demo read {DemoFiles.ProbeEmail} back as", demo.Stdout, StringComparison.Ordinal);

        var ddl = await demo.PsqlAsync("DROP TABLE orders;\nSELECT count(*) FROM orders;");
        Assert.Contains("ERROR:  gatehouse: denied by rule no-ddl", ddl.Stderr, StringComparison.Ordinal);
        Assert.Contains("200", ddl.Stdout, StringComparison.Ordinal);

        // The printed console login signs in at the dev issuer's page, as a reviewer who is also an admin.
        var login = System.Text.RegularExpressions.Regex.Match(demo.Stdout, @"Sign in to the web console at (?<url>http://\S+) as reviewer, password (?<password>\S+)\n");
        Assert.True(login.Success, demo.Stdout);
        using (var browser = new ConsoleBrowser(login.Groups["url"].Value))
        {
            using var signedIn = await browser.SignInAtDevIssuerAsync("reviewer", login.Groups["password"].Value);
            Assert.Equal(HttpStatusCode.Redirect, signedIn.StatusCode);
            using var me = await browser.SendAsync(HttpMethod.Get, "/api/me");
            using var identity = System.Text.Json.JsonDocument.Parse(await me.Content.ReadAsStringAsync());
            Assert.Equal(["approver", "auditor", "admin"], identity.RootElement.GetProperty("roles").EnumerateArray().Select(r => r.GetString()));
        }

        string dataDirectory = Path.Combine(demo.Root, "postgres", "data");
        Assert.NotEmpty(DemoProcess.ProcessesMentioning(dataDirectory));

        int exit = await demo.StopAsync(Signals.Interrupt);
        Assert.True(exit is 0 or 130, $"exit {exit}: {demo.Stderr}");
        Assert.Empty(DemoProcess.ProcessesMentioning(dataDirectory));
        Assert.False(Directory.Exists(demo.Root), $"{demo.Root} is still there");
        Assert.Empty(Directory.EnumerateFileSystemEntries(_tmp));
        Assert.Contains($"removed {demo.Root}", demo.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Missing_postgres_programs_are_one_line_with_the_apt_command()
    {
        string emptyRoot = Directory.CreateDirectory(Path.Combine(_tmp, "no-postgres-here")).FullName;
        const string path = "/usr/bin:/bin";
        Assert.DoesNotContain(path.Split(':'), d => File.Exists(Path.Combine(d, "initdb")));
        // Free ports: the README's demo may hold the default ones while this runs.
        await using var demo = DemoProcess.Start(["--port", "0", "--admin-port", "0"], Environment(("PATH", path), ("GATEHOUSE_DEMO_PG_ROOT", emptyRoot)));
        int exit = await demo.WaitForExitAsync(TimeSpan.FromSeconds(60));
        Assert.Equal(1, exit);
        string line = Assert.Single(demo.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith("gatehouse: demo: PostgreSQL server programs (initdb, pg_ctl) not found", line, StringComparison.Ordinal);
        Assert.Contains("sudo apt-get install postgresql", line, StringComparison.Ordinal);
        Assert.Equal(string.Empty, demo.Stdout);
        Assert.Equal([emptyRoot], Directory.EnumerateFileSystemEntries(_tmp));
    }

    [Theory]
    [InlineData("mysql://admin:s3cr3t-pw@db.example.com/shop", "--upstream must be a URI of the form postgres://")]
    [InlineData("postgres://:s3cr3t-pw@db.example.com/shop", "--upstream names no user")]
    [InlineData("postgres://admin:s3cr3t-pw@db.example.com/shop?sslmode=prefer", "sslmode 'prefer' is not supported")]
    [InlineData("postgres://admin:s3cr3t-pw@db.example.com/shop?target_session_attrs=any", "parameter 'target_session_attrs' is not supported")]
    public async Task A_bad_upstream_uri_is_one_line_that_never_shows_the_password(string uri, string expected)
    {
        await using var demo = DemoProcess.Start(["--upstream", uri, "--port", "0", "--admin-port", "0"], Environment());
        int exit = await demo.WaitForExitAsync(TimeSpan.FromSeconds(60));
        Assert.Equal(2, exit);
        string line = Assert.Single(demo.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains(expected, line, StringComparison.Ordinal);
        Assert.DoesNotContain("s3cr3t-pw", demo.Stderr + demo.Stdout, StringComparison.Ordinal);
        Assert.Empty(Directory.EnumerateFileSystemEntries(_tmp));
    }

    [Fact]
    public async Task A_port_in_use_is_one_line_and_nothing_starts()
    {
        using var taken = new TcpListener(IPAddress.Loopback, 0);
        taken.Start();
        int port = ((IPEndPoint)taken.LocalEndpoint).Port;
        await using var demo = DemoProcess.Start(["--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--admin-port", "0"], Environment());
        int exit = await demo.WaitForExitAsync(TimeSpan.FromSeconds(60));
        Assert.Equal(2, exit);
        string line = Assert.Single(demo.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Equal($"gatehouse: demo: port {port} on 127.0.0.1 is in use; choose another with --port (0 picks a free one)", line);
        Assert.Empty(Directory.EnumerateFileSystemEntries(_tmp));
    }

    [Fact]
    public async Task A_failing_initdb_is_one_line_and_its_temp_folder_is_removed()
    {
        // A stand-in for a broken installation: initdb and pg_ctl that fail at once.
        string bin = Directory.CreateDirectory(Path.Combine(_tmp, "broken-bin")).FullName;
        foreach (string tool in (string[])["initdb", "pg_ctl"])
        {
            string script = Path.Combine(bin, tool);
            File.WriteAllText(script, $"#!/bin/sh\necho \"{tool}: simulated failure\" >&2\nexit 1\n");
            File.SetUnixFileMode(script, (UnixFileMode)0b111_101_101);
        }

        File.SetUnixFileMode(bin, (UnixFileMode)0b111_101_101);
        await using var demo = DemoProcess.Start(["--pg-bin", bin, "--port", "0", "--admin-port", "0"], Environment());
        int exit = await demo.WaitForExitAsync(TimeSpan.FromSeconds(60));
        Assert.Equal(1, exit);
        Assert.Contains("gatehouse: demo: initdb failed: initdb: simulated failure", demo.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", demo.Stderr, StringComparison.Ordinal);
        Assert.Equal([bin], Directory.EnumerateFileSystemEntries(_tmp));
    }

    [Fact]
    public async Task With_upstream_it_uses_an_existing_server_and_drops_what_it_made_there()
    {
        await using var server = await PostgresServer.StartAsync();
        string uri = $"postgres://{server.SuperUser}:{server.SuperUserPassword}@127.0.0.1:{server.Port}/postgres";
        await using var demo = DemoProcess.Start(["--upstream", uri, "--port", "0", "--admin-port", "0"], Environment());
        await demo.WaitUntilReadyAsync();
        Assert.Equal(1L, await server.ScalarAsync<long>("SELECT count(*) FROM pg_database WHERE datname LIKE 'gatehouse\\_demo\\_%'"));

        var psql = await demo.PsqlAsync("SELECT count(*) FROM orders;\nSELECT current_user;\nGRANT ALL ON customers TO PUBLIC;");
        Assert.Contains("200", psql.Stdout, StringComparison.Ordinal);
        Assert.Contains("gh_demo_agent_", psql.Stdout, StringComparison.Ordinal);
        Assert.Contains("ERROR:  gatehouse: denied by rule no-ddl", psql.Stderr, StringComparison.Ordinal);

        int exit = await demo.StopAsync(Signals.Terminate);
        Assert.True(exit is 0 or 143, $"exit {exit}: {demo.Stderr}");
        Assert.DoesNotContain(server.SuperUserPassword, demo.Stdout + demo.Stderr, StringComparison.Ordinal);
        Assert.Equal(0L, await server.ScalarAsync<long>("SELECT count(*) FROM pg_database WHERE datname LIKE 'gatehouse\\_demo\\_%'"));
        Assert.Equal(0L, await server.ScalarAsync<long>("SELECT count(*) FROM pg_roles WHERE rolname LIKE 'gatehouse\\_demo\\_%' OR rolname LIKE 'gh\\_%'"));
        Assert.False(Directory.Exists(demo.Root));
    }

    [Fact]
    public async Task Help_documents_the_options()
    {
        var result = await ProcessRunner.RunAsync(GatewayProcess.Executable, ["demo", "--help"]);
        Assert.Equal(0, result.ExitCode);
        foreach (string option in (string[])["--port", "--admin-port", "--upstream", "--pg-bin", "--keep", "--quiet"])
        {
            Assert.Contains(option, result.Stdout, StringComparison.Ordinal);
        }
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(_tmp, recursive: true);
        }
        catch (IOException)
        {
            // Best effort: a temp folder.
        }
    }
}
