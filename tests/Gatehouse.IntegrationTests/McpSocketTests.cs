namespace Gatehouse.IntegrationTests;

/// <summary>The MCP door's Unix socket belongs to one gateway: a second one given the same state_dir does not take it.</summary>
public sealed class McpSocketTests
{
    [Fact]
    public async Task A_second_gateway_on_the_same_state_dir_does_not_start_and_leaves_the_first_s_MCP_door_working()
    {
        // QA: the second gateway deleted the first's socket at start (and again when it stopped), cutting the first's
        // MCP door off its wire door.
        string shared = Directory.CreateTempSubdirectory("gatehouse-shared-state-").FullName;
        try
        {
            await using var first = await TestGateway.StartAsync(new TestGatewayOptions { ExtraConfig = $"state_dir: {shared}\n" });
            var refused = await Assert.ThrowsAnyAsync<Exception>(() => TestGateway.StartAsync(new TestGatewayOptions { ExtraConfig = $"state_dir: {shared}\n" }));
            Assert.Contains("another gateway serves the MCP door's socket", refused.ToString(), StringComparison.Ordinal);

            await using var client = await McpFixture.ClientAsync(first, first.Token());
            var (result, json) = await McpFixture.QueryAsync(client, "SELECT 41 + 1 AS answer");
            Assert.True(result.IsError is not true, json.ToString());
            Assert.Equal("42", McpFixture.Rows(json)[0][0]);
        }
        finally
        {
            Directory.Delete(shared, recursive: true);
        }
    }
}
