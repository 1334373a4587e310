using System.Text.Json;
using BenchmarkDotNet.Attributes;
using Gatehouse.Pipeline;
using Gatehouse.Policy;
using Gatehouse.Protocol;
using Gatehouse.Proxy;
using Gatehouse.Sql;
using Microsoft.Extensions.Logging.Abstractions;

namespace Gatehouse.Benchmarks;

/// <summary>
/// The statement path without sockets: the pipeline's decision for one pgbench -S statement under the ten-rule
/// policy, and the relay's two consumers (with the ledger) carrying whole pgbench -S transactions, extended protocol.
/// Budgets (docs/design/performance.md): SubmitTypical ≤ 5 µs and ≤ 1 KB; RelayTransaction ≤ 8 µs and ≤ 1.5 KB per
/// transaction, both directions together. Streams are in memory, so these are the gateway's own costs.
/// </summary>
[MemoryDiagnoser]
[MedianColumn]
public class StatementPathBenchmarks
{
    public const int TransactionsPerRun = 1000;
    private const string PgbenchSelect = "SELECT abalance FROM pgbench_accounts WHERE aid = $1;";

    private PolicyStore _policy = null!;
    private StatementPipeline _pipeline = null!;
    private byte[] _clientBytes = [];
    private byte[] _serverBytes = [];
    private string _directory = "";
    private GatewayMetrics? _metrics;

    /// <summary>With the /metrics measurements on (statement counter, upstream latency): their cost shows as the difference.</summary>
    [Params(false, true)]
    public bool Metrics { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _directory = Directory.CreateTempSubdirectory("gatehouse-bench-").FullName;
        var path = Path.Combine(_directory, "policy.yaml");
        File.Copy(Path.Combine(AppContext.BaseDirectory, "policies", "ten-rules.yaml"), path);
        _policy = PolicyStore.Open(path);
        _metrics = Metrics ? new GatewayMetrics() : null;
        _pipeline = NewPipeline();

        using var client = new MessageWriter();
        using var server = new MessageWriter();
        for (var i = 0; i < TransactionsPerRun; i++)
        {
            client.StartMessage((byte)'P').WriteCString("").WriteCString(PgbenchSelect).WriteInt16(0).EndMessage();
            client.StartMessage((byte)'B').WriteCString("").WriteCString("").WriteInt16(0).WriteInt16(1).WriteInt32(4).WriteBytes("1234"u8).WriteInt16(0).EndMessage();
            client.StartMessage((byte)'D').WriteByte((byte)'P').WriteCString("").EndMessage();
            client.StartMessage((byte)'E').WriteCString("").WriteInt32(0).EndMessage();
            client.WriteBytes(FrontendMessages.Sync);

            server.StartMessage((byte)'1').EndMessage();
            server.StartMessage((byte)'2').EndMessage();
            server.StartMessage((byte)'T').WriteInt16(1).WriteCString("abalance").WriteInt32(16400).WriteInt16(3).WriteInt32(23).WriteInt16(4).WriteInt32(-1).WriteInt16(0).EndMessage();
            server.StartMessage((byte)'D').WriteInt16(1).WriteInt32(4).WriteBytes("4711"u8).EndMessage();
            server.StartMessage((byte)'C').WriteCString("SELECT 1").EndMessage();
            BackendMessages.WriteReadyForQuery(server, TransactionStatus.Idle);
        }

        _clientBytes = client.ToArray();
        _serverBytes = server.ToArray();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _policy.Dispose();
        Directory.Delete(_directory, recursive: true);
    }

    [Benchmark]
    public async ValueTask<bool> SubmitTypical() => (await _pipeline.SubmitAsync(StatementRequest.Prepare("", PgbenchSelect), CancellationToken.None)).Proceed;

    /// <summary>One op = <see cref="TransactionsPerRun"/> transactions through both consumers; divide by it.</summary>
    [Benchmark(OperationsPerInvoke = TransactionsPerRun)]
    public async Task RelayTransaction()
    {
        var ledger = new StatementLedger { UpstreamLatency = _metrics?.UpstreamLatency };
        using (var toServer = new ClientToServerPump(new MemoryStream(_clientBytes, writable: false), Stream.Null, 64 << 20, _pipeline, ledger))
        {
            await toServer.RunAsync(CancellationToken.None);
        }

        using var toClient = new ServerToClientPump(new MemoryStream(_serverBytes, writable: false), Stream.Null, _pipeline, ledger);
        await toClient.RunAsync(CancellationToken.None);
    }

    private StatementPipeline NewPipeline()
    {
        var claims = JsonDocument.Parse("""{"groups":"ai-agents"}""").RootElement.Clone();
        var session = new SessionContext("bench", new Principal("agent", "https://issuer", claims, "hash", DateTimeOffset.MaxValue), "bench", FrontDoor.Wire, "gh_agent");
        return new StatementPipeline(_policy, session, CachingSqlAnalyzer.Shared, NullLogger.Instance) { Metrics = _metrics };
    }
}
