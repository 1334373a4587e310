using System.Text;

namespace Gatehouse.Credentials.Tests;

public class RoleNameTests
{
    [Theory]
    [InlineData("alice", "alice")]
    [InlineData("CI Bot #7", "ci_bot_7")]
    [InlineData("agent@example.com", "agent_example_com")]
    [InlineData("Ünïcödé", "n_c_d")]
    [InlineData("\"; DROP ROLE x; --", "drop_role_x")]
    [InlineData("日本", "x")]
    public void Slug_keeps_lowercase_letters_digits_and_single_underscores(string subject, string slug)
    {
        Assert.Equal(slug, RoleNames.Slug(subject, 49));
    }

    [Fact]
    public void Names_fit_in_63_bytes_and_match_the_lease_pattern()
    {
        var name = RoleNames.Create(new string('a', 500) + "@example.com");

        Assert.True(Encoding.UTF8.GetByteCount(name) <= 63);
        Assert.StartsWith("gh_aaaa", name);
        Assert.True(RoleNames.IsLeaseName(name));
        Assert.NotEqual(name, RoleNames.Create(new string('a', 500) + "@example.com"));
    }

    [Theory]
    [InlineData("gh_alice")]
    [InlineData("gh_alice_ABCDEFGHIJ")]
    [InlineData("app_read")]
    [InlineData("gh_alice_abcdefghi")]
    public void Other_names_are_not_lease_names(string name)
    {
        Assert.False(RoleNames.IsLeaseName(name));
    }

    [Fact]
    public void Identifiers_and_literals_are_quoted()
    {
        Assert.Equal("\"app\"\"read\"", RoleNames.QuoteIdentifier("app\"read"));
        Assert.Equal("'it''s'", RoleNames.QuoteLiteral("it's"));
        Assert.Throws<ArgumentException>(() => RoleNames.QuoteLiteral("a\\b"));
        Assert.Throws<ArgumentException>(() => RoleNames.QuoteIdentifier(""));
    }

    [Fact]
    public void Passwords_are_32_random_bytes_base64url()
    {
        var a = RoleNames.NewPassword();

        Assert.Equal(43, a.Length);
        Assert.DoesNotContain('+', a);
        Assert.DoesNotContain('/', a);
        Assert.NotEqual(a, RoleNames.NewPassword());
    }

    [Fact]
    public void Login_ToString_never_shows_the_password()
    {
        var login = new UpstreamLogin("gh_a_0123456789", "s3cret", null, null);

        Assert.DoesNotContain("s3cret", login.ToString(), StringComparison.Ordinal);
    }
}
