using System.Globalization;
using System.Text;
using Gatehouse.Identity;
using Gatehouse.Policy;
using Gatehouse.Proxy;
using Gatehouse.Proxy.Configuration;

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

    private GatewayHost(WebApplication app, PolicyStore policy, PostgresListener listener)
    {
        _app = app;
        _policy = policy;
        _listener = listener;
    }

    public System.Net.IPEndPoint PostgresEndPoint => _listener.LocalEndPoint!;

    public string AdminUrl => _app.Urls.First();

    public PolicyStore Policy => _policy;

    /// <summary>Builds the gateway; returns null with errors printed when the policy is invalid.</summary>
    public static GatewayHost? Create(GatewayConfig config, TextWriter errors, Action<ILoggingBuilder>? logging = null)
    {
        if (config.PolicyPath is null)
        {
            errors.WriteLine($"{config.SourcePath}: error: 'policy' is required: without a policy no identity has a grant");
            return null;
        }

        var policy = PolicyStore.TryOpen(config.PolicyPath, new PolicyStoreOptions { KnownTargets = config.Targets.Keys.ToHashSet() }, out var policyErrors);
        if (policy is null)
        {
            foreach (var error in policyErrors)
            {
                errors.WriteLine(error);
            }

            return null;
        }

        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.Logging.AddSimpleConsole(o => { o.SingleLine = true; o.TimestampFormat = "HH:mm:ss "; });
        builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
        logging?.Invoke(builder.Logging);
        builder.WebHost.UseKestrel(k => k.Listen(config.AdminListen));

        var time = TimeProvider.System;
        var loggerFactory = LoggerFactory.Create(b => { b.AddSimpleConsole(o => { o.SingleLine = true; o.TimestampFormat = "HH:mm:ss "; }); logging?.Invoke(b); });
        var devIssuer = config.Identity.DevIssuer
            ? DevIssuer.LoadOrCreate(config.StateDirectory, DevIssuerUrl(config), time)
            : null;
        var validator = new TokenValidator(
            new IdentityOptions
            {
                Issuer = config.Identity.Issuer,
                Audiences = config.Identity.Audiences,
                ClockSkew = config.Identity.ClockSkew,
                DevIssuer = config.Identity.DevIssuer,
            },
            devIssuer,
            time);
        var reloadLogger = loggerFactory.CreateLogger("Gatehouse.Policy");
        policy.Reloaded += result => LogReload(reloadLogger, result);
        var services = new ProxyServices
        {
            Config = config,
            Certificate = ServerCertificate.Load(config.Tls, config.StateDirectory, loggerFactory.CreateLogger("Gatehouse.Tls")),
            Authenticator = new OidcAuthenticator(validator),
            Admission = new PolicyAdmission(policy, loggerFactory),
            LoggerFactory = loggerFactory,
            Time = time,
        };
        var listener = new PostgresListener(services);
        builder.Services.AddSingleton<IHostedService>(listener);

        var app = builder.Build();
        app.MapGet("/healthz", () => Results.Text("ok\n"));
        app.MapGet("/metrics", () => Results.Text(Metrics(services, policy), "text/plain; version=0.0.4"));
        if (devIssuer is not null)
        {
            app.MapDevIssuer(devIssuer);
        }

        return new GatewayHost(app, policy, listener);
    }

    /// <summary>The development issuer's URL: http://{listen.admin}/dev-issuer.</summary>
    public static string DevIssuerUrl(GatewayConfig config) => $"http://{config.AdminListen}/dev-issuer";

    public async Task StartAsync(CancellationToken ct)
    {
        await _app.StartAsync(ct);
        await _listener.Bound;
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
        _policy.Dispose();
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

    private static string Metrics(ProxyServices services, PolicyStore policy)
    {
        var text = new StringBuilder();
        text.Append("# TYPE gatehouse_client_sessions gauge\n");
        text.Append(CultureInfo.InvariantCulture, $"gatehouse_client_sessions {services.ActiveSessions}\n");
        text.Append("# TYPE gatehouse_policy_rules gauge\n");
        text.Append(CultureInfo.InvariantCulture, $"gatehouse_policy_rules {policy.Current.RuleCount}\n");
        return text.ToString();
    }
}
