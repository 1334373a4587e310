namespace Gatehouse.IntegrationTests;

internal static class TestData
{
    public const string ShopSchema = """
        CREATE TABLE customers (id int PRIMARY KEY, name text NOT NULL, email text, ssn text, phone text);
        CREATE TABLE orders (id serial PRIMARY KEY, customer_id int REFERENCES customers, total numeric(10,2), created timestamptz DEFAULT now());
        CREATE TABLE payments (id serial PRIMARY KEY, order_id int REFERENCES orders, card_number text, amount numeric(10,2));
        CREATE TABLE blobs (id int PRIMARY KEY, data bytea);
        INSERT INTO customers SELECT g, 'Customer ' || g, 'customer' || g || '@example.com', '123-45-' || lpad(g::text, 4, '0'), '+1-555-' || lpad(g::text, 4, '0')
          FROM generate_series(1, 100) g;
        INSERT INTO orders (customer_id, total) SELECT (g % 100) + 1, g * 1.5 FROM generate_series(1, 500) g;
        CREATE ROLE app_read NOLOGIN;
        CREATE ROLE app_write NOLOGIN;
        GRANT SELECT ON ALL TABLES IN SCHEMA public TO app_read;
        GRANT INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO app_write;
        GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO app_write;
        """;

    public const string DefaultPolicy = """
        identities:
          coding-agents: { claims: { groups: ai-agents } }
          dba-reviewers: { claims: { roles: dba } }
        grants:
          - to: coding-agents
            targets: [shop]
            db_roles: [app_read, app_write]
            rules:
              - { id: no-ddl, when: { class: [ddl, dcl, admin] }, then: deny }
              - { id: no-files, when: { functions: ["pg_read_file", "pg_ls_dir", "lo_*", "dblink*"] }, then: deny }
              - { id: payments-readonly, when: { class: write, tables: ["public.payments"] }, then: deny }
        """;
}
