namespace Gatehouse.IntegrationTests;

/// <summary>
/// `gatehouse serve` that cannot start: a file the configuration names that cannot be read is one line at its key
/// and exit 2, and a failed start leaves the audit trail as it found it.
/// </summary>
[Collection(GatewayCollection.Name)]
public sealed class ServeStartupTests(GatewayFixture fixture)
{
    private static void Replace(GatewayProcess gateway, string from, string to)
    {
        string config = File.ReadAllText(gateway.ConfigPath);
        Assert.Contains(from, config, StringComparison.Ordinal);
        File.WriteAllText(gateway.ConfigPath, config.Replace(from, to, StringComparison.Ordinal));
    }

    // Top-level YAML; a tls block is merged into the fixture's.
    public static TheoryData<string, string, string> BadFiles => new()
    {
        { "tls:\n  certificate: /nonexistent.pem\n  key: garbage.pem", "tls.certificate", "cannot read /nonexistent.pem: no such file" },
        { "tls:\n  certificate: garbage.pem\n  key: garbage.pem", "tls.certificate", "garbage.pem: not a PEM certificate matching tls.key" },
        { "tls:\n  certificate: somedir\n  key: garbage.pem", "tls.certificate", "somedir: it is a directory" },
        { "audit:\n  key_file: somedir", "audit.key_file", "somedir: it is a directory" },
        { "admin:\n  console:\n    client_secret_file: /nonexistent-secret", "admin.console.client_secret_file", "cannot read /nonexistent-secret: no such file" },
    };

    [Theory]
    [MemberData(nameof(BadFiles))]
    public async Task A_file_that_cannot_be_read_is_one_line_at_its_key_and_exit_2(string yaml, string key, string reason)
    {
        bool tls = yaml.StartsWith("tls:\n", StringComparison.Ordinal);
        await using var gateway = GatewayProcess.Prepare(fixture, extra: tls ? null : yaml);
        if (tls)
        {
            Replace(gateway, "tls:\n", yaml + "\n");
        }

        File.WriteAllText(Path.Combine(gateway.Directory, "garbage.pem"), "not a certificate\n");
        Directory.CreateDirectory(Path.Combine(gateway.Directory, "somedir"));
        gateway.Start();
        var result = await gateway.ExitAsync();

        Assert.True(result.ExitCode == 2, $"exit {result.ExitCode}: {result.Stderr}");
        string line = Assert.Single(result.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Matches($@"gatehouse\.yaml:\d+:\d+: error: {System.Text.RegularExpressions.Regex.Escape(key)}: cannot read ", line);
        Assert.Contains(reason, line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_provisioner_password_file_that_is_missing_is_one_line_at_its_key()
    {
        await using var gateway = GatewayProcess.Prepare(fixture);
        Replace(gateway, "password_file: provisioner.secret", "password_file: nonexistent.secret");
        gateway.Start();
        var result = await gateway.ExitAsync();

        Assert.Equal(2, result.ExitCode);
        Assert.Matches(@"^\S+gatehouse\.yaml:\d+:\d+: error: targets\.shop\.provisioner\.password_file: cannot read \S+nonexistent\.secret: no such file$", result.Stderr.Trim());
    }

    [Fact]
    public async Task A_start_that_fails_leaves_a_trail_that_verifies()
    {
        await using var gateway = GatewayProcess.Prepare(fixture);
        Replace(gateway, "password_file: provisioner.secret", "password_env: NOPE_UNSET_VAR");
        gateway.Start();
        var failed = await gateway.ExitAsync();
        Assert.True(failed.ExitCode == 1, $"exit {failed.ExitCode}: {failed.Stderr}");
        Assert.Contains("NOPE_UNSET_VAR", failed.Stderr, StringComparison.Ordinal);

        var verify = await AuditCli.RunAsync("audit", "verify", "--config", gateway.ConfigPath);
        Assert.True(verify.ExitCode == 0, $"exit {verify.ExitCode}: {verify.Stdout}{verify.Stderr}");
    }
}
