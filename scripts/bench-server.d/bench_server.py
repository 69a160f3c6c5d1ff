#!/usr/bin/env python3
"""Benchmarks of the Slipway server (issue 3, "Performance"), with real processes.

Called by scripts/bench-server, which builds the release binary first.
Standard library only. Everything runs on 127.0.0.1 in a temporary directory;
every process started is killed at the end.

1. Webhook -> first step started: `slipway server` and one `slipway agent`
   process. Each trigger commits to a local repository, then POSTs GitHub's
   real push payload (go-scm's push.json, its before/after replaced by the two
   commits, signed with the project's secret) to /hooks/github/bench. The
   pipeline's only step is `date +%s%N > STARTS/$SLIPWAY_RUN`: "first step
   started" is that clock reading, i.e. the moment the step's shell has started
   and runs its first command. Latency = that minus the harness's clock just
   before it sent the request (same machine, same CLOCK_REALTIME). Triggers go
   one after another: the next is sent once the previous run has finished and
   a pause has passed, so the agent is back in its long poll (the steady state
   of an idle agent). The first few (warm-up: the server's and the agent's first
   clone of the repository) are not counted. Targets: p50 < 50 ms, p99 < 200 ms.
2. Idle resident memory of `slipway up` on a fresh data directory: VmRSS of
   the process (server and built-in agent are one process) once the example
   run has finished and 5 s more have passed. Target < 30 MB.
3. Scale: `slipway server`, N `slipway agent` processes (own tokens, own work
   directories), M manual runs each holding a job in `sleep` on M of them,
   then a load of GET /api/v1/runs?limit=20, GET /api/v1/runs/{id} and
   GET /healthz (in turn) from C concurrent keep-alive connections for D
   seconds, by `wrk` when installed (else Python client processes, which then
   measure their own overhead too). Target: p99 < 50 ms.

A missed target is printed as MISSED and does not change the exit status; a
benchmark that could not be carried out makes it 1.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import http.client
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path.insert(0, str(HERE.parent / "bench.d"))
import bench  # noqa: E402  (scripts/bench.d/bench.py: the table printing)
from harness import (  # noqa: E402
    Api,
    BenchFailed,
    Processes,
    cpu_seconds,
    commit,
    established_connections,
    github_signature,
    make_repo,
    median,
    percentile,
    proc_status,
    progress,
    server_port,
    summary_ms,
    wait_for,
)

WEBHOOK_SECRET = "bench-s3cret"
# The SHAs in go-scm's github/push.json, replaced by the local repository's.
PUSH_BEFORE = "a10867b14bb761a232cd80139fbd4c0d33264240"
PUSH_AFTER = "199eddf46df50de8d02e99bf1c5fdb4101338224"
FINAL = {"succeeded", "failed", "cancelled"}


@dataclass
class Row:
    benchmark: str
    measured: str
    target: str
    met: bool | None  # None: information only, or could not be measured
    info: bool = False


@dataclass
class Results:
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


def conformance_push() -> str:
    base = os.environ.get("SLIPWAY_CONFORMANCE_DIR") or str(REPO.parent / "shared" / "conformance")
    path = Path(base) / "webhooks" / "go-scm" / "github" / "push.json"
    try:
        return path.read_text()
    except OSError as error:
        raise BenchFailed(f"the GitHub push payload is needed from {path} (set SLIPWAY_CONFORMANCE_DIR): {error}")


# Set by --strace: server and agents run under `strace -f -ttt` (execve, exit
# and wait4 of every process they start, with times) to see where time goes.
STRACE: list[str] = []


def traced(procs: Processes, name: str, argv: list[str]) -> list[str]:
    if not STRACE:
        return argv
    return [*STRACE, "-o", str(procs.root / "logs" / f"{name}.strace"), *argv]


def start_server(procs: Processes, slipway: str, name: str, data: Path, command: str = "server") -> tuple[Api, int]:
    """Starts `slipway server|up` on a free port; returns an admin client and
    the server's pid (under --strace: strace's, whose status is not the server's)."""
    proc = procs.start(
        name,
        traced(procs, name, [slipway, command, "--listen", "127.0.0.1:0", "--data-dir", str(data)]),
        env={"RUST_LOG": os.environ.get("RUST_LOG", "info"), "SLIPWAY_HOME": str(data)},
    )
    port = server_port(proc)
    token = wait_for("the admin token", lambda: _read(data / "admin-token"), 30, procs=[proc])
    api = Api(port, token)
    wait_for(f"{name} to answer /healthz", api.healthy, 30, procs=[proc])
    return api, proc.pid


def _read(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError:
        return ""


def start_agent(procs: Processes, slipway: str, api: Api, root: Path, index: int):
    token = api.ok("POST", "/api/v1/tokens", {"name": f"bench-agent-{index}", "kind": "agent"})["token"]
    return procs.start(
        f"agent-{index}",
        traced(procs, f"agent-{index}", [
            slipway, "agent",
            "--server", f"http://127.0.0.1:{api.port}",
            "--token", token,
            "--name", f"bench-agent-{index}",
            "--labels", "linux",
            "--work-dir", str(root / "agents" / str(index)),
        ]),
        env={"RUST_LOG": os.environ.get("RUST_LOG", "info")},
    )


def connected_agents(api: Api) -> int:
    return int(api.metrics().get("slipway_agents_connected", 0))


def wait_run(api: Api, run_id: int, timeout_s: float = 60) -> dict:
    def done():
        detail = api.ok("GET", f"/api/v1/runs/{run_id}")
        return detail if detail["run"]["status"] in FINAL else None

    return wait_for(f"run {run_id} to finish", done, timeout_s, interval_s=0.01)


def mb(kib: int) -> str:
    return f"{kib * 1024 / 1e6:.1f} MB"


# ---------------------------------------------------------------- 1. latency


@dataclass
class Trigger:
    latency_ms: float
    answered_ms: float  # the 202 received
    queued_ms: float  # the job queued (server clock, ms resolution)
    claimed_ms: float  # an agent claimed it (the job's started_ms)


def bench_latency(slipway: str, root: Path, triggers: int, warmup: int, pause_s: float, results: Results) -> None:
    work = root / "latency"
    starts = work / "starts"
    starts.mkdir(parents=True)
    pipeline = (
        "on:\n  push:\n    branches: [master]\n"
        "jobs:\n  first:\n    steps:\n"
        f"      - run: |\n          date +%s%N > '{starts}'/\"$SLIPWAY_RUN\"\n"
    )
    payload = conformance_push()
    procs = Processes(work)
    progress(f"\n[1] webhook -> first step started: {warmup} warm-up + {triggers} triggers, one remote agent (in {work})")
    try:
        api, _ = start_server(procs, slipway, "server", work / "server")
        repo = work / "repo"
        head = make_repo(repo, "master", {"slipway.yml": pipeline, "counter.txt": "0\n"})
        api.ok("POST", "/api/v1/projects", {
            "name": "bench", "repo_url": str(repo), "default_branch": "master",
            "webhook_secret": WEBHOOK_SECRET,
            "settings": {"poll_interval_secs": 0},  # webhooks only: polling must not start these runs
        })
        agent = start_agent(procs, slipway, api, work, 0)
        wait_for("the agent to connect", lambda: connected_agents(api) >= 1, 30, procs=[agent])
        hooks = Api(api.port)  # no token: the signature authenticates
        samples: list[Trigger] = []
        for i in range(warmup + triggers):
            before, head = head, commit(repo, {"counter.txt": f"{i + 1}\n"}, f"change {i + 1}")
            body = payload.replace(PUSH_BEFORE, before).replace(PUSH_AFTER, head).encode()
            headers = {
                "Content-Type": "application/json",
                "X-GitHub-Event": "push",
                "X-GitHub-Delivery": str(uuid.uuid4()),
                "X-Hub-Signature-256": github_signature(WEBHOOK_SECRET, body),
            }
            time.sleep(pause_s)
            sent_ns = time.time_ns()
            status, answer = hooks.call("POST", "/hooks/github/bench", raw=body, headers=headers)
            answered_ns = time.time_ns()
            if status != 202 or not isinstance(answer, dict) or answer.get("result") != "started" or not answer.get("runs"):
                raise BenchFailed(f"delivery {i + 1} answered {status}: {answer}")
            run_id = answer["runs"][0]
            marker = starts / str(run_id)
            started_ns = int(wait_for(f"the first step of run {run_id}", lambda: _read(marker), 30, interval_s=0.002, procs=procs.procs))
            detail = wait_run(api, run_id)
            if detail["run"]["status"] != "succeeded":
                raise BenchFailed(f"run {run_id} ended {detail['run']['status']}: {detail['run'].get('reason')}")
            job = detail["jobs"][0]
            sent_ms = sent_ns / 1e6
            sample = Trigger(
                (started_ns - sent_ns) / 1e6,
                (answered_ns - sent_ns) / 1e6,
                (job.get("queued_ms") or 0) - sent_ms,
                (job.get("started_ms") or 0) - sent_ms,
            )
            if i >= warmup:
                samples.append(sample)
            label = "warm-up" if i < warmup else f"{i - warmup + 1}/{triggers}"
            if i < warmup or (i - warmup + 1) % 20 == 0 or i - warmup + 1 == triggers:
                progress(f"    {label}: {sample.latency_ms:.1f} ms (answered {sample.answered_ms:.1f}, claimed {sample.claimed_ms:.0f}, step {sample.latency_ms:.1f})")
    finally:
        procs.stop_all()

    lat = [s.latency_ms for s in samples]
    p50, p99 = percentile(lat, 50), percentile(lat, 99)
    label = f"1. webhook → first step started, {triggers} triggers, 1 remote agent"
    results.rows.append(Row(label + ": p50", f"{p50:.1f} ms", "< 50 ms", p50 < 50))
    results.rows.append(Row("1. same: p99", f"{p99:.1f} ms", "< 200 ms", p99 < 200))
    answered = [s.answered_ms for s in samples]
    queued = [s.queued_ms for s in samples]
    claimed = [s.claimed_ms for s in samples]
    step_after_claim = [s.latency_ms - s.claimed_ms for s in samples]
    results.notes.append(f"*1*: {summary_ms(lat)}.")
    results.notes.append(
        "*1* where the time goes (medians, ms after the delivery was sent; server stamps have ms resolution): "
        f"webhook answered 202 at {median(answered):.1f} (p99 {percentile(answered, 99):.1f}: verify, fetch into the server's mirror, read the pipeline, create the run); "
        f"job queued at {median(queued):.0f}; claimed by the agent at {median(claimed):.0f} (p99 {percentile(claimed, 99):.0f}); "
        f"step started {median(step_after_claim):.1f} after the claim (p99 {percentile(step_after_claim, 99):.1f}: the agent's fetch of the commit, checkout, plan, spawn)."
    )


# ---------------------------------------------------------------- 2. idle memory


def bench_idle(slipway: str, root: Path, settle_s: float, results: Results) -> None:
    work = root / "idle"
    work.mkdir(parents=True)
    procs = Processes(work)
    progress(f"\n[2] idle resident memory of `slipway up` (fresh data directory in {work})")
    try:
        t0 = time.monotonic()
        api, pid = start_server(procs, slipway, "up", work / "data", command="up")
        at_start = proc_status(pid)
        progress(f"    answering /healthz after {time.monotonic() - t0:.2f} s: VmRSS {mb(at_start.get('VmRSS', 0))}")

        def example_done():
            status, runs = api.call("GET", "/api/v1/runs?project=hello")
            if status == 404:  # `up` has not registered the example yet
                return None
            if status != 200:
                raise BenchFailed(f"GET /api/v1/runs?project=hello answered {status}: {runs}")
            finished = [r for r in runs if r["status"] in FINAL]
            return finished[0] if finished else None

        run = wait_for("the example run to finish", example_done, 180, interval_s=0.2, procs=procs.procs)
        progress(f"    example run {run['id']} {run['status']} after {time.monotonic() - t0:.1f} s; waiting {settle_s:.0f} s")
        time.sleep(settle_s)
        idle = proc_status(pid)
        if not idle:
            raise BenchFailed("`slipway up` exited before its memory could be read")
    finally:
        procs.stop_all()
    rss = idle["VmRSS"]
    results.rows.append(Row(f"2. idle RSS of `slipway up`: example run {run['status']} + {settle_s:.0f} s", mb(rss), "< 30 MB", rss * 1024 < 30e6))
    results.rows.append(Row("2. same: right after start (/healthz answers)", mb(at_start.get("VmRSS", 0)), "(info)", None, info=True))
    results.notes.append(
        f"*2*: VmRSS {rss} kB = RssAnon {idle.get('RssAnon', 0)} + RssFile {idle.get('RssFile', 0)} + RssShmem {idle.get('RssShmem', 0)} kB; "
        f"peak VmHWM {mb(idle.get('VmHWM', 0))}; {idle.get('Threads', 0)} threads (from /proc/PID/status)."
    )


# ---------------------------------------------------------------- 3. scale


def bench_scale(slipway: str, root: Path, agents: int, runs: int, clients: int, duration_s: float, client: str, results: Results) -> None:
    work = root / "scale"
    starts = work / "starts"
    starts.mkdir(parents=True)
    hold_s = 900  # longer than the benchmark; the runs are cancelled at the end
    pipeline = (
        "on:\n  manual: {}\n"
        "jobs:\n  hold:\n    steps:\n"
        f"      - run: |\n          date +%s%N > '{starts}'/\"$SLIPWAY_RUN\"\n          sleep {hold_s}\n"
    )
    procs = Processes(work)
    progress(f"\n[3] {agents} agents, {runs} runs in progress, API load from {clients} connections for {duration_s:.0f} s with {client} (in {work})")
    try:
        api, pid = start_server(procs, slipway, "server", work / "server")
        repo = work / "repo"
        make_repo(repo, "master", {"slipway.yml": pipeline})
        api.ok("POST", "/api/v1/projects", {"name": "scale", "repo_url": str(repo), "default_branch": "master", "settings": {"poll_interval_secs": 0}})
        t0 = time.monotonic()
        for i in range(agents):
            start_agent(procs, slipway, api, work, i)
            if i % 20 == 19:
                time.sleep(0.2)  # no thundering herd of process starts on two cores
        wait_for(f"{agents} agents to connect", lambda: connected_agents(api) >= agents, 120, interval_s=0.5, procs=procs.procs)
        idle_agents = proc_status(pid)
        progress(f"    {agents} agents connected after {time.monotonic() - t0:.1f} s; server VmRSS {mb(idle_agents.get('VmRSS', 0))}")
        run_ids = [api.ok("POST", "/api/v1/projects/scale/runs", {})["id"] for _ in range(runs)]
        wait_for(f"{runs} steps to start", lambda: sum((starts / str(r)).exists() for r in run_ids) == runs, 120, interval_s=0.2, procs=procs.procs)
        metrics = api.metrics()
        running = int(metrics.get('slipway_jobs{state="running"}', 0))
        progress(f"    {runs} runs in progress ({running} jobs running); load starts")
        paths: list[str] = []
        for run_id in run_ids:
            paths += ["/api/v1/runs?limit=20", f"/api/v1/runs/{run_id}", "/healthz"]
        cpu_before = cpu_seconds(pid)
        load = run_wrk(api, paths, clients, duration_s, work) if client == "wrk" else run_python_load(api, paths, clients, duration_s)
        server_cpu = (cpu_seconds(pid) - cpu_before) / load["duration_s"]
        loaded = proc_status(pid)
        after = api.metrics()
        still_connected = int(after.get("slipway_agents_connected", 0))
        still_running = int(after.get('slipway_jobs{state="running"}', 0))
        connections = established_connections(api.port)
        for run_id in run_ids:
            api.call("POST", f"/api/v1/runs/{run_id}/cancel")
    finally:
        procs.stop_all()
    p99 = load["p99_ms"]
    results.rows.append(Row(f"3. API p99 under load: {agents} agents connected, {runs} runs in progress, {clients} connections, {client}", f"{p99:.1f} ms", "< 50 ms", p99 < 50))
    errors = load["errors"]
    results.notes.append(
        f"*3*: p50 {load['p50_ms']:.1f}, p90 {load['p90_ms']:.1f}, p99 {p99:.1f}, max {load['max_ms']:.1f} ms; "
        f"{load['requests']:,} requests in {load['duration_s']:.1f} s = {load['requests'] / load['duration_s']:.0f} requests/s"
        f"{f', {errors} errors or non-2xx answers' if errors else ', no errors'}; server CPU {server_cpu * 100:.0f} % of one core during the load. "
        f"After the load: {still_connected} agents connected and {still_running} jobs running by /metrics, {connections} TCP connections to the server. "
        f"Server VmRSS: {mb(idle_agents.get('VmRSS', 0))} with the agents idle, {mb(loaded.get('VmRSS', 0))} after the load (peak {mb(loaded.get('VmHWM', 0))})."
    )
    if client == "python":
        results.notes.append("*3*: measured by Python client processes (wrk is not installed): each latency includes the client's own overhead, and the clients compete with the server for the two cores.")


WRK_SCRIPT = """
local paths = {%(paths)s}
local counter = 0
request = function()
  counter = counter + 1
  return wrk.format("GET", paths[(counter %% #paths) + 1], {["Authorization"] = "Bearer %(token)s"})
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('BENCH_JSON {"requests": %%d, "duration_us": %%d, "p50_us": %%d, "p90_us": %%d, "p99_us": %%d, "max_us": %%d, "errors": %%d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    e.connect + e.read + e.write + e.status + e.timeout))
end
"""


def run_wrk(api: Api, paths: list[str], clients: int, duration_s: float, work: Path) -> dict:
    script = work / "mix.lua"
    script.write_text(WRK_SCRIPT % {"paths": ", ".join(json.dumps(p) for p in paths), "token": api.token})
    threads = min(2, clients)
    argv = ["wrk", f"-t{threads}", f"-c{clients}", f"-d{duration_s:.0f}s", "--timeout", "10s", "-s", str(script), f"http://127.0.0.1:{api.port}"]
    progress(f"    {shlex.join(argv)}")
    out = subprocess.run(argv, capture_output=True, text=True, timeout=duration_s + 60, check=False)
    line = next((l for l in out.stdout.splitlines() if l.startswith("BENCH_JSON ")), None)
    if out.returncode != 0 or line is None:
        raise BenchFailed(f"wrk failed ({out.returncode}): {out.stdout[-2000:]} {out.stderr[-2000:]}")
    data = json.loads(line.split(" ", 1)[1])
    return {
        "requests": data["requests"],
        "duration_s": data["duration_us"] / 1e6,
        "p50_ms": data["p50_us"] / 1e3,
        "p90_ms": data["p90_us"] / 1e3,
        "p99_ms": data["p99_us"] / 1e3,
        "max_ms": data["max_us"] / 1e3,
        "errors": data["errors"],
    }


def python_client(port: int, token: str, paths: list[str], offset: int, start_at: float, duration_s: float) -> tuple[list[float], int]:
    """One keep-alive connection sending GETs in turn until the deadline;
    returns each request's latency (ms) and the count of errors."""
    while time.time() < start_at:
        time.sleep(0.001)
    deadline = time.perf_counter() + duration_s
    latencies: list[float] = []
    errors = 0
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    headers = {"Authorization": f"Bearer {token}"}
    i = offset
    while time.perf_counter() < deadline:
        path = paths[i % len(paths)]
        i += 1
        began = time.perf_counter()
        try:
            conn.request("GET", path, headers=headers)
            response = conn.getresponse()
            response.read()
            if response.status >= 300:
                errors += 1
        except (OSError, http.client.HTTPException):
            errors += 1
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            continue
        latencies.append((time.perf_counter() - began) * 1000)
    conn.close()
    return latencies, errors


def run_python_load(api: Api, paths: list[str], clients: int, duration_s: float) -> dict:
    start_at = time.time() + 1.0  # every process started and connected first
    with concurrent.futures.ProcessPoolExecutor(max_workers=clients) as pool:
        futures = [pool.submit(python_client, api.port, api.token, paths, i * 7, start_at, duration_s) for i in range(clients)]
        parts = [f.result() for f in futures]
    latencies = [x for part, _ in parts for x in part]
    if not latencies:
        raise BenchFailed("the load clients completed no request")
    return {
        "requests": len(latencies),
        "duration_s": duration_s,
        "p50_ms": percentile(latencies, 50),
        "p90_ms": percentile(latencies, 90),
        "p99_ms": percentile(latencies, 99),
        "max_ms": max(latencies),
        "errors": sum(e for _, e in parts),
    }


# ---------------------------------------------------------------- report


def machine() -> list[tuple[str, str]]:
    info = [(k, v) for k, v in bench.machine() if k not in {"make", "slipway commit"}]

    def first_line(argv: list[str]) -> str:
        out = subprocess.run(argv, capture_output=True, text=True, check=False)
        return (out.stdout or out.stderr).strip().splitlines()[0] if (out.stdout or out.stderr).strip() else "unknown"

    commit_id = first_line(["git", "-C", str(REPO), "rev-parse", "--short=12", "HEAD"])
    dirty = subprocess.run(["git", "-C", str(REPO), "diff", "--quiet", "HEAD", "--", "crates"], check=False).returncode
    untracked = first_line(["sh", "-c", f"git -C '{REPO}' ls-files --others --exclude-standard crates | head -1"])
    modified = dirty or untracked != "unknown"
    info.append(("slipway commit", commit_id + (" (crates/ modified in the working tree)" if modified else "")))
    return info


def verdict(row: Row) -> str:
    if row.info:
        return "—"
    return {True: "met", False: "MISSED", None: "FAILED"}[row.met]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--slipway", required=True, help="the slipway binary to measure")
    parser.add_argument("--quick", action="store_true", help="small counts for a smoke run (~1 min)")
    parser.add_argument("--only", default="1,2,3", help="which benchmarks, e.g. 1,3 (default all)")
    parser.add_argument("--triggers", type=int, help="1: measured webhook deliveries (default 200; quick 20)")
    parser.add_argument("--warmup", type=int, help="1: deliveries not counted first (default 5; quick 2)")
    parser.add_argument("--pause", type=float, default=0.05, help="1: seconds between a run's end and the next delivery (default 0.05)")
    parser.add_argument("--settle", type=float, default=5.0, help="2: seconds idle after the example run (default 5)")
    parser.add_argument("--agents", type=int, help="3: agent processes (default 200; quick 20)")
    parser.add_argument("--runs", type=int, help="3: runs in progress (default 50; quick 5)")
    parser.add_argument("--clients", type=int, default=8, help="3: concurrent connections of the load (default 8)")
    parser.add_argument("--duration", type=float, help="3: seconds of load (default 20; quick 5)")
    parser.add_argument("--client", choices=["auto", "wrk", "python"], default="auto", help="3: load generator (default: wrk when installed)")
    parser.add_argument("--strace", action="store_true", help="run server and agents under `strace -f -ttt` into the logs (implies --keep; for finding where time goes, not for figures)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (logs of every process)")
    args = parser.parse_args()
    quick = args.quick
    triggers = args.triggers or (20 if quick else 200)
    warmup = args.warmup if args.warmup is not None else (2 if quick else 5)
    agents = args.agents or (20 if quick else 200)
    runs = args.runs or (5 if quick else 50)
    duration = args.duration or (5.0 if quick else 20.0)
    if min(triggers, agents, runs, args.clients, duration) <= 0 or warmup < 0 or runs > agents:
        parser.error("counts must be positive, and --runs at most --agents")
    chosen = {p.strip() for p in args.only.split(",") if p.strip()}
    if not chosen <= {"1", "2", "3"}:
        parser.error("--only takes a list of 1, 2 and 3")
    client = args.client
    if client == "auto":
        client = "wrk" if shutil.which("wrk") else "python"
    elif client == "wrk" and not shutil.which("wrk"):
        parser.error("wrk is not installed (Debian package `wrk`)")
    slipway = str(Path(args.slipway).resolve())
    if not os.access(slipway, os.X_OK):
        parser.error(f"{slipway} is not an executable (did the build fail?)")
    if shutil.which("git") is None:
        parser.error("git is needed")

    if args.strace:
        if shutil.which("strace") is None:
            parser.error("--strace needs strace")
        STRACE.extend(["strace", "-f", "--seccomp-bpf", "-ttt", "-e", "trace=execve,exit_group,wait4"])
        args.keep = True
    # SIGTERM (and Ctrl-C) end the benchmark through the cleanup below.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    command = os.environ.get("BENCH_INVOCATION") or "scripts/bench-server " + shlex.join(sys.argv[1:])
    info = machine()
    progress(f"bench-server: {command}")
    results = Results()
    root = Path(tempfile.mkdtemp(prefix="slipway-bench-server-"))
    started = time.perf_counter()
    benchmarks = [
        ("1", lambda: bench_latency(slipway, root, triggers, warmup, args.pause, results)),
        ("2", lambda: bench_idle(slipway, root, args.settle, results)),
        ("3", lambda: bench_scale(slipway, root, agents, runs, args.clients, duration, client, results)),
    ]
    try:
        for number, run in benchmarks:
            if number in chosen:
                try:
                    run()
                except BenchFailed as failure:
                    progress(f"bench-server: FAILED: {failure}")
                    results.failures.append(f"benchmark {number}: {failure}")
                    results.rows.append(Row(f"{number}. (see FAILED below)", "—", "—", None))
    finally:
        if args.keep:
            progress(f"bench-server: logs and data kept in {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    progress(f"\nbench-server: done in {time.perf_counter() - started:.0f} s")
    headers = ["benchmark", "measured", "target", "result"]
    table = [[r.benchmark, r.measured, r.target, verdict(r)] for r in results.rows]
    bench.print_tables(command, info, headers, table, results.notes, results.failures)
    return 1 if results.failures else 0


if __name__ == "__main__":
    sys.exit(main())
