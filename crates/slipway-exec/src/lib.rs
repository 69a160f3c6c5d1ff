//! Slipway's executors: each step of a job runs as a process on this machine ([`LocalExecutor`])
//! or in the job's Docker container ([`DockerExecutor`], see [`docker`]); [`AnyExecutor`] picks
//! one per job.
//!
//! [`LocalExecutor`] implements the engine's [`Executor`](slipway_engine::ports::Executor) port.
//! Its [`LocalWorkspace`] is either the directory the user works in, as it is (the default of
//! `slipway run`), or a fresh checkout of one commit per job ([`WorkspaceMode::Clean`]), as the
//! server's agents use.
//!
//! # Design note: process groups and signals
//!
//! A CI step is a shell script, and a shell script starts processes of its own: pipelines,
//! `make -j`, a test server put in the background with `&`, a daemon that double-forks. Killing
//! the shell alone leaves all of those running, holding the log pipes open and the CPU busy. So
//! every step is started as the leader of a **new process group** (`process_group(0)`), and every
//! signal is sent to the whole group with `killpg`. Descendants inherit the group unless they ask
//! for a new one (`setsid`, `setpgid`); those that do have deliberately left the step, and a
//! local executor without cgroups cannot follow them (the log pipes are then drained for a
//! bounded time only, so they cannot hang the step either).
//!
//! **Stopping a step** (timeout, or the cancel signal turning `true`):
//! 1. `SIGTERM` to the group, so that programs can clean up (flush files, remove locks);
//! 2. a **grace period** (default 5 s, [`LocalConfig::grace`]) during which the pipes are still
//!    read, so the step's last words reach the log; the wait ends early once the group is empty;
//! 3. `SIGKILL` to the group, which nothing can ignore;
//! 4. the pipes are drained for a short bounded time and the step is reported as
//!    [`StepExit::TimedOut`](slipway_engine::ports::StepExit) or `Cancelled`.
//!
//! **Stray children after a normal exit**: when the step's main process exits, whatever is left
//! in its group (`sleep 1000 &`, a server the step forgot to stop) goes through the same
//! `SIGTERM` → grace → `SIGKILL` sequence, and the step's result is the main process's exit
//! status. A step's background processes never outlive it.
//!
//! "Is the group empty?" is asked with `killpg(pgid, 0)`; a process whose parent died is
//! re-parented to PID 1, and where PID 1 does not reap (some container inits), dead members
//! linger as zombies and keep `killpg` succeeding. The executor therefore confirms a non-empty
//! answer by scanning `/proc` for a member that is not a zombie; the scan only happens when a
//! step left something behind.
//!
//! # The log pipeline
//!
//! stdout and stderr are two pipes read concurrently by one task in 64 KiB chunks into two
//! buffers allocated once per step. Each chunk goes through a [`slipway_logs::LineSplitter`],
//! which masks secrets on whole lines (so a secret split across two writes is still masked), and
//! each line goes to the sink with the wall-clock time of its chunk; the sink is flushed once per
//! chunk. Nothing is allocated per line.
//!
//! # The fast path
//!
//! A script that is one line of plain words (`cargo test`, `true`, `make build`) means the same
//! to the shell as executing the program directly, so — as `make` does — it is executed without
//! starting a shell, which saves a millisecond or two per step. See [`fast_path`] for the exact
//! rule; anything else, and any doubt, goes through the shell.

mod any;
mod checkout;
pub mod docker;
mod executor;
pub mod fast_path;
mod inputs;
mod outputs;
mod paths;
mod process;
mod pump;
mod workspace;

pub use any::{AnyExecutor, AnyWorkspace};
pub use docker::{DockerConfig, DockerExecutor, DockerWorkspace, SweepReport};
pub use executor::{LocalConfig, LocalExecutor, WorkspaceMode};
pub use inputs::InputStats;
pub use workspace::LocalWorkspace;
