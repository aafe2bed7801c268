"""Start real processes with their own log file, wait for them, and stop exactly those by PID."""

from __future__ import annotations

import contextlib
import ctypes
import ipaddress
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from harness.waiting import GaveUpWaiting, eventually

STOP_GRACE_SECONDS = 10.0
POLL_SECONDS = 0.2
_PR_SET_PDEATHSIG = 1
_TCP_LISTEN = "0A"


class StartupError(RuntimeError):
    """A component did not become ready; the message carries the tail of its log."""


def free_port(*, udp_too: bool = False) -> int:
    """A currently free 127.0.0.1 port (TCP, and UDP as well for gossip ports)."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
            tcp.bind(("127.0.0.1", 0))
            port: int = tcp.getsockname()[1]
            if not udp_too:
                return port
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                try:
                    udp.bind(("127.0.0.1", port))
                except OSError:
                    continue
                return port


@dataclass(frozen=True, slots=True)
class TcpSocket:
    local: tuple[str, int]
    remote: tuple[str, int]
    listening: bool


def tcp_sockets(pid: int) -> list[TcpSocket]:
    """Every TCP socket `pid` holds, read from /proc: what it really bound and where it really connected."""
    inodes: set[str] = set()
    with contextlib.suppress(OSError):
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            with contextlib.suppress(OSError):
                target = os.readlink(fd)
                if target.startswith("socket:["):
                    inodes.add(target[len("socket:[") : -1])
    found: list[TcpSocket] = []
    for table in ("tcp", "tcp6"):
        try:
            lines = Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local, remote, state, inode = fields[1], fields[2], fields[3], fields[9]
            if inode in inodes:
                found.append(TcpSocket(_endpoint(local), _endpoint(remote), state == _TCP_LISTEN))
    return found


def listening_addresses(pid: int) -> set[tuple[str, int]]:
    """(address, port) of every TCP socket `pid` listens on."""
    return {sock.local for sock in tcp_sockets(pid) if sock.listening}


def _endpoint(hex_endpoint: str) -> tuple[str, int]:
    address_hex, port_hex = hex_endpoint.split(":")
    raw = bytes.fromhex(address_hex)
    # The kernel prints each 32-bit word of the address in host (little-endian) order.
    address = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
    return str(ipaddress.ip_address(address)), int(port_hex, 16)


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM unwinds like Ctrl-C (KeyboardInterrupt) while real processes run, so every `finally`,
    ExitStack callback and fixture teardown stops what was started. Off the main thread, a no-op."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _die_with_parent() -> None:
    # If the test process is killed outright (SIGKILL, OOM), the kernel kills the component too.
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def pid_is_alive(pid: int, expected_exe: Path | None = None) -> bool:
    """True if `pid` runs (and, when given, runs `expected_exe`: PIDs are reused)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return expected_exe is None
    if expected_exe is None:
        return True
    try:
        exe = os.readlink(f"/proc/{pid}/exe")
    except OSError:
        return False
    return exe.removesuffix(" (deleted)") == str(expected_exe.resolve())


def stop_pid(pid: int, *, grace: float = STOP_GRACE_SECONDS, expected_exe: Path | None = None) -> None:
    """SIGTERM, wait up to `grace`, then SIGKILL; only if the PID still runs what we started."""
    if not pid_is_alive(pid, expected_exe):
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if not pid_is_alive(pid, expected_exe) or _reaped(pid):
            return
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and pid_is_alive(pid, expected_exe) and not _reaped(pid):
        time.sleep(0.05)


def _reaped(pid: int) -> bool:
    """Reap our own zombie child so it stops looking alive; False for processes that are not ours."""
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return False
    return done == pid


class ManagedProcess:
    """One long-running component: its argv, its log file, its PID."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        log_path: Path,
        *,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        detached: bool = False,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.log_path = log_path
        self.env = dict(env) if env is not None else None
        self.cwd = cwd
        # Detached processes (`python -m harness up`) must outlive the Python process that started them.
        self.detached = detached
        self.popen: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self.popen.pid if self.popen else None

    @property
    def executable(self) -> Path:
        return Path(self.argv[0])

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        die_with_parent = not self.detached and threading.current_thread() is threading.main_thread()
        with self.log_path.open("ab") as log:
            log.write(f"--- {time.strftime('%H:%M:%S')} starting: {' '.join(self.argv)}\n".encode())
            log.flush()
            self.popen = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env,
                cwd=self.cwd,
                start_new_session=True,
                preexec_fn=_die_with_parent if die_with_parent else None,
            )

    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def stop(self, grace: float = STOP_GRACE_SECONDS) -> None:
        if self.popen is None:
            return
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(grace)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(grace)
        self.popen = None

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def kill(self) -> None:
        """SIGKILL, no grace: a crash (OOM kill, node loss) rather than a shutdown."""
        if self.popen is not None and self.popen.poll() is None:
            self.popen.kill()
            self.popen.wait(STOP_GRACE_SECONDS)

    def wait_until(self, ready: Callable[[], bool], *, timeout: float, what: str) -> None:
        """Poll `ready` until true; fail with the log tail if the process dies or time runs out."""

        def check() -> bool:
            if not self.running():
                code = self.popen.returncode if self.popen else None
                raise StartupError(
                    f"{self.name} exited (code {code}) before {what}; log {self.log_path}:\n{self.log_tail()}"
                )
            try:
                return ready()
            except Exception:  # a failing readiness probe means "not yet"
                return False

        try:
            eventually(check, what=what, timeout=timeout, interval=POLL_SECONDS)
        except GaveUpWaiting:
            raise StartupError(
                f"{self.name} not ready after {timeout:.0f}s ({what}); log {self.log_path}:\n"
                f"{self.log_tail()}"
            ) from None
