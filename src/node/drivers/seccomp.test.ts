import { describe, expect, it } from 'vitest';
import { allowsUnconditionally, CLONE_NAMESPACE_FLAGS, defaultSeccompProfile, seccompArchitectures } from './seccomp.js';

describe('default seccomp profile', () => {
  const sandbox = defaultSeccompProfile([], { arch: 'x64', compat: false });
  const container = defaultSeccompProfile(['CAP_SYS_CHROOT', 'CAP_KILL'], { arch: 'x64' });

  it('refuses by default with EPERM', () => {
    expect(sandbox).toMatchObject({ defaultAction: 'SCMP_ACT_ERRNO', defaultErrnoRet: 1 });
  });

  it.each([
    ['read'], ['openat'], ['execve'], ['mmap'], ['futex'], ['socket'], ['connect'], ['epoll_wait'], ['getrandom'], ['setuid'], ['kill'], ['prctl'], ['seccomp'],
  ])('allows %s', (name) => expect(allowsUnconditionally(sandbox, name)).toBe(true));

  it.each([
    ['unshare'], ['setns'], ['mount'], ['umount2'], ['pivot_root'], ['bpf'], ['perf_event_open'], ['userfaultfd'], ['keyctl'], ['add_key'],
    ['io_uring_setup'], ['kexec_load'], ['init_module'], ['reboot'], ['swapon'], ['clock_settime'], ['process_vm_readv'], ['open_by_handle_at'],
    ['fsopen'], ['open_tree'], ['move_mount'], ['syslog'], ['acct'], ['chroot'], ['clone3'],
  ])('does not allow %s', (name) => expect(allowsUnconditionally(sandbox, name)).toBe(false));

  it('allows clone only without namespace flags, and makes clone3 answer ENOSYS so libc falls back to it', () => {
    const clone = sandbox.syscalls.find((r) => r.names.includes('clone'))!;
    // CLONE_NEWNS 0x20000 | NEWCGROUP 0x2000000 | NEWUTS 0x4000000 | NEWIPC 0x8000000 | NEWUSER 0x10000000 | NEWPID 0x20000000 | NEWNET 0x40000000 = 0x7e020000
    expect(CLONE_NAMESPACE_FLAGS).toBe(0x7e020000);
    expect(clone.args).toEqual([{ index: 0, value: 0x7e020000, valueTwo: 0, op: 'SCMP_CMP_MASKED_EQ' }]);
    expect(sandbox.syscalls.find((r) => r.names.includes('clone3'))).toMatchObject({ action: 'SCMP_ACT_ERRNO', errnoRet: 38 });
  });

  it('adds what a granted capability needs (chroot with CAP_SYS_CHROOT), nothing for the sandbox', () => {
    expect(allowsUnconditionally(container, 'chroot')).toBe(true);
    expect(allowsUnconditionally(sandbox, 'chroot')).toBe(false);
  });

  it('covers the compat ABIs for containers only', () => {
    expect(container.architectures).toEqual(['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32']);
    expect(sandbox.architectures).toEqual(['SCMP_ARCH_X86_64']);
    expect(seccompArchitectures('arm64')).toEqual(['SCMP_ARCH_AARCH64', 'SCMP_ARCH_ARM']);
  });

  it('allows personality(2) only for execution domains, not to turn off address randomisation', () => {
    const rules = sandbox.syscalls.filter((r) => r.names.includes('personality'));
    const values = rules.map((r) => r.args![0]!.value);
    expect(values).toEqual([0, 8, 0x20000, 0x20008, 0xffffffff]);
    expect(values).not.toContain(0x0040000); // ADDR_NO_RANDOMIZE
  });
});
