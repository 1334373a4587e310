using System.Buffers;
using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using System.Xml.Linq;
using static Gatehouse.Masking.Tests.ScannerSupport;

namespace Gatehouse.Masking.Tests;

/// <summary>Matches inside JSON, array and composite literals and XML: found, and replaced without breaking the syntax.</summary>
public sealed class ContainerSafetyTests
{
    public static TheoryData<string> Strategies => ["redact", "email", "last4", "hash", "partial(2,2)", "fake", "partial(0,0)"];

    private static readonly string[] Secrets = [.. Samples.Secrets.Select(s => s.Value)];

    private static readonly string JsonDocumentText = JsonSerializer.Serialize(new Dictionary<string, object>
    {
        ["email"] = "alice@example.com",
        ["quoted"] = "\"bob.smith+tag@mail.example.co.uk\"",
        ["escaped"] = "line\nalice@example.com\tend",
        ["card"] = "4111 1111 1111 1111",
        ["ssn"] = "078-05-1120",
        ["phone"] = "(555) 010-0100",
        ["iban"] = "DE89 3704 0044 0532 0130 00",
        ["jwt"] = "Bearer " + Samples.Jwt,
        ["key"] = Samples.Pem + "\n",
        ["list"] = new object[] { "555-010-0100", Samples.GitHub, Samples.Aws },
        ["alice@example.com"] = "as a key",
        ["plain"] = "nothing to see, {braces} (parens) \\ backslash",
    }).Replace("\"n\":0", "", StringComparison.Ordinal)[..^1] + ",\"number\":4111111111111111,\"negative\":-5555555555554444,\"fraction\":6011111111111117.25}";

    [Theory]
    [MemberData(nameof(Strategies))]
    public void Json_stays_valid_json_and_loses_every_secret(string strategy)
    {
        using var original = JsonDocument.Parse(JsonDocumentText);
        foreach (var oid in new uint[] { 114, 3802 })
        {
            var text = Scan(JsonDocumentText, strategy, oid: oid)!;
            using var masked = JsonDocument.Parse(text);
            Assert.Equal(original.RootElement.EnumerateObject().Count(), masked.RootElement.EnumerateObject().Count());
            Assert.Equal("nothing to see, {braces} (parens) \\ backslash", masked.RootElement.GetProperty("plain").GetString());
            var decoded = Decoded(masked.RootElement);
            var before = Decoded(original.RootElement).Replace("6011111111111117.25", "", StringComparison.Ordinal);
            var present = Secrets.Where(s => before.Contains(s, StringComparison.Ordinal)).ToList();
            Assert.True(present.Count >= 12, $"only {present.Count} secrets in the document");
            foreach (var secret in present)
            {
                Assert.DoesNotContain(secret, decoded, StringComparison.Ordinal);
            }

            Assert.DoesNotContain("4111111111111111", text, StringComparison.Ordinal);
            Assert.DoesNotContain("5555555555554444", text, StringComparison.Ordinal);
            Assert.Equal(6011111111111117.25, masked.RootElement.GetProperty("fraction").GetDouble()); // a decimal number is no card
            Assert.DoesNotContain("MIIBOgIBAAJBAKj34", text, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Json_numbers_become_json_strings()
    {
        const string json = "{\"n\": 4111111111111111, \"m\": [-4111111111111111, 1.5], \"x\": \"4111111111111111\"}";
        Assert.Equal("{\"n\": \"[redacted:credit_card]\", \"m\": [\"[redacted:credit_card]\", 1.5], \"x\": \"[redacted:credit_card]\"}", Scan(json, oid: 3802));
        Assert.Equal("{\"n\": [redacted:credit_card], \"m\": [-[redacted:credit_card], 1.5], \"x\": \"[redacted:credit_card]\"}", Scan(json)); // untyped: plain text
    }

    [Fact]
    public void Json_escapes_are_never_split()
    {
        Assert.Equal("\"\\n[redacted:email]\"", Scan("\"\\nalice@example.com\"", oid: 114));
        Assert.Equal("\"\\\\[redacted:email]\"", Scan("\"\\\\nalice@example.com\"", oid: 114)); // an escaped backslash, then a literal n
        Assert.Equal("\"\\t[redacted:credit_card]\"", Scan("\"\\t4111111111111111\"", oid: 114));
        Assert.Equal("\"\\r[redacted:secret]\"", Scan("\"\\r" + Samples.GitHub + "\"", oid: 114));
        Assert.Equal("\"\\rk_live_4eC39HqLyjWDarjtT1zdp7dc\"", Scan("\"\\rk_live_4eC39HqLyjWDarjtT1zdp7dc\"", oid: 114)); // CR + "k_live_…" is no key
        Assert.Equal("\"\\u0022[redacted:email]\\u0022\"", Scan("\"\\u0022bob.smith\\u002Btag@example.com\\u0022\"", oid: 114)); // \u002B is a +
        Assert.Equal("\"\\u0040[redacted:credit_card]\"", Scan("\"\\u00404111111111111111\"", oid: 114));
        Assert.Equal("\"\\u00e9[redacted:email]\"", Scan("\"\\u00e9alice@example.com\"", oid: 114));
    }

    [Fact]
    public void Jsonb_binary_keeps_its_version_byte()
    {
        var output = new ArrayBufferWriter<byte>();
        var result = Scanner().ScanBinary([1, .. "{\"e\": \"alice@example.com\"}"u8], 3802, output);
        Assert.True(result.Rewritten);
        Assert.Equal(1, output.WrittenSpan[0]);
        Assert.Equal("{\"e\": \"[redacted:email]\"}", Encoding.UTF8.GetString(output.WrittenSpan[1..]));
        Assert.True(Scanner().ScanBinary([2, .. "{}"u8], 3802, new ArrayBufferWriter<byte>()).IsNull);
        Assert.Equal(ScanOutcome.Unchanged, Scanner().ScanBinary([1, .. "{\"e\": 1}"u8], 3802, output).Outcome);
    }

    [Theory]
    [MemberData(nameof(Strategies))]
    public void Array_literals_keep_their_elements(string strategy)
    {
        var literal = "{alice@example.com,\"bob.smith+tag@mail.example.co.uk\",\"4111 1111 1111 1111\",078-05-1120,(555)010-0100,\"(555) 010-0100\",+15550100100,"
            + Samples.GitHub + "," + Samples.Aws + ",\"" + Samples.Pem.Replace("\n", "\\n", StringComparison.Ordinal) + "\",\"a \\\"quoted\\\" alice@example.com\",plain,NULL}";
        var original = Literals.ParseArray(literal);
        var masked = Literals.ParseArray(Scan(literal, strategy, oid: 1009)!);
        Assert.Equal(original.Count, masked.Count);
        Assert.Equal("plain", masked[^2]);
        Assert.Null(masked[^1]);
        AssertNoSecrets(string.Join("\n", masked));
    }

    [Fact]
    public void Nested_array_literals_keep_their_shape()
    {
        const string literal = "{{alice@example.com,x},{\"4111 1111 1111 1111\",y}}";
        Assert.Equal("{{[redacted:email],x},{\"[redacted:credit_card]\",y}}", Scan(literal, oid: 1009));
        Assert.Equal(4, Literals.ParseArray(Scan(literal, "last4", oid: 1009)!).Count);
    }

    [Theory]
    [MemberData(nameof(Strategies))]
    public void Composite_literals_keep_their_fields(string strategy)
    {
        var literal = "(42,alice@example.com,\"4111 1111 1111 1111\",\"(555) 010-0100\",078-05-1120,\"a,b \"\"q\"\" alice@example.com\","
            + Samples.Stripe + ",,\"" + Samples.Pem + "\")";
        var original = Literals.ParseComposite(literal);
        var masked = Literals.ParseComposite(Scan(literal, strategy, oid: 2249)!);
        Assert.Equal(original.Count, masked.Count);
        Assert.Equal("42", masked[0]);
        Assert.Null(masked[7]);
        AssertNoSecrets(string.Join("\n", masked));
    }

    [Theory]
    [MemberData(nameof(Strategies))]
    public void Xml_stays_well_formed(string strategy)
    {
        var xml = "<customer id=\"7\" mail=\"alice@example.com\"><email>bob@example.com</email><card>4111-1111-1111-1111</card>"
            + "<note>call (555) 010-0100 &amp; ask for 078-05-1120</note><key>" + Samples.Pem + "</key><![CDATA[" + Samples.Jwt + "]]></customer>";
        var masked = Scan(xml, strategy, oid: 142)!;
        var parsed = XElement.Parse(masked);
        Assert.Equal("7", parsed.Attribute("id")!.Value);
        Assert.Equal(4, parsed.Elements().Count());
        AssertNoSecrets(parsed.ToString());
    }

    [Fact]
    public void Json_arrays_in_text_form_fail_closed_on_a_match()
    {
        var (text, result) = Scan(Scanner(), "{\"{\\\"n\\\": 4111111111111111}\"}", oid: 3807);
        Assert.Null(text);
        Assert.Equal(ScanNote.FailedClosed, result.Note);
        Assert.Equal("{\"{\\\"n\\\": 1}\"}", Scan("{\"{\\\"n\\\": 1}\"}", oid: 3807));
    }

    [Fact]
    public void Binary_text_arrays_are_rewritten_with_new_lengths()
    {
        var array = Literals.BinaryArray(25, "alice@example.com"u8.ToArray(), null, "plain"u8.ToArray(), "card 4111111111111111"u8.ToArray());
        var output = new ArrayBufferWriter<byte>();
        var result = Scanner().ScanBinary(array, 1009, output);
        Assert.True(result.Rewritten);
        Assert.Equal(2, result.Matches);
        var (hasNulls, oid, elements) = Literals.ReadBinaryArray(output.WrittenSpan);
        Assert.True(hasNulls);
        Assert.Equal(25u, oid);
        Assert.Equal(["[redacted:email]", null, "plain", "card [redacted:credit_card]"], elements.Select(e => e is null ? null : Encoding.UTF8.GetString(e)));

        Assert.Equal(ScanOutcome.Unchanged, Scanner().ScanBinary(Literals.BinaryArray(25, "plain"u8.ToArray()), 1009, output).Outcome);
        Assert.Equal(ScanOutcome.Unchanged, Scanner().ScanBinary(Literals.BinaryArray(25), 1009, output).Outcome);
    }

    [Fact]
    public void Binary_records_are_rewritten_field_by_field_nested_ones_too()
    {
        var int4 = new byte[4];
        BinaryPrimitives.WriteInt32BigEndian(int4, 4111);
        var inner = Literals.BinaryArray(25, "x"u8.ToArray(), "078-05-1120"u8.ToArray());
        var record = Literals.BinaryRecord((23, int4), (25, "mail alice@example.com"u8.ToArray()), (3802, [1, .. "{\"c\": 4111111111111111}"u8]), (1009, inner), (25, null));
        var output = new ArrayBufferWriter<byte>();
        var result = Scanner().ScanBinary(record, 16400, output); // a composite type's OID: unknown to the scanner
        Assert.True(result.Rewritten);
        Assert.Equal(3, result.Matches);
        var fields = Literals.ReadBinaryRecord(output.WrittenSpan);
        Assert.Equal(int4, fields[0].Value);
        Assert.Equal("mail [redacted:email]", Encoding.UTF8.GetString(fields[1].Value!));
        Assert.Equal(1, fields[2].Value![0]);
        Assert.Equal("{\"c\": \"[redacted:credit_card]\"}", Encoding.UTF8.GetString(fields[2].Value.AsSpan(1)));
        using (JsonDocument.Parse(fields[2].Value.AsMemory(1))) { }
        Assert.Equal(["x", "[redacted:ssn]"], Literals.ReadBinaryArray(fields[3].Value).Elements.Select(e => Encoding.UTF8.GetString(e!)));
        Assert.Null(fields[4].Value);
    }

    [Fact]
    public void Binary_values_the_scanner_cannot_read_are_reported()
    {
        var output = new ArrayBufferWriter<byte>();
        Assert.Equal(ScanNote.NotText, Scanner().ScanBinary([0, 0, 0, 0, 0, 0, 0, 7], 20, output).Note);
        Assert.Equal(ScanNote.Unscannable, Scanner().ScanBinary([0, 1, 2, 3, 0, 9], 16500, output).Note);
        Assert.Equal(ScanNote.Unscannable, Scanner().ScanBinary("ab@cd.ef"u8.ToArray().Prepend((byte)1).ToArray(), 16502, output).Note); // a binary int8-sized value
        Assert.Null(Scan(Scanner(max: 4), "hello", oid: 16503).Text); // an unknown type over the limit: NULL, not a marker its parser may refuse
        Assert.True(Scanner().ScanBinary("alice@example.com"u8, 16501, output).Rewritten); // citext, an enum, a domain over text
        Assert.True(Scanner().ScanBinary([0, 0, 0, 9], 1009, new ArrayBufferWriter<byte>()).IsNull); // a malformed text[]
        Assert.Equal(ScanNote.NotText, Scanner().Scan("4111111111111111"u8, 20, output).Note); // numbers are not scanned, in either format
        Assert.Equal(ScanNote.NotText, Scanner().Scan("{4111111111111111}"u8, 1016, output).Note);
        Assert.Equal(ScanNote.NotText, Scanner(max: 8).ScanBinary(Literals.BinaryArray(20, new byte[8], new byte[8]), 1016, output).Note); // int8[]: never scanned, at any size
    }

    private static void AssertNoSecrets(string text)
    {
        foreach (var secret in Secrets)
        {
            Assert.DoesNotContain(secret, text, StringComparison.Ordinal);
        }

        Assert.DoesNotContain("alice@example.com", text, StringComparison.Ordinal);
        Assert.DoesNotContain("bob@example.com", text, StringComparison.Ordinal);
    }

    private static string Decoded(JsonElement element) => element.ValueKind switch
    {
        JsonValueKind.Object => string.Join("\n", element.EnumerateObject().Select(p => p.Name + "\n" + Decoded(p.Value))),
        JsonValueKind.Array => string.Join("\n", element.EnumerateArray().Select(Decoded)),
        JsonValueKind.String => element.GetString()!,
        _ => element.GetRawText(),
    };
}
