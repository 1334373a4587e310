using System.Security.Cryptography;

namespace Gatehouse.Masking;

/// <summary>
/// HMAC-SHA-256 under one derived key. A one-shot <see cref="HMACSHA256.HashData(ReadOnlySpan{byte}, ReadOnlySpan{byte}, Span{byte})"/>
/// sets up a new native context per call (about 3–5 µs with OpenSSL 3.0); a reset context costs a fifth of that, so each
/// thread keeps one per key. The key bytes live only here and in the native contexts: no ToString, no logging.
/// </summary>
internal sealed class KeyedHash
{
    public const int Size = 32;

    private const int CacheSlots = 4;

    [ThreadStatic]
    private static (KeyedHash? Owner, IncrementalHash? Hmac)[]? t_cache;

    private readonly byte[] _key;

    private KeyedHash(byte[] key) => _key = key;

    /// <summary>A key for one purpose, derived from the master key so the purposes' outputs are unrelated.</summary>
    public static KeyedHash Derive(ReadOnlySpan<byte> masterKey, ReadOnlySpan<byte> purpose)
    {
        var key = new byte[Size];
        HMACSHA256.HashData(masterKey, purpose, key);
        return new KeyedHash(key);
    }

    public void Compute(ReadOnlySpan<byte> data, Span<byte> destination)
    {
        var hmac = ForThisThread();
        hmac.AppendData(data);
        hmac.GetHashAndReset(destination);
    }

    public void Compute(ReadOnlySpan<byte> first, ReadOnlySpan<byte> second, Span<byte> destination)
    {
        var hmac = ForThisThread();
        hmac.AppendData(first);
        hmac.AppendData(second);
        hmac.GetHashAndReset(destination);
    }

    /// <summary>An HMAC over data given in pieces (this thread's context; finish it before any other use of the key).</summary>
    public Incremental Begin() => new(ForThisThread());

    public readonly ref struct Incremental(IncrementalHash hmac)
    {
        public void Append(ReadOnlySpan<byte> data) => hmac.AppendData(data);

        public void Finish(Span<byte> destination) => hmac.GetHashAndReset(destination);

        /// <summary>Resets an unfinished HMAC, so the thread's context is clean for the next value.</summary>
        public void Dispose()
        {
            Span<byte> discard = stackalloc byte[Size];
            hmac.TryGetHashAndReset(discard, out _);
        }
    }

    private IncrementalHash ForThisThread()
    {
        var cache = t_cache ??= new (KeyedHash?, IncrementalHash?)[CacheSlots];
        for (var i = 0; i < cache.Length; i++)
        {
            if (ReferenceEquals(cache[i].Owner, this))
            {
                return cache[i].Hmac!;
            }
        }

        // A miss (a new thread, or more keys alive than slots): take the last slot, newest first.
        cache[^1].Hmac?.Dispose();
        for (var i = cache.Length - 1; i > 0; i--)
        {
            cache[i] = cache[i - 1];
        }

        var hmac = IncrementalHash.CreateHMAC(HashAlgorithmName.SHA256, _key);
        cache[0] = (this, hmac);
        return hmac;
    }
}

/// <summary>xoshiro256** seeded from an HMAC: the fake strategy's deterministic stream of digits and letters.</summary>
internal struct FakeStream
{
    private ulong _s0, _s1, _s2, _s3;
    private ulong _bits;
    private int _left;

    public FakeStream(ReadOnlySpan<byte> seed)
    {
        _s0 = BitConverter.ToUInt64(seed);
        _s1 = BitConverter.ToUInt64(seed[8..]);
        _s2 = BitConverter.ToUInt64(seed[16..]);
        _s3 = BitConverter.ToUInt64(seed[24..]);
        if ((_s0 | _s1 | _s2 | _s3) == 0)
        {
            _s0 = 1;
        }

        _bits = 0;
        _left = 0;
    }

    public byte Digit() => (byte)('0' + Next() % 10);

    public byte Lower() => (byte)('a' + Next() % 26);

    public byte Upper() => (byte)('A' + Next() % 26);

    private uint Next()
    {
        if (_left == 0)
        {
            _bits = NextUInt64();
            _left = 4;
        }

        // 16 bits per draw keeps the modulo bias under 0.04 %.
        var v = (uint)(_bits & 0xFFFF);
        _bits >>= 16;
        _left--;
        return v;
    }

    private ulong NextUInt64()
    {
        var result = ulong.RotateLeft(_s1 * 5, 7) * 9;
        var t = _s1 << 17;
        _s2 ^= _s0;
        _s3 ^= _s1;
        _s1 ^= _s2;
        _s0 ^= _s3;
        _s2 ^= t;
        _s3 = ulong.RotateLeft(_s3, 45);
        return result;
    }
}
