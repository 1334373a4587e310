using System.Net;

namespace Gatehouse.Proxy.Tests;

/// <summary>The message-size limit in the relay, and the connection slots, without a database.</summary>
public sealed class LimitsRelayTests : IDisposable
{
    private readonly TestPipeline _pipeline = new();
    private readonly StatementLedger _ledger = new();

    public void Dispose() => _pipeline.Dispose();

    private Task<byte[]> ToServerAsync(int limit, params byte[][] clientFrames) => Relay.ToServerAsync(_pipeline.Pipeline, _ledger, limit, clientFrames);

    private Task<byte[]> ToClientAsync(params byte[][] serverFrames) => Relay.ToClientAsync(_pipeline.Pipeline, _ledger, serverFrames);

    [Fact]
    public async Task A_query_above_the_limit_is_replaced_unread_and_the_next_query_passes()
    {
        var big = Wire.Query("SELECT " + string.Join(",", Enumerable.Repeat("1", 600_000)));
        var next = Wire.Query("SELECT 2");
        var sent = Wire.Frames(await ToServerAsync(1 << 20, big, next));
        Assert.Equal(2, sent.Count);
        Assert.Equal(RefusalStatement.Sql, Wire.QueryText(sent[0].Payload));
        Assert.Equal("SELECT 2", Wire.QueryText(sent[1].Payload));

        var toClient = Wire.Frames(await ToClientAsync(Wire.RefusalSyntaxError(), Wire.Ready(), Wire.RowDescription(), Wire.DataRow("2"), Wire.CommandComplete("SELECT 1"), Wire.Ready()));
        var error = Wire.ErrorOf(toClient[0].Payload);
        Assert.Equal("54000", error.SqlState);
        Assert.Equal($"gatehouse: message of {big.Length - 5} bytes exceeds limits.max_message_bytes ({1 << 20})", error.Message);
        Assert.Equal("EZTDCZ", new string(toClient.Select(f => f.Code).ToArray()));
    }

    [Fact]
    public async Task A_parse_above_the_limit_is_refused_and_the_rest_of_its_batch_is_dropped_up_to_sync()
    {
        var big = Wire.Parse("s1", "SELECT '" + new string('x', 2_000_000) + "'");
        var sent = await ToServerAsync(1 << 20, big, Wire.Bind("", "s1"), Wire.Execute(""), Wire.Sync(), Wire.Query("SELECT 3"));
        Assert.Equal("PSQ", Wire.Codes(sent));
        var toClient = Wire.Frames(await ToClientAsync(Wire.RefusalSyntaxError(), Wire.Ready(), Wire.RowDescription(), Wire.DataRow("3"), Wire.CommandComplete("SELECT 1"), Wire.Ready()));
        Assert.Equal("54000", Wire.ErrorOf(toClient[0].Payload).SqlState);
    }

    [Fact]
    public async Task A_function_call_above_the_limit_still_ends_the_connection()
    {
        var big = Wire.Concat([(byte)'F'], BitConverter.GetBytes(IPAddress.HostToNetworkOrder(4 + 2_000_000)), new byte[2_000_000]);
        await Assert.ThrowsAsync<ProtocolException>(() => ToServerAsync(1 << 20, big));
    }

    private static readonly IPAddress A = IPAddress.Parse("127.0.0.1");
    private static readonly IPAddress B = IPAddress.Parse("127.0.0.2");

    [Fact]
    public void A_full_address_evicts_its_own_oldest_waiting_connection_not_another_addresss()
    {
        var slots = new ConnectionSlots(new ProxyLimits(1024, 100, TimeSpan.FromSeconds(15)) { MaxUnauthenticatedPerAddress = 3 });
        var other = slots.TryAcquire(B)!;
        var a = Enumerable.Range(0, 3).Select(_ => slots.TryAcquire(A)!).ToList();
        var newest = slots.TryAcquire(A)!;
        Assert.True(a[0].Evicted);
        Assert.True(a[0].EvictedToken.IsCancellationRequested);
        Assert.False(a[1].Evicted || a[2].Evicted || newest.Evicted || other.Evicted);
        Assert.Equal(4, slots.Unauthenticated);
        Assert.Equal(1, slots.Evicted);
        a[0].Dispose();
        Assert.Equal(4, slots.Unauthenticated);
    }

    [Fact]
    public void Unauthenticated_connections_never_hold_the_reserve_and_authenticated_ones_move_out_of_the_count()
    {
        var slots = new ConnectionSlots(new ProxyLimits(1024, 4, TimeSpan.FromSeconds(15)) { MaxUnauthenticatedPerAddress = 10, ReservedConnections = 2 });
        var first = slots.TryAcquire(A)!;
        var second = slots.TryAcquire(B)!;
        var third = slots.TryAcquire(A)!; // a third waiting connection would use the reserve: the oldest goes
        Assert.True(first.Evicted);
        Assert.True(second.Authenticated());
        Assert.True(third.Authenticated());
        Assert.Equal(2, slots.Authenticated);
        Assert.Equal(0, slots.Unauthenticated);
        Assert.False(first.Authenticated());

        var fourth = slots.TryAcquire(A)!;
        var fifth = slots.TryAcquire(A)!;
        Assert.True(fourth.Authenticated());
        Assert.True(fifth.Authenticated());

        // Every slot holds an authenticated session: refused, nothing evicted.
        Assert.Null(slots.TryAcquire(B));
        Assert.Equal(1, slots.Refused);
        fifth.Dispose();
        Assert.NotNull(slots.TryAcquire(B));
    }

    [Theory]
    [InlineData(500, "500ms")]
    [InlineData(2000, "2s")]
    [InlineData(90_000, "90s")]
    [InlineData(300_000, "5m")]
    [InlineData(7_200_000, "2h")]
    public void Limits_are_named_in_messages_as_a_policy_writes_them(int ms, string expected) =>
        Assert.Equal(expected, SessionLimitWatch.Format(TimeSpan.FromMilliseconds(ms)));
}
