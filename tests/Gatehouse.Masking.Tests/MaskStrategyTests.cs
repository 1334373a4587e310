namespace Gatehouse.Masking.Tests;

public sealed class MaskStrategyTests
{
    [Theory]
    [InlineData("redact", MaskKind.Redact)]
    [InlineData("null", MaskKind.Null)]
    [InlineData("email", MaskKind.Email)]
    [InlineData("last4", MaskKind.Last4)]
    [InlineData("hash", MaskKind.Hash)]
    [InlineData("fake", MaskKind.Fake)]
    [InlineData(" hash ", MaskKind.Hash)]
    public void Simple_spellings_parse_to_shared_instances(string text, MaskKind kind)
    {
        Assert.True(MaskStrategy.TryParse(text, out var s, out var error));
        Assert.Null(error);
        Assert.Equal(kind, s!.Kind);
        Assert.Same(s, MaskStrategy.TryParse(text, out var again, out _) ? again : null);
        Assert.Equal(text.Trim(), s.ToString());
    }

    [Theory]
    [InlineData("partial(2,4)", 2, 4)]
    [InlineData("partial( 0 , 0 )", 0, 0)]
    [InlineData("partial (64,64)", 64, 64)]
    [InlineData("partial(1, 3)", 1, 3)]
    public void Partial_parses_its_numbers(string text, int first, int last)
    {
        Assert.True(MaskStrategy.TryParse(text, out var s, out var error), error);
        Assert.Equal(new MaskStrategy(MaskKind.Partial, first, last), s);
        Assert.Equal($"partial({first},{last})", s!.ToString());
    }

    [Theory]
    [InlineData("partial(65,1)", "first must be a whole number from 0 to 64")]
    [InlineData("partial(1,-1)", "last must be a whole number from 0 to 64")]
    [InlineData("partial(1)", "partial needs two numbers")]
    [InlineData("partial(a,b)", "first must be")]
    [InlineData("partial(1,2", "partial needs two numbers")]
    [InlineData("partial(1,2,3)", "last must be")]
    [InlineData("partial(+1,2)", "first must be")]
    [InlineData("partial(001,2)", "first must be")]
    [InlineData("partial", "partial needs two numbers")]
    [InlineData("Redact", "unknown masking function 'Redact'")]
    [InlineData("", "unknown masking function ''")]
    [InlineData("sha256", "unknown masking function 'sha256'")]
    public void Bad_spellings_are_refused_with_a_reason(string text, string error)
    {
        Assert.False(MaskStrategy.TryParse(text, out var s, out var message));
        Assert.Null(s);
        Assert.Contains(error, message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData('"')]
    [InlineData('\\')]
    [InlineData(',')]
    [InlineData('{')]
    [InlineData(')')]
    [InlineData('<')]
    [InlineData(' ')]
    [InlineData('é')]
    public void Fills_that_could_break_a_container_are_refused(char fill)
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new MaskStrategy(MaskKind.Partial, 1, 1, fill));
        Assert.Throws<ArgumentOutOfRangeException>(() => new MaskStrategy(MaskKind.Partial, 1, 1) with { Fill = fill });
    }

    [Fact]
    public void Keep_counts_are_checked_in_code_too()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new MaskStrategy(MaskKind.Partial, 65, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => new MaskStrategy(MaskKind.Partial, 1, 1) with { KeepLast = -1 });
        Assert.Equal("partial(1,2,'#')", new MaskStrategy(MaskKind.Partial, 1, 2, '#').ToString());
    }
}
