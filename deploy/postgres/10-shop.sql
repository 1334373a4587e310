-- The shop of `gatehouse demo` (src/Gatehouse/Demo/DemoFiles.cs, Schema("app_read", "app_write", "shop")):
-- fake PII in customers, orders, payments, a view, and the two roles agents' leased logins get.
-- DocsTests keeps this file equal to what the demo seeds.
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
REVOKE CONNECT ON DATABASE "shop" FROM PUBLIC;

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

CREATE ROLE "app_read" NOLOGIN;
CREATE ROLE "app_write" NOLOGIN;
GRANT CONNECT ON DATABASE "shop" TO "app_read", "app_write";
GRANT USAGE ON SCHEMA public TO "app_read", "app_write";
GRANT SELECT ON customers, orders, payments, customer_directory TO "app_read";
GRANT INSERT, UPDATE, DELETE ON orders, payments TO "app_write";
GRANT USAGE ON SEQUENCE orders_id_seq, payments_id_seq TO "app_write";
