"""psycopg 3 through Gatehouse, as an application uses it.

The argument names the part to run (queries, denials, transactions, pipeline). Connection settings come from the
PG* environment variables (libpq reads them); PROBE_ID_BASE is the first orders id this run may insert.
One line per observation, "key: value"; PsycopgClientTests asserts them.
"""
import os
import sys
from datetime import datetime, timezone

import psycopg

CUSTOMER = "SELECT id, name, email, phone, ssn, card_number FROM customers WHERE id = %s"
# Split literal, so this query's own text never matches when it is prepared too.
PREPARED = "SELECT count(*) FROM pg_prepared_statements WHERE strpos(statement, 'card_number' || ' FROM customers') > 0"
INSERT = "INSERT INTO orders (id, customer_id, total, created) VALUES (%s, 1, 10.00, now())"
BASE = int(os.environ["PROBE_ID_BASE"])


def out(key, value):
    print(f"{key}: {value}", flush=True)


def error(e):
    return f"{type(e).__name__} {e.sqlstate} {e.diag.message_primary}"


def connect(**kwargs):
    conn = psycopg.connect(sslmode="require", connect_timeout=10, **kwargs)
    if not conn.pgconn.ssl_in_use:
        raise SystemExit("the connection is not TLS")
    return conn


def scalar(conn, sql, params=None):
    return conn.execute(sql, params).fetchone()[0]


def customers(label, times, binary=False, prepare=None):
    """The same parameterized query `times` times on a fresh connection; prints rows and result formats."""
    with connect(autocommit=True) as conn:
        cur = conn.cursor(binary=binary)
        for n in range(1, times + 1):
            cur.execute(CUSTOMER, ((n - 1) % 4 + 1,), prepare=prepare)
            for row in cur.fetchall():
                out(f"row {label} {n}", "|".join(str(v) for v in row))
            out(f"formats {label} {n}", ",".join(str(cur.pgresult.fformat(i)) for i in range(cur.pgresult.nfields)))
        out(f"prepared {label}", scalar(conn, PREPARED))


def server_cursor():
    """A named cursor: DECLARE, then FETCH two rows at a time."""
    with connect() as conn, conn.cursor(name="probe_cursor", binary=True) as cur:
        cur.itersize = 2
        cur.execute("SELECT id, email, ssn FROM customers WHERE id <= %s ORDER BY id", (5,))
        for row in cur:
            out(f"fetched {row[0]}", f"{row[1]}|{row[2]}")


def customer_row(conn, label):
    out(f"row {label}", "|".join(str(v) for v in conn.execute(CUSTOMER, (1,), prepare=True).fetchone()))


def denials():
    with connect(autocommit=True) as conn:
        out("ssl", conn.pgconn.ssl_in_use)
        customer_row(conn, "before denied")
        for label, sql, params in [("ddl", "DROP TABLE customers", None),
                                   ("files", "SELECT pg_read_file(%s)", ("/etc/passwd",))]:
            try:
                conn.execute(sql, params, prepare=True)
                out(f"denied {label}", "no error")
            except psycopg.Error as e:
                out(f"denied {label}", error(e))
        out("after denied", scalar(conn, "SELECT 41 + 1"))
        # The statement prepared before the denials still runs, still masked.
        customer_row(conn, "after denied")

    # Without autocommit psycopg opens a transaction; a denial aborts it as a server error would.
    with connect() as conn:
        try:
            conn.execute("DROP TABLE orders")
        except psycopg.Error as e:
            out("tx denied", error(e))
        out("tx status", conn.info.transaction_status.name)
        try:
            conn.execute("SELECT 1")
        except psycopg.Error as e:
            out("tx aborted", error(e))
        conn.rollback()
        out("tx denied after rollback", scalar(conn, "SELECT 41 + 1"))


def transactions(conn, id):
    with conn.transaction():
        conn.execute(INSERT, (id,))
        out("tx updated", conn.execute("UPDATE orders SET total = total + 1 WHERE id = %s", (id,)).rowcount)
        raise psycopg.Rollback()
    out("tx after rollback", scalar(conn, "SELECT count(*) FROM orders WHERE id = %s", (id,)))
    with conn.transaction():
        conn.execute(INSERT, (id,))
        conn.execute("UPDATE orders SET total = total + 1 WHERE id = %s", (id,))
    out("tx after commit", scalar(conn, "SELECT total * 100 FROM orders WHERE id = %s", (id,)))
    out("tx cleanup", conn.execute("DELETE FROM orders WHERE id = %s", (id,)).rowcount)


def pipeline(conn, label, id, second, sync_between=False):
    """An allowed insert and then `second` in one pipeline; prints what psycopg raised and what stayed."""
    try:
        with conn.pipeline() as p:
            conn.execute(INSERT, (id,))
            if sync_between:
                p.sync()
            conn.execute(second)
            conn.execute("SELECT 1")
        out(f"pipeline {label}", "no error")
    except psycopg.Error as e:
        out(f"pipeline {label}", error(e))
    out(f"pipeline {label} status", conn.info.transaction_status.name)
    out(f"pipeline {label} rows", scalar(conn, "SELECT count(*) FROM orders WHERE id = %s", (id,)))
    out(f"pipeline {label} after", scalar(conn, "SELECT 41 + 1"))


def queries():
    # prepare_threshold is 5 by default: executions 6 and 7 run the prepared statement.
    customers("default", 7)
    customers("prepare", 3, prepare=True)
    customers("binary", 7, binary=True)
    customers("binary-prepare", 3, binary=True, prepare=True)
    server_cursor()


def writes():
    with connect(autocommit=True) as conn:
        transactions(conn, BASE)
        with conn.cursor() as cur:
            cur.executemany(INSERT, [(BASE + 10 + i,) for i in range(5)])
        out("executemany rows", scalar(conn, "SELECT count(*) FROM orders WHERE id BETWEEN %s AND %s", (BASE + 10, BASE + 19)))
        # COPY FROM STDIN, text and binary, through the cursor's copy() API.
        with conn.cursor() as cur:
            for label, options, first in [("text", "", BASE + 20), ("binary", " (FORMAT BINARY)", BASE + 30)]:
                with cur.copy(f"COPY orders (id, customer_id, total, created) FROM STDIN{options}") as copy:
                    copy.set_types(["int4", "int4", "numeric", "timestamptz"])
                    for i in range(3):
                        copy.write_row((first + i, 1, 5, datetime.now(timezone.utc)))
                out(f"copy {label} rows", cur.rowcount)
        out("cleanup", conn.execute("DELETE FROM orders WHERE id BETWEEN %s AND %s", (BASE, BASE + 39)).rowcount)


def pipelines():
    with connect(autocommit=True) as conn:
        pipeline(conn, "denied", BASE + 1, "DROP TABLE orders")
        # The same with a statement the server itself rejects: a denial should end the pipeline the same way.
        pipeline(conn, "failing", BASE + 2, "SELECT 1 / 0")
        pipeline(conn, "synced", BASE + 3, "DROP TABLE orders", sync_between=True)
        out("cleanup", conn.execute("DELETE FROM orders WHERE id BETWEEN %s AND %s", (BASE, BASE + 19)).rowcount)


out("psycopg", f"{psycopg.__version__} libpq {psycopg.pq.version()} {psycopg.pq.__impl__}")
{"queries": queries, "denials": denials, "transactions": writes, "pipeline": pipelines}[sys.argv[1]]()
