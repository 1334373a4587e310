namespace Gatehouse.Policy.Model;

/// <summary>
/// A shell-style wildcard: <c>*</c> any run of characters, <c>?</c> one character; everything else literal.
/// Matching is case-insensitive (ASCII and Unicode simple folding) and allocates nothing.
/// </summary>
public sealed class Glob
{
    private Glob(string pattern) => Pattern = pattern;

    public string Pattern { get; }

    public bool MatchesEverything => Pattern == "*";

    /// <summary>Validates and compiles; null with a reason when the pattern is not a usable glob.</summary>
    public static Glob? TryCreate(string pattern, out string? problem)
    {
        problem = null;
        if (pattern.Length == 0)
        {
            problem = "empty pattern";
        }
        else if (pattern.AsSpan().IndexOfAny("[]{}\\") is var at and >= 0)
        {
            problem = $"'{pattern[at]}' is not supported in patterns (only * and ? are wildcards)";
        }
        else if (pattern.Any(char.IsControl))
        {
            problem = "control characters are not allowed";
        }

        return problem is null ? new Glob(pattern) : null;
    }

    public bool IsMatch(ReadOnlySpan<char> text)
    {
        var p = Pattern.AsSpan();
        int pi = 0, ti = 0, starP = -1, starT = 0;
        while (ti < text.Length)
        {
            if (pi < p.Length && p[pi] == '*')
            {
                starP = pi++;
                starT = ti;
            }
            else if (pi < p.Length && (p[pi] == '?' || Same(p[pi], text[ti])))
            {
                pi++;
                ti++;
            }
            else if (starP >= 0)
            {
                pi = starP + 1;
                ti = ++starT;
            }
            else
            {
                return false;
            }
        }

        while (pi < p.Length && p[pi] == '*')
        {
            pi++;
        }

        return pi == p.Length;
    }

    public override string ToString() => Pattern;

    private static bool Same(char a, char b) => a == b || char.ToLowerInvariant(a) == char.ToLowerInvariant(b);
}
