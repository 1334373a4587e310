namespace Gatehouse.State;

/// <summary>One policy text as an administrator published it (PUT /api/policy), numbered in publication order.</summary>
public sealed record PolicyDocument(long Revision, string Version, string Source, string PublishedBy, string Instance, DateTimeOffset Published);

/// <summary>
/// Policy texts shared by every instance on one PostgreSQL store (docs/design/policy-distribution.md): the latest
/// revision is the policy of record; a publish notifies every instance at COMMIT.
/// </summary>
public interface IPolicyDocumentStore
{
    /// <summary>Records a new revision and notifies the other instances; returns its number.</summary>
    Task<long> PublishAsync(string version, string source, string publishedBy, string instance, DateTimeOffset at, CancellationToken ct);

    /// <summary>The latest revision, or null when none was ever published.</summary>
    Task<PolicyDocument?> LatestAsync(CancellationToken ct);

    /// <summary>Completes at the next publish by any instance (or when the notification connection came back).</summary>
    Task WaitForChangeAsync(CancellationToken ct);
}
