using System.Buffers;
using System.Text;
using System.Text.Json;
using static Gatehouse.Masking.Tests.ScannerSupport;

namespace Gatehouse.Masking.Tests;

/// <summary>Random texts: with secrets embedded, no secret survives; without, the scanner writes nothing.</summary>
public sealed class PropertyTests
{
    private static readonly string[] Words = ["order", "total", "the", "shipped", "Berlin", "EUR", "x-y", "a_b", "{", "}", "(", ")", "\"", ":", "[1]", "3.5",
        "é", "日本", "😀", "e\u0301", "A", "B", "J", "-", "_", "@", "a@b", "key=value", "\\n", "\\\"", "2024-01-15", "v1.2.3", "<p>", "&amp;", "+", "#"];

    private static readonly string[] Numbers = ["12", "007", "1", "999"];

    private static readonly string[] Separators = [" ", ", ", "\n", " - ", "; ", "\t"];

    private static readonly string[] Wrappers = ["", "\"", "(", "{", "<", "'", "["];

    public static TheoryData<string> Strategies => ["redact", "hash", "last4", "partial(2,2)", "fake", "email"];

    [Theory]
    [MemberData(nameof(Strategies))]
    public void No_embedded_secret_survives(string strategy)
    {
        var random = new Random(20261201);
        var scanner = Scanner(strategy);
        for (var round = 0; round < 1500; round++)
        {
            var text = new StringBuilder();
            var embedded = new List<string>();
            foreach (var piece in Pieces(random, random.Next(0, 30)))
            {
                text.Append(piece);
                if (random.Next(8) == 0)
                {
                    var secret = Samples.Secrets[random.Next(Samples.Secrets.Length)].Value;
                    var wrapper = Wrappers[random.Next(Wrappers.Length)];
                    text.Append(Separators[random.Next(Separators.Length)]).Append(wrapper).Append(secret).Append(Close(wrapper)).Append(Separators[random.Next(Separators.Length)]);
                    embedded.Add(secret);
                }
            }

            var (output, result) = Scan(scanner, text.ToString());
            Assert.True(embedded.Count == 0 || result.Rewritten, text.ToString());
            foreach (var secret in embedded)
            {
                Assert.DoesNotContain(secret, output!, StringComparison.Ordinal);
            }
        }
    }

    [Fact]
    public void Text_without_secrets_is_left_untouched()
    {
        var random = new Random(42);
        var scanner = Scanner();
        for (var round = 0; round < 3000; round++)
        {
            var text = string.Concat(Pieces(random, random.Next(0, 40)));
            var output = new ArrayBufferWriter<byte>();
            var result = scanner.Scan(Encoding.UTF8.GetBytes(text), output);
            Assert.True(result.Outcome == ScanOutcome.Unchanged, $"'{text}' became '{Encoding.UTF8.GetString(output.WrittenSpan)}'");
            Assert.Equal(0, output.WrittenCount);
        }
    }

    [Theory]
    [MemberData(nameof(Strategies))]
    public void Random_json_with_secrets_stays_json(string strategy)
    {
        var random = new Random(7);
        var scanner = Scanner(strategy);
        for (var round = 0; round < 300; round++)
        {
            var document = RandomJson(random, depth: 0);
            var json = JsonSerializer.Serialize(document, new JsonSerializerOptions { Encoder = random.Next(2) == 0 ? null : System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping });
            var (output, _) = Scan(scanner, json, oid: 3802);
            using var parsed = JsonDocument.Parse(output!);
        }
    }

    [Fact]
    public void Random_bytes_never_throw_and_valid_utf8_stays_valid()
    {
        var random = new Random(99);
        var alphabet = "0123456789@_-ABJeyJ.+() \\\"{},:xoxbghpsk_liveAKIA-----BEGIN PRIVATE KEY-----\nBearer é😀"u8.ToArray();
        foreach (var strategy in new[] { "redact", "last4", "fake", "partial(1,1)", "hash", "email" })
        {
            var scanner = Scanner(strategy);
            for (var round = 0; round < 2000; round++)
            {
                var value = new byte[random.Next(0, 120)];
                for (var i = 0; i < value.Length; i++)
                {
                    value[i] = random.Next(10) == 0 ? (byte)random.Next(256) : alphabet[random.Next(alphabet.Length)];
                }

                var output = new ArrayBufferWriter<byte>();
                var result = scanner.Scan(value, output);
                Assert.Equal(result.BytesWritten, output.WrittenCount);
                if (System.Text.Unicode.Utf8.IsValid(value) && result.Rewritten)
                {
                    Assert.True(System.Text.Unicode.Utf8.IsValid(output.WrittenSpan));
                }

                var masked = new ArrayBufferWriter<byte>();
                Assert.False(Support.TestMasker.MaskText(value, Support.Strategy(strategy), masked).IsNull);
                Assert.True(!System.Text.Unicode.Utf8.IsValid(value) || System.Text.Unicode.Utf8.IsValid(masked.WrittenSpan));
            }
        }
    }

    private static IEnumerable<string> Pieces(Random random, int count)
    {
        var lastWasNumber = false;
        for (var i = 0; i < count; i++)
        {
            // A number is always followed by a word, so numbers never join into a longer one by accident.
            var number = !lastWasNumber && random.Next(4) == 0;
            yield return number ? Numbers[random.Next(Numbers.Length)] : Words[random.Next(Words.Length)];
            yield return Separators[random.Next(Separators.Length)];
            lastWasNumber = number;
        }
    }

    private static object? RandomJson(Random random, int depth)
    {
        switch (depth > 3 ? random.Next(4) : random.Next(7))
        {
            case 0:
                return random.Next(3) == 0 ? Samples.Secrets[random.Next(Samples.Secrets.Length)].Value : string.Concat(Pieces(random, random.Next(4)));
            case 1:
                return random.Next(2) == 0 ? 4111111111111111L : random.Next(-1000, 1000);
            case 2:
                return "prefix " + Samples.Secrets[random.Next(Samples.Secrets.Length)].Value + " suffix";
            case 3:
                return null;
            case 4:
            case 5:
                return Enumerable.Range(0, random.Next(4)).ToDictionary(i => i == 0 && random.Next(3) == 0 ? "alice@example.com" : "k" + i, _ => RandomJson(random, depth + 1));
            default:
                return Enumerable.Range(0, random.Next(4)).Select(_ => RandomJson(random, depth + 1)).ToList();
        }
    }

    private static string Close(string wrapper) => wrapper switch
    {
        "(" => ")",
        "{" => "}",
        "<" => ">",
        "[" => "]",
        _ => wrapper,
    };
}
