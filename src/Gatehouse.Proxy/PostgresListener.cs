using System.Net.Sockets;
using Gatehouse.Protocol;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Gatehouse.Proxy;

/// <summary>Accepts PostgreSQL clients on listen.postgres; each connection runs as its own session.</summary>
public sealed class PostgresListener(ProxyServices services) : BackgroundService
{
    private readonly ILogger _logger = services.LoggerFactory.CreateLogger<PostgresListener>();
    private Socket? _socket;

    /// <summary>The bound address, useful when the configured port is 0.</summary>
    public System.Net.IPEndPoint? LocalEndPoint => _socket?.LocalEndPoint as System.Net.IPEndPoint;

    private readonly TaskCompletionSource _bound = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public Task Bound => _bound.Task;

    public override Task StartAsync(CancellationToken cancellationToken)
    {
        var endPoint = services.Options.Listen;
        _socket = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        _socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
        _socket.Bind(endPoint);
        _socket.Listen(512);
        Log.Listening(_logger, _socket.LocalEndPoint!);
        _bound.TrySetResult();
        return base.StartAsync(cancellationToken);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var sessions = new HashSet<Task>();
        while (!stoppingToken.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await _socket!.AcceptAsync(stoppingToken);
            }
            catch (OperationCanceledException)
            {
                break;
            }
            catch (SocketException)
            {
                continue;
            }

            client.NoDelay = true;
            var address = (client.RemoteEndPoint as System.Net.IPEndPoint)?.Address ?? System.Net.IPAddress.None;
            var slot = services.Slots.TryAcquire(address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address);
            if (slot is null)
            {
                _ = RefuseAsync(client);
                continue;
            }

            var session = Task.Run(async () =>
            {
                using (slot)
                {
                    await new ClientSession(client, services, slot).RunAsync(stoppingToken);
                }
            }, CancellationToken.None);
            lock (sessions)
            {
                sessions.Add(session);
            }

            _ = session.ContinueWith(t => { lock (sessions) { sessions.Remove(t); } }, TaskScheduler.Default);
        }

        Task[] remaining;
        lock (sessions)
        {
            remaining = [.. sessions];
        }

        await Task.WhenAll(remaining);
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
    }

    public override void Dispose()
    {
        _socket?.Dispose();
        base.Dispose();
    }
}
