//! The sink a step's lines go to: the stored log and the live view.

use crate::ports::{LineSink, StepLog, StoreError, Stream};

/// Writes each line to the stored log and to the live view.
pub(crate) struct TeeSink<L: StepLog> {
    pub(crate) log: Option<L>,
    pub(crate) view: Box<dyn LineSink>,
    pub(crate) error: Option<StoreError>,
}

impl<L: StepLog> TeeSink<L> {
    pub(crate) fn finish(mut self) -> Option<StoreError> {
        if let Some(log) = self.log.take()
            && let Err(error) = log.finish()
        {
            self.error.get_or_insert(error);
        }
        self.error
    }
}

impl<L: StepLog> LineSink for TeeSink<L> {
    fn line(&mut self, stream: Stream, ts_ms: u64, line: &[u8]) {
        if let Some(log) = &mut self.log
            && let Err(error) = log.write_line(stream, ts_ms, line)
        {
            self.error = Some(error);
            self.log = None;
        }
        self.view.line(stream, ts_ms, line);
    }

    fn flush(&mut self) {
        self.view.flush();
    }
}
