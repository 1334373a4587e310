using System.Buffers;
using Prometheus;

namespace Gatehouse.Pipeline.Masking;

/// <summary>
/// Counts the values a masker changes (masked, redacted, or rewritten by a detector) for /metrics, around the one
/// masker every session shares, so the row and COPY rewriters stay unaware of metrics.
/// </summary>
public sealed class CountedValueMasker(IValueMasker inner, Counter masked) : IValueMasker
{
    public bool Mask(ReadOnlySpan<byte> value, in ColumnMask column, IBufferWriter<byte> output)
    {
        masked.Inc();
        return inner.Mask(value, column, output);
    }

    public ScanVerdict Scan(ReadOnlySpan<byte> value, in ColumnMask column, MaskRules rules, IBufferWriter<byte> output)
    {
        var verdict = inner.Scan(value, column, rules, output);
        if (verdict != ScanVerdict.Unchanged)
        {
            masked.Inc();
        }

        return verdict;
    }

    public string Scrub(string text, MaskRules rules, bool tainted) => inner.Scrub(text, rules, tainted);
}
