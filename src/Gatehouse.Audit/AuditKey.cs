using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using Gatehouse.State;

namespace Gatehouse.Audit;

/// <summary>
/// The HMAC-SHA-256 key of the audit chain. Each record's MAC covers its chain, sequence number, time, kind,
/// session and body, and the MAC of the record before it, so an edit, a deletion or a reorder breaks the chain
/// at that record. Anchors (where retention cut a chain) are signed with the same key under another label.
/// The key never leaves this object: not in logs, records or messages.
/// </summary>
public sealed class AuditKey
{
    private static readonly byte[] AnchorLabel = "gatehouse-audit-anchor-v1"u8.ToArray();
    private readonly byte[] _key;
    // One keyed HMAC per thread, reset after each use: a one-shot HMAC sets up OpenSSL's context every call, which
    // costs more than hashing a record (2.5 µs against 1.2 µs for 400 bytes here).
    private readonly ThreadLocal<IncrementalHash> _hmac;

    private AuditKey(byte[] key)
    {
        _key = key;
        _hmac = new ThreadLocal<IncrementalHash>(() => IncrementalHash.CreateHMAC(HashAlgorithmName.SHA256, _key));
    }

    /// <summary>A MAC of 32 zero bytes stands for "no predecessor" (the first record of a chain).</summary>
    public static byte[] Genesis { get; } = new byte[32];

    /// <summary>From key material (at least 32 bytes).</summary>
    public static AuditKey FromBytes(ReadOnlySpan<byte> key)
    {
        if (key.Length < 32)
        {
            throw new ArgumentException("an audit key needs at least 32 bytes", nameof(key));
        }

        return new AuditKey(key.ToArray());
    }

    /// <summary>
    /// Reads the key file, or creates it (32 random bytes, owner-only) when <paramref name="create"/> and it does
    /// not exist. A file is read as base64 or hex text when it is text, else as raw bytes. Errors are one line,
    /// naming the file, never its content.
    /// </summary>
    public static AuditKey Load(string path, bool create)
    {
        if (!File.Exists(path))
        {
            if (!create)
            {
                throw new AuditKeyException($"audit.key_file {path} does not exist");
            }

            Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
            var fresh = RandomNumberGenerator.GetBytes(32);
            var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
            if (!OperatingSystem.IsWindows())
            {
                options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
            }

            try
            {
                using var stream = new FileStream(path, options);
                stream.Write(Encoding.ASCII.GetBytes(Convert.ToBase64String(fresh) + "\n"));
                return new AuditKey(fresh);
            }
            catch (IOException) when (File.Exists(path))
            {
                // Another process created it first: read theirs below.
            }
        }

        byte[] raw;
        try
        {
            raw = File.ReadAllBytes(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new AuditKeyException($"cannot read audit.key_file {path}: {ex.Message}");
        }

        var key = Decode(raw);
        if (key.Length < 32)
        {
            throw new AuditKeyException($"audit.key_file {path} holds {key.Length} bytes of key; at least 32 are needed");
        }

        return new AuditKey(key);
    }

    private static byte[] Decode(byte[] raw)
    {
        var text = Encoding.ASCII.GetString(raw).Trim();
        if (text.Length > 0 && text.All(c => c < 128 && !char.IsControl(c)))
        {
            if (text.Length % 2 == 0 && text.All(Uri.IsHexDigit))
            {
                return Convert.FromHexString(text);
            }

            var buffer = new byte[text.Length];
            if (Convert.TryFromBase64String(text, buffer, out int written))
            {
                return buffer[..written];
            }
        }

        return raw;
    }

    /// <summary>
    /// The MAC of a record whose predecessor's MAC is <paramref name="previous"/>: HMAC-SHA-256 over the fields,
    /// length-prefixed, laid out in one buffer and hashed in one call (a call per field cost more than the hash).
    /// Thread-safe.
    /// </summary>
    public byte[] Mac(string chain, long seq, DateTimeOffset time, string kind, string? session, string body, ReadOnlySpan<byte> previous)
    {
        session ??= string.Empty;
        // Sized by the most UTF-8 each field can take, so the body is encoded once rather than counted first.
        int most = 8 + MaxBytes(chain) + 8 + 8 + 8 + MaxBytes(kind) + 8 + MaxBytes(session) + 8 + MaxBytes(body) + previous.Length;
        byte[] rented = System.Buffers.ArrayPool<byte>.Shared.Rent(most);
        try
        {
            var input = rented.AsSpan();
            int at = Field(input, chain);
            at += Number(input[at..], seq);
            at += Number(input[at..], time.ToUnixTimeMilliseconds());
            at += Field(input[at..], kind);
            at += Field(input[at..], session);
            at += Field(input[at..], body);
            previous.CopyTo(input[at..]);
            return Hash(input[..(at + previous.Length)]);
        }
        finally
        {
            System.Buffers.ArrayPool<byte>.Shared.Return(rented);
        }
    }

    /// <summary>True when <paramref name="row"/>'s MAC is the one this key gives it after <paramref name="previous"/>.</summary>
    public bool Verifies(AuditRow row, ReadOnlySpan<byte> previous) =>
        CryptographicOperations.FixedTimeEquals(Mac(row.Chain, row.Seq, row.Time, row.Kind, row.SessionId, row.Body, previous), row.Mac);

    /// <summary>An anchor's signature: binds the chain, the pruned position and the MAC the rest continues from.</summary>
    public byte[] SignAnchor(string chain, long seq, ReadOnlySpan<byte> mac, DateTimeOffset time)
    {
        int length = AnchorLabel.Length + 8 + Encoding.UTF8.GetByteCount(chain) + 8 + 8 + mac.Length;
        byte[] rented = System.Buffers.ArrayPool<byte>.Shared.Rent(length);
        try
        {
            var input = rented.AsSpan(0, length);
            AnchorLabel.CopyTo(input);
            int at = AnchorLabel.Length;
            at += Field(input[at..], chain);
            at += Number(input[at..], seq);
            at += Number(input[at..], time.ToUnixTimeMilliseconds());
            mac.CopyTo(input[at..]);
            return Hash(input);
        }
        finally
        {
            System.Buffers.ArrayPool<byte>.Shared.Return(rented);
        }
    }

    private byte[] Hash(ReadOnlySpan<byte> input)
    {
        var hmac = _hmac.Value!;
        hmac.AppendData(input);
        return hmac.GetHashAndReset();
    }

    public bool VerifiesAnchor(AuditAnchor anchor) =>
        CryptographicOperations.FixedTimeEquals(SignAnchor(anchor.Chain, anchor.Seq, anchor.Mac, anchor.Time), anchor.Signature);

    // Length-prefixed (8 bytes, big-endian, then the UTF-8 bytes), so no two different field lists give the same input.
    private static int Field(Span<byte> into, string value)
    {
        int length = Encoding.UTF8.GetBytes(value, into[8..]);
        BinaryPrimitives.WriteInt64BigEndian(into, length);
        return 8 + length;
    }

    private static int MaxBytes(string value) => Encoding.UTF8.GetMaxByteCount(value.Length);

    private static int Number(Span<byte> into, long value)
    {
        BinaryPrimitives.WriteInt64BigEndian(into, value);
        return 8;
    }
}

/// <summary>The audit key cannot be used; the message names the file, never the key.</summary>
public sealed class AuditKeyException(string message) : Exception(message);
