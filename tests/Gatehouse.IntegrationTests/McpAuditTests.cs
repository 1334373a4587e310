using System.Text.Json;
using Gatehouse.State;

namespace Gatehouse.IntegrationTests;

/// <summary>The audit trail names the front door: MCP calls are sessions with front_door "mcp" and the token's identity.</summary>
[Collection(McpCollection.Name)]
public sealed class McpAuditTests(McpFixture fixture)
{
    [Fact]
    public async Task Mcp_sessions_are_recorded_with_their_front_door_and_identity()
    {
        string subject = "audited-" + Guid.NewGuid().ToString("N")[..8];
        string token = fixture.Gateway.Token(subject);
        await using (var client = await fixture.ClientAsync(token))
        {
            var (result, json) = await McpFixture.QueryAsync(client, "SELECT 'mcp-audit-marker' AS marker");
            Assert.False(result.IsError, json.ToString());
        }

        await using (var wire = await fixture.Gateway.OpenAsync(token, ssl: false))
        {
            await using var command = new Npgsql.NpgsqlCommand("SELECT 'wire-audit-marker'", wire);
            await command.ExecuteScalarAsync();
        }

        // The store has a record within AuditTrail.LazyFlush of its journal write: poll for both markers.
        var opened = StateStore.Open(fixture.Gateway.Config.State, new StateStoreOptions());
        Assert.True(opened.Success, opened.Error);
        await using var store = opened.Store;
        var doors = new Dictionary<string, string>(); // session id → front door, for this subject
        var clients = new Dictionary<string, string?>(); // session id → recorded client address
        var statements = new List<(string Session, string Sql)>();
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (true)
        {
            doors.Clear();
            clients.Clear();
            statements.Clear();
            await foreach (var row in store.Audit.ReadAsync(new AuditQuery(Since: DateTimeOffset.UtcNow.AddMinutes(-10)), CancellationToken.None))
            {
                using var body = JsonDocument.Parse(row.Body);
                if (row.Kind == "session.start" && body.RootElement.GetProperty("identity").GetProperty("subject").GetString() == subject)
                {
                    doors[row.SessionId!] = body.RootElement.GetProperty("front_door").GetString()!;
                    clients[row.SessionId!] = body.RootElement.TryGetProperty("client", out var client) ? client.GetString() : null;
                }
                else if (row.Kind == "statement" && row.SessionId is { } id && body.RootElement.TryGetProperty("sql", out var sql))
                {
                    statements.Add((id, sql.GetString()!));
                }
            }

            if (statements.Any(s => s.Sql.Contains("wire-audit-marker", StringComparison.Ordinal)) || DateTime.UtcNow > deadline)
            {
                break;
            }

            await Task.Delay(50);
        }

        Assert.Contains("mcp", doors.Values);
        Assert.Contains("wire", doors.Values);

        // An MCP session's client is the agent's HTTP address, not the door's private Unix socket.
        foreach (var (session, door) in doors.Where(d => d.Value == "mcp"))
        {
            Assert.True(System.Net.IPAddress.TryParse(clients[session], out var address) && System.Net.IPAddress.IsLoopback(address), $"client of {session}: '{clients[session]}'");
        }

        Assert.Contains(statements, s => doors.GetValueOrDefault(s.Session) == "mcp" && s.Sql.Contains("mcp-audit-marker", StringComparison.Ordinal));
        Assert.Contains(statements, s => doors.GetValueOrDefault(s.Session) == "wire" && s.Sql.Contains("wire-audit-marker", StringComparison.Ordinal));
    }
}
