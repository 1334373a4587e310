using Npgsql;

namespace Gatehouse.State.Postgres;

/// <summary>
/// The PostgreSQL schema as an ordered list of migrations, append-only like <see cref="Sqlite.SqliteMigrations"/>.
/// Tables live in the connection's default schema (search_path), prefixed <c>gatehouse_</c>. All pending
/// migrations run in one transaction that first takes a transaction-scoped advisory lock, so instances
/// starting at once queue on it and each migration is applied exactly once (PostgreSQL's DDL is transactional).
/// </summary>
internal static class PostgresMigrations
{
    /// <summary>The advisory lock key ('gatehous' in ASCII): any constant shared by every Gatehouse.</summary>
    private const long LockKey = 0x6761_7465_686F_7573;

    // Text keys are COLLATE "C": byte order, as in SQLite, whatever the database's collation.
    public static IReadOnlyList<(int Version, string Name, string Sql)> All { get; } =
    [
        (1, "credential leases", """
            CREATE TABLE gatehouse_credential_leases (
                role        text COLLATE "C" NOT NULL,
                target      text COLLATE "C" NOT NULL,
                subject     text        NOT NULL,
                db_roles    text        NOT NULL,
                instance_id text        NOT NULL,
                created     timestamptz NOT NULL,
                expires     timestamptz NOT NULL,
                PRIMARY KEY (target, role)
            );
            CREATE INDEX gatehouse_credential_leases_expires ON gatehouse_credential_leases (target, expires);
            """),
        (2, "audit records and anchors", """
            CREATE TABLE gatehouse_audit_records (
                chain      text COLLATE "C" NOT NULL,
                seq        bigint      NOT NULL,
                time       timestamptz NOT NULL,
                kind       text        NOT NULL,
                session_id text        NULL,
                body       text        NOT NULL,
                mac        bytea       NOT NULL,
                PRIMARY KEY (chain, seq)
            );
            CREATE INDEX gatehouse_audit_records_time ON gatehouse_audit_records (time, chain, seq);
            CREATE INDEX gatehouse_audit_records_session ON gatehouse_audit_records (session_id, time);
            CREATE TABLE gatehouse_audit_anchors (
                chain     text COLLATE "C" PRIMARY KEY,
                seq       bigint      NOT NULL,
                mac       bytea       NOT NULL,
                time      timestamptz NOT NULL,
                signature bytea       NOT NULL
            );
            """),
        // parameters is JSON kept as text, verbatim: jsonb refuses \u0000, which a parameter value may hold.
        (3, "reviews and votes", """
            CREATE TABLE gatehouse_reviews (
                id              text COLLATE "C" PRIMARY KEY,
                fingerprint     text COLLATE "C" NOT NULL,
                subject         text COLLATE "C" NOT NULL,
                issuer          text COLLATE "C" NOT NULL,
                target          text        NOT NULL,
                session         text        NOT NULL,
                sql             text        NOT NULL,
                parameters      text        NOT NULL,
                rule            text        NOT NULL,
                reason          text        NOT NULL,
                mode            text        NOT NULL,
                created         timestamptz NOT NULL,
                expires         timestamptz NOT NULL,
                status          text        NOT NULL,
                required        integer     NOT NULL,
                approvals       integer     NOT NULL,
                instance        text        NOT NULL,
                decided         timestamptz NULL,
                decision_reason text        NULL
            );
            CREATE INDEX gatehouse_reviews_fingerprint ON gatehouse_reviews (fingerprint, status);
            CREATE INDEX gatehouse_reviews_subject ON gatehouse_reviews (subject, issuer, status);
            CREATE INDEX gatehouse_reviews_created ON gatehouse_reviews (created, id);
            CREATE TABLE gatehouse_review_votes (
                seq             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                review_id       text COLLATE "C" NOT NULL REFERENCES gatehouse_reviews (id),
                reviewer        text COLLATE "C" NOT NULL,
                reviewer_issuer text COLLATE "C" NOT NULL,
                approve         boolean     NOT NULL,
                reason          text        NULL,
                time            timestamptz NOT NULL,
                UNIQUE (review_id, reviewer, reviewer_issuer)
            );
            """),
        // Policy texts published through the admin API; the latest revision is the policy of record.
        (4, "policy revisions", """
            CREATE TABLE gatehouse_policy_revisions (
                revision     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                version      text        NOT NULL,
                source       text        NOT NULL,
                published_by text        NOT NULL,
                instance     text        NOT NULL,
                published    timestamptz NOT NULL
            );
            """),
    ];

    public static int Latest => All[^1].Version;

    /// <summary>Applies every pending migration. Start-up only: this blocks. Returns null, or the error line.</summary>
    public static string? Apply(NpgsqlConnection connection, string where)
    {
        using var transaction = connection.BeginTransaction();
        Execute(connection, $"SELECT pg_advisory_xact_lock({LockKey})");
        Execute(connection, """
            CREATE TABLE IF NOT EXISTS gatehouse_schema_migrations (
                version integer     PRIMARY KEY,
                name    text        NOT NULL,
                applied timestamptz NOT NULL DEFAULT now()
            )
            """);
        using (var newest = new NpgsqlCommand("SELECT coalesce(max(version), 0) FROM gatehouse_schema_migrations", connection))
        {
            var version = (int)newest.ExecuteScalar()!;
            if (version > Latest)
                return $"state: {where} has schema version {version}, newer than this Gatehouse knows ({Latest}); run a newer Gatehouse or use another database";
            foreach (var (number, name, sql) in All)
            {
                if (number <= version)
                    continue;
                try
                {
                    Execute(connection, sql);
                }
                catch (PostgresException ex)
                {
                    return $"state: {where}: migration {number} ({name}) failed: {ex.MessageText}";
                }
                using var record = new NpgsqlCommand("INSERT INTO gatehouse_schema_migrations (version, name) VALUES (@version, @name)", connection);
                record.Parameters.AddWithValue("version", number);
                record.Parameters.AddWithValue("name", name);
                record.ExecuteNonQuery();
            }
        }
        transaction.Commit();
        return null;
    }

    private static void Execute(NpgsqlConnection connection, string sql)
    {
        using var command = new NpgsqlCommand(sql, connection);
        command.ExecuteNonQuery();
    }
}
