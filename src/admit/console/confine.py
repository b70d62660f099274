"""Confinement of a process that runs policy code typed into the console (`admit.console.trial`):
what it may not do, enforced as far down as this machine allows, and said exactly.

`confine(root)` is called once, in the trial's own process, after its imports and before it
loads the edited bundle; it cannot be undone. It applies:

- **Limits** (setrlimit): address space, CPU seconds, no file may grow (RLIMIT_FSIZE 0), few
  open files, no core dumps.
- **A seccomp filter** (Linux x86-64 and arm64; needs no privilege, only PR_SET_NO_NEW_PRIVS,
  so it works in a container under the RuntimeDefault profile): the kernel refuses socket(2)
  of any family, so there is no network and no UNIX socket (the server's, the console's feed);
  refuses new processes and threads (fork, vfork, clone, clone3) and exec; signals to any
  process and tracing (kill, tkill, tgkill, ptrace, process_vm_*, pidfd_*); and io_uring, which
  could open sockets past socket(2). Each fails with EPERM; a syscall of another ABI (x32, i386)
  kills the process. This is the guarantee: it holds for C extensions and ctypes alike.
- **An audit hook** (PEP 578), for clear errors and what seccomp cannot judge by path: opening a
  file outside `root` and Python's own installation, opening any file for writing, listing
  other directories, changing files, ctypes, and the socket, subprocess and signal calls above
  are refused with a PermissionError naming the sandbox. Audit hooks stop a policy that uses the
  standard library; they are not a boundary against code that corrupts the interpreter, which
  is why the kernel filter carries the network and process guarantees. The server's TLS key,
  service-account token and environment are out of reach this way (the process also starts with
  an empty environment).

Where the filter cannot be installed (another architecture, a kernel without seccomp), the
limits and the audit hook still apply and `Confinement.kernel` is False: callers say so.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import platform
import resource
import signal
import sys
from dataclasses import dataclass
from typing import Any

_PR_SET_PDEATHSIG = 1
_PR_SET_NO_NEW_PRIVS = 38
_PR_SET_SECCOMP = 22
_SECCOMP_MODE_FILTER = 2
_RET_ALLOW = 0x7FFF0000
_RET_KILL_PROCESS = 0x80000000
_RET_EPERM = 0x00050000 | 1
_LD_W_ABS, _JEQ_K, _JGE_K, _RET_K = 0x20, 0x15, 0x35, 0x06
_X32_BIT = 0x40000000

# (audit architecture, syscalls refused by name -> number) of each supported machine
_SYSCALLS: dict[str, tuple[int, dict[str, int]]] = {
    "x86_64": (
        0xC000003E,
        {
            "socket": 41, "clone": 56, "fork": 57, "vfork": 58, "execve": 59, "kill": 62,
            "ptrace": 101, "tkill": 200, "tgkill": 234, "process_vm_readv": 310,
            "process_vm_writev": 311, "execveat": 322, "pidfd_send_signal": 424,
            "io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427,
            "pidfd_open": 434, "clone3": 435, "pidfd_getfd": 438,
        },
    ),
    "aarch64": (
        0xC00000B7,
        {
            "socket": 198, "clone": 220, "execve": 221, "kill": 129, "ptrace": 117,
            "tkill": 130, "tgkill": 131, "process_vm_readv": 270, "process_vm_writev": 271,
            "execveat": 281, "pidfd_send_signal": 424, "io_uring_setup": 425,
            "io_uring_enter": 426, "io_uring_register": 427, "pidfd_open": 434, "clone3": 435,
            "pidfd_getfd": 438,
        },
    ),
}  # fmt: skip
_REFUSED_EVENTS = {
    "socket.__new__": "open a network socket",
    "socket.getaddrinfo": "look up a host name",
    "socket.gethostbyname": "look up a host name",
    "socket.gethostbyaddr": "look up a host name",
    "socket.connect": "connect",
    "subprocess.Popen": "start a process",
    "os.system": "start a process",
    "os.exec": "start a process",
    "os.posix_spawn": "start a process",
    "os.spawn": "start a process",
    "os.fork": "start a process",
    "os.forkpty": "start a process",
    "os.kill": "signal a process",
    "os.killpg": "signal a process",
    "signal.pthread_kill": "signal a thread",
    "ctypes.dlopen": "load native code",
    "ctypes.dlsym": "load native code",
    "ctypes.cdata": "reach raw memory",
    "os.remove": "change files",
    "os.rename": "change files",
    "os.rmdir": "change files",
    "os.mkdir": "change files",
    "os.chmod": "change files",
    "os.chown": "change files",
    "os.link": "change files",
    "os.symlink": "change files",
    "os.truncate": "change files",
    "os.utime": "change files",
    "shutil.rmtree": "change files",
    "urllib.Request": "open a URL",
}
_WRITING = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND


class _Instruction(ctypes.Structure):
    _fields_ = (
        ("code", ctypes.c_ushort),
        ("jt", ctypes.c_ubyte),
        ("jf", ctypes.c_ubyte),
        ("k", ctypes.c_uint32),
    )


class _Program(ctypes.Structure):
    _fields_ = (("len", ctypes.c_ushort), ("filter", ctypes.POINTER(_Instruction)))


@dataclass(frozen=True, slots=True)
class Confinement:
    """What `confine` could apply here."""

    kernel: bool  # the seccomp filter is in place (no sockets, processes, signals)
    reason: str = ""  # why not, when it is not

    def describe(self) -> str:
        if self.kernel:
            return "seccomp: no network, processes or signals; audit hook: files; rlimits"
        return f"audit hook and rlimits only ({self.reason})"


def filter_program(machine: str) -> list[tuple[int, int, int, int]]:
    """The classic-BPF seccomp program for `machine` as (code, jt, jf, k) rows; KeyError for a
    machine this module knows no syscall numbers of."""
    arch, numbers = _SYSCALLS[machine]
    rows = [(_LD_W_ABS, 0, 0, 4), (_JEQ_K, 1, 0, arch), (_RET_K, 0, 0, _RET_KILL_PROCESS)]
    rows.append((_LD_W_ABS, 0, 0, 0))
    checks = [(_JGE_K, _X32_BIT)] if machine == "x86_64" else []
    checks += [(_JEQ_K, number) for number in sorted(numbers.values())]
    deny = len(rows) + len(checks) + 1  # after the checks and the ALLOW
    for code, value in checks:
        rows.append((code, deny - len(rows) - 1, 0, value))
    rows += [(_RET_K, 0, 0, _RET_ALLOW), (_RET_K, 0, 0, _RET_EPERM)]
    return rows


def _install_filter() -> Confinement:
    machine = platform.machine()
    if machine not in _SYSCALLS or not sys.platform.startswith("linux"):
        return Confinement(False, f"no seccomp filter for {sys.platform} {machine}")
    rows = filter_program(machine)
    instructions = (_Instruction * len(rows))(*(_Instruction(*row) for row in rows))
    program = _Program(len(rows), instructions)
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        return Confinement(False, f"PR_SET_NO_NEW_PRIVS: {os.strerror(ctypes.get_errno())}")
    if libc.prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.byref(program), 0, 0) != 0:
        return Confinement(False, f"seccomp: {os.strerror(ctypes.get_errno())}")
    return Confinement(True)


def end_with_parent() -> None:
    """Die with the process that started this one, whatever the code here does (Linux)."""
    parent = os.getppid()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:
        os._exit(1)


def _limit(memory: int, seconds: float) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    cpu = int(seconds) + 1
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))


def _readable_roots(root: str) -> tuple[str, ...]:
    """Where the confined process may read: the bundle being tried and Python's installation
    (the standard library, site-packages, admit itself)."""
    places = {root, sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    places.update(p for p in sys.path if p and os.path.isdir(p))
    return tuple(sorted({os.path.realpath(p).rstrip(os.sep) + os.sep for p in places}))


def _audit_hook(root: str) -> Any:
    roots = _readable_roots(root)

    def refuse(what: str) -> None:
        raise PermissionError(f"the policy editor's sandbox may not {what}")

    def inside(path: Any) -> bool:
        if isinstance(path, int):  # an open descriptor: the process has only its own
            return True
        try:
            real = os.path.realpath(os.fsdecode(path))
        except (TypeError, ValueError):
            return False
        return any((real + os.sep).startswith(place) for place in roots) or real == "/dev/null"

    def hook(event: str, args: tuple[Any, ...]) -> None:
        if event == "open":
            path, mode, flags = (*args, None, None)[:3]
            writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
                isinstance(flags, int) and flags & _WRITING
            )
            if writing:
                refuse("write files")
            if not inside(path):
                refuse(f"read {os.fsdecode(path) if not isinstance(path, int) else path}")
        elif event in ("os.listdir", "os.scandir") and args and not inside(args[0] or "."):
            refuse("list directories outside the bundle")
        elif event in _REFUSED_EVENTS:
            refuse(_REFUSED_EVENTS[event])

    return hook


def confine(root: str | os.PathLike[str], *, memory: int, seconds: float) -> Confinement:
    """Confine this process for good (see the module's docstring); what could be applied."""
    _limit(memory, seconds)
    confinement = _install_filter()
    sys.addaudithook(_audit_hook(os.path.realpath(root)))
    return confinement
