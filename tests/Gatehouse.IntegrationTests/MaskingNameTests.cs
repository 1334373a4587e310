using System.Text;

namespace Gatehouse.IntegrationTests;

/// <summary>
/// Names the extended protocol refers to (statements, portals) that Gatehouse did not see made by Parse and Bind: a
/// SQL PREPAREd statement, a DECLAREd or PL/pgSQL cursor, a name redefined after DEALLOCATE. Bound or executed at the
/// protocol level they would run without the facts masking needs, so they are refused as not existing (26000, 34000),
/// and the session goes on. Found by a red team: before, each of these returned raw values.
/// </summary>
[Collection(MaskingCollection.Name)]
public sealed class MaskingNameTests(MaskingFixture fixture)
{
    private static string Text(IEnumerable<WireReply> replies) => string.Join('\n', replies.Select(r => Encoding.UTF8.GetString(r.Payload)));

    private static string Shape(IEnumerable<WireReply> replies) => string.Join(' ', replies);

    /// <summary>No raw value of the fixture's masked columns in anything the client received (also MaskingSideChannelTests).</summary>
    internal static void AssertNoRawValue(IEnumerable<WireReply> replies) =>
        AssertNoRawValue(replies, MaskingFixture.Needles(MaskGrant.Columns).Select(n => (n.What, n.Text)));

    /// <summary>None of <paramref name="needles"/> (raw values, or pieces a mask hides) in anything the client received.</summary>
    internal static void AssertNoRawValue(IEnumerable<WireReply> replies, IEnumerable<(string What, string Text)> needles)
    {
        string text = Text(replies);
        foreach (var needle in needles)
        {
            Assert.False(text.Contains(needle.Text, StringComparison.Ordinal), $"{needle.What} reached the client: {text}");
        }
    }

    private async Task<WireClient> ConnectAsync() => await WireClient.ConnectAsync(fixture.Port, "agent", fixture.Token(MaskGrant.Columns));

    [Fact]
    public async Task A_SQL_prepared_statement_bound_at_the_protocol_level_is_refused_and_EXECUTE_still_masks()
    {
        await using var client = await ConnectAsync();
        Assert.Equal("C Z", Shape(await client.Query("PREPARE s AS SELECT email, ssn, lower(email) FROM customers WHERE id = 1").RoundTripAsync()));

        var bound = await client.Bind("", "s").Execute("").Sync().RoundTripAsync();
        Assert.Equal("E(26000) Z", Shape(bound));
        Assert.Contains("was not prepared by a Parse through Gatehouse", bound[0].Error.Message, StringComparison.Ordinal);
        AssertNoRawValue(bound);

        var executed = await client.Query("EXECUTE s").RoundTripAsync();
        Assert.Equal("T D C Z", Shape(executed));
        AssertNoRawValue(executed);
    }

    [Fact]
    public async Task A_name_redefined_by_SQL_after_a_protocol_Parse_is_forgotten()
    {
        await using var client = await ConnectAsync();
        Assert.Equal("1 Z", Shape(await client.Parse("x", "SELECT 1::text AS a, 2::text AS b").Sync().RoundTripAsync()));
        Assert.Equal("C Z", Shape(await client.Query("DEALLOCATE x").RoundTripAsync()));
        Assert.Equal("C Z", Shape(await client.Query("PREPARE x AS SELECT email, lower(email) FROM customers WHERE id = 1").RoundTripAsync()));

        var bound = await client.Describe('S', "x").Bind("", "x").Describe('P', "").Execute("").Sync().RoundTripAsync();
        Assert.Contains(bound, r => r.Type == 'E' && r.Error.SqlState == "26000");
        AssertNoRawValue(bound);

        // A statement Parsed anew under the name is known again, and masked.
        Assert.Equal("C Z", Shape(await client.Query("DEALLOCATE x").RoundTripAsync()));
        var parsed = await client.Parse("x", "SELECT email FROM customers WHERE id = 1").Bind("", "x").Describe('P', "").Execute("").Sync().RoundTripAsync();
        Assert.Equal("1 2 T D C Z", Shape(parsed));
        AssertNoRawValue(parsed);
    }

    [Fact]
    public async Task Names_longer_than_63_bytes_are_the_server_s_names_their_first_63_bytes()
    {
        // The server keys statements and portals by their first 63 bytes; a red team closed and re-parsed one under
        // another long name and bound it under a third, whose facts (no masked table) then went with its rows.
        string stem = new('M', 63);
        await using var client = await ConnectAsync();
        Assert.Equal("1 Z", Shape(await client.Parse(stem + "Y", "SELECT 'x'::text AS a, 'y'::text AS b").Sync().RoundTripAsync()));
        Assert.Equal("E(42P05) Z", Shape(await client.Parse(stem + "X", "SELECT 1").Sync().RoundTripAsync()));
        Assert.Equal("3 Z", Shape(await client.Close('S', stem + "Z").Sync().RoundTripAsync()));
        Assert.Equal("1 Z", Shape(await client.Parse(stem + "X", "SELECT upper(email) AS a, ssn || '' AS b FROM customers WHERE id <= 3").Sync().RoundTripAsync()));
        var bound = await client.Bind("", stem + "Y").Describe('P', "").Execute("").Sync().RoundTripAsync();
        Assert.Equal("2 T D D D C Z", Shape(bound));
        AssertNoRawValue(bound);

        // Portals the same way, inside a transaction.
        Assert.Equal("C Z", Shape(await client.Query("BEGIN").RoundTripAsync()));
        string portal = new('Q', 63);
        Assert.Equal("1 2 Z", Shape(await client.Parse("harmless", "SELECT 'x'::text AS a").Bind(portal + "Y", "harmless").Sync().RoundTripAsync()));
        Assert.Equal("3 Z", Shape(await client.Close('P', portal + "Z").Sync().RoundTripAsync()));
        Assert.Equal("1 2 Z", Shape(await client.Parse("masked", "SELECT upper(email) AS a FROM customers WHERE id <= 3").Bind(portal + "X", "masked").Sync().RoundTripAsync()));
        var executed = await client.Describe('P', portal + "Y").Execute(portal + "Y").Sync().RoundTripAsync();
        AssertNoRawValue(executed);
        Assert.Contains(executed, r => r.Type == 'D');
        Assert.Equal("C Z", Shape(await client.Query("ROLLBACK").RoundTripAsync()));
    }

    [Fact]
    public async Task A_statement_or_portal_name_with_a_non_ASCII_byte_is_refused_and_the_session_goes_on()
    {
        await using var client = await ConnectAsync();
        var parsed = await client.Parse("caf\u00e9", "SELECT 1").Sync().RoundTripAsync();
        Assert.Equal("E(42602) Z", Shape(parsed));
        Assert.Equal("1 E(42602) Z", Shape(await client.Parse("s", "SELECT 1").Bind("p\u00e9", "s").Sync().RoundTripAsync()));
        Assert.Equal("T D C Z", Shape(await client.Query("SELECT 1").RoundTripAsync()));
    }

    [Fact]
    public async Task A_Parse_of_a_name_that_exists_is_refused_and_the_name_keeps_its_statement()
    {
        // A red team made a statement held for review run unreviewed this way: the second Parse, which the server
        // refuses, used to replace what Gatehouse knew of the name.
        await using var client = await ConnectAsync();
        Assert.Equal("1 Z", Shape(await client.Parse("s", "SELECT email FROM customers WHERE id = 1").Sync().RoundTripAsync()));
        var again = await client.Parse("s", "SELECT 1").Sync().RoundTripAsync();
        Assert.Equal("E(42P05) Z", Shape(again));
        var bound = await client.Bind("", "s").Describe('P', "").Execute("").Sync().RoundTripAsync();
        Assert.Equal("2 T D C Z", Shape(bound));
        AssertNoRawValue(bound);
    }

    [Fact]
    public async Task A_protocol_statement_closed_and_then_bound_is_refused_as_PostgreSQL_refuses_it()
    {
        await using var client = await ConnectAsync();
        Assert.Equal("1 2 D C 3 Z", Shape(await client.Parse("c1", "SELECT 1").Bind("", "c1").Execute("").Close('S', "c1").Sync().RoundTripAsync()));
        Assert.Equal("E(26000) Z", Shape(await client.Bind("", "c1").Execute("").Sync().RoundTripAsync()));
        Assert.Equal("1 2 D C Z", Shape(await client.Parse("c1", "SELECT 1").Bind("", "c1").Execute("").Sync().RoundTripAsync()));
    }

    [Fact]
    public async Task A_portal_its_transaction_destroyed_is_not_known_when_a_cursor_takes_its_name()
    {
        await using var client = await ConnectAsync();

        // A named portal read in parts across Syncs inside a transaction, as JDBC's fetch size does, keeps working.
        Assert.Equal("C Z", Shape(await client.Query("BEGIN").RoundTripAsync()));
        Assert.Equal("1 2 D D s Z", Shape(await client.Parse("five", "SELECT generate_series(1, 5)").Bind("customer_cursor", "five").Execute("customer_cursor", 2).Sync().RoundTripAsync()));
        Assert.Equal("D D s Z", Shape(await client.Execute("customer_cursor", 2).Sync().RoundTripAsync()));
        Assert.Equal("C Z", Shape(await client.Query("COMMIT").RoundTripAsync()));

        // Its transaction ended, so the server destroyed it; a PL/pgSQL cursor of that name is another portal.
        Assert.Equal("C Z", Shape(await client.Query("BEGIN").RoundTripAsync()));
        AssertNoRawValue(await client.Query("SELECT open_customer_cursor()").RoundTripAsync());
        var executed = await client.Execute("customer_cursor").Sync().RoundTripAsync();
        Assert.Equal("E(34000) Z", Shape(executed));
        AssertNoRawValue(executed);
        Assert.Equal("C Z", Shape(await client.Query("ROLLBACK").RoundTripAsync()));
    }

    [Fact]
    public async Task A_portal_whose_Bind_the_server_refused_does_not_run_a_cursor_of_its_name_with_its_facts()
    {
        await using var client = await ConnectAsync();
        Assert.Equal("C Z", Shape(await client.Query("BEGIN").RoundTripAsync()));
        AssertNoRawValue(await client.Query("SELECT open_customer_cursor()").RoundTripAsync());
        Assert.Equal("C Z", Shape(await client.Query("SAVEPOINT before_bind").RoundTripAsync()));

        // The server refuses the Bind (a cursor of that name exists); the savepoint brings the transaction back.
        var bound = await client.Parse("one", "SELECT 1::text AS e").Bind("customer_cursor", "one").Sync().RoundTripAsync();
        Assert.Equal("1 E(42P03) Z", Shape(bound));
        Assert.Equal("C Z", Shape(await client.Query("ROLLBACK TO SAVEPOINT before_bind").RoundTripAsync()));

        // An Execute of the name runs the PL/pgSQL cursor: its rows are refused, not masked by the refused Bind's facts.
        var executed = await client.Execute("customer_cursor").Sync().RoundTripAsync();
        AssertNoRawValue(executed);
        Assert.Contains(executed, r => r.Type == 'E');
        Assert.Equal("C Z", Shape(await client.Query("ROLLBACK").RoundTripAsync()));
    }

    [Fact]
    public async Task A_Parse_the_server_refused_does_not_lend_its_facts_to_the_SQL_statement_of_that_name()
    {
        await using var client = await ConnectAsync();
        Assert.Equal("1 Z", Shape(await client.Parse("x", "SELECT 1::text AS e").Sync().RoundTripAsync()));
        Assert.Equal("C Z", Shape(await client.Query("DEALLOCATE x").RoundTripAsync()));
        Assert.Equal("C Z", Shape(await client.Query("PREPARE x AS SELECT lower(email) AS e, ssn FROM customers").RoundTripAsync()));

        // The server would refuse this Parse (x exists, the SQL one) and bind its own x: Gatehouse refuses it first.
        var parsed = await client.Parse("x", "SELECT 1::text AS e").Sync().RoundTripAsync();
        Assert.Equal("E(42P05) Z", Shape(parsed));
        Assert.StartsWith("gatehouse: prepared statement \"x\" already exists", parsed[0].Error.Message, StringComparison.Ordinal);
        var bound = await client.Bind("", "x").Describe('P', "").Execute("").Sync().RoundTripAsync();
        AssertNoRawValue(bound);
        Assert.Contains(bound, r => r.Type == 'E');
    }

    [Theory]
    [InlineData("DECLARE cc CURSOR FOR SELECT email, ssn, lower(email) FROM customers", "cc")]
    [InlineData("SELECT open_customer_cursor()", "customer_cursor")]
    public async Task A_SQL_or_PLpgSQL_cursor_executed_at_the_protocol_level_is_refused_and_FETCH_still_masks(string open, string cursor)
    {
        await using var client = await ConnectAsync();
        Assert.Equal("C Z", Shape(await client.Query("BEGIN").RoundTripAsync()));
        AssertNoRawValue(await client.Query(open).RoundTripAsync());

        var executed = await client.Execute(cursor).Sync().RoundTripAsync();
        Assert.Equal("E(34000) Z", Shape(executed));
        Assert.Contains("was not bound by a Bind through Gatehouse", executed[0].Error.Message, StringComparison.Ordinal);
        AssertNoRawValue(executed);

        Assert.Equal("C Z", Shape(await client.Query("ROLLBACK").RoundTripAsync()));
        Assert.Equal("T D C Z", Shape(await client.Query("SELECT 1").RoundTripAsync()));
    }
}
