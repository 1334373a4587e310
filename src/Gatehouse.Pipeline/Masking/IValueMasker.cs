using System.Buffers;

namespace Gatehouse.Pipeline.Masking;

/// <summary>What a detector scan did to a field.</summary>
public enum ScanVerdict : byte
{
    /// <summary>Nothing matched: forward the original bytes.</summary>
    Unchanged,
    /// <summary>The rewritten value was written to the output.</summary>
    Rewritten,
    /// <summary>Write SQL NULL.</summary>
    Null,
}

/// <summary>Applies masks to values and texts; the relay and the MCP front door call it for the same results.</summary>
public interface IValueMasker
{
    /// <summary>Masks one field per its column plan entry (Mask or Redact). False: the field becomes SQL NULL.</summary>
    bool Mask(ReadOnlySpan<byte> value, in ColumnMask column, IBufferWriter<byte> output);

    /// <summary>Runs the content detectors over a field (either format, by its type).</summary>
    ScanVerdict Scan(ReadOnlySpan<byte> value, in ColumnMask column, MaskRules rules, IBufferWriter<byte> output);

    /// <summary>Masks free text (error and notice fields, notification payloads): detectors always; with
    /// <paramref name="tainted"/>, every quoted value too (a failed cast or a constraint error quotes the value).</summary>
    string Scrub(string text, MaskRules rules, bool tainted);
}
