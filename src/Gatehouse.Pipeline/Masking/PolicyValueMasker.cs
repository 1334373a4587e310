using System.Buffers;
using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using Gatehouse.Masking;

namespace Gatehouse.Pipeline.Masking;

/// <summary>
/// The masks of the policy language over <see cref="Masker"/>: strategies parsed from a mask's <c>with</c> once, then
/// applied per field in text or binary format by the column's type; free text (errors, notices, notifications)
/// scrubbed of quoted values in statements that read masked data.
/// </summary>
public sealed class PolicyValueMasker(Masker masker) : IValueMasker
{
    private static readonly byte[] RedactedQuote = "\"[redacted]\""u8.ToArray();
    private readonly ConcurrentDictionary<string, MaskStrategy> _strategies = new(StringComparer.Ordinal);

    /// <summary>The masking key in the state directory (32 random bytes, created once, mode 0600), so hash and
    /// fake masks stay stable across restarts. Never logged.</summary>
    public static PolicyValueMasker FromKeyFile(string path)
    {
        if (!File.Exists(path))
        {
            Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
            var fresh = RandomNumberGenerator.GetBytes(32);
            try
            {
                using var stream = new FileStream(path, FileMode.CreateNew, FileAccess.Write);
                if (!OperatingSystem.IsWindows())
                {
                    File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
                }

                stream.Write(fresh);
            }
            catch (IOException) when (File.Exists(path))
            {
                // Another instance created it first: use theirs.
            }
        }

        var key = File.ReadAllBytes(path);
        if (key.Length < Masker.MinKeyBytes)
        {
            throw new InvalidDataException($"the masking key file {path} holds fewer than {Masker.MinKeyBytes} bytes");
        }

        return new PolicyValueMasker(new Masker(key));
    }

    public bool Mask(ReadOnlySpan<byte> value, in ColumnMask column, IBufferWriter<byte> output)
    {
        var strategy = column.Action == ColumnAction.Redact ? MaskStrategy.Redact : Strategy(column.With ?? "redact");
        var result = column.Format == 1
            ? masker.MaskBinary(value, column.TypeOid, strategy, output)
            : masker.MaskText(value, column.TypeOid, strategy, output);
        return !result.IsNull;
    }

    public ScanVerdict Scan(ReadOnlySpan<byte> value, in ColumnMask column, MaskRules rules, IBufferWriter<byte> output)
    {
        if (Scanner(rules) is not { } scanner)
        {
            return ScanVerdict.Unchanged;
        }

        var result = column.Format == 1 ? scanner.ScanBinary(value, column.TypeOid, output) : scanner.Scan(value, column.TypeOid, output);
        return result.Outcome switch
        {
            ScanOutcome.Rewritten => ScanVerdict.Rewritten,
            ScanOutcome.Null => ScanVerdict.Null,
            _ => ScanVerdict.Unchanged,
        };
    }

    public string Scrub(string text, MaskRules rules, bool tainted)
    {
        var result = text;
        if (tainted && text.Contains('"', StringComparison.Ordinal))
        {
            result = RedactQuoted(text);
        }

        if (Scanner(rules) is { } scanner)
        {
            result = scanner.Scrub(result);
        }

        return result;
    }

    private MaskStrategy Strategy(string with) => _strategies.GetOrAdd(with, static w =>
        MaskStrategy.TryParse(w, out var strategy, out _) ? strategy! : MaskStrategy.Redact);

    private readonly ConcurrentDictionary<MaskRules, ContentScanner?> _scanners = new();

    private ContentScanner? Scanner(MaskRules rules) =>
        rules.Detectors.Count == 0 ? null : _scanners.GetOrAdd(rules, r =>
            DetectorNames.TryParse(r.Detectors, out var kinds, out _) ? new ContentScanner(kinds, Strategy(r.DetectWith ?? "redact"), masker) : null);

    /// <summary>Every double-quoted span (a value the server quoted, or an identifier) becomes "[redacted]".</summary>
    private static string RedactQuoted(string text)
    {
        var output = new StringBuilder(text.Length);
        int i = 0;
        while (i < text.Length)
        {
            int open = text.IndexOf('"', i);
            if (open < 0)
            {
                output.Append(text, i, text.Length - i);
                break;
            }

            int close = text.IndexOf('"', open + 1);
            output.Append(text, i, open - i).Append(Encoding.UTF8.GetString(RedactedQuote));
            if (close < 0)
            {
                break;
            }

            i = close + 1;
        }

        return output.ToString();
    }
}
