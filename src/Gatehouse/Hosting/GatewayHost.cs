using Gatehouse.Audit;
using Gatehouse.Configuration;
using Gatehouse.Credentials;
using Gatehouse.Identity;
using Gatehouse.Pipeline;
using Gatehouse.Pipeline.Masking;
using Gatehouse.Policy;
using Gatehouse.Proxy;
using Gatehouse.State;

namespace Gatehouse.Hosting;

/// <summary>
/// Wires one gateway: the PostgreSQL listener, the admin HTTP endpoints, the token validator, the policy store.
/// Used by `gatehouse serve` and, in-process, by the integration tests.
/// </summary>
public sealed class GatewayHost : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly PolicyStore _policy;
    private readonly PostgresListener _listener;
    private readonly CredentialBroker _broker;
    private readonly IStateStore _state;
    private UpstreamCatalogSource[] _catalogSources = [];
    private UpstreamSyntaxCheck[] _syntaxChecks = [];
    private AuditHosting? _audit;
    private Admin.PolicyDistribution? _policyDistribution;
    private Gatehouse.Reviews.ReviewWebhook? _reviewWebhook;
    private readonly IReadOnlyDictionary<string, CredentialTarget> _targets;
    private readonly CancellationTokenSource _stopping = new();
    private AdminSocket _adminSocket = null!;

    private GatewayHost(WebApplication app, PolicyStore policy, PostgresListener listener, CredentialBroker broker, IStateStore state, IReadOnlyDictionary<string, CredentialTarget> targets)
    {
        _app = app;
        _policy = policy;
        _listener = listener;
        _broker = broker;
        _state = state;
        _targets = targets;
    }

    public System.Net.IPEndPoint PostgresEndPoint => _listener.LocalEndPoint!;

    public string AdminUrl => _app.Urls.First();

    public PolicyStore Policy => _policy;

    /// <summary>Builds the gateway; returns null with errors printed when the policy or a file the configuration names is invalid.</summary>
    public static GatewayHost? Create(GatewayConfig config, TextWriter errors, Action<ILoggingBuilder>? logging = null)
    {
        var fileErrors = ConfigFiles.Check(config);
        foreach (var error in fileErrors)
        {
            errors.WriteLine(error);
        }

        if (fileErrors.Count > 0)
        {
            return null;
        }

        if (config.PolicyPath is null)
        {
            errors.WriteLine($"{config.SourcePath}: error: 'policy' is required: without a policy no identity has a grant");
            return null;
        }

        var policy = PolicyStore.TryOpen(
            config.PolicyPath,
            new PolicyStoreOptions { KnownTargets = config.Targets.Keys.ToHashSet(), WatchDirectory = !SharesDirectoryWithState(config) },
            out var policyErrors);
        if (policy is null)
        {
            foreach (var error in policyErrors)
            {
                errors.WriteLine(error);
            }

            return null;
        }

        // No appsettings.json reload: its watcher would watch the working directory and every directory under it.
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = ["--hostBuilder:reloadConfigOnChange=false"] });
        builder.Logging.ClearProviders();
        builder.Logging.AddSimpleConsole(o => { o.SingleLine = true; o.TimestampFormat = "HH:mm:ss "; });
        builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
        logging?.Invoke(builder.Logging);
        var adminSocket = new AdminSocket(config.AdminListen);
        builder.WebHost.UseKestrel(k =>
        {
            k.Listen(config.AdminListen);
            // Kestrel's defaults (130s keep-alive, no cap) let sockets that never send a request pile up. The keep-alive
            // timeout runs only while no request is in progress, so a long MCP call is not cut; request body and
            // response data rates keep Kestrel's minimums. Nothing here upgrades a connection (no WebSockets).
            var limits = config.Admin.Connections;
            k.Limits.KeepAliveTimeout = limits.KeepAliveTimeout;
            k.Limits.RequestHeadersTimeout = limits.RequestHeadersTimeout;
            k.Limits.MaxConcurrentConnections = limits.MaxConnections;
        });
        builder.Services.Configure<Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets.SocketTransportOptions>(o => o.CreateBoundListenSocket = adminSocket.Take);
        Admin.AdminApi.AddServices(builder.Services);
        Admin.AdminHosts.AddServices(builder.Services, config);

        var time = TimeProvider.System;
        var loggerFactory = LoggerFactory.Create(b => { b.AddSimpleConsole(o => { o.SingleLine = true; o.TimestampFormat = "HH:mm:ss "; }); logging?.Invoke(b); });
        var devIssuer = config.Identity.DevIssuer
            ? DevIssuer.LoadOrCreate(config.StateDirectory, DevIssuerUrl(config), time)
            : null;
        var validator = new TokenValidator(LibraryOptions.Identity(config), devIssuer, time);
        var signIn = Admin.ConsoleSignIn.Create(config, devIssuer, time, errors);
        if (signIn is null)
        {
            policy.Dispose();
            return null;
        }

        var proxyOptions = LibraryOptions.Proxy(config);
        System.Security.Cryptography.X509Certificates.X509Certificate2 certificate;
        try
        {
            certificate = ServerCertificate.Load(proxyOptions.Tls, loggerFactory.CreateLogger("Gatehouse.Tls"));
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or System.Security.Cryptography.CryptographicException)
        {
            errors.WriteLine(config.Tls.CertificatePath is { } path
                ? $"{config.SourcePath}: error: tls.certificate: cannot read {path}: {ex.Message}"
                : $"{config.SourcePath}: error: tls: cannot make the self-signed certificate in {config.StateDirectory}: {ex.Message}");
            policy.Dispose();
            return null;
        }

        var opened = StateStore.Open(config.State, new StateStoreOptions { Durability = config.Audit.Durability });
        if (!opened.Success)
        {
            errors.WriteLine($"{config.SourcePath}: error: {opened.Error}");
            policy.Dispose();
            return null;
        }

        var state = opened.Store;
        var metrics = new GatewayMetrics();
        string instance = $"{Environment.MachineName}:{Environment.ProcessId}:{Guid.NewGuid():N}";
        var broker = new CredentialBroker(state.Leases, time, loggerFactory.CreateLogger<CredentialBroker>(), instance);
        AuditTrail? audit;
        try
        {
            audit = AuditHosting.Create(config, state, instance, time, elapsed => metrics.AuditWrite.Observe(elapsed.TotalSeconds));
        }
        catch (Exception ex) when (ex is AuditKeyException or IOException or UnauthorizedAccessException)
        {
            errors.WriteLine($"{config.SourcePath}: error: {(ex is AuditKeyException ? ex.Message : $"audit: cannot create the journal in {config.StateDirectory}: {ex.Message} (make state_dir writable, or set audit.journal: false)")}");
            policy.Dispose();
            return null;
        }

        if (audit is null)
        {
            loggerFactory.CreateLogger("Gatehouse.Audit").LogWarning("audit.enabled is false: statements are not recorded. Use this for benchmarks only.");
        }

        var targets = CredentialTargets.FromConfig(config);
        var catalogSources = targets.Values.ToDictionary(t => t.Name, t => new UpstreamCatalogSource(t), StringComparer.Ordinal);
        var catalogs = catalogSources.ToDictionary(s => s.Key, s => new RelationCatalog(s.Value), StringComparer.Ordinal);
        var syntaxChecks = targets.Values.ToDictionary(t => t.Name, t => new UpstreamSyntaxCheck(t), StringComparer.Ordinal);
        var masker = new CountedValueMasker(PolicyValueMasker.FromKeyFile(Path.Combine(config.StateDirectory, "masking.key")), metrics.MaskedValues);
        var reloadLogger = loggerFactory.CreateLogger("Gatehouse.Policy");
        policy.Reloaded += result => LogReload(reloadLogger, result);
        policy.Reloaded += _ =>
        {
            // Masks may name other columns now; relations are read afresh.
            foreach (var catalog in catalogs.Values)
            {
                catalog.Invalidate();
            }
        };
        MaskColumnCheck.Start(policy, catalogs, loggerFactory.CreateLogger("Gatehouse.Masking"));
        var reviews = ReviewHosting.Create(config, state, policy, audit, instance, time, loggerFactory, metrics);
        var services = new ProxyServices
        {
            Options = proxyOptions,
            Certificate = certificate,
            Authenticator = new OidcAuthenticator(validator),
            Admission = new PolicyAdmission(policy, broker, targets, loggerFactory, catalogs, masker, audit)
            {
                SyntaxChecks = syntaxChecks.ToDictionary(c => c.Key, ISyntaxCheck (c) => c.Value, StringComparer.Ordinal),
                Reviews = reviews.Service,
                Metrics = metrics,
                McpHoldAtMost = config.Mcp.ReviewWait,
            },
            LoggerFactory = loggerFactory,
            Time = time,
            Metrics = metrics,
        };
        var listener = new PostgresListener(services);
        builder.Services.AddSingleton<IHostedService>(listener);
        var mcp = McpHosting.Add(builder, config, services, policy, catalogs, reviews.Service);

        var app = builder.Build();
        app.UseHostFiltering();
        Admin.AdminProblems.Use(app);
        WebConsole.ConsoleEndpoints.Map(app);
        MetricsHosting.Register(metrics, services, policy, broker, audit, reviews.Service, time);
        MetricsHosting.Map(app, metrics);
        if (devIssuer is not null)
        {
            app.MapDevIssuer(devIssuer);
        }

        var consoleSessions = new Admin.ConsoleSessions(time);
        var adminAuth = new Admin.AdminAuth(services.Authenticator, policy, config.Admin, consoleSessions);
        signIn.Map(app, devIssuer, services.Authenticator, adminAuth, consoleSessions, loggerFactory.CreateLogger("Gatehouse.Admin"));
        Admin.ReviewsApi.Map(app, reviews.Service, adminAuth);
        var policyDistribution = new Admin.PolicyDistribution(policy, state.Policies, config.Targets.Keys.ToHashSet(), instance, config.StateDirectory,
            loggerFactory.CreateLogger("Gatehouse.Policy"), time);
        Admin.AdminApi.Map(app, adminAuth, state, audit, services.Live, instance, policyDistribution, broker, targets.Values, time);
        app.Lifetime.ApplicationStopping.Register(reviews.Service.GatewayStopping); // held reviews outlive a restart

        mcp.Map(app);

        return new GatewayHost(app, policy, listener, broker, state, targets)
        {
            _catalogSources = [.. catalogSources.Values],
            _syntaxChecks = [.. syntaxChecks.Values],
            _reviewWebhook = reviews.Webhook,
            _policyDistribution = policyDistribution,
            _adminSocket = adminSocket,
            _audit = audit is null ? null : new AuditHosting(audit, state, config.Audit, config.StateDirectory, loggerFactory.CreateLogger("Gatehouse.Audit"), time),
        };
    }

    // Every write of the SQLite store (its WAL) would wake a watcher on the same directory: poll there instead.
    private static bool SharesDirectoryWithState(GatewayConfig config) =>
        config.State.StartsWith("sqlite:", StringComparison.Ordinal) && config.PolicyPath is { } policy
        && string.Equals(Path.GetDirectoryName(Path.GetFullPath(config.State["sqlite:".Length..])), Path.GetDirectoryName(Path.GetFullPath(policy)), StringComparison.Ordinal);

    /// <summary>The development issuer's URL: http://{listen.admin}/dev-issuer.</summary>
    public static string DevIssuerUrl(GatewayConfig config) => $"http://{config.AdminListen}/dev-issuer";

    /// <summary>
    /// Binds both ports, checks that every target's provisioner can do its job, starts the lease reaper, then opens
    /// the listeners. Throws <see cref="GatewayListenException"/> for a port it cannot have, and
    /// <see cref="GatewayStartupException"/> naming each problem.
    /// </summary>
    public async Task StartAsync(CancellationToken ct)
    {
        // First, before anything is written: a second gateway on the same ports stops here.
        Bind(_listener.Bind, _listener.ConfiguredEndPoint, "PostgreSQL clients");
        Bind(_adminSocket.Bind, _adminSocket.EndPoint, "the admin API");
        if (_policyDistribution is not null)
        {
            // A revision published while this instance was down is the policy of record: it applies before anything checks the policy.
            await _policyDistribution.StartAsync(ct);
        }

        var problems = new List<string>();
        foreach (var target in _targets.Values)
        {
            var dbRoles = CredentialTargets.DbRolesFor(_policy.Current, target.Name);
            foreach (var problem in await _broker.CheckAsync(target, dbRoles, ct))
            {
                problems.Add($"target {target.Name}: {problem}");
            }
        }

        if (problems.Count > 0)
        {
            throw new GatewayStartupException(problems);
        }

        if (_audit is not null)
        {
            await _audit.StartAsync(_stopping.Token, ct);
        }

        await _broker.StartReaperAsync(_targets.Values, _stopping.Token);
        await _app.StartAsync(ct);
        await _listener.Bound;
    }

    private static void Bind(Action bind, System.Net.IPEndPoint endPoint, string what)
    {
        try
        {
            bind();
        }
        catch (System.Net.Sockets.SocketException ex)
        {
            throw new GatewayListenException($"cannot listen on {endPoint} for {what}: {ListenSocket.Reason(ex)}");
        }
    }

    public Task WaitForShutdownAsync(CancellationToken ct) => _app.WaitForShutdownAsync(ct);

    public async ValueTask DisposeAsync()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        try
        {
            await _app.StopAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            // Sessions that do not end in time are cut off by disposal.
        }

        await _app.DisposeAsync();
        _listener.Dispose(); // the host does not dispose an instance it was given; bound and never started, it holds the port
        _adminSocket.Dispose();
        if (_policyDistribution is not null)
        {
            await _policyDistribution.DisposeAsync();
        }
        await _stopping.CancelAsync();
        await _broker.DisposeAsync();
        if (_reviewWebhook is not null)
        {
            await _reviewWebhook.DisposeAsync();
        }

        if (_audit is not null)
        {
            await _audit.DisposeAsync();
        }

        await _state.DisposeAsync();
        foreach (var source in _catalogSources)
        {
            await source.DisposeAsync();
        }

        foreach (var check in _syntaxChecks)
        {
            await check.DisposeAsync();
        }
        _stopping.Dispose();
        _policy.Dispose();
    }

    /// <summary>
    /// listen.admin, bound by <see cref="StartAsync"/> before Kestrel starts (Kestrel's own bind failure is a hosting
    /// failure with a stack trace in the log); Kestrel takes the socket when it starts.
    /// </summary>
    private sealed class AdminSocket(System.Net.IPEndPoint endPoint) : IDisposable
    {
        private System.Net.Sockets.Socket? _bound;

        public System.Net.IPEndPoint EndPoint => endPoint;

        public void Bind() => _bound ??= ListenSocket.Bind(endPoint, dualModeOnAny: true);

        public System.Net.Sockets.Socket Take(System.Net.EndPoint requested) =>
            Interlocked.Exchange(ref _bound, null)
            ?? Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets.SocketTransportOptions.CreateDefaultBoundListenSocket(requested);

        public void Dispose() => Interlocked.Exchange(ref _bound, null)?.Dispose();
    }

    private static void LogReload(ILogger logger, PolicyReloadResult result)
    {
        if (result.Success)
        {
            logger.LogInformation("Policy reloaded from {Path}", result.Snapshot.Source);
        }
        else
        {
            logger.LogWarning("Policy change rejected; the previous policy stays in force:\n{Errors}", string.Join('\n', result.Errors));
        }
    }
}

/// <summary>listen.postgres or listen.admin cannot be bound; the message names the address and why.</summary>
public sealed class GatewayListenException(string message) : Exception(message);

/// <summary>The gateway cannot start; each problem is one line for the operator.</summary>
public sealed class GatewayStartupException(IReadOnlyList<string> problems) : Exception(string.Join(Environment.NewLine, problems))
{
    public IReadOnlyList<string> Problems { get; } = problems;
}
