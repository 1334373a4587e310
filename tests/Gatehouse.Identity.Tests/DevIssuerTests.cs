using System.Net;
using System.Runtime.Versioning;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;

namespace Gatehouse.Identity.Tests;

[UnsupportedOSPlatform("windows")] // key file modes are Unix permissions
public sealed class DevIssuerTests : IDisposable
{
    private const string IssuerUrl = "http://127.0.0.1:8080/dev-issuer";
    private readonly string _state = Directory.CreateTempSubdirectory("gatehouse-identity-").FullName;
    private readonly ManualTimeProvider _time = new();

    public void Dispose() => Directory.Delete(_state, recursive: true);

    private TokenValidator DevValidator(DevIssuer issuer, bool devIssuerOn = true, string? externalIssuer = null) => new(
        new IdentityOptions { Issuer = externalIssuer, DevIssuer = devIssuerOn, Audiences = ["gatehouse"] },
        issuer,
        _time);

    [Fact]
    public async Task A_token_minted_by_one_instance_is_accepted_by_another_on_the_same_state_directory()
    {
        // As with `gatehouse token --dev` and `gatehouse serve`: two loads, one key file.
        var cli = DevIssuer.LoadOrCreate(_state, IssuerUrl, _time);
        var gateway = DevIssuer.LoadOrCreate(_state, IssuerUrl, _time);
        Assert.Equal(cli.KeyId, gateway.KeyId);

        string token = cli.Mint("agent-1", [new("groups", "ai-agents"), new("groups", "db,readers"), new("team", "a,b")], TimeSpan.FromHours(1), "gatehouse");
        var outcome = await DevValidator(gateway).ValidateAsync(token, CancellationToken.None);

        Assert.True(outcome.Succeeded, outcome.Reason);
        var identity = outcome.Identity!;
        Assert.Equal("agent-1", identity.Subject);
        Assert.Equal(IssuerUrl, identity.Issuer);
        Assert.Equal(_time.GetUtcNow().AddHours(1), identity.ExpiresAt);
        Assert.Equal(JsonValueKind.Array, identity.Claim("groups").ValueKind);
        Assert.Equal(["ai-agents", "db,readers"], identity.Claim("groups").EnumerateArray().Select(e => e.GetString()!));
        Assert.Equal("a,b", identity.Claim("team").GetString());
    }

    [Fact]
    public void Minted_tokens_carry_the_registered_claims()
    {
        var issuer = DevIssuer.LoadOrCreate(_state, IssuerUrl, _time);
        string token = issuer.Mint("ci-job", [], TimeSpan.FromMinutes(15), "gatehouse");
        var header = Jwt.DecodeHeader(token);
        var payload = Jwt.DecodePayload(token);
        long now = _time.GetUtcNow().ToUnixTimeSeconds();

        Assert.Equal("ES256", (string?)header["alg"]);
        Assert.Equal(issuer.KeyId, (string?)header["kid"]);
        Assert.Equal(IssuerUrl, (string?)payload["iss"]);
        Assert.Equal("ci-job", (string?)payload["sub"]);
        Assert.Equal("gatehouse", (string?)payload["aud"]);
        Assert.Equal(now, (long)payload["iat"]!);
        Assert.Equal(now, (long)payload["nbf"]!);
        Assert.Equal(now + 900, (long)payload["exp"]!);
        Assert.Equal(22, ((string?)payload["jti"])!.Length);
        Assert.NotEqual((string?)payload["jti"], (string?)Jwt.DecodePayload(issuer.Mint("ci-job", [], TimeSpan.FromMinutes(15), "gatehouse"))["jti"]);
    }

    [Theory]
    [InlineData("iss")]
    [InlineData("sub")]
    [InlineData("aud")]
    [InlineData("exp")]
    [InlineData("")]
    public void Registered_or_empty_claim_names_cannot_be_given(string name)
    {
        var issuer = DevIssuer.LoadOrCreate(_state, IssuerUrl, _time);
        Assert.Throws<ArgumentException>(() => issuer.Mint("x", [new(name, "v")], TimeSpan.FromMinutes(1), "gatehouse"));
    }

    [Fact]
    public void The_key_file_is_private_to_its_owner()
    {
        var issuer = DevIssuer.LoadOrCreate(_state, IssuerUrl, _time);
        Assert.Equal(Path.Combine(_state, DevIssuer.KeyFileName), issuer.KeyPath);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(issuer.KeyPath));
        Assert.StartsWith("-----BEGIN PRIVATE KEY-----", File.ReadAllText(issuer.KeyPath), StringComparison.Ordinal);
        Assert.Empty(Directory.GetFiles(_state, "*.tmp"));
    }

    [Fact]
    public void A_key_file_others_can_read_is_refused()
    {
        var issuer = DevIssuer.LoadOrCreate(_state, IssuerUrl, _time);
        File.SetUnixFileMode(issuer.KeyPath, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.OtherRead);
        var error = Assert.Throws<InvalidOperationException>(() => DevIssuer.LoadOrCreate(_state, IssuerUrl, _time));
        Assert.Contains("chmod 600", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_missing_state_directory_is_created()
    {
        string nested = Path.Combine(_state, "a", "b");
        var issuer = DevIssuer.LoadOrCreate(nested, IssuerUrl, _time);
        Assert.True(File.Exists(issuer.KeyPath));
    }

    [Fact]
    public async Task Concurrent_first_loads_agree_on_one_key()
    {
        var loads = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => Task.Run(() => DevIssuer.LoadOrCreate(_state, IssuerUrl, _time))));
        Assert.Single(loads.Select(l => l.KeyId).Distinct());
        Assert.Single(Directory.GetFiles(_state));
    }

    [Fact]
    public async Task Dev_tokens_are_refused_when_the_dev_issuer_is_off()
    {
        var issuer = DevIssuer.LoadOrCreate(_state, IssuerUrl, _time);
        string token = issuer.Mint("agent-1", [], TimeSpan.FromMinutes(5), "gatehouse");
        // Even when the host hands over a DevIssuer by mistake, dev_issuer: false means its key is not trusted.
        var validator = DevValidator(issuer, devIssuerOn: false, externalIssuer: "https://idp.example.com/realms/agents");

        var outcome = await validator.ValidateAsync(token, CancellationToken.None);
        Assert.False(outcome.Succeeded);
        Assert.Equal(AuthFailure.UnknownIssuer, outcome.Failure);
        Assert.Equal("28P01", outcome.SqlState);
    }

    [Fact]
    public async Task A_token_from_another_dev_key_is_refused()
    {
        var trusted = DevIssuer.LoadOrCreate(_state, IssuerUrl, _time);
        string other = Directory.CreateTempSubdirectory("gatehouse-identity-other-").FullName;
        try
        {
            var stranger = DevIssuer.LoadOrCreate(other, IssuerUrl, _time);
            var outcome = await DevValidator(trusted).ValidateAsync(stranger.Mint("agent-1", [], TimeSpan.FromMinutes(5), "gatehouse"), CancellationToken.None);
            Assert.False(outcome.Succeeded);
            Assert.Equal(AuthFailure.UnknownSigningKey, outcome.Failure);
        }
        finally
        {
            Directory.Delete(other, recursive: true);
        }
    }

    [Fact]
    public async Task Dev_tokens_expire_and_check_the_audience()
    {
        var issuer = DevIssuer.LoadOrCreate(_state, IssuerUrl, _time);
        var validator = DevValidator(issuer);
        var wrong = await validator.ValidateAsync(issuer.Mint("agent-1", [], TimeSpan.FromMinutes(5), "some-other-api"), CancellationToken.None);
        Assert.Equal(AuthFailure.WrongAudience, wrong.Failure);

        string token = issuer.Mint("agent-1", [], TimeSpan.FromMinutes(5), "gatehouse");
        _time.Advance(TimeSpan.FromMinutes(6));
        Assert.Equal(AuthFailure.Expired, (await validator.ValidateAsync(token, CancellationToken.None)).Failure);
    }

    [Fact]
    public async Task The_served_discovery_document_and_jwks_validate_dev_tokens_over_http()
    {
        int port = JwksServer.FreePort();
        string url = $"http://127.0.0.1:{port}/dev-issuer";
        var issuer = DevIssuer.LoadOrCreate(_state, url, _time);
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls($"http://127.0.0.1:{port}");
        await using var app = builder.Build();
        app.MapDevIssuer(issuer);
        await app.StartAsync();

        using var http = new HttpClient();
        var discovery = await http.GetAsync(new Uri(url + "/.well-known/openid-configuration"));
        Assert.Equal(HttpStatusCode.OK, discovery.StatusCode);
        using var document = JsonDocument.Parse(await discovery.Content.ReadAsStringAsync());
        Assert.Equal(url, document.RootElement.GetProperty("issuer").GetString());
        Assert.Equal(url + "/jwks", document.RootElement.GetProperty("jwks_uri").GetString());

        // A validator that knows nothing of the in-process key: it must go through discovery and JWKS.
        var remote = new TokenValidator(new IdentityOptions { Issuer = url }, null, _time);
        var outcome = await remote.ValidateAsync(issuer.Mint("agent-1", [new("groups", "ai-agents")], TimeSpan.FromMinutes(5), "gatehouse"), CancellationToken.None);
        Assert.True(outcome.Succeeded, outcome.Reason);

        await app.StopAsync();
    }
}
