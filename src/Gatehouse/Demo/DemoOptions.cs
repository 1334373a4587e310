namespace Gatehouse.Demo;

/// <summary>What `gatehouse demo` was asked for.</summary>
public sealed record DemoOptions
{
    public const int DefaultPort = 6432;

    public const int DefaultAdminPort = 8080;

    /// <summary>The gateway's PostgreSQL port on 127.0.0.1; 0 picks a free one.</summary>
    public int Port { get; init; } = DefaultPort;

    /// <summary>The admin HTTP port on 127.0.0.1; 0 picks a free one.</summary>
    public int AdminPort { get; init; } = DefaultAdminPort;

    /// <summary>An existing server to use instead of a throwaway one (postgres://…), or null.</summary>
    public string? Upstream { get; init; }

    /// <summary>The folder holding initdb and pg_ctl, or null to search PATH and /usr/lib/postgresql/*/bin.</summary>
    public string? PostgresBin { get; init; }

    /// <summary>Leave the temporary folder (configuration, logs, PostgreSQL's data) behind at exit.</summary>
    public bool Keep { get; init; }

    /// <summary>Only warnings from the gateway's log; by default sessions and decisions are shown once the demo is ready.</summary>
    public bool Quiet { get; init; }
}
