namespace Gatehouse.Sql.Tests;

public sealed class PlaceholdersTests
{
    [Theory]
    [InlineData("SELECT 1", 0)]
    [InlineData("SELECT $1, $3 FROM t WHERE a = $2", 3)]
    [InlineData("SELECT $10", 10)]
    [InlineData("SELECT '$5', $$ $6 $$, $tag$ $7 $tag$, \"$8\" -- $9\n, $1", 1)]
    [InlineData("SELECT /* $4 */ 1", 0)]
    [InlineData("SELECT $99999999999", Placeholders.Max)]
    public void The_highest_parameter_outside_literals_and_comments_counts(string sql, int expected) =>
        Assert.Equal(expected, Placeholders.Highest(sql));

    [Fact]
    public void A_backslash_quote_counts_under_either_reading_of_standard_conforming_strings() =>
        // With standard_conforming_strings off, 'a\' $2 ' is one literal; on, the literal ends at \' and $2 is a parameter.
        Assert.Equal(2, Placeholders.Highest("SELECT 'a\\' $2 '"));
}
