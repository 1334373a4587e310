namespace Gatehouse.Sql.Tests;

/// <summary>The type names a reviewer reads for declared parameter types are the server's own.</summary>
[Collection("postgres")]
public sealed class TypeOidsTests(PostgresFixture fixture)
{
    [Fact]
    public async Task Every_named_oid_has_the_name_format_type_gives_it()
    {
        foreach (int oid in TypeOids.Named)
        {
            Assert.Equal(await fixture.Server.ScalarAsync<string>($"select format_type({oid}, null)"), TypeOids.Describe(oid));
        }
    }

    [Theory]
    [InlineData(0, "unspecified")]
    [InlineData(16412, "oid 16412")]
    [InlineData(-1, "oid 4294967295")]
    public void Other_oids_are_shown_as_numbers(int oid, string shown) => Assert.Equal(shown, TypeOids.Describe(oid));
}
