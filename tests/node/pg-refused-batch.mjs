// node-postgres in pipeline mode with named statements, one of which the server (or Gatehouse) refuses to run: the
// same three queries twice (the second time node sends only Bind/Describe/Execute: they are prepared). Prints one
// JSON line: each query's first row or error code, per round. GH_SSL=0 connects without TLS.
import pg from 'pg';

const client = new pg.Client({ ssl: process.env.GH_SSL === '0' ? false : { rejectUnauthorized: false }, pipeline: true });
await client.connect();
const run = (name, text) => client.query({ name, text }).then(
  (result) => `${name}: ${result.rows.length ? JSON.stringify(result.rows[0]) : result.command}`,
  (error) => `${name}: ${error.code}`);
const round = () => Promise.all([run('one', 'SELECT 1 AS n'), run('drop', 'DROP TABLE orders'), run('three', 'SELECT 3 AS n')]);
try {
  const first = await round();
  const again = await round();
  console.log(JSON.stringify({ first, again }));
} finally {
  await client.end();
}
