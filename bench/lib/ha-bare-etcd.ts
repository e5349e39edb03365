/**
 * The etcd peer of the HA benchmark (bench/ha.ts): a bare Fastify route that does the same JSON
 * parse and schema validation as the API benchmark's bare route (bench/lib/bare-server.ts) and
 * then writes the body into etcd the way the etcd store creates an object (etcdCreate: one Txn,
 * compare create_revision = 0) through the same etcd3 client and options (etcdClientFor,
 * src/store/etcd-config.ts) — and nothing else (no auth, audit, admission, watch fan-out or
 * controllers). A key that exists is a 409.
 *
 * Run: node --import tsx bench/lib/ha-bare-etcd.ts <etcd://h:p,h:p,...> <key prefix>
 */
import Fastify from 'fastify';
import { instanceKind } from '../../src/model/kinds/index.js';
import { compileChecker } from '../../src/model/validate.js';
import { etcdClientFor, etcdCreate } from './ha-api.js';

const [spec, prefix = '/bench-bare'] = process.argv.slice(2);
const etcd = etcdClientFor(spec!);
const check = compileChecker(instanceKind.objectSchema);

const app = Fastify({ logger: false });
app.post('/v1/projects/:project/instances', async (req, reply) => {
  const problems = check(req.body);
  if (problems.length > 0) return reply.code(400).send({ problems });
  const body = req.body as { metadata: { name: string } };
  const created = await etcdCreate(etcd, `${prefix}/${(req.params as { project: string }).project}/${body.metadata.name}`, JSON.stringify(body));
  return reply.code(created ? 201 : 409).send(body);
});
await app.listen({ port: 0, host: '127.0.0.1' });
const addr = app.server.address();
process.stdout.write(`ready at http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}\n`);
