using System.Buffers;
using System.Text;
using static Gatehouse.Masking.Tests.ScannerSupport;

namespace Gatehouse.Masking.Tests;

public sealed class DetectorTests
{
    [Theory]
    [InlineData("mail alice@example.com now", "mail [redacted:email] now")]
    [InlineData("alice@example.com", "[redacted:email]")]
    [InlineData("<bob.smith+tag@mail.example.co.uk>", "<[redacted:email]>")]
    [InlineData("a@b.co, c_d@e-f.example.org.", "[redacted:email], [redacted:email].")]
    [InlineData("john42@example.com", "[redacted:email]")]
    [InlineData("x@xn--bcher-kva.example", "[redacted:email]")]
    [InlineData(".alice@example.com", ".[redacted:email]")]
    [InlineData("mailto:alice@example.com?subject=x", "mailto:[redacted:email]?subject=x")]
    public void Emails_are_found(string text, string expected) => Assert.Equal(expected, Scan(text));

    [Theory]
    [InlineData("user@localhost")]
    [InlineData("@example.com")]
    [InlineData("alice@")]
    [InlineData("alice.@example.com")]
    [InlineData("alice@example.c")]
    [InlineData("alice@example.c0m")]
    [InlineData("twitter @handle and @ signs")]
    [InlineData("édouard@exemple.fr is not ASCII, but its tail is")]
    public void Non_addresses_are_left_alone(string text)
    {
        if (text.StartsWith('é'))
        {
            Assert.Equal("é[redacted:email] is not ASCII, but its tail is", Scan(text)); // the ASCII part is still an address
            return;
        }

        Assert.Equal(text, Scan(text));
    }

    [Theory]
    [InlineData("card 4111 1111 1111 1111 exp 12/27", "card [redacted:credit_card] exp 12/27")]
    [InlineData("4111-1111-1111-1111", "[redacted:credit_card]")]
    [InlineData("4111111111111111", "[redacted:credit_card]")]
    [InlineData("amex 378282246310005.", "amex [redacted:credit_card].")]
    [InlineData("4222222222222", "[redacted:credit_card]")]
    [InlineData("6011 1111 1111 1117 2", "[redacted:credit_card] 2")]
    [InlineData("id=4111111111111111&x", "id=[redacted:credit_card]&x")]
    [InlineData("4111111111111111 1234", "[redacted:credit_card] 1234")]
    [InlineData("3782 822463 10005", "[redacted:credit_card]")]
    public void Luhn_valid_card_numbers_are_found(string text, string expected) => Assert.Equal(expected, Scan(text, detectors: DetectorKind.CreditCard));

    [Fact]
    public void Card_numbers_of_13_to_19_digits_are_found()
    {
        for (var length = 12; length <= 20; length++)
        {
            var number = WithLuhnDigit(new string('4', 1) + new string('1', length - 2));
            var found = Scan(number, detectors: DetectorKind.CreditCard) != number;
            Assert.Equal(length is >= 13 and <= 19, found);
        }
    }

    [Theory]
    [InlineData("4111 1111 1111 1112")]
    [InlineData("4111111111111112")]
    [InlineData("411111111111")]
    [InlineData("41111111111111111111")]
    [InlineData("pi 3.14111111111111111")]
    [InlineData("4111111111111111.5")]
    [InlineData("x4111111111111111")]
    [InlineData("4111111111111111abc")]
    [InlineData("4111  1111 1111 1111")]
    [InlineData("4111-1111 1111-1111")]
    [InlineData("4111111111111 111")]
    public void Other_digit_runs_are_not_cards(string text) => Assert.Equal(text, Scan(text, detectors: DetectorKind.CreditCard));

    [Theory]
    [InlineData("ssn 078-05-1120.", "ssn [redacted:ssn].")]
    [InlineData("123-45-6789", "[redacted:ssn]")]
    [InlineData("(899-99-9999)", "([redacted:ssn])")]
    public void Ssns_are_found(string text, string expected) => Assert.Equal(expected, Scan(text, detectors: DetectorKind.Ssn));

    [Theory]
    [InlineData("000-12-3456")]
    [InlineData("666-12-3456")]
    [InlineData("900-12-3456")]
    [InlineData("999-12-3456")]
    [InlineData("123-00-4567")]
    [InlineData("123-45-0000")]
    [InlineData("123-45-67890")]
    [InlineData("1-123-45-6789")]
    [InlineData("123-45-6789-1")]
    [InlineData("123456789")]
    [InlineData("123 45 6789")]
    [InlineData("a123-45-6789")]
    public void Non_ssns_are_left_alone(string text) => Assert.Equal(text, Scan(text, detectors: DetectorKind.Ssn));

    [Theory]
    [InlineData("call +1-555-0100 now", "call [redacted:phone] now")]
    [InlineData("+15550100100", "[redacted:phone]")]
    [InlineData("+44 20 7946 0958", "[redacted:phone]")]
    [InlineData("+44 (0) 20 7946 0958", "[redacted:phone]")]
    [InlineData("+1 (555) 010-0100", "[redacted:phone]")]
    [InlineData("(555) 010-0100", "[redacted:phone]")]
    [InlineData("(555)010-0100", "[redacted:phone]")]
    [InlineData("555-010-0100", "[redacted:phone]")]
    [InlineData("555.010.0100", "[redacted:phone]")]
    [InlineData("1-555-010-0100", "[redacted:phone]")]
    [InlineData("tel:+33.1.23.45.67.89", "tel:[redacted:phone]")]
    [InlineData("+1-555-0142 (SSN 078-05-1120)", "[redacted:phone] (SSN 078-05-1120)")]
    public void Phone_numbers_are_found(string text, string expected) => Assert.Equal(expected, Scan(text, detectors: DetectorKind.Phone));

    [Theory]
    [InlineData("5550100100")]
    [InlineData("order 12345678 shipped")]
    [InlineData("+1234567")]
    [InlineData("+1234567890123456")]
    [InlineData("2024-01-15")]
    [InlineData("192.168.100.1")]
    [InlineData("555-0100")]
    [InlineData("555 010 0100")]
    [InlineData("555-010-01001")]
    [InlineData("555-010.0100")]
    [InlineData("a+15550100100")]
    [InlineData("1+2=3, 10 + 20")]
    public void Other_numbers_are_not_phones(string text) => Assert.Equal(text, Scan(text, detectors: DetectorKind.Phone));

    [Theory]
    [InlineData("IBAN DE89 3704 0044 0532 0130 00, thanks", "IBAN [redacted:iban], thanks")]
    [InlineData("DE89370400440532013000", "[redacted:iban]")]
    [InlineData("GB82 WEST 1234 5698 7654 32", "[redacted:iban]")]
    [InlineData("gb82west12345698765432", "[redacted:iban]")]
    [InlineData("FR14 2004 1010 0505 0001 3M02 606", "[redacted:iban]")]
    [InlineData("NO9386011117947", "[redacted:iban]")]
    [InlineData("AT61 1904 3002 3457 3201 Euro", "[redacted:iban] Euro")]
    public void Ibans_are_found(string text, string expected) => Assert.Equal(expected, Scan(text, detectors: DetectorKind.Iban));

    [Theory]
    [InlineData("DE89 3704 0044 0532 0130 01")]
    [InlineData("DE88370400440532013000")]
    [InlineData("DE8937040044")]
    [InlineData("XDE89370400440532013000")]
    [InlineData("DE89 37040 044 0532 0130 00")]
    public void Mod97_invalid_or_misshapen_ibans_are_left_alone(string text) => Assert.Equal(text, Scan(text, detectors: DetectorKind.Iban));

    public static TheoryData<string> SecretValues => [Samples.Jwt, Samples.Aws, Samples.GitHub, Samples.GitHubFineGrained, Samples.Slack, Samples.Stripe, Samples.Pem,
        "ASIAY34FZKBOKMUTVV7A", "rk_test_51H8abcdefghijklmnop", "ghs_abcdefghijklmnopqrstuvwxyz0123456789", "xoxp-1234567890-abcdefghij",
        "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----",
        "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ==\n-----END OPENSSH PRIVATE KEY-----",
        "-----BEGIN ENCRYPTED PRIVATE KEY-----\r\nProc-Type: 4,ENCRYPTED\r\nDEK-Info: AES-128-CBC,ABCDEF\r\n\r\nabc+/=\r\n-----END ENCRYPTED PRIVATE KEY-----"];

    [Theory]
    [MemberData(nameof(SecretValues))]
    public void Secrets_are_found(string secret) =>
        Assert.Equal("key: [redacted:secret]; next", Scan("key: " + secret + "; next", detectors: DetectorKind.Secret));

    [Fact]
    public void Bearer_tokens_lose_the_token_and_keep_the_word()
    {
        Assert.Equal("Authorization: Bearer [redacted:secret]", Scan("Authorization: Bearer abcdefghijklmnopqrstuvwxyz012345", detectors: DetectorKind.Secret));
        Assert.Equal("Bearer [redacted:secret].", Scan("Bearer abc.def-ghi_jkl~mno+pqr/stu=.", detectors: DetectorKind.Secret));
    }

    [Fact]
    public void A_truncated_private_key_is_redacted_to_where_the_key_stops()
    {
        var text = "{\"k\":\"-----BEGIN EC PRIVATE KEY-----\\nMHcCAQEEIBkg\\nAoGCCqGSM49\", \"x\": 1}";
        Assert.Equal("{\"k\":\"[redacted:secret]\", \"x\": 1}", Scan(text, detectors: DetectorKind.Secret));
        Assert.Equal("x [redacted:secret]", Scan("x -----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC", detectors: DetectorKind.Secret));
    }

    [Theory]
    [InlineData("JWT without alg")]
    [InlineData("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0")]
    [InlineData("eyJhbGciOi.eyJzdWIiOiIxIn0.sig")]
    [InlineData("eyJ!!!.eyJ.x")]
    [InlineData("eyJzdHVmZiI6ImFsZyJ9.eyJ4IjoxfQ.sig")]
    [InlineData("xeyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig")]
    [InlineData("AKIAIOSFODNN7EXAMPL")]
    [InlineData("AKIAIOSFODNN7EXAMPLE1")]
    [InlineData("xAKIAIOSFODNN7EXAMPLE")]
    [InlineData("ghp_short")]
    [InlineData("xghp_16C7e42F292c6912E7710c838347Ae178B4a")]
    [InlineData("pk_live_4eC39HqLyjWDarjtT1zdp7dc")]
    [InlineData("sk_live_short")]
    [InlineData("xoxb-short")]
    [InlineData("xoxq-123456789012-1234567890123")]
    [InlineData("Bearer short")]
    [InlineData("-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n-----END PUBLIC KEY-----")]
    [InlineData("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----")]
    [InlineData("a--b, x_y, A B J")]
    public void Secret_lookalikes_are_left_alone(string text)
    {
        if (text == "JWT without alg")
        {
            text = Samples.JwtWithoutAlg;
        }

        Assert.Equal(text, Scan(text, detectors: DetectorKind.Secret));
    }

    [Fact]
    public void Only_enabled_detectors_run()
    {
        const string text = "alice@example.com 4111111111111111 078-05-1120";
        Assert.Equal("[redacted:email] 4111111111111111 078-05-1120", Scan(text, detectors: DetectorKind.Email));
        Assert.Equal("alice@example.com [redacted:credit_card] [redacted:ssn]", Scan(text, detectors: DetectorKind.CreditCard | DetectorKind.Ssn));
        Assert.Equal(text, Scan(text, detectors: DetectorKind.None));
    }

    [Fact]
    public void The_result_counts_matches_and_names_the_detectors()
    {
        var (text, result) = Scan(Scanner(), "a@example.com b@example.com 4111111111111111");
        Assert.Equal("[redacted:email] [redacted:email] [redacted:credit_card]", text);
        Assert.Equal(3, result.Matches);
        Assert.Equal(DetectorKind.Email | DetectorKind.CreditCard, result.Found);
        Assert.True(result.Rewritten);
    }

    [Fact]
    public void Clean_text_writes_nothing()
    {
        var output = new ArrayBufferWriter<byte>();
        var result = Scanner().Scan("Order 1042 shipped on 2024-03-05 to Berlin; total 99.50 EUR, 3 items."u8, output);
        Assert.Equal(ScanOutcome.Unchanged, result.Outcome);
        Assert.Equal(0, output.WrittenCount);
    }

    [Theory]
    [InlineData("email", "to alice@example.com, card 4111 1111 1111 1111", "to a***@example.com, card [redacted:credit_card]")]
    [InlineData("last4", "to alice@example.com, card 4111 1111 1111 1111", "to *****@******e.com, card **** **** **** 1111")]
    [InlineData("partial(2,2)", "card 4111-1111-1111-1111", "card 41***************11")]
    [InlineData("partial(2,2)", "key " + Samples.Pem, "key -----B*******************************************************************************************************************************************************************************************************************-----")]
    public void Strategies_apply_to_each_match(string strategy, string text, string expected)
    {
        if (strategy == "partial(2,2)" && text.StartsWith("key ", StringComparison.Ordinal))
        {
            var masked = Scan(text, strategy)!;
            Assert.StartsWith("key --", masked, StringComparison.Ordinal);
            Assert.DoesNotContain("MIIB", masked, StringComparison.Ordinal);
            return;
        }

        Assert.Equal(expected, Scan(text, strategy));
    }

    [Fact]
    public void Hash_and_fake_are_deterministic_per_match()
    {
        var hashed = Scan("a alice@example.com b alice@example.com", "hash")!;
        Assert.Matches("^a h:[0-9a-f]{16} b h:[0-9a-f]{16}$", hashed);
        Assert.Equal(hashed[2..20], hashed[23..]);
        Assert.Equal(Support.Text("alice@example.com", "hash"), hashed[2..20]);

        var faked = Scan("call 555-010-0100 or mail alice@example.com", "fake")!;
        Assert.Matches("^call [0-9]{3}-[0-9]{3}-[0-9]{4} or mail user_[0-9a-f]{10}@example\\.invalid$", faked);
        Assert.Equal(faked, Scan("call 555-010-0100 or mail alice@example.com", "fake"));
    }

    [Fact]
    public void Null_strategy_makes_the_value_null_on_a_match_only()
    {
        Assert.Null(Scan("x 4111111111111111", "null"));
        Assert.Equal("nothing here", Scan("nothing here", "null"));
    }

    [Fact]
    public void Values_over_the_limit_are_fully_redacted_without_scanning()
    {
        var scanner = Scanner(max: 100);
        var big = new string('x', 200);
        var (text, result) = Scan(scanner, big);
        Assert.Equal("[redacted]", text);
        Assert.Equal(ScanNote.TooLarge, result.Note);
        Assert.Equal("\"[redacted]\"", Scan(scanner, big, oid: 3802).Text);
        Assert.Null(Scan(scanner, big, oid: 1009).Text);
        Assert.Null(Scan(Scanner("null", max: 100), big).Text);
        Assert.Equal(big[..100], Scan(scanner, big[..100]).Text);
    }

    [Fact]
    public void Bytes_that_are_not_utf8_pass_through_around_a_match()
    {
        byte[] value = [0xE9, (byte)' ', .. "alice@example.com"u8, (byte)' ', 0xFF, 0xC3];
        var output = new ArrayBufferWriter<byte>();
        Assert.True(Scanner().Scan(value, output).Rewritten);
        Assert.Equal([0xE9, (byte)' ', .. "[redacted:email]"u8, (byte)' ', 0xFF, 0xC3], output.WrittenSpan.ToArray());
    }

    [Fact]
    public void Valid_utf8_stays_valid()
    {
        var (text, _) = Scan(Scanner("partial(1,1)"), "日本 alice@example.com 😀 4111111111111111 é");
        Assert.Equal("日本 a***************m 😀 4**************1 é", text);
    }

    [Fact]
    public void Detector_names_parse_as_the_policy_spells_them()
    {
        Assert.True(DetectorNames.TryParse(["email", "credit_card", "ssn", "phone", "iban", "secret"], out var all, out _));
        Assert.Equal(DetectorKind.All, all);
        Assert.False(DetectorNames.TryParse(["email", "passport"], out _, out var error));
        Assert.Contains("passport", error, StringComparison.Ordinal);
        Assert.Equal("credit_card", DetectorNames.Name(DetectorKind.CreditCard));
    }

    [Fact]
    public void Scrub_masks_message_texts()
    {
        var scanner = Scanner("null");
        Assert.Equal("duplicate key value (email)=([redacted:email]) violates", scanner.Scrub("duplicate key value (email)=(alice@example.com) violates"));
        Assert.Equal("plain", scanner.Scrub("plain"));
    }

    private static string WithLuhnDigit(string body)
    {
        for (var d = 0; d < 10; d++)
        {
            var candidate = body + d;
            var sum = 0;
            for (int i = candidate.Length - 1, k = 0; i >= 0; i--, k++)
            {
                var x = candidate[i] - '0';
                if (k % 2 == 1)
                {
                    x = x * 2 > 9 ? x * 2 - 9 : x * 2;
                }

                sum += x;
            }

            if (sum % 10 == 0)
            {
                return candidate;
            }
        }

        throw new InvalidOperationException();
    }
}
