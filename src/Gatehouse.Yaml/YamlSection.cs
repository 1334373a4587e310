namespace Gatehouse.Yaml;

/// <summary>
/// Typed access to a YAML mapping that records precise errors (file:line:col) instead of throwing,
/// and rejects keys nobody read. Every accessor marks its key as read, present or not.
/// </summary>
public sealed class YamlSection(string file, YamlMapping node, List<YamlError> errors)
{
    private readonly HashSet<string> _read = [];

    public YamlMapping Node => node;

    /// <summary>The file the mapping was read from, as errors name it.</summary>
    public string File => file;

    public YamlSection Child(YamlMapping mapping) => new(file, mapping, errors);

    public void Error(YamlNode at, string message) => errors.Add(new YamlError(file, at.Line, at.Column, message));

    public YamlNode? Get(string key)
    {
        _read.Add(key);
        return node.Find(key);
    }

    public string? String(string key, string? fallback = null)
    {
        var value = Get(key);
        if (value is null)
        {
            return fallback;
        }

        if (value is YamlScalar { Value: { Length: > 0 } text })
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

        if (value is YamlScalar { Value: "true" or "false" } scalar)
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

        if (value is YamlScalar scalar && int.TryParse(scalar.Value, out int number) && number >= min && number <= max)
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

        if (value is YamlScalar { Value: var text } && Gatehouse.Yaml.Duration.TryParse(text, out var duration))
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
            case YamlScalar { Value: { Length: > 0 } single }:
                return [single];
            case YamlSequence sequence:
                var items = new List<string>();
                foreach (var item in sequence.Items)
                {
                    if (item is YamlScalar { Value: { Length: > 0 } text })
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

        if (value is YamlMapping mapping)
        {
            return Child(mapping);
        }

        Error(value, $"'{key}' must be a mapping");
        return null;
    }

    /// <summary>Reports every key that no accessor asked for: typos must not be silently ignored.</summary>
    public void RejectUnknownKeys(string where)
    {
        foreach (var (key, _) in node.Entries)
        {
            if (!_read.Contains(key.Value))
            {
                Error(key, $"unknown key '{key.Value}' in {where}");
            }
        }
    }
}
