using System.Buffers;
using Gatehouse.Pipeline.Masking;
using Gatehouse.Protocol;

namespace Gatehouse.Proxy;

/// <summary>
/// Rewrites one DataRow by its column plan: passed fields are copied byte for byte, masked and redacted fields are
/// replaced by the masker's output (or NULL), scanned fields are replaced only where a detector matched. The row
/// arrives whole (bounded by the relay's row limit); the output is a new, well-formed DataRow.
/// </summary>
internal sealed class DataRowRewriter(IValueMasker masker)
{
    private readonly ArrayBufferWriter<byte> _field = new(256);
    private readonly MessageWriter _row = new(1024);

    /// <summary>The rewritten frame, or null when the row does not match the plan (then the result is refused).</summary>
    public ReadOnlyMemory<byte>? Rewrite(ReadOnlySpan<byte> frame, ColumnPlan plan)
    {
        var fields = new ResultMessages.DataRowFields(frame[FrameHeader.Size..]);
        if (fields.Count != plan.Columns.Count)
        {
            return null;
        }

        _row.Reset();
        _row.StartMessage((byte)BackendMessageCode.DataRow).WriteInt16((short)plan.Columns.Count);
        for (int i = 0; i < plan.Columns.Count; i++)
        {
            if (!fields.Next(out var value, out var isNull, out _))
            {
                return null;
            }

            var column = plan.Columns[i];
            if (isNull)
            {
                _row.WriteInt32(-1);
                continue;
            }

            _field.ResetWrittenCount();
            switch (column.Action)
            {
                case ColumnAction.Mask or ColumnAction.Redact:
                    if (masker.Mask(value, column, _field))
                    {
                        WriteField(_field.WrittenSpan);
                    }
                    else
                    {
                        _row.WriteInt32(-1);
                    }

                    break;
                case ColumnAction.Scan:
                    switch (masker.Scan(value, column, plan.Rules, _field))
                    {
                        case ScanVerdict.Rewritten:
                            WriteField(_field.WrittenSpan);
                            break;
                        case ScanVerdict.Null:
                            _row.WriteInt32(-1);
                            break;
                        default:
                            WriteField(value);
                            break;
                    }

                    break;
                default:
                    WriteField(value);
                    break;
            }
        }

        if (fields.Next(out _, out _, out _))
        {
            return null; // more fields than the count said
        }

        _row.EndMessage();
        return _row.WrittenMemory;
    }

    private void WriteField(ReadOnlySpan<byte> bytes) => _row.WriteInt32(bytes.Length).WriteBytes(bytes);
}
