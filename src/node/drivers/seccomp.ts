/**
 * The default seccomp profile of sandboxed processes and containers, in the OCI runtime's JSON
 * form (runc compiles it with libseccomp). Modelled on the profile Docker and containerd apply by
 * default: everything an ordinary program needs is allowed, and what only serves to reach the
 * kernel's less-trodden paths or to leave the sandbox is refused with EPERM:
 *
 *   namespaces      unshare, setns, and clone with any CLONE_NEW* flag (clone3 answers ENOSYS so
 *                   libc falls back to clone, whose flags seccomp can see)
 *   mounts          mount, umount2, pivot_root, the new mount API (fsopen, open_tree, ...)
 *   kernel objects  bpf, perf_event_open, userfaultfd, keyctl/add_key/request_key, io_uring
 *   host state      reboot, kexec, modules, swap, clocks, quotas, acct, syslog
 *   other tasks     process_vm_readv/writev, kcmp, open_by_handle_at
 *
 * The sandbox has no capabilities either; seccomp is the second wall, and the one that holds the
 * calls that need none (unshare(CLONE_NEWUSER) above all: `unshare -U` must fail inside).
 */

const EPERM = 1;
const ENOSYS = 38;

/** CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET. */
export const CLONE_NAMESPACE_FLAGS = 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000;

/** Reading and writing files and descriptors. */
const FILES = [
  'read', 'write', 'readv', 'writev', 'pread64', 'pwrite64', 'preadv', 'pwritev', 'preadv2', 'pwritev2',
  'open', 'openat', 'openat2', 'close', 'close_range', 'creat', 'lseek', '_llseek',
  'stat', 'fstat', 'lstat', 'newfstatat', 'fstatat64', 'stat64', 'fstat64', 'lstat64', 'statx',
  'statfs', 'fstatfs', 'statfs64', 'fstatfs64', 'access', 'faccessat', 'faccessat2', 'readlink', 'readlinkat',
  'getdents', 'getdents64', 'mkdir', 'mkdirat', 'rmdir', 'unlink', 'unlinkat', 'rename', 'renameat', 'renameat2',
  'link', 'linkat', 'symlink', 'symlinkat', 'chmod', 'fchmod', 'fchmodat', 'fchmodat2',
  'chown', 'fchown', 'lchown', 'fchownat', 'chown32', 'fchown32', 'lchown32',
  'truncate', 'ftruncate', 'truncate64', 'ftruncate64', 'fallocate', 'fsync', 'fdatasync', 'sync', 'syncfs', 'sync_file_range',
  'dup', 'dup2', 'dup3', 'fcntl', 'fcntl64', 'flock', 'ioctl', 'pipe', 'pipe2',
  'sendfile', 'sendfile64', 'splice', 'tee', 'vmsplice', 'copy_file_range',
  'chdir', 'fchdir', 'getcwd', 'utime', 'utimes', 'futimesat', 'utimensat', 'utimensat_time64',
  'mknod', 'mknodat', 'umask', 'fadvise64', 'fadvise64_64', 'readahead',
  'getxattr', 'lgetxattr', 'fgetxattr', 'setxattr', 'lsetxattr', 'fsetxattr', 'listxattr', 'llistxattr', 'flistxattr',
  'removexattr', 'lremovexattr', 'fremovexattr',
  'inotify_init', 'inotify_init1', 'inotify_add_watch', 'inotify_rm_watch', 'fanotify_mark', 'memfd_create',
  'io_setup', 'io_destroy', 'io_getevents', 'io_pgetevents', 'io_pgetevents_time64', 'io_submit', 'io_cancel',
];

/** Memory. (mbind, set_mempolicy and move_pages stay out, as in Docker's profile without CAP_SYS_NICE.) */
const MEMORY = [
  'brk', 'mmap', 'mmap2', 'munmap', 'mremap', 'mprotect', 'madvise', 'mlock', 'mlock2', 'munlock', 'mlockall', 'munlockall',
  'mincore', 'msync', 'remap_file_pages', 'membarrier', 'pkey_alloc', 'pkey_free', 'pkey_mprotect', 'get_mempolicy', 'map_shadow_stack',
];

/** Processes, threads, identity, scheduling, time and signals. */
const PROCESSES = [
  'exit', 'exit_group', 'fork', 'vfork', 'execve', 'execveat', 'wait4', 'waitid', 'waitpid',
  'kill', 'tkill', 'tgkill', 'getpid', 'getppid', 'gettid', 'getpgid', 'setpgid', 'getpgrp', 'getsid', 'setsid',
  'getuid', 'geteuid', 'getgid', 'getegid', 'getuid32', 'geteuid32', 'getgid32', 'getegid32',
  'setuid', 'setgid', 'setreuid', 'setregid', 'setresuid', 'setresgid', 'getresuid', 'getresgid', 'setfsuid', 'setfsgid',
  'setuid32', 'setgid32', 'setreuid32', 'setregid32', 'setresuid32', 'setresgid32', 'getresuid32', 'getresgid32', 'setfsuid32', 'setfsgid32',
  'getgroups', 'setgroups', 'getgroups32', 'setgroups32', 'capget', 'capset', 'prctl', 'arch_prctl',
  'set_tid_address', 'set_robust_list', 'get_robust_list', 'futex', 'futex_time64', 'futex_waitv', 'rseq',
  'sched_yield', 'sched_getaffinity', 'sched_setaffinity', 'sched_getparam', 'sched_setparam', 'sched_getscheduler', 'sched_setscheduler',
  'sched_get_priority_max', 'sched_get_priority_min', 'sched_rr_get_interval', 'sched_rr_get_interval_time64', 'sched_getattr', 'sched_setattr',
  'getpriority', 'setpriority', 'ioprio_get', 'ioprio_set', 'getrlimit', 'setrlimit', 'prlimit64', 'ugetrlimit', 'getrusage', 'times',
  'uname', 'sysinfo', 'restart_syscall', 'pause', 'nanosleep', 'clock_nanosleep', 'clock_nanosleep_time64',
  'clock_gettime', 'clock_gettime64', 'clock_getres', 'clock_getres_time64', 'gettimeofday', 'time', 'alarm', 'getitimer', 'setitimer',
  'timer_create', 'timer_delete', 'timer_getoverrun', 'timer_gettime', 'timer_gettime64', 'timer_settime', 'timer_settime64',
  'timerfd_create', 'timerfd_gettime', 'timerfd_gettime64', 'timerfd_settime', 'timerfd_settime64',
  'rt_sigaction', 'rt_sigprocmask', 'rt_sigreturn', 'rt_sigsuspend', 'rt_sigpending', 'rt_sigtimedwait', 'rt_sigtimedwait_time64',
  'rt_sigqueueinfo', 'rt_tgsigqueueinfo', 'sigaltstack', 'sigreturn', 'signalfd', 'signalfd4', 'eventfd', 'eventfd2',
  'pidfd_open', 'pidfd_send_signal', 'pidfd_getfd', 'getrandom', 'getcpu', 'ptrace', 'seccomp',
  'get_thread_area', 'set_thread_area', 'landlock_create_ruleset', 'landlock_add_rule', 'landlock_restrict_self',
];

/** System V and POSIX IPC (inside the sandbox's own IPC namespace). */
const IPC = [
  'msgget', 'msgsnd', 'msgrcv', 'msgctl', 'semget', 'semop', 'semtimedop', 'semtimedop_time64', 'semctl',
  'shmget', 'shmat', 'shmdt', 'shmctl', 'ipc',
  'mq_open', 'mq_unlink', 'mq_timedsend', 'mq_timedsend_time64', 'mq_timedreceive', 'mq_timedreceive_time64', 'mq_notify', 'mq_getsetattr',
];

/** Waiting for descriptors, and sockets (inside the instance's network namespace). */
const NETWORK = [
  'select', '_newselect', 'pselect6', 'pselect6_time64', 'poll', 'ppoll', 'ppoll_time64',
  'epoll_create', 'epoll_create1', 'epoll_ctl', 'epoll_ctl_old', 'epoll_wait', 'epoll_wait_old', 'epoll_pwait', 'epoll_pwait2',
  'socket', 'socketpair', 'bind', 'listen', 'accept', 'accept4', 'connect', 'getsockname', 'getpeername',
  'sendto', 'recvfrom', 'sendmsg', 'recvmsg', 'sendmmsg', 'recvmmsg', 'recvmmsg_time64', 'shutdown', 'setsockopt', 'getsockopt', 'socketcall',
];

/** Extra calls a capability makes useful (Docker's profile allows them only together with the capability). */
const BY_CAPABILITY: Record<string, string[]> = {
  CAP_SYS_CHROOT: ['chroot'],
};

/** personality(2) values that only choose an execution domain (Docker allows these four plus the query). */
const PERSONALITIES = [0x0, 0x8, 0x20000, 0x20008, 0xffffffff];

export interface SeccompRule {
  names: string[];
  action: 'SCMP_ACT_ALLOW' | 'SCMP_ACT_ERRNO';
  errnoRet?: number;
  args?: { index: number; value: number; valueTwo?: number; op: 'SCMP_CMP_EQ' | 'SCMP_CMP_MASKED_EQ' }[];
}

export interface SeccompProfile {
  defaultAction: 'SCMP_ACT_ERRNO';
  defaultErrnoRet: number;
  architectures: string[];
  syscalls: SeccompRule[];
}

/**
 * Architectures the filter allows: the native one, and with `compat` its 32-bit ABIs too. Calls of
 * an ABI not listed never reach the kernel (libseccomp's bad-architecture action kills the caller):
 * the process sandbox runs the node's own, native binaries and needs no compat ABI; containers
 * may bring 32-bit images, as with Docker.
 */
export function seccompArchitectures(arch: string = process.arch, compat = true): string[] {
  if (arch === 'x64') return ['SCMP_ARCH_X86_64', ...(compat ? ['SCMP_ARCH_X86', 'SCMP_ARCH_X32'] : [])];
  if (arch === 'arm64') return ['SCMP_ARCH_AARCH64', ...(compat ? ['SCMP_ARCH_ARM'] : [])];
  return [];
}

/**
 * The profile for a workload with these capabilities (process sandbox: none; containers: Docker's
 * default set). clone's flags are its first argument on x86-64, arm64 and their compat ABIs.
 */
export function defaultSeccompProfile(capabilities: readonly string[] = [], opts: { arch?: string; compat?: boolean } = {}): SeccompProfile {
  const extra = capabilities.flatMap((c) => BY_CAPABILITY[c] ?? []);
  return {
    defaultAction: 'SCMP_ACT_ERRNO',
    defaultErrnoRet: EPERM,
    architectures: seccompArchitectures(opts.arch, opts.compat),
    syscalls: [
      { names: [...FILES, ...MEMORY, ...PROCESSES, ...IPC, ...NETWORK, ...extra], action: 'SCMP_ACT_ALLOW' },
      { names: ['clone'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: CLONE_NAMESPACE_FLAGS, valueTwo: 0, op: 'SCMP_CMP_MASKED_EQ' }] },
      { names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: ENOSYS },
      ...PERSONALITIES.map((p) => ({ names: ['personality'], action: 'SCMP_ACT_ALLOW' as const, args: [{ index: 0, value: p, op: 'SCMP_CMP_EQ' as const }] })),
    ],
  };
}

/** Whether a call is allowed unconditionally by the profile (for tests and `describe node`). */
export function allowsUnconditionally(profile: SeccompProfile, name: string): boolean {
  return profile.syscalls.some((r) => r.action === 'SCMP_ACT_ALLOW' && !r.args && r.names.includes(name));
}
