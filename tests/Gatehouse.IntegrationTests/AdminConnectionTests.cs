using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Gatehouse.IntegrationTests;

/// <summary>
/// The admin listener's connection limits (admin.keep_alive_timeout, request_headers_timeout, max_connections), short
/// here so the tests are quick: Kestrel's defaults kept a connection that never sent a request open 130s, with no cap.
/// </summary>
public sealed class AdminConnectionTests
{
    private static async Task<TcpClient> ConnectAsync(TestGateway gateway)
    {
        var client = new TcpClient();
        await client.ConnectAsync(gateway.Config.AdminListen);
        return client;
    }

    /// <summary>
    /// Opens a connection and has it answer one keep-alive request, so Kestrel has counted it before the next one is
    /// opened: connections dispatched on the thread pool can otherwise be counted out of order, and the one refused is
    /// then a held one while the extra stays open.
    /// </summary>
    private static async Task<TcpClient> ConnectCountedAsync(TestGateway gateway)
    {
        var client = await ConnectAsync(gateway);
        var stream = client.GetStream();
        await stream.WriteAsync(Encoding.ASCII.GetBytes("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"));
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(15));
        var received = new StringBuilder();
        var buffer = new byte[4096];
        while (!received.ToString().EndsWith("\r\n\r\nok\n", StringComparison.Ordinal))
        {
            int read = await stream.ReadAsync(buffer, timeout.Token);
            Assert.True(read > 0, $"a connection within max_connections was closed; it had received: {received}");
            received.Append(Encoding.ASCII.GetString(buffer, 0, read));
        }

        Assert.StartsWith("HTTP/1.1 200", received.ToString(), StringComparison.Ordinal);
        return client;
    }

    /// <summary>Reads until the gateway closes the connection; what it sent, and how long that took (at most 15s).</summary>
    private static async Task<(string Received, TimeSpan Elapsed)> ReadUntilClosedAsync(Stream stream)
    {
        var clock = Stopwatch.StartNew();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(15));
        var received = new MemoryStream();
        var buffer = new byte[4096];
        try
        {
            int read;
            while ((read = await stream.ReadAsync(buffer, timeout.Token)) > 0)
            {
                received.Write(buffer, 0, read);
            }
        }
        catch (IOException)
        {
            // A reset is a close too.
        }
        catch (OperationCanceledException)
        {
            Assert.Fail($"the admin listener kept the connection open for {clock.Elapsed.TotalSeconds:0.#}s");
        }

        return (Encoding.ASCII.GetString(received.ToArray()), clock.Elapsed);
    }

    [Fact]
    public async Task Idle_and_slow_connections_are_closed_and_a_long_mcp_call_is_not()
    {
        await using var gateway = await TestGateway.StartAsync(new TestGatewayOptions
        {
            ExtraConfig = "admin:\n  keep_alive_timeout: 1s\n  request_headers_timeout: 2s\n",
        });

        // A connection that never sends a request.
        using (var idle = await ConnectAsync(gateway))
        {
            var (received, elapsed) = await ReadUntilClosedAsync(idle.GetStream());
            Assert.Equal("", received);
            Assert.InRange(elapsed, TimeSpan.FromSeconds(0.5), TimeSpan.FromSeconds(5));
        }

        // One that starts a request and never finishes its headers (slowloris).
        using (var slow = await ConnectAsync(gateway))
        {
            await slow.GetStream().WriteAsync(Encoding.ASCII.GetBytes("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n"));
            var (received, elapsed) = await ReadUntilClosedAsync(slow.GetStream());
            Assert.StartsWith("HTTP/1.1 408", received, StringComparison.Ordinal);
            Assert.InRange(elapsed, TimeSpan.FromSeconds(1.5), TimeSpan.FromSeconds(6));
        }

        // The keep-alive timeout runs between requests, not during one: an MCP call three times as long finishes,
        // and the client's next call after its connection was closed idle finds a new one.
        await using var client = await McpFixture.ClientAsync(gateway, gateway.Token());
        var (result, _) = await McpFixture.QueryAsync(client, "SELECT pg_sleep(3)");
        Assert.True(result.IsError != true, "the MCP call was cut off");
        await Task.Delay(TimeSpan.FromSeconds(2.5));
        (result, var json) = await McpFixture.QueryAsync(client, "SELECT 41 + 1 AS answer");
        Assert.True(result.IsError != true, json.ToString());
        Assert.Equal("42", Assert.Single(McpFixture.Rows(json))[0]);
    }

    [Fact]
    public async Task Connections_past_max_connections_are_closed_until_one_ends()
    {
        await using var gateway = await TestGateway.StartAsync(new TestGatewayOptions { ExtraConfig = "admin:\n  max_connections: 3\n" });
        var held = new List<TcpClient>();
        try
        {
            for (int i = 0; i < 3; i++)
            {
                held.Add(await ConnectCountedAsync(gateway));
            }

            using (var extra = await ConnectAsync(gateway))
            {
                var (received, elapsed) = await ReadUntilClosedAsync(extra.GetStream());
                Assert.Equal("", received);
                Assert.True(elapsed < TimeSpan.FromSeconds(5), $"closed after {elapsed.TotalSeconds:0.#}s");
            }
        }
        finally
        {
            foreach (var client in held)
            {
                client.Dispose();
            }
        }

        using var http = new HttpClient { BaseAddress = new Uri(gateway.Gateway.AdminUrl), Timeout = TimeSpan.FromSeconds(5) };
        await AdminHttp.EventuallyAsync(async () =>
        {
            try
            {
                using var response = await http.GetAsync("/healthz");
                return response.StatusCode == HttpStatusCode.OK ? "ok" : null;
            }
            catch (HttpRequestException)
            {
                return null; // the held connections' slots are not free yet
            }
        }, seconds: 10, what: "/healthz once the held connections closed");
    }
}
