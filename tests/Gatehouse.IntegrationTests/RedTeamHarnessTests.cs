namespace Gatehouse.IntegrationTests;

/// <summary>
/// Checks the red team harness itself: every bypass row, sent straight to PostgreSQL as a role with set-up (b)'s
/// db_roles (no gateway), must show the effect it aims at — so a passing bypass row means Gatehouse stopped it, not
/// that the payload or the check was broken. Rows marked <see cref="RedTeamRow.NoEffectWithoutGateway"/> (controls, and
/// attacks on Gatehouse's own refusal) must show nothing without it.
/// </summary>
[Collection(RedTeamCollection.Name)]
public sealed class RedTeamHarnessTests(RedTeamFixture fixture)
{
    public static TheoryData<string> Rows()
    {
        var data = new TheoryData<string>();
        foreach (var row in RedTeamBypassTests.Rows)
        {
            data.Add(row.Id);
        }

        return data;
    }

    [Fact]
    public void Row_ids_are_unique_and_short_enough_to_show_whole()
    {
        var ids = RedTeamBypassTests.Rows.Concat(RedTeamFalsePositiveTests.Rows).Select(r => r.Id).ToList();
        Assert.Equal(ids.Count, ids.Distinct(StringComparer.Ordinal).Count());
        Assert.All(ids, id => Assert.True(id.Length <= RedTeamRunner.MaxIdLength, $"row id too long for a test name: {id}"));
    }

    [Theory]
    [MemberData(nameof(Rows))]
    public async Task Without_the_gateway_the_row_has_its_effect(string id)
    {
        var row = RedTeamBypassTests.Rows.Single(r => r.Id == id);
        var protocol = row.EachProtocol().First();
        var (problems, transcript) = await RedTeamBypassTests.RunAsync(fixture, row, RedTeamSetup.Power, protocol, direct: true);
        if (row.NoEffectWithoutGateway)
        {
            Assert.True(problems.Count == 0, $"{id} had an effect even without Gatehouse: {string.Join("\n", problems)}\n{transcript}");
        }
        else
        {
            Assert.True(problems.Count > 0, $"{id} had no effect when sent straight to PostgreSQL: the payload or the check is broken\n{transcript}");
        }
    }
}
