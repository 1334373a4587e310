using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using Npgsql;

namespace Gatehouse.IntegrationTests;

/// <summary>Which grant a masking run gets, chosen by the token's group claim.</summary>
public enum MaskGrant
{
    /// <summary>Column masks only (email, last4, hash): a leak here is a column-masking leak, not hidden by a detector.</summary>
    Columns,

    /// <summary>The same column masks and every content detector, with redact.</summary>
    Full,

    /// <summary>No masks at all: what the client would see without masking (the harness's own check).</summary>
    None,

    /// <summary>The column masks with <c>strict_masking: deny</c>: untraceable columns refuse instead of being redacted.</summary>
    Strict,
}

/// <summary>
/// One PostgreSQL with fake but realistic PII and one Gatehouse in front of it with three grants (column masks;
/// column masks and detectors; no masks). Rows run by the same client directly on PostgreSQL as a trusted
/// superuser give the reference every unmasked column is compared with.
/// </summary>
public sealed class MaskingFixture : IAsyncLifetime
{
    /// <summary>The superuser that runs rows directly on PostgreSQL (trust from loopback, no password).</summary>
    public const string DirectRole = "masking_direct";

    public const int CustomerCount = 20;

    private const string Rules = """
              - { id: no-ddl, when: { class: [ddl, dcl, admin, code] }, then: deny }
              - { id: no-files, when: { functions: ["pg_read_file", "pg_ls_dir", "lo_*", "dblink*"] }, then: deny }
        """;

    private const string ColumnMasks = """
              - { columns: ["public.customers.email"], with: email }
              - { columns: ["*.ssn", "*.card_number"], with: last4 }
              - { columns: ["public.customers.phone"], with: hash }
        """;

    private const string DetectMask = """
              - { detect: [email, credit_card, ssn, phone, iban, secret], with: redact }
        """;

    public static string Policy => $$"""
        identities:
          mask-columns: { claims: { groups: mask-columns } }
          mask-full: { claims: { groups: mask-full } }
          mask-none: { claims: { groups: mask-none } }
          mask-strict: { claims: { groups: mask-strict } }
        grants:
          - to: mask-columns
            targets: [shop]
            db_roles: [app_read, app_write]
            rules:
        {{Rules}}
            masks:
        {{ColumnMasks}}
          - to: mask-full
            targets: [shop]
            db_roles: [app_read, app_write]
            rules:
        {{Rules}}
            masks:
        {{ColumnMasks}}
        {{DetectMask}}
          - to: mask-none
            targets: [shop]
            db_roles: [app_read, app_write]
            rules:
        {{Rules}}
          - to: mask-strict
            targets: [shop]
            db_roles: [app_read, app_write]
            strict_masking: deny
            rules:
        {{Rules}}
            masks:
        {{ColumnMasks}}
        """;

    private static readonly string[] FirstNames =
        ["Alice", "Bruno", "Chen", "Dana", "Emeka", "Fatima", "Gustav", "Hana", "Ivan", "Julia",
         "Kwame", "Laura", "Mateo", "Nadia", "Oscar", "Priya", "Quentin", "Rosa", "Samir", "Tessa", "Umar", "Vera"];

    private static readonly string[] LastNames =
        ["Jones", "Costa", "Wei", "Whitfield", "Obi", "Rahman", "Lind", "Sato", "Petrov", "Marsh",
         "Mensah", "Byrne", "Ruiz", "Haddad", "Nilsson", "Nair", "Doyle", "Alvarez", "Khan", "Hale", "Farouk", "Lindqvist"];

    private static readonly string[] Domains = ["example.com", "example.org", "example.net"];

    private readonly Dictionary<MaskGrant, string> _tokens = [];

    /// <summary>What each row gave each client directly on PostgreSQL: the same for every test that runs the row.</summary>
    public ConcurrentDictionary<(string Row, MaskClient Client), Task<Received>> DirectRuns { get; } = new();

    private readonly Lazy<NodeClientHost> _node = new(NodeClientHost.Start);

    public TestGateway Gateway { get; private set; } = null!;

    /// <summary>The node process that runs node-postgres for the rows, started on first use.</summary>
    public NodeClientHost Node => _node.Value;

    public static IReadOnlyList<FakeCustomer> Customers { get; } = MakeCustomers();

    /// <summary>Rows of the child table <c>archived_customers</c> (INHERITS customers): they show in customers too.</summary>
    public static IReadOnlyList<FakeCustomer> Archived { get; } = MakeArchived();

    public static IReadOnlyList<FakeNote> Notes { get; } = MakeNotes();

    public int Port => Gateway.Port;

    public int PostgresPort => Gateway.Postgres.Port;

    public string BinDirectory => Gateway.Postgres.BinDirectory;

    public string Token(MaskGrant grant) => _tokens[grant];

    /// <summary>
    /// The fixture's schema, replacing the shop tables: customers (unique e-mail, a CHECK on name), orders, payments,
    /// notes with secrets inside JSON, array, XML and plain text and a jsonb column, a child table, plain views, an
    /// expression view, a view over a view, a materialized view, functions and a trigger that read customers (one,
    /// customer_email(orders), callable in attribute notation as o.customer_email), and
    /// functions that put their argument into a notice or an error.
    /// </summary>
    public static string Schema
    {
        get
        {
            var sql = new StringBuilder("""
                DROP TABLE payments, orders, customers CASCADE;
                CREATE TABLE customers (id int PRIMARY KEY, name text NOT NULL CHECK (length(name) < 60), email text UNIQUE,
                  phone text, ssn text, card_number text);
                CREATE TABLE archived_customers () INHERITS (customers);
                CREATE TABLE orders (id int PRIMARY KEY, customer_id int REFERENCES customers, total numeric(10,2), created timestamptz NOT NULL);
                CREATE TABLE payments (id int PRIMARY KEY, order_id int REFERENCES orders, card_number text, amount numeric(10,2));
                CREATE TABLE notes (id int PRIMARY KEY, body text, meta jsonb);

                """);
            foreach (var c in Customers)
            {
                sql.Append(CultureInfo.InvariantCulture, $"INSERT INTO customers VALUES ({c.Id}, {Lit(c.Name)}, {Lit(c.Email)}, {Lit(c.Phone)}, {Lit(c.Ssn)}, {Lit(c.Card)});\n");
            }

            foreach (var c in Archived)
            {
                sql.Append(CultureInfo.InvariantCulture, $"INSERT INTO archived_customers VALUES ({c.Id}, {Lit(c.Name)}, {Lit(c.Email)}, {Lit(c.Phone)}, {Lit(c.Ssn)}, {Lit(c.Card)});\n");
            }

            for (int id = 1; id <= 30; id++)
            {
                sql.Append(CultureInfo.InvariantCulture,
                    $"INSERT INTO orders VALUES ({id}, {(id - 1) % CustomerCount + 1}, {id * 3.75m:0.00}, '2024-03-01 10:00:00+00'::timestamptz + interval '{id * 7} hours');\n");
            }

            foreach (var c in Customers)
            {
                sql.Append(CultureInfo.InvariantCulture, $"INSERT INTO payments VALUES ({c.Id}, {c.Id}, {Lit(Digits(c.Card))}, {c.Id * 10.25m:0.00});\n");
            }

            foreach (var n in Notes)
            {
                sql.Append(CultureInfo.InvariantCulture, $"INSERT INTO notes VALUES ({n.Id}, {Lit(n.Body)}, {(n.Meta is null ? "NULL" : Lit(n.Meta) + "::jsonb")});\n");
            }

            sql.Append($"""
                CREATE VIEW customer_contacts AS SELECT id, name, email, phone FROM customers;
                CREATE VIEW customer_emails_lower AS SELECT id, lower(email) AS e FROM customers;
                CREATE VIEW contact_emails AS SELECT id, email AS address FROM customer_contacts;
                CREATE MATERIALIZED VIEW customer_directory AS SELECT id, name, email, phone FROM customers;
                CREATE FUNCTION customer_email(int) RETURNS text LANGUAGE sql STABLE AS $$ SELECT email FROM customers WHERE id = $1 $$;
                CREATE FUNCTION customer_email(orders) RETURNS text LANGUAGE sql STABLE AS $$ SELECT email FROM customers WHERE id = $1.customer_id $$;
                CREATE FUNCTION order_changed() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN
                  PERFORM pg_notify('order_changed', (SELECT email FROM customers WHERE id = NEW.customer_id));
                  RETURN NEW;
                END $$;
                CREATE TRIGGER order_changed AFTER UPDATE ON orders FOR EACH ROW EXECUTE FUNCTION order_changed();
                CREATE FUNCTION all_customers() RETURNS SETOF customers LANGUAGE sql STABLE AS $$ SELECT * FROM customers $$;
                CREATE FUNCTION open_customer_cursor() RETURNS refcursor LANGUAGE plpgsql AS $$
                DECLARE c refcursor := 'customer_cursor';
                BEGIN
                  OPEN c FOR SELECT id, lower(email) AS e, ssn FROM customers ORDER BY id;
                  RETURN c;
                END $$;
                CREATE FUNCTION shout(text) RETURNS text LANGUAGE plpgsql AS $$ BEGIN RAISE NOTICE 'value: %', $1 USING DETAIL = $1; RETURN 'ok'; END $$;
                CREATE FUNCTION fail_with(text) RETURNS text LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'bad value %', $1 USING DETAIL = $1, HINT = $1; END $$;
                CREATE FUNCTION notice_email(int) RETURNS text LANGUAGE plpgsql AS $$
                BEGIN
                  RAISE NOTICE 'customer %', (SELECT email FROM customers WHERE id = $1);
                  RETURN 'ok';
                END $$;
                GRANT SELECT ON ALL TABLES IN SCHEMA public TO app_read;
                GRANT INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO app_write;
                CREATE ROLE {DirectRole} LOGIN SUPERUSER;
                ANALYZE;
                """);
            return sql.ToString();
        }
    }

    public async Task InitializeAsync()
    {
        Gateway = await TestGateway.StartAsync(new TestGatewayOptions { Policy = Policy, Postgres = new(), ExtraSchema = Schema });
        string hba = Path.Combine(Gateway.Postgres.DataDirectory, "pg_hba.conf");
        await File.WriteAllTextAsync(hba, $"host shop {DirectRole} 127.0.0.1/32 trust\n" + await File.ReadAllTextAsync(hba));
        await Gateway.Postgres.ExecuteAsync("SELECT pg_reload_conf()");
        foreach (var grant in Enum.GetValues<MaskGrant>())
        {
            _tokens[grant] = Gateway.Token("masking-" + grant.ToString().ToLowerInvariant(), ("groups", "mask-" + grant.ToString().ToLowerInvariant()));
        }
    }

    /// <summary>Connection settings for Npgsql: through the gateway with a grant, or directly on PostgreSQL (grant null).</summary>
    public NpgsqlConnectionStringBuilder NpgsqlSettings(MaskGrant? grant) => new()
    {
        Host = "127.0.0.1",
        Port = grant is null ? PostgresPort : Port,
        Database = TestGateway.Target,
        Username = grant is null ? DirectRole : "agent",
        Password = grant is null ? null : Token(grant.Value),
        SslMode = SslMode.Disable,
        Pooling = false,
        Timeout = 15,
        CommandTimeout = 15,
        IncludeErrorDetail = true,
    };

    /// <summary>libpq environment (psql, node-postgres) for the same two ways in.</summary>
    public Dictionary<string, string> LibpqEnvironment(MaskGrant? grant) => new()
    {
        ["PGHOST"] = "127.0.0.1",
        ["PGPORT"] = (grant is null ? PostgresPort : Port).ToString(CultureInfo.InvariantCulture),
        ["PGDATABASE"] = TestGateway.Target,
        ["PGUSER"] = grant is null ? DirectRole : "agent",
        ["PGPASSWORD"] = grant is null ? "" : Token(grant.Value),
        ["PGSSLMODE"] = "disable",
        ["PGCONNECT_TIMEOUT"] = "10",
        ["PGAPPNAME"] = "masking-tests",
    };

    /// <summary>
    /// Every raw sensitive value a grant must never let through, in each form a client could recognise: as stored,
    /// digits only (cards, SSNs), the e-mail's local part, reversed, hex and base64 of its UTF-8. Compared without
    /// regard to case, so upper- and lower-cased e-mails count. For the full grant, the notes' secrets too.
    /// </summary>
    public static IReadOnlyList<Needle> Needles(MaskGrant grant) => NeedleLists[grant];

    private static readonly Dictionary<MaskGrant, IReadOnlyList<Needle>> NeedleLists =
        Enum.GetValues<MaskGrant>().ToDictionary(g => g, MakeNeedles);

    private static IReadOnlyList<Needle> MakeNeedles(MaskGrant grant)
    {
        var needles = new List<Needle>();
        foreach (var c in Customers.Concat(Archived))
        {
            string who = $"customer {c.Id}";
            AddForms(needles, $"{who} email", c.Email);
            needles.Add(new Needle($"{who} email local part", c.Email[..c.Email.IndexOf('@', StringComparison.Ordinal)]));
            AddForms(needles, $"{who} phone", c.Phone);
            AddForms(needles, $"{who} ssn", c.Ssn);
            needles.Add(new Needle($"{who} ssn digits", Digits(c.Ssn)));
            AddForms(needles, $"{who} card", c.Card);
            AddForms(needles, $"{who} card digits", Digits(c.Card));
        }

        if (grant == MaskGrant.Full)
        {
            foreach (var note in Notes)
            {
                foreach (var (what, secret) in note.Secrets)
                {
                    needles.Add(new Needle($"note {note.Id} {what}", secret));
                }
            }
        }

        return needles.DistinctBy(n => n.Text.ToUpperInvariant()).ToList();
    }

    private static void AddForms(List<Needle> needles, string what, string value)
    {
        needles.Add(new Needle(what, value));
        needles.Add(new Needle(what + " reversed", new string(value.Reverse().ToArray())));
        needles.Add(new Needle(what + " as hex", Convert.ToHexString(Encoding.UTF8.GetBytes(value))));
        needles.Add(new Needle(what + " as base64", Convert.ToBase64String(Encoding.UTF8.GetBytes(value)).TrimEnd('=')));
    }

    public static string Digits(string text) => new(text.Where(char.IsAsciiDigit).ToArray());

    private static string Lit(string text) => "'" + text.Replace("'", "''", StringComparison.Ordinal) + "'";

    /// <summary>Customer <paramref name="id"/> with the names at <paramref name="index"/>; <paramref name="seed"/> makes its SSN and card.</summary>
    private static FakeCustomer Customer(int id, int index, int seed, string phone)
    {
        string first = FirstNames[index], last = LastNames[index];
        string email = $"{first.ToLowerInvariant()}.{last.ToLowerInvariant()}@{Domains[index % 3]}";
        string ssn = $"{101 + 37 * seed % 800:000}-{11 + 4 * seed % 89:00}-{2000 + 373 * seed % 8000:0000}";
        string body = "4539" + ((seed * 7919L + 14_880_343L) % 100_000_000_000L).ToString("00000000000", CultureInfo.InvariantCulture);
        string card = body + LuhnDigit(body);
        // Every other card is stored the way people type it, so its digits-only form is a separate needle.
        if (id % 2 == 0)
        {
            card = string.Join(' ', Enumerable.Range(0, 4).Select(g => card.Substring(g * 4, 4)));
        }

        return new FakeCustomer(id, $"{first} {last}", email, phone, ssn, card);
    }

    private static List<FakeCustomer> MakeCustomers() =>
        Enumerable.Range(1, CustomerCount).Select(id => Customer(id, id - 1, id, $"+1-555-01{id:00}")).ToList();

    private static List<FakeCustomer> MakeArchived() => [Customer(101, 20, 41, "+1-555-0201"), Customer(102, 21, 42, "+1-555-0202")];

    /// <summary>The Luhn check digit that makes <paramref name="body"/> + digit a valid card number.</summary>
    public static char LuhnDigit(string body)
    {
        int sum = 0;
        for (int i = 0; i < body.Length; i++)
        {
            int d = body[body.Length - 1 - i] - '0';
            if (i % 2 == 0)
            {
                d *= 2;
                if (d > 9)
                {
                    d -= 9;
                }
            }

            sum += d;
        }

        return (char)('0' + (10 - sum % 10) % 10);
    }

    private const string Jwt = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhZ2VudC0xIiwiaWF0IjoxNzAwMDAwMDAwfQ.q0c0Vw8xJ1yLr2H3sZ5tP9mXn4bK7dQeA6fU2gWjRvM";

    private const string PemLine1 = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj";
    private const string PemLine2 = "MZEfYyjiWA4R4/M2bS1GB4t7NXp98C3SC6dVMvDuictGeurT8jNbvJZHtCSuYEvu";
    private const string Pem = "-----BEGIN PRIVATE KEY-----\n" + PemLine1 + "\n" + PemLine2 + "\n-----END PRIVATE KEY-----";

    private static List<FakeNote> MakeNotes()
    {
        string noteCard = "4716" + "00001111222";
        noteCard += LuhnDigit(noteCard);
        string spacedCard = string.Join(' ', Enumerable.Range(0, 4).Select(g => noteCard.Substring(g * 4, 4)));
        string metaCard = "5425" + "23334444555";
        metaCard += LuhnDigit(metaCard);
        return
        [
            new(1, $$"""{"from": "support", "text": "Reply to nora.west@example.org about card {{spacedCard}} today", "ok": true}""",
                $$"""{"contact": {"email": "lena.fox@example.com", "phones": ["+1-555-0177"]}, "card": "{{metaCard}}", "tier": "gold"}""",
                [("email", "nora.west@example.org"), ("card", spacedCard), ("card digits", noteCard), ("meta email", "lena.fox@example.com"), ("meta phone", "+1-555-0177"), ("meta card", metaCard)]),
            new(2, """{"call +1-555-0199","ssn 536-22-8145","plain words"}""",
                """{"ssn": "611-30-4472", "notes": ["nothing secret here"]}""",
                [("phone", "+1-555-0199"), ("ssn", "536-22-8145"), ("meta ssn", "611-30-4472")]),
            new(3, "<contact><email>omar.diaz@example.net</email><iban>GB82WEST12345698765432</iban><name>Omar</name></contact>", null,
                [("email", "omar.diaz@example.net"), ("iban", "GB82WEST12345698765432")]),
            new(4, $"deploy with token {Jwt} and key\n{Pem}\nthen aws AKIAIOSFODNN7EXAMPLE, done", """{"tier": "basic"}""",
                [("jwt", Jwt), ("pem", Pem), ("pem line 1", PemLine1), ("pem line 2", PemLine2), ("aws key", "AKIAIOSFODNN7EXAMPLE")]),
            new(5, "Call Pat on +1-555-0142 (SSN 219-44-1038), IBAN DE89 3704 0044 0532 0130 00, thanks.", null,
                [("phone", "+1-555-0142"), ("ssn", "219-44-1038"), ("iban", "DE89 3704 0044 0532 0130 00"), ("iban compact", "DE89370400440532013000")]),
            new(6, "no secrets in this note, just an order number 10023 and a date 2024-03-01", null, []),
        ];
    }

    public async Task DisposeAsync()
    {
        if (_node.IsValueCreated)
        {
            await _node.Value.DisposeAsync();
        }

        if (Gateway is not null)
        {
            await Gateway.DisposeAsync();
        }
    }
}

public sealed record FakeCustomer(int Id, string Name, string Email, string Phone, string Ssn, string Card);

/// <summary>A note and the secrets in it (in its body or its jsonb meta), each as it appears in the stored text.</summary>
public sealed record FakeNote(int Id, string Body, string? Meta, (string What, string Text)[] Secrets);

/// <summary>A raw value (or a form of one) that must not reach the client.</summary>
public sealed record Needle(string What, string Text);

[CollectionDefinition(Name)]
public sealed class MaskingCollection : ICollectionFixture<MaskingFixture>
{
    public const string Name = "masking";
}
