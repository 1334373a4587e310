using Gatehouse.Pipeline;

namespace Gatehouse.Proxy.Tests;

/// <summary>
/// The relay's two consumers over in-memory streams: what reaches the server for what the client sent, and what
/// reaches the client for what the server answered, with the ledger between them.
/// </summary>
public sealed class RelaySessionTests : IDisposable
{
    private readonly TestPipeline _pipeline = new();
    private readonly StatementLedger _ledger = new();

    public void Dispose() => _pipeline.Dispose();

    private async Task<byte[]> ToServerAsync(params byte[][] clientFrames)
    {
        using var output = new MemoryStream();
        using var pump = new ClientToServerPump(new MemoryStream(Wire.Concat(clientFrames)), output, 1 << 20, _pipeline.Pipeline, _ledger);
        await pump.RunAsync(CancellationToken.None);
        return output.ToArray();
    }

    private async Task<byte[]> ToClientAsync(params byte[][] serverFrames)
    {
        using var output = new MemoryStream();
        using var pump = new ServerToClientPump(new MemoryStream(Wire.Concat(serverFrames)), output, _pipeline.Pipeline, _ledger);
        await pump.RunAsync(CancellationToken.None);
        return output.ToArray();
    }

    [Fact]
    public async Task An_allowed_query_passes_byte_for_byte_and_its_answer_too()
    {
        var query = Wire.Query("SELECT * FROM orders");
        Assert.Equal(query, await ToServerAsync(query));
        var answer = Wire.Concat(Wire.RowDescription(), Wire.DataRow("1"), Wire.CommandComplete("SELECT 1"), Wire.Ready());
        Assert.Equal(answer, await ToClientAsync(answer));
        Assert.Equal(0, _ledger.Pending);
        Assert.False(_ledger.OutOfStep);
    }

    [Fact]
    public async Task A_refused_query_never_reaches_the_server_and_the_client_gets_gatehouses_error()
    {
        var toServer = await ToServerAsync(Wire.Query("DROP TABLE orders; SELECT 'injection\\'' "));
        var sent = Wire.Frames(toServer);
        Assert.Equal('Q', Assert.Single(sent).Code);
        Assert.Equal(RefusalStatement.Sql, Wire.QueryText(sent[0].Payload));

        var toClient = Wire.Frames(await ToClientAsync(Wire.RefusalSyntaxError(), Wire.Ready()));
        Assert.Equal("EZ", new string(toClient.Select(f => f.Code).ToArray()));
        var error = Wire.ErrorOf(toClient[0].Payload);
        Assert.Equal("42501", error.SqlState);
        Assert.StartsWith("gatehouse: denied by rule no-ddl", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_refused_parse_is_answered_as_prepared_refused_at_its_execute_and_the_rest_is_dropped_until_sync()
    {
        var toServer = await ToServerAsync(
            Wire.Parse("", "SELECT 1"), Wire.Bind("", ""), Wire.Execute(""),
            Wire.Parse("s2", "DELETE FROM payments"), Wire.Bind("", "s2"), Wire.Describe('P', ""), Wire.Execute(""), Wire.Execute("x"),
            Wire.Sync(), Wire.Parse("", "SELECT 3"), Wire.Bind("", ""), Wire.Execute(""), Wire.Sync());
        // Parse, Bind and Describe of the refused statement: a no-op Close each; its Execute: the refusal text; the rest dropped.
        Assert.Equal("PBECCCPSPBES", Wire.Codes(toServer));
        var frames = Wire.Frames(toServer);
        Assert.All(frames[3..6], f => Assert.Equal(RefusalStatement.StandInMessage.Span[5..].ToArray(), f.Payload));
        Assert.Contains(RefusalStatement.Sql, System.Text.Encoding.UTF8.GetString(frames[6].Payload), StringComparison.Ordinal);
        Assert.DoesNotContain("DELETE", System.Text.Encoding.UTF8.GetString(toServer), StringComparison.Ordinal);

        var toClient = await ToClientAsync(
            Wire.ParseComplete(), Wire.BindComplete(), Wire.DataRow("1"), Wire.CommandComplete("SELECT 1"),
            Wire.CloseComplete(), Wire.CloseComplete(), Wire.CloseComplete(), Wire.RefusalSyntaxError(), Wire.Ready(),
            Wire.ParseComplete(), Wire.BindComplete(), Wire.DataRow("3"), Wire.CommandComplete("SELECT 1"), Wire.Ready());
        var replies = Wire.Frames(toClient);
        Assert.Equal("12DC12nEZ12DCZ", new string(replies.Select(f => f.Code).ToArray()));
        Assert.StartsWith("gatehouse: denied by rule pay-writes", Wire.ErrorOf(replies[7].Payload).Message, StringComparison.Ordinal);
        Assert.Equal(0, _ledger.Pending);
        Assert.False(_ledger.OutOfStep);
    }

    [Fact]
    public async Task A_refused_statement_is_described_with_its_declared_types_and_text_for_the_rest()
    {
        var parse = Wire.Concat([(byte)'P'], new byte[4], "s\0DELETE FROM payments WHERE id = $2 AND amount = $1\0"u8.ToArray(), [0, 1, 0, 0, 0, 23]);
        System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(parse.AsSpan(1), parse.Length - 1);
        Assert.Equal("CCS", Wire.Codes(await ToServerAsync(parse, Wire.Describe('S', "s"), Wire.Sync())));
        var replies = Wire.Frames(await ToClientAsync(Wire.CloseComplete(), Wire.CloseComplete(), Wire.Ready()));
        Assert.Equal("1tnZ", new string(replies.Select(f => f.Code).ToArray()));
        Assert.Equal(new byte[] { 0, 2, 0, 0, 0, 23, 0, 0, 0, 25 }, replies[1].Payload);
    }

    [Fact]
    public async Task A_parse_of_the_reserved_statement_name_is_refused_at_parse()
    {
        var toServer = await ToServerAsync(Wire.Parse(RefusalStatement.Sql + "_x", "SELECT 1"), Wire.Bind("", RefusalStatement.Sql + "_x"), Wire.Sync());
        Assert.Equal("PS", Wire.Codes(toServer));
        var replies = Wire.Frames(await ToClientAsync(Wire.RefusalSyntaxError(), Wire.Ready()));
        Assert.Equal("42P05", Wire.ErrorOf(replies[0].Payload).SqlState);
    }

    [Fact]
    public async Task A_refusal_the_server_skipped_after_an_earlier_error_is_not_reported()
    {
        await ToServerAsync(Wire.Parse("", "SELECT 1/0"), Wire.Bind("", ""), Wire.Execute(""), Wire.Parse("", "DROP TABLE orders"), Wire.Sync());
        var frames = Wire.Frames(await ToClientAsync(
            Wire.ParseComplete(), Wire.BindComplete(), Wire.Error("22012", "division by zero"), Wire.Ready()));
        Assert.Equal("12EZ", new string(frames.Select(f => f.Code).ToArray()));
        Assert.Equal("22012", Wire.ErrorOf(frames[2].Payload).SqlState);
        Assert.Equal(0, _ledger.Pending);

        // The next batch pairs normally.
        await ToServerAsync(Wire.Query("DROP TABLE orders"));
        var next = Wire.Frames(await ToClientAsync(Wire.RefusalSyntaxError(), Wire.Ready()));
        Assert.Equal("42501", Wire.ErrorOf(next[0].Payload).SqlState);
    }

    [Fact]
    public async Task A_client_spelling_the_refusal_text_itself_is_refused_and_cannot_forge_a_refusal()
    {
        var toServer = await ToServerAsync(Wire.Query("gatehouse_refusal"));
        Assert.Equal(RefusalStatement.Sql, Wire.QueryText(Wire.Frames(toServer)[0].Payload));
        var error = Wire.ErrorOf(Wire.Frames(await ToClientAsync(Wire.RefusalSyntaxError(), Wire.Ready()))[0].Payload);
        Assert.StartsWith("gatehouse: statement not understood", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_server_syntax_error_with_no_refusal_pending_passes_unchanged()
    {
        await ToServerAsync(Wire.Query("SELECT 1"));
        var error = Wire.RefusalSyntaxError();
        Assert.Equal(Wire.Concat(error, Wire.Ready()), await ToClientAsync(error, Wire.Ready()));
    }

    [Fact]
    public async Task Fastpath_calls_are_refused_in_place()
    {
        var toServer = await ToServerAsync(Wire.FunctionCall());
        Assert.Equal('Q', Assert.Single(Wire.Frames(toServer)).Code);
        var frames = Wire.Frames(await ToClientAsync(Wire.RefusalSyntaxError(), Wire.Ready()));
        Assert.Contains("fastpath", Wire.ErrorOf(frames[0].Payload).Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Prepared_statements_take_hold_only_when_the_server_ran_the_prepare()
    {
        // PREPARE refused by nothing, but the server fails it: EXECUTE must stay unknown.
        await ToServerAsync(Wire.Query("PREPARE p AS SELECT * FROM orders"));
        await ToClientAsync(Wire.Error("42P01", "relation does not exist"), Wire.Ready());
        var refused = await _pipeline.Pipeline.SubmitAsync(StatementRequest.Query("EXECUTE p"), CancellationToken.None);
        Assert.NotNull(refused.Refusal);

        await ToServerAsync(Wire.Query("PREPARE q AS SELECT * FROM orders"));
        await ToClientAsync(Wire.CommandComplete("PREPARE"), Wire.Ready());
        var allowed = await _pipeline.Pipeline.SubmitAsync(StatementRequest.Query("EXECUTE q"), CancellationToken.None);
        Assert.True(allowed.Proceed);
    }

    [Fact]
    public async Task A_protocol_level_named_statement_can_be_executed_with_sql_once_parsed()
    {
        await ToServerAsync(Wire.Parse("s1", "SELECT * FROM orders"), Wire.Sync());
        Assert.NotNull((await _pipeline.Pipeline.SubmitAsync(StatementRequest.Query("EXECUTE s1"), CancellationToken.None)).Refusal);
        await ToClientAsync(Wire.ParseComplete(), Wire.Ready());
        Assert.True((await _pipeline.Pipeline.SubmitAsync(StatementRequest.Query("EXECUTE s1"), CancellationToken.None)).Proceed);

        await ToServerAsync(Wire.Close('S', "s1"), Wire.Sync());
        await ToClientAsync(Wire.CloseComplete(), Wire.Ready());
        Assert.NotNull((await _pipeline.Pipeline.SubmitAsync(StatementRequest.Query("EXECUTE s1"), CancellationToken.None)).Refusal);
    }

    [Fact]
    public async Task Copy_in_both_directions_streams_and_pairs()
    {
        var toServer = await ToServerAsync(Wire.Query("COPY orders FROM STDIN"), Wire.CopyData("1\t2\n"u8.ToArray()), Wire.CopyDone());
        Assert.Equal("Qdc", Wire.Codes(toServer));
        var copyIn = Wire.Concat([(byte)'G', 0, 0, 0, 7, 0, 0, 0], Wire.CommandComplete("COPY 1"), Wire.Ready());
        Assert.Equal(copyIn, await ToClientAsync(copyIn));
        Assert.Equal(0, _ledger.Pending);
        Assert.False(_ledger.OutOfStep);
    }

    [Fact]
    public async Task Pipelined_queries_pair_each_completion_with_its_statement()
    {
        await ToServerAsync(Wire.Query("SELECT 1; SELECT 2"), Wire.Query("SELECT 3"));
        await ToClientAsync(
            Wire.RowDescription(), Wire.DataRow("1"), Wire.CommandComplete("SELECT 1"),
            Wire.RowDescription(), Wire.DataRow("2"), Wire.CommandComplete("SELECT 1"), Wire.Ready(),
            Wire.RowDescription(), Wire.DataRow("3"), Wire.CommandComplete("SELECT 1"), Wire.Ready());
        Assert.Equal(0, _ledger.Pending);
        Assert.False(_ledger.OutOfStep);
    }

    [Fact]
    public async Task An_unsafe_encoding_reported_by_the_server_closes_the_session_to_statements()
    {
        await ToServerAsync(Wire.Query("SELECT 1"));
        await ToClientAsync(Wire.CommandComplete("SELECT 1"), Wire.ParameterStatus("client_encoding", "SJIS"), Wire.Ready());
        var refused = await _pipeline.Pipeline.SubmitAsync(StatementRequest.Query("SELECT 1"), CancellationToken.None);
        Assert.Contains("SJIS", refused.Refusal!.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_large_bind_streams_and_is_still_entered_in_the_ledger()
    {
        var big = new byte[300_000];
        using var writer = new Gatehouse.Protocol.MessageWriter();
        writer.StartMessage((byte)'B').WriteCString("").WriteCString("").WriteInt16(0).WriteInt16(1).WriteInt32(big.Length).WriteBytes(big).WriteInt16(0).EndMessage();
        var bind = writer.ToArray();
        var toServer = await ToServerAsync(Wire.Parse("", "SELECT $1::bytea"), bind, Wire.Execute(""), Wire.Sync());
        Assert.Equal("PBES", Wire.Codes(toServer));
        await ToClientAsync(Wire.ParseComplete(), Wire.BindComplete(), Wire.DataRow("x"), Wire.CommandComplete("SELECT 1"), Wire.Ready());
        Assert.Equal(0, _ledger.Pending);
        Assert.False(_ledger.OutOfStep);
    }
}
