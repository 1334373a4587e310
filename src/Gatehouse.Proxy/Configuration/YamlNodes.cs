using YamlDotNet.RepresentationModel;

namespace Gatehouse.Proxy.Configuration;

/// <summary>
/// Typed access to a YAML mapping that records precise errors (file:line:col) instead of throwing,
/// and rejects keys nobody read.
/// </summary>
internal sealed class YamlSection(string file, YamlMappingNode node, List<string> errors)
{
    private readonly HashSet<string> _read = [];

    public YamlMappingNode Node => node;

    public YamlSection Child(YamlMappingNode mapping) => new(file, mapping, errors);

    public void Error(YamlNode at, string message) =>
        errors.Add($"{file}:{at.Start.Line}:{at.Start.Column}: error: {message}");

    public YamlNode? Get(string key)
    {
        _read.Add(key);
        return node.Children.TryGetValue(new YamlScalarNode(key), out var value) ? value : null;
    }

    public string? String(string key, string? fallback = null)
    {
        var value = Get(key);
        if (value is null)
        {
            return fallback;
        }

        if (value is YamlScalarNode scalar && scalar.Value is { Length: > 0 } text)
        {
            return text;
        }

        Error(value, $"'{key}' must be a non-empty string");
        return fallback;
    }

    public string RequiredString(string key, YamlNode owner)
    {
        var value = String(key);
        if (value is null && Get(key) is null)
        {
            Error(owner, $"'{key}' is required");
        }

        return value ?? string.Empty;
    }

    public bool Bool(string key, bool fallback)
    {
        var value = Get(key);
        if (value is null)
        {
            return fallback;
        }

        if (value is YamlScalarNode { Value: "true" or "false" } scalar)
        {
            return scalar.Value == "true";
        }

        Error(value, $"'{key}' must be true or false");
        return fallback;
    }

    public int Int(string key, int fallback, int min, int max)
    {
        var value = Get(key);
        if (value is null)
        {
            return fallback;
        }

        if (value is YamlScalarNode scalar && int.TryParse(scalar.Value, out int number) && number >= min && number <= max)
        {
            return number;
        }

        Error(value, $"'{key}' must be a whole number from {min} to {max}");
        return fallback;
    }

    public TimeSpan Duration(string key, TimeSpan fallback)
    {
        var value = Get(key);
        if (value is null)
        {
            return fallback;
        }

        if (value is YamlScalarNode { Value: { } text } && Gatehouse.Policy.Loading.Duration.TryParse(text, out var duration))
        {
            return duration;
        }

        Error(value, $"'{key}' must be a duration such as 30s, 15m, 1h");
        return fallback;
    }

    public IReadOnlyList<string> StringList(string key, IReadOnlyList<string> fallback)
    {
        var value = Get(key);
        switch (value)
        {
            case null:
                return fallback;
            case YamlScalarNode { Value: { Length: > 0 } single }:
                return [single];
            case YamlSequenceNode sequence:
                var items = new List<string>();
                foreach (var item in sequence)
                {
                    if (item is YamlScalarNode { Value: { Length: > 0 } text })
                    {
                        items.Add(text);
                    }
                    else
                    {
                        Error(item, $"'{key}' items must be strings");
                    }
                }

                return items;
            default:
                Error(value, $"'{key}' must be a list of strings");
                return fallback;
        }
    }

    public YamlSection? Section(string key)
    {
        var value = Get(key);
        if (value is null)
        {
            return null;
        }

        if (value is YamlMappingNode mapping)
        {
            return new YamlSection(file, mapping, errors);
        }

        Error(value, $"'{key}' must be a mapping");
        return null;
    }

    /// <summary>Reports every key that no accessor asked for: typos must not be silently ignored.</summary>
    public void RejectUnknownKeys(string where)
    {
        foreach (var key in node.Children.Keys)
        {
            string name = (key as YamlScalarNode)?.Value ?? "?";
            if (!_read.Contains(name))
            {
                Error(key, $"unknown key '{name}' in {where}");
            }
        }
    }
}
