namespace Gatehouse.Audit.Tests;

/// <summary>Retention prunes the start of a chain into a signed anchor; the rest verifies from it.</summary>
public sealed class RetentionTests : IAsyncLifetime
{
    private readonly TrailFiles _files = new();
    private DateTimeOffset _cut;

    public async Task InitializeAsync()
    {
        // Two sessions written now, two written ten days later, in one chain.
        await using var store = _files.Open();
        await using var trail = _files.Trail(store);
        await trail.StartAsync(default);
        await Records.SessionAsync(trail, _files.Time, "old-1");
        await Records.SessionAsync(trail, _files.Time, "old-2");
        _files.Time.Now += TimeSpan.FromDays(10);
        _cut = _files.Time.Now - TimeSpan.FromDays(5);
        await Records.SessionAsync(trail, _files.Time, "new-1");
        await Records.SessionAsync(trail, _files.Time, "new-2");
    }

    public Task DisposeAsync() => _files.DisposeAsync().AsTask();

    [Fact]
    public async Task Pruning_keeps_the_rest_verifiable_from_the_anchor()
    {
        long before = _files.Scalar("SELECT count(*) FROM audit_records");
        await using (var store = _files.Open())
        {
            var (pruned, refused) = await AuditRetention.PruneAsync(store.Audit, _files.Key, _cut, default);
            Assert.Empty(refused);
            Assert.Equal(13, pruned); // chain.start and the two old sessions of six records
            var anchor = await store.Audit.ReadAnchorAsync("gw-1", default);
            Assert.Equal(13, anchor!.Seq);

            // Pruning again finds nothing older.
            Assert.Equal(0, (await AuditRetention.PruneAsync(store.Audit, _files.Key, _cut, default)).Pruned);
        }

        Assert.Equal(before - 13, _files.Scalar("SELECT count(*) FROM audit_records"));
        Assert.Equal(0, _files.Scalar("SELECT count(*) FROM audit_records WHERE session_id LIKE 'old-%'"));
        var result = await _files.VerifyAsync();
        Assert.True(result.Intact, string.Join("; ", result.Breaks));
        Assert.Equal(before - 13, result.Records);
    }

    [Fact]
    public async Task An_altered_anchor_is_a_break()
    {
        await using (var store = _files.Open())
        {
            await AuditRetention.PruneAsync(store.Audit, _files.Key, _cut, default);
        }

        // Moving the anchor forward would hide the next records; it is signed, so it shows.
        _files.Execute("UPDATE audit_anchors SET seq = seq + 2");
        var broken = Assert.Single((await _files.VerifyAsync()).Breaks);
        Assert.Equal(15, broken.Seq);
        Assert.Contains("retention anchor", broken.What, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Records_older_than_the_anchor_put_back_are_a_break()
    {
        await using (var store = _files.Open())
        {
            await AuditRetention.PruneAsync(store.Audit, _files.Key, _cut, default);
        }

        _files.Execute("INSERT INTO audit_records (chain, seq, time, kind, session_id, body, mac) SELECT chain, 13, time - 1, kind, session_id, body, mac FROM audit_records WHERE seq = 14");
        var broken = Assert.Single((await _files.VerifyAsync()).Breaks);
        Assert.Equal(13, broken.Seq);
        Assert.Contains("older than the chain's retention anchor", broken.What, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_chain_that_does_not_verify_is_not_sealed_into_an_anchor()
    {
        _files.Execute("UPDATE audit_records SET body = body || ' ' WHERE seq = 4");
        await using var store = _files.Open();
        var (pruned, refused) = await AuditRetention.PruneAsync(store.Audit, _files.Key, _cut, default);
        Assert.Equal(0, pruned);
        Assert.Equal(["gw-1"], refused);
        Assert.Null(await store.Audit.ReadAnchorAsync("gw-1", default));
    }
}
