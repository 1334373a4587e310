namespace Gatehouse.Pipeline;

/// <summary>
/// search_path values as the server reads them (SplitIdentifierString: comma-separated, double quotes keep case
/// and commas, unquoted elements are lower-cased). pg_catalog is searched first unless the path names it later:
/// a path that puts another schema before it lets an unqualified call such as <c>lower(x)</c> resolve to a
/// user's function of the same name, around function rules. Such paths are refused; pg_temp is never searched
/// for functions, so it may precede pg_catalog.
/// </summary>
public static class SearchPaths
{
    /// <summary>Null when the value is acceptable; otherwise why not, to show the client.</summary>
    public static string? Problem(string value)
    {
        var schemas = Split(value);
        if (schemas is null)
        {
            return "search_path value is not a valid list of schema names";
        }

        for (int i = 0; i < schemas.Count; i++)
        {
            if (schemas[i] == "pg_catalog")
            {
                var before = schemas.Take(i).Where(s => s != "pg_temp").ToList();
                return before.Count == 0
                    ? null
                    : $"search_path may not place {string.Join(", ", before.Select(s => "\"" + s + "\""))} before pg_catalog: an unqualified function name could then resolve outside pg_catalog";
            }
        }

        return null;
    }

    /// <summary>The elements of a list value, or null when it is malformed.</summary>
    public static List<string>? Split(string value)
    {
        var result = new List<string>();
        int i = 0;
        SkipSpace(value, ref i);
        if (i == value.Length)
        {
            return result;
        }

        while (true)
        {
            string element;
            if (value[i] == '"')
            {
                var text = new System.Text.StringBuilder();
                i++;
                while (true)
                {
                    if (i >= value.Length)
                    {
                        return null;
                    }

                    if (value[i] == '"')
                    {
                        if (i + 1 < value.Length && value[i + 1] == '"')
                        {
                            text.Append('"');
                            i += 2;
                            continue;
                        }

                        i++;
                        break;
                    }

                    text.Append(value[i++]);
                }

                element = text.ToString();
            }
            else
            {
                int start = i;
                while (i < value.Length && value[i] != ',' && !IsSpace(value[i]))
                {
                    i++;
                }

                if (i == start)
                {
                    return null;
                }

                element = value[start..i].ToLowerInvariant();
            }

            result.Add(element);
            SkipSpace(value, ref i);
            if (i == value.Length)
            {
                return result;
            }

            if (value[i] != ',')
            {
                return null;
            }

            i++;
            SkipSpace(value, ref i);
        }
    }

    private static bool IsSpace(char c) => c is ' ' or '\t' or '\n' or '\r' or '\f' or '\v';

    private static void SkipSpace(string value, ref int i)
    {
        while (i < value.Length && IsSpace(value[i]))
        {
            i++;
        }
    }
}
