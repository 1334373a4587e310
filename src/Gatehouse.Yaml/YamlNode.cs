namespace Gatehouse.Yaml;

/// <summary>A position-carrying YAML tree (1-based line and column): just enough of YAML for Gatehouse's files.</summary>
public abstract class YamlNode(int line, int column)
{
    public int Line { get; } = line;

    public int Column { get; } = column;

    public abstract string KindName { get; }
}

public sealed class YamlScalar(int line, int column, string value, bool isPlain) : YamlNode(line, column)
{
    public string Value { get; } = value;

    /// <summary>Unquoted; only plain scalars can be null or booleans.</summary>
    public bool IsPlain { get; } = isPlain;

    public bool IsNull => IsPlain && Value is "" or "~" or "null" or "Null" or "NULL";

    public override string KindName => IsNull ? "null" : "a string";
}

public sealed class YamlSequence(int line, int column, IReadOnlyList<YamlNode> items) : YamlNode(line, column)
{
    public IReadOnlyList<YamlNode> Items { get; } = items;

    public override string KindName => "a list";
}

public sealed class YamlMapping(int line, int column, IReadOnlyList<KeyValuePair<YamlScalar, YamlNode>> entries)
    : YamlNode(line, column)
{
    public IReadOnlyList<KeyValuePair<YamlScalar, YamlNode>> Entries { get; } = entries;

    public override string KindName => "a mapping";

    public YamlNode? Find(string key)
    {
        foreach (var entry in Entries)
        {
            if (entry.Key.Value == key)
            {
                return entry.Value;
            }
        }

        return null;
    }
}
