using Npgsql;

namespace Gatehouse.IntegrationTests;

/// <summary>The gatehouse executable as users run it: exit codes, one-line errors, tokens that work.</summary>
[Collection(GatewayCollection.Name)]
public sealed class CliTests(GatewayFixture fixture)
{
    private static readonly string Executable = GatewayProcess.Executable;

    private static Task<ProcessRunner.Result> RunAsync(params string[] arguments) =>
        ProcessRunner.RunAsync(Executable, arguments, timeout: TimeSpan.FromSeconds(60));

    private string WriteFile(string name, string contents)
    {
        string path = Path.Combine(fixture.Directory, $"{Guid.NewGuid():N}-{name}");
        File.WriteAllText(path, contents);
        return path;
    }

    [Fact]
    public async Task Help_lists_the_verbs()
    {
        var result = await RunAsync("--help");
        Assert.Equal(0, result.ExitCode);
        foreach (var verb in new[] { "serve", "token", "policy" })
        {
            Assert.Contains(verb, result.Stdout, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task A_missing_required_option_is_one_clear_line_and_exit_2()
    {
        var result = await RunAsync("serve");
        Assert.Equal(2, result.ExitCode);
        Assert.Contains("gatehouse: Option '--config' is required.", result.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", result.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Every_usage_mistake_is_one_gatehouse_line_and_exit_2_without_dotnet_words()
    {
        string config = fixture.ConfigPath;
        string[][] mistakes =
        [
            ["--bogus"],
            ["sessions", "list", "--limit", "abc", "--config", config],
            ["sessions", "replay", "x", "--speed", "abc", "--config", config],
            ["demo", "--port", "abc"],
            ["token", "--dev", "--sub", "", "--config", config],
            ["token", "--dev", "--sub", "a", "--claim", "sub=x", "--config", config],
            ["token", "--dev", "--sub", "a", "--ttl", "0s", "--config", config],
            ["sessions", "list", "--limit", "0", "--config", config],
            ["sessions", "replay", "x", "--speed", "-1", "--config", config],
            ["sessions", "list", "--decision", "maybe", "--config", config],
            ["sessions", "list", "--since", "1h", "--until", "2h", "--config", config],
            ["policy", "explain", "--config", config, "--claims", "notjson", "--target", "shop", "--sql", "SELECT 1"],
            ["reviews", "reject", "r-1", "--server", "http://127.0.0.1:1"],
        ];
        foreach (var arguments in mistakes)
        {
            var result = await RunAsync(arguments);
            string what = $"gatehouse {string.Join(' ', arguments)}: exit {result.ExitCode}: {result.Stderr}";
            Assert.True(result.ExitCode == 2, what);
            string line = Assert.Single(result.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
            Assert.StartsWith("gatehouse: ", line, StringComparison.Ordinal);
            Assert.DoesNotContain("System.", line, StringComparison.Ordinal);
            Assert.DoesNotContain("(Parameter", line, StringComparison.Ordinal);
        }

        var reject = await RunAsync("reviews", "reject", "r-1", "--server", "http://127.0.0.1:1");
        Assert.Contains("Run 'gatehouse reviews reject --help' for usage.", reject.Stderr, StringComparison.Ordinal);
        var limit = await RunAsync("sessions", "list", "--limit", "abc", "--config", config);
        Assert.Contains("option '--limit' needs a whole number, not 'abc'", limit.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task No_command_or_no_subcommand_names_the_choices()
    {
        var bare = await RunAsync();
        Assert.Equal(2, bare.ExitCode);
        Assert.Equal("gatehouse: a command is needed: serve, token, policy, sessions, audit, demo, mcp, reviews. Run 'gatehouse --help' for usage.", bare.Stderr.Trim());

        var policy = await RunAsync("policy");
        Assert.Equal(2, policy.ExitCode);
        Assert.StartsWith("gatehouse: a command is needed: check, explain", policy.Stderr.Trim(), StringComparison.Ordinal);
        Assert.EndsWith("Run 'gatehouse policy --help' for usage.", policy.Stderr.Trim(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_config_file_that_is_missing_is_one_line_naming_it()
    {
        string missing = Path.Combine(Path.GetTempPath(), $"gatehouse-missing-{Guid.NewGuid():N}.yaml");
        foreach (var arguments in new[] { new[] { "serve", "--config", missing }, ["sessions", "list", "--config", missing], ["audit", "verify", "--config", missing] })
        {
            var result = await RunAsync(arguments);
            Assert.Equal(2, result.ExitCode);
            Assert.Equal($"{missing}: error: file not found", result.Stderr.Trim());
        }
    }

    [Theory]
    [InlineData("localhost:99999")]
    [InlineData("localhost:0")]
    [InlineData("127.0.0.1:70000")]
    public async Task A_listen_port_out_of_range_is_one_positioned_error(string address)
    {
        string config = WriteFile("gatehouse.yaml", $"listen:\n  postgres: {address}\n");
        var result = await RunAsync("serve", "--config", config);
        Assert.Equal(2, result.ExitCode);
        Assert.Contains(":2:13: error: listen.postgres must be ADDRESS:PORT with a port from 1 to 65535", result.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", result.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_config_with_an_unknown_key_is_refused_with_its_position()
    {
        string config = WriteFile("gatehouse.yaml", "listen:\n  postgres: 127.0.0.1:1\n  admn: 127.0.0.1:2\n");
        var result = await RunAsync("serve", "--config", config);
        Assert.Equal(2, result.ExitCode);
        Assert.Contains(":3:3: error: unknown key 'admn' in listen", result.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Token_is_refused_when_the_config_does_not_enable_the_dev_issuer()
    {
        string config = WriteFile("gatehouse.yaml", File.ReadAllText(fixture.ConfigPath).Replace("dev_issuer: true", "dev_issuer: false\n  issuer: https://idp.example.com", StringComparison.Ordinal));
        var result = await RunAsync("token", "--dev", "--sub", "agent", "--config", config);
        Assert.Equal(2, result.ExitCode);
        Assert.Contains("does not enable identity.dev_issuer", result.Stderr, StringComparison.Ordinal);
        Assert.Equal(string.Empty, result.Stdout);
    }

    [Fact]
    public async Task A_token_minted_by_the_cli_logs_in_through_the_running_gateway()
    {
        var result = await RunAsync("token", "--dev", "--sub", "cli-agent", "--claim", "groups=ai-agents", "--ttl", "5m", "--config", fixture.ConfigPath);
        Assert.True(result.ExitCode == 0, result.Stderr);
        string token = result.Stdout.TrimEnd().Split('\n')[^1];
        Assert.Equal(3, token.Split('.').Length);
        await using var connection = await fixture.OpenAsync(token);
        await using var command = new NpgsqlCommand("SELECT 1", connection);
        Assert.Equal(1, await command.ExecuteScalarAsync());
    }

    [Fact]
    public async Task Token_rejects_a_bad_ttl_and_a_bad_claim()
    {
        var ttl = await RunAsync("token", "--dev", "--sub", "a", "--ttl", "forever", "--config", fixture.ConfigPath);
        Assert.Equal(2, ttl.ExitCode);
        Assert.Contains("--ttl must be a duration", ttl.Stderr, StringComparison.Ordinal);
        var claim = await RunAsync("token", "--dev", "--sub", "a", "--claim", "novalue", "--config", fixture.ConfigPath);
        Assert.Equal(2, claim.ExitCode);
        Assert.Contains("--claim \"novalue\" must be key=value", claim.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Policy_check_accepts_a_good_file_and_lists_every_error_of_a_bad_one()
    {
        var good = await RunAsync("policy", "check", fixture.PolicyPath);
        Assert.Equal(0, good.ExitCode);
        Assert.StartsWith("ok: ", good.Stdout, StringComparison.Ordinal);

        string bad = WriteFile("policy.yaml", "identities:\n  a: { claims: { g: x } }\ngrants:\n  - to: nobody\n    targets: [shop]\n    db_roles: [r]\n    rules:\n      - { id: x, when: { class: [sometimes] }, then: deny }\n");
        var result = await RunAsync("policy", "check", bad);
        Assert.Equal(1, result.ExitCode);
        var lines = result.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(lines.Length >= 2, result.Stderr);
        Assert.All(lines, line => Assert.Matches(@":\d+:\d+: error: ", line));
    }

    [Fact]
    public async Task Policy_explain_prints_the_decision_and_the_rule()
    {
        var result = await RunAsync("policy", "explain", "--config", fixture.ConfigPath, "--claims", """{"groups":["ai-agents"]}""", "--target", "shop", "--sql", "SELECT 1; DROP TABLE orders");
        Assert.True(result.ExitCode == 0, result.Stderr);
        Assert.Contains("no-ddl", result.Stdout, StringComparison.Ordinal);
        Assert.Contains("decision: deny", result.Stdout, StringComparison.OrdinalIgnoreCase);

        var badClaims = await RunAsync("policy", "explain", "--config", fixture.ConfigPath, "--claims", "{not json", "--target", "shop", "--sql", "SELECT 1");
        Assert.Equal(2, badClaims.ExitCode);
        Assert.Single(badClaims.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
    }

    [Fact]
    public async Task Serve_runs_the_gateway_as_a_process_and_stops_on_sigterm()
    {
        await using var gateway = GatewayProcess.Prepare(fixture);
        gateway.Start();
        await using (var connection = await gateway.OpenAsync(await gateway.TokenAsync("served")))
        {
            await using var command = new NpgsqlCommand("SELECT count(*) FROM customers", connection);
            Assert.Equal(100L, await command.ExecuteScalarAsync());
        }

        var exited = await gateway.StopAsync(Signals.Terminate);
        Assert.True(exited.ExitCode == 0, exited.Stderr);
    }

    [Fact]
    public async Task Leases_left_by_a_killed_gateway_are_reaped_after_restart()
    {
        await using var gateway = GatewayProcess.Prepare(fixture, "{ mode: ephemeral, ttl: 4s }");
        gateway.Start();
        string role;
        await using (var connection = await gateway.OpenAsync(await gateway.TokenAsync("crash-victim")))
        {
            await using var whoami = new NpgsqlCommand("SELECT current_user", connection);
            role = (string)(await whoami.ExecuteScalarAsync())!;
            await gateway.StopAsync(Signals.Kill);
        }

        Assert.Equal(1L, await fixture.Postgres.ScalarAsync<long>($"SELECT count(*) FROM pg_roles WHERE rolname = '{role}'"));
        gateway.Start();
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (await fixture.Postgres.ScalarAsync<long>($"SELECT count(*) FROM pg_roles WHERE rolname = '{role}'") > 0)
        {
            Assert.True(DateTime.UtcNow < deadline, $"the reaper did not remove {role}");
            await Task.Delay(250);
        }
    }
}
