namespace Gatehouse.Masking;

/// <summary>What a mask does to a value; see docs/masking.md, "Strategies".</summary>
public enum MaskKind : byte
{
    /// <summary>The fixed marker <c>[redacted]</c>.</summary>
    Redact,
    /// <summary>SQL NULL.</summary>
    Null,
    /// <summary>First character of the local part, <c>***@</c>, the domain; anything else is redacted.</summary>
    Email,
    /// <summary>Every character but the last four letters or digits becomes <c>*</c>; separators stay.</summary>
    Last4,
    /// <summary><c>h:</c> and 16 hex digits of a keyed HMAC-SHA-256: equal values mask equally under one key.</summary>
    Hash,
    /// <summary>Keeps the first <see cref="MaskStrategy.KeepFirst"/> and last <see cref="MaskStrategy.KeepLast"/> characters.</summary>
    Partial,
    /// <summary>Format-preserving fake derived from the keyed HMAC: digits stay digits, letters letters.</summary>
    Fake,
}

/// <summary>
/// A masking strategy as the policy spells it (<c>redact</c>, <c>null</c>, <c>email</c>, <c>last4</c>, <c>hash</c>,
/// <c>fake</c>, <c>partial(first, last)</c>). Immutable; the simple spellings parse to shared instances.
/// </summary>
public sealed record MaskStrategy(MaskKind Kind, int KeepFirst = 0, int KeepLast = 0, char Fill = '*')
{
    /// <summary>Largest <c>first</c> or <c>last</c> of <c>partial(first, last)</c>.</summary>
    public const int MaxKeep = 64;

    public static MaskStrategy Redact { get; } = new(MaskKind.Redact);

    public static MaskStrategy Null { get; } = new(MaskKind.Null);

    public static MaskStrategy Email { get; } = new(MaskKind.Email);

    public static MaskStrategy Last4 { get; } = new(MaskKind.Last4);

    public static MaskStrategy Hash { get; } = new(MaskKind.Hash);

    public static MaskStrategy Fake { get; } = new(MaskKind.Fake);

    public MaskKind Kind { get; init; } = Enum.IsDefined(Kind) ? Kind : throw new ArgumentOutOfRangeException(nameof(Kind));

    public int KeepFirst { get; init => field = CheckKeep(value, nameof(KeepFirst)); } = CheckKeep(KeepFirst, nameof(KeepFirst));

    public int KeepLast { get; init => field = CheckKeep(value, nameof(KeepLast)); } = CheckKeep(KeepLast, nameof(KeepLast));

    /// <summary>
    /// The character that replaces masked characters: printable ASCII other than the characters that delimit
    /// JSON strings, array and composite literals or XML (<c>" \ , { } ( ) &lt; &gt; &amp; '</c>), so a replacement
    /// never breaks the container it sits in.
    /// </summary>
    public char Fill { get; init => field = CheckFill(value); } = CheckFill(Fill);

    /// <summary>Parses a policy spelling. Whitespace around the parts of <c>partial( 2 , 4 )</c> is allowed.</summary>
    public static bool TryParse(string? text, out MaskStrategy? strategy, out string? error)
    {
        strategy = null;
        error = null;
        var s = (text ?? "").AsSpan().Trim();
        switch (s)
        {
            case "redact": strategy = Redact; return true;
            case "null": strategy = Null; return true;
            case "email": strategy = Email; return true;
            case "last4": strategy = Last4; return true;
            case "hash": strategy = Hash; return true;
            case "fake": strategy = Fake; return true;
        }

        if (s.StartsWith("partial", StringComparison.Ordinal))
        {
            var args = s["partial".Length..].Trim();
            if (args.Length < 2 || args[0] != '(' || args[^1] != ')')
            {
                error = "partial needs two numbers: partial(first, last), e.g. partial(2, 4)";
                return false;
            }

            args = args[1..^1];
            var comma = args.IndexOf(',');
            if (comma < 0)
            {
                error = "partial needs two numbers: partial(first, last), e.g. partial(2, 4)";
                return false;
            }

            if (!TryKeep(args[..comma], "first", out var first, out error) || !TryKeep(args[(comma + 1)..], "last", out var last, out error))
            {
                return false;
            }

            strategy = new MaskStrategy(MaskKind.Partial, first, last);
            return true;
        }

        error = $"unknown masking function '{s}' (expected redact, null, email, last4, hash, fake or partial(first, last))";
        return false;
    }

    /// <summary>The policy spelling; a fill other than <c>*</c> (which only code can choose) shows as a third argument.</summary>
    public override string ToString() => Kind switch
    {
        MaskKind.Partial => Fill == '*' ? $"partial({KeepFirst},{KeepLast})" : $"partial({KeepFirst},{KeepLast},'{Fill}')",
        _ => Kind.ToString().ToLowerInvariant(),
    };

    private static bool TryKeep(ReadOnlySpan<char> text, string name, out int value, out string? error)
    {
        text = text.Trim();
        value = 0;
        error = null;
        if (text.Length is 0 or > 2 || !int.TryParse(text, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out value)
            || value > MaxKeep)
        {
            error = $"partial(first, last): {name} must be a whole number from 0 to {MaxKeep}, not '{text}'";
            return false;
        }

        return true;
    }

    private static int CheckKeep(int value, string name) =>
        value is >= 0 and <= MaxKeep ? value : throw new ArgumentOutOfRangeException(name, value, $"must be 0..{MaxKeep}");

    private static char CheckFill(char value) =>
        value is > ' ' and < (char)0x7F && "\"\\,{}()<>&'".IndexOf(value, StringComparison.Ordinal) < 0
            ? value
            : throw new ArgumentOutOfRangeException(nameof(value), value, "must be printable ASCII and not one of \" \\ , { } ( ) < > & '");
}
