using System.Net.Sockets;
using Gatehouse.Pipeline;
using Microsoft.Extensions.Hosting;

namespace Gatehouse.Proxy;

/// <summary>
/// The accept loop both entrances share: a subclass binds <see cref="Socket"/> and says how a connection gets its
/// slot; each admitted connection runs as its own <see cref="ClientSession"/>, and stopping waits for every session.
/// </summary>
public abstract class SessionListener(ProxyServices services, FrontDoor door) : BackgroundService
{
    protected ProxyServices Services => services;

    protected Socket? Socket { get; set; }

    /// <summary>The connection's slot, or null when it was refused (the subclass answers and closes it).</summary>
    protected abstract ConnectionSlots.Slot? Admit(Socket client);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var sessions = new HashSet<Task>();
        while (!stoppingToken.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await Socket!.AcceptAsync(stoppingToken);
            }
            catch (OperationCanceledException)
            {
                break;
            }
            catch (SocketException)
            {
                continue;
            }

            if (Admit(client) is not { } slot)
            {
                continue;
            }

            var session = Task.Run(async () =>
            {
                using (slot)
                {
                    await new ClientSession(client, services, slot, door).RunAsync(stoppingToken);
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

    public override void Dispose()
    {
        Socket?.Dispose();
        base.Dispose();
    }
}
