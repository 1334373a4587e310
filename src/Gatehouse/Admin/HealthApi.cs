using System.Net.Sockets;
using Gatehouse.Credentials;
using Gatehouse.State;

namespace Gatehouse.Admin;

public sealed record ReadyCheck(string Name, bool Ok, string? Problem);

public sealed record Readiness(string Status, IReadOnlyList<ReadyCheck> Checks);

/// <summary>
/// /healthz (the process answers) and /readyz (every target's upstream accepts a TCP connection and the state store
/// answers a query). Checks run at most once per <see cref="CacheFor"/>, whoever asks, so /readyz (no auth) cannot
/// be used to hammer an upstream; each has a short timeout.
/// </summary>
internal sealed class HealthApi(IReadOnlyCollection<CredentialTarget> targets, IStateStore state, TimeProvider time)
{
    public static readonly TimeSpan CacheFor = TimeSpan.FromSeconds(2);
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(1);

    private readonly Lock _gate = new();
    private (Task<Readiness> Result, DateTimeOffset At)? _last;

    public void Map(WebApplication app)
    {
        app.MapGet("/healthz", () => Results.Text("ok\n"))
            .WithTags("health").WithName("Healthz").WithSummary("The process is up").Produces<string>(contentType: "text/plain");
        app.MapGet("/readyz", async (HttpContext http) =>
        {
            var ready = await CheckAsync();
            http.Response.Headers.CacheControl = "no-store";
            if (ready.Status == "ready")
            {
                return Results.Json(ready);
            }

            var failing = ready.Checks.Where(c => !c.Ok).Select(c => $"{c.Name}: {c.Problem}");
            return Results.Problem(statusCode: 503, title: "not ready", detail: string.Join("; ", failing),
                extensions: new Dictionary<string, object?> { ["checks"] = ready.Checks });
        })
            .WithTags("health").WithName("Readyz").WithSummary("Every target's upstream is reachable and the state store answers (checked at most every 2 s)")
            .Produces<Readiness>().ProducesProblem(503);
    }

    public Task<Readiness> CheckAsync()
    {
        lock (_gate)
        {
            var now = time.GetUtcNow();
            if (_last is not { } last || now - last.At >= CacheFor)
            {
                _last = last = (Task.Run(RunAsync), now);
            }

            return last.Result;
        }
    }

    private async Task<Readiness> RunAsync()
    {
        var checks = await Task.WhenAll(targets.OrderBy(t => t.Name, StringComparer.Ordinal).Select(UpstreamAsync).Append(StoreAsync()));
        return new Readiness(checks.All(c => c.Ok) ? "ready" : "not ready", checks);
    }

    private static async Task<ReadyCheck> UpstreamAsync(CredentialTarget target)
    {
        string name = $"target {target.Name}";
        using var timeout = new CancellationTokenSource(Timeout);
        using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
        try
        {
            await socket.ConnectAsync(target.Host, target.Port, timeout.Token);
            return new ReadyCheck(name, true, null);
        }
        catch (OperationCanceledException)
        {
            return new ReadyCheck(name, false, $"upstream {target.Host}:{target.Port} did not accept a connection within {Timeout.TotalSeconds:0} s");
        }
        catch (SocketException ex)
        {
            return new ReadyCheck(name, false, $"upstream {target.Host}:{target.Port} is unreachable ({ex.SocketErrorCode})");
        }
    }

    private async Task<ReadyCheck> StoreAsync()
    {
        using var timeout = new CancellationTokenSource(Timeout * 2);
        try
        {
            await state.CheckAsync(timeout.Token);
            return new ReadyCheck("state", true, null);
        }
        catch (Exception ex) when (ex is System.Data.Common.DbException or IOException or InvalidOperationException or OperationCanceledException or TimeoutException)
        {
            // The store's own message may name a path or host: enough for an operator, and no secret (URIs are never echoed).
            return new ReadyCheck("state", false, ex is OperationCanceledException ? "the state store did not answer within 2 s" : "the state store does not answer: " + ex.Message.ReplaceLineEndings(" "));
        }
    }
}
