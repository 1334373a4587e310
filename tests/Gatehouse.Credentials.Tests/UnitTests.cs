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

public sealed class LeaseStoreTests : IAsyncDisposable
{
    private readonly BrokerHarness _harness = new();

    [Fact]
    public async Task Rows_round_trip_and_expire()
    {
        var store = _harness.Store;
        var now = DateTimeOffset.FromUnixTimeMilliseconds(DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
        await store.InsertAsync(new LeaseRecord("gh_a_0123456789", "orders", "a", ["app_read"], "i1", now, now.AddMinutes(1)), default);

        Assert.Empty(await store.ExpiredAsync("orders", now, default));
        var expired = Assert.Single(await store.ExpiredAsync("orders", now.AddMinutes(1), default));
        Assert.Equal(["app_read"], expired.DbRoles);
        Assert.Equal("i1", expired.InstanceId);
        Assert.True(await store.HasRoleAsync("gh_a_0123456789", default));
    }

    [Fact]
    public async Task Only_one_claim_wins_and_a_renewal_defeats_a_stale_claim()
    {
        var store = _harness.Store;
        var now = DateTimeOffset.FromUnixTimeMilliseconds(DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
        await store.InsertAsync(new LeaseRecord("gh_a_0123456789", "orders", "a", [], "i1", now, now), default);
        await store.InsertAsync(new LeaseRecord("gh_b_0123456789", "orders", "b", [], "i1", now, now), default);

        Assert.True(await store.ClaimAsync("orders", "gh_a_0123456789", now, default));
        Assert.False(await store.ClaimAsync("orders", "gh_a_0123456789", now, default));
        Assert.False(await store.RenewAsync("orders", "gh_a_0123456789", now.AddMinutes(5), default));

        Assert.True(await store.RenewAsync("orders", "gh_b_0123456789", now.AddMinutes(5), default));
        Assert.False(await store.ClaimAsync("orders", "gh_b_0123456789", now, default));
        Assert.Single(await store.ListAsync(default));
    }

    [Fact]
    public void Postgres_state_is_refused_with_a_clear_error_that_does_not_echo_the_uri()
    {
        var ex = Assert.Throws<NotSupportedException>(() => LeaseStore.Open("postgres://u:hunter2@db/state"));

        Assert.Contains("sqlite:", ex.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("hunter2", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Sqlite_state_uri_opens_a_store()
    {
        var store = LeaseStore.Open("sqlite:" + Path.Combine(_harness.Directory, "other.db"));

        Assert.Empty(await store.ListAsync(default));
    }

    public ValueTask DisposeAsync() => _harness.DisposeAsync();
}
