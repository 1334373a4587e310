namespace Gatehouse.Identity.Tests;

/// <summary>
/// Tokens correctly signed by the issuer's key whose JSON is ambiguous (a repeated member) or demands an
/// extension Gatehouse does not implement (<c>crit</c>): both are refused before the signature is looked at.
/// </summary>
public sealed class TokenShapeTests : IDisposable
{
    private readonly TestKey _key = TestKey.NewRsa("key-1");
    private readonly JwksServer _server;
    private readonly ManualTimeProvider _time = new();

    public TokenShapeTests() => _server = new JwksServer(_key);

    public void Dispose() => _server.Dispose();

    private TokenValidator Validator() => new(
        new IdentityOptions { Issuer = _server.Issuer, Audiences = ["gatehouse"] }, devIssuer: null, _time);

    private string Header(string extra = "") => $$"""{"alg":"RS256","typ":"JWT","kid":"{{_key.KeyId}}"{{extra}}}""";

    /// <summary>A valid payload as JSON text, with <paramref name="extra"/> members appended verbatim.</summary>
    private string PayloadJson(string extra = "")
    {
        string json = Jwt.Payload(_server.Issuer, _time.GetUtcNow()).ToJsonString();
        return json[..^1] + extra + "}";
    }

    private async Task<string> RefusedReason(string token)
    {
        var outcome = await Validator().ValidateAsync(token, CancellationToken.None);
        Assert.False(outcome.Succeeded);
        Assert.Equal(AuthFailure.Malformed, outcome.Failure);
        Assert.Equal("28P01", outcome.SqlState);
        return outcome.Reason!;
    }

    [Fact]
    public async Task The_untouched_shape_is_accepted()
    {
        // The control: the same header and payload builders, no repetition, no crit.
        var outcome = await Validator().ValidateAsync(Jwt.SignRaw(_key, Header(), PayloadJson()), CancellationToken.None);
        Assert.True(outcome.Succeeded, outcome.Reason);
    }

    [Theory]
    [InlineData(""","sub":"admin" """, "sub")]
    [InlineData(""","groups":["admins"]""", "groups")]
    [InlineData(""","iss":"https://evil.example" """, "iss")]
    [InlineData(""","exp":99999999999""", "exp")]
    [InlineData(""","s\u0075b":"admin" """, "sub")]
    public async Task A_payload_that_repeats_a_claim_is_refused(string repeat, string name)
    {
        string reason = await RefusedReason(Jwt.SignRaw(_key, Header(), PayloadJson(repeat)));
        Assert.Equal($"token repeats claim \"{name}\"", reason);
    }

    [Fact]
    public async Task A_repeated_member_inside_a_claim_object_is_refused_with_its_path()
    {
        string reason = await RefusedReason(Jwt.SignRaw(_key, Header(), PayloadJson(""","realm_access":{"roles":["a"],"roles":["admin"]}""")));
        Assert.Equal("token repeats claim \"realm_access.roles\"", reason);
    }

    [Theory]
    [InlineData(""","alg":"RS256" """, "alg")]
    [InlineData(""","kid":"other" """, "kid")]
    public async Task A_header_that_repeats_a_parameter_is_refused(string repeat, string name)
    {
        string reason = await RefusedReason(Jwt.SignRaw(_key, Header(repeat), PayloadJson()));
        Assert.Equal($"token header repeats \"{name}\"", reason);
    }

    [Fact]
    public async Task A_crit_header_is_refused_naming_the_extension()
    {
        string reason = await RefusedReason(Jwt.SignRaw(_key, Header(""","crit":["exp"],"exp":1"""), PayloadJson()));
        Assert.Equal("token header marks \"exp\" critical, which Gatehouse does not understand (RFC 7515 §4.1.11)", reason);

        string many = await RefusedReason(Jwt.SignRaw(_key, Header(""","crit":["a","b","c","d"]"""), PayloadJson()));
        Assert.Contains("\"a\", \"b\", \"c\", …", many, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(""","crit":[]""")]
    [InlineData(""","crit":"exp" """)]
    [InlineData(""","crit":[1]""")]
    [InlineData(""","crit":null""")]
    [InlineData(""","crit":["exp",{"x":1}]""")]
    public async Task A_malformed_crit_header_is_refused(string crit)
    {
        string reason = await RefusedReason(Jwt.SignRaw(_key, Header(crit), PayloadJson()));
        Assert.Equal("token header \"crit\" must be a non-empty array of names (RFC 7515 §4.1.11)", reason);
    }

    [Fact]
    public async Task A_refused_shape_is_not_cached_and_the_honest_token_still_works()
    {
        var validator = Validator();
        var honest = Jwt.Payload(_server.Issuer, _time.GetUtcNow());
        Assert.False((await validator.ValidateAsync(Jwt.SignRaw(_key, Header(), PayloadJson(""","sub":"admin" """)), CancellationToken.None)).Succeeded);
        Assert.Equal(0, validator.CachedTokens);
        var outcome = await validator.ValidateAsync(Jwt.Sign(_key, honest), CancellationToken.None);
        Assert.True(outcome.Succeeded, outcome.Reason);
        Assert.Equal("agent-1", outcome.Identity!.Subject);
    }
}
