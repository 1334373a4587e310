using Gatehouse.Testing;
using Npgsql;

namespace Gatehouse.IntegrationTests;

/// <summary>Tokens from a real third-party OpenID provider (oidc-provider, client-credentials grant) log in through the gateway.</summary>
public sealed class OidcProviderTests
{
    [Fact]
    public async Task A_client_credentials_token_from_a_real_provider_logs_in_and_is_leased_a_role()
    {
        await using var provider = await OidcProviderServer.StartAsync(CancellationToken.None);
        await using var gateway = await TestGateway.StartAsync(new TestGatewayOptions { ExtraIdentity = $"issuer: {provider.Issuer}" });
        string token = await provider.GetClientCredentialsTokenAsync();

        await using var connection = await gateway.OpenAsync(token);
        await using var command = new NpgsqlCommand("SELECT current_user", connection);
        Assert.StartsWith("gh_", (string)(await command.ExecuteScalarAsync())!, StringComparison.Ordinal);

        // The development issuer is trusted alongside it, and a tampered provider token is not.
        await using var dev = await gateway.OpenAsync(gateway.Token());
        string tampered = token[..^4] + (token.EndsWith("AAAA", StringComparison.Ordinal) ? "BBBB" : "AAAA");
        var error = await Assert.ThrowsAsync<PostgresException>(() => gateway.OpenAsync(tampered));
        Assert.Equal("28P01", error.SqlState);
        Assert.StartsWith("gatehouse: authentication failed:", error.MessageText, StringComparison.Ordinal);
    }
}
