using System.Diagnostics;
using Gatehouse.State.Postgres;
using Xunit.Abstractions;

namespace Gatehouse.State.Tests;

/// <summary>The review contract on PostgreSQL, and what only it does: a change made through another instance reaches this one's waiters (LISTEN/NOTIFY).</summary>
public sealed class PostgresReviewStoreTests(PostgresFixture postgres, ITestOutputHelper output) : ReviewStoreContract(new PostgresStoreFactory(postgres)), IClassFixture<PostgresFixture>
{
    private PostgresStoreFactory Postgres => (PostgresStoreFactory)Factory;

    protected override async Task SettleAsync(IReviewStore reviews)
    {
        var store = (PostgresStateStore)Stores.Single(s => s.Reviews == reviews);
        var before = store.Listener.Connects;
        _ = reviews.WaitForChangeAsync(default); // the first waiter starts the listener
        await ConnectedAsync(store.Listener, before + 1);
    }

    private static async Task ConnectedAsync(PostgresNotificationListener listener, int times)
    {
        var clock = Stopwatch.StartNew();
        while (listener.Connects < times)
        {
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(15), "the LISTEN connection did not come up");
            await Task.Delay(20);
        }
    }

    [Fact]
    public async Task A_decision_through_another_instance_releases_a_waiter_within_a_second()
    {
        var (here, there) = (Open().Reviews, Open().Reviews);
        await there.InsertAsync(Review("r-1"), default);
        await SettleAsync(here);

        var wait = here.WaitForChangeAsync(default);
        await Task.Delay(300);
        Assert.False(wait.IsCompleted);
        var clock = Stopwatch.StartNew();
        Assert.True((await there.VoteAsync(Approve("r-1"), Now, default)).Counted);

        await wait.WaitAsync(TimeSpan.FromSeconds(1));
        output.WriteLine($"vote through the other instance to waiter released: {clock.Elapsed.TotalMilliseconds:F1} ms");
        Assert.Equal(ReviewStatus.Approved, (await here.GetAsync("r-1", default))!.Status);
    }

    [Fact]
    public async Task The_listener_reconnects_when_its_connection_is_ended()
    {
        var (here, there) = (Open().Reviews, Open().Reviews);
        await there.InsertAsync(Review("r-1"), default);
        await SettleAsync(here);
        var listener = ((PostgresStateStore)Stores[0]).Listener;

        var wait = here.WaitForChangeAsync(default);
        await Postgres.Server.ExecuteAsync(
            $"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'gatehouse-listen' AND datname = '{Postgres.Database}'");
        await wait.WaitAsync(TimeSpan.FromSeconds(10)); // LISTEN in place again: a change may have gone unheard
        await ConnectedAsync(listener, 2);

        wait = here.WaitForChangeAsync(default);
        await Task.Delay(300);
        Assert.False(wait.IsCompleted);
        Assert.True(await there.CloseAsync("r-1", ReviewStatus.Withdrawn, "cancelled by the client", Now, default));
        await wait.WaitAsync(TimeSpan.FromSeconds(1));
    }
}
