namespace Gatehouse.Yaml;

/// <summary>Durations as written in policy and config files: <c>500ms</c>, <c>30s</c>, <c>10m</c>, <c>1h30m</c>, <c>2d</c>.</summary>
public static class Duration
{
    public static bool TryParse(string text, out TimeSpan value)
    {
        value = TimeSpan.Zero;
        var span = text.AsSpan();
        if (span.IsEmpty)
        {
            return false;
        }

        long totalMs = 0;
        while (!span.IsEmpty)
        {
            var digits = 0;
            while (digits < span.Length && char.IsAsciiDigit(span[digits]))
            {
                digits++;
            }

            if (digits == 0 || digits > 9)
            {
                return false;
            }

            var number = long.Parse(span[..digits], provider: System.Globalization.CultureInfo.InvariantCulture);
            span = span[digits..];
            long unitMs;
            if (span.StartsWith("ms", StringComparison.Ordinal)) { unitMs = 1; span = span[2..]; }
            else if (span.StartsWith("s", StringComparison.Ordinal)) { unitMs = 1000; span = span[1..]; }
            else if (span.StartsWith("m", StringComparison.Ordinal)) { unitMs = 60_000; span = span[1..]; }
            else if (span.StartsWith("h", StringComparison.Ordinal)) { unitMs = 3_600_000; span = span[1..]; }
            else if (span.StartsWith("d", StringComparison.Ordinal)) { unitMs = 86_400_000; span = span[1..]; }
            else { return false; }

            totalMs += number * unitMs;
        }

        value = TimeSpan.FromMilliseconds(totalMs);
        return true;
    }
}
