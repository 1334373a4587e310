namespace Gatehouse.Credentials.Tests;

/// <summary>The provisioner's pooled connections ended by the server (pg_terminate_backend) are replaced, not reported.</summary>
[Collection(PostgresCollection.Name)]
public sealed class ProvisionerRetryTests(PostgresFixture pg) : IAsyncDisposable
{
    private readonly BrokerHarness _harness = new();

    private Task<long> TerminateProvisionerAsync() => pg.Server.ScalarAsync<long>(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE usename = 'gatehouse_provisioner' AND pid <> pg_backend_pid()");

    [Fact]
    public async Task A_lease_after_the_provisioners_backends_were_terminated_is_granted()
    {
        var broker = _harness.Broker();
        var target = pg.Target();
        await using (var first = (await broker.AcquireAsync(target, "retry-one", ["app_read"], default)).Login!)
        {
            Assert.NotNull(first);
        }

        // The pool now holds the provisioner's idle connection; the server ends it.
        Assert.True(await TerminateProvisionerAsync() >= 1);

        var second = await broker.AcquireAsync(target, "retry-two", ["app_read"], default);
        Assert.True(second.Login is not null, second.Error);
        Assert.Null(await pg.TryLoginAsync(second.Login.User, second.Login.Password));
        Assert.DoesNotContain("57P01", _harness.Logger.All, StringComparison.Ordinal);
        await second.Login.DisposeAsync();
    }

    [Fact]
    public async Task Every_provisioner_action_survives_one_terminated_pool()
    {
        var broker = _harness.Broker();
        var target = pg.Target();
        Assert.Empty(await broker.CheckAsync(target, ["app_read"], default));
        Assert.True(await TerminateProvisionerAsync() >= 1);
        Assert.Empty(await broker.CheckAsync(target, ["app_read"], default));

        var lease = await broker.AcquireAsync(target, "retry-check", ["app_read"], default);
        Assert.True(lease.Login is not null, lease.Error);
        await lease.Login.DisposeAsync();
    }

    public ValueTask DisposeAsync() => _harness.DisposeAsync();
}
