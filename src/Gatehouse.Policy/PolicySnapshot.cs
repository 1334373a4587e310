using System.Text.Json;
using Gatehouse.Policy.Decisions;
using Gatehouse.Policy.Model;
using Gatehouse.Sql;

namespace Gatehouse.Policy;

/// <summary>
/// One loaded, fully validated policy. Immutable: a reload builds a new snapshot and swaps it in
/// (<see cref="PolicyStore"/>), so read <see cref="PolicyStore.Current"/> once per statement.
/// </summary>
public sealed class PolicySnapshot
{
    internal PolicySnapshot(
        IReadOnlyDictionary<string, PolicyIdentity> identities,
        IReadOnlyList<Grant> grants,
        ReviewSettings? reviews,
        string source,
        string contentHash,
        DateTimeOffset loadedAt,
        string text = "")
    {
        Text = text;
        Identities = identities;
        Grants = grants;
        Reviews = reviews;
        Source = source;
        ContentHash = contentHash;
        LoadedAt = loadedAt;
        RuleCount = grants.Sum(g => g.Rules.Count);
    }

    public IReadOnlyDictionary<string, PolicyIdentity> Identities { get; }

    /// <summary>In file order.</summary>
    public IReadOnlyList<Grant> Grants { get; }

    public ReviewSettings? Reviews { get; }

    /// <summary>The file name the policy was loaded from, as given.</summary>
    public string Source { get; }

    /// <summary>The policy's YAML text as read (GET /api/policy shows it).</summary>
    public string Text { get; }

    /// <summary>Lower-case hex SHA-256 of the file's bytes.</summary>
    public string ContentHash { get; }

    public DateTimeOffset LoadedAt { get; }

    public int RuleCount { get; }

    /// <summary>
    /// The first grant, in file order, that lists <paramref name="target"/> and whose identity matches the token's
    /// claims (a JSON object). Null: refuse the connection (28000 "gatehouse: no grant").
    /// </summary>
    public Grant? FindGrant(JsonElement claims, string target)
    {
        foreach (var grant in Grants)
        {
            if (grant.HasTarget(target) && Identities.TryGetValue(grant.To, out var identity) && identity.Matches(claims))
            {
                return grant;
            }
        }

        return null;
    }

    /// <summary>Whether the token's claims match identity <paramref name="identityName"/> (e.g. the review approvers).</summary>
    public bool IsIdentity(JsonElement claims, string identityName) =>
        Identities.TryGetValue(identityName, out var identity) && identity.Matches(claims);

    /// <summary>First matching rule → its verdict; no match → allow, except class unknown → deny (rule "unknown-sql").</summary>
    public PolicyDecision Decide(Grant grant, StatementFacts facts) => PolicyEvaluator.Decide(grant, facts);

    /// <summary>
    /// One decision for an all-or-nothing batch: the first deny if any statement is denied; else the first review
    /// (the whole batch waits for that review); else allow. <see cref="PolicyDecision.StatementIndex"/> names the statement.
    /// </summary>
    public PolicyDecision DecideAll(Grant grant, IReadOnlyList<StatementFacts> statements) => PolicyEvaluator.DecideAll(grant, statements);
}
