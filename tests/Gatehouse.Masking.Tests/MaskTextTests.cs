using System.Buffers;
using System.Text;
using static Gatehouse.Masking.Tests.Support;

namespace Gatehouse.Masking.Tests;

public sealed class MaskTextTests
{
    [Theory]
    [InlineData("")]
    [InlineData("x")]
    [InlineData("alice@example.com")]
    [InlineData("日本語 😀")]
    public void Redact_writes_the_fixed_marker(string value) => Assert.Equal("[redacted]", Text(value, "redact"));

    [Fact]
    public void Null_writes_nothing_and_says_null()
    {
        var output = new ArrayBufferWriter<byte>();
        var result = TestMasker.MaskText("x"u8, MaskStrategy.Null, output);
        Assert.True(result.IsNull);
        Assert.Equal(-1, result.FieldLength);
        Assert.Equal(0, output.WrittenCount);
    }

    [Theory]
    [InlineData("alice@example.com", "a***@example.com")]
    [InlineData("a@example.com", "a***@example.com")]
    [InlineData("Bob.Smith+tag@mail.example.co.uk", "B***@mail.example.co.uk")]
    [InlineData("élodie@exemple.fr", "é***@exemple.fr")]
    [InlineData("😀x@example.com", "****@example.com")]
    [InlineData("\"quoted\"@example.com", "****@example.com")]
    [InlineData("user@bücher.example", "u***@bücher.example")]
    [InlineData("user@xn--bcher-kva.xn--p1ai", "u***@xn--bcher-kva.xn--p1ai")]
    [InlineData("a@b@example.com", "a***@example.com")]
    public void Email_keeps_the_first_character_and_the_domain(string value, string expected) =>
        Assert.Equal(expected, Text(value, "email"));

    [Theory]
    [InlineData("")]
    [InlineData("x")]
    [InlineData("P@ssw0rd")]
    [InlineData("root@localhost")]
    [InlineData("@example.com")]
    [InlineData("alice@")]
    [InlineData("alice @example.com")]
    [InlineData("alice@example.c")]
    [InlineData("alice@example.c0m")]
    [InlineData("alice@exa_mple.com")]
    [InlineData("alice@example..com")]
    [InlineData("alice@.example.com")]
    [InlineData("4111 1111 1111 1111")]
    public void Email_on_anything_but_an_address_redacts(string value) => Assert.Equal("[redacted]", Text(value, "email"));

    [Fact]
    public void Email_with_a_local_part_over_64_bytes_redacts() =>
        Assert.Equal("[redacted]", Text(new string('a', 65) + "@example.com", "email"));

    [Theory]
    [InlineData("123-45-6789", "***-**-6789")]
    [InlineData("4111111111111111", "************1111")]
    [InlineData("4111 1111 1111 1111", "**** **** **** 1111")]
    [InlineData("+1 (555) 010-0100", "+* (***) ***-0100")]
    [InlineData("12345", "*2345")]
    [InlineData("1234", "****")]
    [InlineData("12-34", "*****")]
    [InlineData("", "")]
    [InlineData("a", "*")]
    [InlineData("ab-cd-e", "*b-cd-e")]
    [InlineData("Müller-Lüdenscheidt", "******-********eidt")]
    [InlineData("AB12 3456 😀", "**** 3456 *")]
    [InlineData("日本語のテキスト", "****テキスト")]
    public void Last4_keeps_separators_and_the_last_four_letters_or_digits(string value, string expected) =>
        Assert.Equal(expected, Text(value, "last4"));

    [Fact]
    public void Last4_counts_a_letter_and_its_combining_marks_as_one_character()
    {
        var decomposed = "cafe\u0301 1234"; // "café 1234" with e + COMBINING ACUTE
        Assert.Equal("**** 1234", Text(decomposed, "last4"));
        Assert.Equal("*bcde\u0301", Text("abcde\u0301", "last4"));
        Assert.Equal("****", Text("abcd\u0301", "last4")); // four characters: all masked, one * each
    }

    [Fact]
    public void Last4_on_ascii_takes_a_fast_path_that_agrees_with_the_general_one()
    {
        var random = new Random(3);
        const string alphabet = "abcXYZ0123456789 -./()+_:#@!";
        for (var i = 0; i < 2000; i++)
        {
            var value = new string(Enumerable.Range(0, random.Next(0, 30)).Select(_ => alphabet[random.Next(alphabet.Length)]).ToArray());
            var viaJson = Utf8(Typed(Encoding.UTF8.GetBytes("\"" + value + "\""), 114, "last4", binary: false).Bytes); // JSON output escapes: the general path
            Assert.Equal("\"" + Text(value, "last4") + "\"", viaJson);
        }
    }

    [Theory]
    [InlineData("partial(2,4)", "4111111111111111", "41**********1111")]
    [InlineData("partial(2,4)", "abcdef", "******")]
    [InlineData("partial(2,4)", "abcdefg", "ab*defg")]
    [InlineData("partial(0,0)", "secret", "******")]
    [InlineData("partial(1,0)", "secret", "s*****")]
    [InlineData("partial(0,1)", "secret", "*****t")]
    [InlineData("partial(1,1)", "", "")]
    [InlineData("partial(1,1)", "x", "*")]
    [InlineData("partial(1,1)", "😀🎉🚀", "😀*🚀")]
    [InlineData("partial(2,2)", "日本語のテキスト", "日本****スト")]
    [InlineData("partial(1,1)", "e\u0301abc", "e\u0301**c")]
    [InlineData("partial(1,1)", "ab\u0301c", "a*c")]
    public void Partial_keeps_first_and_last_characters_by_scalar(string strategy, string value, string expected) =>
        Assert.Equal(expected, Text(value, strategy));

    [Fact]
    public void Partial_uses_the_fill_character()
    {
        var output = new ArrayBufferWriter<byte>();
        TestMasker.MaskText("abcdef"u8, new MaskStrategy(MaskKind.Partial, 1, 1, '#'), output);
        Assert.Equal("a####f", Utf8(output.WrittenSpan));
    }

    [Fact]
    public void Hash_is_h_colon_and_16_hex_digits_deterministic_per_key()
    {
        var a = Text("alice@example.com", "hash")!;
        Assert.Matches("^h:[0-9a-f]{16}$", a);
        Assert.Equal(a, Text("alice@example.com", "hash"));
        Assert.NotEqual(a, Text("alice@example.con", "hash"));
        var other = new Masker(Encoding.ASCII.GetBytes("another key of at least 16 bytes"));
        Assert.NotEqual(a, Text("alice@example.com", "hash", other));
        Assert.Equal(a, Text("alice@example.com", "hash", new Masker(Key)));
        Assert.Matches("^h:[0-9a-f]{16}$", Text("", "hash")!);
    }

    [Fact]
    public void Hash_is_the_same_on_every_thread()
    {
        var expected = Text("4111111111111111", "hash");
        var results = new string?[8];
        Parallel.For(0, results.Length, i => results[i] = Text("4111111111111111", "hash"));
        Assert.All(results, r => Assert.Equal(expected, r));
    }

    [Fact]
    public void Fake_email_is_a_valid_address_derived_from_the_key()
    {
        var fake = Text("alice@example.com", "fake")!;
        Assert.Matches("^user_[0-9a-f]{10}@example\\.invalid$", fake);
        Assert.Equal(fake, Text("alice@example.com", "fake"));
        Assert.NotEqual(fake, Text("bob@example.com", "fake"));
        Assert.NotEqual(fake, Text("alice@example.com", "fake", new Masker(Encoding.ASCII.GetBytes("another key of at least 16 bytes"))));
        Assert.Equal("u***@example.invalid", Text(fake, "email"));
    }

    [Theory]
    [InlineData("+1 (555) 010-0100")]
    [InlineData("555-010-0100")]
    [InlineData("4111 1111 1111 1111")]
    [InlineData("AB-1234-cd")]
    [InlineData("Jean-Luc Picard, 42")]
    public void Fake_keeps_the_format_digits_for_digits_letters_for_letters(string value)
    {
        var fake = Text(value, "fake")!;
        Assert.Equal(value.Length, fake.Length);
        Assert.NotEqual(value, fake);
        for (var i = 0; i < value.Length; i++)
        {
            var (o, f) = (value[i], fake[i]);
            if (char.IsAsciiDigit(o)) Assert.True(char.IsAsciiDigit(f), fake);
            else if (char.IsAsciiLetterUpper(o)) Assert.True(char.IsAsciiLetterUpper(f), fake);
            else if (char.IsAsciiLetterLower(o)) Assert.True(char.IsAsciiLetterLower(f), fake);
            else Assert.Equal(o, f);
        }

        Assert.Equal(fake, Text(value, "fake"));
        Assert.NotEqual(fake, Text(value, "fake", new Masker(Encoding.ASCII.GetBytes("another key of at least 16 bytes"))));
    }

    [Fact]
    public void Fake_of_non_ascii_letters_is_ascii_letters_and_keeps_other_characters()
    {
        var fake = Text("Ünïcode 😀 ١٢٣", "fake")!; // Arabic-Indic digits
        Assert.Matches("^[A-Z][a-z]{6} 😀 [0-9]{3}$", fake);
        Assert.Matches("^[a-z]$", Text("e\u0301", "fake")!); // the mark goes with its letter
        Assert.Equal("", Text("", "fake"));
    }

    [Theory]
    [InlineData("email")]
    [InlineData("last4")]
    [InlineData("partial(2,2)")]
    [InlineData("fake")]
    [InlineData("hash")]
    [InlineData("redact")]
    public void Invalid_utf8_is_masked_byte_by_byte_without_copying_non_ascii_bytes(string strategy)
    {
        byte[] latin1 = [(byte)'J', (byte)'o', (byte)'s', 0xE9, (byte)' ', (byte)'1', (byte)'2', (byte)'3', (byte)'4', (byte)'5', 0xFF, 0xC3];
        var output = new ArrayBufferWriter<byte>();
        var result = TestMasker.MaskText(latin1, Strategy(strategy), output);
        Assert.False(result.IsNull);
        foreach (var b in output.WrittenSpan)
        {
            Assert.True(b < 0x80, $"{strategy} copied a non-ASCII byte");
        }

        if (strategy is "last4" or "partial(2,2)" or "fake")
        {
            Assert.Equal(MaskNote.InvalidUtf8, result.Note);
        }
    }

    [Fact]
    public void Invalid_utf8_masks_as_expected()
    {
        byte[] latin1 = [(byte)'J', (byte)'o', (byte)'s', 0xE9, (byte)' ', (byte)'1', (byte)'2', (byte)'3', (byte)'4', 0xE9];
        Assert.Equal("**** *234*", Text(latin1, "last4")); // 0xE9 is a letter: the last four are 2, 3, 4, é; é is never copied
        Assert.Equal("Jo******4*", Text(latin1, "partial(2,2)"));
        Assert.Equal("[redacted]", Text([(byte)'a', (byte)'@', (byte)'x', 0xE9, (byte)'.', (byte)'c', (byte)'o'], "email")); // the domain would be copied
        Assert.Equal("a***@example.com", Text([(byte)'a', 0xE9, (byte)'@', .. "example.com"u8], "email"));
    }

    [Theory]
    [InlineData("email")]
    [InlineData("last4")]
    [InlineData("partial(3,3)")]
    [InlineData("partial(0,1)")]
    [InlineData("fake")]
    public void Valid_utf8_in_gives_valid_utf8_out(string strategy)
    {
        var random = new Random(7);
        string[] pieces = ["a", "Z", "9", " ", "-", "@", ".", "é", "e\u0301", "😀", "👍🏽", "👨‍👩‍👧", "日本", "\u0301", "١", "ß", "\t", "ﬁ"];
        for (var i = 0; i < 500; i++)
        {
            var value = string.Concat(Enumerable.Range(0, random.Next(0, 20)).Select(_ => pieces[random.Next(pieces.Length)]));
            var output = new ArrayBufferWriter<byte>();
            TestMasker.MaskText(Encoding.UTF8.GetBytes(value), Strategy(strategy), output);
            Assert.True(IsValidUtf8(output.WrittenSpan), $"{strategy} of '{value}'");
        }
    }

    [Fact]
    public void Output_is_requested_in_bounded_pieces()
    {
        var value = new byte[1_000_000];
        value.AsSpan().Fill((byte)'7');
        var output = new MaxSpanWriter();
        var result = TestMasker.MaskText(value, MaskStrategy.Fake, output);
        Assert.Equal(value.Length, result.BytesWritten);
        Assert.True(output.LargestRequest <= 16 * 1024, $"asked for {output.LargestRequest} bytes at once");
    }

    private sealed class MaxSpanWriter : IBufferWriter<byte>
    {
        private readonly byte[] _buffer = new byte[64 * 1024];

        public int LargestRequest { get; private set; }

        public void Advance(int count) { }

        public Memory<byte> GetMemory(int sizeHint = 0) => throw new NotSupportedException();

        public Span<byte> GetSpan(int sizeHint = 0)
        {
            LargestRequest = Math.Max(LargestRequest, sizeHint);
            return _buffer.AsSpan(0, Math.Max(sizeHint, 1));
        }
    }
}
