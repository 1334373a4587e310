using Microsoft.IdentityModel.Protocols;
using Microsoft.IdentityModel.Protocols.OpenIdConnect;
using Microsoft.IdentityModel.Tokens;

namespace Gatehouse.Identity;

/// <summary>
/// Discovery document + JWKS of one external issuer, cached. Fetched through Microsoft.IdentityModel's
/// <see cref="OpenIdConnectConfigurationRetriever"/> and <see cref="HttpDocumentRetriever"/>, but cached
/// here rather than in <c>ConfigurationManager</c>: that class refreshes in the background on
/// <c>RequestRefresh</c> (the token that revealed a new key would still fail) and reads the wall clock
/// (untestable without sleeping). Here a refresh for an unknown <c>kid</c> is awaited by the caller,
/// single-flight, at most once per <see cref="MinimumRefreshInterval"/>, on the injected clock.
/// </summary>
internal sealed class IssuerMetadata
{
    private readonly string _metadataAddress;
    private readonly HttpDocumentRetriever _documents;
    private readonly TimeProvider _time;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private volatile Snapshot? _current;
    private DateTimeOffset _lastForcedRefresh = DateTimeOffset.MinValue;
    private int _attempts; // completed fetches, good or bad: lets waiters see that someone fetched for them
    private long _lastFailureTicks = DateTimeOffset.MinValue.UtcTicks; // read outside the gate: Interlocked
    private string? _lastError;

    public IssuerMetadata(string issuer, HttpClient http, TimeProvider time)
    {
        Issuer = issuer;
        _metadataAddress = issuer.TrimEnd('/') + "/.well-known/openid-configuration";
        _time = time;
        // http:// metadata only for a loopback issuer (tests, a local IdP); anything else must be https.
        _documents = new HttpDocumentRetriever(http) { RequireHttps = !new Uri(issuer).IsLoopback };
    }

    public string Issuer { get; }

    /// <summary>How often the cached keys are refreshed even when no unknown kid shows up.</summary>
    public TimeSpan AutomaticRefreshInterval { get; init; } = TimeSpan.FromHours(1);

    /// <summary>An unknown kid forces a refresh at most this often.</summary>
    public TimeSpan MinimumRefreshInterval { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>After a failed fetch with nothing cached, callers fail fast for this long.</summary>
    public TimeSpan FailureBackoff { get; init; } = TimeSpan.FromSeconds(5);

    public TimeSpan FetchTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>The signing keys, fetching them first when nothing is cached or the cache is old.</summary>
    public async ValueTask<Snapshot?> GetAsync(CancellationToken ct)
    {
        var current = _current;
        var now = _time.GetUtcNow();
        if (current is not null && now - current.FetchedAt < AutomaticRefreshInterval)
        {
            return current;
        }

        if (now - LastFailure < FailureBackoff)
        {
            return current;
        }

        return await RefreshAsync(force: false, ct);
    }

    /// <summary>Refetches because a token names a kid the cache lacks; rate-limited. Returns what is cached afterwards.</summary>
    public ValueTask<Snapshot?> RefreshForUnknownKeyAsync(CancellationToken ct) => RefreshAsync(force: true, ct);

    /// <summary>Why the last fetch failed, in words fit for a client (no URLs with secrets, no token).</summary>
    public string LastError => _lastError ?? "no metadata fetched yet";

    private DateTimeOffset LastFailure => new(Interlocked.Read(ref _lastFailureTicks), TimeSpan.Zero);

    private async ValueTask<Snapshot?> RefreshAsync(bool force, CancellationToken ct)
    {
        int seen = Volatile.Read(ref _attempts);
        await _gate.WaitAsync(ct);
        try
        {
            var current = _current;
            var now = _time.GetUtcNow();
            // Someone else fetched, or failed to, while we waited: take their result.
            if (Volatile.Read(ref _attempts) != seen)
            {
                return current;
            }

            bool fresh = current is not null && now - current.FetchedAt < AutomaticRefreshInterval;
            bool backingOff = now - LastFailure < FailureBackoff;
            if (force ? now - _lastForcedRefresh < MinimumRefreshInterval : fresh || backingOff)
            {
                return current;
            }

            if (force)
            {
                _lastForcedRefresh = now;
            }

            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
            timeout.CancelAfter(FetchTimeout);
            try
            {
                var configuration = await OpenIdConnectConfigurationRetriever.GetAsync(_metadataAddress, _documents, timeout.Token);
                if (!string.Equals(configuration.Issuer?.TrimEnd('/'), Issuer.TrimEnd('/'), StringComparison.Ordinal))
                {
                    throw new InvalidDataException("the discovery document names a different issuer");
                }

                var snapshot = new Snapshot(_time.GetUtcNow(), [.. configuration.SigningKeys]);
                _current = snapshot;
                _lastError = null;
                Interlocked.Increment(ref _attempts);
                return snapshot;
            }
            catch (Exception ex) when (!ct.IsCancellationRequested)
            {
                Interlocked.Exchange(ref _lastFailureTicks, _time.GetUtcNow().UtcTicks);
                _lastError = Describe(ex, timeout.IsCancellationRequested);
                Interlocked.Increment(ref _attempts);
                // A stale key set beats none: tokens signed with known keys keep working while the IdP is down.
                return current;
            }
        }
        finally
        {
            _gate.Release();
        }
    }

    private static string Describe(Exception ex, bool timedOut)
    {
        if (timedOut)
        {
            return "timed out fetching the issuer's metadata";
        }

        for (var inner = ex; inner is not null; inner = inner.InnerException)
        {
            if (inner.Data[HttpDocumentRetriever.StatusCode] is System.Net.HttpStatusCode code)
            {
                return $"the issuer's metadata endpoint answered HTTP {(int)code}";
            }

            switch (inner)
            {
                case InvalidDataException:
                    return inner.Message;
                case HttpRequestException { StatusCode: { } status }:
                    return $"the issuer's metadata endpoint answered HTTP {(int)status}";
                case HttpRequestException:
                    return "could not connect to the issuer";
            }
        }

        return "could not read the issuer's discovery document or JWKS";
    }

    /// <summary>One fetched key set.</summary>
    public sealed record Snapshot(DateTimeOffset FetchedAt, IReadOnlyList<SecurityKey> Keys);
}
