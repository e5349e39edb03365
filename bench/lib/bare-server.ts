/**
 * The peer for the API benchmark: a bare Fastify route that does the same JSON parse, the same
 * schema validation (the instance schema, compiled the same way) and a SQLite write with the same
 * durability settings — and nothing else (no auth, audit, revisions, watch fan-out or admission).
 * Run: node --import tsx bench/lib/bare-server.ts <db-path> <sync>
 */
import Fastify from 'fastify';
import Database from 'better-sqlite3';
import { instanceKind } from '../../src/model/kinds/index.js';
import { compileChecker } from '../../src/model/validate.js';

const [dbPath, sync = 'full'] = process.argv.slice(2);
const db = new Database(dbPath!);
db.pragma('journal_mode = WAL');
db.pragma(`synchronous = ${sync === 'full' ? 'FULL' : 'NORMAL'}`);
db.exec('CREATE TABLE IF NOT EXISTS objects (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID');
const insert = db.prepare('INSERT INTO objects (key, value) VALUES (?, ?)');
const get = db.prepare<[string], { value: string }>('SELECT value FROM objects WHERE key = ?');
const list = db.prepare<[string, string, number], { value: string }>('SELECT value FROM objects WHERE key > ? AND key < ? ORDER BY key LIMIT ?');
const check = compileChecker(instanceKind.objectSchema);

const app = Fastify({ logger: false });
app.post('/v1/projects/:project/instances', async (req, reply) => {
  const problems = check(req.body);
  if (problems.length > 0) return reply.code(400).send({ problems });
  const body = req.body as { metadata: { name: string } };
  const key = `/${(req.params as { project: string }).project}/${body.metadata.name}`;
  insert.run(key, JSON.stringify(body));
  return reply.code(201).send(body);
});
app.get('/v1/projects/:project/instances/:name', async (req, reply) => {
  const p = req.params as { project: string; name: string };
  const row = get.get(`/${p.project}/${p.name}`);
  if (!row) return reply.code(404).send({});
  return JSON.parse(row.value) as unknown;
});
app.get('/v1/projects/:project/instances', async (req) => {
  const p = req.params as { project: string };
  const limit = Number((req.query as { limit?: string }).limit ?? 100);
  return { items: list.all(`/${p.project}/`, `/${p.project}0`, limit).map((r) => JSON.parse(r.value) as unknown) };
});
await app.listen({ port: 0, host: '127.0.0.1' });
const addr = app.server.address();
process.stdout.write(`ready at http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}\n`);
