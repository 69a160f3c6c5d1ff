//! The one step of a job that runs no command (`deploy:`, `approval:`):
//! recorded, shown live and stored like any step, its lines masked.

use std::time::Instant;

use crate::events::Event;
use crate::job::JobRunner;
use crate::job_sink::TeeSink;
use crate::ports::{DeployLine, Executor, LineSink, SecretMasker, StepExit, Store, Stream};
use crate::records::Record;
use crate::run::now_ms;

/// Masks each line and writes it to the step's sinks.
pub(crate) struct MaskedLines<'a, S: LineSink> {
    masker: &'a SecretMasker,
    sink: &'a mut S,
    buffer: Vec<u8>,
}

impl<'a, S: LineSink> MaskedLines<'a, S> {
    pub(crate) fn new(masker: &'a SecretMasker, sink: &'a mut S) -> Self {
        MaskedLines {
            masker,
            sink,
            buffer: Vec::new(),
        }
    }
}

impl<S: LineSink> DeployLine for MaskedLines<'_, S> {
    fn line(&mut self, text: &str) {
        // One line given may hold several lines of a command's output.
        for line in text.split('\n') {
            self.buffer.clear();
            self.masker.mask(line.as_bytes(), &mut self.buffer);
            self.sink.line(Stream::Stdout, now_ms(), &self.buffer);
        }
        self.sink.flush();
    }
}

/// A started single step: where its lines go.
pub(crate) struct SingleStep<S: Store> {
    pub(crate) sink: TeeSink<S::StepLog>,
    name: String,
    started: Instant,
}

impl<E: Executor, S: Store> JobRunner<'_, E, S> {
    /// Records step 0 as started and opens its log.
    pub(crate) fn begin_single_step(&self, name: String) -> Result<SingleStep<S>, String> {
        let shared = self.shared;
        let record = Record::StepStarted {
            job: self.index,
            step: 0,
            name: name.clone(),
            at_ms: now_ms(),
        };
        self.store
            .record(&shared.run, &record)
            .map_err(|e| e.to_string())?;
        shared.events.event(Event::StepStarted {
            job: self.key,
            step: 0,
            name: &name,
        });
        let log = self
            .store
            .open_step_log(&shared.run, self.key, 0)
            .map_err(|e| e.to_string())?;
        Ok(SingleStep {
            sink: TeeSink {
                log: Some(log),
                view: shared.events.step_output(self.key, 0),
                error: None,
            },
            name,
            started: Instant::now(),
        })
    }

    /// Writes `error` (masked) to the step's log, closes it and records the
    /// step's end. `Err` when the store failed.
    pub(crate) fn end_single_step(
        &self,
        mut step: SingleStep<S>,
        exit: StepExit,
        error: Option<&str>,
    ) -> Result<(), String> {
        let shared = self.shared;
        if let Some(error) = error {
            let mut masked = Vec::new();
            shared.masker.mask(error.as_bytes(), &mut masked);
            step.sink.line(Stream::Stderr, now_ms(), &masked);
        }
        step.sink.flush();
        let store_error = step.sink.finish();
        let record = Record::StepFinished {
            job: self.index,
            step: 0,
            exit: exit.clone(),
            attempt: 0,
            at_ms: now_ms(),
        };
        self.store
            .record(&shared.run, &record)
            .map_err(|e| e.to_string())?;
        shared.events.event(Event::StepFinished {
            job: self.key,
            step: 0,
            name: &step.name,
            exit: &exit,
            duration_ms: step.started.elapsed().as_millis() as u64,
        });
        match store_error {
            Some(error) => Err(format!("could not store the log: {error}")),
            None => Ok(()),
        }
    }
}
