using System.Runtime.InteropServices;

namespace Gatehouse.State.Sqlite;

/// <summary>
/// Which file a path names right now (device and inode), so the writer can tell that the database it holds
/// open was deleted or replaced behind its back: SQLite would go on writing to the unlinked file.
/// </summary>
internal readonly record struct SqliteFileIdentity(ulong Device, ulong Inode)
{
    /// <summary>The identity of the file at <paramref name="path"/>, or null when there is none.</summary>
    public static SqliteFileIdentity? Of(string path)
    {
        if (!s_stat)
            return File.Exists(path) ? new SqliteFileIdentity(0, 0) : null; // existence only
        // struct stat on 64-bit Linux (x86-64 and the generic layout of arm64) starts with st_dev then st_ino,
        // 8 bytes each; the buffer is larger than the whole struct on either.
        var buffer = new byte[256];
        try
        {
            if (Native.stat(path, buffer) != 0)
                return null;
        }
        catch (Exception ex) when (ex is DllNotFoundException or EntryPointNotFoundException)
        {
            s_stat = false; // a libc without a plain stat symbol: fall back to existence
            return Of(path);
        }
        return new SqliteFileIdentity(BitConverter.ToUInt64(buffer, 0), BitConverter.ToUInt64(buffer, 8));
    }

    private static bool s_stat = OperatingSystem.IsLinux() && Environment.Is64BitProcess;

    private static class Native
    {
#pragma warning disable SYSLIB1054, CA2101, CA5392 // a plain libc call: no marshalling beyond a UTF-8 path and a byte buffer
        [DllImport("libc", SetLastError = true, CharSet = CharSet.Ansi, BestFitMapping = false, ThrowOnUnmappableChar = true)]
        public static extern int stat(string path, byte[] buffer);
#pragma warning restore SYSLIB1054, CA2101, CA5392
    }
}
