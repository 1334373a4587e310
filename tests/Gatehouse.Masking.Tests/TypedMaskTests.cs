using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using static Gatehouse.Masking.Tests.Support;

namespace Gatehouse.Masking.Tests;

/// <summary>Type rules: every output is a valid value of the column's type (in its format) or NULL.</summary>
public sealed class TypedMaskTests
{
    public static TheoryData<string> Strategies => ["redact", "email", "last4", "hash", "partial(1,2)", "fake"];

    [Theory]
    [InlineData(25u)]
    [InlineData(1043u)]
    [InlineData(1042u)]
    [InlineData(19u)]
    [InlineData(0u)]
    public void Text_types_mask_as_text_in_both_formats(uint oid)
    {
        foreach (var binary in new[] { false, true })
        {
            var (bytes, _) = Typed("alice@example.com"u8.ToArray(), oid, "email", binary);
            Assert.Equal("a***@example.com", Utf8(bytes));
        }
    }

    [Theory]
    [MemberData(nameof(Strategies))]
    public void Jsonb_binary_keeps_the_version_byte_and_is_valid_json(string strategy)
    {
        string[] documents = ["\"alice@example.com\"", "{\"email\": \"alice@example.com\", \"n\": [1, 2]}", "4111111111111111", "\"a \\\"quoted\\\" \\\\ text\"", "null", "[]", "\"\"", "\"line\\nbreak\""];
        foreach (var json in documents)
        {
            var (bytes, result) = Typed([1, .. Encoding.UTF8.GetBytes(json)], 3802, strategy, binary: true);
            Assert.False(result.IsNull);
            Assert.Equal(1, bytes![0]);
            using var parsed = JsonDocument.Parse(bytes.AsMemory(1));
            Assert.Equal(JsonValueKind.String, parsed.RootElement.ValueKind);
        }
    }

    [Fact]
    public void Json_strings_are_masked_by_content_and_other_json_by_text()
    {
        Assert.Equal("\"a***@example.com\"", Json("\"alice@example.com\"", "email"));
        Assert.Equal("\"[redacted]\"", Json("{\"a\":1}", "email"));
        Assert.Equal("\"[redacted]\"", Json("{\"a\":1}", "redact"));
        Assert.Equal("\"************1111\"", Json("4111111111111111", "last4"));
        Assert.Equal("\"*******\"", Json("{\"a\":1}", "last4"));
        Assert.Equal("\"{\\\"***e\\\":\\\"Bob\\\"}\"", Json("{\"name\":\"Bob\"}", "last4"));
        Assert.Equal(Text("alice@example.com", "hash"), JsonSerializer.Deserialize<string>(Json(" \"alice@example.com\" ", "hash")));

        static string Json(string json, string strategy) => Utf8(Typed(Encoding.UTF8.GetBytes(json), 114, strategy, binary: false).Bytes);
    }

    [Fact]
    public void Jsonb_with_an_unknown_version_is_null()
    {
        var (bytes, result) = Typed([2, (byte)'1'], 3802, "redact", binary: true);
        Assert.Null(bytes);
        Assert.Equal(MaskNote.Malformed, result.Note);
        Assert.True(Typed([], 3802, "redact", binary: true).Result.IsNull);
    }

    [Fact]
    public void Jsonb_text_format_has_no_version_byte()
    {
        var (bytes, _) = Typed("{\"a\": \"b\"}"u8.ToArray(), 3802, "redact", binary: false);
        Assert.Equal("\"[redacted]\"", Utf8(bytes));
    }

    [Theory]
    [MemberData(nameof(Strategies))]
    public void Xml_output_is_xml_content(string strategy)
    {
        foreach (var xml in new[] { "<email>alice@example.com</email>", "alice@example.com", "a &amp; b 1234" })
        {
            var (bytes, _) = Typed(Encoding.UTF8.GetBytes(xml), 142, strategy, binary: true);
            var text = Utf8(bytes);
            System.Xml.Linq.XElement.Parse("<root>" + text + "</root>");
            if (xml.StartsWith('<') && strategy is not "hash")
            {
                Assert.Equal("[redacted]", text);
            }
        }
    }

    [Fact]
    public void Bytea_is_emptied_or_hashed_and_both_formats_agree()
    {
        byte[] raw = [0xDE, 0xAD, 0xBE, 0xEF, 0x00, 0x01];
        var (binaryHash, _) = Typed(raw, 17, "hash", binary: true);
        Assert.Equal(8, binaryHash!.Length);
        var (textHash, _) = Typed("\\xdeadbeef0001"u8.ToArray(), 17, "hash", binary: false);
        Assert.Equal("\\x" + Convert.ToHexStringLower(binaryHash), Utf8(textHash));
        Assert.Equal("\\x" + Convert.ToHexStringLower(binaryHash), Utf8(Typed("\\xDEADBEEF0001"u8.ToArray(), 17, "hash", binary: false).Bytes));

        var (empty, result) = Typed(raw, 17, "redact", binary: true);
        Assert.Empty(empty!);
        Assert.Equal(MaskNote.Emptied, result.Note);
        Assert.Equal("\\x", Utf8(Typed("\\xdead"u8.ToArray(), 17, "last4", binary: false).Bytes));
    }

    [Fact]
    public void Int8_hash_is_a_valid_int8_the_same_in_both_formats()
    {
        var be = new byte[8];
        BinaryPrimitives.WriteInt64BigEndian(be, -1234567890123);
        var (binary, _) = Typed(be, 20, "hash", binary: true);
        Assert.Equal(8, binary!.Length);
        var hashed = BinaryPrimitives.ReadInt64BigEndian(binary);
        Assert.True(hashed >= 0);
        var (text, _) = Typed("-1234567890123"u8.ToArray(), 20, "hash", binary: false);
        Assert.Equal(hashed, long.Parse(Utf8(text), System.Globalization.CultureInfo.InvariantCulture));
        Assert.NotEqual(hashed, BinaryPrimitives.ReadInt64BigEndian(Typed(new byte[8], 20, "hash", binary: true).Bytes));
        Assert.Equal(MaskNote.Malformed, Typed([1, 2, 3], 20, "hash", binary: true).Result.Note);
    }

    [Fact]
    public void Uuid_hash_is_a_version_8_uuid_the_same_in_both_formats()
    {
        var id = Guid.Parse("0b6f8a5e-3c1d-4e2f-9a7b-112233445566");
        var (binary, _) = Typed(id.ToByteArray(bigEndian: true), 2950, "hash", binary: true);
        var (text, _) = Typed("0b6f8a5e-3c1d-4e2f-9a7b-112233445566"u8.ToArray(), 2950, "hash", binary: false);
        var fromBinary = new Guid(binary!, bigEndian: true);
        Assert.Equal(fromBinary, Guid.Parse(Utf8(text)));
        Assert.Equal(8, fromBinary.Version);
        Assert.Equal(0x8, fromBinary.Variant & 0xC);
        Assert.NotEqual(id, fromBinary);
    }

    [Theory]
    [InlineData(23u, "redact")]
    [InlineData(23u, "hash")]
    [InlineData(21u, "last4")]
    [InlineData(20u, "last4")]
    [InlineData(1700u, "partial(1,1)")]
    [InlineData(701u, "fake")]
    [InlineData(1082u, "redact")]
    [InlineData(1114u, "redact")]
    [InlineData(2950u, "redact")]
    [InlineData(16u, "redact")]
    [InlineData(1009u, "redact")]
    [InlineData(2249u, "redact")]
    [InlineData(18u, "redact")]
    [InlineData(99999u, "redact")]
    public void Other_types_are_null(uint oid, string strategy)
    {
        foreach (var binary in new[] { false, true })
        {
            var (bytes, result) = Typed([0, 0, 0, 42], oid, strategy, binary);
            Assert.Null(bytes);
            Assert.True(result.IsNull);
            Assert.Equal(MaskNote.UnsupportedType, result.Note);
        }
    }

    [Fact]
    public void Null_strategy_is_null_for_every_type()
    {
        foreach (var oid in new uint[] { 25, 3802, 17, 20, 2950, 23 })
        {
            Assert.True(Typed([1, 2], oid, "null", binary: true).Result.IsNull);
        }
    }
}
