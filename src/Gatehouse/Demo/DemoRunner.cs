using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using Gatehouse.Commands;
using Gatehouse.Hosting;
using Gatehouse.Identity;
using Microsoft.IdentityModel.Tokens;
using Npgsql;

namespace Gatehouse.Demo;

/// <summary>
/// `gatehouse demo`: everything a newcomer needs to see the gateway work, made on the spot and removed at exit.
/// <code>
///  check ports, find initdb/pg_ctl (or parse --upstream)        ── bad input: one line, exit 1/2, nothing made
///  temp folder ─► PostgreSQL (throwaway cluster, or a fresh database upstream) ─► shop schema + roles
///             ─► gatehouse.yaml + policy.yaml ─► GatewayHost, as `serve` runs it
///             ─► tokens from the dev issuer; a look at what masking and the console do today ─► banner
///  SIGINT / SIGTERM / the gateway stopping ─► cleanup: gateway, PostgreSQL (or the demo database and roles),
///                                             temp folder (unless --keep); also on any exception
/// </code>
/// </summary>
internal sealed class DemoRunner
{
    private const string AgentSubject = "demo-agent";
    private const string ReviewerSubject = "demo-reviewer";
    private static readonly TimeSpan TokenLifetime = TimeSpan.FromHours(1);

    private readonly DemoOptions _options;
    private readonly TextWriter _out;
    private readonly TextWriter _error;
    private readonly ManualResetEventSlim _cleanedUp = new(initialState: true);
    private volatile bool _showInformation;
    private string? _root;
    private string? _consolePassword;
    private DemoUpstream? _upstream;
    private GatewayHost? _host;

    public DemoRunner(DemoOptions options, TextWriter output, TextWriter error)
    {
        _options = options;
        _out = output;
        _error = error;
    }

    public async Task<int> RunAsync(CancellationToken ct)
    {
        if (Validate() is { } usage)
        {
            await _error.WriteLineAsync($"gatehouse: demo: {usage}");
            return CommandSupport.ExitUsage;
        }

        UpstreamUri? existing = null;
        string? binDirectory = null;
        string problem;
        if (_options.Upstream is not null)
        {
            existing = UpstreamUri.TryParse(_options.Upstream, out problem);
            if (existing is null)
            {
                await _error.WriteLineAsync($"gatehouse: demo: {problem}");
                return CommandSupport.ExitUsage;
            }
        }
        else
        {
            binDirectory = PostgresBinaries.Find(_options.PostgresBin, out problem);
            if (binDirectory is null)
            {
                await _error.WriteLineAsync($"gatehouse: demo: {problem}");
                return CommandSupport.ExitFailure;
            }
        }

        int port = _options.Port == 0 ? Ports.Free() : _options.Port;
        int adminPort = _options.AdminPort == 0 ? Ports.Free() : _options.AdminPort;
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        using var interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, Stop);
        using var terminate = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Stop);
        _cleanedUp.Reset();
        // If the command line library gives up waiting for this method after a signal, the process must still not
        // exit before PostgreSQL is stopped and the temp folder removed.
        AppDomain.CurrentDomain.ProcessExit += WaitForCleanup;
        try
        {
            return await RunAsync(existing, binDirectory, port, adminPort, stop.Token);
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            await _error.WriteLineAsync("gatehouse: demo: interrupted while starting");
            return CommandSupport.ExitOk;
        }
        catch (Exception ex)
        {
            await _error.WriteLineAsync($"gatehouse: demo: failed: {ex.GetType().Name}: {ex.Message.ReplaceLineEndings(" ")}");
            return CommandSupport.ExitFailure;
        }
        finally
        {
            await CleanupAsync();
            _cleanedUp.Set();
        }

        void Stop(PosixSignalContext context)
        {
            context.Cancel = true;
            if (!stop.IsCancellationRequested)
            {
                _error.WriteLine("gatehouse: demo: stopping: the gateway (its sessions end), then PostgreSQL …");
            }

            stop.Cancel();
        }
    }

    private string? Validate()
    {
        foreach (var (name, value) in new[] { ("--port", _options.Port), ("--admin-port", _options.AdminPort) })
        {
            if (value is < 0 or > 65535)
            {
                return $"{name} must be from 1 to 65535 (0: any free port)";
            }

            if (value != 0 && !Ports.CanListen(value))
            {
                return $"port {value} on 127.0.0.1 is in use; choose another with {name} (0 picks a free one)";
            }
        }

        if (_options.Port != 0 && _options.Port == _options.AdminPort)
        {
            return "--port and --admin-port must differ";
        }

        if (_options.Upstream is not null && _options.PostgresBin is not null)
        {
            return "--pg-bin and --upstream exclude each other: a server is either started here or already running";
        }

        return null;
    }

    private async Task<int> RunAsync(UpstreamUri? existing, string? binDirectory, int port, int adminPort, CancellationToken ct)
    {
        _root = Directory.CreateTempSubdirectory("gatehouse-demo-").FullName;
        string gatewayDirectory = Path.Combine(_root, "gateway");
        CreatePrivateDirectory(gatewayDirectory);
        await _error.WriteLineAsync(existing is null
            ? $"gatehouse: demo: starting a throwaway PostgreSQL from {binDirectory} …"
            : $"gatehouse: demo: preparing a demo database on {existing.Display} …");

        string error;
        if (existing is null)
        {
            // The cluster's folder belongs to the postgres OS user when this runs as root: it must reach it.
            if (ServerTools.IsRoot && !OperatingSystem.IsWindows())
            {
                File.SetUnixFileMode(_root, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute);
            }

            (_upstream, error) = await DemoUpstream.StartLocalAsync(binDirectory!, Path.Combine(_root, "postgres"), ct);
        }
        else
        {
            (_upstream, error) = await DemoUpstream.PrepareExistingAsync(existing, ct);
        }

        if (_upstream is null)
        {
            await _error.WriteLineAsync($"gatehouse: demo: {error}");
            return CommandSupport.ExitFailure;
        }

        string configPath = await WriteGatewayFilesAsync(gatewayDirectory, port, adminPort, ct);
        var config = CommandSupport.LoadConfig(new FileInfo(configPath));
        if (config is null)
        {
            return CommandSupport.ExitFailure;
        }

        _host = GatewayHost.Create(config, _error, logging => logging.AddFilter((category, level) =>
            level >= LogLevel.Warning || (_showInformation && level >= LogLevel.Information && category?.StartsWith("Gatehouse", StringComparison.Ordinal) == true)));
        if (_host is null)
        {
            return CommandSupport.ExitFailure;
        }

        try
        {
            await _host.StartAsync(ct);
        }
        catch (GatewayListenException ex)
        {
            await _error.WriteLineAsync($"gatehouse: demo: the gateway {ex.Message}");
            return CommandSupport.ExitFailure;
        }
        catch (GatewayStartupException ex)
        {
            await _error.WriteLineAsync($"gatehouse: demo: the gateway cannot start: {string.Join("; ", ex.Problems)}");
            return CommandSupport.ExitFailure;
        }
        catch (Exception ex) when (ex is IOException or SocketException)
        {
            await _error.WriteLineAsync($"gatehouse: demo: the gateway cannot listen on 127.0.0.1:{port} / 127.0.0.1:{adminPort}: {ex.Message}");
            return CommandSupport.ExitFailure;
        }

        var issuer = DevIssuer.LoadOrCreate(config.StateDirectory, GatewayHost.DevIssuerUrl(config), TimeProvider.System);
        string audience = config.Identity.Audiences[0];
        string agentToken = issuer.Mint(AgentSubject, [new("groups", DemoFiles.AgentGroup)], TokenLifetime, audience);
        string reviewerToken = issuer.Mint(ReviewerSubject, [new("roles", DemoFiles.ReviewerRole)], TokenLifetime, audience);
        var banner = new DemoBanner
        {
            Root = _root,
            ConfigPath = configPath,
            Upstream = _upstream.Describe(),
            Port = _host.PostgresEndPoint.Port,
            AdminUrl = _host.AdminUrl.TrimEnd('/'),
            AgentToken = agentToken,
            ReviewerToken = reviewerToken,
            Masking = await DemoProbes.MaskingAsync(_host.PostgresEndPoint.Port, agentToken, _upstream.ConnectionString(), ct),
            Console = await DemoProbes.ConsoleAsync(_host.AdminUrl, ct),
            ConsolePassword = _consolePassword!,
            Gatehouse = CommandLine(),
            Keep = _options.Keep,
        };
        await _out.WriteAsync(banner.Render());
        await _out.FlushAsync(ct);
        _showInformation = !_options.Quiet;
        await _host.WaitForShutdownAsync(ct);
        return CommandSupport.ExitOk;
    }

    private async Task<string> WriteGatewayFilesAsync(string directory, int port, int adminPort, CancellationToken ct)
    {
        var upstream = _upstream!;
        if (upstream.PasswordInEnvironment)
        {
            Environment.SetEnvironmentVariable(DemoFiles.ProvisionerPasswordVariable, upstream.ProvisionerPassword);
        }
        else
        {
            await WritePrivateFileAsync(Path.Combine(directory, "provisioner.secret"), upstream.ProvisionerPassword, ct);
        }

        _consolePassword = Base64UrlEncoder.Encode(RandomNumberGenerator.GetBytes(18));
        await WritePrivateFileAsync(Path.Combine(directory, DemoFiles.ConsoleLoginPasswordFile), _consolePassword, ct);
        await File.WriteAllTextAsync(Path.Combine(directory, "policy.yaml"), DemoFiles.Policy(upstream.ReadRole, upstream.WriteRole), ct);
        string configPath = Path.Combine(directory, "gatehouse.yaml");
        await File.WriteAllTextAsync(configPath, DemoFiles.Config(port, adminPort, upstream.Host, upstream.Port, upstream.Database,
            upstream.TlsMode, upstream.RootCertificate, upstream.ProvisionerUser, upstream.PasswordInEnvironment), ct);
        return configPath;
    }

    /// <summary>Stops the gateway, then PostgreSQL (or drops the demo database and roles), then removes the temp folder.</summary>
    private async Task CleanupAsync()
    {
        _showInformation = false;
        if (_host is not null)
        {
            await _host.DisposeAsync();
            _host = null;
        }

        if (_upstream is not null)
        {
            await _upstream.CleanupAsync(_error);
            _upstream = null;
        }

        Environment.SetEnvironmentVariable(DemoFiles.ProvisionerPasswordVariable, null);
        if (_root is null)
        {
            return;
        }

        if (_options.Keep)
        {
            await _error.WriteLineAsync($"gatehouse: demo: stopped; kept {_root} (--keep): remove it when done");
            return;
        }

        try
        {
            Directory.Delete(_root, recursive: true);
            await _error.WriteLineAsync($"gatehouse: demo: stopped; removed {_root}");
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            await _error.WriteLineAsync($"gatehouse: demo: stopped, but {_root} could not be removed: {ex.Message}");
        }
    }

    private void WaitForCleanup(object? sender, EventArgs e) => _cleanedUp.Wait(TimeSpan.FromSeconds(60));

    /// <summary>How to run this same executable again, for the printed `token` line.</summary>
    private static string CommandLine()
    {
        string? path = Environment.ProcessPath;
        if (path is null)
        {
            return "gatehouse";
        }

        return Path.GetFileNameWithoutExtension(path) == "dotnet"
            ? $"dotnet {Quote(Path.Combine(AppContext.BaseDirectory, "gatehouse.dll"))}"
            : Quote(path);
    }

    internal static string Quote(string text) => text.Contains(' ', StringComparison.Ordinal) ? $"'{text}'" : text;

    private static void CreatePrivateDirectory(string path)
    {
        if (OperatingSystem.IsWindows())
        {
            Directory.CreateDirectory(path);
        }
        else
        {
            Directory.CreateDirectory(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }
    }

    private static async Task WritePrivateFileAsync(string path, string contents, CancellationToken ct)
    {
        await File.WriteAllTextAsync(path, string.Empty, ct);
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }

        await File.WriteAllTextAsync(path, contents, ct);
    }
}
