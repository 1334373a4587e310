using System.Buffers;
using System.Text;

namespace Gatehouse.Masking.Tests;

internal static class ScannerSupport
{
    public static ContentScanner Scanner(string strategy = "redact", DetectorKind detectors = DetectorKind.All, int max = ContentScanner.DefaultMaxScanBytes) =>
        new(detectors, Support.Strategy(strategy), Support.TestMasker, max);

    /// <summary>The scanned text (the input itself when unchanged, after checking nothing was written); null for NULL.</summary>
    public static string? Scan(string text, string strategy = "redact", DetectorKind detectors = DetectorKind.All, uint? oid = null) =>
        Scan(Scanner(strategy, detectors), text, oid).Text;

    public static (string? Text, ScanResult Result) Scan(ContentScanner scanner, string text, uint? oid = null)
    {
        var output = new ArrayBufferWriter<byte>();
        var bytes = Encoding.UTF8.GetBytes(text);
        var result = oid is { } type ? scanner.Scan(bytes, type, output) : scanner.Scan(bytes, output);
        switch (result.Outcome)
        {
            case ScanOutcome.Unchanged:
                Assert.Equal(0, output.WrittenCount);
                return (text, result);
            case ScanOutcome.Null:
                Assert.Equal(0, output.WrittenCount);
                return (null, result);
            default:
                Assert.Equal(result.BytesWritten, output.WrittenCount);
                return (Support.Utf8(output.WrittenSpan), result);
        }
    }
}
