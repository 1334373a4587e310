using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Npgsql;

namespace Gatehouse.Testing;

/// <summary>Options for a throwaway <see cref="PostgresServer"/>.</summary>
public sealed record PostgresServerOptions
{
    /// <summary>ssl=on with a self-signed certificate (CN=localhost, SAN localhost + 127.0.0.1).</summary>
    public bool Ssl { get; init; }

    /// <summary>Method for the <c>host</c> lines of pg_hba.conf: md5, password, scram-sha-256 or trust.</summary>
    public string HostAuthMethod { get; init; } = "scram-sha-256";

    /// <summary>Extra postgresql.conf settings, e.g. <c>log_statement = all</c>.</summary>
    public IReadOnlyDictionary<string, string> Settings { get; init; } = new Dictionary<string, string>();

    /// <summary>How long initdb + start may take before start-up is declared failed.</summary>
    public TimeSpan StartTimeout { get; init; } = TimeSpan.FromSeconds(60);
}

/// <summary>
/// A real, throwaway PostgreSQL cluster for tests: initdb into a temp folder, listen on
/// 127.0.0.1 on a free port, stop with <c>pg_ctl stop -m immediate</c> and delete everything on dispose.
/// Runs the server binaries as the <c>postgres</c> OS user when the test process is root.
/// </summary>
public sealed class PostgresServer : IAsyncDisposable
{
    private readonly string _root;
    private readonly bool _asPostgresUser;
    private readonly bool _ssl;
    private NpgsqlDataSource? _dataSource;
    private int _disposed;

    private PostgresServer(string root, string binDirectory, int port, bool asPostgresUser, bool ssl)
    {
        _root = root;
        _asPostgresUser = asPostgresUser;
        _ssl = ssl;
        BinDirectory = binDirectory;
        Port = port;
        DataDirectory = Path.Combine(root, "data");
        LogFile = Path.Combine(root, "server.log");
        SuperUserPassword = Convert.ToHexString(RandomNumberGenerator.GetBytes(16)).ToLowerInvariant();
        CertificatePath = ssl ? Path.Combine(root, "server.crt") : null;
    }

    public string Host => "127.0.0.1";
    public int Port { get; private set; }
    public string DataDirectory { get; }
    public string BinDirectory { get; }
    public string SuperUser => "postgres";
    public string SuperUserPassword { get; }
    public string LogFile { get; }

    /// <summary>PEM of the server's self-signed certificate when started with <see cref="PostgresServerOptions.Ssl"/>.</summary>
    public string? CertificatePath { get; }

    public static async Task<PostgresServer> StartAsync(PostgresServerOptions? options = null, CancellationToken ct = default)
    {
        options ??= new PostgresServerOptions();
        var bin = FindBinDirectory();
        var root = Directory.CreateTempSubdirectory("gatehouse-pg-").FullName;
        var asPostgres = Environment.UserName == "root";
        var server = new PostgresServer(root, bin, FreePort(), asPostgres, options.Ssl);
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
            timeout.CancelAfter(options.StartTimeout);
            await server.InitAndStartAsync(options, timeout.Token);
            return server;
        }
        catch (Exception ex) when (ex is not PostgresServerException)
        {
            var tail = server.LogTail();
            await server.DisposeAsync();
            throw new PostgresServerException($"PostgreSQL failed to start: {ex.Message}\n--- server log tail ---\n{tail}", ex);
        }
        catch
        {
            await server.DisposeAsync();
            throw;
        }
    }

    public string ConnectionString(string database = "postgres")
    {
        var b = new NpgsqlConnectionStringBuilder
        {
            Host = Host,
            Port = Port,
            Username = SuperUser,
            Password = SuperUserPassword,
            Database = database,
            SslMode = _ssl ? SslMode.Require : SslMode.Disable,
        };
        return b.ConnectionString;
    }

    public async Task ExecuteAsync(string sql, string database = "postgres", CancellationToken ct = default)
    {
        await using var conn = await OpenAsync(database, ct);
        await using var cmd = new NpgsqlCommand(sql, conn);
        await cmd.ExecuteNonQueryAsync(ct);
    }

    public async Task<T?> ScalarAsync<T>(string sql, string database = "postgres", CancellationToken ct = default)
    {
        await using var conn = await OpenAsync(database, ct);
        await using var cmd = new NpgsqlCommand(sql, conn);
        var value = await cmd.ExecuteScalarAsync(ct);
        return value is null or DBNull ? default : (T)value;
    }

    /// <summary>Stops the server at once (pg_ctl -m immediate), as a crash would; DisposeAsync still cleans up.</summary>
    public Task StopImmediatelyAsync(CancellationToken ct = default) =>
        RunAsync(Tool("pg_ctl"), ["stop", "-D", DataDirectory, "-m", "immediate", "-w", "-t", "30"], TimeSpan.FromSeconds(40), ct);

    /// <summary>Restarts the server (pg_ctl restart -m fast: every session is ended with 57P01) and waits until it accepts connections.</summary>
    public async Task RestartAsync(CancellationToken ct = default)
    {
        await RunAsync(Tool("pg_ctl"), ["restart", "-D", DataDirectory, "-l", LogFile, "-m", "fast", "-w", "-t", "60"], TimeSpan.FromSeconds(70), ct);
        _dataSource?.Clear();
    }

    /// <summary>Starts the server again after <see cref="StopImmediatelyAsync"/> (crash recovery runs) and waits until it accepts connections.</summary>
    public async Task StartAgainAsync(CancellationToken ct = default)
    {
        await RunAsync(Tool("pg_ctl"), ["start", "-D", DataDirectory, "-l", LogFile, "-w", "-t", "60"], TimeSpan.FromSeconds(70), ct);
        _dataSource?.Clear();
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
            return;
        if (_dataSource is not null)
            await _dataSource.DisposeAsync();
        if (File.Exists(Path.Combine(DataDirectory, "postmaster.pid")))
        {
            try { await RunAsync(Tool("pg_ctl"), ["stop", "-D", DataDirectory, "-m", "immediate", "-w", "-t", "30"], TimeSpan.FromSeconds(40), default); }
            catch (PostgresServerException) { /* best effort: the directory goes anyway */ }
        }
        try { Directory.Delete(_root, recursive: true); }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }

    private async Task<NpgsqlConnection> OpenAsync(string database, CancellationToken ct)
    {
        if (database == "postgres")
        {
            _dataSource ??= NpgsqlDataSource.Create(ConnectionString());
            return await _dataSource.OpenConnectionAsync(ct);
        }
        var conn = new NpgsqlConnection(ConnectionString(database));
        await conn.OpenAsync(ct);
        return conn;
    }

    private async Task InitAndStartAsync(PostgresServerOptions options, CancellationToken ct)
    {
        var pwFile = Path.Combine(_root, "pwfile");
        await File.WriteAllTextAsync(pwFile, SuperUserPassword + "\n", ct);
        var socketDir = Path.Combine(_root, "sock");
        Directory.CreateDirectory(socketDir);
        if (_ssl)
            WriteCertificate();
        await File.WriteAllTextAsync(LogFile, "", ct);
        if (_asPostgresUser)
            await RunAsync("chown", ["-R", "postgres:postgres", _root], TimeSpan.FromSeconds(30), ct);

        await RunAsync(Tool("initdb"),
            ["-D", DataDirectory, "--username=postgres", "--pwfile=" + pwFile, "--auth-local=trust",
             "--auth-host=" + options.HostAuthMethod, "--encoding=UTF8", "--no-locale", "--no-sync"],
            options.StartTimeout, ct);
        File.Delete(pwFile);

        var conf = new StringBuilder("\n# gatehouse test settings\n");
        void Set(string key, string value) => conf.Append(key).Append(" = '").Append(value.Replace("'", "''")).Append("'\n");
        Set("listen_addresses", "127.0.0.1");
        Set("port", Port.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Set("unix_socket_directories", socketDir);
        Set("fsync", "off");
        Set("password_encryption", options.HostAuthMethod == "md5" ? "md5" : "scram-sha-256");
        if (_ssl)
        {
            Set("ssl", "on");
            Set("ssl_cert_file", CertificatePath!);
            Set("ssl_key_file", Path.Combine(_root, "server.key"));
        }
        foreach (var (key, value) in options.Settings)
            Set(key, value);
        await File.AppendAllTextAsync(Path.Combine(DataDirectory, "postgresql.conf"), conf.ToString(), ct);

        for (int attempt = 1; ; attempt++)
        {
            try
            {
                await RunAsync(Tool("pg_ctl"), ["start", "-D", DataDirectory, "-l", LogFile, "-w", "-t", "60"], options.StartTimeout, ct);
                break;
            }
            catch (PostgresServerException) when (attempt < 5 && File.ReadAllText(LogFile).Contains("Address already in use", StringComparison.Ordinal))
            {
                // Another process took the free port between FreePort and the bind (tests start servers in parallel):
                // a later port line wins in postgresql.conf.
                Port = FreePort();
                await File.AppendAllTextAsync(Path.Combine(DataDirectory, "postgresql.conf"), $"port = {Port}\n", ct);
            }
        }

        // pg_ctl -w already waited; one real connection proves the TCP listener and the password.
        await ScalarAsync<int>("select 1", ct: ct);
    }

    private void WriteCertificate()
    {
        using var rsa = RSA.Create(2048);
        var request = new CertificateRequest("CN=localhost", rsa, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        var san = new SubjectAlternativeNameBuilder();
        san.AddDnsName("localhost");
        san.AddIpAddress(IPAddress.Loopback);
        request.CertificateExtensions.Add(san.Build());
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, false));
        using var cert = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddYears(1));
        File.WriteAllText(CertificatePath!, cert.ExportCertificatePem());
        var keyPath = Path.Combine(_root, "server.key");
        File.WriteAllText(keyPath, rsa.ExportPkcs8PrivateKeyPem());
        if (!OperatingSystem.IsWindows())
            File.SetUnixFileMode(keyPath, UnixFileMode.UserRead | UnixFileMode.UserWrite);
    }

    private string Tool(string name) => Path.Combine(BinDirectory, name);

    private async Task RunAsync(string tool, IReadOnlyList<string> args, TimeSpan timeout, CancellationToken ct)
    {
        var psi = new ProcessStartInfo
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        var isServerTool = tool.StartsWith(BinDirectory, StringComparison.Ordinal);
        if (_asPostgresUser && isServerTool)
        {
            psi.FileName = "runuser";
            foreach (var a in (string[])["-u", "postgres", "--", tool])
                psi.ArgumentList.Add(a);
        }
        else
        {
            psi.FileName = tool;
        }
        foreach (var a in args)
            psi.ArgumentList.Add(a);

        using var process = Process.Start(psi) ?? throw new PostgresServerException($"could not start {tool}");
        process.StandardInput.Close();
        var stdout = process.StandardOutput.ReadToEndAsync(ct);
        var stderr = process.StandardError.ReadToEndAsync(ct);
        using var timer = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timer.CancelAfter(timeout);
        try
        {
            await process.WaitForExitAsync(timer.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new PostgresServerException($"{Path.GetFileName(tool)} timed out after {timeout}\n--- server log tail ---\n{LogTail()}");
        }
        if (process.ExitCode != 0)
        {
            var output = (await SafeAsync(stdout)) + (await SafeAsync(stderr));
            throw new PostgresServerException(
                $"{Path.GetFileName(tool)} {string.Join(' ', args)} exited with {process.ExitCode}:\n{output}\n--- server log tail ---\n{LogTail()}");
        }
    }

    private static async Task<string> SafeAsync(Task<string> read)
    {
        var done = await Task.WhenAny(read, Task.Delay(TimeSpan.FromSeconds(2)));
        return done == read && read.IsCompletedSuccessfully ? await read : "";
    }

    private string LogTail(int lines = 30)
    {
        try
        {
            var all = File.ReadAllLines(LogFile);
            return string.Join('\n', all.Skip(Math.Max(0, all.Length - lines)));
        }
        catch (IOException) { return "(no server log)"; }
        catch (UnauthorizedAccessException) { return "(server log unreadable)"; }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }

    private static string FindBinDirectory()
    {
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries))
        {
            var candidate = Path.Combine(dir, "initdb");
            if (!File.Exists(candidate))
                continue;
            // /usr/local/bin/initdb is often a symlink: report the real bin folder (where psql/pgbench live too).
            var target = new FileInfo(candidate).ResolveLinkTarget(returnFinalTarget: true);
            return Path.GetDirectoryName(target?.FullName ?? candidate)!;
        }
        const string debianRoot = "/usr/lib/postgresql";
        if (Directory.Exists(debianRoot))
        {
            var best = Directory.GetDirectories(debianRoot)
                .Select(d => (Dir: d, Version: double.TryParse(Path.GetFileName(d), System.Globalization.NumberStyles.Float,
                    System.Globalization.CultureInfo.InvariantCulture, out var v) ? v : -1))
                .Where(x => x.Version >= 0 && File.Exists(Path.Combine(x.Dir, "bin", "initdb")))
                .OrderByDescending(x => x.Version)
                .FirstOrDefault();
            if (best.Dir is not null)
                return Path.Combine(best.Dir, "bin");
        }
        throw new PostgresServerException("initdb not found on PATH nor under /usr/lib/postgresql/*/bin");
    }
}

/// <summary>The throwaway server could not be found, initialised or started.</summary>
public sealed class PostgresServerException : Exception
{
    public PostgresServerException(string message) : base(message) { }
    public PostgresServerException(string message, Exception inner) : base(message, inner) { }
}
