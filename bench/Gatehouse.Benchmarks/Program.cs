using System.Diagnostics;
using BenchmarkDotNet.Running;
using Gatehouse.Benchmarks;

if (args is ["--cpu-time"])
{
    // A cross-check for busy machines: per-operation *CPU* time of this process, which other
    // processes competing for the cores inflate far less than they inflate wall-clock time.
    var b = new SqlAnalyzerBenchmarks();
    b.Setup();
    Measure("AnalyzeTypicalStatement", 200_000, () => b.AnalyzeTypicalStatement(), SqlAnalyzerBenchmarks.Typical.Length);
    Measure("SplitTypicalStatement", 200_000, () => b.SplitTypicalStatement(), SqlAnalyzerBenchmarks.Typical.Length);
    Measure("Analyze1MBScript", 40, () => b.Analyze1MBScript(), b.ScriptBytes);
    Measure("Split1MBScript", 40, () => b.Split1MBScript(), b.ScriptBytes);
    var path = new StatementPathBenchmarks();
    path.Setup();
    Measure("SubmitTypical", 200_000, () => path.SubmitTypical().AsTask().GetAwaiter().GetResult() ? 1 : 0, 0);
    Measure("RelayTransaction x1000", 200, () => { path.RelayTransaction().GetAwaiter().GetResult(); return 0; }, 0);
    path.Cleanup();
    return 0;
}

if (args is ["--read-rows", var connection, var sql])
{
    return MaskingReadRows.Run(connection, sql);
}

BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
return 0;

static void Measure(string name, int iterations, Func<int> op, int chars)
{
    for (var i = 0; i < iterations / 10; i++) op();
    var samples = new List<double>();
    for (var round = 0; round < 5; round++)
    {
        var cpu = Process.GetCurrentProcess().TotalProcessorTime;
        var alloc = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < iterations; i++) op();
        var perOp = (Process.GetCurrentProcess().TotalProcessorTime - cpu).TotalMilliseconds * 1000 / iterations;
        samples.Add(perOp);
        if (round == 4)
        {
            samples.Sort();
            var median = samples[2];
            Console.WriteLine($"{name,-26} median CPU {median,10:F2} us/op  {(GC.GetAllocatedBytesForCurrentThread() - alloc) / iterations,9} B/op  {chars / median,8:F1} MB/s (chars)");
        }
    }
}
