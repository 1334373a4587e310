using System.Diagnostics;
using System.Text;
using System.Text.RegularExpressions;

namespace Gatehouse.IntegrationTests;

/// <summary>
/// `gatehouse demo` as a real process: started, read until its banner is out, driven with real psql through the
/// line it printed, stopped with a signal. Output is collected as it arrives so a test can wait for a line.
/// </summary>
internal sealed partial class DemoProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _stdout = new();
    private readonly StringBuilder _stderr = new();
    private readonly Lock _lock = new();
    private readonly Task _readers;

    private DemoProcess(Process process)
    {
        _process = process;
        _readers = Task.WhenAll(PumpAsync(process.StandardOutput, _stdout), PumpAsync(process.StandardError, _stderr));
    }

    public int ProcessId => _process.Id;

    public string Stdout
    {
        get
        {
            lock (_lock)
            {
                return _stdout.ToString();
            }
        }
    }

    public string Stderr
    {
        get
        {
            lock (_lock)
            {
                return _stderr.ToString();
            }
        }
    }

    /// <summary>The psql line's password (the agent token).</summary>
    public string Token { get; private set; } = string.Empty;

    /// <summary>The psql line's connection string, e.g. host=127.0.0.1 port=6432 dbname=shop user=agent sslmode=require.</summary>
    public string ConnectionInfo { get; private set; } = string.Empty;

    /// <summary>The temp folder the banner's files line names.</summary>
    public string Root { get; private set; } = string.Empty;

    /// <summary>The reviewer token (the first line after the reviewer paragraph that is a JWT).</summary>
    public string ReviewerToken { get; private set; } = string.Empty;

    public static DemoProcess Start(IEnumerable<string> arguments, IDictionary<string, string>? environment = null) =>
        new(ProcessRunner.Start(GatewayProcess.Executable, ["demo", .. arguments], environment));

    /// <summary>Waits for the banner and reads the psql line and the temp folder from it.</summary>
    public async Task WaitUntilReadyAsync(TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(90));
        while (true)
        {
            string stdout = Stdout;
            if (PsqlLine().Match(stdout) is { Success: true } psql && stdout.Contains("The gateway's log", StringComparison.Ordinal))
            {
                Token = psql.Groups["token"].Value;
                ConnectionInfo = psql.Groups["conninfo"].Value;
                Root = FilesLine().Match(stdout).Groups["root"].Value;
                ReviewerToken = ReviewerLine().Match(stdout).Groups["token"].Value;
                return;
            }

            Assert.False(_process.HasExited, $"gatehouse demo exited with {(_process.HasExited ? _process.ExitCode : 0)} before it was ready:\n{stdout}\n{Stderr}");
            Assert.True(DateTime.UtcNow < deadline, $"gatehouse demo was not ready in time:\n{stdout}\n{Stderr}");
            await Task.Delay(100);
        }
    }

    /// <summary>Runs psql exactly as the printed line does, with <paramref name="sql"/> on stdin.</summary>
    public Task<ProcessRunner.Result> PsqlAsync(string sql) =>
        ProcessRunner.RunAsync(Psql, ["-X", "-v", "ON_ERROR_STOP=0", ConnectionInfo, "-f", "-"],
            new Dictionary<string, string> { ["PGPASSWORD"] = Token }, TimeSpan.FromSeconds(60), sql);

    /// <summary>Sends <paramref name="signal"/> and waits for the exit.</summary>
    public async Task<int> StopAsync(int signal, TimeSpan? timeout = null)
    {
        string ignored = Signals.IgnoredBy(_process.Id, signal);
        Assert.Equal(0, Signals.Send(_process.Id, signal));
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(60));
        try
        {
            await _process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            Assert.Fail($"gatehouse demo did not exit after signal {signal}{ignored}:\n{Stderr}");
        }

        await _readers;
        return _process.ExitCode;
    }

    /// <summary>Waits for the process to end by itself (bad input: it should not start anything).</summary>
    public async Task<int> WaitForExitAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        await _process.WaitForExitAsync(cts.Token);
        await _readers;
        return _process.ExitCode;
    }

    /// <summary>Processes whose command line mentions <paramref name="text"/> (e.g. a data folder), from /proc.</summary>
    public static List<string> ProcessesMentioning(string text)
    {
        var found = new List<string>();
        foreach (string directory in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(directory), out _))
            {
                continue;
            }

            try
            {
                string commandLine = File.ReadAllText(Path.Combine(directory, "cmdline")).Replace('\0', ' ');
                if (commandLine.Contains(text, StringComparison.Ordinal))
                {
                    found.Add($"{Path.GetFileName(directory)}: {commandLine}");
                }
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                // The process ended while being read.
            }
        }

        return found;
    }

    public static string Psql => File.Exists("/usr/bin/psql") ? "/usr/bin/psql" : "psql";

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            // SIGTERM first: the demo cleans up on it; a kill would leave PostgreSQL running.
            Signals.Send(_process.Id, Signals.Terminate);
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            try
            {
                await _process.WaitForExitAsync(cts.Token);
            }
            catch (OperationCanceledException)
            {
                _process.Kill(entireProcessTree: true);
            }
        }

        _process.Dispose();
    }

    private async Task PumpAsync(StreamReader reader, StringBuilder into)
    {
        var buffer = new char[4096];
        int read;
        while ((read = await reader.ReadAsync(buffer)) > 0)
        {
            lock (_lock)
            {
                into.Append(buffer, 0, read);
            }
        }
    }

    [GeneratedRegex("""PGPASSWORD=(?<token>[A-Za-z0-9_\-.]+) psql "(?<conninfo>[^"]+)"\n""")]
    private static partial Regex PsqlLine();

    [GeneratedRegex(@"^  files +(?<root>\S+) ", RegexOptions.Multiline)]
    private static partial Regex FilesLine();

    [GeneratedRegex(@"Reviewer token[^\n]*\n[^\n]*\n\n  (?<token>[A-Za-z0-9_\-.]+)\n")]
    private static partial Regex ReviewerLine();
}
