namespace Gatehouse.Mcp;

/// <summary>The <c>mcp:</c> section: what one tool call may return and take, and how many calls one identity runs at once.</summary>
/// <param name="MaxRows">Rows a query call returns at most; more are cut with <c>"truncated": true</c>.</param>
/// <param name="MaxBytes">Bytes of row values (UTF-8) a call returns at most; the value that would pass it is cut.</param>
/// <param name="StatementTimeout">A statement still running then is cancelled upstream.</param>
/// <param name="MaxConcurrentPerIdentity">Tool calls one identity (issuer + subject) runs at once; more are refused at once.</param>
/// <param name="PoolIdle">How long a wire session of one (token, target) is kept open for the next call.</param>
public sealed record McpLimits(int MaxRows, int MaxBytes, TimeSpan StatementTimeout, int MaxConcurrentPerIdentity, TimeSpan PoolIdle)
{
    public static McpLimits Default { get; } = new(1000, 1024 * 1024, TimeSpan.FromSeconds(30), 4, TimeSpan.FromSeconds(30));

    /// <summary>With <c>reviews.mode: hold</c>, how long a query call waits for a human decision before it answers
    /// with the review id (the review stays pending; the same query sent again after approval runs once).</summary>
    public TimeSpan ReviewWait { get; init; } = TimeSpan.FromSeconds(10);
}
