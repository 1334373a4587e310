using Gatehouse.State;
using Microsoft.Data.Sqlite;

namespace Gatehouse.Audit.Tests;

internal sealed class ManualTime(DateTimeOffset start) : TimeProvider
{
    public DateTimeOffset Now { get; set; } = start;

    public override DateTimeOffset GetUtcNow() => Now;
}

/// <summary>A real SQLite state store in a temp directory, with a key, and raw access to the file for tampering.</summary>
internal sealed class TrailFiles : IAsyncDisposable
{
    public static readonly DateTimeOffset Start = new(2026, 11, 1, 9, 0, 0, TimeSpan.Zero);

    public TrailFiles()
    {
        Key = AuditKey.Load(System.IO.Path.Combine(Directory, "audit.key"), create: true);
    }

    public string Directory { get; } = System.IO.Directory.CreateTempSubdirectory("gatehouse-audit-").FullName;

    public string Path => System.IO.Path.Combine(Directory, "state.db");

    public AuditKey Key { get; }

    public ManualTime Time { get; } = new(Start);

    public IStateStore Open()
    {
        var opened = StateStore.Open("sqlite:" + Path);
        Assert.True(opened.Success, opened.Error);
        return opened.Store;
    }

    public AuditTrail Trail(IStateStore store, string chain = "gw-1") => new(store.Audit, Key, new AuditTrailOptions { Chain = chain }, Time);

    /// <summary>Writes a whole chain: start, <paramref name="sessions"/> sessions of two statements each, clean end.</summary>
    public async Task WriteChainAsync(int sessions, string chain = "gw-1")
    {
        await using var store = Open();
        await using (var trail = Trail(store, chain))
        {
            await trail.StartAsync(default);
            for (int i = 1; i <= sessions; i++)
            {
                await Records.SessionAsync(trail, Time, $"{chain}-s{i}", subject: i % 2 == 0 ? "agent-even" : "agent-odd", denyLast: i == sessions);
            }
        }
    }

    public async Task<AuditVerification> VerifyAsync(AuditKey? key = null)
    {
        await using var store = Open();
        return await AuditVerifier.VerifyAsync(store.Audit, key ?? Key, default);
    }

    /// <summary>Runs SQL on the state file directly, as someone with write access to it could.</summary>
    public int Execute(string sql)
    {
        using var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = Path, Pooling = false }.ConnectionString);
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        return command.ExecuteNonQuery();
    }

    public long Scalar(string sql)
    {
        using var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = Path, Pooling = false }.ConnectionString);
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        return Convert.ToInt64(command.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture);
    }

    public ValueTask DisposeAsync()
    {
        SqliteConnection.ClearAllPools();
        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
            // Best effort: a temp directory.
        }

        return ValueTask.CompletedTask;
    }
}

/// <summary>Records shaped like the pipeline's (SessionAudit), written through the real trail.</summary>
internal static class Records
{
    public static AuditIdentity Identity(string subject) =>
        new("http://127.0.0.1/dev-issuer", subject, "agent-client", "Agent", ["ai-agents"], "jti-1", new string('a', 64));

    /// <summary>One session: start, an allowed SELECT with its outcome, a second statement (denied or an UPDATE), end. Each record a second apart.</summary>
    public static async Task SessionAsync(AuditTrail trail, ManualTime time, string session, string subject = "agent-1", string target = "shop", bool denyLast = false)
    {
        async Task Append<T>(string kind, T record)
        {
            time.Now += TimeSpan.FromSeconds(1);
            await trail.Append(kind, session, record);
        }

        await Append(AuditKinds.SessionStarted, new SessionStartedRecord(session, "wire", "127.0.0.1:5000", "TLSv1.3", target, Identity(subject), "gh_role_1"));
        await Append(AuditKinds.Statement, Statement(session, 1, "SELECT name FROM customers WHERE id = $1", "allow", null));
        await Append(AuditKinds.Outcome, new OutcomeRecord(session, 1, true, "SELECT 1", 1, 0.5, null, null, ["3"], ["public.customers.email"]));
        if (denyLast)
        {
            await Append(AuditKinds.Statement, Statement(session, -1, "DROP TABLE orders", "deny", "no-ddl", "42501"));
        }
        else
        {
            await Append(AuditKinds.Statement, Statement(session, 2, "UPDATE orders SET total = 1 WHERE id = 9", "allow", null));
            await Append(AuditKinds.Outcome, new OutcomeRecord(session, 2, false, null, null, 1.25, "23505", "duplicate key", null, []));
        }

        await Append(AuditKinds.SessionEnded, new SessionEndedRecord(session, 2, "client closed"));
    }

    public static StatementRecord Statement(string session, long number, string sql, string decision, string? rule, string? sqlState = null) =>
        new(session, number, sql, null, [new StatementPart("SELECT", "read", ["public.customers"], [], [])], decision, rule,
            rule is null ? "no rule matched" : $"rule {rule}", sqlState, sqlState is null ? null : $"gatehouse: denied by rule {rule}");
}
