using System.Data.Common;
using System.Text;

namespace Gatehouse.State.Tests;

/// <summary>What every <see cref="IAuditStore"/> must do for the audit trail: rows kept verbatim, in order, streamed, pruned behind an anchor.</summary>
public abstract class AuditStoreContract(IStateStoreFactory factory) : StoreContract(factory)
{
    protected static AuditRow Row(string chain, long seq, DateTimeOffset? time = null, string kind = "statement", string? session = "s1") =>
        new(chain, seq, time ?? Now.AddMilliseconds(seq), kind, session, $$"""{"chain":"{{chain}}","seq":{{seq}},"text":"é\u0000✓"}""", Encoding.UTF8.GetBytes($"mac-{chain}-{seq}"));

    protected static IEnumerable<AuditRow> Rows(string chain, long from, int count) =>
        Enumerable.Range(0, count).Select(i => Row(chain, from + i));

    private static void AssertSame(IEnumerable<AuditRow> expected, IEnumerable<AuditRow> actual) =>
        Assert.Equal(expected.Select(Flat), actual.Select(Flat));

    private static string Flat(AuditRow r) => $"{r.Chain}|{r.Seq}|{r.Time.ToUnixTimeMilliseconds()}|{r.Kind}|{r.SessionId ?? "<null>"}|{r.Body}|{Convert.ToHexString(r.Mac)}";

    [Fact]
    public async Task Rows_round_trip_verbatim()
    {
        var audit = Open().Audit;
        AuditRow[] rows =
        [
            new("i1", 1, Now.AddMilliseconds(123), "session", "s-42", """{ "b":2,  "a":[1,2] }""", [0, 255, 1, 2]),
            new("i1", 2, Now.AddMilliseconds(124), "statement", null, "not json at all \n\t\"", new byte[32]),
        ];

        await audit.AppendAsync(rows, default);

        var read = await audit.ReadChainAsync("i1", 0, default).ToListAsync();
        AssertSame(rows, read);
        Assert.Equal(Now.AddMilliseconds(123), read[0].Time);
        Assert.Null(read[1].SessionId);
    }

    [Fact]
    public async Task A_chain_is_read_in_seq_order_after_a_given_seq()
    {
        var audit = Open().Audit;
        await audit.AppendAsync([.. Rows("i1", 4, 3)], default);
        await audit.AppendAsync([.. Rows("i1", 1, 3)], default);
        await audit.AppendAsync([.. Rows("i2", 1, 2)], default);

        Assert.Equal([1, 2, 3, 4, 5, 6], (await audit.ReadChainAsync("i1", 0, default).ToListAsync()).Select(r => r.Seq));
        Assert.Equal([5, 6], (await audit.ReadChainAsync("i1", 4, default).ToListAsync()).Select(r => r.Seq));
        Assert.Empty(await audit.ReadChainAsync("i1", 6, default).ToListAsync());
        Assert.Empty(await audit.ReadChainAsync("nope", 0, default).ToListAsync());
        Assert.Equal(["i1", "i2"], (await audit.ChainsAsync(default)).Order());
        Assert.Equal(6, (await audit.LastAsync("i1", default))?.Seq);
        Assert.Equal(2, (await audit.LastAsync("i2", default))?.Seq);
        Assert.Null(await audit.LastAsync("nope", default));
    }

    [Fact]
    public async Task An_append_is_all_or_nothing()
    {
        var audit = Open().Audit;
        await audit.AppendAsync([Row("i1", 1)], default);

        await Assert.ThrowsAnyAsync<DbException>(() => audit.AppendAsync([Row("i1", 2), Row("i1", 1)], default));

        Assert.Equal([1], (await audit.ReadChainAsync("i1", 0, default).ToListAsync()).Select(r => r.Seq));
        await audit.AppendAsync([Row("i1", 2)], default);
        await audit.AppendAsync([], default);
        Assert.Equal([1, 2], (await audit.ReadChainAsync("i1", 0, default).ToListAsync()).Select(r => r.Seq));
    }

    [Fact]
    public async Task Queries_filter_by_time_session_and_kind_in_time_order()
    {
        var audit = Open().Audit;
        // Interleaved chains; b's second row has the same time as a's second, so (chain, seq) breaks the tie.
        await audit.AppendAsync(
        [
            Row("a", 1, Now, "session", "s1"),
            Row("a", 2, Now.AddSeconds(2), "statement", "s1"),
            Row("a", 3, Now.AddSeconds(4), "statement", "s2"),
        ], default);
        await audit.AppendAsync(
        [
            Row("b", 1, Now.AddSeconds(1), "session", "s3"),
            Row("b", 2, Now.AddSeconds(2), "statement", "s3"),
            Row("b", 3, Now.AddSeconds(3), "end", null),
        ], default);

        async Task<string[]> Read(AuditQuery q) => [.. (await audit.ReadAsync(q, default).ToListAsync()).Select(r => $"{r.Chain}{r.Seq}")];

        Assert.Equal(["a1", "b1", "a2", "b2", "b3", "a3"], await Read(new AuditQuery()));
        Assert.Equal(["a2", "b2", "b3"], await Read(new AuditQuery(Since: Now.AddSeconds(2), Until: Now.AddSeconds(4))));
        Assert.Equal(["a1", "a2"], await Read(new AuditQuery(SessionId: "s1")));
        Assert.Equal(["a1", "b1", "b3"], await Read(new AuditQuery(Kinds: ["session", "end"])));
        Assert.Equal(["a1", "b1", "a2", "b2", "b3", "a3"], await Read(new AuditQuery(Kinds: [])));
        Assert.Equal(["b2"], await Read(new AuditQuery(Since: Now.AddSeconds(1).AddMilliseconds(1), SessionId: "s3", Kinds: ["statement"])));
        Assert.Equal(["a1", "b1"], await Read(new AuditQuery(Limit: 2)));
        Assert.Empty(await Read(new AuditQuery(Limit: 0)));
        Assert.Empty(await Read(new AuditQuery(SessionId: "nobody")));
    }

    [Fact]
    public async Task A_large_chain_streams_in_order_and_a_query_limit_spans_pages()
    {
        var store = Open();
        const int Count = 5_000;
        for (var from = 1; from <= Count; from += 500)
            await store.Audit.AppendAsync([.. Rows("big", from, 500)], default);

        long expected = 0;
        await foreach (var row in store.Audit.ReadChainAsync("big", 0, default))
            Assert.Equal(++expected, row.Seq);
        Assert.Equal(Count, expected);

        var limited = await store.Audit.ReadAsync(new AuditQuery(Limit: 1_300), default).ToListAsync();
        Assert.Equal(Enumerable.Range(1, 1_300).Select(i => (long)i), limited.Select(r => r.Seq));
        Assert.Equal(Count - 2_000, await store.Audit.ReadAsync(new AuditQuery(Since: Now.AddMilliseconds(2_001)), default).CountAsync());
    }

    [Fact]
    public async Task Rows_with_equal_times_page_by_chain_and_seq_without_losing_or_repeating_one()
    {
        var audit = Open().Audit;
        foreach (var chain in new[] { "b", "a", "c" })
            await audit.AppendAsync([.. Enumerable.Range(1, 600).Select(i => Row(chain, i, Now))], default);

        var read = await audit.ReadAsync(new AuditQuery(Since: Now, Until: Now.AddMilliseconds(1)), default).ToListAsync();

        Assert.Equal(
            new[] { "a", "b", "c" }.SelectMany(chain => Enumerable.Range(1, 600).Select(i => $"{chain}{i}")),
            read.Select(r => $"{r.Chain}{r.Seq}"));
    }

    [Fact]
    public async Task A_stream_reads_as_it_goes_and_can_stop_early()
    {
        var audit = Open().Audit;
        await audit.AppendAsync([.. Rows("c", 1, 1_000)], default);

        var seen = new List<long>();
        await foreach (var row in audit.ReadChainAsync("c", 0, default))
        {
            seen.Add(row.Seq);
            if (row.Seq == 1)
                await audit.AppendAsync([.. Rows("c", 1_001, 1_000)], default); // appended mid-stream: later pages see it
        }

        Assert.Equal(Enumerable.Range(1, 2_000).Select(i => (long)i), seen);
        await foreach (var row in audit.ReadChainAsync("c", 0, default))
        {
            Assert.Equal(1, row.Seq);
            break;
        }
        using var cancelled = new CancellationTokenSource();
        await cancelled.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await audit.ReadChainAsync("c", 0, cancelled.Token).ToListAsync());
    }

    [Fact]
    public async Task Pruning_deletes_up_to_the_anchor_and_keeps_it()
    {
        var audit = Open().Audit;
        await audit.AppendAsync([.. Rows("i1", 1, 10)], default);
        Assert.Null(await audit.ReadAnchorAsync("i1", default));

        var anchor = new AuditAnchor("i1", 4, [4, 4, 4], Now.AddMinutes(1), [9, 9]);
        Assert.Equal(4, await audit.PruneAsync(anchor, default));

        var stored = await audit.ReadAnchorAsync("i1", default);
        Assert.NotNull(stored);
        Assert.Equal((anchor.Chain, anchor.Seq, anchor.Time), (stored.Chain, stored.Seq, stored.Time));
        Assert.Equal(anchor.Mac, stored.Mac);
        Assert.Equal(anchor.Signature, stored.Signature);
        Assert.Equal([5, 6, 7, 8, 9, 10], (await audit.ReadChainAsync("i1", 0, default).ToListAsync()).Select(r => r.Seq));

        // A later prune moves the anchor; pruning everything leaves a chain known by its anchor alone.
        Assert.Equal(6, await audit.PruneAsync(anchor with { Seq = 10, Mac = [10] }, default));
        Assert.Equal(10, (await audit.ReadAnchorAsync("i1", default))!.Seq);
        Assert.Empty(await audit.ReadChainAsync("i1", 0, default).ToListAsync());
        Assert.Equal(["i1"], await audit.ChainsAsync(default));
        Assert.Equal(0, await audit.PruneAsync(anchor with { Seq = 10, Mac = [10] }, default));
    }

    [Fact]
    public async Task Two_stores_on_the_same_data_append_to_their_chains_concurrently()
    {
        var first = Open();
        var second = Open();

        async Task Append(IStateStore store, string chain) =>
            await Task.WhenAll(Enumerable.Range(0, 100).Select(i => Task.Run(() => store.Audit.AppendAsync([Row(chain, 2 * i + 1), Row(chain, 2 * i + 2)], default))));
        await Task.WhenAll(Append(first, "one"), Append(second, "two"));

        foreach (var store in new[] { first, second })
        {
            Assert.Equal(["one", "two"], (await store.Audit.ChainsAsync(default)).Order());
            Assert.Equal(200, await store.Audit.ReadChainAsync("one", 0, default).CountAsync());
            Assert.Equal(200, await store.Audit.ReadChainAsync("two", 0, default).CountAsync());
            Assert.Equal(100, store.WriterStats.Writes);
        }
    }

    [Fact]
    public async Task Appends_queued_together_share_a_transaction()
    {
        var store = Open();
        List<Task> appends;
        using (Factory.HoldWriter(store))
            appends = [.. Enumerable.Range(0, 50).Select(i => store.Audit.AppendAsync([Row("g", 2 * i + 1), Row("g", 2 * i + 2)], default))];

        await Task.WhenAll(appends);

        Assert.Equal(new StateWriterStats(50, 1, 0), store.WriterStats);
        Assert.Equal(100, await store.Audit.ReadChainAsync("g", 0, default).CountAsync());
    }
}
