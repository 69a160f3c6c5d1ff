#!/usr/bin/env python3
"""Benchmarks of `slipway run` against reference tools, measured interleaved.

Called by scripts/bench, which builds the release binary first. Standard
library only. Three benchmarks (targets from issue 2, "Performance"):

1. N trivial jobs in a wide DAG, state and logs stored, -j 2, against
   `make -j2` on a Makefile of N phony recipes running `true`. Target <= 1.5x.
2. The same N jobs each declaring `inputs:`, run again with every job a cache
   hit. Target <= 100 ms for the whole run (absolute); reference: a no-op
   `make -j2` over N file targets that are all up to date.
3. One step printing 1 GiB of log lines, slipway's stdout to /dev/null, against
   the same producer piped through `cat` into a file. Target: time ratio
   <= 2.0 (throughput at least half of cat's) and peak RSS < 50 MB.

Each round runs slipway and the reference back to back, alternating which
goes first, so that load from other processes hits both alike. Medians are
reported. A failed run (non-zero exit) makes the script exit 1; a missed
target does not, it is printed as MISSED.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

LOG_LINE = "a line of log text that is about eighty characters long, like a real build log line"
GIB = 1 << 30
# A measured command that takes longer than this has hung; it is killed.
COMMAND_TIMEOUT_S = 300
STDERR_TAIL_BYTES = 4000
TIME_BINARY = "/usr/bin/time" if os.access("/usr/bin/time", os.X_OK) else None


class RunFailed(Exception):
    """A measured (or preparatory) command failed; the benchmark is void."""


@dataclass
class Sample:
    seconds: float
    max_rss_kib: int


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run_measured(
    argv: list[str],
    cwd: Path,
    label: str,
    stdout_path: Path | None = None,
    peak_rss: bool = False,
    env: dict[str, str] | None = None,
) -> Sample:
    """Runs argv once; returns its wall time and, with peak_rss, the peak
    resident memory of it and its descendants. Raises RunFailed on a non-zero
    exit.

    The peak is not this process's wait4 rusage: a child forked from Python
    carries the interpreter's high-water mark across exec (Linux folds the old
    mm's hiwater into the process's maxrss), so it would read 20 MB for a 5 MB
    program. /usr/bin/time forks from a small process; without it, VmHWM of
    the child (per address space, fresh after exec) is polled. env replaces
    the environment (None: inherit this process's)."""
    rss_file = None
    if peak_rss and TIME_BINARY:
        rss_file = tempfile.NamedTemporaryFile(prefix="slipway-bench-rss-", delete=False)
        rss_file.close()
        argv = [TIME_BINARY, "-o", rss_file.name, "-f", "%M", *argv]
    with tempfile.TemporaryFile() as errors:
        stdout = open(stdout_path, "wb") if stdout_path else subprocess.DEVNULL
        try:
            start = time.perf_counter()
            proc = subprocess.Popen(
                argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=stdout, stderr=errors
            )
            timer = threading.Timer(COMMAND_TIMEOUT_S, _terminate, (proc.pid,))
            timer.start()
            poller = HighWaterPoller(proc.pid) if peak_rss and not rss_file else None
            try:
                _, status, _ = os.wait4(proc.pid, 0)
            finally:
                timer.cancel()
            elapsed = time.perf_counter() - start
        finally:
            if stdout_path:
                stdout.close()
        peak_kib = 0
        if poller:
            peak_kib = poller.stop()
        elif rss_file:
            try:
                peak_kib = int(Path(rss_file.name).read_text().split()[-1])
            except (OSError, ValueError, IndexError):
                peak_kib = 0
            os.unlink(rss_file.name)
        code = os.waitstatus_to_exitcode(status)
        proc.returncode = code  # reaped here; keep Popen from waiting again
        if code != 0:
            errors.seek(0, os.SEEK_END)
            size = errors.tell()
            errors.seek(max(0, size - STDERR_TAIL_BYTES))
            tail = errors.read().decode("utf-8", "replace")
            raise RunFailed(f"{label}: `{shlex.join(argv)}` in {cwd} exited with {code}; end of its stderr:\n{tail}")
        return Sample(elapsed, peak_kib)


class HighWaterPoller:
    """Polls VmHWM of a process until stopped; the last value seen is a lower
    bound of its peak (a spike in the final milliseconds may be missed)."""

    def __init__(self, pid: int) -> None:
        self._path = f"/proc/{pid}/status"
        self._peak = 0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()

    def _poll(self) -> None:
        while not self._done.is_set():
            try:
                for line in Path(self._path).read_text().splitlines():
                    if line.startswith("VmHWM:"):
                        self._peak = max(self._peak, int(line.split()[1]))
            except (OSError, ValueError, IndexError):
                pass
            self._done.wait(0.005)

    def stop(self) -> int:
        self._done.set()
        self._thread.join()
        return self._peak


def _terminate(pid: int) -> None:
    progress(f"bench: pid {pid} ran longer than {COMMAND_TIMEOUT_S} s; sending SIGTERM")
    try:
        os.kill(pid, signal.SIGTERM)
        time.sleep(5)
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


# ---------------------------------------------------------------- workloads


def job_name(i: int) -> str:
    return f"j{i:04d}"


def write_wide(dir: Path, jobs: int) -> None:
    """Benchmark 1: N independent `true` jobs, and the equivalent Makefile."""
    dir.mkdir(parents=True)
    lines = ["name: bench-wide", "jobs:"]
    for i in range(jobs):
        lines += [f"  {job_name(i)}:", "    steps:", '      - run: "true"']
    (dir / "slipway.yml").write_text("\n".join(lines) + "\n")
    targets = [f"t{i:04d}" for i in range(jobs)]
    make = [f".PHONY: all {' '.join(targets)}", f"all: {' '.join(targets)}"]
    for target in targets:
        make += [f"{target}:", "\ttrue"]
    (dir / "Makefile").write_text("\n".join(make) + "\n")


def write_cached(dir: Path, jobs: int) -> None:
    """Benchmark 2: N jobs each with one input file; a Makefile of N file
    targets, each depending on the same input file."""
    (dir / "src").mkdir(parents=True)
    (dir / "out").mkdir()
    for i in range(jobs):
        (dir / "src" / f"f{i:04d}.txt").write_text(f"input {i}\n")
    lines = ["name: bench-cached", "jobs:"]
    for i in range(jobs):
        lines += [
            f"  {job_name(i)}:",
            f'    inputs: ["src/f{i:04d}.txt"]',
            "    steps:",
            '      - run: "true"',
        ]
    (dir / "slipway.yml").write_text("\n".join(lines) + "\n")
    # Explicit rules and no built-in ones: otherwise make spends its time
    # looking for ways to remake src/*.txt (RCS, SCCS, ...), not comparing times.
    stamps = [f"out/f{i:04d}.stamp" for i in range(jobs)]
    make = ["MAKEFLAGS += --no-builtin-rules", ".SUFFIXES:", ".PHONY: all", f"all: {' '.join(stamps)}"]
    for i, stamp in enumerate(stamps):
        make += [f"{stamp}: src/f{i:04d}.txt", "\ttouch $@"]
    (dir / "Makefile").write_text("\n".join(make) + "\n")


def write_log(dir: Path, log_bytes: int) -> str:
    """Benchmark 3: one step printing log_bytes of lines. Returns the shell
    pipeline that produces them, shared with the reference."""
    dir.mkdir(parents=True)
    producer = f"yes '{LOG_LINE}' | head -c {log_bytes}"
    lines = ["name: bench-log", "jobs:", "  log:", "    steps:", f'      - run: "{producer}"']
    (dir / "slipway.yml").write_text("\n".join(lines) + "\n")
    return producer


# ---------------------------------------------------------------- results


@dataclass
class Row:
    """One line of the results table."""

    benchmark: str
    slipway: str
    reference: str
    ratio: str
    target: str
    met: bool | None  # None: the benchmark failed to run
    note: str = ""


@dataclass
class Results:
    rows: list[Row] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def median(samples: list[float]) -> float:
    return statistics.median(samples)


def spread(samples: list[float], scale: float, unit: str, digits: int) -> str:
    return f"{median(samples) * scale:.{digits}f} {unit} ({min(samples) * scale:.{digits}f}–{max(samples) * scale:.{digits}f})"


def size_label(size: int) -> str:
    return f"{size // GIB} GiB" if size % GIB == 0 else f"{size:,} bytes"


def verdict(met: bool | None) -> str:
    return {True: "met", False: "MISSED", None: "FAILED"}[met]


# ---------------------------------------------------------------- benchmarks


def bench_wide(slipway: str, root: Path, jobs: int, rounds: int, results: Results) -> None:
    dir = root / "wide"
    write_wide(dir, jobs)
    slipway_cmd = [slipway, "run", "--file", str(dir), "-j", "2"]
    make_cmd = ["make", "-j2"]
    progress(f"\n[1] {jobs} trivial jobs, wide DAG: `{shlex.join(slipway_cmd)}` vs `{shlex.join(make_cmd)}` (in {dir})")
    ours: list[float] = []
    theirs: list[float] = []
    for r in range(rounds):
        order = ["slipway", "make"] if r % 2 == 0 else ["make", "slipway"]
        for who in order:
            if who == "slipway":
                remove(dir / ".slipway")  # a fresh store each round, not timed
                ours.append(run_measured(slipway_cmd, dir, "slipway run (wide)").seconds)
            else:
                theirs.append(run_measured(make_cmd, dir, "make -j2 (wide)").seconds)
        progress(f"    round {r + 1}/{rounds}: slipway {ours[-1]:.3f} s, make {theirs[-1]:.3f} s")
    ratio = median(ours) / median(theirs)
    results.rows.append(
        Row(
            f"1. {jobs:,} trivial jobs, wide, stored, -j 2",
            spread(ours, 1, "s", 3),
            spread(theirs, 1, "s", 3) + " `make -j2`",
            f"{ratio:.2f}×",
            "≤ 1.50× make",
            ratio <= 1.5,
            f"{median(ours) / jobs * 1000:.2f} ms a job against make's {median(theirs) / jobs * 1000:.2f} ms a recipe; "
            f"ratio of the fastest runs {min(ours) / min(theirs):.2f}×",
        )
    )
    remove(dir)


def count_cache_hits(json_lines: Path, jobs: int) -> None:
    """Raises RunFailed unless every one of the N jobs finished as a cache hit."""
    hits: set[str] = set()
    others: list[str] = []
    with open(json_lines, encoding="utf-8", errors="replace") as lines:
        for line in lines:
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                continue
            if not isinstance(event, dict) or event.get("event") != "job_finished":
                continue
            job = json.dumps(event.get("job"), sort_keys=True)
            cache = event.get("cache")
            if isinstance(cache, dict) and cache.get("status") == "hit" and event.get("result") == "success":
                hits.add(job)
            else:
                others.append(f"{job}: result {event.get('result')!r}, cache {json.dumps(cache)}")
    if len(hits) != jobs or others:
        shown = "\n    ".join(others[:5])
        raise RunFailed(
            f"cached run: expected {jobs} job_finished events with cache status hit, "
            f"found {len(hits)} hits and {len(others)} other finished jobs (first: \n    {shown})"
        )


def bench_cached(slipway: str, root: Path, jobs: int, rounds: int, results: Results) -> None:
    dir = root / "cached"
    write_cached(dir, jobs)
    fill_cmd = [slipway, "run", "--file", str(dir), "-j", "2"]
    slipway_cmd = fill_cmd + ["--json"]
    make_cmd = ["make", "-j2"]
    progress(f"\n[2] {jobs} cache hits: `{shlex.join(slipway_cmd)}` vs no-op `{shlex.join(make_cmd)}` (in {dir})")
    fill = run_measured(fill_cmd, dir, "slipway run (filling the cache)")
    make_fill = run_measured(make_cmd, dir, "make -j2 (building the stamps)")
    progress(f"    filled the cache in {fill.seconds:.3f} s (make built its stamps in {make_fill.seconds:.3f} s); not counted")
    events = root / "cached-events.jsonl"
    ours: list[float] = []
    theirs: list[float] = []
    for r in range(rounds):
        order = ["slipway", "make"] if r % 2 == 0 else ["make", "slipway"]
        for who in order:
            if who == "slipway":
                ours.append(run_measured(slipway_cmd, dir, "slipway run (cached)", stdout_path=events).seconds)
                count_cache_hits(events, jobs)
            else:
                theirs.append(run_measured(make_cmd, dir, "make -j2 (no-op)").seconds)
        progress(f"    round {r + 1}/{rounds}: slipway {ours[-1] * 1000:.1f} ms (all {jobs} hits), make {theirs[-1] * 1000:.1f} ms")
    # The reference must really have been a no-op: `make -q` says all is up to date.
    if subprocess.run(["make", "-q"], cwd=dir, check=False, stdout=subprocess.DEVNULL).returncode != 0:
        results.notes.append("warning: `make -q` says the reference's targets were not up to date")
    best = median(ours)
    results.rows.append(
        Row(
            f"2. {jobs:,} jobs with `inputs:`, all cache hits",
            spread(ours, 1000, "ms", 1),
            spread(theirs, 1000, "ms", 1) + " no-op `make -j2`",
            f"{best / median(theirs):.1f}× (info)",
            "≤ 100 ms",
            best <= 0.100,
            f"{best / jobs * 1e6:.0f} µs a cached job; verified {jobs} hits from `--json` in every round",
        )
    )
    remove(dir)


def largest_file(dir: Path) -> tuple[int, str]:
    best = (0, "")
    for base, _, files in os.walk(dir):
        for name in files:
            path = Path(base) / name
            try:
                size = path.stat().st_size
            except OSError:
                continue
            if size > best[0]:
                best = (size, str(path.relative_to(dir)))
    return best


RSS_METHOD = (
    "peak RSS by `/usr/bin/time -f %M`: the maximum over slipway and its children (bash, yes, head)"
    if TIME_BINARY
    else "peak RSS by polling VmHWM of the slipway process every 5 ms (/usr/bin/time is not installed)"
)


def bench_log(slipway: str, root: Path, log_bytes: int, rounds: int, results: Results) -> None:
    dir = root / "log"
    producer = write_log(dir, log_bytes)
    slipway_cmd = [slipway, "run", "--file", str(dir), "-j", "2"]
    reference = f"{producer} | cat > reference.log"
    reference_cmd = ["bash", "-c", reference]
    progress(f"\n[3] {log_bytes:,} bytes of log: `{shlex.join(slipway_cmd)} > /dev/null` vs `{reference}` (in {dir})")
    ours: list[float] = []
    theirs: list[float] = []
    rss_kib: list[int] = []
    stored: list[int] = []
    stored_where = ""
    for r in range(rounds):
        order = ["slipway", "cat"] if r % 2 == 0 else ["cat", "slipway"]
        for who in order:
            if who == "slipway":
                remove(dir / ".slipway")
                os.sync()  # start with no dirty pages of the previous round
                sample = run_measured(slipway_cmd, dir, "slipway run (1 GiB log)", peak_rss=True)
                ours.append(sample.seconds)
                rss_kib.append(sample.max_rss_kib)
                size, stored_where = largest_file(dir / ".slipway")
                stored.append(size)
                remove(dir / ".slipway")  # disk space
            else:
                os.sync()
                theirs.append(run_measured(reference_cmd, dir, "reference cat").seconds)
                remove(dir / "reference.log")
        progress(
            f"    round {r + 1}/{rounds}: slipway {ours[-1]:.2f} s, peak RSS {rss_kib[-1] / 1024:.1f} MiB, "
            f"largest stored file {stored[-1]:,} bytes; cat {theirs[-1]:.2f} s"
        )
    ratio = median(ours) / median(theirs)
    mb_s = lambda seconds: log_bytes / seconds / 1e6  # noqa: E731
    results.rows.append(
        Row(
            f"3. one step printing {size_label(log_bytes)} of lines: time",
            spread(ours, 1, "s", 2) + f", {mb_s(median(ours)):.0f} MB/s",
            spread(theirs, 1, "s", 2) + f", {mb_s(median(theirs)):.0f} MB/s `… | cat > file`",
            f"{ratio:.2f}×",
            "≤ 2.00× cat",
            ratio <= 2.0,
            f"ratio of the fastest runs {min(ours) / min(theirs):.2f}×; largest file in the store after the run: "
            f"{median(stored):,.0f} bytes ({stored_where})",
        )
    )
    peak = max(rss_kib) * 1024
    results.rows.append(
        Row(
            "3. same: peak resident memory",
            f"{peak / 1e6:.1f} MB (max of {rounds})",
            "—",
            "—",
            "< 50 MB",
            peak < 50e6,
            RSS_METHOD,
        )
    )
    remove(dir)


# ---------------------------------------------------------------- report


def machine() -> list[tuple[str, str]]:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = "unknown"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except (OSError, ValueError, IndexError):
        pass

    def first_line(argv: list[str]) -> str:
        try:
            out = subprocess.run(argv, capture_output=True, text=True, check=False)
            return (out.stdout or out.stderr).splitlines()[0].strip()
        except (OSError, IndexError):
            return "unknown"

    repo = Path(__file__).resolve().parent.parent.parent
    commit = first_line(["git", "-C", str(repo), "rev-parse", "--short=12", "HEAD"])
    dirty = subprocess.run(["git", "-C", str(repo), "diff", "--quiet", "HEAD", "--", "crates"], check=False).returncode
    return [
        ("date", datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")),
        ("cores (nproc)", str(len(os.sched_getaffinity(0)))),
        ("CPU", model),
        ("memory", memory),
        ("kernel", f"{platform.system()} {platform.release()}"),
        ("load average at start", " ".join(f"{x:.2f}" for x in os.getloadavg())),
        ("make", first_line(["make", "--version"])),
        ("slipway commit", commit + (" (crates/ modified in the working tree)" if dirty else "")),
    ]


def print_tables(
    command: str,
    info: list[tuple[str, str]],
    headers: list[str],
    table: list[list[str]],
    notes: list[str],
    failures: list[str],
    markdown_only_rows: list[list[str]] | None = None,
) -> None:
    """Prints the results as a text table, then as markdown for docs/PERFORMANCE.md."""
    widths = [max(len(h), *(len(row[i]) for row in table)) if table else len(h) for i, h in enumerate(headers)]
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())

    print()
    print("=" * 40, "results", "=" * 40)
    for key, value in info:
        print(f"{key + ':':<24}{value}")
    print(f"{'load average at end:':<24}{load}")
    print(f"{'command:':<24}{command}")
    print()
    for row in [headers] + table:
        print("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())
    for note in notes:
        print(f"  {note}")
    for failure in failures:
        print(f"FAILED: {failure}")

    print()
    print("-" * 30, "markdown (for docs/PERFORMANCE.md)", "-" * 30)
    print()
    print(f"Measured with `{command}`.")
    print()
    for key, value in info:
        print(f"- {key}: {value}")
    print(f"- load average at end: {load}")
    print()
    print("| " + " | ".join(headers) + " |")
    print("|" + "|".join("---" for _ in headers) + "|")
    for row in table + (markdown_only_rows or []):
        print("| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |")
    print()
    for note in notes:
        print(f"- {note}")
    for failure in failures:
        print(f"- FAILED: {failure.splitlines()[0]}")


def print_report(command: str, info: list[tuple[str, str]], results: Results) -> None:
    headers = ["benchmark", "slipway (median, min–max)", "reference (median, min–max)", "ratio", "target", "result"]
    table = [[r.benchmark, r.slipway, r.reference, r.ratio, r.target, verdict(r.met)] for r in results.rows]
    notes = [f"*{r.benchmark}*: {r.note}" for r in results.rows if r.note] + list(results.notes)
    print_tables(command, info, headers, table, notes, list(results.failures))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--slipway", required=True, help="the slipway binary to measure")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of benchmarks 1 and 2 (default 5)")
    parser.add_argument("--log-rounds", type=int, default=3, help="rounds of benchmark 3 (default 3)")
    parser.add_argument("--only", default="1,2,3", help="which benchmarks, e.g. 1,3 (default all)")
    parser.add_argument("--jobs", type=int, default=1000, help="jobs in benchmarks 1 and 2 (default 1000)")
    parser.add_argument("--log-bytes", type=int, default=GIB, help="bytes of log in benchmark 3 (default 1 GiB)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary workload directory")
    args = parser.parse_args()
    if args.rounds < 1 or args.log_rounds < 1 or args.jobs < 1 or args.log_bytes < 1:
        parser.error("--rounds, --log-rounds, --jobs and --log-bytes must be positive")
    chosen = {part.strip() for part in args.only.split(",") if part.strip()}
    if not chosen <= {"1", "2", "3"}:
        parser.error("--only takes a list of 1, 2 and 3")
    slipway = str(Path(args.slipway).resolve())
    if not os.access(slipway, os.X_OK):
        parser.error(f"{slipway} is not an executable (did the build fail?)")
    for tool in ["make", "bash", "yes", "head", "cat"]:
        if shutil.which(tool) is None:
            parser.error(f"`{tool}` is not installed; the references need it")

    command = os.environ.get("BENCH_INVOCATION") or "scripts/bench " + shlex.join(sys.argv[1:])
    info = machine()
    progress(f"bench: {command}")
    for key, value in info:
        progress(f"bench: {key}: {value}")

    results = Results()
    root = Path(tempfile.mkdtemp(prefix="slipway-bench-"))
    started = time.perf_counter()
    benchmarks = [
        ("1", lambda: bench_wide(slipway, root, args.jobs, args.rounds, results)),
        ("2", lambda: bench_cached(slipway, root, args.jobs, args.rounds, results)),
        ("3", lambda: bench_log(slipway, root, args.log_bytes, args.log_rounds, results)),
    ]
    try:
        for number, bench in benchmarks:
            if number not in chosen:
                continue
            try:
                bench()
            except RunFailed as failure:
                progress(f"bench: FAILED: {failure}")
                results.failures.append(str(failure))
                results.rows.append(Row(f"{number}. (see FAILED below)", "—", "—", "—", "—", None))
    finally:
        if args.keep:
            progress(f"bench: workloads kept in {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    progress(f"\nbench: done in {time.perf_counter() - started:.0f} s")
    print_report(command, info, results)
    return 1 if results.failures else 0


if __name__ == "__main__":
    sys.exit(main())
