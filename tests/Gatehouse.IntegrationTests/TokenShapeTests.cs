using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text;
using Npgsql;

namespace Gatehouse.IntegrationTests;

/// <summary>Tokens signed by the gateway's own dev-issuer key whose JSON repeats a claim or carries <c>crit</c>: refused at login.</summary>
[Collection(GatewayCollection.Name)]
public sealed class TokenShapeTests(GatewayFixture fixture)
{
    /// <summary>A real minted token with its header and payload JSON edited as text, signed again with the issuer's private key.</summary>
    private string Resigned(Func<string, string> header, Func<string, string> payload)
    {
        var parts = fixture.Token().Split('.');
        string Edit(string segment, Func<string, string> edit) =>
            Base64Url.EncodeToString(Encoding.UTF8.GetBytes(edit(Encoding.UTF8.GetString(Base64Url.DecodeFromChars(segment)))));
        string input = Edit(parts[0], header) + "." + Edit(parts[1], payload);
        using var key = ECDsa.Create();
        key.ImportFromPem(File.ReadAllText(Path.Combine(fixture.Config.StateDirectory, Identity.DevIssuer.KeyFileName)));
        byte[] signature = key.SignData(Encoding.ASCII.GetBytes(input), HashAlgorithmName.SHA256, DSASignatureFormat.IeeeP1363FixedFieldConcatenation);
        return input + "." + Base64Url.EncodeToString(signature);
    }

    private static string Append(string json, string members) => json[..json.LastIndexOf('}')] + members + "}";

    [Fact]
    public async Task A_resigned_token_without_edits_logs_in()
    {
        await using var connection = await fixture.OpenAsync(Resigned(h => h, p => p));
        await using var command = new NpgsqlCommand("SELECT 1", connection);
        Assert.Equal(1, await command.ExecuteScalarAsync());
    }

    [Fact]
    public async Task A_token_that_repeats_sub_is_refused_with_28P01()
    {
        string token = Resigned(h => h, p => Append(p, ",\"sub\":\"admin\""));
        var error = await Assert.ThrowsAsync<PostgresException>(() => fixture.OpenAsync(token));
        Assert.Equal("28P01", error.SqlState);
        Assert.Equal("gatehouse: authentication failed: token repeats claim \"sub\"", error.MessageText);
    }

    [Fact]
    public async Task A_token_with_a_crit_header_is_refused_with_28P01()
    {
        string token = Resigned(h => Append(h, ",\"crit\":[\"b64\"],\"b64\":false"), p => p);
        var error = await Assert.ThrowsAsync<PostgresException>(() => fixture.OpenAsync(token));
        Assert.Equal("28P01", error.SqlState);
        Assert.StartsWith("gatehouse: authentication failed: token header marks \"b64\" critical", error.MessageText, StringComparison.Ordinal);
    }
}
