using System.Buffers;

namespace Gatehouse.Protocol;

/// <summary>The key/value parameters of a StartupMessage, in the order the client sent them.</summary>
public sealed class StartupParameters
{
    private readonly List<KeyValuePair<string, string>> _items;

    public StartupParameters(IEnumerable<KeyValuePair<string, string>> items)
    {
        _items = [.. items];
    }

    public IReadOnlyList<KeyValuePair<string, string>> Items => _items;

    public string? this[string key]
    {
        get
        {
            foreach (var item in _items)
            {
                if (item.Key == key)
                {
                    return item.Value;
                }
            }

            return null;
        }
    }

    /// <summary>Parses the body of a StartupMessage (after the protocol version); null when malformed.</summary>
    public static StartupParameters? TryParse(in ReadOnlySequence<byte> body, out string? error)
    {
        var reader = new PayloadReader(body.IsSingleSegment ? body.FirstSpan : body.ToArray());
        var items = new List<KeyValuePair<string, string>>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        while (true)
        {
            if (!reader.TryReadCString(out var key))
            {
                error = "startup packet is not terminated";
                return null;
            }

            if (key.Length == 0)
            {
                break;
            }

            if (!reader.TryReadCString(out var value))
            {
                error = $"startup parameter \"{Printable(key)}\" has no value";
                return null;
            }

            if (!seen.Add(key))
            {
                error = $"startup parameter \"{Printable(key)}\" is given twice";
                return null;
            }

            items.Add(new(key, value));
        }

        if (!reader.AtEnd)
        {
            error = "trailing bytes after the startup parameters";
            return null;
        }

        error = null;
        return new StartupParameters(items);
    }

    private static string Printable(string value) =>
        value.Length > 64 ? value[..64] + "…" : value;
}
