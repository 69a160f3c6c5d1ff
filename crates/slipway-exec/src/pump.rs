//! Reading one output pipe of a step into masked, timestamped lines.

use std::time::{SystemTime, UNIX_EPOCH};

use slipway_engine::ports::{LineSink, SecretMasker, Stream};
use slipway_logs::LineSplitter;
use tokio::io::AsyncRead;

/// Most bytes asked of the pipe per read.
pub(crate) const CHUNK: usize = 256 * 1024;

/// The first read buffer: most steps print little, and zeroing 2 × 256 KiB per step shows up
/// across 1,000 trivial jobs. A read that fills the buffer doubles it, up to [`CHUNK`].
const FIRST_CHUNK: usize = 8 * 1024;

/// Capacity asked for each output pipe (Linux allows up to 1 MiB unprivileged): with the
/// default 64 KiB a chatty step and the reader wake each other for every 64 KiB, and the
/// context switches dominate the cost of a large log.
const PIPE_CAPACITY: libc::c_int = 1 << 20;

/// Enlarges a pipe; failure only costs speed.
pub(crate) fn enlarge_pipe(fd: std::os::fd::RawFd) {
    // SAFETY: fcntl on a file descriptor we own, with an integer argument; no memory is passed.
    unsafe {
        libc::fcntl(fd, libc::F_SETPIPE_SZ, PIPE_CAPACITY);
    }
}

/// One pipe of a running step, with its line assembly. The read buffer is allocated once per
/// step and reused for every chunk.
pub(crate) struct Pump<R> {
    pub(crate) reader: R,
    pub(crate) buf: Box<[u8]>,
    pub(crate) open: bool,
    lines: Lines,
}

/// The line assembly of one output stream, fed with chunks from wherever they come: a pipe
/// ([`Pump`]) or the Docker API. The one place where output becomes masked lines for a sink.
pub(crate) struct Lines {
    stream: Stream,
    splitter: LineSplitter,
}

impl Lines {
    pub(crate) fn new(stream: Stream, masker: &SecretMasker) -> Lines {
        Lines {
            stream,
            splitter: LineSplitter::new(masker.clone()),
        }
    }

    /// Emits the complete lines of one chunk, all stamped with the time of the chunk, and
    /// flushes the sink once.
    pub(crate) fn feed(&mut self, chunk: &[u8], sink: &mut dyn LineSink) {
        let ts = now_ms();
        let stream = self.stream;
        self.splitter
            .feed(chunk, |line| sink.line(stream, ts, line));
        sink.flush();
    }

    /// Ends the stream: its last line, if it had no line break, is emitted.
    pub(crate) fn finish(&mut self, sink: &mut dyn LineSink) {
        let ts = now_ms();
        let stream = self.stream;
        self.splitter.finish(|line| sink.line(stream, ts, line));
        sink.flush();
    }
}

impl<R: AsyncRead + Unpin> Pump<R> {
    pub(crate) fn new(reader: R, stream: Stream, masker: &SecretMasker) -> Pump<R> {
        Pump {
            reader,
            buf: vec![0; FIRST_CHUNK].into_boxed_slice(),
            open: true,
            lines: Lines::new(stream, masker),
        }
    }

    /// Handles the result of one read into `buf`.
    pub(crate) fn on_read(&mut self, read: std::io::Result<usize>, sink: &mut dyn LineSink) {
        match read {
            Ok(0) => self.close(sink),
            Ok(n) => {
                let chunk = self.buf.get(..n).unwrap_or_default();
                self.lines.feed(chunk, sink);
                if n == self.buf.len() && n < CHUNK {
                    self.buf = vec![0; n * 2].into_boxed_slice();
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            // A broken pipe cannot be read further; what was read is kept.
            Err(_) => self.close(sink),
        }
    }

    /// Ends the stream: its last line, if it had no line break, is emitted.
    pub(crate) fn close(&mut self, sink: &mut dyn LineSink) {
        if !self.open {
            return;
        }
        self.open = false;
        self.lines.finish(sink);
    }
}

/// Wall-clock time in milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
