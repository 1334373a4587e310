using Gatehouse.Testing;

namespace Gatehouse.Identity.Tests;

/// <summary>One oidc-provider process for the tests of <see cref="OidcProviderTests"/>.</summary>
public sealed class OidcProviderFixture : IAsyncLifetime
{
    private OidcProviderServer? _provider;

    public OidcProviderServer Provider => _provider ?? throw new InvalidOperationException("not started");

    public async Task InitializeAsync() => _provider = await OidcProviderServer.StartAsync(CancellationToken.None);

    public async Task DisposeAsync()
    {
        if (_provider is not null)
        {
            await _provider.DisposeAsync();
        }
    }
}

/// <summary>Tokens from a real, third-party OpenID provider (node oidc-provider), found through discovery over HTTP.</summary>
public sealed class OidcProviderTests(OidcProviderFixture fixture) : IClassFixture<OidcProviderFixture>
{
    private OidcProviderServer Provider => fixture.Provider;

    [Fact]
    public async Task A_client_credentials_access_token_is_accepted()
    {
        string token = await Provider.GetClientCredentialsTokenAsync("read");
        var validator = new TokenValidator(new IdentityOptions { Issuer = Provider.Issuer, Audiences = ["gatehouse"] }, null, TimeProvider.System);

        var outcome = await validator.ValidateAsync(token, CancellationToken.None);

        Assert.True(outcome.Succeeded, $"{outcome.Failure}: {outcome.Reason}\n{Provider.ErrorOutput}");
        var identity = outcome.Identity!;
        Assert.Equal(OidcProviderServer.ClientId, identity.Subject);
        Assert.Equal(Provider.Issuer, identity.Issuer);
        Assert.Equal("ai-agents", identity.Claim("groups")[0].GetString());
        Assert.Equal("read", identity.Claim("scope").GetString());
        Assert.Equal("RS256", (string?)Jwt.DecodeHeader(token)["alg"]);
        Assert.True(identity.ExpiresAt > DateTimeOffset.UtcNow);
    }

    [Fact]
    public async Task The_same_token_is_refused_by_a_gateway_expecting_another_audience()
    {
        string token = await Provider.GetClientCredentialsTokenAsync();
        var validator = new TokenValidator(new IdentityOptions { Issuer = Provider.Issuer, Audiences = ["billing-api"] }, null, TimeProvider.System);

        var outcome = await validator.ValidateAsync(token, CancellationToken.None);

        Assert.Equal(AuthFailure.WrongAudience, outcome.Failure);
        Assert.Contains("'gatehouse'", outcome.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_token_from_the_provider_is_refused_when_another_issuer_is_configured()
    {
        string token = await Provider.GetClientCredentialsTokenAsync();
        var validator = new TokenValidator(new IdentityOptions { Issuer = "https://idp.example.com/realms/agents" }, null, TimeProvider.System);

        var outcome = await validator.ValidateAsync(token, CancellationToken.None);

        Assert.Equal(AuthFailure.UnknownIssuer, outcome.Failure);
    }
}
