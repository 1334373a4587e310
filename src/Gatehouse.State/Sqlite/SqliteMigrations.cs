using System.Globalization;
using Microsoft.Data.Sqlite;

namespace Gatehouse.State.Sqlite;

/// <summary>One schema change, applied once per file and recorded in <c>schema_migrations</c>.</summary>
internal sealed record SqliteMigration(int Version, string Name, string Sql);

/// <summary>
/// The SQLite schema as an ordered list of migrations. Append; never edit or reorder a released one.
/// Each runs in its own IMMEDIATE transaction together with its <c>schema_migrations</c> row, after
/// checking the row is not there yet, so two instances opening one file at once apply it exactly once.
/// </summary>
internal static class SqliteMigrations
{
    public static IReadOnlyList<SqliteMigration> All { get; } =
    [
        // The table LeaseStore created before migrations existed. IF NOT EXISTS lets such a file adopt the
        // scheme with its rows as they are; later migrations run exactly once and need no guards.
        new(1, "credential leases", """
            CREATE TABLE IF NOT EXISTS credential_leases (
                role        TEXT    NOT NULL,
                target      TEXT    NOT NULL,
                subject     TEXT    NOT NULL,
                db_roles    TEXT    NOT NULL,
                instance_id TEXT    NOT NULL,
                created     INTEGER NOT NULL,
                expires     INTEGER NOT NULL,
                PRIMARY KEY (target, role)
            );
            CREATE INDEX IF NOT EXISTS credential_leases_expires ON credential_leases (target, expires);
            """),
        // Times in Unix milliseconds; body and mac stored verbatim (the chain is Gatehouse.Audit's).
        new(2, "audit records and anchors", """
            CREATE TABLE audit_records (
                chain      TEXT    NOT NULL,
                seq        INTEGER NOT NULL,
                time       INTEGER NOT NULL,
                kind       TEXT    NOT NULL,
                session_id TEXT    NULL,
                body       TEXT    NOT NULL,
                mac        BLOB    NOT NULL,
                PRIMARY KEY (chain, seq)
            );
            CREATE INDEX audit_records_time ON audit_records (time, chain, seq);
            CREATE INDEX audit_records_session ON audit_records (session_id, time);
            CREATE TABLE audit_anchors (
                chain     TEXT    NOT NULL PRIMARY KEY,
                seq       INTEGER NOT NULL,
                mac       BLOB    NOT NULL,
                time      INTEGER NOT NULL,
                signature BLOB    NOT NULL
            );
            """),
        // Parameters as a JSON array of strings (null for SQL NULL); votes in the order cast (seq).
        new(3, "reviews and votes", """
            CREATE TABLE reviews (
                id              TEXT    NOT NULL PRIMARY KEY,
                fingerprint     TEXT    NOT NULL,
                subject         TEXT    NOT NULL,
                issuer          TEXT    NOT NULL,
                target          TEXT    NOT NULL,
                session         TEXT    NOT NULL,
                sql             TEXT    NOT NULL,
                parameters      TEXT    NOT NULL,
                rule            TEXT    NOT NULL,
                reason          TEXT    NOT NULL,
                mode            TEXT    NOT NULL,
                created         INTEGER NOT NULL,
                expires         INTEGER NOT NULL,
                status          TEXT    NOT NULL,
                required        INTEGER NOT NULL,
                approvals       INTEGER NOT NULL,
                instance        TEXT    NOT NULL,
                decided         INTEGER NULL,
                decision_reason TEXT    NULL
            );
            CREATE INDEX reviews_fingerprint ON reviews (fingerprint, status);
            CREATE INDEX reviews_subject ON reviews (subject, issuer, status);
            CREATE INDEX reviews_created ON reviews (created, id);
            CREATE TABLE review_votes (
                seq             INTEGER PRIMARY KEY,
                review_id       TEXT    NOT NULL REFERENCES reviews (id),
                reviewer        TEXT    NOT NULL,
                reviewer_issuer TEXT    NOT NULL,
                approve         INTEGER NOT NULL,
                reason          TEXT    NULL,
                time            INTEGER NOT NULL,
                UNIQUE (review_id, reviewer, reviewer_issuer)
            );
            """),
    ];

    public static int Latest => All[^1].Version;

    /// <summary>
    /// Puts the file in WAL mode and applies every pending migration, in order. Start-up only: this blocks.
    /// Returns null, or the error line for the operator.
    /// </summary>
    public static string? Apply(SqliteConnection connection, string path, TimeProvider time)
    {
        // A new file gets 16 KiB pages: audit rows of a few hundred bytes each cost about a fifth less CPU to insert
        // than with 4 KiB (fewer pages to split, fewer WAL frames to checksum). An existing file keeps its size
        // (this is a no-op once the file has a table).
        Execute(connection, "PRAGMA page_size = 16384");
        Execute(connection, "PRAGMA journal_mode = WAL");
        Execute(connection, """
            CREATE TABLE IF NOT EXISTS schema_migrations (
                version INTEGER PRIMARY KEY,
                name    TEXT    NOT NULL,
                applied INTEGER NOT NULL
            )
            """);

        var newest = Version(connection);
        if (newest > Latest)
            return $"state: sqlite:{path} has schema version {newest}, newer than this Gatehouse knows ({Latest}); run a newer Gatehouse or use another file";

        foreach (var migration in All)
        {
            if (migration.Version <= newest)
                continue;
            try
            {
                Execute(connection, "BEGIN IMMEDIATE");
                if (!IsApplied(connection, migration.Version))
                {
                    Execute(connection, migration.Sql);
                    using var record = connection.CreateCommand();
                    record.CommandText = "INSERT INTO schema_migrations (version, name, applied) VALUES ($version, $name, $applied)";
                    record.Parameters.AddWithValue("$version", migration.Version);
                    record.Parameters.AddWithValue("$name", migration.Name);
                    record.Parameters.AddWithValue("$applied", time.GetUtcNow().ToUnixTimeMilliseconds());
                    record.ExecuteNonQuery();
                }
                Execute(connection, "COMMIT");
            }
            catch (SqliteException ex)
            {
                if (SQLitePCL.raw.sqlite3_get_autocommit(connection.Handle) == 0)
                    Execute(connection, "ROLLBACK");
                return $"state: sqlite:{path}: migration {migration.Version} ({migration.Name}) failed: {ex.Message}";
            }
        }
        return null;
    }

    /// <summary>The highest applied migration; 0 for a new file or one from before migrations.</summary>
    public static int Version(SqliteConnection connection)
    {
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT coalesce(max(version), 0) FROM schema_migrations";
        return Convert.ToInt32(command.ExecuteScalar(), CultureInfo.InvariantCulture);
    }

    private static bool IsApplied(SqliteConnection connection, int version)
    {
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = $version)";
        command.Parameters.AddWithValue("$version", version);
        return Convert.ToInt64(command.ExecuteScalar(), CultureInfo.InvariantCulture) == 1;
    }

    private static void Execute(SqliteConnection connection, string sql)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }
}
