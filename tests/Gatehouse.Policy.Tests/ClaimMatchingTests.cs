namespace Gatehouse.Policy.Tests;

public class ClaimMatchingTests
{
    private const string Policy = """
        identities:
          agents: { claims: { groups: ai-agents } }
          seniors: { claims: { level: 3, admin: true } }
          team-a: { claims: { groups: ai-agents, team: a } }
          numbered: { claims: { ids: 42 } }
        grants:
          - { to: team-a, targets: [orders], db_roles: [team_a] }
          - { to: agents, targets: [orders, billing], db_roles: [agent] }
          - { to: seniors, targets: [orders], db_roles: [senior] }
          - { to: numbered, targets: [lab], db_roles: [lab] }
        """;

    private static readonly PolicySnapshot Snapshot = PolicyLoader.Parse(Policy, "claims.yaml").Snapshot!;

    [Theory]
    [InlineData("""{"groups":"ai-agents"}""", "orders", "agent")]
    [InlineData("""{"groups":["x","ai-agents"]}""", "orders", "agent")]
    [InlineData("""{"groups":["ai-agents"],"team":"a"}""", "orders", "team_a")]
    [InlineData("""{"groups":"ai-agents","team":"b"}""", "orders", "agent")]
    [InlineData("""{"groups":"ai-agents"}""", "billing", "agent")]
    [InlineData("""{"level":3,"admin":true}""", "orders", "senior")]
    [InlineData("""{"level":"3","admin":"true"}""", "orders", "senior")]
    [InlineData("""{"ids":[1,42]}""", "lab", "lab")]
    public void Matching_claims_find_the_first_grant_in_file_order(string claims, string target, string role)
    {
        var grant = Snapshot.FindGrant(Support.Claims(claims), target);

        Assert.NotNull(grant);
        Assert.Equal(role, Assert.Single(grant.DbRoles));
    }

    [Theory]
    [InlineData("""{"groups":"ai-agent"}""", "orders")]
    [InlineData("""{"groups":"AI-AGENTS"}""", "orders")]
    [InlineData("""{"groups":["x"]}""", "orders")]
    [InlineData("""{"groups":"ai-agents"}""", "lab")]
    [InlineData("""{"level":3}""", "orders")]
    [InlineData("""{"level":3.0,"admin":true}""", "orders")]
    [InlineData("""{"level":3,"admin":false}""", "orders")]
    [InlineData("""{"groups":{"name":"ai-agents"}}""", "orders")]
    [InlineData("""{"groups":[["ai-agents"]]}""", "orders")]
    [InlineData("""{"groups":null}""", "orders")]
    [InlineData("""{}""", "orders")]
    [InlineData("""["ai-agents"]""", "orders")]
    public void Missing_nested_or_different_claims_never_match(string claims, string target)
    {
        Assert.Null(Snapshot.FindGrant(Support.Claims(claims), target));
    }

    [Fact]
    public void Targets_are_exact()
    {
        Assert.Null(Snapshot.FindGrant(Support.Claims("""{"groups":"ai-agents"}"""), "Orders"));
    }

    [Fact]
    public void IsIdentity_checks_one_named_identity()
    {
        Assert.True(Snapshot.IsIdentity(Support.Claims("""{"groups":["ai-agents"]}"""), "agents"));
        Assert.False(Snapshot.IsIdentity(Support.Claims("""{"groups":["ai-agents"]}"""), "seniors"));
        Assert.False(Snapshot.IsIdentity(Support.Claims("""{"groups":["ai-agents"]}"""), "nobody"));
    }
}
