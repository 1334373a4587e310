using Gatehouse.Audit;
using Gatehouse.Pipeline.Masking;
using Gatehouse.Policy.Model;
using Gatehouse.Protocol;

namespace Gatehouse.Pipeline;

/// <summary>A result set's columns as the client was told them: names, wire formats, and which a mask rewrote.</summary>
public sealed record ResultShape(string[] Names, short[] Formats, uint[] Types, string[] Masked)
{
    /// <summary>From a RowDescription and, when the statement has masks, the plan its rows are rewritten by.</summary>
    public static ResultShape Of(IReadOnlyList<ResultColumn> columns, ColumnPlan? plan)
    {
        var names = new string[columns.Count];
        var formats = new short[columns.Count];
        var types = new uint[columns.Count];
        var masked = new List<string>();
        for (int i = 0; i < columns.Count; i++)
        {
            names[i] = columns[i].Name;
            formats[i] = columns[i].Format;
            types[i] = columns[i].TypeOid;
            if (plan is not null && i < plan.Columns.Count && plan.Columns[i].Action is ColumnAction.Mask or ColumnAction.Redact)
            {
                masked.Add(columns[i].Name);
            }
        }

        return new ResultShape(names, formats, types, [.. masked]);
    }
}

/// <summary>
/// The rows of one execution as the client received them, for a grant with <c>audit: { results: true }</c>. The relay
/// hands it each DataRow after masking (the bytes it sends), so a masked column's value is its masked form and an
/// untraceable one its redaction; nothing before the mask reaches it. Text values are kept as text, binary-format
/// values as <see cref="BinaryValues"/> renders them, SQL NULL as null. Bounded by the grant's <c>max_rows</c> and <c>max_bytes</c> (value
/// bytes as sent): past them, and for any result set after the first, the capture only notes <c>truncated</c>.
/// Used by one thread (the relay's server side) and reset by <see cref="Take"/> at each outcome.
/// </summary>
public sealed class ResultCapture(GrantAudit bounds)
{
    private const int FrameHeaderAndCount = FrameHeader.Size + 2;

    private readonly List<string?[]> _rows = [];
    private ResultShape? _shape;
    private long _bytes;
    private bool _truncated;

    public bool Described => _shape is not null;

    /// <summary>A result set begins: the first of an execution is recorded; a later one is only noted as truncated.</summary>
    public void Describe(ResultShape shape)
    {
        if (_shape is null)
        {
            _shape = shape;
        }
        else
        {
            _truncated = true; // and so its rows are not recorded
        }
    }

    /// <summary>Rows arrived that cannot be recorded (their columns were never described): the outcome says so.</summary>
    public void Skip() => _truncated = true;

    /// <summary>True when a DataRow of <paramref name="frameLength"/> bytes may still be recorded; false (and truncated) once a bound is reached.</summary>
    public bool Wants(long frameLength)
    {
        if (_shape is null || _truncated)
        {
            _truncated = true;
            return false;
        }

        // The values take at least the frame less its header, count and one length per column.
        long least = frameLength - FrameHeaderAndCount - 4L * _shape.Names.Length;
        if (_rows.Count >= bounds.MaxRows || _bytes + least > bounds.MaxBytes)
        {
            _truncated = true;
            return false;
        }

        return true;
    }

    /// <summary>Records one DataRow frame exactly as it goes to the client (header included).</summary>
    public void Add(ReadOnlySpan<byte> frame)
    {
        if (!Wants(frame.Length))
        {
            return;
        }

        var fields = new ResultMessages.DataRowFields(frame[FrameHeader.Size..]);
        var row = new string?[Math.Max(0, fields.Count)];
        long bytes = 0;
        for (int i = 0; i < row.Length; i++)
        {
            if (!fields.Next(out var value, out var isNull, out _))
            {
                _truncated = true;
                return;
            }

            bytes += value.Length;
            if (_bytes + bytes > bounds.MaxBytes)
            {
                _truncated = true;
                return;
            }

            row[i] = isNull ? null : i < _shape!.Formats.Length && _shape.Formats[i] != 0
                ? BinaryValues.Render(value, _shape.Types[i], bounds.MaxBytes)
                : ResultMessages.RenderValue(value, 0, bounds.MaxBytes);
        }

        _bytes += bytes;
        _rows.Add(row);
    }

    /// <summary>What was recorded since the last call (null when the execution returned no rows' description), and starts afresh.</summary>
    public AuditResult? Take()
    {
        AuditResult? result = _shape is null && !_truncated
            ? null
            : new AuditResult(_shape?.Names ?? [], [.. _rows], _shape?.Masked ?? [], _truncated);
        Reset();
        return result;
    }

    /// <summary>Forgets what was recorded: the next execution starts empty.</summary>
    public void Reset()
    {
        _rows.Clear();
        _shape = null;
        _bytes = 0;
        _truncated = false;
    }
}

/// <summary>
/// Binary-format values (Npgsql asks for them) as PostgreSQL would print them, for the types whose binary form is
/// simple: text-like types, jsonb, booleans, integers, uuid. Any other binary value is <c>\x</c> hex of its bytes.
/// </summary>
internal static class BinaryValues
{
    public static string Render(ReadOnlySpan<byte> value, uint type, int maxChars)
    {
        switch (type)
        {
            case 25 or 1043 or 1042 or 19 or 705 or 114 or 142:
                return ResultMessages.RenderValue(value, 0, maxChars);
            case 3802 when value.Length >= 1 && value[0] == 1:
                return ResultMessages.RenderValue(value[1..], 0, maxChars);
            case 16 when value.Length == 1:
                return value[0] == 0 ? "f" : "t";
            case 21 when value.Length == 2:
                return System.Buffers.Binary.BinaryPrimitives.ReadInt16BigEndian(value).ToString(System.Globalization.CultureInfo.InvariantCulture);
            case 23 when value.Length == 4:
                return System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(value).ToString(System.Globalization.CultureInfo.InvariantCulture);
            case 26 when value.Length == 4:
                return System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(value).ToString(System.Globalization.CultureInfo.InvariantCulture);
            case 20 when value.Length == 8:
                return System.Buffers.Binary.BinaryPrimitives.ReadInt64BigEndian(value).ToString(System.Globalization.CultureInfo.InvariantCulture);
            case 2950 when value.Length == 16:
                return new Guid(value, bigEndian: true).ToString("D");
            default:
                return ResultMessages.RenderValue(value, 1, maxChars);
        }
    }
}
