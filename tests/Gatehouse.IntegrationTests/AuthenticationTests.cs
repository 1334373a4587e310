using Npgsql;

namespace Gatehouse.IntegrationTests;

/// <summary>Tokens as passwords: what the gateway accepts and the errors it gives for what it refuses.</summary>
[Collection(GatewayCollection.Name)]
public sealed class AuthenticationTests(GatewayFixture fixture)
{
    [Fact]
    public async Task A_garbage_token_is_refused_with_28P01_and_never_echoed()
    {
        const string garbage = "not-a-jwt-secret-value";
        var error = await Assert.ThrowsAsync<PostgresException>(() => fixture.OpenAsync(token: garbage));
        Assert.Equal("28P01", error.SqlState);
        Assert.StartsWith("gatehouse: authentication failed:", error.MessageText, StringComparison.Ordinal);
        Assert.DoesNotContain(garbage, error.MessageText, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_token_for_another_audience_is_refused()
    {
        var issuer = Identity.DevIssuer.LoadOrCreate(fixture.Config.StateDirectory, Hosting.GatewayHost.DevIssuerUrl(fixture.Config), TimeProvider.System);
        string token = issuer.Mint("agent-1", [new("groups", "ai-agents")], TimeSpan.FromMinutes(5), "some-other-api");
        var error = await Assert.ThrowsAsync<PostgresException>(() => fixture.OpenAsync(token: token));
        Assert.StartsWith("gatehouse: authentication failed:", error.MessageText, StringComparison.Ordinal);
        Assert.Contains("audience", error.MessageText, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task An_identity_without_a_grant_is_refused_at_connect()
    {
        string token = fixture.Token("stranger", ("groups", "marketing"));
        var error = await Assert.ThrowsAsync<PostgresException>(() => fixture.OpenAsync(token: token));
        Assert.Equal("28000", error.SqlState);
        Assert.StartsWith("gatehouse: no grant", error.MessageText, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_unknown_target_is_refused_with_3D000()
    {
        await using var connection = new NpgsqlConnection(fixture.ConnectionString(database: "nope"));
        var error = await Assert.ThrowsAsync<PostgresException>(() => connection.OpenAsync());
        Assert.Equal("3D000", error.SqlState);
        Assert.Equal("gatehouse: unknown target \"nope\"", error.MessageText); // before authentication: no list of the targets
    }

    [Fact]
    public async Task A_token_given_as_the_database_name_is_not_echoed()
    {
        string token = fixture.Token();
        await using var connection = new NpgsqlConnection(fixture.ConnectionString(database: token));
        var error = await Assert.ThrowsAsync<PostgresException>(() => connection.OpenAsync());
        Assert.Equal("3D000", error.SqlState);
        Assert.DoesNotContain(token, error.MessageText, StringComparison.Ordinal);
        Assert.Contains("a token, not shown", error.MessageText, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Startup_options_that_change_identity_are_refused()
    {
        var builder = new NpgsqlConnectionStringBuilder(fixture.ConnectionString()) { Options = "-c session_authorization=postgres" };
        await using var connection = new NpgsqlConnection(builder.ConnectionString);
        var error = await Assert.ThrowsAsync<PostgresException>(() => connection.OpenAsync());
        Assert.Equal("42501", error.SqlState);
        Assert.Contains("session_authorization", error.MessageText, StringComparison.Ordinal);
    }
}
