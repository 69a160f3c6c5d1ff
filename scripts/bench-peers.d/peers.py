#!/usr/bin/env python3
"""Side-by-side benchmarks of `slipway run` against peer tools (issue 8).

Called by scripts/bench-peers, which builds the release binary first. Python
3.11 standard library only; the measuring helpers are scripts/bench.d/bench.py's.

1. a 50-job chain (each job needs the one before) of `true` jobs:
   against gitlab-ci-local (shell executor) and Buildbot;
2. a 50-job fan-out (one root job, 49 jobs that each need only the root):
   against gitlab-ci-local and Buildbot;
3. a 100-task graph (10 layers of 10, each task needing two of the layer
   before), cold and then fully cached: against turbo;
4. 1,000 independent `true` jobs: against `make -j2`;
5. a rolling update of 10 hosts in batches of 2 over SSH against Ansible
   `serial: 2`: the measurement of `scripts/bench-deploy --connection ssh`
   (scripts/bench-deploy.d/deploy_bench.py's `measure`, called here; it
   installs ansible-core into its own temporary virtualenv and needs haproxy,
   sshd and ssh, which scripts/test installs).

Peers are installed into a temporary directory (removed at the end). Each
round runs every side of a benchmark back to back, rotating which goes first.
Medians are reported, with ratio = Slipway's median / the peer's median. If a
peer cannot be installed or run, the other rows are still measured and
printed, and the script exits 2 naming the peer; a failing Slipway run exits 1.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shlex
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "bench.d"))
sys.path.insert(0, str(HERE.parent / "bench-deploy.d"))

import bench  # noqa: E402  (scripts/bench.d/bench.py: one implementation of the measuring helpers)
import buildbot_peer  # noqa: E402
import deploy_bench  # noqa: E402  (scripts/bench-deploy.d: row 5 is bench-deploy's measurement)
import tools  # noqa: E402
import workloads  # noqa: E402
from tools import BUILDBOT, GITLAB_CI_LOCAL, MAKE, TURBO, PeerUnavailable  # noqa: E402

TRIVIAL_JOBS = 50
WIDE_JOBS = 1000
ANSIBLE = "Ansible"


@dataclass
class Row:
    benchmark: str
    peer: str
    slipway: list[float]
    theirs: list[float]
    note: str = ""

    def ratio(self) -> float:
        return bench.median(self.slipway) / bench.median(self.theirs)


@dataclass
class Results:
    rows: list[Row] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    failed_peers: list[str] = field(default_factory=list)
    slipway_failed: bool = False
    notes: list[str] = field(default_factory=list)

    def peer_failed(self, failure: PeerUnavailable) -> None:
        bench.progress(f"bench-peers: FAILED: {failure}")
        self.failures.append(str(failure))
        if failure.peer not in self.failed_peers:
            self.failed_peers.append(failure.peer)


Side = Callable[[], float]


def interleave(title: str, rounds: int, sides: dict[str, Side], results: Results) -> dict[str, list[float]]:
    """Runs every side once a round, rotating which goes first. A peer side
    that raises PeerUnavailable is dropped (and recorded); a Slipway failure
    (bench.RunFailed) propagates."""
    samples: dict[str, list[float]] = {name: [] for name in sides}
    names = list(sides)
    for r in range(rounds):
        order = names[r % len(names) :] + names[: r % len(names)]
        for name in order:
            if name not in sides:
                continue
            try:
                samples[name].append(sides[name]())
            except PeerUnavailable as failure:
                results.peer_failed(failure)
                del sides[name]
        shown = ", ".join(f"{name} {samples[name][-1]:.3f} s" for name in names if name in sides and samples[name])
        bench.progress(f"    {title} round {r + 1}/{rounds}: {shown}")
    return samples


def peer_side(peer: str, run: Callable[[], float]) -> Side:
    """A side whose failures name the peer."""

    def side() -> float:
        try:
            return run()
        except (bench.RunFailed, buildbot_peer.BuildbotFailed) as error:
            raise PeerUnavailable(peer, str(error)) from error

    return side


def git_commit_all(dir: Path, env: dict[str, str], peer: str) -> None:
    tools.run_tool(peer, ["git", "init", "-q", "-b", "main", str(dir)], env)
    tools.run_tool(peer, ["git", "-C", str(dir), "add", "-A"], env)
    tools.run_tool(peer, ["git", "-C", str(dir), "commit", "-q", "-m", "bench workload"], env)


# ---------------------------------------------------------------- benchmarks


def bench_trivial(ctx: Context, shape: str, number: str) -> None:
    """Benchmarks 1 and 2: 50 trivial jobs as a chain or a fan-out."""
    dir = ctx.root / shape
    dir.mkdir()
    workloads.write_trivial_slipway(dir, shape, TRIVIAL_JOBS)
    workloads.write_trivial_gitlab(dir, shape, TRIVIAL_JOBS)
    title = f"{number}. {TRIVIAL_JOBS}-job {'chain' if shape == workloads.CHAIN else 'fan-out'}"
    slipway_cmd = [ctx.slipway, "run", "--file", str(dir), "-j", "2"]
    bench.progress(f"\n[{title}] `{shlex.join(slipway_cmd)}` (in {dir})")

    def slipway() -> float:
        bench.remove(dir / ".slipway")  # a fresh store each round, not timed
        return bench.run_measured(slipway_cmd, dir, f"slipway run ({shape})").seconds

    sides: dict[str, Side] = {"slipway": slipway}
    with contextlib.ExitStack() as stack:  # Buildbot, if started, stops on leaving
        if ctx.usable(GITLAB_CI_LOCAL):
            env = tools.gitlab_env(ctx.peers)
            try:
                git_commit_all(dir, env, GITLAB_CI_LOCAL)
            except PeerUnavailable as failure:
                ctx.results.peer_failed(failure)
            else:
                gcl_cmd = [str(ctx.peers.npm_bin / "gitlab-ci-local"), "--concurrency", "2"]  # in dir
                bench.progress(f"    vs `{shlex.join(gcl_cmd)}`")
                sides[GITLAB_CI_LOCAL] = peer_side(
                    GITLAB_CI_LOCAL, lambda: bench.run_measured(gcl_cmd, dir, "gitlab-ci-local", env=env).seconds
                )
        if ctx.usable(BUILDBOT):
            bench.progress("    starting a Buildbot master and worker on 127.0.0.1 (not timed)")
            try:
                bot = stack.enter_context(
                    buildbot_peer.Buildbot(ctx.peers.venv_bin, ctx.root / f"buildbot-{shape}", shape, TRIVIAL_JOBS, ctx.peers.env)
                )
            except buildbot_peer.BuildbotFailed as error:
                ctx.results.peer_failed(PeerUnavailable(BUILDBOT, str(error)))
            else:
                bench.progress(f"    vs Buildbot: force `{bot.force_builder}` over REST, poll its buildset every {buildbot_peer.POLL_S * 1000:.0f} ms")
                sides[BUILDBOT] = peer_side(BUILDBOT, bot.build)
        samples = interleave(title, ctx.rounds, sides, ctx.results)
        if BUILDBOT in sides:
            expected = TRIVIAL_JOBS * len(samples[BUILDBOT])
            ran = peer_side(BUILDBOT, bot.steps_run)()
            if ran != expected:
                ctx.results.peer_failed(PeerUnavailable(BUILDBOT, f"expected {expected} successful steps, found {ran}"))
                del sides[BUILDBOT]
    for peer in (GITLAB_CI_LOCAL, BUILDBOT):
        if peer in sides and samples[peer]:
            ctx.results.rows.append(Row(title, peer, samples["slipway"], samples[peer]))


TURBO_CACHED = re.compile(r"Cached:\s+(\d+) cached, (\d+) total")


def turbo_cache_count(output: Path) -> tuple[int, int]:
    text = output.read_text(errors="replace")
    found = TURBO_CACHED.findall(text)
    if not found:
        raise PeerUnavailable(TURBO, f"no `Cached: N cached, M total` line in its output:\n{text[-1500:]}")
    cached, total = found[-1]
    return int(cached), int(total)


def bench_graph(ctx: Context, number: str) -> None:
    """Benchmark 3: the 100-task graph cold, then fully cached, vs turbo."""
    dir = ctx.root / "graph"
    dir.mkdir()
    tasks = workloads.LAYERS * workloads.WIDTH
    title = f"{number}. {tasks}-task graph"
    if not ctx.usable(TURBO):
        return
    env = ctx.peers.env
    workloads.write_graph(dir, tools.npm_version(ctx.peers))
    # Links the workspace packages and writes package-lock.json; no registry
    # traffic, the packages only depend on each other.
    tools.run_tool(TURBO, ["npm", "install", "--offline", "--no-audit", "--no-fund"], env, cwd=dir)
    git_commit_all(dir, env, TURBO)
    events = ctx.root / "graph-events.jsonl"
    turbo_out = ctx.root / "graph-turbo.txt"
    slipway_cmd = [ctx.slipway, "run", "--file", str(dir), "-j", "2", "--json"]
    turbo_cmd = [str(ctx.peers.npm_bin / "turbo"), "run", "build", "--concurrency=2", "--ui=stream"]
    bench.progress(f"\n[{title}] `{shlex.join(slipway_cmd)}` vs `{shlex.join(turbo_cmd)}` (in {dir})")
    samples: dict[str, list[float]] = {"slipway cold": [], "slipway cached": [], "turbo cold": [], "turbo cached": []}

    def slipway_pair() -> None:
        for path in [dir / ".slipway", *workloads.clear_graph_outputs(dir)]:
            bench.remove(path)
        samples["slipway cold"].append(bench.run_measured(slipway_cmd, dir, "slipway run (graph, cold)", stdout_path=events).seconds)
        samples["slipway cached"].append(bench.run_measured(slipway_cmd, dir, "slipway run (graph, cached)", stdout_path=events).seconds)
        bench.count_cache_hits(events, tasks)

    def turbo_run(label: str, want_cached: int) -> float:
        try:
            seconds = bench.run_measured(turbo_cmd, dir, label, stdout_path=turbo_out, env=env).seconds
        except bench.RunFailed as error:
            raise PeerUnavailable(TURBO, str(error)) from error
        cached, total = turbo_cache_count(turbo_out)
        if (cached, total) != (want_cached, tasks):
            raise PeerUnavailable(TURBO, f"{label}: {cached} cached of {total}, expected {want_cached} of {tasks}")
        return seconds

    def turbo_pair() -> None:
        for path in [dir / ".turbo", dir / "node_modules" / ".cache" / "turbo", *workloads.clear_graph_outputs(dir)]:
            bench.remove(path)
        samples["turbo cold"].append(turbo_run("turbo (cold)", 0))
        samples["turbo cached"].append(turbo_run("turbo (cached)", tasks))

    for r in range(ctx.rounds):
        for pair in [slipway_pair, turbo_pair] if r % 2 == 0 else [turbo_pair, slipway_pair]:
            try:
                pair()
            except PeerUnavailable as failure:
                ctx.results.peer_failed(failure)
                return
        bench.progress(
            f"    round {r + 1}/{ctx.rounds}: cold slipway {samples['slipway cold'][-1]:.3f} s, turbo {samples['turbo cold'][-1]:.3f} s; "
            f"cached slipway {samples['slipway cached'][-1]:.3f} s ({tasks} hits), turbo {samples['turbo cached'][-1]:.3f} s ({tasks} cached)"
        )
    ctx.results.rows.append(Row(f"{title}, cold", TURBO, samples["slipway cold"], samples["turbo cold"]))
    ctx.results.rows.append(
        Row(
            f"{title}, fully cached",
            TURBO,
            samples["slipway cached"],
            samples["turbo cached"],
            f"every cached round checked: {tasks} hits in Slipway's `--json`, `{tasks} cached, {tasks} total` in turbo's output",
        )
    )


def bench_wide(ctx: Context, number: str) -> None:
    """Benchmark 4: 1,000 independent trivial jobs vs make -j2 (bench.py's workload)."""
    if not ctx.usable(MAKE):
        return
    dir = ctx.root / "wide"
    bench.write_wide(dir, WIDE_JOBS)
    title = f"{number}. {WIDE_JOBS:,} trivial jobs"
    slipway_cmd = [ctx.slipway, "run", "--file", str(dir), "-j", "2"]
    make_cmd = ["make", "-j2"]
    bench.progress(f"\n[{title}] `{shlex.join(slipway_cmd)}` vs `{shlex.join(make_cmd)}` (in {dir})")

    def slipway() -> float:
        bench.remove(dir / ".slipway")
        return bench.run_measured(slipway_cmd, dir, "slipway run (wide)").seconds

    sides: dict[str, Side] = {
        "slipway": slipway,
        MAKE: peer_side(MAKE, lambda: bench.run_measured(make_cmd, dir, "make -j2").seconds),
    }
    samples = interleave(title, ctx.rounds, sides, ctx.results)
    if MAKE in sides:
        ctx.results.rows.append(Row(title, "`make -j2`", samples["slipway"], samples[MAKE]))


def bench_rolling(ctx: Context, number: str) -> None:
    """Benchmark 5: a rolling update of 10 ssh hosts in batches of 2 vs Ansible
    `serial: 2`: scripts/bench-deploy's measurement over ssh, not a second
    implementation. Slipway's sample is the whole `slipway run` (build job +
    deploy job), Ansible's the whole `ansible-playbook`."""
    title = f"{number}. rolling update, {deploy_bench.TARGETS} hosts over SSH, batches of {deploy_bench.BATCH}"
    bench.progress(f"\n[{title}] scripts/bench-deploy --connection ssh --rounds {ctx.rounds} (its measurement, run from here)")
    try:
        m = deploy_bench.measure(ctx.slipway, ctx.rounds, "ssh", keep=ctx.keep, label="    bench-deploy")
    except deploy_bench.Unavailable as failure:
        reason = str(failure)
        peer = ANSIBLE if reason.lower().startswith("ansible") else reason.split(":", 1)[0]
        raise PeerUnavailable(peer, reason) from failure
    ctx.peers.versions[ANSIBLE] = m.ansible_version
    per_target_ms = bench.median(m.job) / deploy_bench.TARGETS * 1000
    ctx.results.rows.append(
        Row(
            title,
            f"Ansible `serial: {deploy_bench.BATCH}`",
            m.whole,
            m.ansible,
            f"Slipway's deploy job alone: {bench.median(m.job):.3f} s, {per_target_ms:.1f} ms a target; "
            "every round checked: 10 targets serving one digest, 10 service processes, every HAProxy server ready",
        )
    )


# ---------------------------------------------------------------- driver


@dataclass
class Context:
    slipway: str
    root: Path
    rounds: int
    peers: tools.Peers
    results: Results
    keep: bool = False

    def usable(self, peer: str) -> bool:
        """Installs the peer on first use; False (and recorded) if it cannot be."""
        if peer in self.results.failed_peers:
            return False
        if peer not in self.peers.versions:
            where = "on this machine" if peer == MAKE else f"into {self.peers.root}"
            bench.progress(f"bench-peers: installing {peer} {where}" if peer != MAKE else f"bench-peers: looking for {peer} {where}")
            started = time.perf_counter()
            try:
                tools.INSTALLERS[peer](self.peers)
            except PeerUnavailable as failure:
                self.results.peer_failed(failure)
                return False
            bench.progress(f"bench-peers: {self.peers.versions[peer]} ({time.perf_counter() - started:.0f} s)")
        return True


BENCHMARKS = {
    "1": ("50-job chain vs gitlab-ci-local and Buildbot", lambda ctx: bench_trivial(ctx, workloads.CHAIN, "1")),
    "2": ("50-job fan-out vs gitlab-ci-local and Buildbot", lambda ctx: bench_trivial(ctx, workloads.FANOUT, "2")),
    "3": ("100-task graph, cold and cached, vs turbo", lambda ctx: bench_graph(ctx, "3")),
    "4": ("1,000 trivial jobs vs make -j2", lambda ctx: bench_wide(ctx, "4")),
    "5": ("rolling update of 10 hosts over SSH, batches of 2, vs Ansible serial: 2", lambda ctx: bench_rolling(ctx, "5")),
}


def ratio_label(ratio: float) -> str:
    """Two decimals, or three significant digits for a ratio under 0.1 (0.00× says nothing)."""
    return f"{ratio:.2f}×" if ratio >= 0.1 else f"{ratio:.2g}×"


def spread(samples: list[float]) -> str:
    return bench.spread(samples, 1, "s", 3)


def print_report(command: str, info: list[tuple[str, str]], peers: tools.Peers, results: Results) -> None:
    headers = ["benchmark", "peer", "Slipway (median, min–max)", "peer (median, min–max)", "ratio Slipway/peer"]
    table = [[r.benchmark, r.peer, spread(r.slipway), spread(r.theirs), ratio_label(r.ratio())] for r in results.rows]
    versions = [(peer, version) for peer, version in peers.versions.items()]
    notes = [f"*{r.benchmark}*: {r.note}" for r in results.rows if r.note]
    extra = [v for v in versions if v not in info]
    bench.print_tables(command, info + extra, headers, table, notes, list(results.failures))


def main() -> int:
    listing = "\n".join(f"  {n}. {title}" for n, (title, _) in BENCHMARKS.items())
    parser = argparse.ArgumentParser(
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=f"benchmarks for --only:\n{listing}",
    )
    parser.add_argument("--slipway", required=True, help="the slipway binary to measure")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds of each benchmark (default 3)")
    parser.add_argument("--only", default=",".join(BENCHMARKS), help="which benchmarks, e.g. 1,4 or 5 (default all)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (peers and workloads)")
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error("--rounds must be positive")
    chosen = {part.strip() for part in args.only.split(",") if part.strip()}
    if not chosen <= set(BENCHMARKS):
        parser.error(f"--only takes a list of {', '.join(BENCHMARKS)}")
    slipway = str(Path(args.slipway).resolve())
    if not os.access(slipway, os.X_OK):
        parser.error(f"{slipway} is not an executable (did the build fail?)")
    for tool in ["git", "bash", "true"]:
        if shutil.which(tool) is None:
            parser.error(f"`{tool}` is not installed; the workloads need it")

    command = os.environ.get("BENCH_INVOCATION") or "scripts/bench-peers " + shlex.join(sys.argv[1:])
    info = bench.machine()
    bench.progress(f"bench-peers: {command}")
    root = Path(tempfile.mkdtemp(prefix="slipway-bench-peers-"))
    peers = tools.Peers(root=root, env=tools.base_env(root), versions={})
    results = Results()
    ctx = Context(slipway, root, args.rounds, peers, results, keep=args.keep)
    started = time.perf_counter()
    try:
        for number, (_, run) in BENCHMARKS.items():
            if number in chosen:
                try:
                    run(ctx)
                except bench.RunFailed as failure:
                    bench.progress(f"bench-peers: FAILED (Slipway): {failure}")
                    results.failures.append(f"slipway: {failure}")
                    results.slipway_failed = True
                except PeerUnavailable as failure:
                    results.peer_failed(failure)
    finally:
        if args.keep:
            bench.progress(f"bench-peers: peers and workloads kept in {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    bench.progress(f"\nbench-peers: done in {time.perf_counter() - started:.0f} s")
    print_report(command, info, peers, results)
    if results.failed_peers:
        print(f"bench-peers: could not install or run: {', '.join(results.failed_peers)}", file=sys.stderr)
        return 2
    return 1 if results.slipway_failed else 0


if __name__ == "__main__":
    sys.exit(main())
