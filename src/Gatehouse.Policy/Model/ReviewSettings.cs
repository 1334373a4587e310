namespace Gatehouse.Policy.Model;

public enum ReviewMode
{
    /// <summary>The statement waits for a decision.</summary>
    Hold,

    /// <summary>The statement fails at once; the client retries after approval.</summary>
    Async,
}

/// <summary>The <c>reviews</c> section: who approves statements a <c>review</c> rule holds, and how.</summary>
public sealed class ReviewSettings
{
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromMinutes(10);

    public required string Approvers { get; init; }

    public ReviewMode Mode { get; init; } = ReviewMode.Hold;

    public TimeSpan Timeout { get; init; } = DefaultTimeout;

    public Uri? Webhook { get; init; }

    /// <summary>Distinct approvers a request needs (<c>require</c>, 1–5).</summary>
    public int Require { get; init; } = 1;

    /// <summary>Pending reviews one identity may have at once (<c>max_pending</c>); more are refused (53400).</summary>
    public int MaxPending { get; init; } = 20;
}
