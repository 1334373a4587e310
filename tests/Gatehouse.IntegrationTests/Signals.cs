using System.Runtime.InteropServices;

namespace Gatehouse.IntegrationTests;

/// <summary>POSIX signals for tests that stop processes the way an operator or a crash would.</summary>
internal static class Signals
{
    public const int Interrupt = 2;
    public const int Kill = 9;
    public const int Terminate = 15;

    public static int Send(int pid, int signal) => kill(pid, signal);

    /// <summary>
    /// Why <paramref name="pid"/> would not act on <paramref name="signal"/>, or "" when it would: a process started
    /// from a background job of a shell without job control (<c>(dotnet test &amp;)</c>) inherits SIGINT ignored,
    /// and .NET leaves an inherited ignore in place, so a test that stops a demo by SIGINT cannot pass there.
    /// </summary>
    public static string IgnoredBy(int pid, int signal)
    {
        try
        {
            var line = File.ReadLines($"/proc/{pid}/status").FirstOrDefault(l => l.StartsWith("SigIgn:", StringComparison.Ordinal));
            return line is not null && (Convert.ToUInt64(line["SigIgn:".Length..].Trim(), 16) & (1UL << (signal - 1))) != 0
                ? $" (process {pid} ignores signal {signal}, inherited: run the tests from a shell that does not start them as a background job without job control)"
                : "";
        }
        catch (IOException)
        {
            return "";
        }
    }

    [DllImport("libc", SetLastError = true)]
    private static extern int kill(int pid, int sig);
}
