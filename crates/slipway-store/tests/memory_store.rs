//! The in-memory store against the conformance suite.

mod conformance;

use conformance::Fixture;
use slipway_store::MemoryStore;

fn make() -> Fixture<MemoryStore> {
    Fixture {
        store: MemoryStore::new(),
        scratch: tempfile::tempdir().unwrap(),
    }
}

conformance_suite!(make);

/// `--no-store` keeps a bounded part of each step's log, and says so.
#[test]
fn memory_logs_are_bounded() {
    use slipway_engine::ports::{StepLog, Store, Stream};
    use slipway_engine::records::{GitInfo, RunMeta};
    use slipway_store::{MEMORY_LOG_LIMIT, StoreRead};

    let store = MemoryStore::new();
    let meta = RunMeta {
        pipeline: "p".into(),
        file: "slipway.yml".into(),
        started_ms: 0,
        git: GitInfo::default(),
        jobs: vec!["loud".into()],
    };
    let run = store.begin_run(&meta).expect("run");
    let mut log = store.open_step_log(&run, "loud", 0).expect("log");
    let line = [b'x'; 1000];
    let lines = 2 * MEMORY_LOG_LIMIT / line.len();
    for _ in 0..lines {
        log.write_line(Stream::Stdout, 1, &line).expect("write");
    }
    log.finish().expect("finish");
    let stored = store.read_step_log(&run, "loud", 0).expect("read");
    assert!(
        stored.len() < MEMORY_LOG_LIMIT + (1 << 17),
        "kept {} bytes",
        stored.len()
    );
    let text = String::from_utf8_lossy(&stored);
    assert!(
        text.contains("more lines were not kept"),
        "the log says lines were dropped"
    );
}
