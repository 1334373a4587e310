using System.Diagnostics;
using Npgsql;

namespace Gatehouse.IntegrationTests;

/// <summary>`gatehouse serve` as a separate process, configured like a test gateway but in its own directory.</summary>
internal sealed class GatewayProcess : IAsyncDisposable
{
    public static readonly string Executable = Path.Combine(AppContext.BaseDirectory, "gatehouse");

    private Process? _process;

    private GatewayProcess(string directory, int port)
    {
        Directory = directory;
        Port = port;
    }

    public string Directory { get; }

    public int Port { get; }

    public string ConfigPath => Path.Combine(Directory, "gatehouse.yaml");

    public int ProcessId => _process!.Id;

    /// <summary>The admin API's base URL (listen.admin of the configuration).</summary>
    public string AdminUrl => "http://" + File.ReadAllLines(ConfigPath).Select(l => l.Trim()).First(l => l.StartsWith("admin: ", StringComparison.Ordinal))["admin: ".Length..];

    /// <summary>A development token of this process's issuer with <paramref name="claims"/> (key=value).</summary>
    public async Task<string> TokenAsync(string subject, params string[] claims)
    {
        var result = await ProcessRunner.RunAsync(Executable, ["token", "--dev", "--sub", subject, .. claims.SelectMany(c => new[] { "--claim", c }), "--config", ConfigPath]);
        Assert.True(result.ExitCode == 0, result.Stderr);
        return result.Stdout.Trim().Split('\n')[^1];
    }

    /// <summary>
    /// Copies the fixture's configuration with new ports and directory; <paramref name="credentials"/> replaces the
    /// target's credentials, <paramref name="state"/> the state store, and <paramref name="extra"/> (top-level YAML) is appended.
    /// </summary>
    public static GatewayProcess Prepare(TestGateway fixture, string? credentials = null, string? state = null, string? extra = null)
    {
        string directory = Path.Combine(fixture.Directory, $"process-{Guid.NewGuid():N}");
        System.IO.Directory.CreateDirectory(directory);
        int port = TestGateway.FreePort();
        string config = File.ReadAllText(fixture.ConfigPath)
            .Replace($"127.0.0.1:{fixture.Port}", $"127.0.0.1:{port}", StringComparison.Ordinal)
            .Replace(fixture.Gateway.AdminUrl.Replace("http://", "", StringComparison.Ordinal), $"127.0.0.1:{TestGateway.FreePort()}", StringComparison.Ordinal)
            .Replace(fixture.Directory, directory, StringComparison.Ordinal);
        if (credentials is not null)
        {
            config = config.Replace("policy: policy.yaml", "", StringComparison.Ordinal).TrimEnd() + $"\n    credentials: {credentials}\npolicy: policy.yaml\n";
        }

        if (state is not null)
        {
            string sqlite = $"state: sqlite:{Path.Combine(directory, "state.db")}";
            Assert.Contains(sqlite, config, StringComparison.Ordinal);
            config = config.Replace(sqlite, $"state: {state}", StringComparison.Ordinal);
        }

        if (extra is not null)
        {
            config = config.TrimEnd() + "\n" + extra.TrimEnd() + "\n";
        }

        File.WriteAllText(Path.Combine(directory, "gatehouse.yaml"), config);
        File.Copy(fixture.PolicyPath, Path.Combine(directory, "policy.yaml"));
        File.Copy(Path.Combine(fixture.Directory, "provisioner.secret"), Path.Combine(directory, "provisioner.secret"));
        return new GatewayProcess(directory, port);
    }

    public void Start() => _process = ProcessRunner.Start(Executable, ["serve", "--config", ConfigPath]);

    public Task<string> TokenAsync(string subject) => TokenAsync(subject, "groups=ai-agents");

    /// <summary>Opens a session, retrying while the process is still starting.</summary>
    public async Task<NpgsqlConnection> OpenAsync(string token)
    {
        var builder = new NpgsqlConnectionStringBuilder { Host = "127.0.0.1", Port = Port, Database = TestGateway.Target, Username = "a", Password = token, SslMode = SslMode.Require, Pooling = false };
        // Generous: under CI's parallel suites a cold process can take many seconds to listen.
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (true)
        {
            var connection = new NpgsqlConnection(builder.ConnectionString);
            try
            {
                await connection.OpenAsync();
                return connection;
            }
            catch (NpgsqlException) when (DateTime.UtcNow < deadline && _process is { HasExited: false })
            {
                await connection.DisposeAsync();
                await Task.Delay(100);
            }
        }
    }

    /// <summary>Waits for a process expected to stop by itself (a start-up error) and collects its output.</summary>
    public async Task<ProcessRunner.Result> ExitAsync()
    {
        var result = await ProcessRunner.CollectAsync(_process!, TimeSpan.FromSeconds(60));
        _process!.Dispose();
        _process = null;
        return result;
    }

    public Task<ProcessRunner.Result> StopAsync(int signal)
    {
        Assert.Equal(0, Signals.Send(_process!.Id, signal));
        return ExitAsync();
    }

    public async ValueTask DisposeAsync()
    {
        if (_process is { HasExited: false })
        {
            await StopAsync(Signals.Kill);
        }

        _process?.Dispose();
    }
}
