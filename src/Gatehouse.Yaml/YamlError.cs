namespace Gatehouse.Yaml;

/// <summary>One problem found in a YAML file (gatehouse.yaml, a policy), with a 1-based position.</summary>
public sealed record YamlError(string File, int Line, int Column, string Message)
{
    /// <summary>Formats as <c>policy.yaml:12:7: error: message</c>.</summary>
    public override string ToString() => $"{File}:{Line}:{Column}: error: {Message}";
}
