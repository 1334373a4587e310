using Gatehouse.Pipeline;
using Npgsql;

namespace Gatehouse.Mcp;

/// <summary>
/// The MCP door's way in: a PostgreSQL client of the gateway's own wire door, on its private Unix socket, logging in
/// with the caller's bearer token as the password. Every statement so takes the wire path (analyzer, policy, audit,
/// short-lived credential, masking in the relay). Sessions are pooled per (token hash, target, client address) for
/// <see cref="McpLimits.PoolIdle"/>: a pooled session was opened with the same token, so a call never runs as another.
/// </summary>
public sealed class WireDoor(string socketDirectory, int socketPort, McpLimits limits, TimeProvider time) : IAsyncDisposable
{
    private readonly Lock _lock = new();
    private readonly Dictionary<(string TokenHash, string Target, string ApplicationName), Entry> _sources = [];

    private sealed class Entry(NpgsqlDataSource source, DateTimeOffset expires)
    {
        public NpgsqlDataSource Source { get; } = source;

        public DateTimeOffset Expires { get; } = expires;

        public DateTimeOffset LastUsed { get; set; }

        public int InUse { get; set; }
    }

    /// <summary>A wire session for this caller on this target; PostgresException when the wire door refuses the login.</summary>
    public async ValueTask<Lease> OpenAsync(McpCaller caller, string target, CancellationToken ct)
    {
        var now = time.GetUtcNow();
        Entry entry;
        List<Entry> stale;
        lock (_lock)
        {
            stale = Sweep(now);
            var key = (caller.Principal.TokenHash, target, ApplicationName: McpClientAddress.Named(caller.ClientAddress));
            if (!_sources.TryGetValue(key, out entry!))
            {
                entry = new Entry(Build(caller.Token, target, key.ApplicationName), caller.Principal.ExpiresAt);
                _sources[key] = entry;
            }

            entry.InUse++;
            entry.LastUsed = now;
        }

        foreach (var old in stale)
        {
            await old.Source.DisposeAsync();
        }

        try
        {
            return new Lease(await entry.Source.OpenConnectionAsync(ct), () => Release(entry));
        }
        catch
        {
            Release(entry);
            throw;
        }
    }

    /// <summary>An open connection; disposing returns it to its pool.</summary>
    public sealed class Lease(NpgsqlConnection connection, Action release) : IAsyncDisposable
    {
        public NpgsqlConnection Connection => connection;

        public async ValueTask DisposeAsync()
        {
            await connection.DisposeAsync();
            release();
        }
    }

    private void Release(Entry entry)
    {
        lock (_lock)
        {
            entry.InUse--;
            entry.LastUsed = time.GetUtcNow();
        }
    }

    // Pools of expired tokens, or unused for twice the idle time, are closed: their tokens leave memory with them.
    private List<Entry> Sweep(DateTimeOffset now)
    {
        var stale = _sources.Where(s => s.Value.InUse == 0 && (s.Value.Expires <= now || now - s.Value.LastUsed > 2 * limits.PoolIdle)).ToList();
        foreach (var s in stale)
        {
            _sources.Remove(s.Key);
        }

        return [.. stale.Select(s => s.Value)];
    }

    private NpgsqlDataSource Build(string token, string target, string applicationName)
    {
        int idle = Math.Max(2, (int)limits.PoolIdle.TotalSeconds);
        var builder = new NpgsqlConnectionStringBuilder
        {
            Host = socketDirectory,
            Port = socketPort,
            Database = target,
            Username = "mcp",
            Password = token,
            SslMode = SslMode.Disable, // a Unix socket in the state directory, mode 0600: nothing crosses a network
            Pooling = true,
            MinPoolSize = 0,
            MaxPoolSize = Math.Max(1, limits.MaxConcurrentPerIdentity),
            ConnectionIdleLifetime = idle,
            ConnectionPruningInterval = Math.Max(1, idle / 2),
            Timeout = 30,
            CommandTimeout = Math.Max(1, (int)Math.Ceiling(limits.StatementTimeout.TotalSeconds)),
            CancellationTimeout = 5000,
            NoResetOnClose = true, // DISCARD ALL would be one more statement through policy on every call
            ApplicationName = applicationName, // carries the HTTP client's address (McpClientAddress)
            Enlist = false,
        };
        var source = new NpgsqlDataSourceBuilder(builder.ConnectionString);
        source.ConfigureTypeLoading(t => t.EnableTypeLoading(false)); // no catalog query per login: results are read as text
        return source.Build();
    }

    public async ValueTask DisposeAsync()
    {
        List<Entry> all;
        lock (_lock)
        {
            all = [.. _sources.Values];
            _sources.Clear();
        }

        foreach (var entry in all)
        {
            await entry.Source.DisposeAsync();
        }
    }
}
