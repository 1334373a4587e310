using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;
using Gatehouse.State;
using Microsoft.Win32.SafeHandles;

namespace Gatehouse.Audit;

/// <summary>
/// The write-ahead journal of one chain: each record, with its sequence number and MAC, is written to a local file
/// with one <c>pwrite</c> on the caller's thread before the caller goes on, so it survives a Gatehouse crash the
/// moment the call returns (<c>durability: os</c> adds an fsync of <see cref="Current"/>). The store gets the records
/// later, in large batches; a segment is deleted once everything in it is stored. A crashed process's journal is
/// put into the store by <see cref="AuditJournalRecovery"/>.
/// <code>
///  STATE_DIR/audit-journal/CHAIN-DIR/chain          the chain's name (UTF-8)
///                                    lock           held (flock) while the process lives: a live journal is never recovered
///                                    000…001.seg    frames from seq 1; a new segment every SegmentBytes
///                                    spare          with fsync: the next segment, zero-filled ahead
///  frame: u32 length │ i64 seq │ i64 UTC ticks │ str kind │ str session (-1: none) │ str body │ 32-byte MAC
///  str:   i32 UTF-8 length │ bytes                 a zero length ends a segment (its preallocated tail)
/// </code>
/// With fsync, segments are written full of zeros and synced before they are used, like PostgreSQL's WAL: a record
/// then lands in blocks that are already written, and <see cref="SyncData"/> (fdatasync) has no file size or
/// extent to commit, which on ext4 is several times cheaper than an fsync of a file that grew. The zeros are written
/// off the caller's thread, while the segment before fills.
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

    /// <summary>A segment grows to about this size before the next record starts a new one.</summary>
    public const long SegmentBytes = 16L << 20;

    private readonly string _directory;
    private readonly bool _fsync;
    private readonly long _segmentBytes;
    private readonly SafeFileHandle _lock;

    // Sealed and current segments, oldest first, with the last seq each holds.
    private readonly List<Segment> _segments = [];
    // Frames encoded and not yet written: [0, _pendingLength) of _frame.
    private byte[] _frame = new byte[8192];
    private int _pendingLength;
    private long _pendingLastSeq;
    private Segment _current;
    // With fsync: the next segment, being zero-filled off the caller's thread; true once it is ready.
    private Task<bool>? _spare;

    private AuditJournal(string directory, bool fsync, long segmentBytes, SafeFileHandle lockHandle, Segment first)
    {
        _directory = directory;
        _fsync = fsync;
        _segmentBytes = segmentBytes;
        _lock = lockHandle;
        _current = first;
        _segments.Add(first);
        PrepareSpare();
    }

    /// <summary>Bytes written so far, over every segment: what <see cref="Sync"/> reports as synced.</summary>
    public long Written { get; private set; }

    /// <summary>Creates the journal of a new chain under <paramref name="stateDirectory"/>. Throws IOException.</summary>
    public static AuditJournal Create(string stateDirectory, string chain, bool fsync) => Create(stateDirectory, chain, fsync, SegmentBytes);

    /// <summary>With segments of another size: tests cross segments without writing tens of megabytes.</summary>
    internal static AuditJournal Create(string stateDirectory, string chain, bool fsync, long segmentBytes)
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
        // Without room for a zero-filled segment (a nearly full disk) the journal still works, with growing
        // segments and dearer syncs, rather than stopping the gateway.
        var first = fsync && TryZeroFill(Path.Combine(directory, SpareFile), segmentBytes) ? Segment.FromSpare(directory, 1) : Segment.Create(directory, 1);
        if (fsync)
        {
            SyncDirectory(directory);
            SyncDirectory(root);
        }

        return new AuditJournal(directory, fsync, segmentBytes, lockHandle, first);
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
    /// Appends one frame: with <paramref name="buffered"/> it is only encoded, to go out with the next unbuffered
    /// frame or <see cref="Flush"/>; otherwise everything buffered and this frame go in one pwrite. Returns
    /// <see cref="Written"/> after it. On an exception nothing of the write counts as written (the buffer is kept).
    /// </summary>
    public long Write(AuditRow row, bool buffered = false)
    {
        int start = _pendingLength;
        int length = Encode(row);
        if (_current.Length > 0 && _current.Length + start + length > _segmentBytes)
        {
            // What is buffered ends this segment; the new frame moves to the front and starts the next.
            Flush();
            _frame.AsSpan(start, length).CopyTo(_frame);
            Rotate(row.Seq);
        }

        _pendingLength += length;
        _pendingLastSeq = row.Seq;
        if (!buffered)
        {
            Flush();
        }

        return Written;
    }

    /// <summary>Writes what is buffered, in one pwrite.</summary>
    public void Flush()
    {
        if (_pendingLength == 0)
        {
            return;
        }

        RandomAccess.Write(_current.Handle, _frame.AsSpan(0, _pendingLength), _current.Length);
        _current.Length += _pendingLength;
        _current.LastSeq = _pendingLastSeq;
        Written += _pendingLength;
        _pendingLength = 0;
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
                segment.Handle.Dispose();
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
        if (!_fsync)
        {
            _current = Segment.Create(_directory, nextSeq);
            _segments.Add(_current);
            return;
        }

        SyncData(_current.Handle);
        // The spare has had a whole segment's worth of records to get ready; when it could not be made (a full
        // disk), a plain file serves: correct, with dearer syncs until the next rotation.
        bool spare = _spare is { } task && task.GetAwaiter().GetResult();
        _current = spare ? Segment.FromSpare(_directory, nextSeq) : Segment.Create(_directory, nextSeq);
        _segments.Add(_current);
        SyncDirectory(_directory);
        PrepareSpare();
    }

    private void PrepareSpare()
    {
        if (_fsync)
        {
            string path = Path.Combine(_directory, SpareFile);
            long bytes = _segmentBytes;
            _spare = Task.Factory.StartNew(() => TryZeroFill(path, bytes), CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        }
    }

    // A segment's worth of zeros, synced: the blocks and the size are durable before a record relies on them.
    // False, and no file left behind, when the disk has no room for it. It is not tried with less than four
    // segments' worth free, so filling a spare never takes the last room the records themselves need.
    private static bool TryZeroFill(string path, long bytes)
    {
        try
        {
            if (new DriveInfo(Path.GetDirectoryName(path)!).AvailableFreeSpace < 4 * bytes)
            {
                return false;
            }

            using var handle = File.OpenHandle(path, FileMode.Create, FileAccess.Write, FileShare.None);
            var zeros = new byte[(int)Math.Min(bytes, 1 << 20)];
            for (long at = 0; at < bytes; at += zeros.Length)
            {
                RandomAccess.Write(handle, zeros.AsSpan(0, (int)Math.Min(zeros.Length, bytes - at)), at);
            }

            RandomAccess.FlushToDisk(handle);
            return true;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            try
            {
                File.Delete(path);
            }
            catch (Exception again) when (again is IOException or UnauthorizedAccessException)
            {
                // Left for the next rotation's attempt to overwrite, or for recovery to delete.
            }

            return false;
        }
    }

    /// <summary>
    /// Makes what was written to <paramref name="handle"/> durable: fdatasync where there is one (a zero-filled
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

    // Encodes the row after what is buffered; returns its length.
    private int Encode(AuditRow row)
    {
        // Room for the most UTF-8 the strings can take: each is encoded once and the lengths are written after it.
        int most = 4 + 8 + 8 + Str(row.Kind) + Str(row.SessionId) + Str(row.Body) + MacBytes;
        if (_frame.Length < _pendingLength + most)
        {
            Array.Resize(ref _frame, Math.Max(_pendingLength + most, _frame.Length * 2));
        }

        var span = _frame.AsSpan(_pendingLength);
        BinaryPrimitives.WriteInt64LittleEndian(span[4..], row.Seq);
        BinaryPrimitives.WriteInt64LittleEndian(span[12..], row.Time.UtcTicks);
        int at = 20;
        at += PutStr(span[at..], row.Kind);
        at += PutStr(span[at..], row.SessionId);
        at += PutStr(span[at..], row.Body);
        row.Mac.AsSpan(0, MacBytes).CopyTo(span[at..]);
        int size = at + MacBytes;
        BinaryPrimitives.WriteUInt32LittleEndian(span, (uint)(size - 4));
        return size;

        static int Str(string? text) => 4 + (text is null ? 0 : Encoding.UTF8.GetMaxByteCount(text.Length));
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

    private sealed class Segment(string path, SafeFileHandle handle)
    {
        public SafeFileHandle Handle { get; } = handle;

        public long Length { get; set; }

        public long LastSeq { get; set; }

        public static Segment Create(string directory, long firstSeq)
        {
            string path = PathFor(directory, firstSeq);
            var handle = File.OpenHandle(path, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.Read);
            return new Segment(path, handle) { LastSeq = firstSeq - 1 };
        }

        /// <summary>The zero-filled spare becomes the segment from <paramref name="firstSeq"/> (the caller syncs the directory).</summary>
        public static Segment FromSpare(string directory, long firstSeq)
        {
            string path = PathFor(directory, firstSeq);
            File.Move(Path.Combine(directory, SpareFile), path);
            var handle = File.OpenHandle(path, FileMode.Open, FileAccess.ReadWrite, FileShare.Read);
            return new Segment(path, handle) { LastSeq = firstSeq - 1 };
        }

        private static string PathFor(string directory, long firstSeq) => Path.Combine(directory, $"{firstSeq:D20}{SegmentExtension}");

        public void Delete()
        {
            Handle.Dispose();
            File.Delete(path);
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

        [DllImport("libc", EntryPoint = "close", SetLastError = true)]
        public static extern int Close(int fd);
    }
}
