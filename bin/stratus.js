#!/usr/bin/env node
// The stratus command: server, agent and client in one binary.
import { existsSync } from 'node:fs';

const entry = new URL('../dist/cli/main.js', import.meta.url);
if (!existsSync(entry)) {
  process.stderr.write('error: stratus is not built yet; run `npm run build` (npm ci does it for you)\n');
  process.exit(1);
}
const { main } = await import(entry.href);
const code = await main(process.argv);
// Exit even if watchers of workloads (which outlive an agent on purpose) still hold the loop.
process.exit(code);
