namespace Gatehouse.Admin;

/// <summary>
/// Replaces a policy file the way an editor that saves by rename does: a temporary file in the same directory,
/// flushed to disk, then renamed over the file, so the watcher never reads half a policy. A symbolic link is
/// followed: its final target is replaced, the link stays.
/// </summary>
internal static class PolicyFile
{
    /// <summary>Writes <paramref name="bytes"/>; null, or why the file cannot be written (one line).</summary>
    public static string? TryReplace(string path, ReadOnlySpan<byte> bytes)
    {
        string target = Path.GetFullPath(path);
        string? temp = null;
        try
        {
            if (new FileInfo(target).ResolveLinkTarget(returnFinalTarget: true) is { } linked)
            {
                target = linked.FullName;
            }

            string directory = Path.GetDirectoryName(target)!;
            temp = Path.Combine(directory, $".{Path.GetFileName(target)}.{Guid.NewGuid():N}.tmp");
            using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None))
            {
                stream.Write(bytes);
                stream.Flush(flushToDisk: true);
            }

            if (!OperatingSystem.IsWindows() && File.Exists(target))
            {
                File.SetUnixFileMode(temp, File.GetUnixFileMode(target));
            }

            File.Move(temp, target, overwrite: true);
            temp = null;
            return null;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return $"the policy file {target} cannot be written: {ex.Message}";
        }
        finally
        {
            if (temp is not null)
            {
                try
                {
                    File.Delete(temp);
                }
                catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
                {
                    // Nothing more to do: the original file is untouched.
                }
            }
        }
    }
}
