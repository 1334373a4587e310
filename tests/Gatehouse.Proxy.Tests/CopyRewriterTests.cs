using System.Buffers.Binary;
using System.Text;
using Gatehouse.Masking;
using Gatehouse.Pipeline.Masking;
using Gatehouse.Policy;
using Gatehouse.Sql;

namespace Gatehouse.Proxy.Tests;

/// <summary>COPY streams cut into rows wherever the CopyData boundaries fall, fields masked by column, the rest byte for byte.</summary>
public sealed class CopyRewriterTests
{
    private static readonly PolicyValueMasker Masker = new(new Masker(new byte[32]));

    private static readonly MaskRules Rules = MaskRules.For(PolicyLoader.Parse("""
        identities:
          agents: { claims: { groups: a } }
        grants:
          - to: agents
            targets: [shop]
            db_roles: [r]
            masks:
              - { columns: ["email"], with: email }
        """, "p.yaml").Snapshot!.Grants[0])!;

    /// <summary>Columns id (passed), email (masked with email), note (passed).</summary>
    private static CopyOutPlan Plan(CopyOutShape shape, uint type = 25)
    {
        short format = shape.Format == CopyFormat.Binary ? (short)1 : (short)0;
        return new CopyOutPlan(shape, new ColumnPlan(
        [
            new ColumnMask(ColumnAction.Pass, null, null, 23, format),
            new ColumnMask(ColumnAction.Mask, "email", "email", type, format),
            new ColumnMask(ColumnAction.Pass, null, null, 25, format),
        ], Rules));
    }

    /// <summary>The stream fed whole, then cut at every byte into two CopyData payloads: the same output each time.</summary>
    private static string RunSplit(CopyOutShape shape, byte[] stream, Func<byte[], string> show)
    {
        string? whole = null;
        for (int cut = 0; cut <= stream.Length; cut++)
        {
            var rewriter = new CopyRewriter(Masker, Plan(shape), 1 << 20);
            var output = new List<byte>();
            foreach (var part in cut == 0 ? [stream] : new[] { stream[..cut], stream[cut..] })
            {
                var rows = rewriter.Feed(part, out var error);
                Assert.True(rows is not null, error);
                if (!rows.Value.IsEmpty)
                {
                    output.AddRange(rows.Value.Span[5..].ToArray()); // the CopyData header
                }
            }

            Assert.True(rewriter.Finish());
            var text = show([.. output]);
            whole ??= text;
            Assert.Equal(whole, text);
        }

        return whole!;
    }

    [Fact]
    public void Text_rows_keep_escapes_of_passed_fields_and_re_escape_masked_ones()
    {
        var stream = "1\tal\\tice@example.com\ttab\\there\\\\back\n2\t\\N\tline\\nbreak\n3\tbob@example.org\t\\N\n"u8.ToArray();
        var text = RunSplit(new CopyOutShape(), stream, Encoding.UTF8.GetString);
        Assert.Equal("1\t[redacted]\ttab\\there\\\\back\n2\t\\N\tline\\nbreak\n3\tb***@example.org\t\\N\n", text);
    }

    [Fact]
    public void Csv_rows_with_quotes_delimiters_and_newlines_inside_quotes_are_cut_at_row_ends_only()
    {
        var shape = CopyOutShape.Parse("COPY t TO STDOUT (FORMAT csv, HEADER)", Facts("COPY t TO STDOUT (FORMAT csv, HEADER)"))!;
        var stream = "id,email,note\n1,\"bob@example.org\",\"a, \"\"quoted\"\"\nline\"\n2,,\n3,carol@example.net,\"\"\n"u8.ToArray();
        var text = RunSplit(shape, stream, Encoding.UTF8.GetString);
        Assert.Equal("id,email,note\n1,\"b***@example.org\",\"a, \"\"quoted\"\"\nline\"\n2,,\n3,\"c***@example.net\",\"\"\n", text);
    }

    [Fact]
    public void Binary_tuples_are_rewritten_with_new_lengths_and_the_trailer_passes()
    {
        var stream = new List<byte>();
        stream.AddRange([(byte)'P', (byte)'G', (byte)'C', (byte)'O', (byte)'P', (byte)'Y', 10, 0xff, 13, 10, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        void Tuple(params byte[]?[] fields)
        {
            stream.AddRange(BigEndian16(fields.Length));
            foreach (var f in fields)
            {
                stream.AddRange(BigEndian32(f?.Length ?? -1));
                stream.AddRange(f ?? []);
            }
        }

        Tuple([0, 0, 0, 1], "dana@example.com"u8.ToArray(), "n"u8.ToArray());
        Tuple([0, 0, 0, 2], null, null);
        stream.AddRange(BigEndian16(-1));
        var shape = CopyOutShape.Parse("COPY t TO STDOUT (FORMAT binary)", Facts("COPY t TO STDOUT (FORMAT binary)"))!;
        var hex = RunSplit(shape, [.. stream], Convert.ToHexString);
        var expected = new List<byte>(stream.Take(19));
        expected.AddRange(BigEndian16(3));
        expected.AddRange([0, 0, 0, 4, 0, 0, 0, 1]);
        expected.AddRange(BigEndian32("d***@example.com".Length));
        expected.AddRange("d***@example.com"u8.ToArray());
        expected.AddRange([0, 0, 0, 1, (byte)'n']);
        expected.AddRange(BigEndian16(3));
        expected.AddRange([0, 0, 0, 4, 0, 0, 0, 2, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
        expected.AddRange(BigEndian16(-1));
        Assert.Equal(Convert.ToHexString([.. expected]), hex);
    }

    [Fact]
    public void A_row_larger_than_the_limit_is_an_error_not_a_buffer()
    {
        var rewriter = new CopyRewriter(Masker, Plan(new CopyOutShape()), 64);
        Assert.NotNull(rewriter.Feed(Encoding.UTF8.GetBytes("1\t" + new string('x', 40)), out _));
        Assert.Null(rewriter.Feed(Encoding.UTF8.GetBytes(new string('x', 40)), out var error));
        Assert.Contains("larger than masking holds", error, StringComparison.Ordinal);

        var binary = new CopyRewriter(Masker, Plan(CopyOutShape.Parse("COPY t TO STDOUT BINARY", Facts("COPY t TO STDOUT BINARY"))!), 64);
        byte[] header = [(byte)'P', (byte)'G', (byte)'C', (byte)'O', (byte)'P', (byte)'Y', 10, 0xff, 13, 10, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        Assert.Null(binary.Feed([.. header, .. BigEndian16(3), .. BigEndian32(4), 0, 0, 0, 1, .. BigEndian32(1000)], out error));
        Assert.Contains("larger than masking holds", error, StringComparison.Ordinal);
    }

    [Fact]
    public void A_stream_that_ends_inside_a_row_or_has_the_wrong_field_count_fails()
    {
        var rewriter = new CopyRewriter(Masker, Plan(new CopyOutShape()), 1 << 20);
        Assert.True(rewriter.Feed("1\tbob@example.org"u8, out _)!.Value.IsEmpty);
        Assert.False(rewriter.Finish());

        Assert.Null(new CopyRewriter(Masker, Plan(new CopyOutShape()), 1 << 20).Feed("1\tbob@example.org\n"u8, out var error));
        Assert.Contains("did not match", error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("COPY customers TO STDOUT", "customers", null, CopyFormat.Text, '\t', null)]
    [InlineData("copy public.customers (id, \"Email\") to stdout with csv header delimiter as ';'", "public.customers", "id,Email", CopyFormat.Csv, ';', null)]
    [InlineData("COPY customers TO STDOUT (FORMAT binary)", "customers", null, CopyFormat.Binary, '\t', null)]
    [InlineData("COPY BINARY customers TO STDOUT", "customers", null, CopyFormat.Binary, '\t', null)]
    [InlineData("COPY customers TO STDOUT (FORMAT csv, FORCE_QUOTE *, QUOTE '''', ESCAPE E'\\\\')", "customers", null, CopyFormat.Csv, ',', null)]
    [InlineData("COPY customers TO STDOUT (FORMAT csv, NULL 'x')", "customers", null, CopyFormat.Csv, ',', "the COPY option NULL")]
    [InlineData("COPY customers TO STDOUT (ENCODING 'SJIS')", "customers", null, CopyFormat.Text, '\t', "the COPY option ENCODING")]
    [InlineData("COPY customers TO STDOUT (FORMAT csv, DELIMITER E'\\n')", "customers", null, CopyFormat.Csv, '\n', "that DELIMITER")]
    public void Copy_statements_are_read_for_table_columns_format_and_delimiters(string sql, string table, string? columns, CopyFormat format, char delimiter, string? problem)
    {
        var shape = CopyOutShape.Parse(sql, Facts(sql))!;
        Assert.Equal(table, shape.Table.ToString());
        Assert.Equal(columns, shape.Columns is null ? null : string.Join(",", shape.Columns));
        Assert.Equal(format, shape.Format);
        Assert.Equal(problem, shape.Problem);
        if (problem is null)
        {
            Assert.Equal(delimiter, shape.Delimiter);
        }
    }

    [Fact]
    public void A_copy_of_a_query_is_recognised_as_one()
    {
        var sql = "COPY (SELECT email FROM customers) TO STDOUT";
        Assert.True(CopyOutShape.Parse(sql, Facts(sql))!.IsQuery);
    }

    private static StatementFacts Facts(string sql) => SqlAnalyzer.Instance.Analyze(sql, new SqlSessionState()).Statements[0];

    private static byte[] BigEndian16(int value)
    {
        var bytes = new byte[2];
        BinaryPrimitives.WriteInt16BigEndian(bytes, (short)value);
        return bytes;
    }

    private static byte[] BigEndian32(int value)
    {
        var bytes = new byte[4];
        BinaryPrimitives.WriteInt32BigEndian(bytes, value);
        return bytes;
    }
}
