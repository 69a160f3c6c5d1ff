//! The server's store of step logs for running and finished jobs, with live followers.
//!
//! Agents send lines in batches; [`LiveLogs::append`] writes each batch to its step's plain log
//! (format in [`mod@crate::format`]) with one `write(2)`, numbers its lines, and broadcasts the
//! very bytes it wrote to the followers of the run. [`LiveLogs::finish_job`] archives the job's
//! step logs ([`crate::archive_file`]); [`LiveLogs::stream`] gives a run's (or a job's) lines
//! from the files, then live ones, with a [`Cursor`] to resume from; [`LiveLogs::prune`] applies
//! [`crate::apply_retention`] to finished runs. Layout on disk: see `files.rs`; everything the
//! store needs after a restart (job keys, line numbers, which runs and jobs ended) is read back
//! from there, so the in-memory state is only a cache of open files and broadcast channels.
//!
//! Invariants a reader can check:
//! - a line is numbered from 0 within its step, and keeps its number after a restart;
//! - lines of one job are appended, stored and delivered in `(step, line)` order (an append to a
//!   step before the job's latest step is refused), which is what lets a [`Cursor`] hold one
//!   position per job;
//! - a stream never yields a line twice and never skips one: it subscribes before it reads the
//!   files, drops live lines the files already gave it, and after falling behind the broadcast
//!   reads the files again from its cursor;
//! - nothing under the root is named from input other than numbers.
//!
//! Locks: one mutex per run, held for one append batch (its `write(2)` included) and never
//! across an `.await`; a global map lock held only to find or create a run's entry. Archiving
//! and backlog reads happen outside both.

mod cursor;
mod files;
mod follow;

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::SystemTime;

use bytes::Bytes;
use tokio::sync::broadcast;

use crate::format::{Stream, append_record};
use crate::{LogSource, PlainLogReader, Retention, RetentionReport, apply_retention, archive_file};

pub use cursor::{Cursor, CursorError};
pub use follow::LiveStream;

/// Batches a run's broadcast channel holds for followers that are behind; a follower further
/// behind reads the files again.
pub const DEFAULT_BROADCAST_CAPACITY: usize = 256;

/// One line as an agent sends it, already masked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LiveInput<'a> {
    /// The stream the line came from.
    pub stream: Stream,
    /// Unix time in milliseconds when the agent read the line.
    pub ts_ms: u64,
    /// The line without its line ending; must not contain `\n`.
    pub text: &'a [u8],
}

/// One stored line, as a stream yields it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LiveLine {
    /// The job's id.
    pub job: i64,
    /// The job's key (its name in the pipeline, with matrix values).
    pub job_key: Arc<str>,
    /// The step's index within the job.
    pub step: u32,
    /// The line's number within the step, from 0.
    pub line: u64,
    /// The stream the line came from.
    pub stream: Stream,
    /// Unix time in milliseconds when the agent read the line.
    pub ts_ms: u64,
    /// The line, masked, without its line ending; not necessarily UTF-8.
    pub text: Bytes,
}

/// The log store. `Send + Sync`: share it in an [`Arc`].
#[derive(Debug)]
pub struct LiveLogs {
    root: PathBuf,
    capacity: usize,
    runs: Mutex<HashMap<i64, Arc<RunState>>>,
}

/// What the store keeps in memory about a run that has not ended.
#[derive(Debug)]
struct RunState {
    events: broadcast::Sender<Event>,
    inner: Mutex<RunInner>,
}

#[derive(Debug, Default)]
struct RunInner {
    finished: bool,
    jobs: HashMap<i64, JobState>,
}

#[derive(Debug)]
struct JobState {
    key: Arc<str>,
    finished: bool,
    /// The highest step appended to: earlier steps are closed.
    last_step: Option<u32>,
    open: Option<OpenStep>,
}

/// The plain log of the step being appended to.
#[derive(Debug)]
struct OpenStep {
    step: u32,
    file: File,
    next_line: u64,
}

/// What a run's followers receive.
#[derive(Clone, Debug)]
enum Event {
    Lines(Arc<Batch>),
    JobEnded(i64),
    RunEnded,
}

/// One appended batch: the records exactly as written to the step's log.
#[derive(Debug)]
struct Batch {
    job: i64,
    job_key: Arc<str>,
    step: u32,
    first_line: u64,
    records: Bytes,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Nothing panics while holding these locks; if something did, the data is still consistent
    // enough to go on (at worst a file is reopened and its lines counted again).
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn refused(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, message)
}

impl LiveLogs {
    /// A store whose files live under `root` (created as needed), with
    /// [`DEFAULT_BROADCAST_CAPACITY`].
    pub fn new(root: PathBuf) -> LiveLogs {
        LiveLogs::with_broadcast_capacity(root, DEFAULT_BROADCAST_CAPACITY)
    }

    /// A store whose runs' broadcast channels hold `capacity` batches (at least 1).
    pub fn with_broadcast_capacity(root: PathBuf, capacity: usize) -> LiveLogs {
        LiveLogs {
            root,
            capacity: capacity.max(1),
            runs: Mutex::new(HashMap::new()),
        }
    }

    /// The directory the store keeps its files in.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Appends `lines` (already masked) to step `step` of job `job` (key `job_key`) of run `run`,
    /// numbering them on from the step's last line, and broadcasts them to followers.
    ///
    /// Returns once the bytes are written to the file (`write(2)`, no `fsync`: a line whose
    /// append returned survives the server being killed, not the machine losing power). Blocks
    /// for that one write; call it from async code as it is, it does not wait on other runs.
    ///
    /// Refused with [`io::ErrorKind::InvalidInput`], storing nothing: a line containing `\n`, a
    /// job key different from the one stored for the job, a step before the job's latest step,
    /// a job or run already finished. An empty batch does nothing.
    pub fn append(
        &self,
        run: i64,
        job: i64,
        job_key: &str,
        step: u32,
        lines: &[LiveInput<'_>],
    ) -> io::Result<()> {
        if lines.is_empty() {
            return Ok(());
        }
        let text_len: usize = lines.iter().map(|line| line.text.len()).sum();
        let mut records = Vec::with_capacity(text_len + lines.len() * 24);
        for line in lines {
            append_record(&mut records, line.ts_ms, line.stream, line.text)?;
        }
        let state = self.run_state(run)?;
        let mut inner = lock(&state.inner);
        if inner.finished {
            return Err(refused(format!(
                "run {run} has finished: its logs take no more lines"
            )));
        }
        let job_state = match inner.jobs.entry(job) {
            std::collections::hash_map::Entry::Occupied(entry) => entry.into_mut(),
            std::collections::hash_map::Entry::Vacant(entry) => {
                entry.insert(self.load_job(run, job, job_key)?)
            }
        };
        if job_state.finished {
            return Err(refused(format!(
                "job {job} of run {run} has finished: its logs take no more lines"
            )));
        }
        if *job_state.key != *job_key {
            return Err(refused(format!(
                "job {job} of run {run} is stored with key `{}`, not `{job_key}`",
                job_state.key
            )));
        }
        if let Some(last) = job_state.last_step
            && step < last
        {
            return Err(refused(format!(
                "step {step} of job {job} of run {run} comes after step {last}: \
                 steps of a job are appended in order"
            )));
        }
        let open = match &mut job_state.open {
            Some(open) if open.step == step => open,
            slot => slot.insert(self.open_step(run, job, step)?),
        };
        job_state.last_step = Some(step);
        if let Err(e) = open.file.write_all(&records) {
            // Part of the batch may be in the file: reopening cuts it off and counts again.
            job_state.open = None;
            return Err(e);
        }
        let first_line = open.next_line;
        open.next_line += lines.len() as u64;
        let batch = Batch {
            job,
            job_key: job_state.key.clone(),
            step,
            first_line,
            records: Bytes::from(records),
        };
        // An error only means nobody follows this run now.
        let _ = state.events.send(Event::Lines(Arc::new(batch)));
        Ok(())
    }

    /// The job has ended: no more lines are taken for it, its followers end, and its step logs
    /// are archived. Idempotent: calling it again archives what is left (after a crash, say).
    ///
    /// Archiving reads and compresses every step log of the job (about 400 MB/s): call it from
    /// a blocking context (`spawn_blocking`). The first error is returned after every step was
    /// tried; a step whose archiving failed keeps its plain log, which streams just as well.
    pub fn finish_job(&self, run: i64, job: i64) -> io::Result<()> {
        let state = self.run_state(run)?;
        {
            let mut inner = lock(&state.inner);
            if let Some(job_state) = inner.jobs.get_mut(&job) {
                job_state.finished = true;
                job_state.open = None;
            } else {
                inner.jobs.insert(
                    job,
                    JobState {
                        key: Arc::from(""),
                        finished: true,
                        last_step: None,
                        open: None,
                    },
                );
            }
            let _ = state.events.send(Event::JobEnded(job));
        }
        let job_dir = files::job_dir(&self.root, run, job);
        files::mark_finished(&job_dir)?;
        let mut first_error = None;
        for step in files::steps(&job_dir)? {
            let plain = files::plain_path(&job_dir, step);
            let result = match OpenOptions::new().read(true).write(true).open(&plain) {
                Ok(mut file) => files::drop_unfinished_tail(&mut file)
                    .and_then(|_| archive_file(&plain, &files::archived_path(&job_dir, step)))
                    .map(drop),
                // Archived already.
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(e),
            };
            if let Err(e) = result {
                first_error.get_or_insert_with(|| {
                    io::Error::new(
                        e.kind(),
                        format!("cannot archive the log {}: {e}", plain.display()),
                    )
                });
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// The run has ended: no more lines are taken for it, and its followers end once they have
    /// every line. Call [`LiveLogs::finish_job`] for its jobs too (this does not archive).
    ///
    /// The run's `finished` marker is written so that a restarted server knows; when that fails
    /// the error is returned, and the run is still finished for this process.
    pub fn finish_run(&self, run: i64) -> io::Result<()> {
        let state = self.run_state(run)?;
        {
            let mut inner = lock(&state.inner);
            inner.finished = true;
            inner.jobs.clear();
            let _ = state.events.send(Event::RunEnded);
        }
        files::mark_finished(&files::run_dir(&self.root, run))?;
        // With the marker on disk the entry is no longer needed: a later lookup reads the marker.
        // Followers keep their own handle on the state until they end.
        lock(&self.runs).remove(&run);
        Ok(())
    }

    /// Everything stored for run `run` (or only its job `job`) after `cursor`, then, if
    /// `follow`, lines as they are appended, until the run (or the job) has finished and every
    /// line was yielded. Without `follow`, the stream ends after what is stored now.
    ///
    /// Jobs are yielded one after another in the backlog (each in step and line order) and
    /// interleaved as appended when live. Give each line to [`Cursor::advance`] to resume later.
    /// An error reading the files is yielded once and ends the stream. Must be called within a
    /// tokio runtime (the stream is fed by a task of its own; the stream yields an error
    /// otherwise). Dropping the stream stops its task.
    pub fn stream(
        self: &Arc<Self>,
        run: i64,
        job: Option<i64>,
        cursor: Cursor,
        follow: bool,
    ) -> LiveStream {
        follow::start(self.clone(), run, job, cursor, follow)
    }

    /// Applies `retention` ([`apply_retention`]) to the logs under the root, sparing every log of
    /// a run that has not finished. The `finished` and `key` markers stay, so a pruned run still
    /// streams (what is left of it) and ends.
    pub fn prune(&self, retention: &Retention) -> io::Result<RetentionReport> {
        let mut finished = std::collections::HashSet::new();
        for run in files::numeric_dirs(&self.root)? {
            if files::is_finished(&files::run_dir(&self.root, run))? {
                finished.insert(run);
            }
        }
        let root = &self.root;
        let is_active = |path: &Path| {
            let run = path
                .strip_prefix(root)
                .ok()
                .and_then(|rest| rest.components().next())
                .and_then(|first| first.as_os_str().to_str())
                .and_then(|name| name.parse::<i64>().ok());
            run.is_none_or(|run| !finished.contains(&run))
        };
        match apply_retention(root, retention, SystemTime::now(), is_active) {
            Err(e) if e.kind() == io::ErrorKind::NotFound && !root.exists() => {
                Ok(RetentionReport::default())
            }
            result => result,
        }
    }

    /// The run's state: from the map, or read from disk into it. The marker is read under the
    /// map lock, so it cannot race with [`LiveLogs::finish_run`] removing the entry (which it
    /// does after writing the marker): a follower either gets the old entry, finished, or sees
    /// the marker.
    fn run_state(&self, run: i64) -> io::Result<Arc<RunState>> {
        let mut runs = lock(&self.runs);
        if let Some(state) = runs.get(&run) {
            return Ok(state.clone());
        }
        let finished = files::is_finished(&files::run_dir(&self.root, run))?;
        let state = Arc::new(RunState {
            events: broadcast::channel(self.capacity).0,
            inner: Mutex::new(RunInner {
                finished,
                jobs: HashMap::new(),
            }),
        });
        if !finished {
            runs.insert(run, state.clone());
        }
        Ok(state)
    }

    /// A job's state read from disk, its directory and key file created if needed.
    fn load_job(&self, run: i64, job: i64, job_key: &str) -> io::Result<JobState> {
        let job_dir = files::job_dir(&self.root, run, job);
        std::fs::create_dir_all(&job_dir)?;
        let key = match files::read_key(&job_dir)? {
            Some(stored) => stored,
            None => {
                files::write_key(&job_dir, job_key)?;
                job_key.to_owned()
            }
        };
        Ok(JobState {
            key: Arc::from(key),
            finished: files::is_finished(&job_dir)?,
            last_step: files::steps(&job_dir)?.last().copied(),
            open: None,
        })
    }

    /// Opens a step's plain log for appending; an existing one has its lines counted (once, here)
    /// and an unfinished last record cut off.
    fn open_step(&self, run: i64, job: i64, step: u32) -> io::Result<OpenStep> {
        let job_dir = files::job_dir(&self.root, run, job);
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(files::plain_path(&job_dir, step))?;
        let next_line = if files::drop_unfinished_tail(&mut file)? == 0 {
            0
        } else {
            PlainLogReader::open(&file)?.line_count()?
        };
        Ok(OpenStep {
            step,
            file,
            next_line,
        })
    }
}

impl RunState {
    /// Subscribes to the run's events unless what is followed has ended, deciding under the
    /// run's lock so that an end event cannot slip between the check and the subscription.
    fn subscribe_unless_ended(
        &self,
        job: Option<(i64, bool)>,
    ) -> Option<broadcast::Receiver<Event>> {
        let inner = lock(&self.inner);
        (!self.has_ended(&inner, job)).then(|| self.events.subscribe())
    }

    /// Whether the run, or the job `(id, finished marker seen)`, has ended.
    fn ended(&self, job: Option<(i64, bool)>) -> bool {
        self.has_ended(&lock(&self.inner), job)
    }

    fn has_ended(&self, inner: &RunInner, job: Option<(i64, bool)>) -> bool {
        inner.finished
            || job.is_some_and(|(job, marker)| {
                marker || inner.jobs.get(&job).is_some_and(|state| state.finished)
            })
    }
}
