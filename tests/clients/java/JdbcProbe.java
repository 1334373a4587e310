// pgjdbc through Gatehouse, as an application uses it. The first argument names the part to run (queries,
// denials, transactions, batches); every further "key=value" is one more connection property (prepareThreshold,
// binaryTransferEnable). Connection settings come from the PG* environment variables.
// PROBE_ID_BASE is the first orders id this run may insert (the test picks a free range).
// One line per observation, "key: value"; the C# test (JdbcClientTests) asserts them.
import java.sql.BatchUpdateException;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.Arrays;
import java.util.Properties;
import org.postgresql.PGResultSetMetaData;
import org.postgresql.util.PSQLException;

public class JdbcProbe {
    static final String CUSTOMER = "SELECT id, name, email, phone, ssn, card_number FROM customers WHERE id = ?";
    // Split literal, so this query's own text never matches when it is server-prepared too.
    static final String PREPARED = "SELECT count(*) FROM pg_prepared_statements WHERE strpos(statement, 'card_number' || ' FROM customers') > 0";
    static final String INSERT = "INSERT INTO orders (id, customer_id, total, created) VALUES (?, 1, 10.00, now())";

    static void out(String key, Object value) {
        System.out.println(key + ": " + value);
    }

    static String error(SQLException e) {
        String message = e instanceof PSQLException p && p.getServerErrorMessage() != null
            ? p.getServerErrorMessage().getMessage() : e.getMessage();
        return e.getClass().getSimpleName() + " " + e.getSQLState() + " " + message;
    }

    static long scalar(Connection c, String sql) throws SQLException {
        try (Statement s = c.createStatement(); ResultSet rs = s.executeQuery(sql)) {
            rs.next();
            return rs.getLong(1);
        }
    }

    static void customer(PreparedStatement ps, int n) throws SQLException {
        ps.setInt(1, (n - 1) % 4 + 1);
        try (ResultSet rs = ps.executeQuery()) {
            PGResultSetMetaData meta = rs.getMetaData().unwrap(PGResultSetMetaData.class);
            StringBuilder formats = new StringBuilder();
            for (int i = 1; i <= rs.getMetaData().getColumnCount(); i++) {
                formats.append(i > 1 ? "," : "").append(meta.getFormat(i));
            }
            while (rs.next()) {
                out("row " + n, rs.getInt(1) + "|" + rs.getString(2) + "|" + rs.getString(3) + "|" + rs.getString(4) + "|" + rs.getString(5) + "|" + rs.getString(6));
            }
            out("formats " + n, formats);
        }
    }

    public static void main(String[] args) throws Exception {
        Properties props = new Properties();
        props.setProperty("user", System.getenv("PGUSER"));
        props.setProperty("password", System.getenv("PGPASSWORD"));
        props.setProperty("sslmode", "require");
        for (String arg : Arrays.copyOfRange(args, 1, args.length)) {
            String[] kv = arg.split("=", 2);
            props.setProperty(kv[0], kv[1]);
        }
        int base = Integer.parseInt(System.getenv("PROBE_ID_BASE"));
        String url = "jdbc:postgresql://" + System.getenv("PGHOST") + ":" + System.getenv("PGPORT") + "/" + System.getenv("PGDATABASE");
        try (Connection c = DriverManager.getConnection(url, props);
             PreparedStatement ps = c.prepareStatement(CUSTOMER)) {
            out("driver", c.getMetaData().getDriverVersion());
            switch (args[0]) {
                case "queries" -> queries(c, ps);
                case "denials" -> denials(c, ps);
                case "transactions" -> transactions(c, base);
                case "batches" -> batches(c, base);
                default -> throw new IllegalArgumentException(args[0]);
            }
        }
    }

    static void queries(Connection c, PreparedStatement ps) throws SQLException {
        // 8 executions: past the default prepareThreshold of 5, so the last ones run a named statement.
        for (int n = 1; n <= 8; n++) {
            customer(ps, n);
        }
        out("prepared", scalar(c, PREPARED));
        // What ORMs ask first: the driver's own catalog queries.
        StringBuilder columns = new StringBuilder();
        try (ResultSet rs = c.getMetaData().getColumns(null, "public", "customers", null)) {
            while (rs.next()) {
                columns.append(columns.length() > 0 ? "," : "").append(rs.getString("COLUMN_NAME"));
            }
        }
        out("metadata columns", columns);
    }

    static void denials(Connection c, PreparedStatement ps) throws SQLException {
        for (int n = 1; n <= 6; n++) {
            customer(ps, n);
        }
        try (Statement s = c.createStatement()) {
            s.execute("DROP TABLE customers");
            out("denied ddl", "no error");
        } catch (SQLException e) {
            out("denied ddl", error(e));
        }
        try (PreparedStatement files = c.prepareStatement("SELECT pg_read_file(?)")) {
            for (int n = 1; n <= 2; n++) {
                files.setString(1, "/etc/passwd");
                try (ResultSet rs = files.executeQuery()) {
                    out("denied files " + n, "no error");
                } catch (SQLException e) {
                    out("denied files " + n, error(e));
                }
            }
        }
        out("after denied", scalar(c, "SELECT 41 + 1"));
        // The statement prepared before the denials still runs, still masked.
        customer(ps, 7);
    }

    static void transactions(Connection c, int id) throws SQLException {
        c.setAutoCommit(false);
        try (PreparedStatement insert = c.prepareStatement(INSERT);
             PreparedStatement update = c.prepareStatement("UPDATE orders SET total = total + 1 WHERE id = ?")) {
            insert.setInt(1, id);
            insert.executeUpdate();
            update.setInt(1, id);
            out("tx updated", update.executeUpdate());
            c.rollback();
            out("tx after rollback", scalar(c, "SELECT count(*) FROM orders WHERE id = " + id));

            insert.executeUpdate();
            update.executeUpdate();
            c.commit();
            out("tx after commit", scalar(c, "SELECT total * 100 FROM orders WHERE id = " + id));

            // In a transaction a fetch size makes pgjdbc read the portal two rows per Execute.
            try (PreparedStatement cursor = c.prepareStatement("SELECT id, email, ssn FROM customers WHERE id <= ? ORDER BY id")) {
                cursor.setFetchSize(2);
                cursor.setInt(1, 5);
                try (ResultSet rs = cursor.executeQuery()) {
                    while (rs.next()) {
                        out("tx fetched " + rs.getInt(1), rs.getString(2) + "|" + rs.getString(3));
                    }
                }
            }

            // A denial inside a transaction aborts it, as a server error would.
            try (Statement s = c.createStatement()) {
                s.execute("DROP TABLE orders");
            } catch (SQLException e) {
                out("tx denied", error(e));
            }
            try {
                scalar(c, "SELECT 1");
                out("tx aborted", "no error");
            } catch (SQLException e) {
                out("tx aborted", e.getSQLState());
            }
            c.rollback();
            try (Statement s = c.createStatement()) {
                out("tx cleanup", s.executeUpdate("DELETE FROM orders WHERE id = " + id));
            }
            c.commit();
        } finally {
            c.setAutoCommit(true);
        }
    }

    static void batches(Connection c, int first) throws SQLException {
        try (PreparedStatement insert = c.prepareStatement(INSERT)) {
            for (int i = 0; i < 7; i++) {
                insert.setInt(1, first + i);
                insert.addBatch();
            }
            out("batch", Arrays.toString(insert.executeBatch()));
        }
        String range = " FROM orders WHERE id BETWEEN " + first + " AND " + (first + 19);
        out("batch rows", scalar(c, "SELECT count(*)" + range));

        // An allowed insert, then a denied statement (or one the server rejects, for comparison), in one batch.
        mixedBatch(c, "mixed batch denied", first + 10, "DROP TABLE orders", range);
        mixedBatch(c, "mixed batch failing", first + 11, "INSERT INTO orders (id, customer_id, total, created) VALUES (1 / 0, 1, 1, now())", range);
        try (Statement s = c.createStatement()) {
            out("batch cleanup", s.executeUpdate("DELETE" + range));
        }
    }

    static void mixedBatch(Connection c, String label, int id, String second, String range) throws SQLException {
        try (Statement s = c.createStatement()) {
            s.addBatch("INSERT INTO orders (id, customer_id, total, created) VALUES (" + id + ", 1, 1, now())");
            s.addBatch(second);
            s.executeBatch();
            out(label, "no error");
        } catch (BatchUpdateException e) {
            SQLException cause = e.getNextException();
            out(label, e.getClass().getSimpleName() + " " + (cause == null ? e.getMessage() : error(cause)));
        }
        out(label + " rows", scalar(c, "SELECT count(*)" + range));
    }
}
