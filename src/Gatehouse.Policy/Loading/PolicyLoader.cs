using System.Security.Cryptography;
using System.Text;
using Gatehouse.Policy.Loading;
using Gatehouse.Yaml;

namespace Gatehouse.Policy;

/// <summary>The outcome of loading a policy: a snapshot, or every error found.</summary>
public sealed class PolicyLoadResult
{
    internal PolicyLoadResult(PolicySnapshot? snapshot, IReadOnlyList<YamlError> errors, string contentHash)
    {
        Snapshot = snapshot;
        Errors = errors;
        ContentHash = contentHash;
    }

    public PolicySnapshot? Snapshot { get; }

    /// <summary>Sorted by position; empty on success.</summary>
    public IReadOnlyList<YamlError> Errors { get; }

    /// <summary>SHA-256 of the bytes read; "" when the file could not be read.</summary>
    public string ContentHash { get; }

    public bool Success => Snapshot is not null;
}

/// <summary>Reads and validates policy files.</summary>
public static class PolicyLoader
{
    /// <summary>Larger files are refused unread.</summary>
    public const int MaxFileBytes = 1024 * 1024;

    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <param name="path">The file to read.</param>
    /// <param name="knownTargets">Configured targets; null skips the target check.</param>
    /// <param name="displayName">Name used in error lines; defaults to <paramref name="path"/>.</param>
    /// <param name="time">Stamps <see cref="PolicySnapshot.LoadedAt"/>.</param>
    public static PolicyLoadResult LoadFile(string path, IReadOnlySet<string>? knownTargets = null, string? displayName = null, TimeProvider? time = null)
    {
        var file = displayName ?? path;
        byte[] bytes;
        try
        {
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            if (stream.Length > MaxFileBytes)
            {
                return Failed(file, $"file is {stream.Length} bytes; the limit is {MaxFileBytes} bytes (1 MiB)");
            }

            bytes = new byte[stream.Length];
            stream.ReadExactly(bytes);
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
        {
            return Failed(file, "file not found");
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return Failed(file, "cannot read file: " + ex.Message);
        }

        return Parse(bytes, file, knownTargets, time);
    }

    /// <summary>Validates policy bytes (UTF-8 YAML) named <paramref name="file"/> in error lines.</summary>
    public static PolicyLoadResult Parse(ReadOnlySpan<byte> bytes, string file, IReadOnlySet<string>? knownTargets = null, TimeProvider? time = null)
    {
        if (bytes.Length > MaxFileBytes)
        {
            return Failed(file, $"file is {bytes.Length} bytes; the limit is {MaxFileBytes} bytes (1 MiB)");
        }

        var hash = Convert.ToHexStringLower(SHA256.HashData(bytes));
        if (bytes.StartsWith((ReadOnlySpan<byte>)[0xEF, 0xBB, 0xBF]))
        {
            bytes = bytes[3..];
        }

        string text;
        try
        {
            text = StrictUtf8.GetString(bytes);
        }
        catch (DecoderFallbackException)
        {
            return Failed(file, "file is not UTF-8 text", hash);
        }

        if (text.Contains('\0'))
        {
            return Failed(file, "file holds NUL characters; it is not a YAML text file", hash);
        }

        var errors = new List<YamlError>();
        var root = YamlTreeReader.Read(text, file, errors, "a policy file");
        var (identities, grants, reviews) = errors.Count == 0 || root is not null
            ? PolicyReader.Read(root, file, errors, knownTargets)
            : default;
        if (errors.Count > 0)
        {
            var sorted = errors.OrderBy(e => e.Line).ThenBy(e => e.Column).Distinct().ToList();
            return new PolicyLoadResult(null, sorted, hash);
        }

        var snapshot = new PolicySnapshot(identities, grants, reviews, file, hash, (time ?? TimeProvider.System).GetUtcNow(), text);
        return new PolicyLoadResult(snapshot, [], hash);
    }

    /// <summary>Validates policy text; see <see cref="Parse(ReadOnlySpan{byte}, string, IReadOnlySet{string}?, TimeProvider?)"/>.</summary>
    public static PolicyLoadResult Parse(string text, string file, IReadOnlySet<string>? knownTargets = null, TimeProvider? time = null) =>
        Parse(Encoding.UTF8.GetBytes(text), file, knownTargets, time);

    private static PolicyLoadResult Failed(string file, string message, string hash = "") =>
        new(null, [new YamlError(file, 1, 1, message)], hash);
}
