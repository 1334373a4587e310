using System.Buffers;
using System.Text;

namespace Gatehouse.Masking.Tests;

internal static class Support
{
    public static readonly byte[] Key = Encoding.ASCII.GetBytes("test masking key, 32 bytes long!");

    public static readonly Masker TestMasker = new(Key);

    public static MaskStrategy Strategy(string text) =>
        MaskStrategy.TryParse(text, out var s, out var error) ? s! : throw new ArgumentException(error);

    /// <summary>Masks as text; null for SQL NULL. Checks the reported length against what was written.</summary>
    public static string? Text(string value, string strategy, Masker? masker = null) => Text(Encoding.UTF8.GetBytes(value), strategy, masker);

    public static string? Text(byte[] value, string strategy, Masker? masker = null)
    {
        var output = new ArrayBufferWriter<byte>();
        var result = (masker ?? TestMasker).MaskText(value, Strategy(strategy), output);
        Assert.Equal(result.IsNull ? 0 : result.BytesWritten, output.WrittenCount);
        return result.IsNull ? null : Utf8(output.WrittenSpan);
    }

    public static (byte[]? Bytes, MaskResult Result) Typed(byte[] value, uint oid, string strategy, bool binary)
    {
        var output = new ArrayBufferWriter<byte>();
        var result = binary ? TestMasker.MaskBinary(value, oid, Strategy(strategy), output) : TestMasker.MaskText(value, oid, Strategy(strategy), output);
        Assert.Equal(result.IsNull ? 0 : result.BytesWritten, output.WrittenCount);
        return (result.IsNull ? null : output.WrittenSpan.ToArray(), result);
    }

    /// <summary>Decodes strictly: a test fails on invalid UTF-8 output.</summary>
    public static string Utf8(ReadOnlySpan<byte> bytes) => new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(bytes);

    public static bool IsValidUtf8(ReadOnlySpan<byte> bytes) => System.Text.Unicode.Utf8.IsValid(bytes);
}
