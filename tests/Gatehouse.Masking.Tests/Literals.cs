using System.Buffers.Binary;
using System.Text;

namespace Gatehouse.Masking.Tests;

/// <summary>Strict readers of PostgreSQL's array and composite text literals and binary layouts, for checking outputs.</summary>
internal static class Literals
{
    /// <summary>array_in's syntax (one or more dimensions): the elements in order (null for NULL); throws on bad syntax.</summary>
    public static List<string?> ParseArray(string text)
    {
        var elements = new List<string?>();
        var i = 0;
        Skip(text, ref i);
        ParseBraces(text, ref i, elements);
        Skip(text, ref i);
        if (i != text.Length)
        {
            throw new FormatException($"junk after array at {i}: {text}");
        }

        return elements;
    }

    private static void ParseBraces(string s, ref int i, List<string?> into)
    {
        Expect(s, ref i, '{');
        Skip(s, ref i);
        if (s[i] == '}')
        {
            i++;
            return;
        }

        while (true)
        {
            Skip(s, ref i);
            if (s[i] == '{')
            {
                ParseBraces(s, ref i, into);
            }
            else if (s[i] == '"')
            {
                into.Add(Quoted(s, ref i));
            }
            else
            {
                var start = i;
                var value = new StringBuilder();
                while (s[i] is not (',' or '}'))
                {
                    if (s[i] is '{' or '"')
                    {
                        throw new FormatException($"'{s[i]}' in an unquoted array element at {i}: {s}");
                    }

                    if (s[i] == '\\')
                    {
                        i++;
                    }

                    value.Append(s[i++]);
                }

                var element = value.ToString().Trim();
                into.Add(element == "NULL" ? null : element);
                if (element.Length == 0)
                {
                    throw new FormatException($"empty unquoted array element at {start}: {s}");
                }
            }

            Skip(s, ref i);
            if (s[i] == ',')
            {
                i++;
                continue;
            }

            Expect(s, ref i, '}');
            return;
        }
    }

    /// <summary>record_in's syntax: the fields in order (null for an empty unquoted field); throws on bad syntax.</summary>
    public static List<string?> ParseComposite(string s)
    {
        var fields = new List<string?>();
        var i = 0;
        Expect(s, ref i, '(');
        while (true)
        {
            if (s[i] == '"')
            {
                fields.Add(Quoted(s, ref i));
            }
            else
            {
                var value = new StringBuilder();
                while (s[i] is not (',' or ')'))
                {
                    if (s[i] is '(' or '"' or '\\')
                    {
                        throw new FormatException($"'{s[i]}' in an unquoted composite field at {i}: {s}");
                    }

                    value.Append(s[i++]);
                }

                fields.Add(value.Length == 0 ? null : value.ToString());
            }

            if (s[i] == ',')
            {
                i++;
                continue;
            }

            Expect(s, ref i, ')');
            if (i != s.Length)
            {
                throw new FormatException($"junk after composite at {i}: {s}");
            }

            return fields;
        }
    }

    private static string Quoted(string s, ref int i)
    {
        Expect(s, ref i, '"');
        var value = new StringBuilder();
        while (true)
        {
            var c = s[i++];
            if (c == '\\')
            {
                value.Append(s[i++]);
            }
            else if (c == '"')
            {
                if (i < s.Length && s[i] == '"')
                {
                    value.Append('"'); // composites double quotes
                    i++;
                    continue;
                }

                return value.ToString();
            }
            else
            {
                value.Append(c);
            }
        }
    }

    private static void Skip(string s, ref int i)
    {
        while (i < s.Length && char.IsWhiteSpace(s[i]))
        {
            i++;
        }
    }

    private static void Expect(string s, ref int i, char c)
    {
        if (i >= s.Length || s[i] != c)
        {
            throw new FormatException($"expected '{c}' at {i}: {s}");
        }

        i++;
    }

    /// <summary>array_send's layout for a one-dimensional array (null elements as null).</summary>
    public static byte[] BinaryArray(uint elementOid, params byte[]?[] elements)
    {
        var output = new List<byte>();
        Int32(output, 1);
        Int32(output, elements.Any(e => e is null) ? 1 : 0);
        Int32(output, (int)elementOid);
        Int32(output, elements.Length);
        Int32(output, 1);
        foreach (var e in elements)
        {
            Int32(output, e?.Length ?? -1);
            output.AddRange(e ?? []);
        }

        return [.. output];
    }

    public static byte[] BinaryRecord(params (uint Oid, byte[]? Value)[] fields)
    {
        var output = new List<byte>();
        Int32(output, fields.Length);
        foreach (var (oid, value) in fields)
        {
            Int32(output, (int)oid);
            Int32(output, value?.Length ?? -1);
            output.AddRange(value ?? []);
        }

        return [.. output];
    }

    /// <summary>Reads array_send's layout back, checking every length: (has-nulls flag, element type, elements).</summary>
    public static (bool HasNulls, uint ElementOid, List<byte[]?> Elements) ReadBinaryArray(ReadOnlySpan<byte> v)
    {
        var dims = BinaryPrimitives.ReadInt32BigEndian(v);
        var hasNulls = BinaryPrimitives.ReadInt32BigEndian(v[4..]);
        var oid = BinaryPrimitives.ReadUInt32BigEndian(v[8..]);
        var count = 1;
        for (var d = 0; d < dims; d++)
        {
            count *= BinaryPrimitives.ReadInt32BigEndian(v[(12 + 8 * d)..]);
        }

        var offset = 12 + 8 * dims;
        var elements = new List<byte[]?>();
        for (var k = 0; k < (dims == 0 ? 0 : count); k++)
        {
            var length = BinaryPrimitives.ReadInt32BigEndian(v[offset..]);
            offset += 4;
            elements.Add(length < 0 ? null : v.Slice(offset, length).ToArray());
            offset += Math.Max(length, 0);
        }

        Assert.Equal(v.Length, offset);
        Assert.True(hasNulls is 0 or 1);
        Assert.Equal(elements.Any(e => e is null), hasNulls == 1);
        return (hasNulls == 1, oid, elements);
    }

    public static List<(uint Oid, byte[]? Value)> ReadBinaryRecord(ReadOnlySpan<byte> v)
    {
        var count = BinaryPrimitives.ReadInt32BigEndian(v);
        var offset = 4;
        var fields = new List<(uint, byte[]?)>();
        for (var k = 0; k < count; k++)
        {
            var oid = BinaryPrimitives.ReadUInt32BigEndian(v[offset..]);
            var length = BinaryPrimitives.ReadInt32BigEndian(v[(offset + 4)..]);
            offset += 8;
            fields.Add((oid, length < 0 ? null : v.Slice(offset, length).ToArray()));
            offset += Math.Max(length, 0);
        }

        Assert.Equal(v.Length, offset);
        return fields;
    }

    private static void Int32(List<byte> output, int value)
    {
        Span<byte> be = stackalloc byte[4];
        BinaryPrimitives.WriteInt32BigEndian(be, value);
        output.AddRange(be.ToArray());
    }
}
