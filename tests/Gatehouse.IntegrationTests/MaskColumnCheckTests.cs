using System.Collections.Concurrent;
using System.Diagnostics;
using Npgsql;

namespace Gatehouse.IntegrationTests;

/// <summary>
/// A mask naming a column the upstream does not have: `gatehouse serve` logs a warning at start and after a reload,
/// and keeps serving.
/// </summary>
[Collection(GatewayCollection.Name)]
public sealed class MaskColumnCheckTests(GatewayFixture fixture)
{
    private static string Policy(string maskedColumn) => TestData.DefaultPolicy.TrimEnd() + $$"""

            masks:
              - { columns: ["{{maskedColumn}}"], with: redact }
              - { columns: ["*.nothing_like_this"], with: redact }
              - { columns: ["public.customers.ssn"], with: last4 }
        """;

    [Fact]
    public async Task A_mask_on_a_missing_column_is_a_warning_at_start_and_on_reload_and_the_gateway_serves()
    {
        await using var prepared = GatewayProcess.Prepare(fixture);
        string policyPath = Path.Combine(prepared.Directory, "policy.yaml");
        await File.WriteAllTextAsync(policyPath, Policy("public.customers.emial"));
        string token = await prepared.TokenAsync("mask-check");

        using var process = ProcessRunner.Start(GatewayProcess.Executable, ["serve", "--config", prepared.ConfigPath]);
        var lines = new BlockingCollection<string>();
        var output = new ConcurrentQueue<string>();
        _ = PumpAsync(process.StandardOutput, lines, output);
        _ = PumpAsync(process.StandardError, lines, output);
        try
        {
            string started = WaitForLine(lines, "Mask check:", output);
            Assert.Contains("mask 'public.customers.emial'", started, StringComparison.Ordinal);
            Assert.Contains("column emial does not exist in public.customers", started, StringComparison.Ordinal);
            Assert.Contains("grant #1 (to coding-agents", started, StringComparison.Ordinal);

            await using (var connection = await OpenAsync(prepared.Port, token, process))
            await using (var command = new NpgsqlCommand("SELECT name, ssn FROM customers WHERE id = 1", connection))
            await using (var reader = await command.ExecuteReaderAsync())
            {
                Assert.True(await reader.ReadAsync());
                Assert.Equal("Customer 1", reader.GetString(0));
                // The valid mask of the same grant still applies.
                Assert.NotEqual("123-45-0001", reader.GetString(1));
                Assert.EndsWith("0001", reader.GetString(1), StringComparison.Ordinal);
            }

            await File.WriteAllTextAsync(policyPath, Policy("public.no_such_table.email"));
            string reloaded = WaitForLine(lines, "relation public.no_such_table does not exist", output);
            Assert.Contains("mask 'public.no_such_table.email'", reloaded, StringComparison.Ordinal);

            await using var again = await OpenAsync(prepared.Port, token, process);
            await using var one = new NpgsqlCommand("SELECT 1", again);
            Assert.Equal(1, await one.ExecuteScalarAsync());
            Assert.False(process.HasExited);
            Assert.DoesNotContain(output, l => l.Contains("nothing_like_this", StringComparison.Ordinal));
            Assert.DoesNotContain(output, l => l.Contains("   at ", StringComparison.Ordinal));
        }
        finally
        {
            Signals.Send(process.Id, Signals.Terminate);
            if (!process.WaitForExit(TimeSpan.FromSeconds(20)))
            {
                process.Kill(entireProcessTree: true);
            }
        }
    }

    private static async Task PumpAsync(StreamReader reader, BlockingCollection<string> lines, ConcurrentQueue<string> output)
    {
        while (await reader.ReadLineAsync() is { } line)
        {
            output.Enqueue(line);
            lines.Add(line);
        }
    }

    /// <summary>The first line containing <paramref name="text"/>; fails after 30 s with everything printed so far.</summary>
    private static string WaitForLine(BlockingCollection<string> lines, string text, ConcurrentQueue<string> output)
    {
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < TimeSpan.FromSeconds(30))
        {
            if (lines.TryTake(out var line, TimeSpan.FromMilliseconds(200)) && line.Contains(text, StringComparison.Ordinal))
            {
                return line;
            }
        }

        Assert.Fail($"no line with '{text}' within 30 s; output:\n{string.Join('\n', output)}");
        return "";
    }

    private static async Task<NpgsqlConnection> OpenAsync(int port, string token, Process process)
    {
        var builder = new NpgsqlConnectionStringBuilder { Host = "127.0.0.1", Port = port, Database = TestGateway.Target, Username = "a", Password = token, SslMode = SslMode.Require, Pooling = false };
        for (int attempt = 0; ; attempt++)
        {
            var connection = new NpgsqlConnection(builder.ConnectionString);
            try
            {
                await connection.OpenAsync();
                return connection;
            }
            catch (NpgsqlException) when (attempt < 150 && !process.HasExited)
            {
                await connection.DisposeAsync();
                await Task.Delay(100);
            }
        }
    }
}
