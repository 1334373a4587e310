using BenchmarkDotNet.Attributes;
using Gatehouse.Audit;
using Gatehouse.State;

namespace Gatehouse.Benchmarks;

/// <summary>
/// What a session pays on its own thread to record one statement and its outcome: JSON, seq and MAC, the journal's
/// pwrite (the outcome is buffered and goes out with the next statement). The store is one that takes every batch
/// at once, so only the session's side is measured; the writer's store work is bench/audit-compare.sh's business.
/// </summary>
[MemoryDiagnoser]
[MedianColumn]
public class AuditAppendBenchmarks
{
    private static readonly StatementRecord Statement = new(
        "3f2a9c1b7d4e", 42, "SELECT abalance FROM pgbench_accounts WHERE aid = 73421;", null,
        [new StatementPart("SELECT", "read", ["public.pgbench_accounts"], [], [])], "allow", "read-accounts",
        "rule read-accounts allows read of public.pgbench_accounts", null, null);

    private static readonly OutcomeRecord Outcome = new("3f2a9c1b7d4e", 42, true, "SELECT 1", 1, 0.231, null, null, null, []);

    private string _directory = "";
    private AuditTrail _trail = null!;

    [GlobalSetup]
    public void Setup()
    {
        _directory = Directory.CreateTempSubdirectory("gatehouse-bench-audit-").FullName;
        var key = AuditKey.FromBytes(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32));
        _trail = new AuditTrail(new TakingStore(), key, new AuditTrailOptions { Chain = "bench", JournalDirectory = _directory }, TimeProvider.System);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _trail.DisposeAsync().AsTask().GetAwaiter().GetResult();
        Directory.Delete(_directory, recursive: true);
    }

    [Benchmark(Description = "statement and its outcome")]
    public Task StatementAndOutcome()
    {
        var durable = _trail.Append(AuditKinds.Statement, Statement.Session, Statement);
        _trail.AppendLazily(AuditKinds.Outcome, Outcome.Session, Outcome);
        return durable;
    }

    [Benchmark(Description = "statement alone")]
    public Task StatementAlone() => _trail.Append(AuditKinds.Statement, Statement.Session, Statement);

    /// <summary>Takes every batch at once and keeps nothing: a benchmark stand-in for the store, never a test's.</summary>
    private sealed class TakingStore : IAuditStore
    {
        public Task AppendAsync(IReadOnlyList<AuditRow> rows, CancellationToken ct) => Task.CompletedTask;

        public Task<IReadOnlyList<string>> ChainsAsync(CancellationToken ct) => Task.FromResult<IReadOnlyList<string>>([]);

        public Task<AuditRow?> LastAsync(string chain, CancellationToken ct) => Task.FromResult<AuditRow?>(null);

        public IAsyncEnumerable<AuditRow> ReadChainAsync(string chain, long afterSeq, CancellationToken ct) => AsyncEnumerable.Empty<AuditRow>();

        public IAsyncEnumerable<AuditRow> ReadAsync(AuditQuery query, CancellationToken ct) => AsyncEnumerable.Empty<AuditRow>();

        public Task<AuditAnchor?> ReadAnchorAsync(string chain, CancellationToken ct) => Task.FromResult<AuditAnchor?>(null);

        public Task<long> PruneAsync(AuditAnchor anchor, CancellationToken ct) => Task.FromResult(0L);
    }
}
