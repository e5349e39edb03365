import { describe, expect, it } from 'vitest';
import { nodeKind, vmAccelerator, type Node } from './node.js';

const node = (drivers: NonNullable<Node['status']>['drivers']): Node => ({
  kind: 'node',
  metadata: { name: 'n1', uid: 'u', revision: 1, generation: 1, createdAt: '2026-01-01T00:00:00Z' },
  spec: {},
  status: { phase: 'Ready', drivers },
} as Node);

describe('describe node: the VM accelerator', () => {
  it('names KVM or software emulation and the QEMU version from the vm driver\'s attributes', () => {
    expect(vmAccelerator([{ name: 'vm', attributes: { 'vm.accel': 'kvm', 'vm.qemu': '7.2.0' } }])).toBe('kvm (QEMU 7.2.0)');
    expect(vmAccelerator([{ name: 'vm', attributes: { 'vm.accel': 'tcg' } }])).toBe('tcg (software emulation)');
    expect(vmAccelerator([{ name: 'process', attributes: { 'vm.accel': 'kvm' } }])).toBeUndefined();
  });

  it('shows it beside the drivers, with the driver\'s notes on why KVM is not used', () => {
    const lines = nodeKind.describe!(node([{ name: 'vm', healthy: true, message: 'KVM not used: /dev/kvm does not run a probe guest', attributes: { 'vm.accel': 'tcg', 'vm.qemu': '7.2.0' } }]));
    expect(lines).toContainEqual({ field: 'VM accel', value: 'tcg (software emulation, QEMU 7.2.0)' });
    expect(lines).toContainEqual({ text: '  vm: KVM not used: /dev/kvm does not run a probe guest' });
  });
});
