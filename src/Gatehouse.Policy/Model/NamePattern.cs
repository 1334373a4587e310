namespace Gatehouse.Policy.Model;

/// <summary>
/// A <c>schema.name</c> or bare <c>name</c> pattern for relations and functions.
/// A bare pattern has no schema part and matches the name in any schema.
/// </summary>
public sealed class NamePattern
{
    private NamePattern(string text, Glob? schema, Glob name)
    {
        Text = text;
        Schema = schema;
        Name = name;
    }

    public string Text { get; }

    /// <summary>Null when the pattern has no schema part (any schema).</summary>
    public Glob? Schema { get; }

    public Glob Name { get; }

    public static NamePattern? TryCreate(string text, out string? problem)
    {
        var parts = text.Split('.');
        if (parts.Length > 2)
        {
            problem = $"pattern '{text}' has {parts.Length} dot-separated parts; write schema.name or name";
            return null;
        }

        Glob? schema = null;
        if (parts.Length == 2)
        {
            schema = Glob.TryCreate(parts[0], out problem);
            if (schema is null)
            {
                problem = $"pattern '{text}': schema part: {problem}";
                return null;
            }
        }

        var name = Glob.TryCreate(parts[^1], out problem);
        if (name is null)
        {
            problem = $"pattern '{text}': {(parts.Length == 2 ? "name part: " : "")}{problem}";
            return null;
        }

        return new NamePattern(text, schema, name);
    }

    /// <summary>True when the pattern's schema part could match <paramref name="schema"/>.</summary>
    public bool SchemaMatches(string schema) => Schema is null || Schema.IsMatch(schema);

    public override string ToString() => Text;
}
