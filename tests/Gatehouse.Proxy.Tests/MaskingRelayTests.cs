using System.Text;
using Gatehouse.Masking;
using Gatehouse.Pipeline;
using Gatehouse.Pipeline.Masking;
using Gatehouse.Protocol;
using Gatehouse.Sql;

namespace Gatehouse.Proxy.Tests;

/// <summary>An in-memory catalog with one masked table (customers) and one plain table (orders).</summary>
internal sealed class ShopCatalog : ICatalogSource
{
    public const uint Customers = 16388, Orders = 16390;

    public bool Down { get; set; }

    public ValueTask<IReadOnlyList<RelationInfo>> ByOidAsync(IReadOnlyCollection<uint> oids, CancellationToken ct)
    {
        Check();
        var all = new[]
        {
            new RelationInfo(Customers, "public", "customers", 'r', new Dictionary<short, string> { [1] = "id", [2] = "email", [3] = "ssn" }),
            new RelationInfo(Orders, "public", "orders", 'r', new Dictionary<short, string> { [1] = "id", [2] = "total" }),
        };
        return ValueTask.FromResult<IReadOnlyList<RelationInfo>>(all.Where(r => oids.Contains(r.Oid)).ToList());
    }

    public ValueTask<IReadOnlyList<uint>> ByNameAsync(QualifiedName name, CancellationToken ct)
    {
        Check();
        IReadOnlyList<uint> found = name.Name switch { "customers" => [Customers], "orders" => [Orders], _ => [] };
        return ValueTask.FromResult(found);
    }

    public ValueTask<bool> HasUserFunctionAsync(QualifiedName name, CancellationToken ct)
    {
        Check();
        return ValueTask.FromResult(false);
    }

    private void Check()
    {
        if (Down)
        {
            throw new Npgsql.NpgsqlException("the server is restarting");
        }
    }
}

public sealed class MaskingRelayTests : IDisposable
{
    private const string Policy = """
        identities:
          agents: { claims: { groups: ai-agents } }
        grants:
          - to: agents
            targets: [shop]
            db_roles: [app_read]
            masks:
              - { columns: ["public.customers.email"], with: email }
              - { columns: ["*.ssn"], with: last4 }
        """;

    private readonly ShopCatalog _source = new();
    private readonly TestPipeline _pipeline;
    private readonly StatementLedger _ledger = new();

    public MaskingRelayTests()
    {
        _pipeline = new TestPipeline(Policy, new RelationCatalog(_source), new PolicyValueMasker(new Masker(new byte[32])));
    }

    public void Dispose() => _pipeline.Dispose();

    private async Task<byte[]> ToServerAsync(params byte[][] frames)
    {
        using var output = new MemoryStream();
        using var pump = new ClientToServerPump(new MemoryStream(Wire.Concat(frames)), output, 1 << 20, _pipeline.Pipeline, _ledger);
        await pump.RunAsync(CancellationToken.None);
        return output.ToArray();
    }

    private async Task<byte[]> ToClientAsync(params byte[][] frames)
    {
        using var output = new MemoryStream();
        using var pump = new ServerToClientPump(new MemoryStream(Wire.Concat(frames)), output, _pipeline.Pipeline, _ledger);
        await pump.RunAsync(CancellationToken.None);
        return output.ToArray();
    }

    private static byte[] Description(params (string Name, uint Table, short Attribute, uint Type)[] columns)
    {
        using var writer = new MessageWriter();
        writer.StartMessage((byte)'T').WriteInt16((short)columns.Length);
        foreach (var c in columns)
        {
            writer.WriteCString(c.Name).WriteInt32((int)c.Table).WriteInt16(c.Attribute).WriteInt32((int)c.Type).WriteInt16(-1).WriteInt32(-1).WriteInt16(0);
        }

        return writer.EndMessage().ToArray();
    }

    private static byte[] Row(params string?[] values)
    {
        using var writer = new MessageWriter();
        writer.StartMessage((byte)'D').WriteInt16((short)values.Length);
        foreach (var v in values)
        {
            if (v is null)
            {
                writer.WriteInt32(-1);
            }
            else
            {
                var bytes = Encoding.UTF8.GetBytes(v);
                writer.WriteInt32(bytes.Length).WriteBytes(bytes);
            }
        }

        return writer.EndMessage().ToArray();
    }

    private static string[] Values(byte[] payload)
    {
        var fields = new ResultMessages.DataRowFields(payload);
        var values = new List<string>();
        while (fields.Next(out var value, out var isNull, out _))
        {
            values.Add(isNull ? "NULL" : Encoding.UTF8.GetString(value));
        }

        return [.. values];
    }

    private static readonly byte[] CustomersDescription =
        Description(("id", ShopCatalog.Customers, 1, 23), ("email", ShopCatalog.Customers, 2, 25), ("ssn", ShopCatalog.Customers, 3, 25), ("lower", 0, 0, 25));

    [Fact]
    public async Task A_simple_query_has_masked_columns_rewritten_and_the_rest_byte_for_byte()
    {
        await ToServerAsync(Wire.Query("SELECT id, email, ssn, lower(email) FROM customers"));
        var toClient = Wire.Frames(await ToClientAsync(
            CustomersDescription, Row("1", "alice.jones@example.com", "123-45-6789", "alice.jones@example.com"), Row("2", null, "987-65-4321", "x"),
            Wire.CommandComplete("SELECT 2"), Wire.Ready()));
        Assert.Equal("TDDCZ", new string(toClient.Select(f => f.Code).ToArray()));
        var first = Values(toClient[1].Payload);
        Assert.Equal("1", first[0]);
        Assert.Equal("a***@example.com", first[1]);
        Assert.Equal("***-**-6789", first[2]);
        Assert.DoesNotContain("alice", first[3], StringComparison.Ordinal);
        Assert.Equal(["2", "NULL", "***-**-4321"], Values(toClient[2].Payload)[..3]);
    }

    [Fact]
    public async Task An_unmasked_table_streams_untouched()
    {
        await ToServerAsync(Wire.Query("SELECT id, total FROM orders"));
        var answer = Wire.Concat(Description(("id", ShopCatalog.Orders, 1, 23), ("total", ShopCatalog.Orders, 2, 1700)), Row("1", "9.50"), Wire.CommandComplete("SELECT 1"), Wire.Ready());
        Assert.Equal(answer, await ToClientAsync(answer));
    }

    [Fact]
    public async Task An_execute_without_describe_gets_a_describe_injected_and_its_rows_masked()
    {
        var toServer = await ToServerAsync(Wire.Parse("", "SELECT id, email, ssn, lower(email) FROM customers"), Wire.Bind("", ""), Wire.Execute(""), Wire.Sync());
        Assert.Equal("PBDES", Wire.Codes(toServer));

        var toClient = Wire.Frames(await ToClientAsync(
            Wire.ParseComplete(), Wire.BindComplete(), CustomersDescription,
            Row("1", "alice.jones@example.com", "123-45-6789", "alice"), Wire.CommandComplete("SELECT 1"), Wire.Ready()));
        Assert.Equal("12DCZ", new string(toClient.Select(f => f.Code).ToArray()));
        Assert.Equal("a***@example.com", Values(toClient[2].Payload)[1]);
        Assert.Equal(0, _ledger.Pending);
    }

    [Fact]
    public async Task A_client_describe_is_not_duplicated()
    {
        var toServer = await ToServerAsync(Wire.Parse("", "SELECT id, email, ssn, lower(email) FROM customers"), Wire.Bind("", ""), Wire.Describe('P', ""), Wire.Execute(""), Wire.Sync());
        Assert.Equal("PBDES", Wire.Codes(toServer));
        var toClient = Wire.Frames(await ToClientAsync(
            Wire.ParseComplete(), Wire.BindComplete(), CustomersDescription, Row("1", "alice.jones@example.com", "123-45-6789", "a"), Wire.CommandComplete("SELECT 1"), Wire.Ready()));
        Assert.Equal("12TDCZ", new string(toClient.Select(f => f.Code).ToArray()));
        Assert.Equal("a***@example.com", Values(toClient[3].Payload)[1]);
    }

    [Fact]
    public async Task An_error_quoting_a_value_of_a_tainted_statement_is_scrubbed()
    {
        await ToServerAsync(Wire.Query("SELECT email::int FROM customers"));
        var toClient = Wire.Frames(await ToClientAsync(
            Wire.Error("22P02", "invalid input syntax for type integer: \"alice.jones@example.com\""), Wire.Ready()));
        var error = Wire.ErrorOf(toClient[0].Payload);
        Assert.Equal("22P02", error.SqlState);
        Assert.DoesNotContain("alice", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_catalog_that_cannot_be_read_refuses_the_statement()
    {
        _source.Down = true;
        var submission = await _pipeline.Pipeline.SubmitAsync(StatementRequest.Query("SELECT email FROM customers"), CancellationToken.None);
        Assert.Equal("58000", submission.Refusal!.SqlState);
        Assert.StartsWith("gatehouse: masking unavailable", submission.Refusal.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("COPY (SELECT email FROM customers) TO STDOUT", "COPY (query) TO STDOUT of data Gatehouse must mask is not supported")]
    [InlineData("COPY customers TO STDOUT (FORMAT csv, NULL 'x')", "with the COPY option NULL is not supported")]
    [InlineData("COPY customers (id, phone) TO STDOUT", "no column \"phone\"")]
    public async Task Copy_out_that_cannot_be_masked_by_column_is_refused(string sql, string why)
    {
        var submission = await _pipeline.Pipeline.SubmitAsync(StatementRequest.Query(sql), CancellationToken.None);
        Assert.Equal("42501", submission.Refusal!.SqlState);
        Assert.StartsWith("gatehouse: denied by rule masking: ", submission.Refusal.Message, StringComparison.Ordinal);
        Assert.Contains(why, submission.Refusal.Message, StringComparison.Ordinal);
    }

    private static byte[] CopyOut(byte format, int columns) =>
        Wire.Concat([(byte)'H'], BitConverter.GetBytes(System.Buffers.Binary.BinaryPrimitives.ReverseEndianness(4 + 1 + 2 + 2 * columns)),
            [format], [0, (byte)columns], Enumerable.Repeat(new byte[] { 0, format }, columns).SelectMany(b => b).ToArray());

    [Fact]
    public async Task Copy_out_of_a_masked_table_is_masked_by_column_across_copy_data_messages()
    {
        await ToServerAsync(Wire.Query("COPY public.customers (ssn, id, email) TO STDOUT"));
        var rows = "123-45-6789\t1\talice.jones@example.com\n\\N\t2\tbob@example.org\n"u8.ToArray();
        var toClient = Wire.Frames(await ToClientAsync(
            CopyOut(0, 3), Wire.CopyData(rows[..7]), Wire.CopyData(rows[7..30]), Wire.CopyData(rows[30..]), Wire.CopyDone(), Wire.CommandComplete("COPY 2"), Wire.Ready()));
        Assert.Equal("HdcCZ", new string(toClient.Select(f => f.Code).ToArray()));
        var text = Encoding.UTF8.GetString(toClient.Where(f => f.Code == 'd').SelectMany(f => f.Payload).ToArray());
        Assert.Equal("***-**-6789\t1\ta***@example.com\n\\N\t2\tb***@example.org\n", text);
    }

    [Fact]
    public async Task A_copy_stream_that_does_not_match_the_planned_columns_is_withheld()
    {
        await ToServerAsync(Wire.Query("COPY customers TO STDOUT"));
        var toClient = Wire.Frames(await ToClientAsync(
            CopyOut(0, 2), Wire.CopyData("1\talice.jones@example.com\n"u8.ToArray()), Wire.CopyDone(), Wire.CommandComplete("COPY 1"), Wire.Ready()));
        Assert.Equal("EZ", new string(toClient.Select(f => f.Code).ToArray()));
        Assert.StartsWith("gatehouse: masking unavailable: the COPY stream", Wire.ErrorOf(toClient[0].Payload).Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Copy_out_of_an_unmasked_table_streams_untouched()
    {
        await ToServerAsync(Wire.Query("COPY orders TO STDOUT"));
        var answer = Wire.Concat(CopyOut(0, 2), Wire.CopyData("1\t9.50\n"u8.ToArray()), Wire.CopyDone(), Wire.CommandComplete("COPY 1"), Wire.Ready());
        Assert.Equal(answer, await ToClientAsync(answer));
    }

    [Fact]
    public async Task A_row_that_does_not_match_its_description_withholds_the_rest_of_the_result()
    {
        await ToServerAsync(Wire.Query("SELECT id, email, ssn, lower(email) FROM customers"));
        var toClient = Wire.Frames(await ToClientAsync(
            CustomersDescription, Row("1", "alice.jones@example.com"), Row("2", "bob@example.com", "1", "2"), Wire.CommandComplete("SELECT 2"), Wire.Ready()));
        Assert.Equal("TEZ", new string(toClient.Select(f => f.Code).ToArray()));
        Assert.StartsWith("gatehouse: masking unavailable", Wire.ErrorOf(toClient[1].Payload).Message, StringComparison.Ordinal);
        Assert.DoesNotContain("bob@", Encoding.UTF8.GetString(toClient.SelectMany(f => f.Payload).ToArray()), StringComparison.Ordinal);
    }
}
