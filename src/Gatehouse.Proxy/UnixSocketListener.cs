using System.Net;
using System.Net.Sockets;
using Gatehouse.Pipeline;
using Microsoft.Extensions.Logging;

namespace Gatehouse.Proxy;

/// <summary>
/// The wire door's private entrance for the MCP door: the same <see cref="ClientSession"/> on a Unix domain socket
/// in the state directory, its sessions marked <see cref="FrontDoor.Mcp"/>. The socket lives in a directory of mode
/// 0700 and is itself 0600, so only the gateway's own OS user can connect; nothing crosses a network, so it needs
/// no TLS. The file is named as libpq and Npgsql expect (<c>.s.PGSQL.PORT</c> in the directory given as host).
/// </summary>
public sealed class UnixSocketListener(ProxyServices services, string directory) : SessionListener(services, FrontDoor.Mcp)
{
    /// <summary>The port part of the socket's name; no TCP port is opened.</summary>
    public const int Port = 5432;

    /// <summary>Connection slots are counted per address; all connections of this socket share this key.</summary>
    private static readonly IPAddress SlotAddress = IPAddress.IPv6None;

    private readonly ILogger _logger = services.LoggerFactory.CreateLogger<UnixSocketListener>();

    public string Directory => directory;

    public string SocketPath => Path.Combine(directory, $".s.PGSQL.{Port}");

    public override Task StartAsync(CancellationToken cancellationToken)
    {
        const UnixFileMode Owner = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
        if (OperatingSystem.IsWindows())
        {
            throw new PlatformNotSupportedException("the MCP door's Unix socket needs a Unix-like system");
        }

        System.IO.Directory.CreateDirectory(directory, Owner);
        File.SetUnixFileMode(directory, Owner); // an existing directory too
        if (File.Exists(SocketPath) && Served(SocketPath))
        {
            // Deleting it would cut the other gateway's MCP door off its wire door.
            throw new IOException($"another gateway serves the MCP door's socket {SocketPath}: give each gateway its own state_dir");
        }

        File.Delete(SocketPath); // left by a gateway that did not stop cleanly
        Socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        Socket.Bind(new UnixDomainSocketEndPoint(SocketPath));
        File.SetUnixFileMode(SocketPath, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        Socket.Listen(128);
        Log.Listening(_logger, Socket.LocalEndPoint!);
        return base.StartAsync(cancellationToken);
    }

    protected override ConnectionSlots.Slot? Admit(Socket client)
    {
        var slot = Services.Slots.TryAcquire(SlotAddress);
        if (slot is null)
        {
            client.Dispose(); // the client sees the connection close; every slot is held by an authenticated session
        }

        return slot;
    }

    // A process accepts connections on the socket file (a stale file refuses them).
    private static bool Served(string path)
    {
        try
        {
            using var probe = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            probe.Connect(new UnixDomainSocketEndPoint(path));
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    public override void Dispose()
    {
        try
        {
            if (Socket is not null)
            {
                File.Delete(SocketPath); // only the file this listener bound: a gateway that did not start leaves another's alone
            }
        }
        catch (IOException)
        {
            // Removed at the next start.
        }

        base.Dispose();
    }
}
