namespace Gatehouse.Policy;

/// <summary>One problem found in a policy file, with a 1-based position.</summary>
public sealed record PolicyError(string File, int Line, int Column, string Message)
{
    /// <summary>Formats as <c>policy.yaml:12:7: error: message</c>.</summary>
    public override string ToString() => $"{File}:{Line}:{Column}: error: {Message}";
}
