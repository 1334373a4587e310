using System.Net.Sockets;
using System.Text.RegularExpressions;

namespace Gatehouse.IntegrationTests;

/// <summary>Clients that connect and never authenticate cannot fill the gateway (limits.max_unauthenticated_per_address,
/// limits.auth_timeout, the authenticated reserve), with the default limits.</summary>
public sealed class PreAuthTests(PreAuthTests.Fixture fixture) : IClassFixture<PreAuthTests.Fixture>
{
    public sealed class Fixture : TestGateway, IAsyncLifetime
    {
        public Task InitializeAsync() => InitializeAsync(new TestGatewayOptions());

        Task IAsyncLifetime.DisposeAsync() => DisposeAsync().AsTask();
    }

    [Fact]
    public async Task Eleven_hundred_half_open_sockets_from_one_address_do_not_lock_out_an_authenticated_client()
    {
        var sockets = new List<Socket>();
        try
        {
            for (int i = 0; i < 1100; i++)
            {
                var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                await socket.ConnectAsync("127.0.0.1", fixture.Port);
                await socket.SendAsync(new byte[] { 0 });
                sockets.Add(socket);
            }

            // More than max_client_connections (1000) are open on the client side; an agent with a token still gets in.
            await using (var connection = await fixture.OpenAsync())
            {
                await using var command = new Npgsql.NpgsqlCommand("select count(*) from customers", connection);
                Assert.Equal(100L, await command.ExecuteScalarAsync());
            }

            var metrics = await MetricsAsync();
            Assert.InRange(Metric(metrics, "gatehouse_unauthenticated_connections"), 0, 64);
            Assert.True(Metric(metrics, "gatehouse_connections_evicted_total") >= 1100 - 64, metrics);
        }
        finally
        {
            foreach (var socket in sockets)
            {
                socket.Dispose();
            }
        }
    }

    [Fact]
    public async Task A_connection_that_does_not_authenticate_is_closed_after_the_auth_timeout()
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync("127.0.0.1", fixture.Port);
        await socket.SendAsync(new byte[] { 0 });
        var clock = System.Diagnostics.Stopwatch.StartNew();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var buffer = new byte[256];
        while (await socket.ReceiveAsync(buffer, timeout.Token) > 0)
        {
        }

        // limits.auth_timeout (5s by default), not the 15 s startup limit.
        Assert.InRange(clock.Elapsed, TimeSpan.FromSeconds(4), TimeSpan.FromSeconds(9));
    }

    private async Task<string> MetricsAsync()
    {
        using var http = new HttpClient();
        return await http.GetStringAsync(fixture.Gateway.AdminUrl + "/metrics");
    }

    private static long Metric(string metrics, string name)
    {
        var match = Regex.Match(metrics, "^" + Regex.Escape(name) + @" (\d+)$", RegexOptions.Multiline);
        Assert.True(match.Success, $"{name} not in /metrics:\n{metrics}");
        return long.Parse(match.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
    }
}
