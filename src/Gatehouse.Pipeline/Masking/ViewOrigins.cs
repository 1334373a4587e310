using System.Globalization;

namespace Gatehouse.Pipeline.Masking;

/// <summary>
/// Reads a view's stored query (pg_rewrite.ev_action, PostgreSQL's node-tree text) for the origin of each output
/// column: the top-level target list's <c>:resorigtbl</c> / <c>:resorigcol</c>, which the parser records when an
/// output column is a plain reference to a relation's column. 0 means the column is computed (an expression, an
/// aggregate, a set operation…). Nested queries (subqueries in the range table) are skipped by depth.
/// </summary>
public static class ViewOrigins
{
    /// <summary>Origins by output position (resno − 1), junk entries excluded; null when the text is not understood.</summary>
    public static (uint Table, short Column)[]? Parse(string nodeTree)
    {
        // The text is "({QUERY … :targetList ({TARGETENTRY …} …) …})", one QUERY per rule action.
        int query = nodeTree.IndexOf("{QUERY", StringComparison.Ordinal);
        if (query < 0)
        {
            return null;
        }

        int depth = 0;
        int queryDepth = -1;
        for (int i = 0; i < nodeTree.Length; i++)
        {
            char c = nodeTree[i];
            if (c == '\\')
            {
                i++;
                continue;
            }

            if (c is '{' or '(')
            {
                depth++;
                if (i == query)
                {
                    queryDepth = depth;
                }
            }
            else if (c is '}' or ')')
            {
                depth--;
                if (queryDepth > 0 && depth < queryDepth)
                {
                    return null; // the QUERY ended without a target list
                }
            }
            else if (c == ':' && depth == queryDepth && string.CompareOrdinal(nodeTree, i, ":targetList ", 0, 12) == 0)
            {
                return ReadTargetList(nodeTree, i + 12);
            }
        }

        return null;
    }

    private static (uint, short)[]? ReadTargetList(string text, int position)
    {
        var origins = new List<(int Resno, uint Table, short Column)>();
        if (position >= text.Length || text[position] != '(')
        {
            return text.AsSpan(position).StartsWith("<>") ? [] : null;
        }

        int depth = 0;
        int entryStart = -1;
        for (int i = position; i < text.Length; i++)
        {
            char c = text[i];
            if (c == '\\')
            {
                i++;
                continue;
            }

            if (c is '{' or '(')
            {
                depth++;
                if (c == '{' && depth == 2)
                {
                    entryStart = i;
                }
            }
            else if (c is '}' or ')')
            {
                if (c == '}' && depth == 2 && entryStart >= 0)
                {
                    if (ReadEntry(text, entryStart, i) is not { } entry)
                    {
                        return null;
                    }

                    if (!entry.Junk)
                    {
                        origins.Add((entry.Resno, entry.Table, entry.Column));
                    }

                    entryStart = -1;
                }

                depth--;
                if (depth == 0)
                {
                    origins.Sort((a, b) => a.Resno.CompareTo(b.Resno));
                    return origins.Select(o => (o.Table, o.Column)).ToArray();
                }
            }
        }

        return null;
    }

    private static (int Resno, uint Table, short Column, bool Junk)? ReadEntry(string text, int start, int end)
    {
        // Fields of this TARGETENTRY at its own level (its :expr sub-node is skipped by depth).
        int? resno = null;
        uint? table = null;
        short? column = null;
        bool junk = false;
        int depth = 0;
        for (int i = start; i < end; i++)
        {
            char c = text[i];
            if (c == '\\')
            {
                i++;
                continue;
            }

            if (c is '{' or '(')
            {
                depth++;
            }
            else if (c is '}' or ')')
            {
                depth--;
            }
            else if (c == ':' && depth == 1)
            {
                int nameEnd = text.IndexOf(' ', i);
                if (nameEnd < 0 || nameEnd > end)
                {
                    break;
                }

                var name = text.AsSpan(i + 1, nameEnd - i - 1);
                int valueEnd = nameEnd + 1;
                while (valueEnd < end && text[valueEnd] is not (' ' or '}' or ')'))
                {
                    valueEnd++;
                }

                var value = text.AsSpan(nameEnd + 1, valueEnd - nameEnd - 1);
                switch (name)
                {
                    case "resno" when int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var n):
                        resno = n;
                        break;
                    case "resorigtbl" when uint.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var t):
                        table = t;
                        break;
                    case "resorigcol" when short.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var col):
                        column = col;
                        break;
                    case "resjunk":
                        junk = value.SequenceEqual("true");
                        break;
                }
            }
        }

        return resno is { } r && table is { } tb && column is { } cl ? (r, tb, cl, junk) : null;
    }

    /// <summary>
    /// Every value of a numeric field (<c>:relid </c>, <c>:funcid </c>…) anywhere in the tree, sub-queries and sub-links
    /// included, skipping backslash escapes (an identifier is written with them, so text cannot fake a field). Over-reading
    /// is harmless to its callers: an OID that names nothing is looked up and ignored.
    /// </summary>
    public static IEnumerable<uint> Numbers(string nodeTree, string field)
    {
        for (int i = 0; i < nodeTree.Length; i++)
        {
            char c = nodeTree[i];
            if (c == '\\')
            {
                i++;
                continue;
            }

            if (c != ':' || string.CompareOrdinal(nodeTree, i, field, 0, field.Length) != 0)
            {
                continue;
            }

            int start = i + field.Length, end = start;
            while (end < nodeTree.Length && char.IsAsciiDigit(nodeTree[end]))
            {
                end++;
            }

            if (end > start && uint.TryParse(nodeTree.AsSpan(start, end - start), NumberStyles.None, CultureInfo.InvariantCulture, out var oid) && oid != 0)
            {
                yield return oid;
            }

            i = end - 1;
        }
    }
}
