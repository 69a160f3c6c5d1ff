"""Processes, HTTP, git and statistics for scripts/bench-server.d/bench_server.py.

Standard library only. Every process the benchmark starts goes through
`Processes`: each gets its own process group, its output goes to a file in
the benchmark's temporary directory (never a pipe that could fill up), and
`Processes.stop_all` ends them all, plus any process still working inside the
temporary directory (a step's `sleep` runs in a process group of its own,
which killing its agent's group does not reach).
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class BenchFailed(Exception):
    """The benchmark could not be carried out (a process died, a wait timed out)."""


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- processes


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen
    log: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def log_tail(self, size: int = 3000) -> str:
        try:
            data = self.log.read_bytes()
        except OSError:
            return ""
        return data[-size:].decode("utf-8", "replace")


@dataclass
class Processes:
    """The processes of one benchmark, ended together."""

    root: Path
    procs: list[Proc] = field(default_factory=list)

    def start(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> Proc:
        log = self.root / "logs" / f"{name}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "ab") as out:
            popen = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**os.environ, **(env or {})},
                cwd=self.root,
                start_new_session=True,  # its own process group, killed as one
            )
        proc = Proc(name, popen, log)
        self.procs.append(proc)
        return proc

    def stop_all(self, grace_s: float = 3.0) -> None:
        """SIGTERM to every group, SIGKILL to what is left after `grace_s`, then
        a sweep of processes whose working directory is under `root`."""
        for proc in self.procs:
            _signal_group(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        for proc in self.procs:
            try:
                proc.popen.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
        for proc in self.procs:
            _signal_group(proc.pid, signal.SIGKILL)
            try:
                proc.popen.wait(timeout=5)
            except subprocess.TimeoutExpired:
                progress(f"bench-server: {proc.name} (pid {proc.pid}) did not die")
        self.procs.clear()
        left = kill_processes_under(self.root)
        if left:
            progress(f"bench-server: killed {left} leftover process(es) working under {self.root}")


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def kill_processes_under(root: Path) -> int:
    """SIGKILLs every process of this user whose cwd is inside `root` (steps
    run in their own process groups); returns how many."""
    prefix = str(root.resolve()) + os.sep
    killed = 0
    me = os.getpid()
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == me:
            continue
        try:
            cwd = os.readlink(f"/proc/{entry}/cwd")
        except OSError:
            continue
        if (cwd + os.sep).startswith(prefix):
            try:
                os.kill(int(entry), signal.SIGKILL)
                killed += 1
            except (ProcessLookupError, PermissionError):
                pass
    return killed


def wait_for(what: str, check, timeout_s: float, interval_s: float = 0.02, procs: list[Proc] = ()):
    """Calls `check` until it returns something truthy; raises BenchFailed after
    `timeout_s` or when one of `procs` has died."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if value:
            return value
        for proc in procs:
            if not proc.alive():
                raise BenchFailed(f"{proc.name} exited ({proc.popen.returncode}) while waiting for {what}; end of its log:\n{proc.log_tail()}")
        if time.monotonic() > deadline:
            raise BenchFailed(f"timed out after {timeout_s:.0f} s waiting for {what}")
        time.sleep(interval_s)


URL_IN_LOG = re.compile(r"http://127\.0\.0\.1:(\d+)")


def server_port(proc: Proc, timeout_s: float = 30) -> int:
    """The port `slipway server|up --listen 127.0.0.1:0` printed."""

    def found():
        match = URL_IN_LOG.search(proc.log_tail(100_000))
        return int(match.group(1)) if match else None

    return wait_for(f"{proc.name} to print its URL", found, timeout_s, procs=[proc])


# ---------------------------------------------------------------- /proc


def proc_status(pid: int) -> dict[str, int]:
    """The kB fields of /proc/PID/status (VmRSS, VmHWM, RssAnon, RssFile, ...)
    and Threads."""
    out: dict[str, int] = {}
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return out
    for line in text.splitlines():
        key, _, value = line.partition(":")
        parts = value.split()
        if parts and parts[0].isdigit():
            out[key] = int(parts[0])
    return out


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat.rsplit(")", 1)[-1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def established_connections(port: int) -> int:
    """TCP connections in state ESTABLISHED whose local port is `port`."""
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            if len(parts) > 3 and parts[3] == "01" and int(parts[1].rsplit(":", 1)[1], 16) == port:
                count += 1
    return count


# ---------------------------------------------------------------- HTTP


class Api:
    """A small JSON client of one server (one connection per call: simple, and
    the benchmark's own calls are not what is measured)."""

    def __init__(self, port: int, token: str = "") -> None:
        self.port = port
        self.token = token

    def call(self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None, raw: bytes | None = None) -> tuple[int, Any]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            sent = dict(headers or {})
            if self.token:
                sent.setdefault("Authorization", f"Bearer {self.token}")
            data = raw
            if body is not None:
                data = json.dumps(body).encode()
                sent["Content-Type"] = "application/json"
            conn.request(method, path, body=data, headers=sent)
            response = conn.getresponse()
            text = response.read()
        finally:
            conn.close()
        try:
            value = json.loads(text) if text else None
        except json.JSONDecodeError:
            value = text.decode("utf-8", "replace")
        return response.status, value

    def ok(self, method: str, path: str, body: Any = None) -> Any:
        status, value = self.call(method, path, body)
        if status >= 300:
            raise BenchFailed(f"{method} {path} answered {status}: {value}")
        return value

    def metrics(self) -> dict[str, float]:
        status, text = self.call("GET", "/metrics")
        out: dict[str, float] = {}
        if status != 200 or not isinstance(text, str):
            return out
        for line in text.splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.rpartition(" ")
                try:
                    out[name] = float(value)
                except ValueError:
                    pass
        return out

    def healthy(self) -> bool:
        try:
            return self.call("GET", "/healthz")[0] == 200
        except OSError:
            return False


def github_signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


# ---------------------------------------------------------------- git

GIT_ENV = {
    "GIT_AUTHOR_NAME": "Bench",
    "GIT_AUTHOR_EMAIL": "bench@localhost",
    "GIT_COMMITTER_NAME": "Bench",
    "GIT_COMMITTER_EMAIL": "bench@localhost",
    "GIT_CONFIG_GLOBAL": "/dev/null",
    "GIT_CONFIG_NOSYSTEM": "1",
}


def git(repo: Path, *args: str) -> str:
    out = subprocess.run(
        ["git", *args], cwd=repo, env={**os.environ, **GIT_ENV}, capture_output=True, text=True, check=False
    )
    if out.returncode != 0:
        raise BenchFailed(f"git {' '.join(args)} in {repo} failed: {out.stderr.strip()}")
    return out.stdout.strip()


def make_repo(repo: Path, branch: str, files: dict[str, str]) -> str:
    """A repository on `branch` with `files` committed; returns the commit."""
    repo.mkdir(parents=True)
    git(repo, "init", "-q", "-b", branch)
    return commit(repo, files, "first")


def commit(repo: Path, files: dict[str, str], message: str) -> str:
    for name, text in files.items():
        path = repo / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD")


# ---------------------------------------------------------------- statistics


def percentile(samples: list[float], p: float) -> float:
    """The p-th percentile, nearest rank (p99 of 200 samples is the 198th)."""
    if not samples:
        return float("nan")
    ordered = sorted(samples)
    rank = max(1, -(-len(ordered) * p // 100))  # ceil
    return ordered[int(rank) - 1]


def summary_ms(samples: list[float]) -> str:
    return (
        f"p50 {percentile(samples, 50):.1f}, p90 {percentile(samples, 90):.1f}, "
        f"p99 {percentile(samples, 99):.1f}, max {max(samples):.1f} ms (n={len(samples)})"
    )


def median(samples: list[float]) -> float:
    return statistics.median(samples) if samples else float("nan")
