using System.Runtime.InteropServices;

namespace Gatehouse.IntegrationTests;

/// <summary>POSIX signals for tests that stop processes the way an operator or a crash would.</summary>
internal static class Signals
{
    public const int Interrupt = 2;
    public const int Kill = 9;
    public const int Terminate = 15;

    public static int Send(int pid, int signal) => kill(pid, signal);

    [DllImport("libc", SetLastError = true)]
    private static extern int kill(int pid, int sig);
}
