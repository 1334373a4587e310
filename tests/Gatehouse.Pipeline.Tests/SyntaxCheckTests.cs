using Gatehouse.Pipeline;

namespace Gatehouse.Pipeline.Tests;

public sealed class SyntaxCheckTests
{
    [Fact]
    public void Text_the_server_would_lex_for_minutes_is_not_sent_to_it()
    {
        Assert.True(UpstreamSyntaxCheck.Checkable("SELEC 1 /* a */ /* b */"));
        Assert.True(UpstreamSyntaxCheck.Checkable(string.Concat(Enumerable.Repeat("/*", UpstreamSyntaxCheck.MaxCommentOpeners)) + " x"));
        // A red team kept superuser backends busy for minutes with nested comments: the lexer is quadratic in them.
        Assert.False(UpstreamSyntaxCheck.Checkable(string.Concat(Enumerable.Repeat("/*", 30_000)) + string.Concat(Enumerable.Repeat("*/", 30_000)) + " SELEC 1"));
        Assert.False(UpstreamSyntaxCheck.Checkable(new string('x', UpstreamSyntaxCheck.MaxChars + 1)));
    }
}
