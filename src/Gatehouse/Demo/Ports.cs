using System.Net;
using System.Net.Sockets;

namespace Gatehouse.Demo;

/// <summary>Loopback ports for the demo: a free one, or whether a chosen one can be bound.</summary>
internal static class Ports
{
    /// <summary>A port the system considers free right now (another process may still take it first).</summary>
    public static int Free()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>True when 127.0.0.1:<paramref name="port"/> can be listened on.</summary>
    public static bool CanListen(int port)
    {
        try
        {
            using var listener = new TcpListener(IPAddress.Loopback, port);
            listener.Start();
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }
}
