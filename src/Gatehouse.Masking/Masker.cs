using System.Buffers;
using System.Buffers.Binary;

namespace Gatehouse.Masking;

/// <summary>
/// Masks one value with a <see cref="MaskStrategy"/>: the relay calls it for every masked field of every row.
/// Thread-safe and immutable; one instance per masking key. Allocates nothing per call (keyed strategies keep one
/// HMAC context per thread). The key never appears in <see cref="object.ToString"/> or anywhere but the HMAC.
/// </summary>
/// <remarks>
/// Text format is the client encoding's bytes: UTF-8 is masked character by character; anything that is not valid
/// UTF-8 is masked byte by byte and no non-ASCII byte is copied, so the output is valid in any ASCII-compatible
/// encoding. Values of any size are masked in one pass (two for last4/partial) with output requested from the
/// writer 16 KiB at a time; nothing is buffered. See docs/masking.md, "Strategies".
/// </remarks>
public sealed class Masker
{
    public const int MinKeyBytes = 16;

    private static readonly SearchValues<byte> HexDigits = SearchValues.Create("0123456789abcdefABCDEF"u8);

    private readonly MaskKeys _keys;

    /// <summary>The masker for <paramref name="key"/> (at least <see cref="MinKeyBytes"/> bytes, kept secret).</summary>
    public Masker(ReadOnlySpan<byte> key)
    {
        if (key.Length < MinKeyBytes)
        {
            throw new ArgumentException($"a masking key needs at least {MinKeyBytes} bytes", nameof(key));
        }

        _keys = new MaskKeys(key);
    }

    /// <summary>The marker <see cref="MaskKind.Redact"/> writes: <c>[redacted]</c>.</summary>
    public static ReadOnlySpan<byte> RedactMarker => TextMasks.RedactMarker;

    internal MaskKeys Keys => _keys;

    /// <summary>Masks a text value as text, whatever its column type (see the typed overload for type rules).</summary>
    public MaskResult MaskText(ReadOnlySpan<byte> utf8Value, MaskStrategy strategy, IBufferWriter<byte> output)
    {
        ArgumentNullException.ThrowIfNull(strategy);
        ArgumentNullException.ThrowIfNull(output);
        if (strategy.Kind == MaskKind.Null)
        {
            return MaskResult.WriteNull();
        }

        var sink = new OutputSink(output, TextMasks.SizeHint(utf8Value, strategy));
        var note = TextMasks.Apply(utf8Value, strategy, _keys, ref sink);
        return MaskResult.Written(sink.Complete(), note);
    }

    /// <summary>
    /// Masks a text-format value of type <paramref name="typeOid"/> so that the output is a valid text value of that
    /// type or NULL: text types as <see cref="MaskText(ReadOnlySpan{byte}, MaskStrategy, IBufferWriter{byte})"/>;
    /// json and jsonb as a JSON string; xml as text without markup; bytea empty (<c>\x</c>) or hashed; int8 and
    /// uuid hashed to a value of the type; every other type NULL. Pass 25 (text) for types known to be text
    /// (citext, enums, domains over text).
    /// </summary>
    public MaskResult MaskText(ReadOnlySpan<byte> value, uint typeOid, MaskStrategy strategy, IBufferWriter<byte> output) =>
        MaskTyped(value, typeOid, strategy, output, binary: false);

    /// <summary>
    /// Masks a binary-format value of type <paramref name="typeOid"/>; the output is a valid binary value of the type
    /// or NULL, never a malformed one: text types (binary = text) as text; jsonb keeps its version byte; bytea empty
    /// or the first 8 bytes of the hash; int8 and uuid hashed to a value of the type; everything else NULL.
    /// </summary>
    public MaskResult MaskBinary(ReadOnlySpan<byte> value, uint typeOid, MaskStrategy strategy, IBufferWriter<byte> output) =>
        MaskTyped(value, typeOid, strategy, output, binary: true);

    private MaskResult MaskTyped(ReadOnlySpan<byte> value, uint typeOid, MaskStrategy strategy, IBufferWriter<byte> output, bool binary)
    {
        ArgumentNullException.ThrowIfNull(strategy);
        ArgumentNullException.ThrowIfNull(output);
        if (strategy.Kind == MaskKind.Null)
        {
            return MaskResult.WriteNull();
        }

        switch (PgTypes.Classify(typeOid))
        {
            case PgTypeClass.Text:
                return MaskText(value, strategy, output);
            case PgTypeClass.Json:
                return MaskJson(value, strategy, output, versionByte: false);
            case PgTypeClass.Jsonb when binary:
                return value.Length > 0 && value[0] == 1 ? MaskJson(value[1..], strategy, output, versionByte: true) : MaskResult.WriteNull(MaskNote.Malformed);
            case PgTypeClass.Jsonb:
                return MaskJson(value, strategy, output, versionByte: false);
            case PgTypeClass.Xml:
                return MaskXml(value, strategy, output);
            case PgTypeClass.Bytea:
                return MaskBytea(value, strategy, output, binary);
            case PgTypeClass.Int8 when strategy.Kind == MaskKind.Hash:
                return HashInt8(value, output, binary);
            case PgTypeClass.Uuid when strategy.Kind == MaskKind.Hash:
                return HashUuid(value, output, binary);
            default:
                return MaskResult.WriteNull(MaskNote.UnsupportedType);
        }
    }

    /// <summary>
    /// A JSON value masked into a JSON string: a string without escapes has its content masked (so it hashes as the
    /// same text in a text column would); any other JSON (objects, arrays, numbers, escaped strings) is masked as its
    /// text. The result is always one JSON string, escaped as needed.
    /// </summary>
    private MaskResult MaskJson(ReadOnlySpan<byte> json, MaskStrategy strategy, IBufferWriter<byte> output, bool versionByte)
    {
        var content = json.Trim(" \t\r\n"u8);
        if (content.Length >= 2 && content[0] == '"' && content[^1] == '"' && content[1..^1].IndexOfAny((byte)'"', (byte)'\\') < 0)
        {
            content = content[1..^1];
        }

        var sink = new OutputSink(output, TextMasks.SizeHint(content, strategy) + 3);
        if (versionByte)
        {
            sink.WriteRaw([1]);
        }

        sink.WriteRaw("\""u8);
        sink.JsonEscape = true;
        var note = TextMasks.Apply(content, strategy, _keys, ref sink);
        sink.JsonEscape = false;
        sink.WriteRaw("\""u8);
        return MaskResult.Written(sink.Complete(), note);
    }

    /// <summary>XML: masks other than redact and hash apply only to text without markup (&lt; or &amp;), whose
    /// masked form is still XML content; marked-up values are redacted.</summary>
    private MaskResult MaskXml(ReadOnlySpan<byte> value, MaskStrategy strategy, IBufferWriter<byte> output)
    {
        if (strategy.Kind is MaskKind.Redact or MaskKind.Hash || value.IndexOfAny((byte)'<', (byte)'&') < 0)
        {
            return MaskText(value, strategy, output);
        }

        var sink = new OutputSink(output, RedactMarker.Length);
        sink.Write(RedactMarker);
        return MaskResult.Written(sink.Complete(), MaskNote.Redacted);
    }

    /// <summary>bytea: hash gives the first 8 bytes of the HMAC of the bytes (text format <c>\x</c> + 16 hex digits,
    /// decoded from hex input first, so both formats agree); any other strategy an empty value.</summary>
    private MaskResult MaskBytea(ReadOnlySpan<byte> value, MaskStrategy strategy, IBufferWriter<byte> output, bool binary)
    {
        var sink = new OutputSink(output, 18);
        if (strategy.Kind != MaskKind.Hash)
        {
            if (!binary)
            {
                sink.Write("\\x"u8);
            }

            return MaskResult.Written(sink.Complete(), MaskNote.Emptied);
        }

        Span<byte> mac = stackalloc byte[KeyedHash.Size];
        if (binary || !TryHashHex(value, mac))
        {
            _keys.Hash.Compute(value, mac);
        }

        if (binary)
        {
            sink.Write(mac[..8]);
        }
        else
        {
            Span<byte> text = stackalloc byte[18];
            "\\x"u8.CopyTo(text);
            Hex.Encode(mac[..8], text[2..]);
            sink.Write(text);
        }

        return MaskResult.Written(sink.Complete());
    }

    private bool TryHashHex(ReadOnlySpan<byte> text, Span<byte> mac)
    {
        if (!text.StartsWith("\\x"u8) || text.Length % 2 != 0)
        {
            return false;
        }

        var hex = text[2..];
        if (hex.IndexOfAnyExcept(HexDigits) >= 0)
        {
            return false;
        }

        using var hmac = _keys.Hash.Begin();
        Span<byte> chunk = stackalloc byte[256];
        while (!hex.IsEmpty)
        {
            var n = Math.Min(hex.Length, 2 * chunk.Length);
            for (var i = 0; i < n / 2; i++)
            {
                chunk[i] = (byte)(HexValue(hex[2 * i]) << 4 | HexValue(hex[2 * i + 1]));
            }

            hmac.Append(chunk[..(n / 2)]);
            hex = hex[n..];
        }

        hmac.Finish(mac);
        return true;

        static int HexValue(byte b) => b <= '9' ? b - '0' : (b | 0x20) - 'a' + 10;
    }

    /// <summary>int8 hash: a non-negative int8 from the HMAC of the value's decimal text (binary input is formatted
    /// first, so both formats agree).</summary>
    private MaskResult HashInt8(scoped ReadOnlySpan<byte> value, IBufferWriter<byte> output, bool binary)
    {
        Span<byte> text = stackalloc byte[20];
        if (binary)
        {
            if (value.Length != 8)
            {
                return MaskResult.WriteNull(MaskNote.Malformed);
            }

            BinaryPrimitives.ReadInt64BigEndian(value).TryFormat(text, out var n, default, System.Globalization.CultureInfo.InvariantCulture);
            value = text[..n];
        }

        Span<byte> mac = stackalloc byte[KeyedHash.Size];
        _keys.Hash.Compute(value, mac);
        var hashed = (long)(BinaryPrimitives.ReadUInt64BigEndian(mac) >> 1);
        var sink = new OutputSink(output, 20);
        if (binary)
        {
            Span<byte> be = stackalloc byte[8];
            BinaryPrimitives.WriteInt64BigEndian(be, hashed);
            sink.Write(be);
        }
        else
        {
            hashed.TryFormat(text, out var n, default, System.Globalization.CultureInfo.InvariantCulture);
            sink.Write(text[..n]);
        }

        return MaskResult.Written(sink.Complete());
    }

    /// <summary>uuid hash: a version-8 (RFC 9562 custom) UUID from the HMAC of the value's canonical text.</summary>
    private MaskResult HashUuid(scoped ReadOnlySpan<byte> value, IBufferWriter<byte> output, bool binary)
    {
        Span<byte> text = stackalloc byte[36];
        if (binary)
        {
            if (value.Length != 16)
            {
                return MaskResult.WriteNull(MaskNote.Malformed);
            }

            FormatUuid(value, text);
            value = text;
        }

        Span<byte> mac = stackalloc byte[KeyedHash.Size];
        _keys.Hash.Compute(value, mac);
        var uuid = mac[..16];
        uuid[6] = (byte)((uuid[6] & 0x0F) | 0x80);
        uuid[8] = (byte)((uuid[8] & 0x3F) | 0x80);
        var sink = new OutputSink(output, 36);
        if (binary)
        {
            sink.Write(uuid);
        }
        else
        {
            FormatUuid(uuid, text);
            sink.Write(text);
        }

        return MaskResult.Written(sink.Complete());
    }

    private static void FormatUuid(ReadOnlySpan<byte> uuid, Span<byte> text)
    {
        var at = 0;
        for (var i = 0; i < 16; i++)
        {
            if (i is 4 or 6 or 8 or 10)
            {
                text[at++] = (byte)'-';
            }

            Hex.Encode(uuid.Slice(i, 1), text.Slice(at, 2));
            at += 2;
        }
    }
}
