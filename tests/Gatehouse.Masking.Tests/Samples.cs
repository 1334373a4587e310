using System.Text;

namespace Gatehouse.Masking.Tests;

/// <summary>Secrets and near misses shared by the detector, container and property tests.</summary>
internal static class Samples
{
    public static readonly string Jwt = Token("{\"alg\":\"HS256\",\"typ\":\"JWT\"}") + "." + Token("{\"sub\":\"1234567890\",\"name\":\"John Doe\",\"iat\":1516239022}") + ".SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c";

    public static readonly string JwtWithoutAlg = Token("{\"typ\":\"JWT\"}") + "." + Token("{\"sub\":\"1\"}") + ".c2lnbmF0dXJl";

    public const string Pem = "-----BEGIN RSA PRIVATE KEY-----\nMIIBOgIBAAJBAKj34GkxFhD90vcNLYLInFEX6Ppy1tPf9Cnzj4p4WGeKLs1Pt8Qu\nKUpRKfFLfRYC9AIKjbJTWit+CqvjWYzvQwECAwEAAQJAIJLixBy2qpFoS4DSmoEm\n-----END RSA PRIVATE KEY-----";

    public const string GitHub = "ghp_16C7e42F292c6912E7710c838347Ae178B4a";

    public const string GitHubFineGrained = "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ012345";

    public const string Slack = "xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx";

    public const string Stripe = "sk_live_4eC39HqLyjWDarjtT1zdp7dc";

    public const string Aws = "AKIAIOSFODNN7EXAMPLE";

    /// <summary>(text, what must not survive) for every detector.</summary>
    public static readonly (string Value, DetectorKind Kind)[] Secrets =
    [
        ("alice@example.com", DetectorKind.Email),
        ("bob.smith+tag@mail.example.co.uk", DetectorKind.Email),
        ("4111 1111 1111 1111", DetectorKind.CreditCard),
        ("4111-1111-1111-1111", DetectorKind.CreditCard),
        ("5555555555554444", DetectorKind.CreditCard),
        ("378282246310005", DetectorKind.CreditCard),
        ("6011111111111117", DetectorKind.CreditCard),
        ("078-05-1120", DetectorKind.Ssn),
        ("123-45-6789", DetectorKind.Ssn),
        ("+1-555-0100", DetectorKind.Phone),
        ("(555) 010-0100", DetectorKind.Phone),
        ("555-010-0100", DetectorKind.Phone),
        ("+44 20 7946 0958", DetectorKind.Phone),
        ("DE89 3704 0044 0532 0130 00", DetectorKind.Iban),
        ("GB82WEST12345698765432", DetectorKind.Iban),
        (Jwt, DetectorKind.Secret),
        (Aws, DetectorKind.Secret),
        (GitHub, DetectorKind.Secret),
        (GitHubFineGrained, DetectorKind.Secret),
        (Slack, DetectorKind.Secret),
        (Stripe, DetectorKind.Secret),
        (Pem, DetectorKind.Secret),
    ];

    private static string Token(string json) => Convert.ToBase64String(Encoding.UTF8.GetBytes(json)).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}
