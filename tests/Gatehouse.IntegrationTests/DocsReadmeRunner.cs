using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using Gatehouse.Demo;

namespace Gatehouse.IntegrationTests;

/// <summary>
/// Runs README.md the way a newcomer would, section by section (`## ` headings):
/// <code>
///  ```sh   commands in order, as one bash script per run of plain commands (so TOKEN=$(…) reaches the next line),
///          from the repository root; `dotnet run --project src/Gatehouse --` is the executable the tests built.
///          Comments the test understands, each about the command after it:
///            # docs-test: skip — reason                    not run
///            # docs-test: background until "TEXT"           started on its own, ready when its output has TEXT;
///                                                           SIGINT at the end of the section, must exit cleanly
///            # docs-test: needs PostgreSQL on H:P (superuser U, password P)   such a server is started first
///  ```sql  run through the psql line the section's background demo printed; each `-- expect: TEXT` must be in
///          the output of the statements since the previous expect line
/// </code>
/// </summary>
internal sealed partial class DocsReadmeRunner : IAsyncDisposable
{
    private const string Directive = "# docs-test:";

    private readonly string _root = ProcessRunner.RepositoryRoot();
    private readonly string _tmp;
    private readonly List<Background> _background = [];
    private readonly List<LocalPostgres> _servers = [];
    private readonly List<string> _serverFolders = [];

    public DocsReadmeRunner(string tmp) => _tmp = tmp;

    public int CommandsRun { get; private set; }

    public int ExpectationsChecked { get; private set; }

    public List<string> Skipped { get; } = [];

    public async Task RunAsync(string markdown)
    {
        int section = -1;
        foreach (var block in DocsMarkdown.Blocks(markdown))
        {
            if (block.Section != section)
            {
                await EndSectionAsync();
                section = block.Section;
            }

            if (block.Language == "sh")
            {
                await RunShellBlockAsync(block);
            }
            else if (block.Language == "sql")
            {
                await RunSqlBlockAsync(block);
            }
        }

        await EndSectionAsync();
    }

    private async Task RunShellBlockAsync(DocsMarkdown.Block block)
    {
        var script = new StringBuilder();
        string? directive = null;
        foreach (string command in Commands(block.Text))
        {
            if (command.StartsWith(Directive, StringComparison.Ordinal))
            {
                directive = command[Directive.Length..].Trim();
                continue;
            }

            if (command.StartsWith('#'))
            {
                continue;
            }

            string where = $"README.md:{block.Line} ({block.Heading}): {command}";
            switch (directive)
            {
                case null:
                    script.Append(command).Append('\n');
                    break;
                case var d when d.StartsWith("skip", StringComparison.Ordinal):
                    Assert.True(d.Length > "skip — ".Length, $"{where}: a skipped command says why");
                    Skipped.Add(command);
                    break;
                case var d when BackgroundPattern().Match(d) is { Success: true } background:
                    await FlushAsync(script, where);
                    var started = Background.Start(Script(command), Environment());
                    _background.Add(started);
                    await started.WaitForAsync(background.Groups["text"].Value, where);
                    CommandsRun++;
                    break;
                case var d when NeedsPattern().Match(d) is { Success: true } needs:
                    await FlushAsync(script, where);
                    await StartPostgresAsync(needs, where);
                    script.Append(command).Append('\n');
                    break;
                default:
                    Assert.Fail($"{where}: unknown directive '{directive}'");
                    break;
            }

            directive = null;
        }

        await FlushAsync(script, $"README.md:{block.Line} ({block.Heading})");
    }

    private async Task FlushAsync(StringBuilder script, string where)
    {
        if (script.Length == 0)
        {
            return;
        }

        string commands = script.ToString();
        script.Clear();
        var result = await ProcessRunner.RunAsync("bash", ["-c", Script(commands)], Environment(), TimeSpan.FromSeconds(120), stdin: string.Empty);
        Assert.True(result.ExitCode == 0, $"{where}: exit {result.ExitCode}\n--- commands ---\n{commands}--- stdout ---\n{result.Stdout}\n--- stderr ---\n{result.Stderr}");
        CommandsRun += commands.Count(c => c == '\n');
    }

    private async Task RunSqlBlockAsync(DocsMarkdown.Block block)
    {
        var demo = _background.LastOrDefault(b => PsqlLine().IsMatch(b.Output));
        Assert.True(demo is not null, $"README.md:{block.Line}: a sql block needs a running demo in its section");
        var psql = PsqlLine().Match(demo.Output);
        var chunk = new StringBuilder();
        foreach (string line in block.Text.Split('\n'))
        {
            if (ExpectPattern().Match(line) is { Success: true } expect)
            {
                string sql = chunk.ToString();
                chunk.Clear();
                var result = await ProcessRunner.RunAsync(DemoProcess.Psql, ["-X", psql.Groups["conninfo"].Value, "-f", "-"],
                    new Dictionary<string, string> { ["PGPASSWORD"] = psql.Groups["token"].Value }, TimeSpan.FromSeconds(60), sql);
                string output = result.Stdout + result.Stderr;
                string expected = expect.Groups["text"].Value.TrimEnd();
                Assert.True(output.Contains(expected, StringComparison.Ordinal), $"README.md:{block.Line} ({block.Heading}): expected \"{expected}\" from\n{sql}--- psql said ---\n{output}");
                ExpectationsChecked++;
            }
            else if (!line.TrimStart().StartsWith("--", StringComparison.Ordinal))
            {
                chunk.Append(line).Append('\n');
            }
        }

        Assert.True(chunk.ToString().Trim().Length == 0, $"README.md:{block.Line}: statements after the last -- expect: line are not checked");
    }

    private async Task StartPostgresAsync(Match needs, string where)
    {
        Assert.Equal("127.0.0.1", needs.Groups["host"].Value);
        int port = int.Parse(needs.Groups["port"].Value, CultureInfo.InvariantCulture);
        string? bin = PostgresBinaries.Find(null, out string missing);
        Assert.True(bin is not null, $"{where}: {missing}");
        string folder = Path.Combine(_tmp, $"postgres-{port}");
        _serverFolders.Add(folder);
        var (server, error) = await LocalPostgres.StartAsync(bin, folder, port, needs.Groups["user"].Value, needs.Groups["password"].Value, CancellationToken.None);
        Assert.True(server is not null, $"{where}: cannot start PostgreSQL on port {port}: {error}");
        _servers.Add(server);
    }

    /// <summary>Stops what the section started: background commands by SIGINT to their process group, then servers.</summary>
    private async Task EndSectionAsync()
    {
        var failures = new List<string>();
        foreach (var background in Enumerable.Reverse(_background))
        {
            int exit = await background.InterruptAsync();
            if (exit is not (0 or 130))
            {
                failures.Add($"'{background.Command.Trim()}' exited with {exit} after SIGINT:\n{background.Output}");
            }
        }

        _background.Clear();
        foreach (var server in _servers)
        {
            await server.StopAsync();
        }

        _servers.Clear();
        foreach (string folder in _serverFolders)
        {
            Directory.Delete(folder, recursive: true);
        }

        _serverFolders.Clear();
        var leftovers = Directory.EnumerateFileSystemEntries(_tmp).ToList();
        Assert.True(failures.Count == 0, string.Join('\n', failures));
        Assert.True(leftovers.Count == 0, $"left in TMPDIR after the section: {string.Join(", ", leftovers)}");
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var background in _background)
        {
            await background.InterruptAsync();
        }

        foreach (var server in _servers)
        {
            await server.StopAsync();
        }
    }

    private Dictionary<string, string> Environment() => new()
    {
        ["TMPDIR"] = _tmp,
        ["GATEHOUSE_EXE"] = GatewayProcess.Executable,
    };

    /// <summary>The commands with the repository root as working directory and `dotnet run --project src/Gatehouse --` served by the built executable.</summary>
    private string Script(string commands) => $$"""
        set -euo pipefail
        cd '{{_root}}'
        dotnet() {
          if [ "${1:-}" = run ] && [ "${2:-}" = --project ] && [ "${3:-}" = src/Gatehouse ] && [ "${4:-}" = -- ]; then
            shift 4; "$GATEHOUSE_EXE" "$@"
          else
            command dotnet "$@"
          fi
        }
        {{commands}}
        """;

    /// <summary>Lines of a shell block with backslash continuations joined; comments and blank lines kept apart.</summary>
    private static IEnumerable<string> Commands(string text)
    {
        var current = new StringBuilder();
        foreach (string raw in text.Split('\n'))
        {
            string line = raw.TrimEnd();
            if (current.Length == 0 && line.Trim().Length == 0)
            {
                continue;
            }

            if (line.EndsWith('\\'))
            {
                current.Append(line[..^1]).Append(' ');
                continue;
            }

            current.Append(line);
            yield return current.ToString().Trim();
            current.Clear();
        }
    }

    [GeneratedRegex("""^background until "(?<text>[^"]+)"$""")]
    private static partial Regex BackgroundPattern();

    [GeneratedRegex(@"^needs PostgreSQL on (?<host>[^:\s]+):(?<port>\d+) \(superuser (?<user>[^,\s]+), password (?<password>[^)\s]+)\)$")]
    private static partial Regex NeedsPattern();

    [GeneratedRegex(@"^\s*-- expect: (?<text>.+)$")]
    private static partial Regex ExpectPattern();

    [GeneratedRegex("""PGPASSWORD=(?<token>[A-Za-z0-9_\-.]+) psql "(?<conninfo>[^"]+)"\n""")]
    private static partial Regex PsqlLine();

    /// <summary>A long-running command in its own session (setsid), so SIGINT reaches bash and what it runs.</summary>
    private sealed class Background
    {
        private readonly Process _process;
        private readonly StringBuilder _output = new();
        private readonly Lock _lock = new();
        private readonly Task _pumps;

        private Background(Process process, string command)
        {
            _process = process;
            Command = command;
            _pumps = Task.WhenAll(PumpAsync(process.StandardOutput), PumpAsync(process.StandardError));
        }

        public string Command { get; }

        public string Output
        {
            get
            {
                lock (_lock)
                {
                    return _output.ToString();
                }
            }
        }

        public static Background Start(string script, IDictionary<string, string> environment)
        {
            var process = ProcessRunner.Start("setsid", ["bash", "-c", script], environment);
            process.StandardInput.Close();
            return new Background(process, script.Split('\n')[^1]);
        }

        public async Task WaitForAsync(string text, string where)
        {
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(120);
            while (!Output.Contains(text, StringComparison.Ordinal))
            {
                Assert.False(_process.HasExited, $"{where}: exited with {(_process.HasExited ? _process.ExitCode : 0)} before printing \"{text}\":\n{Output}");
                Assert.True(DateTime.UtcNow < deadline, $"{where}: did not print \"{text}\" in time:\n{Output}");
                await Task.Delay(100);
            }
        }

        public async Task<int> InterruptAsync()
        {
            if (!_process.HasExited)
            {
                Signals.Send(-_process.Id, Signals.Interrupt);
                using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
                try
                {
                    await _process.WaitForExitAsync(cts.Token);
                }
                catch (OperationCanceledException)
                {
                    // What is still running, and the threads of each process, so a stall at exit can be placed.
                    var ignored = Process.GetProcesses().Where(p => ParentIs(p.Id, _process.Id))
                        .Select(p => Signals.IgnoredBy(p.Id, Signals.Interrupt)).FirstOrDefault(i => i.Length > 0) ?? "";
                    var ps = await ProcessRunner.RunAsync("ps", ["-L", "-o", "pid,lwp,stat,wchan:24,comm", "-g", _process.Id.ToString(CultureInfo.InvariantCulture)],
                        new Dictionary<string, string>(), TimeSpan.FromSeconds(10), stdin: string.Empty);
                    lock (_lock)
                    {
                        _output.Append($"\n[docs-test: still running 60s after SIGINT{ignored}]\n").Append(ps.Stdout);
                    }

                    Signals.Send(-_process.Id, Signals.Kill);
                    await _process.WaitForExitAsync(CancellationToken.None);
                    return -1;
                }
            }

            await _pumps;
            return _process.ExitCode;
        }

        private static bool ParentIs(int pid, int parent)
        {
            try
            {
                var stat = File.ReadAllText($"/proc/{pid}/stat");
                var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
                return fields[1] == parent.ToString(CultureInfo.InvariantCulture);
            }
            catch (IOException)
            {
                return false;
            }
        }

        private async Task PumpAsync(StreamReader reader)
        {
            var buffer = new char[4096];
            int read;
            while ((read = await reader.ReadAsync(buffer)) > 0)
            {
                lock (_lock)
                {
                    _output.Append(buffer, 0, read);
                }
            }
        }
    }
}
