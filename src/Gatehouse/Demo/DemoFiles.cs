using System.Globalization;

namespace Gatehouse.Demo;

/// <summary>What the demo writes and runs: the shop schema with fake PII, its gatehouse.yaml, its policy.</summary>
public static class DemoFiles
{
    /// <summary>The target (dbname) clients connect to.</summary>
    public const string Target = "shop";

    public const string AgentGroup = "ai-agents";

    public const string AgentIdentity = "coding-agents";

    public const string ReviewerIdentity = "dba-reviewers";

    public const string ReviewerRole = "dba";

    /// <summary>The dev login that signs in to the web console (a reviewer and admin); its random password is in this file.</summary>
    public const string ConsoleLogin = "reviewer";

    public const string ConsoleLoginPasswordFile = "reviewer.secret";

    /// <summary>With --upstream the provisioner's password reaches the gateway through this variable of this process only.</summary>
    public const string ProvisionerPasswordVariable = "GATEHOUSE_DEMO_PROVISIONER_PASSWORD";

    /// <summary>The customer the demo reads to see whether masking applies (its e-mail is <see cref="ProbeEmail"/>).</summary>
    public const int ProbeCustomer = 1;

    public const string ProbeEmail = "ava.jones@example.com";

    /// <summary>
    /// The shop: customers (fake PII: e-mail, phone, SSN in the never-issued 9xx range, card numbers that are not
    /// real cards), orders, payments, a view over customers, and two NOLOGIN roles holding the privileges.
    /// </summary>
    public static string Schema(string readRole, string writeRole, string database) => $$"""
        REVOKE CREATE ON SCHEMA public FROM PUBLIC;
        REVOKE CONNECT ON DATABASE "{{database}}" FROM PUBLIC;

        CREATE TABLE customers (
          id          int PRIMARY KEY,
          name        text NOT NULL,
          email       text NOT NULL UNIQUE,
          phone       text,
          ssn         text,
          card_number text,
          created_at  timestamptz NOT NULL DEFAULT now()
        );
        CREATE TABLE orders (
          id          serial PRIMARY KEY,
          customer_id int NOT NULL REFERENCES customers,
          status      text NOT NULL DEFAULT 'new' CHECK (status IN ('new', 'paid', 'shipped', 'cancelled')),
          total       numeric(10,2) NOT NULL,
          created_at  timestamptz NOT NULL DEFAULT now()
        );
        CREATE TABLE payments (
          id          serial PRIMARY KEY,
          order_id    int NOT NULL REFERENCES orders,
          amount      numeric(10,2) NOT NULL,
          card_number text NOT NULL,
          status      text NOT NULL DEFAULT 'captured' CHECK (status IN ('captured', 'refunded', 'failed')),
          created_at  timestamptz NOT NULL DEFAULT now()
        );
        CREATE VIEW customer_directory AS SELECT id, name, email, phone FROM customers;

        INSERT INTO customers (id, name, email, phone, ssn, card_number)
        SELECT g,
               f.name || ' ' || l.name,
               lower(f.name) || '.' || lower(l.name) || '@example.com',
               '+1-555-01' || lpad(g::text, 2, '0'),
               '9' || lpad(g::text, 2, '0') || '-' || lpad(((g * 37) % 100)::text, 2, '0') || '-' || lpad(((g * 7919) % 10000)::text, 4, '0'),
               '4000-0012-3456-' || lpad(((g * 7717) % 10000)::text, 4, '0')
        FROM generate_series(1, 50) g
        JOIN (VALUES (0, 'Ava'), (1, 'Ben'), (2, 'Chloe'), (3, 'Diego'), (4, 'Emma'), (5, 'Farid'), (6, 'Grace'), (7, 'Hiro'), (8, 'Isla'), (9, 'Jonas'))
             AS f(i, name) ON f.i = (g - 1) % 10
        JOIN (VALUES (0, 'Jones'), (1, 'Kim'), (2, 'Lopez'), (3, 'Nguyen'), (4, 'Okafor'))
             AS l(i, name) ON l.i = (g - 1) / 10;
        INSERT INTO orders (customer_id, status, total, created_at)
        SELECT (g * 7) % 50 + 1,
               (ARRAY['new', 'paid', 'shipped', 'cancelled'])[g % 4 + 1],
               round(((g * 1337) % 50000) / 100.0 + 5, 2),
               now() - g * interval '3 hours'
        FROM generate_series(1, 200) g;
        INSERT INTO payments (order_id, amount, card_number, created_at)
        SELECT o.id, o.total, c.card_number, o.created_at + interval '5 minutes'
        FROM orders o JOIN customers c ON c.id = o.customer_id
        WHERE o.status IN ('paid', 'shipped')
        ORDER BY o.id;

        CREATE ROLE "{{readRole}}" NOLOGIN;
        CREATE ROLE "{{writeRole}}" NOLOGIN;
        GRANT CONNECT ON DATABASE "{{database}}" TO "{{readRole}}", "{{writeRole}}";
        GRANT USAGE ON SCHEMA public TO "{{readRole}}", "{{writeRole}}";
        GRANT SELECT ON customers, orders, payments, customer_directory TO "{{readRole}}";
        GRANT INSERT, UPDATE, DELETE ON orders, payments TO "{{writeRole}}";
        GRANT USAGE ON SEQUENCE orders_id_seq, payments_id_seq TO "{{writeRole}}";
        """;

    /// <summary>gatehouse.yaml: loopback listeners only, TLS required (self-signed), the development issuer on.</summary>
    public static string Config(int postgresPort, int adminPort, string upstreamHost, int upstreamPort, string database, string tlsMode,
        string? rootCertificate, string provisionerUser, bool passwordInEnvironment)
    {
        string Port(int port) => port.ToString(CultureInfo.InvariantCulture);
        string host = upstreamHost.Contains(':', StringComparison.Ordinal) ? $"\"{upstreamHost}\"" : upstreamHost;
        string password = passwordInEnvironment
            ? $"password_env: {ProvisionerPasswordVariable}   # set inside the demo process only"
            : "password_file: provisioner.secret";
        string root = rootCertificate is null ? string.Empty : $"\n    root_certificate: \"{rootCertificate}\"";
        return $"""
            # Written by `gatehouse demo`: a throwaway configuration, removed when the demo stops.
            # Reference: README.md (Configuration) and ../shared/SPEC.md.
            listen:
              postgres: 127.0.0.1:{Port(postgresPort)}   # loopback only
              admin: 127.0.0.1:{Port(adminPort)}
            tls:
              require: true                # a self-signed certificate is generated in this directory
            identity:
              audiences: [gatehouse]
              dev_issuer: true             # development only: tokens from `gatehouse token --dev`
              dev_logins:                  # who may sign in to the web console at the dev issuer's login page
                - {"{"} subject: {ConsoleLogin}, password_file: {ConsoleLoginPasswordFile}, claims: {"{"} roles: {ReviewerRole} {"}"} {"}"}
            state: sqlite:gatehouse-state.db
            targets:
              {Target}:                    # clients connect with dbname={Target}
                host: {host}
                port: {Port(upstreamPort)}
                database: "{database}"
                tls: {tlsMode}{root}
                provisioner:               # the one static credential; only Gatehouse holds it
                  user: "{provisionerUser}"
                  {password}
                credentials: {"{"} mode: ephemeral, ttl: 15m {"}"}
            policy: policy.yaml
            admin:
              identities: {ReviewerIdentity}     # the reviewer also reads sessions and edits the policy in the console
            """ + "\n";
    }

    /// <summary>
    /// policy.yaml: agents (groups=ai-agents) read and write the shop; DDL, role changes, admin commands and code are
    /// denied; payment writes need review; PII columns carry masks; DBAs (roles=dba) approve.
    /// </summary>
    public static string Policy(string readRole, string writeRole) => $$"""
        # Written by `gatehouse demo`. Reference: docs/policy.md. Edit it while the demo runs: it is reloaded at once.
        identities:
          {{AgentIdentity}}: { claims: { groups: {{AgentGroup}} } }   # the agent token carries groups={{AgentGroup}}
          {{ReviewerIdentity}}: { claims: { roles: {{ReviewerRole}} } }          # the reviewer token carries roles={{ReviewerRole}}
        grants:
          - to: {{AgentIdentity}}
            targets: [{{Target}}]
            db_roles: ["{{readRole}}", "{{writeRole}}"]   # the leased login role gets exactly these
            rules:                               # first match wins; no match: allowed, within db_roles
              - id: no-files
                when: { functions: ["pg_read_file", "pg_read_binary_file", "pg_ls_dir", "lo_*", "dblink*"] }
                then: deny
              - { id: no-ddl, when: { class: [ddl, dcl, admin] }, then: deny }
              - { id: no-code, when: { class: code }, then: deny }
              - { id: pay-writes, when: { class: write, tables: ["public.payments"] }, then: review }
            masks:
              - { columns: ["public.customers.email"], with: email }
              - { columns: ["*.ssn", "*.card_number"], with: last4 }
              - { columns: ["public.customers.phone"], with: hash }
        reviews:
          approvers: {{ReviewerIdentity}}
          mode: hold
          timeout: 10m
        """ + "\n";
}
