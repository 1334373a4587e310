// pgx (v4) through Gatehouse, as an application uses it. The first argument names the part to run (queries,
// denials, transactions, batches); the second, if any, is a connection string merged over the PG* environment
// variables (e.g. "statement_cache_mode=describe"). PROBE_ID_BASE is the first orders id this run may insert.
// One line per observation, "key: value"; PgxClientTests asserts them.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgconn"
	"github.com/jackc/pgx/v4"
)

const (
	customer = "SELECT id, name, email, phone, ssn, card_number FROM customers WHERE id = $1"
	// Split literal, so this query's own text never matches when it is prepared too.
	prepared = "SELECT count(*) FROM pg_prepared_statements WHERE strpos(statement, 'card_number' || ' FROM customers') > 0"
	insert   = "INSERT INTO orders (id, customer_id, total, created) VALUES ($1, 1, 10.00, now())"
)

func out(key string, value any) { fmt.Printf("%s: %v\n", key, value) }

func must(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "unexpected error:", err)
		os.Exit(1)
	}
}

func describe(err error) string {
	var pg *pgconn.PgError
	switch {
	case err == nil:
		return "no error"
	case errors.As(err, &pg):
		return fmt.Sprintf("PgError %s %s", pg.Code, pg.Message)
	default:
		return fmt.Sprintf("%T %v", err, err)
	}
}

func scalar(ctx context.Context, q interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}, sql string, args ...any) (int64, error) {
	var n int64
	err := q.QueryRow(ctx, sql, args...).Scan(&n)
	return n, err
}

// customers runs the customer query; binary asks for every result column in binary, text ones too.
func customers(ctx context.Context, conn *pgx.Conn, label string, n int, binary bool) {
	args := []any{(n-1)%4 + 1}
	if binary {
		args = append([]any{pgx.QueryResultFormats{pgx.BinaryFormatCode}}, args...)
	}
	rows, err := conn.Query(ctx, customer, args...)
	must(err)
	var formats []string
	for _, f := range rows.FieldDescriptions() {
		formats = append(formats, strconv.Itoa(int(f.Format)))
	}
	for rows.Next() {
		var id int32
		var name, email, phone, ssn, card string
		must(rows.Scan(&id, &name, &email, &phone, &ssn, &card))
		out(fmt.Sprintf("row %s %d", label, n), fmt.Sprintf("%d|%s|%s|%s|%s|%s", id, name, email, phone, ssn, card))
	}
	must(rows.Err())
	out(fmt.Sprintf("formats %s %d", label, n), strings.Join(formats, ","))
}

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	base, err := strconv.Atoi(os.Getenv("PROBE_ID_BASE"))
	must(err)
	connString := ""
	if len(os.Args) > 2 {
		connString = os.Args[2]
	}
	config, err := pgx.ParseConfig(connString)
	must(err)
	conn, err := pgx.ConnectConfig(ctx, config)
	must(err)
	defer conn.Close(ctx)
	_, isTLS := conn.PgConn().Conn().(*tls.Conn)
	out("ssl", isTLS)

	switch os.Args[1] {
	case "queries":
		queries(ctx, conn)
	case "denials":
		denials(ctx, conn)
	case "transactions":
		transactions(ctx, conn, base)
	case "batches":
		batches(ctx, conn, base)
	default:
		must(fmt.Errorf("unknown part %q", os.Args[1]))
	}
}

func queries(ctx context.Context, conn *pgx.Conn) {
	// The statement cache prepares every parameterized query (mode prepare, the default) or describes it
	// first (mode describe); either way results of known types come back in binary.
	for n := 1; n <= 8; n++ {
		customers(ctx, conn, "cached", n, false)
	}
	for n := 1; n <= 3; n++ {
		customers(ctx, conn, "binary", n, true)
	}
	count, err := scalar(ctx, conn, prepared)
	must(err)
	out("prepared", count)
}

func denials(ctx context.Context, conn *pgx.Conn) {
	customers(ctx, conn, "cached", 1, false)
	_, err := conn.Exec(ctx, "DROP TABLE customers")
	out("denied ddl", describe(err))
	for n := 1; n <= 2; n++ {
		var text string
		out(fmt.Sprintf("denied files %d", n), describe(conn.QueryRow(ctx, "SELECT pg_read_file($1)", "/etc/passwd").Scan(&text)))
	}
	answer, err := scalar(ctx, conn, "SELECT 41 + $1::int8", 1)
	must(err)
	out("after denied", answer)
	// The statement prepared before the denials still runs, still masked.
	customers(ctx, conn, "cached", 2, false)
}

func transactions(ctx context.Context, conn *pgx.Conn, id int) {
	tx, err := conn.Begin(ctx)
	must(err)
	_, err = tx.Exec(ctx, insert, id)
	must(err)
	tag, err := tx.Exec(ctx, "UPDATE orders SET total = total + 1 WHERE id = $1", id)
	must(err)
	out("tx updated", tag.RowsAffected())
	must(tx.Rollback(ctx))
	count, err := scalar(ctx, conn, "SELECT count(*) FROM orders WHERE id = $1", id)
	must(err)
	out("tx after rollback", count)

	err = conn.BeginFunc(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, insert, id); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, "UPDATE orders SET total = total + 1 WHERE id = $1", id)
		return err
	})
	must(err)
	total, err := scalar(ctx, conn, "SELECT (total * 100)::int8 FROM orders WHERE id = $1", id)
	must(err)
	out("tx after commit", total)

	// A denial inside a transaction aborts it, as a server error would.
	tx, err = conn.Begin(ctx)
	must(err)
	_, err = tx.Exec(ctx, "DROP TABLE orders")
	out("tx denied", describe(err))
	_, err = scalar(ctx, tx, "SELECT 1::int8")
	out("tx aborted", describe(err))
	must(tx.Rollback(ctx))
	tag, err = conn.Exec(ctx, "DELETE FROM orders WHERE id = $1", id)
	must(err)
	out("tx cleanup", tag.RowsAffected())
}

func batches(ctx context.Context, conn *pgx.Conn, first int) {
	batch := &pgx.Batch{}
	for i := 0; i < 7; i++ {
		batch.Queue(insert, first+i)
	}
	results := conn.SendBatch(ctx, batch)
	var counts []string
	for i := 0; i < 7; i++ {
		tag, err := results.Exec()
		must(err)
		counts = append(counts, strconv.FormatInt(tag.RowsAffected(), 10))
	}
	must(results.Close())
	out("batch", strings.Join(counts, ","))
	inRange := fmt.Sprintf(" FROM orders WHERE id BETWEEN %d AND %d", first, first+19)
	count, err := scalar(ctx, conn, "SELECT count(*)"+inRange)
	must(err)
	out("batch rows", count)

	// An allowed insert, then a denied statement (or one the server rejects, for comparison), in one batch.
	mixedBatch(ctx, conn, "mixed batch denied", first+10, "DROP TABLE orders", inRange)
	mixedBatch(ctx, conn, "mixed batch failing", first+11, "SELECT 1 / 0", inRange)
	tag, err := conn.Exec(ctx, "DELETE"+inRange)
	must(err)
	out("batch cleanup", tag.RowsAffected())

	// CopyFrom: COPY ... FROM STDIN BINARY, in a transaction rolled back afterwards.
	tx, err := conn.Begin(ctx)
	must(err)
	copied, err := tx.CopyFrom(ctx, pgx.Identifier{"orders"}, []string{"id", "customer_id", "total", "created"}, pgx.CopyFromSlice(3, func(i int) ([]any, error) {
		return []any{int32(first + 20 + i), int32(1), 5.0, time.Now()}, nil
	}))
	out("copy from", fmt.Sprintf("%d %s", copied, describe(err)))
	count, err = scalar(ctx, tx, "SELECT count(*) FROM orders WHERE id BETWEEN $1 AND $1 + 9", first+20)
	must(err)
	out("copy rows", count)
	must(tx.Rollback(ctx))
}

func mixedBatch(ctx context.Context, conn *pgx.Conn, label string, id int, second, inRange string) {
	batch := &pgx.Batch{}
	batch.Queue(insert, id)
	batch.Queue(second)
	results := conn.SendBatch(ctx, batch)
	_, first := results.Exec()
	_, next := results.Exec()
	out(label, describe(first)+"; then "+describe(next)+"; close "+describe(results.Close()))
	count, err := scalar(ctx, conn, "SELECT count(*)"+inRange)
	must(err)
	out(label+" rows", count)
}
