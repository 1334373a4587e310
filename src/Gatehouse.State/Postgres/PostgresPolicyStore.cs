using Gatehouse.State.Sql;

namespace Gatehouse.State.Postgres;

/// <summary>
/// Published policy texts in <c>gatehouse_policy_revisions</c>. A publish inserts the revision and runs
/// <c>pg_notify('gatehouse_policy', revision)</c> in the same transaction, so every instance hears it at COMMIT
/// and only then; a notification carries no text (payloads are capped at 8000 bytes), each instance reads the row.
/// </summary>
internal sealed class PostgresPolicyStore(ISqlStore store, PostgresNotificationListener listener, ChangeSignal changed) : IPolicyDocumentStore
{
    public const string Channel = "gatehouse_policy";

    private readonly SqlDialect _dialect = store.Dialect;

    public Task<long> PublishAsync(string version, string source, string publishedBy, string instance, DateTimeOffset at, CancellationToken ct) =>
        store.WriteAsync(async (cmd, token) =>
        {
            cmd.CommandText = "INSERT INTO gatehouse_policy_revisions (version, source, published_by, instance, published) " +
                "VALUES (@version, @source, @by, @instance, @published) RETURNING revision";
            SqlDialect.Add(cmd, "@version", version);
            SqlDialect.Add(cmd, "@source", source);
            SqlDialect.Add(cmd, "@by", publishedBy);
            SqlDialect.Add(cmd, "@instance", instance);
            SqlDialect.Add(cmd, "@published", _dialect.Time(at));
            long revision = (long)(await cmd.ExecuteScalarAsync(token))!;
            cmd.Parameters.Clear();
            cmd.CommandText = $"SELECT pg_notify('{Channel}', @revision)";
            SqlDialect.Add(cmd, "@revision", revision.ToString(System.Globalization.CultureInfo.InvariantCulture));
            await cmd.ExecuteNonQueryAsync(token);
            return revision;
        }, ct);

    public Task<PolicyDocument?> LatestAsync(CancellationToken ct) =>
        store.ReadAsync(async (cmd, token) =>
        {
            cmd.CommandText = "SELECT revision, version, source, published_by, instance, published FROM gatehouse_policy_revisions ORDER BY revision DESC LIMIT 1";
            await using var reader = await cmd.ExecuteReaderAsync(token);
            return await reader.ReadAsync(token)
                ? new PolicyDocument(reader.GetInt64(0), reader.GetString(1), reader.GetString(2), reader.GetString(3), reader.GetString(4), _dialect.ReadTime(reader, 5))
                : null;
        }, ct);

    public Task WaitForChangeAsync(CancellationToken ct)
    {
        var wait = changed.WaitAsync(ct);
        listener.Start();
        return wait;
    }
}
