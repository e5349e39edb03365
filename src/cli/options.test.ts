import { describe, it, expect } from 'vitest';
import type { Command } from 'commander';
import { buildProgram } from './main.js';

function all(cmd: Command): Command[] {
  return [cmd, ...cmd.commands.flatMap(all)];
}

describe('stratus command options', () => {
  // commander does not pass default values through an option's parser: a default must already be
  // what the parser would return, or the action gets a string where it expects a number.
  it('every parsed option defaults to what its parser would make of its documented default', () => {
    const checked: string[] = [];
    for (const cmd of all(buildProgram())) {
      for (const o of cmd.options) {
        if (!o.parseArg || o.defaultValue === undefined) continue;
        const text = o.defaultValueDescription ?? String(o.defaultValue);
        expect(o.parseArg(text, undefined), `${cmd.name()} ${o.long}`).toEqual(o.defaultValue);
        checked.push(`${cmd.name()} ${o.long}`);
      }
    }
    expect(checked).toEqual(expect.arrayContaining(['server --node-timeout', 'server --event-ttl', 'server --port']));
  });

  it('the server times nodes out after 10 s and keeps events an hour unless told otherwise', () => {
    const server = buildProgram().commands.find((c) => c.name() === 'server')!;
    expect(server.opts()).toMatchObject({ nodeTimeout: 10_000, eventTtl: 3_600_000 });
    server.parseOptions(['--node-timeout', '4s', '--event-ttl', '5m']);
    expect(server.opts()).toMatchObject({ nodeTimeout: 4_000, eventTtl: 300_000 });
  });
});
