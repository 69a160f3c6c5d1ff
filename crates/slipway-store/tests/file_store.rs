//! The directory store against the conformance suite, plus what is
//! particular to it: layout, reopening, several processes, crash leftovers.

mod conformance;

use std::fs;
use std::path::Path;

use conformance::Fixture;
use slipway_engine::ports::{StepLog, Store, Stream};
use slipway_engine::records::{CacheStatus, Digest, GitInfo, JobResult, Record, RunMeta};
use slipway_store::{FileStore, StoreRead};

fn make() -> Fixture<FileStore> {
    let scratch = tempfile::tempdir().unwrap();
    let store = FileStore::open(&scratch.path().join("store/.slipway/local")).unwrap();
    Fixture { store, scratch }
}

conformance_suite!(make);

fn meta() -> RunMeta {
    RunMeta {
        pipeline: "p".to_string(),
        file: "slipway.yml".to_string(),
        started_ms: 0,
        git: GitInfo::default(),
        jobs: vec![],
    }
}

fn finished(job: usize) -> Record {
    Record::JobFinished {
        job,
        result: JobResult::Success,
        at_ms: 1,
        cache: CacheStatus::Uncached,
        outputs: vec![],
        error: None,
        artifacts: vec![],
    }
}

#[test]
fn open_creates_layout_and_gitignore() {
    let scratch = tempfile::tempdir().unwrap();
    let dir = scratch.path().join("ws/.slipway/local");
    let store = FileStore::open(&dir).unwrap();
    assert_eq!(
        fs::read_to_string(dir.join(".gitignore")).unwrap().trim(),
        "*"
    );
    for sub in [
        "runs",
        "objects",
        "cache/entries",
        "cache/manifests",
        "cache/dirs",
        "tmp",
    ] {
        assert!(dir.join(sub).is_dir(), "{sub}");
    }
    assert_eq!(store.dir(), dir);
    // Reopening keeps a .gitignore the user edited.
    fs::write(dir.join(".gitignore"), "*\n!keep\n").unwrap();
    FileStore::open(&dir).unwrap();
    assert_eq!(
        fs::read_to_string(dir.join(".gitignore")).unwrap(),
        "*\n!keep\n"
    );
}

#[test]
fn run_layout_on_disk() {
    let scratch = tempfile::tempdir().unwrap();
    let dir = scratch.path().join("local");
    let store = FileStore::open(&dir).unwrap();
    let run = store.begin_run(&meta()).unwrap();
    store
        .record(&run, &Record::JobStarted { job: 0, at_ms: 1 })
        .unwrap();
    let mut log = store.open_step_log(&run, "test (linux, 1)", 3).unwrap();
    log.write_line(Stream::Stdout, 7, b"hi").unwrap();
    log.finish().unwrap();
    let run_dir = dir.join("runs/1");
    assert!(run_dir.join("meta.json").is_file());
    let logs: Vec<_> = fs::read_dir(run_dir.join("logs"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(logs.len(), 1);
    let job_dir = logs[0].to_str().unwrap().to_string();
    assert!(job_dir.starts_with("test__linux__1_-"), "{job_dir}");
    assert_eq!(
        fs::read(run_dir.join("logs").join(&job_dir).join("3.log")).unwrap(),
        b"7 o hi\n"
    );
    // A silent step leaves no file behind.
    store
        .open_step_log(&run, "quiet", 0)
        .unwrap()
        .finish()
        .unwrap();
    assert!(!run_dir.join("logs/quiet").exists());
}

#[test]
fn records_reach_the_file_at_job_end_without_finish() {
    let scratch = tempfile::tempdir().unwrap();
    let dir = scratch.path().join("local");
    let store = FileStore::open(&dir).unwrap();
    let run = store.begin_run(&meta()).unwrap();
    store
        .record(&run, &Record::JobStarted { job: 0, at_ms: 1 })
        .unwrap();
    store.record(&run, &finished(0)).unwrap();
    let on_disk = fs::read_to_string(dir.join("runs/1/events.jsonl")).unwrap();
    assert_eq!(on_disk.lines().count(), 2, "{on_disk}");
    assert!(
        on_disk.lines().all(|l| l.starts_with("{\"event\":")),
        "{on_disk}"
    );
    // Another store (a later process) reads and appends to the same run.
    let later = FileStore::open(&dir).unwrap();
    assert_eq!(later.read_records(&run).unwrap().len(), 2);
    later.record(&run, &finished(1)).unwrap();
    assert_eq!(later.read_records(&run).unwrap().len(), 3);
}

#[test]
fn a_line_cut_short_by_a_crash_is_skipped() {
    let scratch = tempfile::tempdir().unwrap();
    let dir = scratch.path().join("local");
    let store = FileStore::open(&dir).unwrap();
    let run = store.begin_run(&meta()).unwrap();
    store.record(&run, &finished(0)).unwrap();
    drop(store);
    let events = dir.join("runs/1/events.jsonl");
    let mut bytes = fs::read(&events).unwrap();
    bytes.extend_from_slice(b"{\"event\":\"job_sta");
    fs::write(&events, &bytes).unwrap();
    let store = FileStore::open(&dir).unwrap();
    assert_eq!(store.read_records(&run).unwrap(), [finished(0)]);
    // A damaged complete line is an error naming the file and line.
    bytes.extend_from_slice(b"\n");
    fs::write(&events, &bytes).unwrap();
    let message = store.read_records(&run).unwrap_err().0;
    assert!(
        message.contains("events.jsonl") && message.contains("line 2"),
        "{message}"
    );
}

#[test]
fn two_stores_on_one_directory_never_share_a_run() {
    let scratch = tempfile::tempdir().unwrap();
    let dir = scratch.path().join("local");
    let a = FileStore::open(&dir).unwrap();
    let b = FileStore::open(&dir).unwrap();
    let mut runs = vec![
        a.begin_run(&meta()).unwrap(),
        b.begin_run(&meta()).unwrap(),
        a.begin_run(&meta()).unwrap(),
        b.begin_run(&meta()).unwrap(),
    ];
    runs.sort();
    assert_eq!(runs, ["1", "2", "3", "4"]);
    // Reopening continues after the highest number.
    let c = FileStore::open(&dir).unwrap();
    assert_eq!(c.begin_run(&meta()).unwrap(), "5");
    assert_eq!(c.list_runs().unwrap(), ["1", "2", "3", "4", "5"]);
}

#[test]
fn objects_are_content_addressed_and_leave_no_temporaries() {
    let scratch = tempfile::tempdir().unwrap();
    let dir = scratch.path().join("local");
    let store = FileStore::open(&dir).unwrap();
    let ws = scratch.path().join("ws");
    fs::create_dir_all(ws.join("dist")).unwrap();
    fs::write(ws.join("dist/a"), b"same").unwrap();
    fs::write(ws.join("dist/b"), b"same").unwrap();
    let record = store.store_artifact(&ws, "dist", "dist").unwrap();
    let file = Digest::of(b"same").0;
    let object = dir.join("objects").join(&file[..2]).join(&file[2..]);
    assert_eq!(fs::read(&object).unwrap(), b"same");
    let manifest = dir
        .join("objects")
        .join(&record.digest.0[..2])
        .join(&record.digest.0[2..]);
    let manifest = fs::read(manifest).unwrap();
    assert_eq!(Digest::of(&manifest), record.digest);
    // Two objects: the shared content once, and the manifest.
    let count: usize = fs::read_dir(dir.join("objects"))
        .unwrap()
        .map(|d| fs::read_dir(d.unwrap().path()).unwrap().count())
        .sum();
    assert_eq!(count, 2);
    store.store_artifact(&ws, "dist", "dist").unwrap();
    assert_eq!(fs::read_dir(dir.join("tmp")).unwrap().count(), 0);
}

#[test]
fn a_damaged_object_is_not_restored() {
    let scratch = tempfile::tempdir().unwrap();
    let dir = scratch.path().join("local");
    let store = FileStore::open(&dir).unwrap();
    let ws = scratch.path().join("ws");
    fs::create_dir_all(&ws).unwrap();
    fs::write(ws.join("f"), b"original").unwrap();
    let record = store.store_artifact(&ws, "f", "f").unwrap();
    let object = dir
        .join("objects")
        .join(&record.digest.0[..2])
        .join(&record.digest.0[2..]);
    let mut perms = fs::metadata(&object).unwrap().permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    perms.set_readonly(false);
    fs::set_permissions(&object, perms).unwrap();
    fs::write(&object, b"tampered").unwrap();
    let other = scratch.path().join("ws2");
    fs::create_dir_all(&other).unwrap();
    let message = store.restore_artifact(&record, &other).unwrap_err().0;
    assert!(message.contains("does not match"), "{message}");
    assert!(!other.join("f").exists());
}

#[test]
fn cache_files_live_where_documented() {
    let scratch = tempfile::tempdir().unwrap();
    let dir = scratch.path().join("local");
    let store = FileStore::open(&dir).unwrap();
    let key = Digest::of(b"k");
    assert!(
        store
            .cache_get(&Digest("../../escape".to_string()))
            .is_err()
    );
    store
        .cache_put(
            &key,
            &slipway_engine::records::CacheEntry {
                job_key: "j".to_string(),
                outputs: vec![],
                artifacts: vec![],
                created_ms: 0,
                tests: None,
            },
        )
        .unwrap();
    assert!(
        dir.join("cache/entries")
            .join(format!("{key}.json"))
            .is_file()
    );
    store.save_manifest("id", &Default::default()).unwrap();
    assert!(
        dir.join("cache/manifests")
            .join(format!("{}.json", Digest::of(b"id")))
            .is_file()
    );
    let ws = scratch.path().join("ws");
    fs::create_dir_all(ws.join("deps")).unwrap();
    store
        .dir_cache_save("key", &["deps".to_string()], &ws)
        .unwrap();
    assert!(
        dir.join("cache/dirs")
            .join(format!("{}.json", Digest::of(b"key")))
            .is_file()
    );
    assert!(
        Path::new(&dir)
            .join("tmp")
            .read_dir()
            .unwrap()
            .next()
            .is_none()
    );
}
