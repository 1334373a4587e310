namespace Gatehouse.Masking;

public enum ScanOutcome : byte
{
    /// <summary>Nothing matched (or the value was not scanned): nothing was written; forward the original bytes.</summary>
    Unchanged,
    /// <summary>The rewritten value was written.</summary>
    Rewritten,
    /// <summary>Write SQL NULL (a match under the <c>null</c> strategy, or a value that fails closed to NULL).</summary>
    Null,
}

/// <summary>Why a scan's outcome is not simply "matched" or "did not match".</summary>
public enum ScanNote : byte
{
    None,
    /// <summary>Longer than <see cref="ContentScanner.MaxScanBytes"/>: fully redacted without looking — the marker for
    /// text and xml, the marker as a JSON string for json/jsonb, NULL for arrays, records and unknown types.</summary>
    TooLarge,
    /// <summary>A type that holds no free text (numbers, times, booleans, bytea, uuid…): not scanned.</summary>
    NotText,
    /// <summary>A binary value of an unknown type that is neither text, an array nor a record: not scanned. The
    /// caller decides whether to forward it or fail closed.</summary>
    Unscannable,
    /// <summary>The binary value is malformed for its type, or nested deeper than the scanner follows: NULL.</summary>
    Malformed,
    /// <summary>A match in a text-format json[]/jsonb[] literal, where a replacement could break the JSON inside: NULL.</summary>
    FailedClosed,
}

/// <summary>The outcome of <see cref="ContentScanner"/> on one value: which detectors matched how often, and what was written.</summary>
public readonly record struct ScanResult(ScanOutcome Outcome, int BytesWritten, int Matches, DetectorKind Found, ScanNote Note = ScanNote.None)
{
    public bool Rewritten => Outcome == ScanOutcome.Rewritten;

    public bool IsNull => Outcome == ScanOutcome.Null;

    internal static ScanResult Unchanged(ScanNote note = ScanNote.None) => new(ScanOutcome.Unchanged, 0, 0, DetectorKind.None, note);

    internal static ScanResult WriteNull(ScanNote note, int matches = 0, DetectorKind found = DetectorKind.None) =>
        new(ScanOutcome.Null, 0, matches, found, note);
}
