using System.Diagnostics;

namespace Gatehouse.Testing;

/// <summary>Runs a system tool a fault test needs root for (mount, chattr); a failure says what the test needs.</summary>
public static class RootTool
{
    /// <param name="needs">What the test needs, for the failure message (e.g. "root, to mount a tmpfs").</param>
    public static async Task RunAsync(string needs, string tool, params string[] args)
    {
        using var process = Process.Start(new ProcessStartInfo(tool, args) { RedirectStandardError = true, UseShellExecute = false })!;
        var error = await process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        if (process.ExitCode != 0)
            throw new InvalidOperationException($"{tool} {string.Join(' ', args)} failed (this test needs {needs}): {error}");
    }
}
