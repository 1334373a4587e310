using System.Globalization;

namespace Gatehouse.Sql;

/// <summary>The positional parameters ($1, $2, …) a statement text refers to.</summary>
public static class Placeholders
{
    /// <summary>The protocol counts parameters in 16 bits.</summary>
    public const int Max = ushort.MaxValue;

    /// <summary>The highest $n in the text under either reading of standard_conforming_strings (at most <see cref="Max"/>); 0 when there is none.</summary>
    public static int Highest(string sql) => Math.Min(Max, Math.Max(Scan(sql, standardConformingStrings: true), Scan(sql, standardConformingStrings: false)));

    private static int Scan(string sql, bool standardConformingStrings)
    {
        var lexer = new SqlLexer(sql, standardConformingStrings);
        int highest = 0;
        while (lexer.Next(out var token))
        {
            if (token.Kind == TokenKind.Param
                && int.TryParse(sql.AsSpan(token.Start + 1, token.Length - 1), NumberStyles.None, CultureInfo.InvariantCulture, out int n))
            {
                highest = Math.Max(highest, n);
            }
            else if (token.Kind == TokenKind.Param)
            {
                highest = Max; // more digits than an int: the server refuses it, never binds it
            }
        }

        return highest;
    }
}
