using System.Text.Json;
using Npgsql;

namespace Gatehouse.IntegrationTests;

/// <summary>
/// One table of denied and masked cases through both front doors: Npgsql on the wire, and the MCP query tool. Each
/// case must give the same decision (SQLSTATE and message) or the same values, masked alike.
/// </summary>
[Collection(McpCollection.Name)]
public sealed class McpParityTests(McpFixture fixture)
{
    private static readonly string[] CaseList =
    [
        "SELECT id, name, email, ssn, phone FROM customers WHERE id <= 3 ORDER BY id",
        "SELECT email AS contact, ssn AS tax_id FROM customers WHERE id = 5",
        "SELECT * FROM customers WHERE id = 9",
        "SELECT lower(email) FROM customers WHERE id = 2",
        "SELECT c.email, o.total FROM customers c JOIN orders o ON o.customer_id = c.id ORDER BY o.id LIMIT 3",
        "SELECT name FROM customers WHERE id = 1",
        "SELECT count(*) FROM orders",
        "DROP TABLE orders",
        "GRANT SELECT ON customers TO PUBLIC",
        "SELECT pg_read_file('/etc/passwd')",
        "DELETE FROM payments",
        "UPDATE payments SET amount = 0",
        "SELEC name FROM customers",
        "SELECT no_such_column FROM customers",
    ];

    public static TheoryData<string> Cases => new(CaseList);

    private sealed record Outcome(string? SqlState, string? Message, List<string?[]> Rows)
    {
        public override string ToString() => SqlState is null
            ? string.Join(" | ", Rows.Select(r => string.Join(", ", r.Select(v => v ?? "NULL"))))
            : $"{SqlState}: {Message}";
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task Both_front_doors_decide_and_mask_alike(string sql)
    {
        string token = fixture.Gateway.Token("parity-agent");
        var wire = await WireAsync(token, sql);
        var mcp = await McpAsync(token, sql);
        Assert.Equal(wire.ToString(), mcp.ToString());
    }

    [Fact]
    public async Task The_table_holds_denied_and_masked_cases()
    {
        // The parity table is only worth something if it has both kinds of case in it.
        string token = fixture.Gateway.Token("parity-agent");
        var outcomes = new List<Outcome>();
        foreach (var sql in CaseList)
        {
            outcomes.Add(await WireAsync(token, sql));
        }

        Assert.True(outcomes.Count(o => o.Message?.StartsWith("gatehouse: denied by rule", StringComparison.Ordinal) == true) >= 4);
        Assert.Contains(outcomes, o => o.Rows.Any(r => r.Any(v => v is not null && v.Contains("@example.com", StringComparison.Ordinal) && !v.StartsWith("customer", StringComparison.Ordinal))));
    }

    private async Task<Outcome> WireAsync(string token, string sql)
    {
        await using var connection = await fixture.Gateway.OpenAsync(token, ssl: false);
        await using var command = new NpgsqlCommand(sql, connection) { AllResultTypesAreUnknown = true };
        try
        {
            await using var reader = await command.ExecuteReaderAsync();
            var rows = new List<string?[]>();
            while (await reader.ReadAsync())
            {
                rows.Add([.. Enumerable.Range(0, reader.FieldCount).Select(i => reader.IsDBNull(i) ? null : reader.GetString(i))]);
            }

            return new Outcome(null, null, rows);
        }
        catch (PostgresException ex)
        {
            return new Outcome(ex.SqlState, ex.MessageText, []);
        }
    }

    private async Task<Outcome> McpAsync(string token, string sql)
    {
        await using var client = await fixture.ClientAsync(token);
        var (result, json) = await McpFixture.QueryAsync(client, sql);
        if (result.IsError == true)
        {
            var error = json.GetProperty("error");
            return new Outcome(error.GetProperty("sqlstate").GetString(), error.GetProperty("message").GetString(), []);
        }

        var results = json.GetProperty("results");
        return new Outcome(null, null, results.GetArrayLength() == 0 ? [] : McpFixture.Rows(json));
    }
}
