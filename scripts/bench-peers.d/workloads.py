"""Equivalent workloads for Slipway and its peers, written into a directory.

Every writer returns nothing and only creates files; running them is the
harness's business (peers.py). Job names are the same on every side so that
a reader can compare the files one to one.
"""

from __future__ import annotations

import json
from pathlib import Path

CHAIN = "chain"
FANOUT = "fanout"
# The 100-task graph: LAYERS layers of WIDTH tasks; task i of layer L > 0
# depends on tasks i and i+1 (mod WIDTH) of layer L-1, 180 edges in all.
LAYERS = 10
WIDTH = 10


def trivial_name(i: int) -> str:
    return f"j{i:02d}"


def trivial_needs(shape: str, i: int) -> list[str]:
    """Upstream jobs of job i. A chain: each job needs the one before. A
    fan-out: one root (j00) and every other job needs only the root."""
    if i == 0:
        return []
    return [trivial_name(i - 1)] if shape == CHAIN else [trivial_name(0)]


def write_trivial_slipway(dir: Path, shape: str, jobs: int) -> None:
    lines = [f"name: bench-{shape}", "jobs:"]
    for i in range(jobs):
        lines.append(f"  {trivial_name(i)}:")
        needs = trivial_needs(shape, i)
        if needs:
            lines.append(f"    needs: [{', '.join(needs)}]")
        lines += ["    steps:", '      - run: "true"']
    (dir / "slipway.yml").write_text("\n".join(lines) + "\n")


def write_trivial_gitlab(dir: Path, shape: str, jobs: int) -> None:
    """One stage; the order comes from `needs:` alone (a DAG pipeline), and
    no `image:`, so gitlab-ci-local runs every job with its shell executor."""
    lines = ["stages: [test]", ""]
    for i in range(jobs):
        lines += [f"{trivial_name(i)}:", "  stage: test"]
        needs = trivial_needs(shape, i)
        lines.append(f"  needs: [{', '.join(needs)}]")
        lines += ["  script:", '    - "true"', ""]
    (dir / ".gitlab-ci.yml").write_text("\n".join(lines))


def graph_name(layer: int, i: int) -> str:
    return f"p{layer}{i}"


def graph_needs(layer: int, i: int) -> list[str]:
    if layer == 0:
        return []
    return sorted({graph_name(layer - 1, i), graph_name(layer - 1, (i + 1) % WIDTH)})


def graph_tasks() -> list[tuple[int, int]]:
    return [(layer, i) for layer in range(LAYERS) for i in range(WIDTH)]


# The same shell command on both sides, run in the package's directory.
GRAPH_BUILD = "mkdir -p dist && echo built > dist/out.txt"


def write_graph(dir: Path, npm_version: str) -> None:
    """The 100-task graph twice over the same sources: a slipway.yml whose
    jobs read `pkgs/<name>/src.txt` and store `pkgs/<name>/dist/out.txt` as
    an artifact, and an npm workspace of 100 packages whose `build` scripts
    do the same, for turbo (`dependsOn: ["^build"]`, `outputs: ["dist/**"]`)."""
    lines = ["name: bench-graph", "jobs:"]
    for layer, i in graph_tasks():
        name = graph_name(layer, i)
        pkg = dir / "pkgs" / name
        pkg.mkdir(parents=True)
        (pkg / "src.txt").write_text(f"source of {name}\n")
        manifest = {
            "name": name,
            "version": "1.0.0",
            "private": True,
            "scripts": {"build": GRAPH_BUILD},
            "dependencies": {dep: "1.0.0" for dep in graph_needs(layer, i)},
        }
        (pkg / "package.json").write_text(json.dumps(manifest, indent=2) + "\n")
        lines.append(f"  {name}:")
        needs = graph_needs(layer, i)
        if needs:
            lines.append(f"    needs: [{', '.join(needs)}]")
        lines += [
            f'    inputs: ["pkgs/{name}/src.txt"]',
            f'    artifacts: ["pkgs/{name}/dist/out.txt"]',
            "    steps:",
            f'      - run: "cd pkgs/{name} && {GRAPH_BUILD}"',
        ]
    (dir / "slipway.yml").write_text("\n".join(lines) + "\n")
    root = {
        "name": "bench-graph",
        "private": True,
        "packageManager": f"npm@{npm_version}",
        "workspaces": ["pkgs/*"],
    }
    (dir / "package.json").write_text(json.dumps(root, indent=2) + "\n")
    turbo = {
        "$schema": "https://turborepo.com/schema.json",
        "tasks": {"build": {"dependsOn": ["^build"], "inputs": ["src.txt"], "outputs": ["dist/**"]}},
    }
    (dir / "turbo.json").write_text(json.dumps(turbo, indent=2) + "\n")
    (dir / ".gitignore").write_text("node_modules/\n.turbo/\n.slipway/\ndist/\n")


def clear_graph_outputs(dir: Path) -> list[Path]:
    """Paths to remove before a cold run: every package's dist/."""
    return [dir / "pkgs" / graph_name(layer, i) / "dist" for layer, i in graph_tasks()]
