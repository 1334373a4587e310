using Gatehouse.Pipeline;
using Gatehouse.Pipeline.Masking;
using Gatehouse.Policy;
using Gatehouse.Reviews;
using Gatehouse.Sql;

namespace Gatehouse.Mcp;

/// <summary>What the MCP door shares with the rest of the gateway. Built by the host.</summary>
public sealed class McpServices
{
    /// <summary>The wire door's token check: one validator for both doors.</summary>
    public required IAuthenticator Authenticator { get; init; }

    public required PolicyStore Policy { get; init; }

    /// <summary>Configured target names (the wire door's dbnames).</summary>
    public required IReadOnlyCollection<string> Targets { get; init; }

    /// <summary>The relay's relation catalogs, per target: masked-column notes bind through the same code and cache.</summary>
    public IReadOnlyDictionary<string, RelationCatalog> Catalogs { get; init; } = new Dictionary<string, RelationCatalog>();

    public required WireDoor Wire { get; init; }

    /// <summary>The wire door's analyzer (and its cache): the MCP door reads SQL exactly as the wire's pipeline does.</summary>
    public ISqlAnalyzer Analyzer { get; init; } = CachingSqlAnalyzer.Shared;

    /// <summary>The approval workflow, for review_status; null when the gateway has none.</summary>
    public ReviewService? Reviews { get; init; }

    public TimeProvider Time { get; init; } = TimeProvider.System;

    public required McpLimits Limits { get; init; }

    /// <summary>Issuers named in the protected-resource metadata (the configured issuer, or the dev issuer).</summary>
    public required IReadOnlyList<string> AuthorizationServers { get; init; }

    /// <summary>The admin listener's base URL, known once it is bound.</summary>
    public required Func<string> BaseUrl { get; init; }

    internal IdentityGate Gate => _gate ??= new IdentityGate(Limits.MaxConcurrentPerIdentity);

    private IdentityGate? _gate;
}

/// <summary>Tool calls running per identity; past the limit a call is refused at once rather than queued.</summary>
internal sealed class IdentityGate(int limit)
{
    private readonly Dictionary<string, int> _running = [];

    public IDisposable? TryEnter(string identity)
    {
        lock (_running)
        {
            int n = _running.GetValueOrDefault(identity);
            if (n >= limit)
            {
                return null;
            }

            _running[identity] = n + 1;
        }

        return new Exit(this, identity);
    }

    private void Leave(string identity)
    {
        lock (_running)
        {
            if (--_running[identity] == 0)
            {
                _running.Remove(identity);
            }
        }
    }

    private sealed class Exit(IdentityGate gate, string identity) : IDisposable
    {
        private int _done;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _done, 1) == 0)
            {
                gate.Leave(identity);
            }
        }
    }
}
