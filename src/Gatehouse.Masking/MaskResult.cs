namespace Gatehouse.Masking;

/// <summary>Why a mask's output is not what the strategy alone would give.</summary>
public enum MaskNote : byte
{
    None,
    /// <summary>The strategy does not fit the value (an <c>email</c> mask on a non-address, markup under a text mask):
    /// the redaction marker was written instead.</summary>
    Redacted,
    /// <summary>The value is not valid UTF-8: it was masked byte by byte, and no non-ASCII byte was copied.</summary>
    InvalidUtf8,
    /// <summary>The column's type cannot carry the strategy's output: write SQL NULL.</summary>
    UnsupportedType,
    /// <summary>The binary value is malformed for its type (e.g. an unknown jsonb version): write SQL NULL.</summary>
    Malformed,
    /// <summary>A bytea value under a strategy other than hash: an empty value was written.</summary>
    Emptied,
}

/// <summary>
/// The outcome of masking one value: <see cref="BytesWritten"/> bytes were appended to the output, or — when
/// <see cref="IsNull"/> — nothing was, and the caller writes SQL NULL (field length -1).
/// </summary>
public readonly record struct MaskResult(int BytesWritten, bool IsNull, MaskNote Note = MaskNote.None)
{
    internal static MaskResult WriteNull(MaskNote note = MaskNote.None) => new(0, true, note);

    internal static MaskResult Written(int bytes, MaskNote note = MaskNote.None) => new(bytes, false, note);

    /// <summary>The field length to put on the wire: -1 for NULL.</summary>
    public int FieldLength => IsNull ? -1 : BytesWritten;
}
