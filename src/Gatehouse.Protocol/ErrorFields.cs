using System.Buffers;

namespace Gatehouse.Protocol;

/// <summary>The fields of an ErrorResponse or NoticeResponse that Gatehouse reads or writes.</summary>
public sealed record ErrorFields(string Severity, string SqlState, string Message)
{
    public string? Detail { get; init; }

    public string? Hint { get; init; }

    /// <summary>Parses an ErrorResponse/NoticeResponse payload; unknown fields are ignored.</summary>
    public static ErrorFields Parse(in ReadOnlySequence<byte> payload)
    {
        var reader = new PayloadReader(payload.IsSingleSegment ? payload.FirstSpan : payload.ToArray());
        string severity = "ERROR", code = SqlStates.InternalError, message = string.Empty;
        string? detail = null, hint = null;
        while (reader.TryReadByte(out byte type) && type != 0)
        {
            if (!reader.TryReadCString(out var value))
            {
                break;
            }

            switch ((char)type)
            {
                case 'V': severity = value; break;
                case 'S' when severity == "ERROR": severity = value; break;
                case 'C': code = value; break;
                case 'M': message = value; break;
                case 'D': detail = value; break;
                case 'H': hint = value; break;
            }
        }

        return new ErrorFields(severity, code, message) { Detail = detail, Hint = hint };
    }

    public override string ToString() => $"{Severity} {SqlState}: {Message}";
}
