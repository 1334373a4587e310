using System.Net.Sockets;
using Gatehouse.Protocol;
using Microsoft.Extensions.Logging;

namespace Gatehouse.Proxy;

/// <summary>Accepts PostgreSQL clients on listen.postgres; each connection runs as its own session.</summary>
public sealed class PostgresListener(ProxyServices services) : SessionListener(services, Pipeline.FrontDoor.Wire)
{
    private readonly ILogger _logger = services.LoggerFactory.CreateLogger<PostgresListener>();

    /// <summary>The bound address, useful when the configured port is 0.</summary>
    public System.Net.IPEndPoint? LocalEndPoint => Socket?.LocalEndPoint as System.Net.IPEndPoint;

    /// <summary>listen.postgres as configured.</summary>
    public System.Net.IPEndPoint ConfiguredEndPoint => Services.Options.Listen;

    private readonly TaskCompletionSource _bound = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public Task Bound => _bound.Task;

    /// <summary>
    /// Binds listen.postgres (once; <see cref="StartAsync"/> binds when nobody did), so a host can report a port in
    /// use before it starts anything. Throws <see cref="SocketException"/>.
    /// </summary>
    public void Bind()
    {
        if (Socket is not null)
        {
            return;
        }

        var socket = ListenSocket.Bind(Services.Options.Listen);
        socket.Listen(512);
        Socket = socket;
    }

    public override Task StartAsync(CancellationToken cancellationToken)
    {
        Bind();
        Log.Listening(_logger, Socket!.LocalEndPoint!);
        _bound.TrySetResult();
        return base.StartAsync(cancellationToken);
    }

    protected override ConnectionSlots.Slot? Admit(Socket client)
    {
        client.NoDelay = true;
        var address = (client.RemoteEndPoint as System.Net.IPEndPoint)?.Address ?? System.Net.IPAddress.None;
        var slot = Services.Slots.TryAcquire(address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address);
        if (slot is null)
        {
            _ = RefuseAsync(client);
        }

        return slot;
    }

    private async Task RefuseAsync(Socket client)
    {
        using (client)
        {
            Log.ConnectionRefused(_logger, client.RemoteEndPoint, "too many connections: every slot is held by an authenticated session");
            try
            {
                await client.SendAsync(BackendMessages.Error(SqlStates.TooManyConnections, "gatehouse: too many connections", "FATAL"));
            }
            catch (SocketException)
            {
                // Refused either way.
            }
        }
    }}
