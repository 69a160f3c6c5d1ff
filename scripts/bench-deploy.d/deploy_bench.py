#!/usr/bin/env python3
"""A rolling deploy of 10 targets in batches of 2, Slipway against Ansible
`serial: 2` (issue 4, "Performance"; row 5 of the peers table of issue 8).

Called by scripts/bench-deploy, which builds the release binary first. Python
3.11 standard library; the measuring helpers are scripts/bench.d/bench.py's.

Both tools do the same steps on the same hosts, per target: drain its server
in HAProxy (runtime API, waiting for 0 sessions), stop the old release's
process group, remove the old release, copy the new artifact, start it
detached, run the health check, put the server back to ready. The service is
`exec sleep 3600` and the health check is `true`, so install and health are
instant for both: what is measured is each tool's own work. Each round
deploys a new artifact (its content names the round), so every target is
really replaced; a warm-up round first gives every target a release to
replace.

--connection local: Slipway `kind: local` targets, Ansible
`ansible_connection=local`. --connection ssh: one sshd per host on
127.0.0.1 ports, a dedicated user whose shell is /bin/sh; Slipway `kind: ssh`
targets (one multiplexed OpenSSH connection per target), Ansible over ssh
with ControlPersist and pipelining (its fastest settings).

Each round runs both, rotating which goes first; medians and min-max are
reported, and the ratio Ansible / Slipway (the goal: at least 10x).

scripts/bench-peers runs the same measurement (`measure`, over ssh) for its
row 5.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "bench.d"))

import bench  # noqa: E402  (scripts/bench.d/bench.py)

TARGETS = 10
BATCH = 2
GOAL = 10.0
SSH_USER = "slipway-bench"
SYSTEM_PYTHON = "/usr/bin/python3"


class Unavailable(Exception):
    """A tool (named) could not be installed or run: exit 2."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(argv: list[str], what: str, **kwargs) -> subprocess.CompletedProcess:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, check=False, **kwargs)
    except OSError as e:
        raise Unavailable(f"{what}: {e}") from e
    if done.returncode != 0:
        raise Unavailable(f"{what}: `{' '.join(argv)}` exited with {done.returncode}: {(done.stderr or done.stdout)[-2000:]}")
    return done


# ---------------------------------------------------------------- HAProxy


LBCTL = r'''
"""lbctl SOCKET drain|ready BACKEND SERVER: the runtime API calls a deployer
makes (drain waits until the server has no sessions, as Slipway does)."""
import socket, sys, time

def call(path, command):
    s = socket.socket(socket.AF_UNIX)
    s.connect(path)
    s.sendall(command.encode() + b"\n")
    out = b""
    while chunk := s.recv(65536):
        out += chunk
    s.close()
    return out.decode()

sock, action, backend, server = sys.argv[1:5]
state = {"drain": "drain", "ready": "ready"}[action]
answer = call(sock, f"set server {backend}/{server} state {state}")
if answer.strip():
    sys.exit(f"haproxy: {answer.strip()}")
if action == "drain":
    deadline = time.monotonic() + 10
    while True:
        lines = call(sock, f"show stat {backend} 4 -1").splitlines()
        header = lines[0].lstrip("# ").split(",")
        row = next(l.split(",") for l in lines[1:] if l.split(",")[1] == server)
        if int(row[header.index("scur")]) == 0 or time.monotonic() > deadline:
            break
        time.sleep(0.02)
'''


class Haproxy:
    def __init__(self, dir: Path, ports: list[int]):
        self.sock = dir / "admin.sock"
        servers = "".join(f"    server web-{i + 1} 127.0.0.1:{port}\n" for i, port in enumerate(ports))
        config = (
            f"global\n    stats socket {self.sock} level admin\n"
            "defaults\n    mode http\n    timeout connect 2s\n    timeout client 30s\n    timeout server 30s\n"
            f"frontend fe\n    bind 127.0.0.1:{free_port()}\n    default_backend web\n"
            f"backend web\n{servers}"
        )
        (dir / "haproxy.cfg").write_text(config)
        binary = shutil.which("haproxy") or "/usr/sbin/haproxy"
        if not os.access(binary, os.X_OK):
            raise Unavailable("haproxy: not installed (scripts/test installs it)")
        self.proc = subprocess.Popen(
            [binary, "-W", "-db", "-f", str(dir / "haproxy.cfg")],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=open(dir / "haproxy.log", "wb"),
        )
        deadline = time.monotonic() + 10
        while not self.sock.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise Unavailable(f"haproxy: did not start: {(dir / 'haproxy.log').read_text()[-2000:]}")
            time.sleep(0.02)

    def admin_states(self) -> dict[str, str]:
        """Server name -> `ready`/`drain`/`maint` (srv_admin_state flags)."""
        s = socket.socket(socket.AF_UNIX)
        s.connect(str(self.sock))
        s.sendall(b"show servers state web\n")
        out = b""
        while chunk := s.recv(65536):
            out += chunk
        s.close()
        states = {}
        for line in out.decode().splitlines()[2:]:
            fields = line.split()
            if len(fields) > 6:
                flags = int(fields[6])
                states[fields[3]] = "maint" if flags & 0x01 else "drain" if flags & 0x08 else "ready"
        return states

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()


# ---------------------------------------------------------------- sshd


class Sshds:
    """One sshd per host, on its own 127.0.0.1 port, for a user whose shell is /bin/sh."""

    def __init__(self, dir: Path, hosts: int):
        sshd = "/usr/sbin/sshd"
        if not os.access(sshd, os.X_OK) or not shutil.which("ssh"):
            raise Unavailable("sshd: openssh-server and openssh-client are needed (scripts/test installs them)")
        if subprocess.run(["id", SSH_USER], capture_output=True).returncode != 0:
            run(["useradd", "--create-home", "--shell", "/bin/sh", SSH_USER], "useradd")
        run(["usermod", "-p", "*", SSH_USER], "usermod")
        self.home = Path(run(["sh", "-c", f"getent passwd {SSH_USER} | cut -d: -f6"], "getent").stdout.strip())
        os.makedirs("/run/sshd", exist_ok=True)
        self.dir = dir
        dir.mkdir()
        dir.chmod(0o755)
        for key in ("host_key", "client_key"):
            run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(dir / key)], "ssh-keygen")
        shutil.copy(dir / "client_key.pub", dir / "authorized_keys")
        (dir / "authorized_keys").chmod(0o644)
        host_key = (dir / "host_key.pub").read_text().strip()
        self.ports = [free_port() for _ in range(hosts)]
        self.procs = []
        known = []
        for port in self.ports:
            cfg = dir / f"sshd_{port}.cfg"
            cfg.write_text(
                f"Port {port}\nListenAddress 127.0.0.1\nHostKey {dir}/host_key\nPidFile {dir}/sshd_{port}.pid\n"
                f"AuthorizedKeysFile {dir}/authorized_keys\nPasswordAuthentication no\n"
                "KbdInteractiveAuthentication no\nPubkeyAuthentication yes\nUsePAM no\nStrictModes no\n"
                f"AllowUsers {SSH_USER}\nMaxSessions 100\nMaxStartups 100\nLogLevel ERROR\n"
            )
            log = open(dir / f"sshd_{port}.log", "wb")
            self.procs.append(subprocess.Popen([sshd, "-D", "-e", "-f", str(cfg)], stdin=subprocess.DEVNULL, stderr=log))
            known.append(f"[127.0.0.1]:{port} {host_key}")
        (dir / "known_hosts").write_text("\n".join(known) + "\n")
        deadline = time.monotonic() + 10
        for port in self.ports:
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), 0.5).close()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise Unavailable(f"sshd: nothing listens on 127.0.0.1:{port}")
                    time.sleep(0.02)

    def stop(self) -> None:
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()


# ---------------------------------------------------------------- the two sides


def running_releases(dirs: list[Path]) -> int:
    """Processes `sleep 3600` (the service) whose working directory is under one of dirs."""
    count = 0
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if (proc / "cmdline").read_bytes() != b"sleep\x003600\x00":
                continue
            cwd = os.readlink(proc / "cwd")
        except OSError:
            continue
        if any(cwd.startswith(str(d)) for d in dirs):
            count += 1
    return count


def artifact_script(round: int) -> str:
    return f"#!/bin/sh\n# release of round {round}\nexec sleep 3600\n"


class SlipwaySide:
    def __init__(self, slipway: str, dir: Path, lb: Haproxy, ports: list[int], sshds: Sshds | None):
        self.slipway = slipway
        self.dir = dir
        self.sshds = sshds
        (dir / ".slipway/environments").mkdir(parents=True)
        (dir / "slipway.yml").write_text(
            "name: bench-deploy\n"
            "on:\n  manual:\n    inputs:\n      round: {type: string, default: '0'}\n"
            "jobs:\n"
            "  build:\n"
            "    env: {ROUND: '${{ inputs.round }}'}\n"
            "    steps:\n"
            "      - run: |\n"
            "          mkdir -p dist\n"
            "          printf '#!/bin/sh\\n# release of round %s\\nexec sleep 3600\\n' \"$ROUND\" > dist/app\n"
            "          chmod +x dist/app\n"
            "    artifacts: {app: dist/app}\n"
            "  deploy:\n"
            "    needs: [build]\n"
            "    deploy:\n"
            "      environment: fleet\n"
            "      artifact: build.app\n"
            f"      strategy: {{rolling: {{batch: {BATCH}}}}}\n"
        )
        targets = []
        for i, port in enumerate(ports):
            name = f"web-{i + 1}"
            if sshds:
                targets.append(
                    f"  - {{name: {name}, kind: ssh, host: 127.0.0.1, ssh_port: {sshds.ports[i]}, user: {SSH_USER}, "
                    f"key: {sshds.dir / 'client_key'}, known_hosts: strict, known_hosts_file: {sshds.dir / 'known_hosts'}, "
                    f"dir: bench-deploy/slipway/{name}, port: {port}}}\n"
                )
            else:
                targets.append(f"  - {{name: {name}, kind: local, port: {port}}}\n")
        (dir / ".slipway/environments/fleet.yml").write_text(
            "targets:\n" + "".join(targets)
            + "service:\n"
            "  install: {copy: app}\n"
            "  activate: {start: 'exec \"$ARTIFACT\"'}\n"
            "  deactivate: stop\n"
            "  uninstall: remove\n"
            "  health: {command: 'true', interval: 10ms, timeout: 5s, successes: 1, max_wait: 30s}\n"
            f"load_balancer:\n  haproxy: {{socket: {lb.sock}, backend: web}}\n  drain_timeout: 10s\n"
            f"parallelism: {BATCH}\n"
        )

    def deploy(self, round: int) -> tuple[float, float]:
        """(whole `slipway run`, the deploy job alone) in seconds."""
        events = self.dir / f"round-{round}.jsonl"
        sample = bench.run_measured(
            [self.slipway, "run", "--json", "--input", f"round={round}"], self.dir, f"slipway round {round}", events
        )
        deploy_ms = None
        for line in events.read_text().splitlines():
            event = json.loads(line)
            if event.get("event") == "job_finished" and event.get("job") == "deploy":
                if event.get("result") != "success":
                    raise bench.RunFailed(f"slipway round {round}: the deploy job ended {event.get('result')}")
                deploy_ms = event["duration_ms"]
        if deploy_ms is None:
            raise bench.RunFailed(f"slipway round {round}: no deploy job in {events}")
        return sample.seconds, deploy_ms / 1000

    def release_dirs(self) -> list[Path]:
        dirs = [self.dir]
        if self.sshds:
            dirs.append(self.sshds.home / "bench-deploy/slipway")
        return dirs

    def check(self, round: int) -> None:
        state = json.loads((self.dir / ".slipway/local/environments/fleet/state.json").read_text())
        digests = {t["digest"] for t in state["targets"].values()}
        phases = {t["phase"] for t in state["targets"].values()}
        if len(state["targets"]) != TARGETS or len(digests) != 1 or phases != {"serving"}:
            raise bench.RunFailed(f"slipway round {round}: targets not all serving one digest: {state['targets']}")

    def stop(self) -> None:
        subprocess.run([self.slipway, "env", "stop", "fleet"], cwd=self.dir, capture_output=True, check=False)


class AnsibleSide:
    def __init__(self, root: Path, dir: Path, lb: Haproxy, sshds: Sshds | None):
        self.dir = dir
        self.sshds = sshds
        dir.mkdir()
        venv = root / "venv"
        bench.progress("bench-deploy: installing ansible-core from PyPI into a temporary virtualenv")
        run([sys.executable, "-m", "venv", str(venv)], "ansible (venv)")
        run([str(venv / "bin/pip"), "install", "--quiet", "ansible-core"], "ansible (pip install ansible-core)")
        self.playbook_bin = str(venv / "bin/ansible-playbook")
        self.version = run([self.playbook_bin, "--version"], "ansible").stdout.splitlines()[0]
        (root / "lbctl.py").write_text(LBCTL)
        (root / "lbctl.py").chmod(0o755)
        # Where the hosts keep their releases: this machine, or the ssh user's home.
        self.base = (sshds.home if sshds else dir) / "bench-deploy/ansible"
        hosts = []
        for i in range(TARGETS):
            line = f"web-{i + 1}"
            if sshds:
                line += f" ansible_port={sshds.ports[i]}"
            hosts.append(line)
        if sshds:
            connection = (
                f"ansible_connection=ssh\nansible_host=127.0.0.1\nansible_user={SSH_USER}\n"
                f"ansible_ssh_private_key_file={sshds.dir / 'client_key'}\n"
                f"ansible_ssh_common_args='-o UserKnownHostsFile={sshds.dir / 'known_hosts'} "
                "-o GlobalKnownHostsFile=/dev/null -o StrictHostKeyChecking=yes'\n"
            )
        else:
            connection = "ansible_connection=local\n"
        (dir / "inventory.ini").write_text(
            "[fleet]\n" + "\n".join(hosts) + "\n\n[fleet:vars]\n" + connection
            + f"ansible_python_interpreter={SYSTEM_PYTHON}\n"
        )
        (dir / "ansible.cfg").write_text(
            "[defaults]\n"
            f"inventory = {dir / 'inventory.ini'}\n"
            "forks = 10\n"
            "gathering = explicit\n"
            "retry_files_enabled = False\n"
            f"local_tmp = {dir / 'tmp'}\n"
            "[ssh_connection]\n"
            "pipelining = True\n"
            "ssh_args = -o ControlMaster=auto -o ControlPersist=60s\n"
            f"control_path_dir = {dir / 'cp'}\n"
        )
        lbctl = f"{sys.executable} {root / 'lbctl.py'} {lb.sock}"
        (dir / "playbook.yml").write_text(
            "- name: rolling update\n"
            "  hosts: fleet\n"
            f"  serial: {BATCH}\n"
            "  gather_facts: false\n"
            "  vars:\n"
            f"    dir: \"{self.base}/{{{{ inventory_hostname }}}}\"\n"
            "  tasks:\n"
            "    - name: drain in HAProxy, wait for 0 sessions\n"
            f"      ansible.builtin.command: \"{lbctl} drain web {{{{ inventory_hostname }}}}\"\n"
            "      delegate_to: localhost\n"
            "    - name: deactivate (stop the old release's process group)\n"
            "      ansible.builtin.shell: |\n"
            "        cd {{ dir }} 2>/dev/null || exit 0\n"
            "        [ -s pid ] || exit 0\n"
            "        pid=$(cat pid)\n"
            # /bin/sh is dash: no `--` in its kill.
            "        kill -TERM -\"$pid\" 2>/dev/null || true\n"
            "        while kill -0 -\"$pid\" 2>/dev/null; do sleep 0.01; done\n"
            "        rm -f pid\n"
            "    - name: uninstall (remove the old release)\n"
            "      ansible.builtin.file: {path: \"{{ dir }}/release\", state: absent}\n"
            "    - name: release directory\n"
            "      ansible.builtin.file: {path: \"{{ dir }}/release\", state: directory}\n"
            "    - name: install (copy the artifact)\n"
            "      ansible.builtin.copy: {src: \"{{ artifact }}\", dest: \"{{ dir }}/release/app\", mode: \"0755\"}\n"
            "    - name: activate (start detached)\n"
            "      ansible.builtin.shell: cd {{ dir }}/release && setsid sh -c 'echo $$ > ../pid; exec ./app' < /dev/null >> ../service.log 2>&1 &\n"
            "    - name: health check\n"
            "      ansible.builtin.command: /bin/true\n"
            "    - name: ready in HAProxy\n"
            f"      ansible.builtin.command: \"{lbctl} ready web {{{{ inventory_hostname }}}}\"\n"
            "      delegate_to: localhost\n"
        )
        home = dir / "home"
        home.mkdir()
        self.env = dict(os.environ, HOME=str(home), ANSIBLE_CONFIG=str(dir / "ansible.cfg"),
                        ANSIBLE_NOCOLOR="1", PATH=f"{venv / 'bin'}:{os.environ.get('PATH', '')}")

    def deploy(self, round: int) -> float:
        artifact = self.dir / f"app-{round}"
        artifact.write_text(artifact_script(round))
        artifact.chmod(0o755)
        out = self.dir / f"round-{round}.log"
        try:
            sample = bench.run_measured(
                [self.playbook_bin, str(self.dir / "playbook.yml"), "-e", f"artifact={artifact}"],
                self.dir, f"ansible round {round}", out, env=self.env,
            )
        except bench.RunFailed as e:
            raise Unavailable(f"ansible: {e}\n{out.read_text()[-3000:] if out.exists() else ''}") from e
        return sample.seconds

    def check(self, round: int) -> None:
        for i in range(TARGETS):
            host = self.base / f"web-{i + 1}"
            app = (host / "release/app").read_text()
            if f"round {round}\n" not in app:
                raise Unavailable(f"ansible round {round}: web-{i + 1} has {app!r}")
            deadline = time.monotonic() + 5
            while not (host / "pid").exists() and time.monotonic() < deadline:
                time.sleep(0.01)
            os.kill(-int((host / "pid").read_text()), 0)

    def stop(self) -> None:
        for i in range(TARGETS):
            try:
                os.kill(-int((self.base / f"web-{i + 1}/pid").read_text()), signal.SIGKILL)
            except (OSError, ValueError):
                pass
        subprocess.run(["ssh", "-O", "exit", "-o", f"ControlPath={self.dir / 'cp'}/%C", "x"],
                       capture_output=True, check=False)


# ---------------------------------------------------------------- main


def spread(samples: list[float], digits: int = 3) -> str:
    return f"{bench.median(samples):.{digits}f} s ({min(samples):.{digits}f}–{max(samples):.{digits}f})"


@dataclass
class Measurement:
    """Seconds per round: Slipway's whole `slipway run`, its deploy job, Ansible's whole run."""

    whole: list[float]
    job: list[float]
    ansible: list[float]
    ansible_version: str
    took: float


def measure(slipway: str, rounds: int, connection: str, keep: bool = False, label: str = "bench-deploy") -> Measurement:
    """The rolling deploy, both tools, `rounds` interleaved rounds after a warm-up.
    Raises Unavailable (a tool could not be installed or run, named) or
    bench.RunFailed (a Slipway run failed). Also row 5 of scripts/bench-peers."""
    root = Path(tempfile.mkdtemp(prefix="slipway-bench-deploy-"))
    root.chmod(0o755)
    started = time.monotonic()
    lb = sshds = slipway_side = ansible_side = None
    whole: list[float] = []
    job: list[float] = []
    ansible: list[float] = []
    try:
        ports = [free_port() for _ in range(TARGETS)]
        lb = Haproxy(root, ports)
        if connection == "ssh":
            sshds = Sshds(root / "ssh", TARGETS)
            shutil.rmtree(sshds.home / "bench-deploy", ignore_errors=True)
        ansible_side = AnsibleSide(root, root / "ansible", lb, sshds)
        slipway_side = SlipwaySide(slipway, root / "slipway", lb, ports, sshds)
        bench.progress(f"{label}: warm-up round (every target gets a release to replace), {connection}")
        slipway_side.deploy(0)
        slipway_side.check(0)
        ansible_side.deploy(0)
        ansible_side.check(0)
        for round in range(1, rounds + 1):
            sides = ["slipway", "ansible"] if round % 2 else ["ansible", "slipway"]
            for side in sides:
                if side == "slipway":
                    seconds, deploy = slipway_side.deploy(round)
                    slipway_side.check(round)
                    whole.append(seconds)
                    job.append(deploy)
                else:
                    ansible.append(ansible_side.deploy(round))
                    ansible_side.check(round)
                side_dir = slipway_side.release_dirs() if side == "slipway" else [ansible_side.base]
                running = running_releases(side_dir)
                if running != TARGETS:
                    raise bench.RunFailed(f"{side} round {round}: {running} service processes run, not {TARGETS} (an old release was not stopped)")
                states = lb.admin_states()
                if set(states.values()) != {"ready"}:
                    raise bench.RunFailed(f"{side} round {round}: HAProxy servers not all ready: {states}")
            bench.progress(
                f"{label}: round {round}: slipway {whole[-1]:.3f} s (deploy job {job[-1]:.3f} s), ansible {ansible[-1]:.3f} s"
            )
    finally:
        for side in (slipway_side, ansible_side):
            if side:
                side.stop()
        if lb:
            lb.stop()
        if sshds:
            sshds.stop()
            shutil.rmtree(sshds.home / "bench-deploy", ignore_errors=True)
        if keep:
            bench.progress(f"{label}: kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    return Measurement(whole, job, ansible, ansible_side.version, time.monotonic() - started)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--slipway", required=True, help="the slipway binary")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--connection", choices=["local", "ssh"], default="local")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    slipway = str(Path(args.slipway).resolve())
    info = bench.machine()
    try:
        m = measure(slipway, args.rounds, args.connection, args.keep)
    except Unavailable as e:
        print(f"bench-deploy: could not install or run: {e}", file=sys.stderr)
        return 2
    except bench.RunFailed as e:
        print(f"bench-deploy: {e}", file=sys.stderr)
        return 1

    per_target_ms = bench.median(m.job) / TARGETS * 1000
    ratio = bench.median(m.ansible) / bench.median(m.whole)
    command = os.environ.get("BENCH_INVOCATION", "scripts/bench-deploy")
    print(f"# {command}")
    for key, value in info + [("ansible", m.ansible_version),
                              ("connection", args.connection), ("rounds", str(args.rounds)),
                              ("took", f"{m.took:.0f} s")]:
        print(f"- {key}: {value}")
    print()
    print(f"rolling deploy of {TARGETS} targets in batches of {BATCH}, install and health instant ({args.connection})")
    print()
    print("| | median (min–max) |")
    print("|---|---|")
    print(f"| Slipway, whole `slipway run` (build job + deploy job) | {spread(m.whole)} |")
    print(f"| Slipway, the deploy job | {spread(m.job)} |")
    print(f"| Slipway, deploy job per target | {per_target_ms:.1f} ms (goal < 50 ms): {bench.verdict(per_target_ms < 50)} |")
    print(f"| Ansible `serial: {BATCH}`, whole `ansible-playbook` | {spread(m.ansible)} |")
    print(f"| ratio Ansible / Slipway (whole commands) | {ratio:.1f}× (goal ≥ {GOAL:.0f}×): {bench.verdict(ratio >= GOAL)} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
