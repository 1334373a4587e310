using System.Net;
using System.Net.Sockets;

namespace Gatehouse.Proxy;

/// <summary>
/// A bound TCP listening socket that a restart can bind again while the last run's connections are in TIME_WAIT,
/// but that no second process can share. .NET's <see cref="SocketOptionName.ReuseAddress"/> sets SO_REUSEPORT too
/// on Linux, which lets a second gateway bind the same port and take half its connections; the raw SO_REUSEADDR
/// alone does not (Linux refuses a bind to a port that has a listening socket). Windows allows TIME_WAIT rebinds
/// by default, and its SO_REUSEADDR would allow the sharing this avoids, so nothing is set there.
/// </summary>
public static class ListenSocket
{
    /// <summary>
    /// Throws <see cref="SocketException"/> when the address cannot be bound (in use, not local, not permitted).
    /// <paramref name="dualModeOnAny"/>: [::] takes IPv4 clients too, as Kestrel's own listening sockets do.
    /// </summary>
    public static Socket Bind(IPEndPoint endPoint, bool dualModeOnAny = false)
    {
        var socket = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            if (dualModeOnAny && endPoint.Address.Equals(IPAddress.IPv6Any))
            {
                socket.DualMode = true;
            }

            if (ReuseAddressOption() is var (level, name))
            {
                socket.SetRawSocketOption(level, name, BitConverter.GetBytes(1));
            }

            socket.Bind(endPoint);
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>Why a bind failed, in the words of the one line an operator sees.</summary>
    public static string Reason(SocketException ex) => ex.SocketErrorCode switch
    {
        SocketError.AddressAlreadyInUse => "address already in use",
        SocketError.AddressNotAvailable => "address not available on this host",
        SocketError.AccessDenied => "permission denied",
        _ => ex.Message,
    };

    // SOL_SOCKET and SO_REUSEADDR: Linux, then the BSDs and macOS.
    private static (int Level, int Name)? ReuseAddressOption() =>
        OperatingSystem.IsLinux() ? (1, 2)
        : OperatingSystem.IsMacOS() || OperatingSystem.IsFreeBSD() ? (0xffff, 4)
        : null;
}
