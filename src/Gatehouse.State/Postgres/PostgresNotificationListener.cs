using Npgsql;

namespace Gatehouse.State.Postgres;

/// <summary>
/// One LISTEN connection per store, on a task of its own, for every channel of the store (reviews, policy): each
/// notification signals that channel's waiters. When the connection breaks (server
/// restarted, backend ended) it reconnects with backoff (0.1 s doubling to 5 s), and signals once LISTEN is
/// in place again, since a change may have gone unheard meanwhile (waiters re-read; callers also poll).
/// The connection is unpooled: a pooled one would be reset (UNLISTEN) and shared.
/// </summary>
internal sealed class PostgresNotificationListener : IAsyncDisposable
{
    private static readonly TimeSpan Check = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan MaxBackoff = TimeSpan.FromSeconds(5);

    private readonly NpgsqlDataSource _source;
    private readonly IReadOnlyDictionary<string, ChangeSignal> _channels;
    private readonly CancellationTokenSource _stop = new();
    private readonly Lock _starting = new();
    private Task? _loop;
    private bool _stopped;
    private int _connects;

    public PostgresNotificationListener(NpgsqlConnectionStringBuilder settings, IReadOnlyDictionary<string, ChangeSignal> channels)
    {
        _channels = channels;
        var own = new NpgsqlConnectionStringBuilder(settings.ConnectionString) { Pooling = false, ApplicationName = "gatehouse-listen" };
        _source = NpgsqlDataSource.Create(own);
    }

    /// <summary>Tests: how many times LISTEN was put in place (the first connect, then each reconnect).</summary>
    internal int Connects => Volatile.Read(ref _connects);

    /// <summary>Starts listening, once; later calls do nothing.</summary>
    public void Start()
    {
        if (Volatile.Read(ref _loop) is not null)
            return;
        lock (_starting)
        {
            if (_loop is null && !_stopped)
                _loop = Task.Run(() => RunAsync(_stop.Token));
        }
    }

    private async Task RunAsync(CancellationToken stop)
    {
        var backoff = TimeSpan.FromMilliseconds(100);
        while (!stop.IsCancellationRequested)
        {
            try
            {
                await using var connection = await _source.OpenConnectionAsync(stop);
                connection.Notification += (_, e) => _channels.GetValueOrDefault(e.Channel)?.Signal();
                await using (var listen = new NpgsqlCommand(string.Join(';', _channels.Keys.Select(c => $"LISTEN {c}")), connection))
                    await listen.ExecuteNonQueryAsync(stop);
                backoff = TimeSpan.FromMilliseconds(100);
                foreach (var signal in _channels.Values)
                    signal.Signal();
                Interlocked.Increment(ref _connects); // after the signal: a test that sees the count knows it has passed
                while (true)
                {
                    // A quiet connection is checked now and then: a peer that vanished without a reset never wakes WaitAsync.
                    if (!await connection.WaitAsync(Check, stop))
                    {
                        await using var ping = new NpgsqlCommand("SELECT 1", connection);
                        await ping.ExecuteNonQueryAsync(stop);
                    }
                }
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                return;
            }
            catch (Exception)
            {
                // Broken, unreachable, or refused: whatever it was, try again after a pause. Listening is the fast
                // path only (callers re-read every second), so it must never stop for good.
            }
            try
            {
                await Task.Delay(backoff, stop);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            backoff = TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, MaxBackoff.Ticks));
        }
    }

    public async ValueTask DisposeAsync()
    {
        Task? loop;
        lock (_starting)
        {
            _stopped = true;
            loop = _loop;
        }
        await _stop.CancelAsync();
        if (loop is not null)
            await loop;
        _stop.Dispose();
        await _source.DisposeAsync();
    }
}
