using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Npgsql;
using Xunit.Abstractions;

namespace Gatehouse.IntegrationTests;

/// <summary>The review webhook against a real local HTTP receiver: body, signature, retry with backoff, a receiver that hangs.</summary>
public sealed class ReviewWebhookTests(ITestOutputHelper output)
{
    /// <summary>A receiver that answers each delivery as <see cref="Answer"/> says: a status, or null to never answer.</summary>
    private sealed class Receiver : IAsyncDisposable
    {
        private readonly HttpListener _listener = new();
        private readonly Task _loop;

        public Receiver()
        {
            Url = $"http://127.0.0.1:{TestGateway.FreePort()}/hook/";
            _listener.Prefixes.Add(Url);
            _listener.Start();
            _loop = Task.Run(LoopAsync);
        }

        public string Url { get; }

        public ConcurrentQueue<(DateTime At, byte[] Body, string? Signature, string? ContentType)> Received { get; } = new();

        public Func<string, int, int?> Answer { get; set; } = (_, _) => 200;

        private async Task LoopAsync()
        {
            while (_listener.IsListening)
            {
                HttpListenerContext context;
                try
                {
                    context = await _listener.GetContextAsync();
                }
                catch (Exception ex) when (ex is HttpListenerException or ObjectDisposedException)
                {
                    return;
                }

                using var body = new MemoryStream();
                await context.Request.InputStream.CopyToAsync(body);
                var bytes = body.ToArray();
                Received.Enqueue((DateTime.UtcNow, bytes, context.Request.Headers["X-Gatehouse-Signature"], context.Request.ContentType));
                string text = Encoding.UTF8.GetString(bytes);
                if (Answer(text, Received.Count(r => Encoding.UTF8.GetString(r.Body) == text)) is { } status)
                {
                    context.Response.StatusCode = status;
                    context.Response.Close();
                }
            }
        }

        public async Task<List<(DateTime At, byte[] Body, string? Signature, string? ContentType)>> WaitForAsync(string marker, int count)
        {
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
            while (true)
            {
                var matching = Received.Where(r => Encoding.UTF8.GetString(r.Body).Contains(marker, StringComparison.Ordinal)).ToList();
                if (matching.Count >= count)
                {
                    return matching;
                }

                Assert.True(DateTime.UtcNow < deadline, $"the receiver got {matching.Count} of {count} deliveries for {marker}");
                await Task.Delay(50);
            }
        }

        public async ValueTask DisposeAsync()
        {
            _listener.Abort();
            await _loop;
        }
    }

    [Fact]
    public async Task Deliveries_are_signed_retried_with_backoff_and_a_hanging_receiver_never_holds_a_statement()
    {
        await using var receiver = new Receiver();
        // A failing receiver first: 500 to the first delivery of each body, then 200; bodies with "hang" get no answer.
        receiver.Answer = (body, seen) => body.Contains("hang", StringComparison.Ordinal) ? null : seen == 1 ? 500 : 200;
        await using var gateway = await TestGateway.StartAsync(new TestGatewayOptions { Policy = ReviewSupport.Policy("hold", "2m", webhook: receiver.Url) });
        byte[] key = Convert.FromBase64String((await File.ReadAllTextAsync(Path.Combine(gateway.Config.StateDirectory, "webhook.key"))).Trim());
        await using var connection = await gateway.OpenAsync(gateway.Token("agent-hook"));

        string marker = "flaky" + Guid.NewGuid().ToString("N")[..8];
        string sql = $"UPDATE payments SET amount = amount WHERE card_number = '{marker}'";
        var running = new NpgsqlCommand(sql, connection).ExecuteNonQueryAsync();
        var deliveries = await receiver.WaitForAsync(marker, 2);
        string id = await ReviewSupport.PendingAsync(gateway, marker);

        var (first, retry) = (deliveries[0], deliveries[1]);
        Assert.Equal(first.Body, retry.Body);
        var gap = retry.At - first.At;
        output.WriteLine($"retry after a 500: {gap.TotalMilliseconds:F0} ms");
        Assert.True(gap >= TimeSpan.FromSeconds(0.9) && gap < TimeSpan.FromSeconds(3), $"retried after {gap.TotalMilliseconds:F0} ms (backoff 1 s)");
        foreach (var delivery in deliveries)
        {
            Assert.Equal("application/json", delivery.ContentType);
            string expected = "sha256=" + Convert.ToHexStringLower(HMACSHA256.HashData(key, delivery.Body));
            Assert.True(CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(expected), Encoding.ASCII.GetBytes(delivery.Signature ?? "")), delivery.Signature);
            Assert.NotEqual("sha256=" + Convert.ToHexStringLower(HMACSHA256.HashData(new byte[32], delivery.Body)), delivery.Signature);
        }

        using (var json = JsonDocument.Parse(first.Body))
        {
            var body = json.RootElement;
            string link = $"{gateway.Gateway.AdminUrl}/#/reviews/{id}";
            Assert.Equal(id, body.GetProperty("review").GetString());
            Assert.Equal("agent-hook", body.GetProperty("identity").GetProperty("subject").GetString());
            Assert.False(string.IsNullOrEmpty(body.GetProperty("identity").GetProperty("issuer").GetString()));
            Assert.Equal(TestGateway.Target, body.GetProperty("target").GetString());
            Assert.Equal(sql, body.GetProperty("sql").GetString());
            Assert.Equal("pay-writes", body.GetProperty("rule").GetString());
            Assert.Equal(link, body.GetProperty("link").GetString());
            string text = body.GetProperty("text").GetString()!;
            Assert.Contains(id, text, StringComparison.Ordinal);
            Assert.Contains("agent-hook", text, StringComparison.Ordinal);
            Assert.Contains(link, text, StringComparison.Ordinal);
        }

        Assert.Equal(HttpStatusCode.OK, await ReviewSupport.DecideAsync(gateway, id, approve: true, ReviewSupport.Reviewer(gateway)));
        Assert.Equal(0, await running.WaitAsync(TimeSpan.FromSeconds(10)));

        // A receiver that never answers: the statement is held and released as if there were no webhook.
        marker = "hang" + Guid.NewGuid().ToString("N")[..8];
        running = new NpgsqlCommand($"DELETE FROM payments WHERE card_number = '{marker}'", connection).ExecuteNonQueryAsync();
        await receiver.WaitForAsync(marker, 1);
        id = await ReviewSupport.PendingAsync(gateway, marker);
        var clock = Stopwatch.StartNew();
        Assert.Equal(HttpStatusCode.OK, await ReviewSupport.DecideAsync(gateway, id, approve: true, ReviewSupport.Reviewer(gateway)));
        Assert.Equal(0, await running.WaitAsync(TimeSpan.FromSeconds(10)));
        output.WriteLine($"released {clock.ElapsedMilliseconds} ms after the decision, the webhook delivery still unanswered");
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(2), $"released after {clock.ElapsedMilliseconds} ms");
        Assert.Single(await receiver.WaitForAsync(marker, 1)); // still the one unanswered delivery (10 s client timeout)
        Assert.Equal(1, await new NpgsqlCommand("SELECT 1", connection).ExecuteScalarAsync());
    }
}
