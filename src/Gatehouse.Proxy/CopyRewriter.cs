using System.Buffers;
using System.Buffers.Binary;
using Gatehouse.Pipeline.Masking;
using Gatehouse.Protocol;
using Gatehouse.Sql;

namespace Gatehouse.Proxy;

/// <summary>
/// Rewrites a COPY … TO STDOUT stream by column, as it streams: CopyData payloads are cut into rows (a row may span
/// messages; text rows end at a newline, CSV rows at a newline outside quotes, binary tuples by their field lengths),
/// each row's fields are masked by the column plan, and the complete rows of each payload leave as one CopyData.
/// Only the unfinished tail of a row is held, up to the row limit. Passed fields are copied byte for byte.
/// </summary>
internal sealed class CopyRewriter(IValueMasker masker, CopyOutPlan plan, int maxRow)
{
    private static readonly byte[] Signature = [(byte)'P', (byte)'G', (byte)'C', (byte)'O', (byte)'P', (byte)'Y', (byte)'\n', 0xff, (byte)'\r', (byte)'\n', 0];

    private readonly CopyOutShape _shape = plan.Shape;
    private readonly IReadOnlyList<ColumnMask> _columns = plan.Columns.Columns;
    private readonly MessageWriter _out = new(1024);
    private readonly ArrayBufferWriter<byte> _value = new(256);
    private readonly ArrayBufferWriter<byte> _masked = new(256);

    // The unfinished row: bytes held from earlier payloads, where its scan stopped, and the CSV quote state there.
    private byte[] _tail = [];
    private int _tailLength;
    private int _scanFrom;
    private bool _inQuote;
    private bool _headerPending = plan.Shape.Header || plan.Shape.Format == CopyFormat.Binary;

    /// <summary>One CopyData payload in: the CopyData to send (empty when no row is complete yet), or null with
    /// <paramref name="error"/> when the stream cannot be masked (the result is then refused).</summary>
    public ReadOnlyMemory<byte>? Feed(ReadOnlySpan<byte> payload, out string? error)
    {
        error = null;
        ReadOnlySpan<byte> data;
        if (_tailLength == 0)
        {
            data = payload;
        }
        else
        {
            if ((long)_tailLength + payload.Length > maxRow + 4L)
            {
                error = TooLarge();
                return null;
            }

            if (_tail.Length < _tailLength + payload.Length)
            {
                Array.Resize(ref _tail, Math.Max(_tailLength + payload.Length, _tail.Length * 2));
            }

            payload.CopyTo(_tail.AsSpan(_tailLength));
            _tailLength += payload.Length;
            data = _tail.AsSpan(0, _tailLength);
        }

        _out.Reset();
        _out.StartMessage((byte)BackendMessageCode.CopyData);
        int start = _out.WrittenSpan.Length;
        int pos = 0;
        while (pos < data.Length)
        {
            int end = RowEnd(data, pos, out error);
            if (error is not null)
            {
                return null;
            }

            if (end < 0)
            {
                break;
            }

            var row = data[pos..end];
            if (_headerPending)
            {
                _headerPending = false;
                _out.WriteBytes(row);
            }
            else if (!(_shape.Format switch
            {
                CopyFormat.Binary => Tuple(row),
                CopyFormat.Csv => CsvRow(row),
                _ => TextRow(row),
            }))
            {
                error = "a COPY row did not match the table's columns";
                return null;
            }

            pos = end;
            _scanFrom = 0;
            _inQuote = false;
        }

        var rest = data[pos..];
        if (rest.Length > maxRow)
        {
            error = TooLarge();
            return null;
        }

        if (pos > 0 || _tailLength == 0)
        {
            // Keep only the unfinished row (moved to the front of the tail buffer).
            if (_tail.Length < rest.Length)
            {
                _tail = new byte[Math.Max(rest.Length, 4096)];
            }

            rest.CopyTo(_tail);
            _tailLength = rest.Length;
        }

        if (_out.WrittenSpan.Length == start)
        {
            return ReadOnlyMemory<byte>.Empty;
        }

        _out.EndMessage();
        return _out.WrittenMemory;
    }

    /// <summary>CopyDone: false when a row was left unfinished (the stream is then refused).</summary>
    public bool Finish() => _tailLength == 0;

    private string TooLarge() => $"a COPY row is larger than masking holds ({maxRow} bytes); copy fewer or narrower columns";

    /// <summary>Where the row starting at <paramref name="pos"/> ends (exclusive), or -1 when it is not complete yet.</summary>
    private int RowEnd(ReadOnlySpan<byte> data, int pos, out string? error)
    {
        error = null;
        if (_shape.Format == CopyFormat.Binary)
        {
            return _headerPending ? BinaryHeaderEnd(data, pos, out error) : TupleEnd(data, pos, out error);
        }

        int from = Math.Max(pos, pos + _scanFrom);
        if (_shape.Format == CopyFormat.Text)
        {
            int newline = data[from..].IndexOf((byte)'\n');
            _scanFrom = newline < 0 ? data.Length - pos : 0;
            return newline < 0 ? -1 : from + newline + 1;
        }

        byte quote = (byte)_shape.Quote, escape = (byte)_shape.Escape;
        for (int i = from; i < data.Length; i++)
        {
            byte c = data[i];
            if (_inQuote)
            {
                if (c == escape && escape != quote)
                {
                    if (i + 1 >= data.Length)
                    {
                        _scanFrom = i - pos;
                        return -1;
                    }

                    if (data[i + 1] == quote || data[i + 1] == escape)
                    {
                        i++;
                        continue;
                    }
                }

                _inQuote = c != quote;
            }
            else if (c == quote)
            {
                _inQuote = true;
            }
            else if (c == '\n')
            {
                return i + 1;
            }
        }

        _scanFrom = data.Length - pos;
        return -1;
    }

    private static int BinaryHeaderEnd(ReadOnlySpan<byte> data, int pos, out string? error)
    {
        error = null;
        var rest = data[pos..];
        if (rest.Length < 19)
        {
            return -1;
        }

        if (!rest[..11].SequenceEqual(Signature))
        {
            error = "the binary COPY header is not valid";
            return -1;
        }

        int flags = BinaryPrimitives.ReadInt32BigEndian(rest[11..]);
        int extension = BinaryPrimitives.ReadInt32BigEndian(rest[15..]);
        if (flags != 0 || extension < 0 || extension > 1 << 20)
        {
            error = "the binary COPY header is not valid";
            return -1;
        }

        return rest.Length < 19 + extension ? -1 : pos + 19 + extension;
    }

    private int TupleEnd(ReadOnlySpan<byte> data, int pos, out string? error)
    {
        error = null;
        if (data.Length - pos < 2)
        {
            return -1;
        }

        short count = BinaryPrimitives.ReadInt16BigEndian(data[pos..]);
        if (count == -1)
        {
            return pos + 2; // the trailer
        }

        long p = pos + 2;
        for (int i = 0; i < count; i++)
        {
            if (data.Length - p < 4)
            {
                return -1;
            }

            int length = BinaryPrimitives.ReadInt32BigEndian(data[(int)p..]);
            p += 4;
            if (length == -1)
            {
                continue;
            }

            if (length < 0 || p + length - pos > maxRow)
            {
                error = length < 0 ? "a binary COPY field length is not valid" : TooLarge();
                return -1;
            }

            p += length;
            if (p > data.Length)
            {
                return -1;
            }
        }

        return (int)p;
    }

    private bool Tuple(ReadOnlySpan<byte> row)
    {
        short count = BinaryPrimitives.ReadInt16BigEndian(row);
        if (count == -1)
        {
            _out.WriteBytes(row);
            return true;
        }

        if (count != _columns.Count)
        {
            return false;
        }

        _out.WriteInt16(count);
        int p = 2;
        for (int i = 0; i < count; i++)
        {
            int length = BinaryPrimitives.ReadInt32BigEndian(row[p..]);
            p += 4;
            if (length < 0)
            {
                _out.WriteInt32(-1);
                continue;
            }

            var value = row.Slice(p, length);
            p += length;
            switch (Apply(value, _columns[i], out var output))
            {
                case Outcome.Null:
                    _out.WriteInt32(-1);
                    break;
                case Outcome.Unchanged:
                    _out.WriteInt32(value.Length).WriteBytes(value);
                    break;
                default:
                    _out.WriteInt32(output.Length).WriteBytes(output);
                    break;
            }
        }

        return true;
    }

    private enum Outcome : byte { Unchanged, Rewritten, Null }

    /// <summary>One field by its column's action; <paramref name="output"/> holds the new value when rewritten.</summary>
    private Outcome Apply(ReadOnlySpan<byte> value, in ColumnMask column, out ReadOnlySpan<byte> output)
    {
        output = default;
        _masked.ResetWrittenCount();
        switch (column.Action)
        {
            case ColumnAction.Mask or ColumnAction.Redact:
                if (!masker.Mask(value, column, _masked))
                {
                    return Outcome.Null;
                }

                output = _masked.WrittenSpan;
                return Outcome.Rewritten;
            case ColumnAction.Scan:
                var verdict = masker.Scan(value, column, plan.Columns.Rules, _masked);
                output = _masked.WrittenSpan;
                return verdict switch { ScanVerdict.Rewritten => Outcome.Rewritten, ScanVerdict.Null => Outcome.Null, _ => Outcome.Unchanged };
            default:
                return Outcome.Unchanged;
        }
    }

    /// <summary>One text or CSV field: passed (and NULL) fields as they are; others decoded, masked and encoded again.
    /// NULL is <c>\N</c> in text and an unquoted empty field in CSV; a masked CSV value is always quoted.</summary>
    private void Field(ReadOnlySpan<byte> field, in ColumnMask mask, bool csv)
    {
        if (mask.Action == ColumnAction.Pass || (csv ? field.IsEmpty : field.SequenceEqual("\\N"u8)))
        {
            _out.WriteBytes(field);
            return;
        }

        byte quote = (byte)_shape.Quote, escape = (byte)_shape.Escape;
        if (csv)
        {
            CopyText.UnquoteCsv(field, quote, escape, _value);
        }
        else
        {
            CopyText.Unescape(field, _value);
        }

        switch (Apply(_value.WrittenSpan, mask, out var output))
        {
            case Outcome.Null:
                _out.WriteBytes(csv ? [] : "\\N"u8);
                break;
            case Outcome.Unchanged:
                _out.WriteBytes(field);
                break;
            case Outcome.Rewritten when csv:
                CopyText.QuoteCsv(output, quote, escape, _out);
                break;
            default:
                CopyText.Escape(output, (byte)_shape.Delimiter, _out);
                break;
        }
    }

    /// <summary>A text-format row: fields split at unescaped delimiters, \N is NULL; masked fields are decoded, masked, re-escaped.</summary>
    private bool TextRow(ReadOnlySpan<byte> row)
    {
        row = row[..^1];
        byte delimiter = (byte)_shape.Delimiter;
        int column = 0, start = 0;
        while (true)
        {
            int j = start;
            while (j < row.Length && row[j] != delimiter)
            {
                j += row[j] == '\\' ? 2 : 1;
            }

            j = Math.Min(j, row.Length);
            if (column >= _columns.Count)
            {
                return false;
            }

            if (column > 0)
            {
                _out.WriteByte(delimiter);
            }

            Field(row[start..j], _columns[column++], csv: false);

            if (j >= row.Length)
            {
                break;
            }

            start = j + 1;
        }

        _out.WriteByte((byte)'\n');
        return column == _columns.Count;
    }

    /// <summary>A CSV row: fields split at delimiters outside quotes; an unquoted empty field is NULL; masked fields are
    /// decoded, masked and written quoted.</summary>
    private bool CsvRow(ReadOnlySpan<byte> row)
    {
        row = row[..^1];
        byte delimiter = (byte)_shape.Delimiter, quote = (byte)_shape.Quote, escape = (byte)_shape.Escape;
        int column = 0, start = 0;
        while (true)
        {
            int j = start;
            bool inQuote = false;
            for (; j < row.Length; j++)
            {
                byte c = row[j];
                if (inQuote)
                {
                    if (c == escape && escape != quote && j + 1 < row.Length && (row[j + 1] == quote || row[j + 1] == escape))
                    {
                        j++;
                        continue;
                    }

                    inQuote = c != quote;
                }
                else if (c == quote)
                {
                    inQuote = true;
                }
                else if (c == delimiter)
                {
                    break;
                }
            }

            if (column >= _columns.Count)
            {
                return false;
            }

            if (column > 0)
            {
                _out.WriteByte(delimiter);
            }

            Field(row[start..j], _columns[column++], csv: true);

            if (j >= row.Length)
            {
                break;
            }

            start = j + 1;
        }

        _out.WriteByte((byte)'\n');
        return column == _columns.Count;
    }
}
