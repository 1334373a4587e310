using System.Buffers.Binary;
using System.IO.MemoryMappedFiles;
using System.Runtime.InteropServices;
using System.Text;
using Gatehouse.State;
using Microsoft.Win32.SafeHandles;

namespace Gatehouse.Audit;

/// <summary>
/// The write-ahead journal of one chain: each record, with its sequence number and MAC, is copied into a
/// memory-mapped segment file on the caller's thread before the caller goes on. The page cache holds it from that
/// moment, so it survives a Gatehouse crash without a system call (<c>durability: os</c> adds an fdatasync of
/// <see cref="Current"/>). The store gets the records later, in large batches; a segment is deleted once everything
/// in it is stored. A crashed process's journal is put into the store by <see cref="AuditJournalRecovery"/>.
/// <code>
///  STATE_DIR/audit-journal/CHAIN-DIR/chain          the chain's name (UTF-8)
///                                    lock           held (flock) while the process lives: a live journal is never recovered
///                                    000…001.seg    frames from seq 1; a new segment every SegmentBytes
///                                    spare          the next segment, allocated ahead off the caller's thread
///  frame: u32 length │ i64 seq │ i64 UTC ticks │ str kind │ str session (-1: none) │ str body │ 32-byte MAC
///  str:   i32 UTF-8 length │ bytes                 a zero length ends a segment (its preallocated tail)
/// </code>
/// Segments are allocated whole before use (posix_fallocate), so a full disk fails the allocation, never a write
/// into the mapping. With fsync they are written full of zeros and synced instead, like PostgreSQL's WAL: a record
/// then lands in blocks that are already written, and <see cref="SyncData"/> (fdatasync) has no file size or
/// extent to commit, which on ext4 is several times cheaper than an fsync of a file that grew.
/// Not thread-safe: the trail calls every member under its own lock.
/// </summary>
public sealed class AuditJournal : IDisposable
{
    public const string DirectoryName = "audit-journal";
    public const string ChainFile = "chain";
    public const string LockFile = "lock";
    public const string SegmentExtension = ".seg";
    public const string SpareFile = "spare";
    public const int MacBytes = 32;

    /// <summary>The size of a segment; a record that does not fit in what is left starts the next one.</summary>
    public const long SegmentBytes = 16L << 20;

    private readonly string _directory;
    private readonly bool _fsync;
    private readonly SafeFileHandle _lock;

    // Sealed and current segments, oldest first, with the last seq each holds.
    private readonly List<Segment> _segments = [];
    // The frame being encoded, before it is copied into the mapping.
    private byte[] _frame = new byte[8192];
    private Segment _current;
    // With fsync: the next segment, being zero-filled off the caller's thread while this one fills.
    private Task<bool>? _spare;

    private AuditJournal(string directory, bool fsync, SafeFileHandle lockHandle, Segment first)
    {
        _directory = directory;
        _fsync = fsync;
        _lock = lockHandle;
        _current = first;
        _segments.Add(first);
        PrepareSpare();
    }

    /// <summary>Bytes written so far, over every segment: what <see cref="Sync"/> reports as synced.</summary>
    public long Written { get; private set; }

    /// <summary>Creates the journal of a new chain under <paramref name="stateDirectory"/>. Throws IOException.</summary>
    public static AuditJournal Create(string stateDirectory, string chain, bool fsync)
    {
        // Records hold SQL and identities: the directories are the owner's only, like the state file's key.
        string root = Path.Combine(stateDirectory, DirectoryName);
        string directory = Path.Combine(root, DirectoryFor(chain));
        if (OperatingSystem.IsWindows())
        {
            Directory.CreateDirectory(directory);
        }
        else
        {
            var ownerOnly = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
            Directory.CreateDirectory(root, ownerOnly);
            Directory.CreateDirectory(directory, ownerOnly);
        }

        var lockHandle = File.OpenHandle(Path.Combine(directory, LockFile), FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        File.WriteAllText(Path.Combine(directory, ChainFile), chain, new UTF8Encoding(false));
        Prepare(Path.Combine(directory, SpareFile), fsync);
        var first = Segment.FromSpare(directory, 1);
        if (fsync)
        {
            SyncDirectory(directory);
            SyncDirectory(root);
        }

        return new AuditJournal(directory, fsync, lockHandle, first);
    }

    /// <summary>A file-system-safe directory name for a chain (gateway chains are host:pid:guid).</summary>
    public static string DirectoryFor(string chain)
    {
        var name = new StringBuilder(chain.Length);
        foreach (char c in chain)
        {
            name.Append(char.IsAsciiLetterOrDigit(c) || c is '-' or '.' ? c : '_');
        }

        return name.ToString();
    }

    /// <summary>
    /// Appends one frame and returns <see cref="Written"/> after it. On an exception (a new segment could not be
    /// made) the frame does not count as written.
    /// </summary>
    public long Write(AuditRow row)
    {
        int length = Encode(row);
        if (_current.Length > 0 && _current.Length + length > _current.Capacity)
        {
            Rotate(row.Seq);
        }

        _current.Append(_frame, length);
        _current.LastSeq = row.Seq;
        Written += length;
        return Written;
    }

    /// <summary>
    /// The segment to fsync for everything <see cref="Written"/> so far: a sealed segment was synced when it was
    /// sealed (with <c>fsync</c> on). The handle may be closed by a later <see cref="Release"/>, which only
    /// happens once its records are stored, so a flush that finds it closed has nothing left to do.
    /// </summary>
    public SafeFileHandle Current => _current.Handle;

    /// <summary>Deletes the sealed segments whose records are all stored (seq ≤ <paramref name="storedSeq"/>).</summary>
    public void Release(long storedSeq)
    {
        while (_segments.Count > 1 && _segments[0].LastSeq <= storedSeq)
        {
            _segments[0].Delete();
            _segments.RemoveAt(0);
        }
    }

    /// <summary>Closes the journal; with <paramref name="stored"/> every record reached the store, so the files go.</summary>
    public void Close(bool stored)
    {
        _spare?.Wait(); // never faults: it says whether the spare was made
        File.Delete(Path.Combine(_directory, SpareFile));
        foreach (var segment in _segments)
        {
            if (stored)
            {
                segment.Delete();
            }
            else
            {
                segment.Close();
            }
        }

        _segments.Clear();
        _lock.Dispose();
        if (!stored)
        {
            return;
        }

        File.Delete(Path.Combine(_directory, ChainFile));
        File.Delete(Path.Combine(_directory, LockFile));
        try
        {
            Directory.Delete(_directory);
        }
        catch (IOException)
        {
            // Something else was put there; leave it.
        }
    }

    public void Dispose() => Close(stored: false);

    private void Rotate(long nextSeq)
    {
        if (_fsync)
        {
            SyncData(_current.Handle);
        }

        // The spare has had a whole segment's worth of records to get ready; when it could not be made (a full
        // disk), it is tried once more here, and failing that the record goes to the store alone.
        if (_spare is null || !_spare.GetAwaiter().GetResult())
        {
            Prepare(Path.Combine(_directory, SpareFile), _fsync);
        }

        _current = Segment.FromSpare(_directory, nextSeq);
        _segments.Add(_current);
        if (_fsync)
        {
            SyncDirectory(_directory);
        }

        PrepareSpare();
    }

    private void PrepareSpare()
    {
        string path = Path.Combine(_directory, SpareFile);
        bool zeroFill = _fsync;
        _spare = Task.Factory.StartNew(() => Prepare(path, zeroFill), CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default)
            .ContinueWith(t => t.IsCompletedSuccessfully, TaskScheduler.Default);
    }

    // A segment's blocks, allocated: with zeroFill written as zeros and synced, so the blocks and the size are
    // durable before a record relies on them; otherwise reserved (posix_fallocate), which is enough for the page
    // cache to take every write into the mapping. IOException when the disk has no room for it.
    private static void Prepare(string path, bool zeroFill)
    {
        using var handle = File.OpenHandle(path, FileMode.Create, FileAccess.ReadWrite, FileShare.None);
        if (zeroFill)
        {
            var zeros = new byte[1 << 20];
            for (long at = 0; at < SegmentBytes; at += zeros.Length)
            {
                RandomAccess.Write(handle, zeros, at);
            }

            RandomAccess.FlushToDisk(handle);
        }
        else if (OperatingSystem.IsWindows())
        {
            RandomAccess.SetLength(handle, SegmentBytes);
        }
        else
        {
            int error = Native.PosixFallocate((int)handle.DangerousGetHandle(), 0, SegmentBytes);
            if (error != 0)
            {
                throw new IOException($"cannot allocate {SegmentBytes >> 20} MiB for the audit journal (errno {error})");
            }
        }
    }

    /// <summary>
    /// Makes what was written to <paramref name="handle"/> durable: fdatasync where there is one (a preallocated
    /// segment has no metadata left to commit), else a full flush. ObjectDisposedException when it was closed.
    /// </summary>
    public static void SyncData(SafeFileHandle handle)
    {
        if (OperatingSystem.IsWindows())
        {
            RandomAccess.FlushToDisk(handle);
            return;
        }

        bool added = false;
        try
        {
            handle.DangerousAddRef(ref added);
            if (Native.Fdatasync((int)handle.DangerousGetHandle()) != 0)
            {
                throw new IOException($"fdatasync failed (errno {Marshal.GetLastPInvokeError()})");
            }
        }
        finally
        {
            if (added)
            {
                handle.DangerousRelease();
            }
        }
    }

    // Encodes the row into _frame; returns its length.
    private int Encode(AuditRow row)
    {
        int size = 4 + 8 + 8 + Str(row.Kind) + Str(row.SessionId) + Str(row.Body) + MacBytes;
        if (_frame.Length < size)
        {
            _frame = new byte[Math.Max(size, _frame.Length * 2)];
        }

        var span = _frame.AsSpan();
        BinaryPrimitives.WriteUInt32LittleEndian(span, (uint)(size - 4));
        BinaryPrimitives.WriteInt64LittleEndian(span[4..], row.Seq);
        BinaryPrimitives.WriteInt64LittleEndian(span[12..], row.Time.UtcTicks);
        int at = 20;
        at += PutStr(span[at..], row.Kind);
        at += PutStr(span[at..], row.SessionId);
        at += PutStr(span[at..], row.Body);
        row.Mac.AsSpan(0, MacBytes).CopyTo(span[at..]);
        return size;

        static int Str(string? text) => 4 + (text is null ? 0 : Encoding.UTF8.GetByteCount(text));
    }

    private static int PutStr(Span<byte> span, string? text)
    {
        if (text is null)
        {
            BinaryPrimitives.WriteInt32LittleEndian(span, -1);
            return 4;
        }

        int bytes = Encoding.UTF8.GetBytes(text, span[4..]);
        BinaryPrimitives.WriteInt32LittleEndian(span, bytes);
        return 4 + bytes;
    }

    /// <summary>Reads the frames of one segment file in order; stops quietly at a torn or short tail.</summary>
    public static IEnumerable<AuditRow> ReadSegment(string path, string chain)
    {
        byte[] data = File.ReadAllBytes(path);
        int at = 0;
        while (TryDecode(data, ref at, chain, out var row))
        {
            yield return row;
        }
    }

    private static bool TryDecode(byte[] data, ref int at, string chain, out AuditRow row)
    {
        row = null!;
        if (data.Length - at < 4)
        {
            return false;
        }

        uint length = BinaryPrimitives.ReadUInt32LittleEndian(data.AsSpan(at));
        if (length < 16 + 12 + MacBytes || length > data.Length - at - 4)
        {
            return false;
        }

        var frame = data.AsSpan(at + 4, (int)length);
        long seq = BinaryPrimitives.ReadInt64LittleEndian(frame);
        long ticks = BinaryPrimitives.ReadInt64LittleEndian(frame[8..]);
        int offset = 16;
        if (ticks < DateTimeOffset.MinValue.UtcTicks || ticks > DateTimeOffset.MaxValue.UtcTicks
            || !TakeStr(frame, ref offset, out string? kind) || kind is null
            || !TakeStr(frame, ref offset, out string? session)
            || !TakeStr(frame, ref offset, out string? body) || body is null
            || frame.Length - offset != MacBytes)
        {
            return false;
        }

        row = new AuditRow(chain, seq, new DateTimeOffset(ticks, TimeSpan.Zero), kind, session, body, frame[offset..].ToArray());
        at += 4 + (int)length;
        return true;
    }

    private static bool TakeStr(ReadOnlySpan<byte> frame, ref int offset, out string? text)
    {
        text = null;
        if (frame.Length - offset < 4)
        {
            return false;
        }

        int length = BinaryPrimitives.ReadInt32LittleEndian(frame[offset..]);
        offset += 4;
        if (length == -1)
        {
            return true;
        }

        if (length < 0 || length > frame.Length - offset)
        {
            return false;
        }

        try
        {
            text = new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(frame.Slice(offset, length));
        }
        catch (DecoderFallbackException)
        {
            return false;
        }

        offset += length;
        return true;
    }

    /// <summary>fsync of a directory, so a new file's name survives an OS crash (POSIX needs it; .NET has no API).</summary>
    private static void SyncDirectory(string path)
    {
        int fd = Native.Open(path, 0 /* O_RDONLY */);
        if (fd < 0)
        {
            throw new IOException($"cannot open {path} to sync it (errno {Marshal.GetLastPInvokeError()})");
        }

        try
        {
            if (Native.Fsync(fd) != 0)
            {
                throw new IOException($"fsync of {path} failed (errno {Marshal.GetLastPInvokeError()})");
            }
        }
        finally
        {
            _ = Native.Close(fd);
        }
    }

    /// <summary>One segment file, mapped whole while it is written.</summary>
    private sealed class Segment
    {
        private readonly string _path;
        private readonly MemoryMappedFile _map;
        private readonly MemoryMappedViewAccessor _view;

        private Segment(string path, SafeFileHandle handle)
        {
            _path = path;
            Handle = handle;
            Capacity = RandomAccess.GetLength(handle);
            _map = MemoryMappedFile.CreateFromFile(handle, null, Capacity, MemoryMappedFileAccess.ReadWrite, HandleInheritability.None, leaveOpen: true);
            _view = _map.CreateViewAccessor(0, Capacity, MemoryMappedFileAccess.ReadWrite);
        }

        public SafeFileHandle Handle { get; }

        /// <summary>Bytes of frames so far; the file itself is <see cref="Capacity"/> long from the start.</summary>
        public long Length { get; private set; }

        public long Capacity { get; }

        public long LastSeq { get; set; }

        /// <summary>The allocated spare becomes the segment from <paramref name="firstSeq"/> (the caller syncs the directory).</summary>
        public static Segment FromSpare(string directory, long firstSeq)
        {
            string path = Path.Combine(directory, $"{firstSeq:D20}{SegmentExtension}");
            File.Move(Path.Combine(directory, SpareFile), path);
            var handle = File.OpenHandle(path, FileMode.Open, FileAccess.ReadWrite, FileShare.Read);
            try
            {
                return new Segment(path, handle) { LastSeq = firstSeq - 1 };
            }
            catch
            {
                handle.Dispose();
                throw;
            }
        }

        public void Append(byte[] frame, int length)
        {
            if (Length + length <= Capacity)
            {
                _view.WriteArray(Length, frame, 0, length);
            }
            else
            {
                // A record larger than a segment, alone in a fresh one: written past the mapping, the file grows.
                RandomAccess.Write(Handle, frame.AsSpan(0, length), Length);
            }

            Length += length;
        }

        public void Close()
        {
            _view.Dispose();
            _map.Dispose();
            Handle.Dispose();
        }

        public void Delete()
        {
            Close();
            File.Delete(_path);
        }
    }

    private static class Native
    {
        [DllImport("libc", EntryPoint = "open", SetLastError = true, CharSet = CharSet.Ansi)]
        public static extern int Open(string path, int flags);

        [DllImport("libc", EntryPoint = "fsync", SetLastError = true)]
        public static extern int Fsync(int fd);

        [DllImport("libc", EntryPoint = "fdatasync", SetLastError = true)]
        public static extern int Fdatasync(int fd);

        // Returns the error number itself (0 on success); glibc falls back to writing where fallocate is unsupported.
        [DllImport("libc", EntryPoint = "posix_fallocate")]
        public static extern int PosixFallocate(int fd, long offset, long length);

        [DllImport("libc", EntryPoint = "close", SetLastError = true)]
        public static extern int Close(int fd);
    }
}
