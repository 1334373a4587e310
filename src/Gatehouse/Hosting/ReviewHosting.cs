using System.Security.Cryptography;
using Gatehouse.Audit;
using Gatehouse.Configuration;
using Gatehouse.Policy;
using Gatehouse.Reviews;
using Gatehouse.State;

namespace Gatehouse.Hosting;

/// <summary>The approval workflow of a gateway process: the service on the state store, and its webhook sender.</summary>
internal static class ReviewHosting
{
    public static (ReviewService Service, ReviewWebhook Webhook) Create(
        GatewayConfig config, IStateStore state, PolicyStore policy, AuditTrail? audit, string instance, TimeProvider time, ILoggerFactory loggers,
        Gatehouse.Pipeline.GatewayMetrics? metrics = null)
    {
        string consoleUrl = $"http://{config.AdminListen}";
        var webhook = new ReviewWebhook(WebhookKey(config), consoleUrl, loggers.CreateLogger<ReviewWebhook>());
        var service = new ReviewService(state.Reviews, policy, new ReviewOptions
        {
            Instance = instance,
            ConsoleUrl = consoleUrl,
            Decided = metrics is null ? null : r => metrics.ReviewDecided(r.Status == ReviewStatus.Approved, (r.Decided ?? time.GetUtcNow()) - r.Created),
        }, time,
            loggers.CreateLogger<ReviewService>(), audit, webhook);
        state.Reviews.Listen(); // now, not at the first wait: a decision made elsewhere releases even the first held statement at once
        return (service, webhook);
    }

    // The webhook's HMAC key: reviews.webhook_key_file in the state directory, made once (32 random bytes, 0600).
    private static byte[] WebhookKey(GatewayConfig config)
    {
        var path = Path.Combine(config.StateDirectory, "webhook.key");
        if (!File.Exists(path))
        {
            Gatehouse.Proxy.ServerCertificate.WritePrivate(path, Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)));
        }

        return Convert.FromBase64String(File.ReadAllText(path).Trim());
    }
}
