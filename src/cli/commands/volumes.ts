/**
 * Volume operations on the volume's node (api/routes/volumes.ts). Creating, listing, describing
 * and deleting volumes and snapshots are the generic verbs (`stratus apply -f`, `get volumes`,
 * `get snapshots`, `describe volume`, `delete snapshot`).
 *
 *   stratus volume snapshot data --name before-upgrade
 *   stratus volume restore data --snapshot before-upgrade     (no instance may use it)
 *   stratus volume clone data --name copy [--snapshot before-upgrade]
 *   stratus volume resize data 20Gi                           (grow only)
 */
import type { Command } from 'commander';
import { Cli, checkName } from '../context.js';
import { printLine } from '../output.js';
import { volumeOp, type VolumeOp } from '../../client/volumes.js';

export function registerVolumes(program: Command): void {
  const volume = program.command('volume').description('Volume operations on the volume\'s node: snapshot, restore, clone, resize (create, get and delete them as any object).');
  const run = async (cmd: Command, name: string, o: VolumeOp) => {
    const cli = Cli.of(cmd);
    printLine((await volumeOp(cli.client, cli.project, checkName('volume', name), o)).message);
  };
  volume.command('snapshot <volume>')
    .description('Take a snapshot of a volume (a copy on its node, with its filesystem frozen meanwhile); it counts in the storage quota.')
    .requiredOption('--name <snapshot>', 'the snapshot\'s name')
    .action((name: string, o: { name: string }, cmd: Command) => run(cmd, name, { op: 'snapshots', body: { name: checkName('snapshot', o.name) } }));
  volume.command('restore <volume>')
    .description('Put a snapshot\'s data back into its volume. No instance may be using the volume.')
    .requiredOption('--snapshot <snapshot>', 'a snapshot of the volume')
    .action((name: string, o: { snapshot: string }, cmd: Command) => run(cmd, name, { op: 'restore', body: { snapshot: checkName('snapshot', o.snapshot) } }));
  volume.command('clone <volume>')
    .description('A new volume on the same node with the data of a volume, or of one of its snapshots.')
    .requiredOption('--name <volume>', 'the new volume\'s name')
    .option('--snapshot <snapshot>', 'clone this snapshot instead of the volume\'s current data')
    .action((name: string, o: { name: string; snapshot?: string }, cmd: Command) => run(cmd, name, { op: 'clone', body: { name: checkName('volume', o.name), ...(o.snapshot ? { snapshot: checkName('snapshot', o.snapshot) } : {}) } }));
  volume.command('resize <volume> <size>')
    .description('Grow a volume (e.g. 20Gi); a mounted filesystem grows online where the node allows, else when next attached.')
    .action((name: string, size: string, _o: unknown, cmd: Command) => run(cmd, name, { op: 'resize', body: { size } }));
}
