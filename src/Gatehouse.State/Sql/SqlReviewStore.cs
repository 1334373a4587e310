using System.Data.Common;
using System.Globalization;
using System.Text.Json;

namespace Gatehouse.State.Sql;

/// <summary>
/// Review requests in <c>reviews</c> and their votes in <c>review_votes</c> (prefixed <c>gatehouse_</c> on
/// PostgreSQL). Every change is one write through the store's writer that first re-reads the request with its
/// row held (<see cref="SqlDialect.LockRow"/>; SQLite's writer holds the whole file), so decisions made at once
/// through several instances are serialized and exactly one outcome stands. A change signals this instance's
/// waiters once committed; PostgreSQL also notifies other instances (<see cref="NotifyAsync"/>).
/// </summary>
internal class SqlReviewStore(ISqlStore store, ChangeSignal? changed = null) : IReviewStore
{
    private const string Columns = "id, fingerprint, subject, issuer, target, session, sql, parameters, rule, reason, mode, " +
        "created, expires, status, required, approvals, instance, decided, decision_reason";

    private readonly SqlDialect _dialect = store.Dialect;
    private readonly string _reviews = store.Dialect.Table("reviews");
    private readonly string _votes = store.Dialect.Table("review_votes");

    protected ChangeSignal Changed { get; } = changed ?? new();

    public Task InsertAsync(ReviewRecord review, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(review);
        if (review.Required < 1)
            throw new ArgumentOutOfRangeException(nameof(review), "a review needs at least one approval");
        var parameters = JsonSerializer.Serialize(review.Parameters);
        return ChangeAsync(review.Id, async (cmd, token) =>
        {
            cmd.CommandText = $"INSERT INTO {_reviews} ({Columns}) VALUES (@id, @fingerprint, @subject, @issuer, @target, @session, @sql, " +
                "@parameters, @rule, @reason, @mode, @created, @expires, @status, @required, @approvals, @instance, @decided, @decision_reason)";
            SqlDialect.Add(cmd, "@id", review.Id);
            SqlDialect.Add(cmd, "@fingerprint", review.Fingerprint);
            SqlDialect.Add(cmd, "@subject", review.Subject);
            SqlDialect.Add(cmd, "@issuer", review.Issuer);
            SqlDialect.Add(cmd, "@target", review.Target);
            SqlDialect.Add(cmd, "@session", review.Session);
            SqlDialect.Add(cmd, "@sql", review.Sql);
            SqlDialect.Add(cmd, "@parameters", parameters);
            SqlDialect.Add(cmd, "@rule", review.Rule);
            SqlDialect.Add(cmd, "@reason", review.Reason);
            SqlDialect.Add(cmd, "@mode", review.Mode);
            SqlDialect.Add(cmd, "@created", _dialect.Time(review.Created));
            SqlDialect.Add(cmd, "@expires", _dialect.Time(review.Expires));
            SqlDialect.Add(cmd, "@status", Name(review.Status));
            SqlDialect.Add(cmd, "@required", review.Required);
            SqlDialect.Add(cmd, "@approvals", review.Approvals);
            SqlDialect.Add(cmd, "@instance", review.Instance);
            SqlDialect.Add(cmd, "@decided", review.Decided is { } decided ? _dialect.Time(decided) : null);
            SqlDialect.Add(cmd, "@decision_reason", review.DecisionReason);
            await cmd.ExecuteNonQueryAsync(token);
            return (0, true);
        }, ct);
    }

    public Task<ReviewRecord?> GetAsync(string id, CancellationToken ct) =>
        store.ReadAsync((cmd, token) =>
        {
            cmd.CommandText = $"SELECT {Columns} FROM {_reviews} WHERE id = @id";
            SqlDialect.Add(cmd, "@id", id);
            return ReadOneAsync(cmd, token);
        }, ct);

    public Task<IReadOnlyList<ReviewRecord>> ListAsync(ReviewStatus? status, int limit, CancellationToken ct)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(limit);
        return store.ReadAsync<IReadOnlyList<ReviewRecord>>(async (cmd, token) =>
        {
            var where = status is null ? "" : "WHERE status = @status";
            cmd.CommandText = $"SELECT {Columns} FROM {_reviews} {where} ORDER BY created DESC, id DESC LIMIT @limit";
            if (status is { } wanted)
                SqlDialect.Add(cmd, "@status", Name(wanted));
            SqlDialect.Add(cmd, "@limit", limit);
            var result = new List<ReviewRecord>();
            await using var reader = await cmd.ExecuteReaderAsync(token);
            while (await reader.ReadAsync(token))
                result.Add(Read(reader));
            return result;
        }, ct);
    }

    public Task<ReviewVoteResult> VoteAsync(ReviewVote vote, DateTimeOffset now, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(vote);
        return ChangeAsync(vote.ReviewId, async (cmd, token) =>
        {
            var error = await CheckVoteAsync(cmd, vote, now, token);
            if (error is not null)
                return (new ReviewVoteResult(null, error), false);

            cmd.Parameters.Clear();
            cmd.CommandText = $"INSERT INTO {_votes} (review_id, reviewer, reviewer_issuer, approve, reason, time) " +
                "VALUES (@id, @reviewer, @issuer, @approve, @reason, @time)";
            SqlDialect.Add(cmd, "@id", vote.ReviewId);
            SqlDialect.Add(cmd, "@reviewer", vote.Reviewer);
            SqlDialect.Add(cmd, "@issuer", vote.ReviewerIssuer);
            SqlDialect.Add(cmd, "@approve", vote.Approve);
            SqlDialect.Add(cmd, "@reason", vote.Reason);
            SqlDialect.Add(cmd, "@time", _dialect.Time(vote.Time));
            await cmd.ExecuteNonQueryAsync(token);

            // A rejection decides at once; the approval that reaches the required count decides.
            cmd.Parameters.Clear();
            cmd.CommandText = vote.Approve
                ? $"UPDATE {_reviews} SET approvals = approvals + 1, " +
                  "status = CASE WHEN approvals + 1 >= required THEN 'approved' ELSE status END, " +
                  "decided = CASE WHEN approvals + 1 >= required THEN @time ELSE decided END, " +
                  "decision_reason = CASE WHEN approvals + 1 >= required THEN @reason ELSE decision_reason END WHERE id = @id"
                : $"UPDATE {_reviews} SET status = 'rejected', decided = @time, decision_reason = @reason WHERE id = @id";
            SqlDialect.Add(cmd, "@id", vote.ReviewId);
            SqlDialect.Add(cmd, "@time", _dialect.Time(vote.Time));
            SqlDialect.Add(cmd, "@reason", vote.Reason);
            await cmd.ExecuteNonQueryAsync(token);

            cmd.Parameters.Clear();
            cmd.CommandText = $"SELECT {Columns} FROM {_reviews} WHERE id = @id";
            SqlDialect.Add(cmd, "@id", vote.ReviewId);
            return (new ReviewVoteResult(await ReadOneAsync(cmd, token), null), true);
        }, ct);
    }

    public Task<IReadOnlyList<ReviewVote>> VotesAsync(string id, CancellationToken ct) =>
        store.ReadAsync<IReadOnlyList<ReviewVote>>(async (cmd, token) =>
        {
            cmd.CommandText = $"SELECT review_id, reviewer, reviewer_issuer, approve, reason, time FROM {_votes} WHERE review_id = @id ORDER BY seq";
            SqlDialect.Add(cmd, "@id", id);
            var result = new List<ReviewVote>();
            await using var reader = await cmd.ExecuteReaderAsync(token);
            while (await reader.ReadAsync(token))
            {
                result.Add(new ReviewVote(reader.GetString(0), reader.GetString(1), reader.GetString(2), reader.GetBoolean(3),
                    reader.GetValue(4) as string, _dialect.ReadTime(reader, 5)));
            }
            return result;
        }, ct);

    public Task<bool> CloseAsync(string id, ReviewStatus to, string reason, DateTimeOffset now, CancellationToken ct)
    {
        if (to is not (ReviewStatus.Withdrawn or ReviewStatus.Expired))
            throw new ArgumentOutOfRangeException(nameof(to), "a review is closed as withdrawn or expired; decisions are votes");
        return ChangeAsync(id, async (cmd, token) =>
        {
            cmd.CommandText = $"UPDATE {_reviews} SET status = @to, decided = @now, decision_reason = @reason WHERE id = @id AND status = 'pending'";
            SqlDialect.Add(cmd, "@to", Name(to));
            SqlDialect.Add(cmd, "@now", _dialect.Time(now));
            SqlDialect.Add(cmd, "@reason", reason);
            SqlDialect.Add(cmd, "@id", id);
            var closed = await cmd.ExecuteNonQueryAsync(token) == 1;
            return (closed, closed);
        }, ct);
    }

    public Task<ReviewRecord?> FindApprovedAsync(string fingerprint, DateTimeOffset now, CancellationToken ct) =>
        FindAsync(fingerprint, ReviewStatus.Approved, now, ct);

    public Task<ReviewRecord?> FindPendingAsync(string fingerprint, DateTimeOffset now, CancellationToken ct) =>
        FindAsync(fingerprint, ReviewStatus.Pending, now, ct);

    private Task<ReviewRecord?> FindAsync(string fingerprint, ReviewStatus status, DateTimeOffset now, CancellationToken ct) =>
        store.ReadAsync((cmd, token) =>
        {
            cmd.CommandText = $"SELECT {Columns} FROM {_reviews} WHERE fingerprint = @fingerprint AND status = @status AND expires > @now " +
                "ORDER BY created DESC, id DESC LIMIT 1";
            SqlDialect.Add(cmd, "@fingerprint", fingerprint);
            SqlDialect.Add(cmd, "@status", Name(status));
            SqlDialect.Add(cmd, "@now", _dialect.Time(now));
            return ReadOneAsync(cmd, token);
        }, ct);

    public Task<bool> UseAsync(string id, DateTimeOffset now, CancellationToken ct) =>
        ChangeAsync(id, async (cmd, token) =>
        {
            cmd.CommandText = $"UPDATE {_reviews} SET status = 'used' WHERE id = @id AND status = 'approved' AND expires > @now";
            SqlDialect.Add(cmd, "@id", id);
            SqlDialect.Add(cmd, "@now", _dialect.Time(now));
            var used = await cmd.ExecuteNonQueryAsync(token) == 1;
            return (used, used);
        }, ct);

    public Task<int> CountPendingAsync(string subject, string issuer, DateTimeOffset now, CancellationToken ct) =>
        store.ReadAsync(async (cmd, token) =>
        {
            cmd.CommandText = $"SELECT count(*) FROM {_reviews} WHERE subject = @subject AND issuer = @issuer AND status = 'pending' AND expires > @now";
            SqlDialect.Add(cmd, "@subject", subject);
            SqlDialect.Add(cmd, "@issuer", issuer);
            SqlDialect.Add(cmd, "@now", _dialect.Time(now));
            return Convert.ToInt32(await cmd.ExecuteScalarAsync(token), CultureInfo.InvariantCulture);
        }, ct);

    public virtual Task WaitForChangeAsync(CancellationToken ct) => Changed.WaitAsync(ct);

    /// <summary>SQLite: every change is made by this instance, so there is nothing to hear.</summary>
    public virtual void Listen()
    {
    }

    /// <summary>Tells other instances, inside the write's transaction, that request <paramref name="id"/> changed; SQLite has no one to tell.</summary>
    protected virtual Task NotifyAsync(DbCommand cmd, string id, CancellationToken ct) => Task.CompletedTask;

    /// <summary>One write through the store's writer; when it changed a request, notifies inside it and signals once it committed.</summary>
    private async Task<T> ChangeAsync<T>(string id, Func<DbCommand, CancellationToken, Task<(T Result, bool Changed)>> run, CancellationToken ct)
    {
        var (result, changed) = await store.WriteAsync(async (cmd, token) =>
        {
            var outcome = await run(cmd, token);
            if (outcome.Changed)
            {
                cmd.Parameters.Clear();
                await NotifyAsync(cmd, id, token);
            }
            return outcome;
        }, ct);
        if (changed)
            Changed.Signal();
        return result;
    }

    /// <summary>Reads the request with its row held until COMMIT and says why the vote cannot count, or null.</summary>
    private async Task<string?> CheckVoteAsync(DbCommand cmd, ReviewVote vote, DateTimeOffset now, CancellationToken ct)
    {
        cmd.CommandText = $"SELECT status, expires, subject, issuer FROM {_reviews} WHERE id = @id{_dialect.LockRow}";
        SqlDialect.Add(cmd, "@id", vote.ReviewId);
        await using (var reader = await cmd.ExecuteReaderAsync(ct))
        {
            if (!await reader.ReadAsync(ct))
                return $"review {vote.ReviewId} does not exist";
            var status = Parse(reader.GetString(0));
            if (status != ReviewStatus.Pending)
                return $"review {vote.ReviewId} is already {Name(status)}";
            if (_dialect.ReadTime(reader, 1) <= now)
                return $"review {vote.ReviewId} has expired";
            if (vote.Approve && reader.GetString(2) == vote.Reviewer && reader.GetString(3) == vote.ReviewerIssuer)
                return $"review {vote.ReviewId} cannot be approved by the identity that asked for it";
        }
        cmd.Parameters.Clear();
        cmd.CommandText = $"SELECT 1 FROM {_votes} WHERE review_id = @id AND reviewer = @reviewer AND reviewer_issuer = @issuer";
        SqlDialect.Add(cmd, "@id", vote.ReviewId);
        SqlDialect.Add(cmd, "@reviewer", vote.Reviewer);
        SqlDialect.Add(cmd, "@issuer", vote.ReviewerIssuer);
        return await cmd.ExecuteScalarAsync(ct) is null ? null : $"review {vote.ReviewId}: {vote.Reviewer} already voted";
    }

    private async Task<ReviewRecord?> ReadOneAsync(DbCommand cmd, CancellationToken ct)
    {
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        return await reader.ReadAsync(ct) ? Read(reader) : null;
    }

    // Rows are buffered (no sequential access), so reading a column never waits on I/O.
    private ReviewRecord Read(DbDataReader reader) => new(
        reader.GetString(0),
        reader.GetString(1),
        reader.GetString(2),
        reader.GetString(3),
        reader.GetString(4),
        reader.GetString(5),
        reader.GetString(6),
        JsonSerializer.Deserialize<string?[]>(reader.GetString(7)) ?? [],
        reader.GetString(8),
        reader.GetString(9),
        reader.GetString(10),
        _dialect.ReadTime(reader, 11),
        _dialect.ReadTime(reader, 12),
        Parse(reader.GetString(13)),
        reader.GetInt32(14),
        reader.GetInt32(15),
        reader.GetString(16),
        reader.IsDBNull(17) ? null : _dialect.ReadTime(reader, 17),
        reader.GetValue(18) as string);

    private static string Name(ReviewStatus status) => status.ToString().ToLowerInvariant();

    private static ReviewStatus Parse(string status) => Enum.Parse<ReviewStatus>(status, ignoreCase: true);
}
