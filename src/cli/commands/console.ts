/**
 * A VM's operations from the CLI:
 *
 *   stratus console NAME               attach to its serial console through the API (WebSocket to
 *                                      the agent of its node); the local terminal is raw, Ctrl-]
 *                                      detaches (the VM keeps running)
 *   stratus instance stop|start NAME   Running → Off (ACPI shutdown first, hard stop after its grace
 *                                      period; it keeps its node, address and disks) → running again
 *   stratus instance reboot NAME       ACPI reset of a running VM
 */
import type { Command } from 'commander';
import type { Readable, Writable } from 'node:stream';
import type WebSocket from 'ws';
import { Cli } from '../context.js';
import { printLine } from '../output.js';
import { instancePower, openConsole } from '../../client/routes.js';
import type { Instance } from '../../model/kinds/instance.js';

/** Ctrl-] (group separator), as telnet and virsh console detach. */
export const DETACH_BYTE = 0x1d;

export function registerConsole(program: Command): void {
  program
    .command('console <instance>')
    .description('Attach to the serial console of a VM (detach with Ctrl-])')
    .action(async (name: string, _o: unknown, cmd: Command) => {
      const cli = Cli.of(cmd);
      const ws = await openConsole(cli.client, cli.project, name);
      process.stderr.write(`Connected to the serial console of ${name}. Detach with Ctrl-] (the VM keeps running).\n`);
      const raw = process.stdin.isTTY === true;
      if (raw) process.stdin.setRawMode(true);
      try {
        const how = await attach(ws, process.stdin, process.stdout);
        process.stderr.write(`${raw ? '\r\n' : '\n'}${how}\n`);
      } finally {
        if (raw) process.stdin.setRawMode(false);
        process.stdin.pause();
      }
    });

  const instance = program.command('instance').description('Power actions on an instance: stop, start, reboot.');
  const power = (action: 'stop' | 'start' | 'reboot', description: string, done: (i: Instance) => string) => {
    instance
      .command(`${action} <name>`)
      .description(description)
      .action(async (name: string, _o: unknown, cmd: Command) => {
        const cli = Cli.of(cmd);
        printLine(done(await instancePower<Instance>(cli.client, cli.project, name, action)));
      });
  };
  power('stop', 'Stop an instance and keep it on its node with its disks (a VM: ACPI shutdown, then a hard stop after its grace period)', (i) => `instance/${i.metadata.name} stopping (${i.status?.message ?? 'Off'})`);
  power('start', 'Run an instance stopped with "instance stop" again, on the same node', (i) => `instance/${i.metadata.name} starting on node ${i.status?.node ?? '?'}`);
  power('reboot', 'Reboot a running VM (ACPI reset)', (i) => `instance/${i.metadata.name} rebooted`);
}

/**
 * Relays stdin to the console and its output to stdout until Ctrl-] (or stdin's end: nothing more
 * to type) detaches, or the stream ends. Resolves with a line saying which.
 */
export async function attach(ws: WebSocket, input: Readable, output: Writable): Promise<string> {
  const { onMessage } = await import('../../client/streams.js');
  return new Promise((resolve) => {
    let detached = false;
    const detach = () => {
      detached = true;
      input.off('data', onInput);
      ws.close(1000);
    };
    const onInput = (d: Buffer) => {
      const at = d.indexOf(DETACH_BYTE);
      const before = at === -1 ? d : d.subarray(0, at);
      if (before.length > 0 && ws.readyState === ws.OPEN) ws.send(before);
      if (at !== -1) detach();
    };
    input.on('data', onInput);
    input.once('end', () => !detached && detach());
    onMessage(ws, (data, isBinary) => {
      if (isBinary) output.write(data as Buffer);
    });
    ws.on('error', () => undefined); // 'close' follows and says how it ended
    ws.once('close', (code: number, reason: Buffer) => {
      input.off('data', onInput);
      if (detached) return resolve('Detached.');
      const why = reason.toString('utf8') || (code === 1006 ? 'the connection was lost' : code === 1000 ? 'the console ended (the VM stopped?)' : `closed with code ${code}`);
      resolve(`Console closed: ${why}`);
    });
    input.resume();
  });
}
