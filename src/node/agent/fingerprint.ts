/**
 * What this machine offers: CPU, memory, disk, GPUs, and who it is. Declared values (for tests
 * and for machines shared with other work) override what is detected.
 */
import { execFile } from 'node:child_process';
import { statfs } from 'node:fs/promises';
import { arch, cpus, hostname, release, totalmem, type } from 'node:os';
import { promisify } from 'node:util';
import type { NodeResources } from '../../model/kinds/node.js';
import { VERSION } from '../../version.js';
import { findTool } from './gpu-tools.js';

const run = promisify(execFile);

export interface Gpu {
  index: number;
  model: string;
  memory?: number;
}

/** "V100M32:2,T4:1" → four devices, indexed in order. */
export function parseGpuFlag(text: string): Gpu[] {
  const out: Gpu[] = [];
  for (const part of text.split(',').map((p) => p.trim()).filter(Boolean)) {
    const m = /^([A-Za-z0-9][A-Za-z0-9._-]{0,62}):(\d{1,2})$/.exec(part);
    if (!m) throw new Error(`--gpus "${part}": use MODEL:COUNT, e.g. V100M32:2`);
    for (let i = 0; i < Number(m[2]); i++) out.push({ index: out.length, model: m[1]! });
  }
  return out;
}

/** GPUs reported by nvidia-smi (on PATH, else where NVIDIA installs it), or none when it is absent or fails. */
export async function detectGpus(): Promise<Gpu[]> {
  try {
    const { stdout } = await run(findTool('nvidia-smi') ?? 'nvidia-smi', ['--query-gpu=index,name,memory.total', '--format=csv,noheader,nounits'], { timeout: 5000 });
    return stdout.trim().split('\n').filter(Boolean).map((line) => {
      const [index, name, mem] = line.split(',').map((s) => s.trim());
      return { index: Number(index), model: name!.replace(/^NVIDIA\s+/i, '').replace(/[^A-Za-z0-9._-]+/g, ''), memory: Number(mem) };
    });
  } catch {
    return [];
  }
}

export interface MachineOptions {
  dataDir: string;
  /** Declared capacity, overriding detection (cpu millicores, memory/disk MiB). */
  capacity?: Partial<Pick<NodeResources, 'cpu' | 'memory' | 'disk'>>;
  /** Kept back for the system and the agent itself. */
  reserved?: Partial<Pick<NodeResources, 'cpu' | 'memory'>>;
  gpus?: Gpu[];
  maxInstances?: number;
}

export async function machineResources(opts: MachineOptions): Promise<{ capacity: NodeResources; allocatable: NodeResources }> {
  const fs = await statfs(opts.dataDir).catch(() => undefined);
  const capacity: NodeResources = {
    cpu: opts.capacity?.cpu ?? cpus().length * 1000,
    memory: opts.capacity?.memory ?? Math.floor(totalmem() / 1048576),
    disk: opts.capacity?.disk ?? (fs ? Math.floor((fs.blocks * fs.bsize) / 1048576) : 0),
    gpus: opts.gpus ?? (await detectGpus()),
    ...(opts.maxInstances !== undefined ? { instances: opts.maxInstances } : {}),
  };
  const reserved = { cpu: opts.reserved?.cpu ?? 0, memory: opts.reserved?.memory ?? 0 };
  const allocatable: NodeResources = {
    ...capacity,
    cpu: Math.max(0, capacity.cpu - reserved.cpu),
    memory: Math.max(0, capacity.memory - reserved.memory),
  };
  return { capacity, allocatable };
}

export function machineInfo() {
  return { hostname: hostname(), os: type(), kernel: release(), arch: arch(), agentVersion: VERSION };
}

/** A DNS-label node name from the hostname. */
export function defaultNodeName(): string {
  const n = hostname().toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 63);
  return n || 'node';
}
