//! [`LiveStream`]: a run's (or a job's) stored lines, then its live ones, each exactly once.
//!
//! A task per stream feeds a bounded channel (so a slow reader slows its own task, nothing
//! else): it subscribes to the run's broadcast, reads the files from the cursor on a blocking
//! thread, then passes on live lines the cursor has not seen. When it falls behind the broadcast
//! it reads the files again from its cursor, which holds every line appended before the lag was
//! noticed; lines appended later are still in the broadcast, or cause another lag.

use std::io;
use std::ops::ControlFlow;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use tokio::sync::{broadcast, mpsc};

use super::{Batch, Cursor, Event, LiveLine, LiveLogs, files};
use crate::format::records;

/// Lines a stream's task may be ahead of its reader.
const STREAM_BUFFER: usize = 1024;

/// The lines of [`LiveLogs::stream`]: a [`futures_core::Stream`], or read with
/// [`LiveStream::recv`].
#[derive(Debug)]
pub struct LiveStream {
    lines: mpsc::Receiver<io::Result<LiveLine>>,
}

impl LiveStream {
    /// The next line; `None` at the end. An error is the last item.
    pub async fn recv(&mut self) -> Option<io::Result<LiveLine>> {
        self.lines.recv().await
    }
}

impl futures_core::Stream for LiveStream {
    type Item = io::Result<LiveLine>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.lines.poll_recv(cx)
    }
}

type Sink = mpsc::Sender<io::Result<LiveLine>>;

/// The reader went away, or an error was sent: the task ends.
struct Stop;

pub(super) fn start(
    logs: Arc<LiveLogs>,
    run: i64,
    job: Option<i64>,
    cursor: Cursor,
    follow: bool,
) -> LiveStream {
    let (sink, lines) = mpsc::channel(STREAM_BUFFER);
    match tokio::runtime::Handle::try_current() {
        Ok(runtime) => {
            runtime.spawn(async move {
                let _ = feed(&logs, run, job, cursor, follow, &sink).await;
            });
        }
        Err(_) => {
            let _ = sink.try_send(Err(io::Error::other(
                "log streaming needs a tokio runtime: call LiveLogs::stream from within one",
            )));
        }
    }
    LiveStream { lines }
}

async fn feed(
    logs: &Arc<LiveLogs>,
    run: i64,
    job: Option<i64>,
    cursor: Cursor,
    follow: bool,
    sink: &Sink,
) -> Result<(), Stop> {
    let state = match logs.run_state(run) {
        Ok(state) => state,
        Err(e) => return fail(sink, e).await,
    };
    let mut events = None;
    let mut job_ended = None;
    if follow {
        let marker = match job {
            Some(job) => {
                let dir = files::job_dir(&logs.root, run, job);
                match files::is_finished(&dir) {
                    Ok(marker) => Some((job, marker)),
                    Err(e) => return fail(sink, e).await,
                }
            }
            None => None,
        };
        job_ended = marker;
        events = state.subscribe_unless_ended(marker);
    }
    let mut cursor = read_files(logs, run, job, cursor, sink).await?;
    let Some(mut events) = events else {
        return Ok(());
    };
    loop {
        let event = tokio::select! {
            event = events.recv() => event,
            () = sink.closed() => return Err(Stop),
        };
        match event {
            Ok(Event::Lines(batch)) => {
                if job.is_none_or(|job| job == batch.job) {
                    send_batch(&batch, &mut cursor, sink).await?;
                }
            }
            Ok(Event::JobEnded(ended)) if job == Some(ended) => return Ok(()),
            Ok(Event::JobEnded(_)) => {}
            Ok(Event::RunEnded) | Err(broadcast::error::RecvError::Closed) => return Ok(()),
            Err(broadcast::error::RecvError::Lagged(_)) => {
                // Checked before reading: if it has ended, the files hold every line.
                let ended = state.ended(job_ended);
                cursor = read_files(logs, run, job, cursor, sink).await?;
                if ended {
                    return Ok(());
                }
            }
        }
    }
}

/// Sends the lines of a live batch that the cursor has not seen.
async fn send_batch(batch: &Batch, cursor: &mut Cursor, sink: &Sink) -> Result<(), Stop> {
    for (number, record) in (batch.first_line..).zip(records(&batch.records)) {
        // The batch was encoded by `append`, so every record parses; skip one that would not.
        if let Ok(record) = record
            && !cursor.is_delivered(batch.job, batch.step, number)
        {
            let line = LiveLine {
                job: batch.job,
                job_key: batch.job_key.clone(),
                step: batch.step,
                line: number,
                stream: record.stream,
                ts_ms: record.ts_ms,
                text: batch.records.slice_ref(record.line),
            };
            cursor.advance(&line);
            sink.send(Ok(line)).await.map_err(|_| Stop)?;
        }
    }
    Ok(())
}

async fn fail<T>(sink: &Sink, error: io::Error) -> Result<T, Stop> {
    let _ = sink.send(Err(error)).await;
    Err(Stop)
}

/// Reads the files from `cursor` on a blocking thread, sending what it finds; returns the cursor
/// after the last line sent.
async fn read_files(
    logs: &Arc<LiveLogs>,
    run: i64,
    job: Option<i64>,
    cursor: Cursor,
    sink: &Sink,
) -> Result<Cursor, Stop> {
    let root = logs.root.clone();
    let blocking_sink = sink.clone();
    let read = tokio::task::spawn_blocking(move || {
        let mut cursor = cursor;
        read_backlog(&root, run, job, &mut cursor, &blocking_sink).map(|()| cursor)
    });
    match read.await {
        Ok(result) => result,
        Err(e) => {
            fail(
                sink,
                io::Error::other(format!("reading stored logs failed: {e}")),
            )
            .await
        }
    }
}

/// Sends the stored lines of the run (or of one job) after `cursor`, job by job, each in step
/// and line order, advancing `cursor`. An error is sent and stops the reading.
fn read_backlog(
    root: &Path,
    run: i64,
    job: Option<i64>,
    cursor: &mut Cursor,
    sink: &Sink,
) -> Result<(), Stop> {
    let fail = |e: io::Error, what: &Path| {
        let e = io::Error::new(e.kind(), format!("cannot read {}: {e}", what.display()));
        let _ = sink.blocking_send(Err(e));
        Stop
    };
    let run_dir = files::run_dir(root, run);
    let jobs = match job {
        Some(job) => vec![job],
        None => files::numeric_dirs(&run_dir).map_err(|e| fail(e, &run_dir))?,
    };
    for job in jobs {
        let job_dir = files::job_dir(root, run, job);
        let steps = files::steps(&job_dir).map_err(|e| fail(e, &job_dir))?;
        if steps.is_empty() {
            continue;
        }
        let key = files::read_key(&job_dir).map_err(|e| fail(e, &job_dir))?;
        let job_key: Arc<str> = Arc::from(key.unwrap_or_default());
        for step in steps {
            // 0-based number of the first line not yet delivered.
            let first = match cursor.position(job) {
                Some((at, _)) if at > step => continue,
                Some((at, line)) if at == step => line.saturating_add(1),
                _ => 0,
            };
            let Some(mut source) =
                files::open_step(&job_dir, step).map_err(|e| fail(e, &job_dir))?
            else {
                continue;
            };
            let mut stopped = false;
            let mut visit = |number: u64, record: crate::Record<'_>| {
                let line = LiveLine {
                    job,
                    job_key: job_key.clone(),
                    step,
                    line: number.saturating_sub(1),
                    stream: record.stream,
                    ts_ms: record.ts_ms,
                    text: Bytes::copy_from_slice(record.line),
                };
                cursor.advance(&line);
                if sink.blocking_send(Ok(line)).is_err() {
                    stopped = true;
                    return ControlFlow::Break(());
                }
                ControlFlow::Continue(())
            };
            // Stored lines are numbered from 1.
            let read = source.visit_lines(first.saturating_add(1), &mut visit);
            if stopped {
                return Err(Stop);
            }
            read.map_err(|e| fail(e, &files::plain_path(&job_dir, step)))?;
        }
    }
    Ok(())
}
