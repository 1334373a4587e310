using Gatehouse.Protocol;
using Gatehouse.Sql;

namespace Gatehouse.Proxy;

/// <summary>COPY … TO STDOUT of a session with masks: the stream is rewritten by column (<see cref="CopyRewriter"/>).</summary>
internal sealed partial class ServerToClientPump
{
    private FrameHandling ClassifyCopy(long total)
    {
        if (total <= MaxMaskedRow + 16)
        {
            return FrameHandling.Inspect;
        }

        RefuseResult($"a COPY row of {total} bytes is larger than masking holds ({MaxMaskedRow} bytes); copy fewer or narrower columns");
        _copy = null;
        return FrameHandling.Drop;
    }

    private FrameVerdict OnCopyFrame(byte code, ReadOnlySpan<byte> frame)
    {
        string? error = null;
        switch ((BackendMessageCode)code)
        {
            case BackendMessageCode.CopyOutResponse:
                _copy = null;
                try
                {
                    if (ledger.CopyPlan() is not { } plan)
                    {
                        return FrameVerdict.Pass;
                    }

                    var reader = new PayloadReader(frame[FrameHeader.Size..]);
                    if (!reader.TryReadByte(out byte format) || !reader.TryReadInt16(out short columns)
                        || format != (plan.Shape.Format == CopyFormat.Binary ? 1 : 0) || columns != plan.Columns.Columns.Count)
                    {
                        error = "the COPY stream does not have the columns Gatehouse planned for";
                    }
                    else if (pipeline?.Masker is not { } masker)
                    {
                        error = "no masker is configured";
                    }
                    else
                    {
                        _copy = new CopyRewriter(masker, plan, MaxMaskedRow);
                        return FrameVerdict.Pass;
                    }
                }
                catch (MaskingException ex)
                {
                    error = ex.Message;
                }

                break;
            case BackendMessageCode.CopyData when _copy is not null:
                if (_copy.Feed(frame[FrameHeader.Size..], out error) is { } rows)
                {
                    if (rows.IsEmpty)
                    {
                        return FrameVerdict.Drop;
                    }

                    Replace(rows.Span);
                    return FrameVerdict.Replace;
                }

                break;
            case BackendMessageCode.CopyDone when _copy is not null:
                bool complete = _copy.Finish();
                _copy = null;
                if (complete)
                {
                    return FrameVerdict.Pass;
                }

                error = "the COPY stream ended inside a row";
                break;
            default:
                return FrameVerdict.Pass;
        }

        _copy = null;
        RefuseResult(error!);
        Replace(_pendingRefusal!);
        _pendingRefusal = null;
        return FrameVerdict.Replace;
    }
}
