using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Npgsql;

namespace Gatehouse.IntegrationTests;

/// <summary>The two upstream set-ups every bypass runs in: the default grants, and a leased role that could do anything.</summary>
public enum RedTeamSetup
{
    /// <summary>(a) db_roles app_read, app_write: PostgreSQL's own privileges are a second wall.</summary>
    Default,

    /// <summary>(b) db_roles also app_power (member of postgres and the server-file roles): Gatehouse is the only wall.</summary>
    Power,
}

/// <summary>Which grant the session gets: the red team policy, or the same with reads of payments denied too.</summary>
public enum RedTeamGrant
{
    Main,
    PaymentsBlind,
}

/// <summary>
/// One PostgreSQL and one Gatehouse for the red team tables. Four grants (set-up × grant) chosen by the token's
/// group claim; canaries on disk, in a large object and in a shadowing function; a reset that puts the data back
/// and a probe that reads, as superuser directly on PostgreSQL, whether anything a bypass would do happened.
/// </summary>
public sealed class RedTeamFixture : IAsyncLifetime
{
    /// <summary>The red team's policy: the agent reads and writes; DDL/DCL/admin/code denied; payments writes to review; file and large-object functions denied.</summary>
    public static readonly string[] Rules =
    [
        """{ id: no-ddl, when: { class: [ddl, dcl, admin, code] }, then: deny }""",
        """{ id: pay-writes, when: { class: write, tables: ["public.payments"] }, then: review }""",
        """{ id: no-files, when: { functions: ["pg_read_file", "pg_ls_dir", "lo_*", "dblink*"] }, then: deny }""",
    ];

    private const string BlindRule = """{ id: no-pay-read, when: { tables: ["public.payments"] }, then: deny }""";

    /// <summary>Card numbers of the seeded payments all start with this; the blind grant must never see it.</summary>
    public const string CardPrefix = "411111111111";

    private readonly Dictionary<(RedTeamSetup, RedTeamGrant), string> _tokens = [];
    private NpgsqlDataSource _superuser = null!;
    private EffectState _baseline = null!;

    public TestGateway Gateway { get; private set; } = null!;

    /// <summary>World-writable folder the server (another OS user) can read from and write to.</summary>
    public string WorkDirectory { get; } = Path.Combine(Path.GetTempPath(), "gatehouse-redteam-" + Guid.NewGuid().ToString("N")[..12]);

    public string SecretFile => Path.Combine(WorkDirectory, "secret.txt");

    /// <summary>What COPY … TO PROGRAM 'touch …' would create.</summary>
    public string MarkerFile => Path.Combine(WorkDirectory, "touched");

    /// <summary>What lo_export would write.</summary>
    public string ExportFile => Path.Combine(WorkDirectory, "exported");

    public string FileSecret { get; } = "filesecret" + Hex(8);

    public string LargeObjectSecret { get; } = "losecret" + Hex(8);

    /// <summary>A file name only a directory listing of <see cref="WorkDirectory"/> can show.</summary>
    public string ListingCanary { get; } = "canary" + Hex(8);

    public uint LargeObjectOid { get; private set; }

    public static string Policy
    {
        get
        {
            var yaml = new StringBuilder("identities:\n  dba-reviewers: { claims: { roles: dba } }\n");
            foreach (var setup in Enum.GetValues<RedTeamSetup>())
            {
                foreach (var grant in Enum.GetValues<RedTeamGrant>())
                {
                    yaml.Append($"  {Group(setup, grant)}: {{ claims: {{ groups: {Group(setup, grant)} }} }}\n");
                }
            }

            yaml.Append("grants:\n");
            foreach (var setup in Enum.GetValues<RedTeamSetup>())
            {
                foreach (var grant in Enum.GetValues<RedTeamGrant>())
                {
                    yaml.Append($"  - to: {Group(setup, grant)}\n    targets: [shop]\n");
                    yaml.Append(setup == RedTeamSetup.Power ? "    db_roles: [app_read, app_write, app_power]\n" : "    db_roles: [app_read, app_write]\n");
                    yaml.Append("    rules:\n");
                    foreach (var rule in grant == RedTeamGrant.PaymentsBlind ? [BlindRule, .. Rules] : Rules)
                    {
                        yaml.Append("      - ").Append(rule).Append('\n');
                    }
                }
            }

            // async: a statement sent to review is refused at once (42501) rather than held for a decision.
            // Every review rule row asks for a review: more than the default 20 pending per identity.
            yaml.Append("reviews:\n  approvers: dba-reviewers\n  mode: async\n  timeout: 1m\n  max_pending: 100000\n");
            return yaml.ToString();
        }
    }

    /// <summary>
    /// Set-up (b)'s role (owns nothing, but may become postgres and use the server-file roles), a login role per
    /// set-up with the same db_roles for running rows without the gateway (trust from loopback), a table that
    /// references payments, a marker table and an array table anyone may write, words as column names, and public.lower shadowing
    /// pg_catalog.lower for anyone who puts public first in search_path.
    /// </summary>
    private const string Schema = """
        CREATE ROLE app_power NOLOGIN;
        CREATE ROLE redteam_direct_a LOGIN IN ROLE app_read, app_write;
        CREATE ROLE redteam_direct_b LOGIN IN ROLE app_read, app_write, app_power;
        GRANT pg_read_server_files, pg_write_server_files, pg_execute_server_program TO app_power;
        GRANT postgres TO app_power;
        GRANT CREATE ON SCHEMA public TO app_power;
        CREATE TABLE refunds (id int PRIMARY KEY, payment_id int REFERENCES payments, amount numeric(10,2));
        CREATE TABLE redteam_marker (what text);
        GRANT SELECT, INSERT ON redteam_marker TO PUBLIC;
        CREATE TABLE redteam_arrays (tags int[]);
        GRANT SELECT, INSERT ON redteam_arrays TO PUBLIC;
        CREATE TABLE redteam_words (id int PRIMARY KEY, "select" text, "delete" text, "grant" int);
        INSERT INTO redteam_words VALUES (1, 'chosen', 'kept', 3);
        GRANT SELECT ON refunds, redteam_words TO app_read;
        GRANT INSERT, UPDATE, DELETE ON refunds, redteam_words TO app_write;
        CREATE FUNCTION public.lower(text) RETURNS text LANGUAGE sql
          AS $$ INSERT INTO public.redteam_marker VALUES ('public.lower ran') RETURNING 'shadowed' $$;
        """;

    public async Task InitializeAsync()
    {
        Directory.CreateDirectory(WorkDirectory);
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(WorkDirectory, (UnixFileMode)0x1FF); // 0777: the server runs as another OS user
        }
        await File.WriteAllTextAsync(SecretFile, FileSecret + "\n");
        await File.WriteAllTextAsync(Path.Combine(WorkDirectory, ListingCanary), "x");

        Gateway = await TestGateway.StartAsync(new TestGatewayOptions { Policy = Policy, Postgres = new(), ExtraSchema = Schema });
        _superuser = NpgsqlDataSource.Create(Gateway.Postgres.ConnectionString(TestGateway.Target));
        string hba = Path.Combine(Gateway.Postgres.DataDirectory, "pg_hba.conf");
        await File.WriteAllTextAsync(hba, $"host shop {DirectRole(RedTeamSetup.Default)},{DirectRole(RedTeamSetup.Power)} 127.0.0.1/32 trust\n" + await File.ReadAllTextAsync(hba));
        await ExecuteAsync("SELECT pg_reload_conf()");
        await using (var command = _superuser.CreateCommand($"SELECT lo_from_bytea(0, convert_to('{LargeObjectSecret}', 'UTF8'))"))
        {
            LargeObjectOid = (uint)(await command.ExecuteScalarAsync())!;
        }

        await ResetAsync();
        _baseline = await ProbeAsync();
        foreach (var setup in Enum.GetValues<RedTeamSetup>())
        {
            foreach (var grant in Enum.GetValues<RedTeamGrant>())
            {
                _tokens[(setup, grant)] = Gateway.Token($"redteam-{setup}-{grant}".ToLowerInvariant(), ("groups", Group(setup, grant)));
            }
        }
    }

    public static string Group(RedTeamSetup setup, RedTeamGrant grant) => (setup, grant) switch
    {
        (RedTeamSetup.Default, RedTeamGrant.Main) => "ai-agents",
        (RedTeamSetup.Power, RedTeamGrant.Main) => "power-agents",
        (RedTeamSetup.Default, RedTeamGrant.PaymentsBlind) => "blind-agents",
        _ => "blind-power-agents",
    };

    public string Token(RedTeamSetup setup, RedTeamGrant grant) => _tokens[(setup, grant)];

    /// <summary>The login role with the set-up's db_roles, for running a row directly on PostgreSQL (no gateway, no password).</summary>
    public static string DirectRole(RedTeamSetup setup) => setup == RedTeamSetup.Power ? "redteam_direct_b" : "redteam_direct_a";

    public int PostgresPort => Gateway.Postgres.Port;

    public int Port => Gateway.Port;

    public string BinDirectory => Gateway.Postgres.BinDirectory;

    /// <summary>Puts back what a bypass (or a legit write) may have changed, so each row starts from the same state.</summary>
    public async Task ResetAsync()
    {
        File.Delete(MarkerFile);
        File.Delete(ExportFile);
        await ExecuteAsync($$"""
            DO $reset$
            BEGIN
              IF (SELECT count(*) FROM customers WHERE id <= 100) < 100 THEN
                INSERT INTO customers SELECT g, 'Customer ' || g, 'customer' || g || '@example.com', '123-45-' || lpad(g::text, 4, '0'), '+1-555-' || lpad(g::text, 4, '0')
                  FROM generate_series(1, 100) g ON CONFLICT (id) DO NOTHING;
              END IF;
              IF (SELECT count(*) FROM orders WHERE id <= 500) < 500 THEN
                INSERT INTO orders (id, customer_id, total) SELECT g, (g % 100) + 1, g * 1.5 FROM generate_series(1, 500) g ON CONFLICT (id) DO NOTHING;
              END IF;
              DELETE FROM refunds WHERE id <> 1;
              DELETE FROM payments WHERE id NOT BETWEEN 1 AND 10;
              INSERT INTO payments (id, order_id, card_number, amount)
                SELECT g, g, '{{CardPrefix}}00' || lpad(g::text, 2, '0'), g * 10 FROM generate_series(1, 10) g
                ON CONFLICT (id) DO UPDATE SET order_id = EXCLUDED.order_id, card_number = EXCLUDED.card_number, amount = EXCLUDED.amount;
              INSERT INTO refunds VALUES (1, 8, 5) ON CONFLICT (id) DO NOTHING;
              UPDATE redteam_words SET "select" = 'chosen', "delete" = 'kept', "grant" = 3 WHERE id = 1;
              DELETE FROM redteam_words WHERE id <> 1;
              DELETE FROM redteam_marker;
              IF to_regclass('public.redteam_pwned') IS NOT NULL THEN
                DROP TABLE public.redteam_pwned;
              END IF;
              PERFORM lo_unlink(oid) FROM pg_largeobject_metadata WHERE oid <> {{LargeObjectOid}};
            END
            $reset$
            """);
    }

    /// <summary>What a bypass would have changed, read as superuser directly on PostgreSQL.</summary>
    public sealed record EffectState(long Payment7, string Payments, long Refunds, long LargeObjects, bool PwnedTable, string Marker, bool MarkerFile, bool ExportFile);

    public async Task<EffectState> ProbeAsync()
    {
        await using var command = _superuser.CreateCommand("""
            SELECT (SELECT count(*) FROM payments WHERE id = 7),
                   (SELECT coalesce(md5(string_agg(p::text, ',' ORDER BY id)), 'none') FROM payments p),
                   (SELECT count(*) FROM refunds),
                   (SELECT count(*) FROM pg_largeobject_metadata),
                   to_regclass('public.redteam_pwned') IS NOT NULL,
                   (SELECT coalesce(string_agg(what, ','), '') FROM redteam_marker)
            """);
        await using var reader = await command.ExecuteReaderAsync();
        await reader.ReadAsync();
        return new EffectState(reader.GetInt64(0), reader.GetString(1), reader.GetInt64(2), reader.GetInt64(3), reader.GetBoolean(4), reader.GetString(5),
            File.Exists(MarkerFile), File.Exists(ExportFile));
    }

    /// <summary>Each way the state differs from the one after a reset, in words.</summary>
    public async Task<List<string>> EffectsAsync()
    {
        var now = await ProbeAsync();
        var effects = new List<string>();
        if (now.Payment7 != 1)
        {
            effects.Add("payments row id 7 is gone");
        }
        else if (now.Payments != _baseline.Payments)
        {
            effects.Add("payments rows changed");
        }

        if (now.Refunds != _baseline.Refunds)
        {
            effects.Add("refunds rows changed (a cascade)");
        }

        if (now.LargeObjects != _baseline.LargeObjects)
        {
            effects.Add($"large objects: {now.LargeObjects}, was {_baseline.LargeObjects}");
        }

        if (now.PwnedTable)
        {
            effects.Add("table public.redteam_pwned was created");
        }

        if (now.Marker.Length > 0)
        {
            effects.Add("marker table written: " + now.Marker);
        }

        if (now.MarkerFile)
        {
            effects.Add($"{MarkerFile} exists (a program ran on the server)");
        }

        if (now.ExportFile)
        {
            effects.Add($"{ExportFile} exists (lo_export ran)");
        }

        return effects;
    }

    /// <summary>Secrets a client must never see: a denied function or relation was read.</summary>
    public IEnumerable<(string What, string Text)> Secrets(RedTeamGrant grant)
    {
        yield return ("the server file's content (pg_read_file ran)", FileSecret);
        yield return ("the server file's content as bytea", HexOf(FileSecret));
        yield return ("the large object's content", LargeObjectSecret);
        yield return ("the large object's content as bytea", HexOf(LargeObjectSecret));
        yield return ("a directory listing (pg_ls_dir ran)", ListingCanary);
        if (grant == RedTeamGrant.PaymentsBlind)
        {
            yield return ("a card number from payments (payments reads are denied)", CardPrefix);
        }
    }

    /// <summary>Fills a row's placeholders for the set-up it runs in.</summary>
    public string Render(string sql, RedTeamSetup setup) => sql
        .Replace("{stmts}", setup == RedTeamSetup.Power
            ? "DELETE FROM payments WHERE id = 7; COPY (SELECT 1) TO PROGRAM $$touch {marker}$$; CREATE TABLE redteam_pwned (x int); SET ROLE postgres"
            : "DELETE FROM payments WHERE id = 7", StringComparison.Ordinal)
        .Replace("{expr}", setup == RedTeamSetup.Power ? "lo_creat(-1), set_config($$role$$, $$postgres$$, false)" : "lo_creat(-1)", StringComparison.Ordinal)
        .Replace("{role}", setup == RedTeamSetup.Power ? "postgres" : "app_read", StringComparison.Ordinal)
        .Replace("{secret_file}", SecretFile, StringComparison.Ordinal)
        .Replace("{marker}", MarkerFile, StringComparison.Ordinal)
        .Replace("{export}", ExportFile, StringComparison.Ordinal)
        .Replace("{dir}", WorkDirectory, StringComparison.Ordinal)
        .Replace("{lo}", LargeObjectOid.ToString(CultureInfo.InvariantCulture), StringComparison.Ordinal);

    public async Task<T?> ScalarAsync<T>(string sql)
    {
        await using var command = _superuser.CreateCommand(sql);
        var value = await command.ExecuteScalarAsync();
        return value is null or DBNull ? default : (T)value;
    }

    public async Task ExecuteAsync(string sql)
    {
        await using var command = _superuser.CreateCommand(sql);
        await command.ExecuteNonQueryAsync();
    }

    private static string Hex(int bytes) => Convert.ToHexString(RandomNumberGenerator.GetBytes(bytes)).ToLowerInvariant();

    private static string HexOf(string text) => Convert.ToHexString(Encoding.UTF8.GetBytes(text)).ToLowerInvariant();

    public async Task DisposeAsync()
    {
        if (_superuser is not null)
        {
            await _superuser.DisposeAsync();
        }

        if (Gateway is not null)
        {
            await Gateway.DisposeAsync();
        }

        try
        {
            Directory.Delete(WorkDirectory, recursive: true);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // Best effort: a temp directory (the server may have left files of its own in it).
        }
    }
}

[CollectionDefinition(Name)]
public sealed class RedTeamCollection : ICollectionFixture<RedTeamFixture>
{
    public const string Name = "red team";
}
