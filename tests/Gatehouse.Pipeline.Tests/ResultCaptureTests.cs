using Gatehouse.Policy.Model;
using Gatehouse.Protocol;

namespace Gatehouse.Pipeline.Tests;

/// <summary>The capture of recorded results on DataRow byte fixtures: bounds, later result sets, value rendering, reset per outcome.</summary>
public sealed class ResultCaptureTests
{
    private static ResultShape Shape(params (string Name, uint Type, short Format)[] columns) =>
        ResultShape.Of([.. columns.Select(c => new ResultColumn(c.Name, 0, 0, c.Type, c.Format))], null);

    private static byte[] Row(params byte[]?[] values)
    {
        using var writer = new MessageWriter();
        writer.StartMessage((byte)BackendMessageCode.DataRow).WriteInt16((short)values.Length);
        foreach (var value in values)
        {
            if (value is null)
            {
                writer.WriteInt32(-1);
            }
            else
            {
                writer.WriteInt32(value.Length).WriteBytes(value);
            }
        }

        writer.EndMessage();
        return writer.ToArray();
    }

    private static byte[] Text(string value) => System.Text.Encoding.UTF8.GetBytes(value);

    [Fact]
    public void Rows_stop_at_max_rows_and_the_result_says_truncated()
    {
        var capture = new ResultCapture(new GrantAudit { Results = true, MaxRows = 2 });
        capture.Describe(Shape(("n", 23, 0)));
        foreach (var n in new[] { "1", "2", "3" })
        {
            if (capture.Wants(Row(Text(n)).Length))
            {
                capture.Add(Row(Text(n)));
            }
        }

        var result = capture.Take()!;
        Assert.Equal(["n"], result.Columns);
        Assert.Equal(["1", "2"], result.Rows.Select(r => r[0]));
        Assert.True(result.Truncated);
    }

    [Fact]
    public void A_row_past_max_bytes_is_left_out_whole_and_nothing_after_it_is_kept()
    {
        var capture = new ResultCapture(new GrantAudit { Results = true, MaxBytes = 10 });
        capture.Describe(Shape(("a", 25, 0), ("b", 25, 0)));
        capture.Add(Row(Text("12345"), null));
        capture.Add(Row(Text("123"), Text("456")));
        capture.Add(Row(Text("1"), null));
        var result = capture.Take()!;
        Assert.Single(result.Rows);
        Assert.Equal(["12345", null], result.Rows[0]);
        Assert.True(result.Truncated);
    }

    [Fact]
    public void A_later_result_set_is_not_recorded_and_marks_the_result_truncated()
    {
        var capture = new ResultCapture(new GrantAudit { Results = true });
        capture.Describe(Shape(("first", 25, 0)));
        capture.Add(Row(Text("kept")));
        capture.Describe(Shape(("second", 25, 0)));
        Assert.False(capture.Wants(Row(Text("dropped")).Length));
        capture.Add(Row(Text("dropped")));
        var result = capture.Take()!;
        Assert.Equal(["first"], result.Columns);
        Assert.Equal(["kept"], result.Rows.Select(r => r[0]));
        Assert.True(result.Truncated);
    }

    [Fact]
    public void Binary_values_of_simple_types_read_as_postgres_prints_them_and_others_as_hex()
    {
        var capture = new ResultCapture(new GrantAudit { Results = true });
        capture.Describe(Shape(("i", 23, 1), ("b", 16, 1), ("t", 25, 1), ("j", 3802, 1), ("u", 2950, 1), ("f", 701, 1), ("x", 25, 0)));
        var uuid = Guid.Parse("0f8fad5b-d9cb-469f-a165-70867728950e");
        capture.Add(Row([0, 0, 1, 0], [1], Text("héllo"), [1, .. Text("{\"a\": 1}")], uuid.ToByteArray(bigEndian: true), BitConverter.GetBytes(1.5).Reverse().ToArray(), Text("<b>")));
        var row = capture.Take()!.Rows[0];
        Assert.Equal(["256", "t", "héllo", "{\"a\": 1}", uuid.ToString(), "\\x3ff8000000000000", "<b>"], row);
    }

    [Fact]
    public void Take_starts_afresh_and_an_execution_without_a_description_records_nothing()
    {
        var capture = new ResultCapture(new GrantAudit { Results = true });
        capture.Describe(Shape(("n", 25, 0)));
        capture.Add(Row(Text("1")));
        Assert.NotNull(capture.Take());
        Assert.Null(capture.Take());
        Assert.False(capture.Described);

        // Rows whose columns were never described are not recorded; the outcome says rows were left out.
        Assert.False(capture.Wants(Row(Text("x")).Length));
        var skipped = capture.Take()!;
        Assert.Empty(skipped.Columns);
        Assert.Empty(skipped.Rows);
        Assert.True(skipped.Truncated);
    }
}
