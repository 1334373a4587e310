using System.Buffers;
using System.Buffers.Binary;
using System.Text;
using System.Text.Unicode;
using Gatehouse.Masking.Detectors;

namespace Gatehouse.Masking;

/// <summary>
/// Finds sensitive content in text (emails, card numbers, SSNs, phone numbers, IBANs, secrets) and rewrites only the
/// matched spans with a strategy: <c>redact</c> gives <c>[redacted:email]</c> and the like, other strategies mask
/// the span as <see cref="Masker"/> would, <c>null</c> makes the whole value NULL. Thread-safe; one per grant.
/// </summary>
/// <remarks>
/// <para>One pass: a vectorised search for the bytes that can start or anchor a match (digits, <c>@ _ - A B J</c>,
/// only those the enabled detectors need), then an anchored check around each; clean text costs the search alone,
/// allocates nothing and writes nothing.</para>
/// <para>JSON, array and composite literals and XML are plain text: matches never contain <c>" \ , { } &lt; &amp;</c>
/// (a phone's parentheses come in pairs), a match never starts at an escaped character, and replacements
/// contain none of them, so the container's syntax survives. For json/jsonb a match outside a string (a number)
/// becomes a JSON string. See docs/masking.md, "Detectors", for what each detector matches and the limits.</para>
/// </remarks>
public sealed class ContentScanner
{
    /// <summary>Values longer than this are fully redacted without being scanned (fail closed).</summary>
    public const int DefaultMaxScanBytes = 16 * 1024 * 1024;

    private const int MaxDepth = 8;

    /// <summary>Control bytes other than tab, line feed and carriage return: binary numbers hold them, text does not.</summary>
    private static readonly SearchValues<byte> ControlBytes =
        SearchValues.Create([0, 1, 2, 3, 4, 5, 6, 7, 8, 11, 12, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 127]);

    private readonly MaskKeys _keys;
    private readonly SearchValues<byte> _triggers;

    public ContentScanner(DetectorKind detectors, MaskStrategy strategy, Masker masker, int maxScanBytes = DefaultMaxScanBytes)
    {
        ArgumentNullException.ThrowIfNull(strategy);
        ArgumentNullException.ThrowIfNull(masker);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxScanBytes);
        Detectors = detectors & DetectorKind.All;
        Strategy = strategy;
        MaxScanBytes = maxScanBytes;
        _keys = masker.Keys;

        var triggers = new List<byte>();
        if ((detectors & (DetectorKind.CreditCard | DetectorKind.Ssn | DetectorKind.Phone | DetectorKind.Iban)) != 0)
        {
            triggers.AddRange("0123456789"u8.ToArray());
        }

        if ((detectors & DetectorKind.Email) != 0)
        {
            triggers.Add((byte)'@');
        }

        if ((detectors & DetectorKind.Secret) != 0)
        {
            triggers.AddRange("_-ABJ"u8.ToArray());
        }

        _triggers = SearchValues.Create(triggers.ToArray());
    }

    public DetectorKind Detectors { get; }

    public MaskStrategy Strategy { get; }

    public int MaxScanBytes { get; }

    /// <summary>Scans plain text. <see cref="ScanOutcome.Unchanged"/>: nothing matched and nothing was written.</summary>
    public ScanResult Scan(ReadOnlySpan<byte> utf8, IBufferWriter<byte> output)
    {
        ArgumentNullException.ThrowIfNull(output);
        return utf8.Length > MaxScanBytes ? TooLarge(PgTypeClass.Text, output, versionByte: false) : ScanText(utf8, 0, json: false, output, failClosed: false);
    }

    /// <summary>
    /// Scans a text-format value of type <paramref name="typeOid"/>: text types, xml, records and unknown types as
    /// plain text; json and jsonb JSON-aware; json[]/jsonb[] literals NULL on a match (fail closed); types that hold no
    /// free text are not scanned.
    /// </summary>
    public ScanResult Scan(ReadOnlySpan<byte> value, uint typeOid, IBufferWriter<byte> output)
    {
        ArgumentNullException.ThrowIfNull(output);
        var type = PgTypes.Classify(typeOid);
        var element = type == PgTypeClass.Array ? PgTypes.Classify(PgTypes.ElementOf(typeOid)) : PgTypeClass.Text;
        if (IsNotText(type) || IsNotText(element))
        {
            return ScanResult.Unchanged(ScanNote.NotText);
        }

        var failClosed = element is PgTypeClass.Json or PgTypeClass.Jsonb;

        var json = type is PgTypeClass.Json or PgTypeClass.Jsonb;
        if (value.Length > MaxScanBytes)
        {
            return TooLarge(json ? PgTypeClass.Json : type, output, versionByte: false);
        }

        return ScanText(value, 0, json, output, failClosed);
    }

    /// <summary>
    /// Scans a binary-format value of type <paramref name="typeOid"/>; the output is a valid binary value of the type.
    /// Text types, json and jsonb (version byte kept) as text; arrays and records element by element, rewritten with
    /// new lengths; a value of an unknown type as text if it is UTF-8 without control bytes (tab, CR and LF allowed),
    /// else as an array or record if it parses as one, else not at all (<see cref="ScanNote.Unscannable"/>).
    /// </summary>
    public ScanResult ScanBinary(ReadOnlySpan<byte> value, uint typeOid, IBufferWriter<byte> output)
    {
        ArgumentNullException.ThrowIfNull(output);
        var type = PgTypes.Classify(typeOid);
        if (IsNotText(type) || (type == PgTypeClass.Array && IsNotText(PgTypes.Classify(PgTypes.ElementOf(typeOid)))))
        {
            return ScanResult.Unchanged(ScanNote.NotText);
        }

        if (value.Length > MaxScanBytes)
        {
            return TooLarge(type, output, versionByte: type == PgTypeClass.Jsonb);
        }

        return ScanBinary(value, typeOid, output, depth: 0);
    }

    /// <summary>Scrubs a message text (error and notice fields, notification payloads): redaction markers for the
    /// <c>null</c> strategy, since a message cannot be NULL.</summary>
    public string Scrub(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var bytes = Encoding.UTF8.GetBytes(text);
        if (bytes.Length > MaxScanBytes)
        {
            return Encoding.UTF8.GetString(Masker.RedactMarker);
        }

        var output = new ArrayBufferWriter<byte>();
        var emitter = new Emitter(bytes, 0, json: false, output, this, markersForNull: true);
        var result = Run(ref emitter, failClosed: false);
        return result.Rewritten ? Encoding.UTF8.GetString(output.WrittenSpan) : text;
    }

    /// <summary>Types whose values hold no free text: not scanned, in either format.</summary>
    private static bool IsNotText(PgTypeClass type) => type is PgTypeClass.NonText or PgTypeClass.Bytea or PgTypeClass.Int8 or PgTypeClass.Uuid;

    private ScanResult ScanText(ReadOnlySpan<byte> text, int from, bool json, IBufferWriter<byte> output, bool failClosed)
    {
        var emitter = new Emitter(text, from, json, output, this, markersForNull: false);
        return Run(ref emitter, failClosed);
    }

    private ScanResult Run(ref Emitter emitter, bool failClosed)
    {
        var t = emitter.Text;
        var pos = emitter.From;
        while (pos < t.Length)
        {
            var i = t[pos..].IndexOfAny(_triggers);
            if (i < 0)
            {
                break;
            }

            var p = pos + i;
            if (TryAt(t, p, emitter.Emitted, out var kind, out var start, out var end) && !Chars.IsEscaped(t, start))
            {
                if ((Strategy.Kind == MaskKind.Null && !emitter.MarkersForNull) || failClosed)
                {
                    return ScanResult.WriteNull(failClosed ? ScanNote.FailedClosed : ScanNote.None, 1, kind);
                }

                emitter.Replace(start, end, kind);
                pos = end;
                continue;
            }

            pos = p + 1;
            if (Chars.IsDigit(t[p]))
            {
                // No detector starts inside a word: skip the rest of this one, unless the digits are a \uXXXX escape's,
                // after which a word can start.
                var escapeEnd = Chars.UnicodeEscapeEnd(t, p);
                if (escapeEnd > 0)
                {
                    pos = escapeEnd;
                    continue;
                }

                while (pos < t.Length && Chars.IsAlnum(t[pos]))
                {
                    pos++;
                }
            }
        }

        return emitter.Finish();
    }

    private bool TryAt(ReadOnlySpan<byte> t, int p, int floor, out DetectorKind kind, out int start, out int end)
    {
        var b = t[p];
        var on = Detectors;
        start = p;
        end = -1;
        if (Chars.IsDigit(b))
        {
            kind = DetectorKind.Iban;
            if ((on & DetectorKind.Iban) != 0 && NumberDetectors.TryIban(t, p, floor, out start, out end))
            {
                return true;
            }

            // Cards, SSNs and phones need 13 digits in a row, digits joined by a separator, or a + or ( before:
            // most numbers in prose ("1042 shipped", "3 items") have none of these.
            var run = p + 1;
            while (run < t.Length && run - p < 13 && Chars.IsDigit(t[run]))
            {
                run++;
            }

            if (run - p < 13 && !(run + 1 < t.Length && t[run] is (byte)' ' or (byte)'-' or (byte)'.' && Chars.IsDigit(t[run + 1]))
                && !(p > floor && t[p - 1] is (byte)'+' or (byte)'('))
            {
                return false;
            }

            start = p;
            kind = DetectorKind.Ssn;
            if ((on & DetectorKind.Ssn) != 0 && NumberDetectors.TrySsn(t, p, out end))
            {
                return true;
            }

            kind = DetectorKind.CreditCard;
            if ((on & DetectorKind.CreditCard) != 0 && NumberDetectors.TryCard(t, p, out end))
            {
                return true;
            }

            kind = DetectorKind.Phone;
            return (on & DetectorKind.Phone) != 0 && NumberDetectors.TryPhone(t, p, floor, out start, out end);
        }

        if (b == '@')
        {
            kind = DetectorKind.Email;
            return EmailDetector.TryMatch(t, p, floor, out start, out end);
        }

        kind = DetectorKind.Secret;
        switch (b)
        {
            case (byte)'_':
                return SecretDetectors.TryUnderscore(t, p, floor, out start, out end);
            case (byte)'-':
                return SecretDetectors.TryDash(t, p, floor, out start, out end);
            case (byte)'A':
                return SecretDetectors.TryAws(t, p, out end);
            case (byte)'B':
                return SecretDetectors.TryBearer(t, p, out start, out end);
            case (byte)'J':
                return SecretDetectors.TryJwt(t, p, floor, out start, out end);
            default:
                return false;
        }
    }

    private ScanResult TooLarge(PgTypeClass type, IBufferWriter<byte> output, bool versionByte)
    {
        if (Strategy.Kind == MaskKind.Null || type is PgTypeClass.Array or PgTypeClass.Record or PgTypeClass.Unknown)
        {
            return ScanResult.WriteNull(ScanNote.TooLarge);
        }

        var sink = new OutputSink(output, 16);
        var json = type is PgTypeClass.Json or PgTypeClass.Jsonb;
        if (versionByte)
        {
            sink.WriteRaw([1]);
        }

        if (json)
        {
            sink.WriteRaw("\""u8);
        }

        sink.WriteRaw(Masker.RedactMarker);
        if (json)
        {
            sink.WriteRaw("\""u8);
        }

        return new ScanResult(ScanOutcome.Rewritten, sink.Complete(), 0, DetectorKind.None, ScanNote.TooLarge);
    }

    private ScanResult ScanBinary(ReadOnlySpan<byte> value, uint typeOid, IBufferWriter<byte> output, int depth)
    {
        switch (PgTypes.Classify(typeOid))
        {
            case PgTypeClass.Text or PgTypeClass.Xml:
                return ScanText(value, 0, json: false, output, failClosed: false);
            case PgTypeClass.Json:
                return ScanText(value, 0, json: true, output, failClosed: false);
            case PgTypeClass.Jsonb:
                return value.Length > 0 && value[0] == 1 ? ScanText(value, 1, json: true, output, failClosed: false) : ScanResult.WriteNull(ScanNote.Malformed);
            case PgTypeClass.Array:
                return BinaryContainers.IsArray(value) ? ScanContainer(value, isArray: true, output, depth) : ScanResult.WriteNull(ScanNote.Malformed);
            case PgTypeClass.Record:
                return BinaryContainers.IsRecord(value) ? ScanContainer(value, isArray: false, output, depth) : ScanResult.WriteNull(ScanNote.Malformed);
            case PgTypeClass.Unknown:
                if (value.IndexOfAny(ControlBytes) < 0 && Utf8.IsValid(value))
                {
                    return ScanText(value, 0, json: false, output, failClosed: false);
                }

                if (BinaryContainers.IsArray(value))
                {
                    return ScanContainer(value, isArray: true, output, depth);
                }

                return BinaryContainers.IsRecord(value) ? ScanContainer(value, isArray: false, output, depth) : ScanResult.Unchanged(ScanNote.Unscannable);
            default:
                return ScanResult.Unchanged(ScanNote.NotText);
        }
    }

    /// <summary>
    /// A binary array or record, element by element. Elements are scanned into one scratch buffer (allocated only
    /// once something matches); then, if anything changed, the container is written again with new lengths.
    /// </summary>
    private ScanResult ScanContainer(ReadOnlySpan<byte> value, bool isArray, IBufferWriter<byte> output, int depth)
    {
        if (depth >= MaxDepth)
        {
            return ScanResult.WriteNull(ScanNote.Malformed);
        }

        ArrayBufferWriter<byte>? scratch = null;
        List<(int Element, int Offset, int Length)>? changes = null;
        var (matches, found, anyNull) = (0, DetectorKind.None, false);
        var elements = new BinaryContainers.Elements(value, isArray);
        for (var index = 0; elements.MoveNext(); index++)
        {
            if (elements.IsNull)
            {
                continue;
            }

            scratch ??= new ArrayBufferWriter<byte>();
            var before = scratch.WrittenCount;
            var result = ScanBinary(elements.Value, elements.TypeOid, scratch, depth + 1);
            if (result.Outcome == ScanOutcome.Unchanged)
            {
                continue;
            }

            if (result.IsNull && Strategy.Kind == MaskKind.Null)
            {
                return ScanResult.WriteNull(ScanNote.None, result.Matches, result.Found);
            }

            (changes ??= []).Add((index, result.IsNull ? -1 : before, result.BytesWritten));
            anyNull |= result.IsNull;
            matches += result.Matches;
            found |= result.Found;
        }

        if (changes is null)
        {
            return ScanResult.Unchanged();
        }

        var sink = new OutputSink(output, value.Length + 64);
        elements = new BinaryContainers.Elements(value, isArray);
        if (isArray && anyNull)
        {
            sink.Write(elements.Header[..4]);
            BinaryContainers.WriteInt32(ref sink, 1); // the has-nulls flag
            sink.Write(elements.Header[8..]);
        }
        else
        {
            sink.Write(elements.Header);
        }

        var next = 0;
        for (var index = 0; elements.MoveNext(); index++)
        {
            if (!isArray)
            {
                BinaryContainers.WriteInt32(ref sink, (int)elements.TypeOid);
            }

            if (next < changes.Count && changes[next].Element == index)
            {
                var (_, offset, length) = changes[next++];
                BinaryContainers.WriteInt32(ref sink, offset < 0 ? -1 : length);
                if (offset >= 0)
                {
                    sink.Write(scratch!.WrittenSpan.Slice(offset, length));
                }
            }
            else
            {
                BinaryContainers.WriteInt32(ref sink, elements.IsNull ? -1 : elements.Value.Length);
                sink.Write(elements.Value);
            }
        }

        return new ScanResult(ScanOutcome.Rewritten, sink.Complete(), matches, found);
    }

    /// <summary>Copies the text between matches and writes each replacement; starts writing only at the first match.</summary>
    private ref struct Emitter
    {
        private readonly IBufferWriter<byte> _output;
        private readonly ContentScanner _scanner;
        private readonly bool _json;
        private OutputSink _sink;
        private bool _started;
        private int _jsonPos;
        private bool _inString;
        private int _matches;
        private DetectorKind _found;

        public Emitter(ReadOnlySpan<byte> text, int from, bool json, IBufferWriter<byte> output, ContentScanner scanner, bool markersForNull)
        {
            Text = text;
            From = from;
            _output = output;
            _scanner = scanner;
            _json = json;
            _jsonPos = from;
            MarkersForNull = markersForNull;
        }

        public ReadOnlySpan<byte> Text { get; }

        public int From { get; }

        /// <summary>Where the input has been copied or replaced up to: no detector looks back past it.</summary>
        public int Emitted { get; private set; }

        public bool MarkersForNull { get; }

        public void Replace(int start, int end, DetectorKind kind)
        {
            var quote = false;
            if (_json && !InString(start))
            {
                // A number (or invalid JSON) outside a string: replace the whole token by a JSON string.
                while (start > Emitted && IsNumberChar(Text[start - 1]))
                {
                    start--;
                }

                while (end < Text.Length && IsNumberChar(Text[end]))
                {
                    end++;
                }

                quote = true;
            }

            if (!_started)
            {
                _sink = new OutputSink(_output, Text.Length + 32);
                _started = true;
            }

            _sink.Write(Text[Emitted..start]);
            if (quote)
            {
                _sink.Write("\""u8);
            }

            WriteReplacement(Text[start..end], kind);
            if (quote)
            {
                _sink.Write("\""u8);
            }

            Emitted = end;
            _jsonPos = Math.Max(_jsonPos, end);
            _matches++;
            _found |= kind;
        }

        public ScanResult Finish()
        {
            if (!_started)
            {
                return ScanResult.Unchanged();
            }

            _sink.Write(Text[Emitted..]);
            return new ScanResult(ScanOutcome.Rewritten, _sink.Complete(), _matches, _found);
        }

        private void WriteReplacement(ReadOnlySpan<byte> span, DetectorKind kind)
        {
            var strategy = _scanner.Strategy;
            switch (strategy.Kind)
            {
                case MaskKind.Hash:
                    TextMasks.WriteHash(span, _scanner._keys, ref _sink);
                    return;
                case MaskKind.Email when kind == DetectorKind.Email:
                case MaskKind.Last4 or MaskKind.Partial or MaskKind.Fake when span.IndexOf((byte)'\\') < 0:
                    TextMasks.Apply(span, strategy, _scanner._keys, ref _sink);
                    return;
                default:
                    _sink.Write(DetectorNames.Marker(kind));
                    return;
            }
        }

        /// <summary>Whether <paramref name="index"/> is inside a JSON string, advancing from the last position asked.</summary>
        private bool InString(int index)
        {
            var k = _jsonPos;
            for (; k < index; k++)
            {
                var b = Text[k];
                if (_inString)
                {
                    if (b == '\\')
                    {
                        k++;
                    }
                    else if (b == '"')
                    {
                        _inString = false;
                    }
                }
                else if (b == '"')
                {
                    _inString = true;
                }
            }

            _jsonPos = k;
            return _inString;
        }

        private static bool IsNumberChar(byte b) => Chars.IsDigit(b) || b is (byte)'-' or (byte)'+' or (byte)'.' or (byte)'e' or (byte)'E';
    }
}

/// <summary>PostgreSQL's binary array and record layouts (array_send, record_send), read without copying.</summary>
internal static class BinaryContainers
{
    private const int MaxDimensions = 6;

    public static bool IsArray(ReadOnlySpan<byte> v)
    {
        if (v.Length < 12)
        {
            return false;
        }

        var dimensions = BinaryPrimitives.ReadInt32BigEndian(v);
        var flags = BinaryPrimitives.ReadInt32BigEndian(v[4..]);
        if (dimensions is < 0 or > MaxDimensions || flags is not (0 or 1) || v.Length < 12 + 8 * dimensions)
        {
            return false;
        }

        long count = dimensions == 0 ? 0 : 1;
        for (var d = 0; d < dimensions; d++)
        {
            var size = BinaryPrimitives.ReadInt32BigEndian(v[(12 + 8 * d)..]);
            count *= size;
            if (size < 0 || count > v.Length / 4)
            {
                return false;
            }
        }

        return Walk(v, 12 + 8 * dimensions, count, withOids: false);
    }

    public static bool IsRecord(ReadOnlySpan<byte> v)
    {
        if (v.Length < 4)
        {
            return false;
        }

        var fields = BinaryPrimitives.ReadInt32BigEndian(v);
        return fields >= 0 && fields <= v.Length / 8 && Walk(v, 4, fields, withOids: true);
    }

    private static bool Walk(ReadOnlySpan<byte> v, int offset, long count, bool withOids)
    {
        for (long i = 0; i < count; i++)
        {
            offset += withOids ? 4 : 0;
            if (offset > v.Length - 4)
            {
                return false;
            }

            var length = BinaryPrimitives.ReadInt32BigEndian(v[offset..]);
            offset += 4;
            if (length == -1)
            {
                continue;
            }

            if (length < 0 || length > v.Length - offset)
            {
                return false;
            }

            offset += length;
        }

        return offset == v.Length;
    }

    public static void WriteInt32(ref OutputSink sink, int value)
    {
        Span<byte> be = stackalloc byte[4];
        BinaryPrimitives.WriteInt32BigEndian(be, value);
        sink.Write(be);
    }

    /// <summary>The elements of a validated array or record, in order.</summary>
    public ref struct Elements
    {
        private readonly ReadOnlySpan<byte> _value;
        private readonly bool _isArray;
        private readonly uint _elementType;
        private int _offset;

        public Elements(ReadOnlySpan<byte> value, bool isArray)
        {
            _value = value;
            _isArray = isArray;
            if (isArray)
            {
                _elementType = BinaryPrimitives.ReadUInt32BigEndian(value[8..]);
                _offset = 12 + 8 * BinaryPrimitives.ReadInt32BigEndian(value);
            }
            else
            {
                _offset = 4;
            }

            Header = value[.._offset];
        }

        /// <summary>Everything before the first element: dimensions, flags and element type, or the field count.</summary>
        public ReadOnlySpan<byte> Header { get; }

        public uint TypeOid { get; private set; }

        public bool IsNull { get; private set; }

        public ReadOnlySpan<byte> Value { get; private set; }

        public bool MoveNext()
        {
            if (_offset >= _value.Length)
            {
                return false;
            }

            TypeOid = _isArray ? _elementType : BinaryPrimitives.ReadUInt32BigEndian(_value[_offset..]);
            _offset += _isArray ? 0 : 4;
            var length = BinaryPrimitives.ReadInt32BigEndian(_value[_offset..]);
            _offset += 4;
            IsNull = length == -1;
            Value = IsNull ? default : _value.Slice(_offset, length);
            _offset += IsNull ? 0 : length;
            return true;
        }
    }
}
