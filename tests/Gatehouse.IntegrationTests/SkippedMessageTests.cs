namespace Gatehouse.IntegrationTests;

/// <summary>
/// Messages the server does not act on, although Gatehouse forwarded them: Sync and Flush during COPY FROM STDIN
/// (ignored), any other message then (it ends the copy unrun), and the rest of a batch after an error (skipped). The
/// ledger must count requests as the server does, and a name's meaning must be the server's: found by a red team,
/// a Sync during COPY made the next query's rows pass unmasked, and a Parse the server skipped decided a later Bind
/// of another statement (a held write ran unreviewed).
/// </summary>
[Collection(MaskingCollection.Name)]
public sealed class SkippedMessageTests(MaskingFixture fixture)
{
    private const string Masked = "SELECT name, email, ssn FROM customers WHERE id <= 3 ORDER BY id";

    private static string Shape(IEnumerable<WireReply> replies) => string.Join(' ', replies);

    private async Task<WireClient> ConnectAsync() => await WireClient.ConnectAsync(fixture.Port, "agent", fixture.Token(MaskGrant.Columns));

    private static async Task AssertMaskedAsync(WireClient client)
    {
        var rows = await client.Query(Masked).RoundTripAsync();
        Assert.Equal("T D D D C Z", Shape(rows));
        MaskingNameTests.AssertNoRawValue(rows);
    }

    [Fact]
    public async Task A_Sync_during_a_simple_query_COPY_FROM_STDIN_is_ignored_as_the_server_ignores_it()
    {
        await using var client = await ConnectAsync();
        await client.Query("COPY notes (id, body) FROM STDIN").SendAsync();
        await client.ReadUntilAsync('G');
        Assert.Equal("C Z", Shape(await client.Sync().Flush().CopyDone().RoundTripAsync()));
        await AssertMaskedAsync(client);
        await AssertMaskedAsync(client);
    }

    [Fact]
    public async Task An_extended_COPY_FROM_STDIN_sent_with_its_Sync_runs_and_the_session_stays_in_step()
    {
        // libpq's way: Parse, Bind, Execute, Sync at once (the server ignores that Sync once the copy runs), then the
        // data, CopyDone and a second Sync.
        await using var client = await ConnectAsync();
        await client.Parse("", "COPY notes (id, body) FROM STDIN").Bind("", "").Execute("").Sync().SendAsync();
        await client.ReadUntilAsync('G');
        Assert.Equal("C Z", Shape(await client.CopyData("9001\tcopied\n").CopyDone().Sync().RoundTripAsync()));
        await AssertMaskedAsync(client);
        Assert.Equal("T D C Z", Shape(await client.Query("DELETE FROM notes WHERE id = 9001 RETURNING id").RoundTripAsync()));
    }

    [Fact]
    public async Task A_query_during_COPY_FROM_STDIN_ends_the_copy_and_does_not_run()
    {
        await using var client = await ConnectAsync();
        await client.Query("COPY notes (id, body) FROM STDIN").SendAsync();
        await client.ReadUntilAsync('G');
        var ended = await client.Query("SELECT email FROM customers WHERE id = 1").RoundTripAsync();
        Assert.Equal("E(57014) Z", Shape(ended));
        Assert.Contains("during COPY FROM STDIN", ended[0].Error.Message, StringComparison.Ordinal);
        MaskingNameTests.AssertNoRawValue(ended);
        await AssertMaskedAsync(client);
    }

    [Fact]
    public async Task A_COPY_FROM_STDIN_that_fails_to_start_in_the_extended_protocol_is_answered_at_its_Sync()
    {
        await using var client = await ConnectAsync();
        var failed = await client.Parse("", "COPY notes (id, nosuchcolumn) FROM STDIN").Bind("", "").Execute("").Sync().RoundTripAsync();
        Assert.Equal("1 2 E(42703) Z", Shape(failed));
        await AssertMaskedAsync(client);
    }

    [Fact]
    public async Task An_unnamed_Parse_the_server_skipped_after_an_error_does_not_decide_the_next_batch_s_Bind()
    {
        await using var client = await ConnectAsync();
        Assert.Equal("1 Z", Shape(await client.Parse("fails", "SELECT 1/0").Sync().RoundTripAsync()));
        Assert.Equal("1 Z", Shape(await client.Parse("", Masked).Sync().RoundTripAsync()));
        // The Bind fails (1/0 is folded when it is planned), so the server skips the Parse after it: its unnamed
        // statement is still the masked read.
        Assert.Equal("E(22012) Z", Shape(await client.Bind("p", "fails").Execute("p").Parse("", "SELECT 'harmless'::text, 'a', 'b'").Sync().RoundTripAsync()));
        var bound = await client.Bind("", "").Describe('P', "").Execute("").Sync().RoundTripAsync();
        Assert.Equal("E(26000) Z", Shape(bound));
        MaskingNameTests.AssertNoRawValue(bound);
        await AssertMaskedAsync(client);
    }

    [Fact]
    public async Task A_pipelined_Bind_after_a_batch_whose_Parse_was_skipped_waits_for_that_batch_and_is_refused()
    {
        await using var client = await ConnectAsync();
        Assert.Equal("1 Z", Shape(await client.Parse("fails2", "SELECT 1/0").Sync().RoundTripAsync()));
        Assert.Equal("1 Z", Shape(await client.Parse("", Masked).Sync().RoundTripAsync()));
        await client.Bind("p", "fails2").Execute("p").Parse("", "SELECT 'harmless'::text, 'a', 'b'").Sync()
            .Bind("", "").Describe('P', "").Execute("").Sync().SendAsync();
        var first = await client.RoundTripAsync();
        Assert.Equal("E(22012) Z", Shape(first));
        var second = await client.RoundTripAsync();
        Assert.Equal("E(26000) Z", Shape(second));
        MaskingNameTests.AssertNoRawValue(second);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_query_the_server_skipped_after_an_error_keeps_the_batches_in_step(bool pipelined)
    {
        // A red team's B1: the server skips a Query sent after an extended-protocol error, so no ReadyForQuery comes for
        // it, but the gateway counted one: every later Bind of a name parsed in the batch before waited for a batch
        // answer that never came, and the session hung.
        await using var client = await ConnectAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        client.Parse("", "SELECT 1/0").Bind("", "").Execute("").Query("SELECT 1").Sync();
        if (!pipelined)
        {
            Assert.Equal("1 E(22012) Z", Shape(await client.RoundTripAsync().WaitAsync(timeout.Token)));
        }

        client.Parse("later", Masked).Sync();
        if (pipelined)
        {
            await client.SendAsync();
            Assert.Equal("1 E(22012) Z", Shape(await client.RoundTripAsync().WaitAsync(timeout.Token)));
        }

        Assert.Equal("1 Z", Shape(await client.RoundTripAsync().WaitAsync(timeout.Token)));
        var bound = await client.Bind("", "later").Describe('P', "").Execute("").Sync().RoundTripAsync().WaitAsync(timeout.Token);
        Assert.Equal("2 T D D D C Z", Shape(bound));
        MaskingNameTests.AssertNoRawValue(bound);
        await AssertMaskedAsync(client);
    }

    [Fact]
    public async Task A_Close_the_server_skipped_keeps_the_server_s_statement_and_a_Parse_it_refused_decides_nothing()
    {
        await using var client = await ConnectAsync();
        Assert.Equal("1 Z", Shape(await client.Parse("kept", Masked).Sync().RoundTripAsync()));
        Assert.Equal("1 E(22012) Z", Shape(await client.Parse("", "SELECT 1/0").Bind("", "").Execute("").Close('S', "kept").Sync().RoundTripAsync()));
        Assert.Equal("E(42P05) Z", Shape(await client.Parse("kept", "SELECT 'harmless'::text, 'a', 'b'").Sync().RoundTripAsync()));
        var bound = await client.Bind("", "kept").Describe('P', "").Execute("").Sync().RoundTripAsync();
        Assert.Equal("E(26000) Z", Shape(bound));
        MaskingNameTests.AssertNoRawValue(bound);

        // Closed and prepared again, the name is usable.
        Assert.Equal("3 Z", Shape(await client.Close('S', "kept").Sync().RoundTripAsync()));
        var again = await client.Parse("kept", Masked).Bind("", "kept").Describe('P', "").Execute("").Sync().RoundTripAsync();
        Assert.Equal("1 2 T D D D C Z", Shape(again));
        MaskingNameTests.AssertNoRawValue(again);
    }

    [Fact]
    public async Task A_portal_is_executed_again_only_until_another_statement_runs()
    {
        await using var client = await ConnectAsync();
        Assert.Equal("C Z", Shape(await client.Query("BEGIN").RoundTripAsync()));
        var first = await client.Parse("rows", "SELECT id::text FROM orders ORDER BY id").Bind("cur", "rows").Execute("cur", 1).Sync().RoundTripAsync();
        Assert.Equal("1 2 D s Z", Shape(first));
        // Nothing ran in between: the next rows of the same portal.
        Assert.Equal("D s Z", Shape(await client.Execute("cur", 1).Sync().RoundTripAsync()));
        Assert.Equal("T C Z", Shape(await client.Query("SELECT 1 WHERE false").RoundTripAsync()));
        Assert.Equal("E(34000) Z", Shape(await client.Execute("cur", 1).Sync().RoundTripAsync()));
        Assert.Equal("C Z", Shape(await client.Query("ROLLBACK").RoundTripAsync()));
    }

    [Fact]
    public async Task A_portal_a_function_reopened_under_its_name_after_a_savepoint_rollback_is_not_run_with_the_old_plan()
    {
        // The red team's way: the portal's plan came from a Describe; ROLLBACK TO SAVEPOINT destroyed the portal and a
        // function (the PL/pgSQL manual's "return a cursor") opened one of that name over customers.
        await fixture.Gateway.Postgres.ExecuteAsync("""
            CREATE OR REPLACE FUNCTION skipped_customer_cursor(c refcursor) RETURNS refcursor LANGUAGE plpgsql AS $$
            BEGIN OPEN c FOR SELECT name, email, ssn FROM customers ORDER BY id; RETURN c; END $$;
            GRANT EXECUTE ON FUNCTION skipped_customer_cursor(refcursor) TO app_read;
            """, TestGateway.Target);
        try
        {
            await using var client = await ConnectAsync();
            Assert.Equal("C C Z", Shape(await client.Query("BEGIN; SAVEPOINT a").RoundTripAsync()));
            Assert.Equal("1 2 T Z", Shape(await client.Parse("plain", "SELECT 'a'::text AS a, 'b'::text AS b, 'c'::text AS c").Bind("cur", "plain").Describe('P', "cur").Sync().RoundTripAsync()));
            Assert.Equal("C Z", Shape(await client.Query("ROLLBACK TO SAVEPOINT a").RoundTripAsync()));
            MaskingNameTests.AssertNoRawValue(await client.Query("SELECT skipped_customer_cursor('cur')").RoundTripAsync());
            var executed = await client.Execute("cur", 3).Sync().RoundTripAsync();
            Assert.Equal("E(34000) Z", Shape(executed));
            MaskingNameTests.AssertNoRawValue(executed);
        }
        finally
        {
            await fixture.Gateway.Postgres.ExecuteAsync("DROP FUNCTION skipped_customer_cursor(refcursor)", TestGateway.Target);
        }
    }
}
