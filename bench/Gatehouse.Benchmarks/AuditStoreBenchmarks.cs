using BenchmarkDotNet.Attributes;
using Gatehouse.State;

namespace Gatehouse.Benchmarks;

/// <summary>
/// What the audit writer pays per row to store a batch in the SQLite state store, as the gateway's writer hands it
/// over (about 2,000 rows per batch under pgbench): statement and outcome rows of realistic size, one chain.
/// </summary>
[MemoryDiagnoser]
[MedianColumn]
public class AuditStoreBenchmarks
{
    public const int BatchRows = 2000;

    private string _directory = "";
    private IStateStore _store = null!;
    private long _seq;
    private readonly AuditRow[] _batch = new AuditRow[BatchRows];

    private static readonly string StatementBody =
        """{"session":"3f2a9c1b7d4e5f60","statement":42,"sql":"UPDATE pgbench_accounts SET abalance = abalance + -2811 WHERE aid = 73421;","parameters":null,"parts":[{"command":"UPDATE","class":"write","reads":["public.pgbench_accounts"],"writes":["public.pgbench_accounts"],"functions":[]}],"decision":"allow","rule":null,"reason":"no rule matched; allowed within db_roles","review":null,"reviewers":null}""";

    private static readonly string OutcomeBody =
        """{"session":"3f2a9c1b7d4e5f60","statement":42,"succeeded":true,"command_tag":"UPDATE 1","rows":1,"duration_ms":0.231,"sql_state":null,"message":null,"parameters":null,"masked_columns":[]}""";

    /// <summary>The schema as migrated, or with secondary indexes dropped (what each costs per row).</summary>
    [Params("as-migrated", "no-session-index", "no-secondary-indexes")]
    public string Schema { get; set; } = "as-migrated";

    [GlobalSetup]
    public void Setup()
    {
        _directory = Directory.CreateTempSubdirectory("gatehouse-bench-store-").FullName;
        string path = Path.Combine(_directory, "state.db");
        var opened = StateStore.Open("sqlite:" + path);
        _store = opened.Store ?? throw new InvalidOperationException(opened.Error);
        if (Schema != "as-migrated")
        {
            using var connection = new Microsoft.Data.Sqlite.SqliteConnection("Data Source=" + path);
            connection.Open();
            using var drop = connection.CreateCommand();
            drop.CommandText = Schema == "no-session-index"
                ? "DROP INDEX audit_records_session"
                : "DROP INDEX audit_records_session; DROP INDEX audit_records_time";
            drop.ExecuteNonQuery();
        }
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _store.DisposeAsync().AsTask().GetAwaiter().GetResult();
        Directory.Delete(_directory, recursive: true);
    }

    [IterationSetup]
    public void NextBatch()
    {
        var time = DateTimeOffset.UtcNow;
        var mac = new byte[32];
        for (int i = 0; i < BatchRows; i++)
        {
            _seq++;
            bool statement = i % 2 == 0;
            _batch[i] = new AuditRow("bench", _seq, time, statement ? "statement" : "outcome", "3f2a9c1b7d4e5f60" + (i % 8), statement ? StatementBody : OutcomeBody, mac);
        }
    }

    [Benchmark(Description = "store a batch of 2,000 rows", OperationsPerInvoke = BatchRows)]
    public Task StoreBatch() => _store.Audit.AppendAsync(_batch, CancellationToken.None);
}
