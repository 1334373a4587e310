using System.Net;
using static Gatehouse.IntegrationTests.AdminHttp;

namespace Gatehouse.IntegrationTests;

/// <summary>/readyz with a gateway of its own, whose upstream PostgreSQL is stopped and started again.</summary>
public sealed class AdminReadyzTests
{
    [Fact]
    public async Task Readyz_is_503_naming_the_target_while_its_upstream_is_down()
    {
        await using var gateway = await TestGateway.StartAsync();
        var (status, body, _) = await SendAsync(gateway, HttpMethod.Get, "/readyz", null);
        Assert.True(status == HttpStatusCode.OK, body.ToString());
        Assert.Equal("ready", body.GetProperty("status").GetString());
        Assert.Equal(["target shop", "state"], body.GetProperty("checks").EnumerateArray().Select(c => c.GetProperty("name").GetString()));

        await gateway.Postgres.StopImmediatelyAsync();
        await Task.Delay(HealthCacheFor());
        (status, body, var response) = await SendAsync(gateway, HttpMethod.Get, "/readyz", null);
        AssertProblem(response, body, HttpStatusCode.ServiceUnavailable);
        Assert.StartsWith($"target shop: upstream 127.0.0.1:{gateway.Postgres.Port} is unreachable", body.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.DoesNotContain("state:", body.GetProperty("detail").GetString(), StringComparison.Ordinal);

        // Cached: asked again at once, the answer is the same and no new connection is tried.
        (status, _, _) = await SendAsync(gateway, HttpMethod.Get, "/readyz", null);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, status);

        await gateway.Postgres.StartAgainAsync();
        await Task.Delay(HealthCacheFor());
        (status, body, _) = await SendAsync(gateway, HttpMethod.Get, "/readyz", null);
        Assert.True(status == HttpStatusCode.OK, body.ToString());
    }

    private static TimeSpan HealthCacheFor() => TimeSpan.FromSeconds(2.1);
}
