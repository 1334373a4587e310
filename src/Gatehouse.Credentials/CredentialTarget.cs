using Npgsql;

namespace Gatehouse.Credentials;

/// <summary>How Gatehouse logs in upstream for a target.</summary>
public enum UpstreamCredentialMode
{
    /// <summary>A fresh login role per (identity, target, grant), leased for a TTL, then dropped.</summary>
    Ephemeral,

    /// <summary>One existing role whose password Gatehouse replaces every <see cref="CredentialTarget.Every"/>.</summary>
    Rotate,
}

/// <summary>
/// Everything the broker needs to know about one target. The host maps its configuration onto this;
/// the provisioner password is read through <see cref="ProvisionerPassword"/> each time a provisioner
/// connection is opened, and is never stored here.
/// </summary>
public sealed record CredentialTarget
{
    /// <summary>A data-source builder for this server logged in as the provisioner (the password provider is the
    /// caller's to add): shared by the provisioner and by Gatehouse's own catalog reads.</summary>
    public NpgsqlDataSourceBuilder ProvisionerDataSource(string applicationName, int maxPoolSize, int commandTimeoutSeconds)
    {
        var builder = new NpgsqlDataSourceBuilder();
        var cs = builder.ConnectionStringBuilder;
        cs.Host = Host;
        cs.Port = Port;
        cs.Database = Database;
        cs.Username = ProvisionerUser;
        cs.SslMode = SslMode;
        if (RootCertificatePath is not null)
        {
            cs.RootCertificate = RootCertificatePath;
        }

        cs.Timeout = 5;
        cs.CommandTimeout = commandTimeoutSeconds;
        cs.MaxPoolSize = maxPoolSize;
        cs.ApplicationName = applicationName;
        return builder;
    }

    public required string Name { get; init; }

    public required string Host { get; init; }

    public required int Port { get; init; }

    public required string Database { get; init; }

    public SslMode SslMode { get; init; } = SslMode.Prefer;

    /// <summary>PEM bundle trusted for VerifyCA/VerifyFull; null means the system store.</summary>
    public string? RootCertificatePath { get; init; }

    /// <summary>The one static credential of the target, used only to manage roles.</summary>
    public required string ProvisionerUser { get; init; }

    public required Func<string> ProvisionerPassword { get; init; }

    public UpstreamCredentialMode Mode { get; init; } = UpstreamCredentialMode.Ephemeral;

    /// <summary>Ephemeral: how long a lease lasts without use (renewed while sessions use it).</summary>
    public TimeSpan Ttl { get; init; } = TimeSpan.FromMinutes(15);

    /// <summary>Rotate: the existing role whose password Gatehouse owns.</summary>
    public string? Role { get; init; }

    /// <summary>Rotate: how often the password is replaced.</summary>
    public TimeSpan Every { get; init; } = TimeSpan.FromHours(1);

    /// <summary>Ephemeral: objects a leased role created are given to this role when the lease ends; null drops them.</summary>
    public string? ReassignOwnedTo { get; init; }

    /// <summary>Ephemeral: CONNECTION LIMIT of a leased role (all sessions of one identity share it); -1 is unlimited.</summary>
    public int ConnectionLimit { get; init; } = 20;

    /// <summary>Ephemeral: terminate a role's backends when its lease ends (needs pg_signal_backend).</summary>
    public bool TerminateOnExpiry { get; init; }
}

/// <summary>
/// The outcome of <see cref="CredentialBroker.AcquireAsync"/>: a login, or a SQLSTATE and a message that is safe
/// to send to the client (it names the cause, never a secret).
/// </summary>
public sealed record CredentialResult(UpstreamLogin? Login, string? SqlState, string? Error)
{
    internal static CredentialResult Success(UpstreamLogin login) => new(login, null, null);

    internal static CredentialResult Failure(string sqlState, string error) => new(null, sqlState, error);
}

/// <summary>
/// An upstream user and password for one client session. Disposing it tells the broker the session ended;
/// the lease itself stays for reuse until its TTL runs out.
/// </summary>
public sealed class UpstreamLogin : IAsyncDisposable
{
    private Action? _release;

    internal UpstreamLogin(string user, string password, DateTimeOffset? leaseExpires, Action? release)
    {
        User = user;
        Password = password;
        LeaseExpires = leaseExpires;
        _release = release;
    }

    public string User { get; }

    public string Password { get; }

    /// <summary>When the lease ends unless renewed; null for a rotated role.</summary>
    public DateTimeOffset? LeaseExpires { get; }

    public ValueTask DisposeAsync()
    {
        Interlocked.Exchange(ref _release, null)?.Invoke();
        return ValueTask.CompletedTask;
    }

    /// <summary>The user only: a login must never end up in a log with its password.</summary>
    public override string ToString() => User;
}
