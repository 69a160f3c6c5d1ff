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
