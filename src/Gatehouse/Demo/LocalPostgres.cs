using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Npgsql;

namespace Gatehouse.Demo;

/// <summary>
/// A throwaway PostgreSQL cluster in a folder of its own: initdb, listen on 127.0.0.1 only (no Unix socket),
/// password (SCRAM) logins, one superuser. <see cref="StopAsync"/> stops it; the caller deletes the folder.
/// <code>
///  StartAsync ─► initdb (superuser + generated password) ─► postgresql.conf additions ─► pg_ctl start -w
///             ─► one real login proves the listener and the password
///  StopAsync  ─► pg_ctl stop -m fast ─► (fails) -m immediate ─► (fails) kill the postmaster's pid
/// </code>
/// </summary>
public sealed class LocalPostgres : IAsyncDisposable
{
    private static readonly TimeSpan ToolTimeout = TimeSpan.FromSeconds(90);

    private int _stopped;

    private LocalPostgres(string binDirectory, string directory, int port, string superUser, string password)
    {
        BinDirectory = binDirectory;
        Directory = directory;
        Port = port;
        SuperUser = superUser;
        Password = password;
    }

    public string BinDirectory { get; }

    /// <summary>The cluster's folder: data/, server.log.</summary>
    public string Directory { get; }

    public string DataDirectory => Path.Combine(Directory, "data");

    public string LogFile => Path.Combine(Directory, "server.log");

    public string Host => "127.0.0.1";

    public int Port { get; }

    public string SuperUser { get; }

    public string Password { get; }

    /// <summary>server_version, e.g. 15.10 (Debian 15.10-0+deb12u1).</summary>
    public string Version { get; private set; } = string.Empty;

    public string ConnectionString(string database = "postgres") => new NpgsqlConnectionStringBuilder
    {
        Host = Host,
        Port = Port,
        Username = SuperUser,
        Password = Password,
        Database = database,
        SslMode = SslMode.Disable,
        Pooling = false,
        Timeout = 15,
    }.ConnectionString;

    /// <summary>
    /// Creates and starts a cluster in <paramref name="directory"/> (created; when running as root it is given to
    /// the postgres OS user, so its parent must be traversable by that user). Port 0 picks a free port.
    /// Returns the server, or null and a one-line error (the folder is left for the caller to delete).
    /// </summary>
    public static async Task<(LocalPostgres? Server, string Error)> StartAsync(
        string binDirectory, string directory, int port, string superUser, string? password, CancellationToken ct)
    {
        if (ServerTools.IsRoot && !ServerTools.ServerUserExists())
        {
            return (null, $"initdb refuses to run as root and there is no '{ServerTools.ServerUser}' OS user to run it as; run the demo as an ordinary user, create that user (useradd --system {ServerTools.ServerUser}), or use --upstream");
        }

        System.IO.Directory.CreateDirectory(directory);
        var server = new LocalPostgres(binDirectory, directory, port == 0 ? Ports.Free() : port, superUser,
            password ?? Convert.ToHexString(RandomNumberGenerator.GetBytes(18)).ToLowerInvariant());
        string? error = await server.InitAndStartAsync(ct);
        return error is null ? (server, string.Empty) : (null, error);
    }

    private async Task<string?> InitAndStartAsync(CancellationToken ct)
    {
        string passwordFile = Path.Combine(Directory, "initdb.pw");
        await File.WriteAllTextAsync(passwordFile, Password + "\n", ct);
        await File.WriteAllTextAsync(LogFile, string.Empty, ct);
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(passwordFile, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }

        if (ServerTools.IsRoot)
        {
            var chown = await ServerTools.ChownToServerUserAsync(Directory, ct);
            if (!chown.Success)
            {
                return $"cannot give {Directory} to the {ServerTools.ServerUser} OS user: {chown.LastLine}";
            }
        }

        var initdb = await ServerTools.RunAsync(Tool("initdb"),
            ["-D", DataDirectory, $"--username={SuperUser}", $"--pwfile={passwordFile}", "--auth-local=scram-sha-256",
             "--auth-host=scram-sha-256", "--encoding=UTF8", "--no-locale", "--no-sync"],
            asServerUser: true, ToolTimeout, ct);
        File.Delete(passwordFile);
        if (!initdb.Success)
        {
            return $"initdb failed: {initdb.LastLine}";
        }

        var settings = new StringBuilder("\n# gatehouse demo: a throwaway cluster on loopback, no durability needed\n");
        void Set(string key, string value) => settings.Append(key).Append(" = '").Append(value.Replace("'", "''", StringComparison.Ordinal)).Append("'\n");
        Set("listen_addresses", Host);
        Set("port", Port.ToString(CultureInfo.InvariantCulture));
        Set("unix_socket_directories", string.Empty);
        Set("password_encryption", "scram-sha-256");
        Set("fsync", "off");
        Set("synchronous_commit", "off");
        Set("full_page_writes", "off");
        await File.AppendAllTextAsync(Path.Combine(DataDirectory, "postgresql.conf"), settings.ToString(), ct);

        var start = await ServerTools.RunAsync(Tool("pg_ctl"), ["start", "-D", DataDirectory, "-l", LogFile, "-w", "-t", "60"], asServerUser: true, ToolTimeout, ct);
        if (!start.Success)
        {
            return $"PostgreSQL did not start: {LogTail() ?? start.LastLine}";
        }

        try
        {
            await using var connection = new NpgsqlConnection(ConnectionString());
            await connection.OpenAsync(ct);
            await using var version = new NpgsqlCommand("SHOW server_version", connection);
            Version = (string)(await version.ExecuteScalarAsync(ct))!;
        }
        catch (NpgsqlException ex)
        {
            return $"PostgreSQL started but refused the first login: {ex.Message}";
        }

        return null;
    }

    /// <summary>Stops the server: fast shutdown, else immediate, else the postmaster is killed. Idempotent.</summary>
    public async Task StopAsync()
    {
        if (Interlocked.Exchange(ref _stopped, 1) == 1 || !File.Exists(Path.Combine(DataDirectory, "postmaster.pid")))
        {
            return;
        }

        foreach (string mode in (string[])["fast", "immediate"])
        {
            var stop = await ServerTools.RunAsync(Tool("pg_ctl"), ["stop", "-D", DataDirectory, "-m", mode, "-w", "-t", "20"], asServerUser: true, TimeSpan.FromSeconds(30), CancellationToken.None);
            if (stop.Success || !File.Exists(Path.Combine(DataDirectory, "postmaster.pid")))
            {
                return;
            }
        }

        KillPostmaster();
    }

    public async ValueTask DisposeAsync() => await StopAsync();

    private void KillPostmaster()
    {
        try
        {
            string first = File.ReadLines(Path.Combine(DataDirectory, "postmaster.pid")).First();
            if (int.TryParse(first, NumberStyles.None, CultureInfo.InvariantCulture, out int pid))
            {
                using var postmaster = System.Diagnostics.Process.GetProcessById(pid);
                postmaster.Kill(entireProcessTree: true);
            }
        }
        catch (Exception ex) when (ex is IOException or ArgumentException or InvalidOperationException or InvalidDataException)
        {
            // Already gone.
        }
    }

    private string? LogTail()
    {
        try
        {
            return File.ReadLines(LogFile).LastOrDefault(l => l.Length > 0);
        }
        catch (IOException)
        {
            return null;
        }
    }

    private string Tool(string name) => Path.Combine(BinDirectory, name);
}
