// node-postgres through Gatehouse: connection settings come from the PG* environment variables.
import pg from 'pg';

const client = new pg.Client({ ssl: { rejectUnauthorized: false } });
await client.connect();
try {
  const all = await client.query('SELECT id FROM customers');
  console.log(`rows: ${all.rowCount}`);
  const one = await client.query('SELECT name FROM customers WHERE id = $1', [5]);
  console.log(`param: ${one.rows[0].name}`);
  try {
    await client.query('DROP TABLE customers');
    console.log('denied: no');
  } catch (error) {
    console.log(`denied: ${error.code} ${error.message}`);
  }
  try {
    await client.query('DELETE FROM payments WHERE id = $1', [1]);
    console.log('param denied: no');
  } catch (error) {
    console.log(`param denied: ${error.code} ${error.message}`);
  }
  const after = await client.query('SELECT 1 AS one');
  console.log(`after denial: ${after.rows[0].one}`);
} finally {
  await client.end();
}
