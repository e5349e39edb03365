/** Attachments a driver cannot use are refused before anything starts, naming the attachment. */
import { describe, expect, it } from 'vitest';
import { refuseUnsupported, taskDevices } from './attachments.js';
import { ProcessDriver } from './process.js';
import { ContainerDriver } from './container.js';
import { DriverError } from './driver.js';
import { makeTask } from './testing.js';

const tap = { name: 'stt0', mac: '02:00:00:00:00:01' };
const disk = { path: '/var/lib/stratus/disks/root.qcow2', format: 'qcow2' as const, readOnly: false };

describe('attachments a driver cannot use', () => {
  it('refuses a tap device or a disk unless the driver takes it', () => {
    const task = { ...makeTask('/tmp/x', ['true']), tap };
    expect(() => refuseUnsupported(task, 'process')).toThrow(/the process driver cannot use a tap device attachment/);
    expect(() => refuseUnsupported({ ...makeTask('/tmp/x', ['true']), disks: [disk] }, 'container')).toThrow(/cannot use a disk attachment/);
    expect(() => refuseUnsupported({ ...task, disks: [disk] }, 'vm', ['tap', 'disks'])).not.toThrow();
    expect(() => refuseUnsupported({ ...makeTask('/tmp/x', ['true']), disks: [] }, 'process')).not.toThrow();
  });

  it('the process and container drivers refuse them at start, before touching the node', async () => {
    for (const driver of [new ProcessDriver({ cgroupParent: 'stratus-attach-test' }), new ContainerDriver({ images: undefined as never, cgroupParent: 'stratus-attach-test' })]) {
      const err = await driver.start({ ...makeTask('/tmp/stratus-attach-test', ['true'], { spec: { image: 'busybox' } }), tap }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(DriverError);
      expect((err as DriverError).code).toBe('INVALID_TASK');
      expect((err as Error).message).toMatch(/tap device/);
    }
  });
});

describe('taskDevices', () => {
  it('makes a host device at its own path, or at the path given (a block volume at /dev/data), and refuses a path outside /dev', () => {
    const task = (devices: NonNullable<Parameters<typeof taskDevices>[0]['devices']>) => ({ ...makeTask('/tmp/x', undefined), devices });
    const [same, moved] = taskDevices(task(['/dev/null', { source: '/dev/null', path: '/dev/data' }]));
    expect(same).toMatchObject({ path: '/dev/null', type: 'c', major: 1, minor: 3 });
    expect(moved).toMatchObject({ path: '/dev/data', type: 'c', major: 1, minor: 3 });
    for (const path of ['/data', '/dev/../etc/x', '/dev/']) {
      expect(() => taskDevices(task([{ source: '/dev/null', path }]))).toThrow(/must be an absolute, normalized path under \/dev\//);
    }
  });
});
