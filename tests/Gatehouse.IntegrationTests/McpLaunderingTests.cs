using Npgsql;

namespace Gatehouse.IntegrationTests;

/// <summary>
/// Write laundering (copying a masked column into one that is not masked) is refused on the MCP door by the same
/// pipeline as on the wire: the same SQLSTATE and message, and nothing written.
/// </summary>
[Collection(McpCollection.Name)]
public sealed class McpLaunderingTests(McpFixture fixture)
{
    [Theory]
    [InlineData("UPDATE customers SET name = email WHERE id = 7")]
    [InlineData("UPDATE customers SET name = (SELECT c.ssn FROM customers c WHERE c.id = 8) WHERE id = 8")]
    [InlineData("INSERT INTO customers (id, name) SELECT 1000 + id, phone FROM customers WHERE id = 9")]
    public async Task A_write_of_masked_values_into_an_unmasked_column_is_refused_over_mcp_as_on_the_wire(string sql)
    {
        var gateway = fixture.Gateway;
        await using var connection = await gateway.OpenAsync();
        var wire = await Assert.ThrowsAsync<PostgresException>(() => new NpgsqlCommand(sql, connection).ExecuteNonQueryAsync());
        Assert.Equal("42501", wire.SqlState);
        Assert.StartsWith("gatehouse: denied by rule masking: a write in a statement that reads masked columns ", wire.MessageText, StringComparison.Ordinal);

        await using var client = await fixture.ClientAsync();
        var (result, json) = await McpFixture.QueryAsync(client, sql);
        Assert.True(result.IsError);
        var error = json.GetProperty("error");
        Assert.Equal((wire.SqlState, wire.MessageText), (error.GetProperty("sqlstate").GetString(), error.GetProperty("message").GetString()));

        Assert.Equal(0L, await gateway.Postgres.ScalarAsync<long>("SELECT count(*) FROM customers WHERE name LIKE '%@%' OR name LIKE '%-%' OR id > 1000", "shop"));
    }
}
