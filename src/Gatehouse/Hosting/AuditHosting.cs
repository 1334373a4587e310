using Gatehouse.Audit;
using Gatehouse.Configuration;
using Gatehouse.State;

namespace Gatehouse.Hosting;

/// <summary>
/// The audit trail's life in a gateway process: the key, the chain's first and last records, retention in the
/// background, and the warnings an operator must not miss (audit off, failing open).
/// </summary>
internal sealed class AuditHosting(AuditTrail trail, IStateStore state, AuditConfig config, string stateDirectory, ILogger logger, TimeProvider time) : IAsyncDisposable
{
    private static readonly TimeSpan RetentionEvery = TimeSpan.FromHours(1);
    private Task _retention = Task.CompletedTask;

    /// <summary>
    /// The trail for this process, or null when <c>audit.enabled: false</c>. Throws <see cref="AuditKeyException"/>,
    /// and IOException when the journal cannot be created.
    /// </summary>
    public static AuditTrail? Create(GatewayConfig config, IStateStore state, string instance, TimeProvider time, Action<TimeSpan>? batchWritten = null)
    {
        if (!config.Audit.Enabled)
        {
            return null;
        }

        var key = AuditKey.Load(config.Audit.KeyFile ?? Path.Combine(config.StateDirectory, "audit.key"), create: config.Audit.KeyFile is null);
        return new AuditTrail(state.Audit, key, new AuditTrailOptions
        {
            Chain = instance,
            OnFailure = config.Audit.OnFailure,
            BatchWritten = batchWritten,
            JournalDirectory = config.Audit.Journal ? config.StateDirectory : null,
            SyncJournal = config.Audit.Durability == AuditDurability.Os,
        }, time);
    }

    /// <summary>The key file the verbs that read the trail use (the same rule as <see cref="Create"/>).</summary>
    public static AuditKey LoadKey(GatewayConfig config) =>
        AuditKey.Load(config.Audit.KeyFile ?? Path.Combine(config.StateDirectory, "audit.key"), create: false);

    /// <summary>Writes the chain's first record (a store that cannot be written stops start-up) and starts retention.</summary>
    public async Task StartAsync(CancellationToken stopping, CancellationToken ct)
    {
        if (config.OnFailure == AuditFailureMode.Allow)
        {
            logger.LogWarning("audit.on_failure is allow: statements run even when the audit trail cannot be written. Never use this in production.");
        }

        try
        {
            foreach (var recovered in await AuditJournalRecovery.RecoverAsync(stateDirectory, state.Audit, trail.Key, ct))
            {
                logger.LogWarning(
                    "Audit journal of chain {Chain} (a process that did not stop cleanly) recovered: {Stored} records stored, {Already} were already stored, {Discarded} discarded as torn",
                    recovered.Chain, recovered.Stored, recovered.AlreadyStored, recovered.Discarded);
            }
        }
        catch (Exception ex) when (ex is System.Data.Common.DbException or IOException or UnauthorizedAccessException)
        {
            throw new GatewayStartupException([$"audit: a crashed process's journal cannot be recovered into the store: {ex.Message}"]);
        }

        try
        {
            await trail.StartAsync(ct);
        }
        catch (AuditUnavailableException ex)
        {
            throw new GatewayStartupException([$"audit: the trail cannot be written: {ex.Message}"]);
        }

        if (config.Retention is { } retention)
        {
            _retention = Task.Run(() => RetainAsync(retention, stopping), CancellationToken.None);
        }
    }

    private async Task RetainAsync(TimeSpan retention, CancellationToken stopping)
    {
        var key = trail.Key;
        while (!stopping.IsCancellationRequested)
        {
            try
            {
                var (pruned, refused) = await AuditRetention.PruneAsync(state.Audit, key, time.GetUtcNow() - retention, stopping);
                if (pruned > 0)
                {
                    logger.LogInformation("Audit retention pruned {Records} records older than {Retention}", pruned, retention);
                }

                foreach (var chain in refused)
                {
                    logger.LogError("Audit retention left chain {Chain} alone: it does not verify; run gatehouse audit verify", chain);
                }

                await Task.Delay(RetentionEvery, time, stopping);
            }
            catch (OperationCanceledException) when (stopping.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex) when (ex is System.Data.Common.DbException or IOException or InvalidOperationException)
            {
                logger.LogWarning("Audit retention failed, retrying in an hour: {Reason}", ex.Message);
                await Task.Delay(RetentionEvery, time, stopping).ContinueWith(_ => { }, TaskScheduler.Default);
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        await trail.DisposeAsync();
        await _retention;
    }
}
