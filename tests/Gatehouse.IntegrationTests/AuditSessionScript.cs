using System.Text.Json;
using Npgsql;

namespace Gatehouse.IntegrationTests;

/// <summary>One Npgsql session's statements and what the trail must say of them, the same on either state store.</summary>
internal static class AuditSessionScript
{
    /// <summary>Extended protocol with a parameter, a denied statement, an error, then a write: the session stays usable throughout.</summary>
    public static async Task RunAsync(NpgsqlConnection connection)
    {
        await using (var select = new NpgsqlCommand("SELECT name FROM customers WHERE id = $1", connection) { Parameters = { new() { Value = 7 } } })
        {
            Assert.Equal("Customer 7", await select.ExecuteScalarAsync());
        }

        var denied = await Assert.ThrowsAsync<PostgresException>(() => new NpgsqlCommand("DROP TABLE orders", connection).ExecuteNonQueryAsync());
        Assert.Equal("42501", denied.SqlState);
        var failed = await Assert.ThrowsAsync<PostgresException>(() => new NpgsqlCommand("SELECT 1/0", connection).ExecuteScalarAsync());
        Assert.Equal("22012", failed.SqlState);
        await using var after = new NpgsqlCommand("UPDATE orders SET total = total WHERE id = 1", connection);
        Assert.Equal(1, await after.ExecuteNonQueryAsync());
    }

    /// <summary>A session summary's start names the token's identity (its hash, never the token) and the target.</summary>
    public static void AssertStartedBy(JsonElement session, string subject, string token)
    {
        var identity = session.GetProperty("start").GetProperty("identity");
        Assert.Equal(subject, identity.GetProperty("subject").GetString());
        Assert.Equal(Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(token))), identity.GetProperty("token_sha256").GetString());
        Assert.Equal(["ai-agents"], identity.GetProperty("groups").EnumerateArray().Select(g => g.GetString()));
        Assert.Equal(TestGateway.Target, session.GetProperty("start").GetProperty("target").GetString());
    }

    /// <summary>The decisions and outcomes <see cref="RunAsync"/> leaves in a session's detail (sessions show --json).</summary>
    public static void AssertRecorded(JsonElement detail)
    {
        var select = AuditCli.Statement(detail, "SELECT name FROM customers WHERE id = $1");
        Assert.Equal("allow", select.GetProperty("statement").GetProperty("decision").GetString());
        var outcome = Assert.Single(select.GetProperty("outcomes").EnumerateArray()).GetProperty("outcome");
        Assert.True(outcome.GetProperty("succeeded").GetBoolean());
        Assert.Equal(("SELECT 1", 1L), (outcome.GetProperty("command_tag").GetString(), outcome.GetProperty("rows").GetInt64()));
        // Npgsql binds an int in binary: the trail keeps binary values as hex.
        Assert.Equal(["\\x00000007"], outcome.GetProperty("parameters").EnumerateArray().Select(p => p.GetString()));

        var drop = AuditCli.Statement(detail, "DROP TABLE orders").GetProperty("statement");
        Assert.Equal(("deny", "no-ddl", "42501"), (drop.GetProperty("decision").GetString(), drop.GetProperty("rule").GetString(), drop.GetProperty("sql_state").GetString()));
        var division = Assert.Single(AuditCli.Statement(detail, "SELECT 1/0").GetProperty("outcomes").EnumerateArray()).GetProperty("outcome");
        Assert.Equal((false, "22012"), (division.GetProperty("succeeded").GetBoolean(), division.GetProperty("sql_state").GetString()));
        var update = Assert.Single(AuditCli.Statement(detail, "UPDATE orders SET total = total WHERE id = 1").GetProperty("outcomes").EnumerateArray());
        Assert.Equal("UPDATE 1", update.GetProperty("outcome").GetProperty("command_tag").GetString());
    }
}
