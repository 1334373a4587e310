using System.Diagnostics;

namespace Gatehouse.Demo;

/// <summary>
/// Runs PostgreSQL's server programs. initdb and postgres refuse to run as root, so when this process is
/// root they run as the <c>postgres</c> OS user (through runuser), as Debian's own scripts do.
/// </summary>
internal static class ServerTools
{
    public const string ServerUser = "postgres";

    public static bool IsRoot => !OperatingSystem.IsWindows() && Environment.UserName == "root";

    /// <summary>True when the postgres OS user exists (looked up in /etc/passwd).</summary>
    public static bool ServerUserExists()
    {
        try
        {
            return File.ReadLines("/etc/passwd").Any(line => line.StartsWith(ServerUser + ":", StringComparison.Ordinal));
        }
        catch (IOException)
        {
            return false;
        }
    }

    public sealed record Outcome(int ExitCode, string Output)
    {
        public bool Success => ExitCode == 0;

        /// <summary>The last non-empty line of the output, for one-line error messages.</summary>
        public string LastLine => Output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).LastOrDefault() ?? $"exit code {ExitCode}";
    }

    /// <summary>Runs <paramref name="program"/> to completion; on timeout or cancellation the process is killed.</summary>
    public static async Task<Outcome> RunAsync(string program, IReadOnlyList<string> arguments, bool asServerUser, TimeSpan timeout, CancellationToken ct)
    {
        var info = new ProcessStartInfo
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        if (asServerUser && IsRoot)
        {
            info.FileName = "runuser";
            foreach (string argument in (string[])["-u", ServerUser, "--", program])
            {
                info.ArgumentList.Add(argument);
            }
        }
        else
        {
            info.FileName = program;
        }

        foreach (string argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        // The server programs need no secrets from this process's environment.
        info.Environment.Remove("PGPASSWORD");
        info.Environment.Remove(DemoFiles.ProvisionerPasswordVariable);

        using var process = Process.Start(info) ?? throw new InvalidOperationException($"cannot start {program}");
        process.StandardInput.Close();
        var stdout = process.StandardOutput.ReadToEndAsync(CancellationToken.None);
        var stderr = process.StandardError.ReadToEndAsync(CancellationToken.None);
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(ct);
        limit.CancelAfter(timeout);
        try
        {
            await process.WaitForExitAsync(limit.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync(CancellationToken.None);
            if (ct.IsCancellationRequested)
            {
                throw;
            }

            return new Outcome(-1, $"{Path.GetFileName(program)} did not finish within {timeout.TotalSeconds:0} s");
        }

        return new Outcome(process.ExitCode, (await stdout) + (await stderr));
    }

    /// <summary>Gives <paramref name="path"/> and everything in it to the postgres OS user (root only).</summary>
    public static async Task<Outcome> ChownToServerUserAsync(string path, CancellationToken ct) =>
        await RunAsync("chown", ["-R", $"{ServerUser}:", path], asServerUser: false, TimeSpan.FromSeconds(30), ct);
}
