using System.Net;
using System.Net.Sockets;
using Npgsql;

namespace Gatehouse.IntegrationTests;

/// <summary>`gatehouse serve` and its two ports: a port it cannot have is one line and exit 1; a restart gets its ports back.</summary>
[Collection(GatewayCollection.Name)]
public sealed class ServeListenTests(GatewayFixture fixture)
{
    private static void Replace(GatewayProcess gateway, string from, string to) =>
        File.WriteAllText(gateway.ConfigPath, File.ReadAllText(gateway.ConfigPath).Replace(from, to, StringComparison.Ordinal));

    private static string AdminAddress(GatewayProcess gateway) => gateway.AdminUrl["http://".Length..];

    private static void AssertOneLine(ProcessRunner.Result result, string expected)
    {
        Assert.True(result.ExitCode == 1, $"exit {result.ExitCode}: {result.Stderr}");
        Assert.Contains(expected, result.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", result.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("fail:", result.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_second_gateway_on_the_same_ports_is_refused_with_the_address()
    {
        await using var first = GatewayProcess.Prepare(fixture);
        first.Start();
        await (await first.OpenAsync(await first.TokenAsync("first"))).DisposeAsync();

        await using var samePostgres = GatewayProcess.Prepare(fixture);
        Replace(samePostgres, $"127.0.0.1:{samePostgres.Port}", $"127.0.0.1:{first.Port}");
        samePostgres.Start();
        AssertOneLine(await samePostgres.ExitAsync(), $"gatehouse: cannot listen on 127.0.0.1:{first.Port} for PostgreSQL clients: address already in use");

        await using var sameAdmin = GatewayProcess.Prepare(fixture);
        Replace(sameAdmin, AdminAddress(sameAdmin), AdminAddress(first));
        sameAdmin.Start();
        AssertOneLine(await sameAdmin.ExitAsync(), $"gatehouse: cannot listen on {AdminAddress(first)} for the admin API: address already in use");

        // The first still has its port to itself.
        await using var connection = await first.OpenAsync(await first.TokenAsync("first"));
        await using var command = new NpgsqlCommand("SELECT 1", connection);
        Assert.Equal(1, await command.ExecuteScalarAsync());
    }

    [Fact]
    public async Task A_port_held_by_another_program_is_named()
    {
        using var holder = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        holder.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        holder.Listen();
        int port = ((IPEndPoint)holder.LocalEndPoint!).Port;
        await using var gateway = GatewayProcess.Prepare(fixture);
        Replace(gateway, $"127.0.0.1:{gateway.Port}", $"127.0.0.1:{port}");
        gateway.Start();
        AssertOneLine(await gateway.ExitAsync(), $"gatehouse: cannot listen on 127.0.0.1:{port} for PostgreSQL clients: address already in use");
    }

    [Fact]
    public async Task A_restart_right_after_a_stop_gets_both_ports_back()
    {
        await using var gateway = GatewayProcess.Prepare(fixture);
        gateway.Start();
        var connection = await gateway.OpenAsync(await gateway.TokenAsync("restarted"));
        using var http = new HttpClient();
        Assert.True((await http.GetAsync(gateway.AdminUrl + "/healthz")).IsSuccessStatusCode);
        // The gateway closes both connections first, so its ends of them wait in TIME_WAIT.
        var stopped = await gateway.StopAsync(Signals.Terminate);
        Assert.True(stopped.ExitCode == 0, stopped.Stderr);
        await connection.DisposeAsync();

        gateway.Start();
        await using var again = await gateway.OpenAsync(await gateway.TokenAsync("restarted"));
        await using var command = new NpgsqlCommand("SELECT 1", again);
        Assert.Equal(1, await command.ExecuteScalarAsync());
        Assert.True((await http.GetAsync(gateway.AdminUrl + "/healthz")).IsSuccessStatusCode);
    }
}
