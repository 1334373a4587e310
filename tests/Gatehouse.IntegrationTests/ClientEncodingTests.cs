using System.Text;

namespace Gatehouse.IntegrationTests;

/// <summary>
/// Text in a client encoding other than UTF-8 is read as the server reads it: a LATIN1 name is the name a rule
/// gives (read as UTF-8, every non-ASCII byte was one replacement character, so distinct names were one and none
/// matched the rule), and while client_encoding may be changing, non-ASCII text waits.
/// </summary>
public sealed class ClientEncodingTests
{
    private const string Policy = """
        identities:
          coding-agents: { claims: { groups: ai-agents } }
        grants:
          - to: coding-agents
            targets: [shop]
            db_roles: [app_read, app_write]
            rules:
              - { id: no-cafe, when: { tables: ["public.café"] }, then: deny }
        """;

    private static byte[] Latin1(string text) => Encoding.Latin1.GetBytes(text);

    [Fact]
    public async Task A_rule_on_a_non_ASCII_table_holds_in_a_LATIN1_session_and_text_waits_while_the_encoding_changes()
    {
        await using var gateway = await TestGateway.StartAsync(new TestGatewayOptions
        {
            Policy = Policy,
            ExtraSchema = "CREATE TABLE \"café\" (id int); CREATE TABLE \"cafè\" (id int); GRANT SELECT ON \"café\", \"cafè\" TO app_read;",
        });
        await using var client = await WireClient.ConnectAsync(gateway.Port, "agent", gateway.Token());
        Assert.Contains(await client.Query("SET client_encoding = 'LATIN1'").RoundTripAsync(), r => r.Type == 'C');

        var denied = Assert.Single(await client.Query(Latin1("SELECT count(*) FROM \"café\"")).RoundTripAsync(), r => r.Type == 'E').Error;
        Assert.Equal("42501", denied.SqlState);
        Assert.Contains("no-cafe", denied.Message, StringComparison.Ordinal);
        Assert.Contains(await client.Query(Latin1("SELECT count(*) FROM \"cafè\"")).RoundTripAsync(), r => r.Type == 'D');

        // Pipelined after a change of client_encoding, before the server is idle again: refused, the session goes on.
        client.Query("SET client_encoding = 'UTF8'").Query(Latin1("SELECT 'é'"));
        var pipelined = await client.RoundTripAsync();
        pipelined.AddRange(await client.RoundTripAsync());
        var waited = Assert.Single(pipelined, r => r.Type == 'E').Error;
        Assert.Equal("22021", waited.SqlState);
        Assert.Contains(await client.Query("SELECT 'é'").RoundTripAsync(), r => r.Type == 'D');
        Assert.Equal("42501", Assert.Single(await client.Query("SELECT count(*) FROM \"café\"").RoundTripAsync(), r => r.Type == 'E').Error.SqlState);
    }

    [Fact]
    public async Task An_earlier_request_s_ReadyForQuery_does_not_settle_a_later_change_of_encoding()
    {
        // A red team pipelined "select 1" and "SET client_encoding TO 'LATIN1'; select pg_sleep(…)": the first
        // ReadyForQuery cleared the guard while the SET was still running, and LATIN1 text read as UTF-8 got past the rule.
        await using var gateway = await TestGateway.StartAsync(new TestGatewayOptions
        {
            Policy = Policy,
            ExtraSchema = "CREATE TABLE \"café\" (id int); GRANT SELECT ON \"café\" TO app_read;",
        });
        await using var client = await WireClient.ConnectAsync(gateway.Port, "agent", gateway.Token());
        client.Query("SELECT 1").Query("SET client_encoding TO 'LATIN1'; SELECT pg_sleep(1)");
        var first = await client.RoundTripAsync();
        Assert.Contains(first, r => r.Type == 'D');
        var sneaked = await client.Query(Latin1("SELECT count(*) FROM \"café\"")).RoundTripAsync();
        var second = await client.RoundTripAsync();
        var all = first.Concat(sneaked).Concat(second).ToList();
        Assert.DoesNotContain(sneaked.Concat(second), r => r.Type == 'D' && r.FirstValue() == "0");
        Assert.Contains(all, r => r.Type == 'E' && r.Error.SqlState is "22021" or "42501");
        Assert.Equal("42501", Assert.Single(await client.Query(Latin1("SELECT count(*) FROM \"café\"")).RoundTripAsync(), r => r.Type == 'E').Error.SqlState);
    }
}
