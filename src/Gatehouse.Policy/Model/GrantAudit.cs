namespace Gatehouse.Policy.Model;

/// <summary>
/// A grant's <c>audit</c>: what the trail keeps beyond statements and outcomes. Off by default; with
/// <see cref="Results"/> the rows the client received (after masking) are recorded with each outcome, up to
/// <see cref="MaxRows"/> rows and <see cref="MaxBytes"/> bytes of values, the rest marked truncated.
/// </summary>
public sealed record GrantAudit
{
    public const int DefaultMaxRows = 100;
    public const int DefaultMaxBytes = 64 * 1024;

    /// <summary>Hard caps: a trail is read by people and replayed in a browser, not a second copy of the database.</summary>
    public const int MaxRowsCap = 10_000;
    public const int MaxBytesCap = 1024 * 1024;

    public static GrantAudit None { get; } = new();

    /// <summary><c>results: true</c>: record result rows as the client saw them.</summary>
    public bool Results { get; init; }

    public int MaxRows { get; init; } = DefaultMaxRows;

    /// <summary>Bytes of values (as sent on the wire) per outcome.</summary>
    public int MaxBytes { get; init; } = DefaultMaxBytes;
}
