using System.Text;
using System.Text.Json.Nodes;

namespace Gatehouse.Identity.Tests;

public sealed class TokenValidatorTests : IDisposable
{
    private readonly TestKey _key = TestKey.NewRsa("key-1");
    private readonly JwksServer _server;
    private readonly ManualTimeProvider _time = new();

    public TokenValidatorTests() => _server = new JwksServer(_key);

    public void Dispose() => _server.Dispose();

    private TokenValidator Validator(IReadOnlyList<string>? audiences = null, TimeSpan? skew = null) => new(
        new IdentityOptions { Issuer = _server.Issuer, Audiences = audiences ?? ["gatehouse"], ClockSkew = skew ?? TimeSpan.FromSeconds(30) },
        devIssuer: null,
        _time);

    private JsonObject Payload(TimeSpan? lifetime = null) => Jwt.Payload(_server.Issuer, _time.GetUtcNow(), lifetime: lifetime);

    private static async Task<TokenValidationOutcome> Refused(TokenValidator validator, string token, AuthFailure expected)
    {
        var outcome = await validator.ValidateAsync(token, CancellationToken.None);
        Assert.False(outcome.Succeeded);
        Assert.Null(outcome.Identity);
        Assert.Equal(expected, outcome.Failure);
        Assert.False(string.IsNullOrWhiteSpace(outcome.Reason));
        if (token.Trim().Length > 0)
        {
            Assert.DoesNotContain(token, outcome.Reason!, StringComparison.Ordinal);
        }

        if (token.Split('.') is [_, _, { Length: > 8 } signature])
        {
            Assert.DoesNotContain(signature, outcome.Reason!, StringComparison.Ordinal);
        }

        return outcome;
    }

    [Fact]
    public async Task A_valid_token_yields_the_identity_claims_and_hash()
    {
        string token = Jwt.Sign(_key, Payload());
        var outcome = await Validator().ValidateAsync(token, CancellationToken.None);

        Assert.True(outcome.Succeeded, outcome.Reason);
        Assert.Equal(AuthFailure.None, outcome.Failure);
        Assert.Equal(string.Empty, outcome.SqlState);
        var identity = outcome.Identity!;
        Assert.Equal("agent-1", identity.Subject);
        Assert.Equal(_server.Issuer, identity.Issuer);
        Assert.Equal(_time.GetUtcNow() + TimeSpan.FromMinutes(10), identity.ExpiresAt);
        Assert.Equal("ai-agents", identity.Claim("groups")[0].GetString());
        Assert.Equal(Hashing.Sha256Hex(token), identity.TokenHash);
        Assert.Equal(64, identity.TokenHash.Length);
    }

    [Theory]
    [InlineData("PS256")]
    [InlineData("RS384")]
    public async Task Other_allowed_rsa_algorithms_are_accepted(string algorithm)
    {
        string token = Jwt.Sign(_key, Payload(), algorithm);
        var outcome = await Validator().ValidateAsync(token, CancellationToken.None);
        Assert.True(outcome.Succeeded, outcome.Reason);
    }

    [Fact]
    public async Task An_es256_key_from_the_jwks_is_used()
    {
        var ec = TestKey.NewEc("ec-1");
        _server.Publish(_key, ec);
        var outcome = await Validator().ValidateAsync(Jwt.Sign(ec, Payload()), CancellationToken.None);
        Assert.True(outcome.Succeeded, outcome.Reason);
    }

    [Fact]
    public async Task An_expired_token_is_refused_with_28P01()
    {
        var payload = Payload();
        payload["exp"] = _time.GetUtcNow().AddMinutes(-2).ToUnixTimeSeconds();
        var outcome = await Refused(Validator(), Jwt.Sign(_key, payload), AuthFailure.Expired);
        Assert.Equal("28P01", outcome.SqlState);
        Assert.Contains("expired", outcome.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_token_not_yet_valid_is_refused()
    {
        var payload = Payload();
        payload["nbf"] = _time.GetUtcNow().AddMinutes(2).ToUnixTimeSeconds();
        var outcome = await Refused(Validator(), Jwt.Sign(_key, payload), AuthFailure.NotYetValid);
        Assert.Contains("not valid before", outcome.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Clock_skew_is_honoured_on_both_ends()
    {
        var validator = Validator(skew: TimeSpan.FromSeconds(30));
        var late = Payload();
        late["exp"] = _time.GetUtcNow().AddSeconds(-20).ToUnixTimeSeconds();
        var early = Payload();
        early["nbf"] = _time.GetUtcNow().AddSeconds(20).ToUnixTimeSeconds();

        Assert.True((await validator.ValidateAsync(Jwt.Sign(_key, late), CancellationToken.None)).Succeeded);
        Assert.True((await validator.ValidateAsync(Jwt.Sign(_key, early), CancellationToken.None)).Succeeded);

        var strict = Validator(skew: TimeSpan.FromSeconds(10));
        await Refused(strict, Jwt.Sign(_key, late), AuthFailure.Expired);
        await Refused(strict, Jwt.Sign(_key, early), AuthFailure.NotYetValid);
    }

    [Fact]
    public async Task A_token_for_another_audience_is_refused()
    {
        var payload = Payload();
        payload["aud"] = "some-other-api";
        var outcome = await Refused(Validator(), Jwt.Sign(_key, payload), AuthFailure.WrongAudience);
        Assert.Equal("28P01", outcome.SqlState);
        Assert.Contains("audience", outcome.Reason, StringComparison.Ordinal);
        Assert.Contains("gatehouse", outcome.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Any_configured_audience_matches_any_token_audience()
    {
        var payload = Payload();
        payload["aud"] = new JsonArray("account", "pg-gateway");
        var outcome = await Validator(["gatehouse", "pg-gateway"]).ValidateAsync(Jwt.Sign(_key, payload), CancellationToken.None);
        Assert.True(outcome.Succeeded, outcome.Reason);
    }

    [Fact]
    public async Task A_token_from_another_issuer_is_refused()
    {
        var payload = Payload();
        payload["iss"] = "https://evil.example.com/";
        var outcome = await Refused(Validator(), Jwt.Sign(_key, payload), AuthFailure.UnknownIssuer);
        Assert.Contains("https://evil.example.com/", outcome.Reason, StringComparison.Ordinal);
        Assert.Equal(0, _server.JwksRequests);
    }

    [Fact]
    public async Task A_signature_by_another_key_with_the_same_kid_is_refused()
    {
        var impostor = TestKey.NewRsa(_key.KeyId);
        var outcome = await Refused(Validator(), Jwt.Sign(impostor, Payload()), AuthFailure.BadSignature);
        Assert.Equal("28P01", outcome.SqlState);
    }

    [Fact]
    public async Task A_tampered_payload_is_refused()
    {
        string token = Jwt.Sign(_key, Payload());
        var payload = Jwt.DecodePayload(token);
        payload["sub"] = "admin";
        string[] parts = token.Split('.');
        await Refused(Validator(), parts[0] + "." + Jwt.Encode(payload) + "." + parts[2], AuthFailure.BadSignature);
    }

    [Fact]
    public async Task A_token_without_kid_is_checked_against_every_key()
    {
        _server.Publish(TestKey.NewRsa("other"), _key);
        var validator = Validator();
        Assert.True((await validator.ValidateAsync(Jwt.Sign(_key, Payload(), includeKeyId: false), CancellationToken.None)).Succeeded);
        await Refused(validator, Jwt.Sign(TestKey.NewRsa("x"), Payload(), includeKeyId: false), AuthFailure.BadSignature);
    }

    [Fact]
    public async Task Alg_none_is_refused()
    {
        var outcome = await Refused(Validator(), Jwt.Unsigned(Payload()), AuthFailure.AlgorithmNotAllowed);
        Assert.Contains("none", outcome.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Hs256_signed_with_the_public_key_is_refused()
    {
        var outcome = await Refused(Validator(), Jwt.SignHs256WithPublicKey(_key, Payload()), AuthFailure.AlgorithmNotAllowed);
        Assert.Contains("HS256", outcome.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_unknown_kid_triggers_one_jwks_refresh_that_finds_a_rotated_key()
    {
        var validator = Validator();
        Assert.True((await validator.ValidateAsync(Jwt.Sign(_key, Payload()), CancellationToken.None)).Succeeded);
        Assert.Equal(1, _server.JwksRequests);

        var rotated = TestKey.NewRsa("key-2");
        _server.Publish(rotated);
        var outcome = await validator.ValidateAsync(Jwt.Sign(rotated, Payload()), CancellationToken.None);

        Assert.True(outcome.Succeeded, outcome.Reason);
        Assert.Equal(2, _server.JwksRequests);
        Assert.Equal(2, _server.DiscoveryRequests);
    }

    [Fact]
    public async Task Unknown_kid_refreshes_are_rate_limited_per_issuer()
    {
        var validator = Validator();
        Assert.True((await validator.ValidateAsync(Jwt.Sign(_key, Payload()), CancellationToken.None)).Succeeded);
        var stranger = TestKey.NewRsa("never-published");

        var first = await Refused(validator, Jwt.Sign(stranger, Payload()), AuthFailure.UnknownSigningKey);
        Assert.Contains("never-published", first.Reason, StringComparison.Ordinal);
        Assert.Equal(2, _server.JwksRequests);
        for (int i = 0; i < 5; i++)
        {
            await Refused(validator, Jwt.Sign(stranger, Payload()), AuthFailure.UnknownSigningKey);
        }

        Assert.Equal(2, _server.JwksRequests);

        // Once the interval has passed, a key published meanwhile is found.
        _server.Publish(_key, stranger);
        _time.Advance(TimeSpan.FromSeconds(10));
        await Refused(validator, Jwt.Sign(stranger, Payload()), AuthFailure.UnknownSigningKey);
        Assert.Equal(2, _server.JwksRequests);
        _time.Advance(TimeSpan.FromSeconds(21));
        Assert.True((await validator.ValidateAsync(Jwt.Sign(stranger, Payload()), CancellationToken.None)).Succeeded);
        Assert.Equal(3, _server.JwksRequests);
    }

    [Fact]
    public async Task Concurrent_unknown_kids_share_one_refresh()
    {
        var validator = Validator();
        Assert.True((await validator.ValidateAsync(Jwt.Sign(_key, Payload()), CancellationToken.None)).Succeeded);
        var rotated = TestKey.NewRsa("key-2");
        _server.Publish(_key, rotated);
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _server.JwksGate = gate;

        var attempts = Enumerable.Range(0, 16)
            .Select(i => validator.ValidateAsync(Jwt.Sign(rotated, Jwt.Payload(_server.Issuer, _time.GetUtcNow(), subject: $"agent-{i}")), CancellationToken.None).AsTask())
            .ToArray();
        await Task.Delay(200);
        gate.SetResult();
        var outcomes = await Task.WhenAll(attempts);

        Assert.All(outcomes, o => Assert.True(o.Succeeded, o.Reason));
        Assert.Equal(2, _server.JwksRequests);
    }

    [Fact]
    public async Task The_jwks_is_refetched_after_the_automatic_interval()
    {
        var validator = Validator();
        Assert.True((await validator.ValidateAsync(Jwt.Sign(_key, Payload()), CancellationToken.None)).Succeeded);
        _time.Advance(TimeSpan.FromMinutes(30));
        Assert.True((await validator.ValidateAsync(Jwt.Sign(_key, Payload()), CancellationToken.None)).Succeeded);
        Assert.Equal(1, _server.JwksRequests);
        _time.Advance(TimeSpan.FromMinutes(31));
        Assert.True((await validator.ValidateAsync(Jwt.Sign(_key, Payload()), CancellationToken.None)).Succeeded);
        Assert.Equal(2, _server.JwksRequests);
    }

    [Fact]
    public async Task A_failing_issuer_is_retried_only_after_a_backoff()
    {
        _server.Unavailable = true;
        var validator = Validator();
        string token = Jwt.Sign(_key, Payload(TimeSpan.FromHours(1)));

        var outcome = await Refused(validator, token, AuthFailure.IssuerUnreachable);
        Assert.Equal("28000", outcome.SqlState);
        Assert.Contains("HTTP 500", outcome.Reason, StringComparison.Ordinal);
        Assert.Equal(1, _server.DiscoveryRequests);

        _server.Unavailable = false;
        await Refused(validator, token, AuthFailure.IssuerUnreachable);
        Assert.Equal(1, _server.DiscoveryRequests);

        _time.Advance(TimeSpan.FromSeconds(6));
        var later = await validator.ValidateAsync(token, CancellationToken.None);
        Assert.True(later.Succeeded, later.Reason);
        Assert.Equal(2, _server.DiscoveryRequests);
    }

    [Fact]
    public async Task An_unreachable_issuer_is_refused_with_28000()
    {
        int port = JwksServer.FreePort();
        string issuer = $"http://127.0.0.1:{port}/realms/test";
        var validator = new TokenValidator(new IdentityOptions { Issuer = issuer }, null, _time);
        var token = Jwt.Sign(_key, Jwt.Payload(issuer, _time.GetUtcNow()));

        var outcome = await Refused(validator, token, AuthFailure.IssuerUnreachable);
        Assert.Equal("28000", outcome.SqlState);
        Assert.StartsWith("issuer unreachable", outcome.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Known_keys_keep_working_when_the_issuer_goes_down()
    {
        var validator = Validator();
        Assert.True((await validator.ValidateAsync(Jwt.Sign(_key, Payload()), CancellationToken.None)).Succeeded);
        _server.Dispose();
        _time.Advance(TimeSpan.FromHours(2));

        var outcome = await validator.ValidateAsync(Jwt.Sign(_key, Payload()), CancellationToken.None);
        Assert.True(outcome.Succeeded, outcome.Reason);
    }

    public static TheoryData<string> MalformedPasswords()
    {
        var random = new Random(42);
        var garbage = new StringBuilder();
        for (int i = 0; i < 10 * 1024; i++)
        {
            garbage.Append((char)random.Next(33, 127));
        }

        var noDots = new string('x', 10 * 1024);
        var hugeValidShape = new string('a', 9000) + "." + new string('b', 9000) + "." + new string('c', 100);
        return new TheoryData<string>
        {
            string.Empty,
            "   ",
            "a.b",
            "a.b.c",
            "..",
            "a..b",
            "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln",
            "eyJhbGciOiJSUzI1NiJ9.bm90IGpzb24.c2ln",
            "W10.W10.c2ln",
            "a.b.c.d.e",
            "not-a-jwt-secret-value",
            garbage.ToString(),
            noDots,
            hugeValidShape,
            "\u00e9\u00e9.\u0000.\ud83d\ude00",
        };
    }

    [Theory]
    [MemberData(nameof(MalformedPasswords))]
    public async Task Malformed_passwords_give_a_clear_reason_and_never_throw(string password)
    {
        var outcome = await Refused(Validator(), password, AuthFailure.Malformed);
        Assert.Equal("28P01", outcome.SqlState);
        Assert.True(outcome.Reason!.Length < 200);
    }

    [Fact]
    public async Task Tokens_without_required_claims_are_malformed()
    {
        foreach (string claim in new[] { "iss", "sub", "exp" })
        {
            var payload = Payload();
            payload.Remove(claim);
            var outcome = await Refused(Validator(), Jwt.Sign(_key, payload), AuthFailure.Malformed);
            Assert.Contains($"'{claim}'", outcome.Reason, StringComparison.Ordinal);
        }

        var stringExp = Payload();
        stringExp["exp"] = "tomorrow";
        await Refused(Validator(), Jwt.Sign(_key, stringExp), AuthFailure.Malformed);
    }

    [Fact]
    public async Task A_validated_token_is_cached_until_it_expires()
    {
        var validator = Validator(skew: TimeSpan.FromSeconds(5));
        string token = Jwt.Sign(_key, Payload(TimeSpan.FromMinutes(1)));
        Assert.True((await validator.ValidateAsync(token, CancellationToken.None)).Succeeded);
        Assert.Equal(1, validator.CachedTokens);

        // With the issuer gone and its key unpublished, only the cache can still say yes.
        _server.Publish();
        _server.Dispose();
        var again = await validator.ValidateAsync(token, CancellationToken.None);
        Assert.True(again.Succeeded, again.Reason);
        Assert.Equal(Hashing.Sha256Hex(token), again.Identity!.TokenHash);

        _time.Advance(TimeSpan.FromSeconds(66));
        await Refused(validator, token, AuthFailure.Expired);
        Assert.Equal(0, validator.CachedTokens);
    }

    [Fact]
    public async Task Refused_tokens_are_not_cached()
    {
        var validator = Validator();
        var payload = Payload();
        payload["aud"] = "nope";
        await Refused(validator, Jwt.Sign(_key, payload), AuthFailure.WrongAudience);
        Assert.Equal(0, validator.CachedTokens);
    }

    [Fact]
    public void Configuration_errors_are_caught_at_construction()
    {
        Assert.Throws<ArgumentException>(() => new TokenValidator(new IdentityOptions { Issuer = "http://idp.example.com" }, null, _time));
        Assert.Throws<ArgumentException>(() => new TokenValidator(new IdentityOptions(), null, _time));
        Assert.Throws<ArgumentException>(() => new TokenValidator(new IdentityOptions { DevIssuer = true }, null, _time));
        Assert.Throws<ArgumentException>(() => new TokenValidator(new IdentityOptions { Issuer = "https://idp.example.com", Audiences = [] }, null, _time));
        _ = new TokenValidator(new IdentityOptions { Issuer = "https://idp.example.com" }, null, _time);
        _ = new TokenValidator(new IdentityOptions { Issuer = "http://localhost:9999/realm" }, null, _time);
    }
}
