// node-postgres in pipeline mode through Gatehouse: three extended-protocol queries on the wire at once, the middle
// one held for review (GH_MARKER names it). Prints one JSON line per query as it settles, with the time it did.
import pg from 'pg';

const marker = process.env.GH_MARKER;
const client = new pg.Client({ ssl: { rejectUnauthorized: false }, pipeline: true });
await client.connect();
const settle = (name, promise) => promise.then(
  (result) => console.log(JSON.stringify({ name, at: Date.now(), rows: result.rows })),
  (error) => console.log(JSON.stringify({ name, at: Date.now(), code: error.code, message: error.message })));
try {
  await Promise.all([
    settle('before', client.query('SELECT $1::int AS n', [1])),
    settle('held', client.query(`INSERT INTO payments (card_number) VALUES ($1) RETURNING card_number /* ${marker} */`, [`card-${marker}`])),
    settle('after', client.query('SELECT $1::text AS t', ['after'])),
  ]);
  await settle('later', client.query('SELECT $1::int AS n', [2]));
} finally {
  await client.end();
}
