using System.Security.Cryptography;
using System.Text;
using Gatehouse.Protocol;

namespace Gatehouse.Protocol.Tests;

public sealed class AuthenticationTests
{
    [Fact]
    public void Md5_response_matches_the_servers_formula()
    {
        Assert.Equal("md5bb41a296aab6baccb36ff243a562abff", Md5Password.Compute("postgres", "secret", [1, 2, 3, 4]));
    }

    [Fact]
    public void Verifier_has_the_format_postgres_stores()
    {
        var verifier = ScramKeys.Verifier("pencil");
        Assert.Matches(@"^SCRAM-SHA-256\$4096:[A-Za-z0-9+/=]{24}\$[A-Za-z0-9+/=]{44}:[A-Za-z0-9+/=]{44}$", verifier);
        Assert.DoesNotContain("pencil", verifier, StringComparison.Ordinal);
    }

    /// <summary>Plays the server's side from a verifier, as PostgreSQL does, and checks both proofs.</summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Scram_client_proves_the_password_to_a_server_holding_only_the_verifier(bool withServerFinal)
    {
        const string password = "correct horse battery staple";
        var parts = ScramKeys.Verifier(password).Split('$', ':');
        var salt = parts[2];
        var storedKey = Convert.FromBase64String(parts[3]);
        var serverKey = Convert.FromBase64String(parts[4]);
        var client = new ScramSha256Client(password, ["SCRAM-SHA-256"], serverCertificate: null);
        Assert.Equal("SCRAM-SHA-256", client.Mechanism);

        string clientFirst = Encoding.UTF8.GetString(client.ClientFirstMessage());
        Assert.StartsWith("n,,n=*,r=", clientFirst, StringComparison.Ordinal);
        string clientNonce = clientFirst["n,,n=*,r=".Length..];
        string serverFirst = $"r={clientNonce}SERVERNONCE,s={salt},i=4096";
        var final = client.ClientFinalMessage(Encoding.UTF8.GetBytes(serverFirst), out var error);
        Assert.Null(error);
        string clientFinal = Encoding.UTF8.GetString(final!);
        int proofAt = clientFinal.IndexOf(",p=", StringComparison.Ordinal);
        string withoutProof = clientFinal[..proofAt];
        byte[] proof = Convert.FromBase64String(clientFinal[(proofAt + 3)..]);
        byte[] authMessage = Encoding.UTF8.GetBytes("n=*,r=" + clientNonce + "," + serverFirst + "," + withoutProof);
        byte[] signature = HMACSHA256.HashData(storedKey, authMessage);
        byte[] clientKey = proof.Zip(signature, (a, b) => (byte)(a ^ b)).ToArray();
        Assert.Equal(storedKey, SHA256.HashData(clientKey));

        string serverSignature = Convert.ToBase64String(HMACSHA256.HashData(serverKey, authMessage));
        string serverFinal = withServerFinal ? "v=" + serverSignature : "v=" + Convert.ToBase64String(new byte[32]);
        Assert.Equal(withServerFinal, client.VerifyServerFinal(Encoding.UTF8.GetBytes(serverFinal)));
    }

    [Theory]
    [InlineData("r=WRONGNONCE,s=c2FsdA==,i=4096")]
    [InlineData("s=c2FsdA==,i=4096")]
    [InlineData("r={0}x,s=not base64!,i=4096")]
    [InlineData("r={0}x,s=c2FsdA==,i=-1")]
    [InlineData("r={0},s=c2FsdA==,i=4096")]
    public void Scram_client_rejects_a_bad_server_first_message(string template)
    {
        var client = new ScramSha256Client("pw", ["SCRAM-SHA-256"], null);
        string nonce = Encoding.UTF8.GetString(client.ClientFirstMessage())["n,,n=*,r=".Length..];
        var final = client.ClientFinalMessage(Encoding.UTF8.GetBytes(string.Format(System.Globalization.CultureInfo.InvariantCulture, template, nonce)), out var error);
        Assert.Null(final);
        Assert.NotNull(error);
    }

    [Fact]
    public void Error_response_round_trips_through_builder_and_parser()
    {
        var bytes = BackendMessages.Error("42501", "gatehouse: denied by rule no-ddl", detail: "class ddl");
        Assert.Equal((byte)'E', bytes[0]);
        var fields = ErrorFields.Parse(new System.Buffers.ReadOnlySequence<byte>(bytes.AsMemory(5)));
        Assert.Equal("42501", fields.SqlState);
        Assert.Equal("gatehouse: denied by rule no-ddl", fields.Message);
        Assert.Equal("class ddl", fields.Detail);
        Assert.Equal("ERROR", fields.Severity);
    }
}
