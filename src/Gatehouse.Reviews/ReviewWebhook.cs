using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Threading.Channels;
using Gatehouse.State;
using Microsoft.Extensions.Logging;

namespace Gatehouse.Reviews;

/// <summary>
/// Tells a chat or paging system that a statement waits for review: a JSON POST (review id, identity, target, SQL,
/// rule, link to the console, and a Slack-compatible <c>text</c>), signed with
/// <c>X-Gatehouse-Signature: sha256=HEX(HMAC-SHA-256(key, body))</c>. Deliveries run in the background, retried with
/// backoff (1 s, 4 s, 16 s, 60 s) and a 10 s timeout each; the data path never waits for them.
/// </summary>
public sealed class ReviewWebhook : IAsyncDisposable
{
    private static readonly TimeSpan[] Backoff = [TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(4), TimeSpan.FromSeconds(16), TimeSpan.FromSeconds(60)];
    private readonly Channel<(Uri Url, byte[] Body)> _queue = Channel.CreateBounded<(Uri, byte[])>(new BoundedChannelOptions(1000) { FullMode = BoundedChannelFullMode.DropOldest });
    private readonly HttpClient _http = new() { Timeout = TimeSpan.FromSeconds(10) };
    private readonly byte[] _key;
    private readonly string? _consoleUrl;
    private readonly ILogger _logger;
    private readonly Task _loop;

    public ReviewWebhook(byte[] key, string? consoleUrl, ILogger logger)
    {
        _key = key;
        _consoleUrl = consoleUrl;
        _logger = logger;
        _loop = Task.Run(RunAsync);
    }

    /// <summary>Delivered deliveries and failed ones (after every retry), for tests and metrics.</summary>
    public long Delivered => Interlocked.Read(ref _delivered);

    public long Failed => Interlocked.Read(ref _failedCount);

    private long _delivered;
    private long _failedCount;

    public void Notify(ReviewRecord review, Uri? url)
    {
        if (url is null)
        {
            return;
        }

        string link = _consoleUrl is null ? string.Empty : $"{_consoleUrl}/#/reviews/{review.Id}";
        var body = JsonSerializer.SerializeToUtf8Bytes(new
        {
            review = review.Id,
            identity = new { subject = review.Subject, issuer = review.Issuer },
            target = review.Target,
            sql = review.Sql,
            rule = review.Rule,
            reason = review.Reason,
            expires = review.Expires,
            link,
            text = $"Gatehouse review {review.Id}: {review.Subject} wants to run on {review.Target} (rule {review.Rule}). {link}".TrimEnd(),
        }, ReviewJson.Options);
        _queue.Writer.TryWrite((url, body));
    }

    /// <summary>The signature header's value for a body.</summary>
    public static string Signature(byte[] key, ReadOnlySpan<byte> body) => "sha256=" + Convert.ToHexStringLower(HMACSHA256.HashData(key, body));

    private async Task RunAsync()
    {
        await foreach (var (url, body) in _queue.Reader.ReadAllAsync())
        {
            for (int attempt = 0; ; attempt++)
            {
                try
                {
                    using var request = new HttpRequestMessage(HttpMethod.Post, url) { Content = new ByteArrayContent(body) };
                    request.Content.Headers.ContentType = new("application/json");
                    request.Headers.Add("X-Gatehouse-Signature", Signature(_key, body));
                    using var response = await _http.SendAsync(request);
                    if (response.IsSuccessStatusCode)
                    {
                        Interlocked.Increment(ref _delivered);
                        break;
                    }

                    _logger.LogWarning("Review webhook {Host} answered {Status}", url.Host, (int)response.StatusCode);
                }
                catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
                {
                    _logger.LogWarning("Review webhook {Host} failed: {Reason}", url.Host, ex.Message);
                }

                if (attempt == Backoff.Length)
                {
                    Interlocked.Increment(ref _failedCount);
                    break;
                }

                await Task.Delay(Backoff[attempt]);
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        _queue.Writer.TryComplete();
        await Task.WhenAny(_loop, Task.Delay(TimeSpan.FromSeconds(2)));
        _http.Dispose();
    }
}
