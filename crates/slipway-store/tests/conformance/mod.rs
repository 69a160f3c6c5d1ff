//! The conformance suite every store backend must pass.
//!
//! A backend's test file declares `mod conformance;` and invokes
//! `conformance_suite!(make)` where `make()` returns a [`Fixture`]; each
//! function below then becomes one `#[test]` of that backend.

#![allow(dead_code)]

use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};

use slipway_engine::ports::{StepExit, StepLog, Store, StoreError, Stream};
use slipway_engine::records::{
    ArtifactKind, ArtifactRecord, CacheEntry, CacheStatus, Digest, GitInfo, JobResult, JobSummary,
    KeyManifest, Record, RunMeta, RunSummary,
};
use slipway_store::StoreRead;

/// A store under test and a scratch directory for workspaces, removed when
/// the fixture is dropped.
pub struct Fixture<S> {
    pub store: S,
    pub scratch: tempfile::TempDir,
}

/// Instantiates every conformance test for a backend.
#[macro_export]
macro_rules! conformance_suite {
    ($make:expr) => {
        $crate::conformance_suite!(@tests $make;
            run_numbers_count_up,
            concurrent_runs_get_distinct_numbers,
            records_round_trip,
            unknown_runs_are_errors,
            step_logs_round_trip,
            silent_step_has_empty_log,
            summary_round_trip,
            file_artifact_round_trip,
            directory_artifact_round_trip,
            directory_digest_is_backend_independent,
            restore_replaces_existing_content,
            restore_leaves_identical_files_alone,
            refuses_absolute_and_parent_paths,
            refuses_missing_path,
            refuses_symlink_outside_at_top,
            refuses_symlink_outside_inside_directory,
            refuses_dangling_symlink,
            accepts_symlink_inside_workspace,
            restore_refuses_traversal,
            restore_refuses_writing_through_outside_symlink,
            job_cache_get_put,
            key_manifests,
            dir_cache_restore_and_save,
            dir_cache_first_writer_wins,
            dir_cache_absolute_paths
        );
    };
    (@tests $make:expr; $($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                let fixture = $make();
                conformance::$name(&fixture.store, fixture.scratch.path());
            }
        )*
    };
}

fn meta(pipeline: &str) -> RunMeta {
    RunMeta {
        pipeline: pipeline.to_string(),
        file: "slipway.yml".to_string(),
        started_ms: 1_767_225_600_000,
        git: GitInfo {
            branch: Some("main".to_string()),
            event: "local".to_string(),
            ..GitInfo::default()
        },
        jobs: vec!["build".to_string(), "test (linux, 1)".to_string()],
    }
}

fn ok<T>(result: Result<T, StoreError>) -> T {
    match result {
        Ok(value) => value,
        Err(e) => panic!("store error: {e}"),
    }
}

fn err<T: std::fmt::Debug>(result: Result<T, StoreError>) -> String {
    match result {
        Ok(value) => panic!("expected an error, got {value:?}"),
        Err(e) => e.0,
    }
}

fn write(path: &Path, bytes: &[u8]) {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).unwrap();
    }
    fs::write(path, bytes).unwrap();
}

fn set_mode(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

fn is_executable(path: &Path) -> bool {
    fs::metadata(path).unwrap().permissions().mode() & 0o111 != 0
}

/// A workspace directory under the scratch directory.
fn workspace(scratch: &Path, name: &str) -> PathBuf {
    let dir = scratch.join(name);
    fs::create_dir_all(&dir).unwrap();
    dir
}

/// A fixed tree whose digest the suite pins (see
/// [`directory_digest_is_backend_independent`]).
fn make_tree(root: &Path) {
    write(&root.join("dist/app"), b"#!/bin/sh\necho app\n");
    set_mode(&root.join("dist/app"), 0o755);
    write(&root.join("dist/lib/data.txt"), b"data\n");
    set_mode(&root.join("dist/lib/data.txt"), 0o644);
    write(&root.join("dist/lib/nested/deep.bin"), &[0u8, 1, 2, 255]);
    set_mode(&root.join("dist/lib/nested/deep.bin"), 0o600);
    fs::create_dir_all(root.join("dist/empty")).unwrap();
    symlink("lib/data.txt", root.join("dist/current")).unwrap();
}

/// Every entry under `dir`: (relative path, description), sorted.
fn listing(dir: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut pending = vec![PathBuf::new()];
    while let Some(rel) = pending.pop() {
        for item in fs::read_dir(dir.join(&rel)).unwrap() {
            let item = item.unwrap();
            let rel = rel.join(item.file_name());
            let meta = fs::symlink_metadata(item.path()).unwrap();
            let shown = rel.display().to_string();
            if meta.file_type().is_symlink() {
                out.push((
                    shown,
                    format!("link {}", fs::read_link(item.path()).unwrap().display()),
                ));
            } else if meta.is_dir() {
                out.push((shown, "dir".to_string()));
                pending.push(rel);
            } else {
                let exec = meta.permissions().mode() & 0o111 != 0;
                out.push((
                    shown,
                    format!("file exec={exec} {:?}", fs::read(item.path()).unwrap()),
                ));
            }
        }
    }
    out.sort();
    out
}

// ---- runs and records ----

pub fn run_numbers_count_up<S: Store + StoreRead>(store: &S, _: &Path) {
    assert_eq!(ok(store.list_runs()), Vec::<String>::new());
    let runs: Vec<String> = (0..3).map(|_| ok(store.begin_run(&meta("p")))).collect();
    assert_eq!(runs, ["1", "2", "3"]);
    assert_eq!(ok(store.list_runs()), ["1", "2", "3"]);
    assert_eq!(ok(store.read_meta("2")).pipeline, "p");
    assert_eq!(ok(store.read_meta("2")).jobs, meta("p").jobs);
}

pub fn concurrent_runs_get_distinct_numbers<S: Store + StoreRead>(store: &S, _: &Path) {
    let mut numbers: Vec<String> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..8)
            .map(|_| scope.spawn(|| ok(store.begin_run(&meta("p")))))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    numbers.sort_by_key(|n| n.parse::<u64>().unwrap());
    let expected: Vec<String> = (1..=8).map(|n| n.to_string()).collect();
    assert_eq!(numbers, expected);
}

fn sample_records() -> Vec<Record> {
    vec![
        Record::JobStarted { job: 0, at_ms: 10 },
        Record::StepStarted {
            job: 0,
            step: 0,
            name: "build \"it\"".to_string(),
            at_ms: 11,
        },
        Record::StepFinished {
            job: 0,
            step: 0,
            exit: StepExit::Exited(0),
            attempt: 1,
            at_ms: 12,
        },
        Record::StepFinished {
            job: 0,
            step: 1,
            exit: StepExit::SpawnFailed("no bash\nat all".to_string()),
            attempt: 2,
            at_ms: 13,
        },
        Record::JobFinished {
            job: 0,
            result: JobResult::Success,
            at_ms: 14,
            cache: CacheStatus::Miss {
                key: Digest::of(b"k"),
                reasons: vec!["file:src/main.rs changed".to_string()],
            },
            outputs: vec![("version".to_string(), "1.2.3".to_string())],
            error: None,
            artifacts: vec![ArtifactRecord {
                name: "app".to_string(),
                path: "dist/app".to_string(),
                digest: Digest::of(b"app"),
                size: 3,
                kind: ArtifactKind::File,
            }],
        },
        Record::JobSkipped {
            job: 1,
            at_ms: 15,
            reason: "if: false".to_string(),
        },
        Record::CancelRequested { at_ms: 16 },
        Record::JobFinished {
            job: 2,
            result: JobResult::Cancelled,
            at_ms: 17,
            cache: CacheStatus::Uncached,
            outputs: vec![],
            error: Some("timed out".to_string()),
            artifacts: vec![],
        },
        Record::RunFinished {
            result: JobResult::Failure,
            at_ms: 18,
        },
    ]
}

pub fn records_round_trip<S: Store + StoreRead>(store: &S, _: &Path) {
    let first = ok(store.begin_run(&meta("p")));
    let second = ok(store.begin_run(&meta("p")));
    let records = sample_records();
    for record in &records {
        ok(store.record(&first, record));
    }
    ok(store.record(&second, &Record::JobStarted { job: 7, at_ms: 1 }));
    // Readable while the run is still going, and again after it finished.
    assert_eq!(ok(store.read_records(&first)), records);
    assert_eq!(
        ok(store.read_records(&second)),
        [Record::JobStarted { job: 7, at_ms: 1 }]
    );
    let summary = RunSummary {
        run: first.clone(),
        result: JobResult::Failure,
        duration_ms: 8,
        jobs: vec![],
    };
    ok(store.finish_run(&first, &summary));
    assert_eq!(ok(store.read_records(&first)), records);
}

pub fn unknown_runs_are_errors<S: Store + StoreRead>(store: &S, _: &Path) {
    ok(store.begin_run(&meta("p")));
    let record = Record::CancelRequested { at_ms: 1 };
    assert!(err(store.record("9", &record)).contains('9'));
    for bad in [
        "",
        "../1",
        "1/..",
        "-1",
        "0",
        "abc",
        "+1",
        "99999999999999999999999",
    ] {
        err(store.record(bad, &record));
        err(store.read_records(bad));
        err(store.open_step_log(bad, "job", 0).map(drop));
    }
    err(store.read_records("2"));
    err(store.read_meta("2"));
    err(store.read_summary("2"));
}

// ---- step logs and summaries ----

pub fn step_logs_round_trip<S: Store + StoreRead>(store: &S, _: &Path) {
    let run = ok(store.begin_run(&meta("p")));
    let lines: Vec<(Stream, u64, Vec<u8>)> = vec![
        (Stream::Stdout, 100, b"hello".to_vec()),
        (Stream::Stderr, 101, b"warning: x".to_vec()),
        (Stream::Stdout, 102, Vec::new()),
        (Stream::Stdout, 103, vec![0xff, 0xfe, b' ', b'\r']),
    ];
    for key in ["test (linux, 1)", "a/b", "a_b", ".."] {
        let mut log = ok(store.open_step_log(&run, key, 2));
        for (stream, ts, line) in &lines {
            ok(log.write_line(*stream, *ts, line));
        }
        ok(log.write_line(Stream::Stdout, 104, key.as_bytes()));
        ok(log.finish());
    }
    for key in ["test (linux, 1)", "a/b", "a_b", ".."] {
        let bytes = ok(store.read_step_log(&run, key, 2));
        let read: Vec<(Stream, u64, Vec<u8>)> = slipway_logs::records(&bytes)
            .map(|r| r.map(|r| (r.stream, r.ts_ms, r.line.to_vec())).unwrap())
            .collect();
        let mut expected = lines.clone();
        expected.push((Stream::Stdout, 104, key.as_bytes().to_vec()));
        assert_eq!(read, expected, "log of {key}");
    }
    // A line still holding a newline is kept, as two records.
    let mut log = ok(store.open_step_log(&run, "build", 0));
    ok(log.write_line(Stream::Stdout, 5, b"one\ntwo"));
    ok(log.finish());
    assert_eq!(
        ok(store.read_step_log(&run, "build", 0)),
        b"5 o one\n5 o two\n"
    );
    // A retried step appends to the same log.
    let mut log = ok(store.open_step_log(&run, "build", 0));
    ok(log.write_line(Stream::Stderr, 6, b"again"));
    ok(log.finish());
    assert_eq!(
        ok(store.read_step_log(&run, "build", 0)),
        b"5 o one\n5 o two\n6 e again\n"
    );
}

pub fn silent_step_has_empty_log<S: Store + StoreRead>(store: &S, _: &Path) {
    let run = ok(store.begin_run(&meta("p")));
    ok(ok(store.open_step_log(&run, "build", 0)).finish());
    assert_eq!(ok(store.read_step_log(&run, "build", 0)), b"");
    assert_eq!(ok(store.read_step_log(&run, "never opened", 3)), b"");
}

pub fn summary_round_trip<S: Store + StoreRead>(store: &S, _: &Path) {
    let run = ok(store.begin_run(&meta("p")));
    assert!(ok(store.read_summary(&run)).is_none());
    let summary = RunSummary {
        run: run.clone(),
        result: JobResult::Success,
        duration_ms: 1234,
        jobs: vec![JobSummary {
            key: "build".to_string(),
            result: JobResult::Success,
            duration_ms: 1000,
            cache: CacheStatus::Hit {
                key: Digest::of(b"key"),
            },
            artifacts: vec![],
            tests: None,
            error: None,
        }],
    };
    ok(store.finish_run(&run, &summary));
    let read = ok(store.read_summary(&run)).unwrap();
    assert_eq!(read.run, run);
    assert_eq!(read.duration_ms, 1234);
    assert_eq!(read.jobs.len(), 1);
    assert_eq!(
        read.jobs[0].cache,
        CacheStatus::Hit {
            key: Digest::of(b"key")
        }
    );
}

// ---- artifacts ----

pub fn file_artifact_round_trip<S: Store>(store: &S, scratch: &Path) {
    let ws = workspace(scratch, "ws1");
    write(&ws.join("target/app"), b"\x7fELF binary");
    set_mode(&ws.join("target/app"), 0o755);
    write(&ws.join("notes.txt"), b"plain");
    set_mode(&ws.join("notes.txt"), 0o644);

    let app = ok(store.store_artifact(&ws, "app", "./target//app"));
    assert_eq!(
        app,
        ArtifactRecord {
            name: "app".to_string(),
            path: "target/app".to_string(),
            digest: Digest::of(b"\x7fELF binary"),
            size: 11,
            kind: ArtifactKind::File,
        }
    );
    let notes = ok(store.store_artifact(&ws, "notes", "notes.txt"));
    assert_eq!(notes.digest, Digest::of(b"plain"));

    let other = workspace(scratch, "ws2");
    ok(store.restore_artifact(&app, &other));
    ok(store.restore_artifact(&notes, &other));
    assert_eq!(
        fs::read(other.join("target/app")).unwrap(),
        b"\x7fELF binary"
    );
    assert!(is_executable(&other.join("target/app")));
    assert_eq!(fs::read(other.join("notes.txt")).unwrap(), b"plain");
    assert!(!is_executable(&other.join("notes.txt")));
}

pub fn directory_artifact_round_trip<S: Store>(store: &S, scratch: &Path) {
    let ws = workspace(scratch, "ws1");
    make_tree(&ws);
    let record = ok(store.store_artifact(&ws, "dist", "dist"));
    assert_eq!(record.kind, ArtifactKind::Directory);
    assert_eq!(record.path, "dist");
    assert_eq!(record.size, 19 + 5 + 4);

    let other = workspace(scratch, "ws2");
    ok(store.restore_artifact(&record, &other));
    assert_eq!(listing(&other.join("dist")), listing(&ws.join("dist")));
    // Modes are normalised to the executable bit.
    assert_eq!(
        fs::metadata(other.join("dist/lib/nested/deep.bin"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o644
    );
}

/// The manifest of [`make_tree`]'s `dist`, written out by hand: the format
/// is a contract between backends (and versions), so the digest of a
/// directory is the BLAKE3 of exactly these bytes.
fn expected_dist_manifest() -> String {
    let app = Digest::of(b"#!/bin/sh\necho app\n");
    let data = Digest::of(b"data\n");
    let deep = Digest::of(&[0u8, 1, 2, 255]);
    [
        r#"{"format":"slipway-tree/1","entries":["#.to_string(),
        format!(r#"{{"path":"app","kind":"file","mode":493,"size":19,"digest":"{app}"}},"#),
        r#"{"path":"current","kind":"symlink","mode":511,"size":0,"target":"lib/data.txt"},"#.to_string(),
        r#"{"path":"empty","kind":"dir","mode":493,"size":0},"#.to_string(),
        r#"{"path":"lib","kind":"dir","mode":493,"size":0},"#.to_string(),
        format!(r#"{{"path":"lib/data.txt","kind":"file","mode":420,"size":5,"digest":"{data}"}},"#),
        r#"{"path":"lib/nested","kind":"dir","mode":493,"size":0},"#.to_string(),
        format!(r#"{{"path":"lib/nested/deep.bin","kind":"file","mode":420,"size":4,"digest":"{deep}"}}"#),
        "]}".to_string(),
    ]
    .concat()
}

pub fn directory_digest_is_backend_independent<S: Store>(store: &S, scratch: &Path) {
    let first = workspace(scratch, "first");
    let second = workspace(scratch, "second");
    make_tree(&first);
    make_tree(&second);
    // Extra files outside the artifact and a different umask-style mode on
    // a non-executable file change nothing.
    write(&second.join("unrelated"), b"x");
    set_mode(&second.join("dist/lib/data.txt"), 0o664);
    let a = ok(store.store_artifact(&first, "dist", "dist"));
    let b = ok(store.store_artifact(&second, "dist", "dist/"));
    assert_eq!(a.digest, b.digest);
    assert_eq!(a.digest, Digest::of(expected_dist_manifest().as_bytes()));
    // A changed byte changes the digest.
    write(&second.join("dist/lib/data.txt"), b"date\n");
    let c = ok(store.store_artifact(&second, "dist", "dist"));
    assert_ne!(a.digest, c.digest);
}

pub fn restore_replaces_existing_content<S: Store>(store: &S, scratch: &Path) {
    let ws = workspace(scratch, "ws1");
    make_tree(&ws);
    write(&ws.join("single"), b"new");
    let dir = ok(store.store_artifact(&ws, "dist", "dist"));
    let file = ok(store.store_artifact(&ws, "single", "single"));

    let other = workspace(scratch, "ws2");
    write(&other.join("dist/app"), b"stale");
    write(
        &other.join("dist/current/x"),
        b"a directory where a link belongs",
    );
    fs::create_dir_all(other.join("single")).unwrap();
    ok(store.restore_artifact(&dir, &other));
    ok(store.restore_artifact(&file, &other));
    assert_eq!(listing(&other.join("dist")), listing(&ws.join("dist")));
    assert_eq!(fs::read(other.join("single")).unwrap(), b"new");
}

pub fn restore_leaves_identical_files_alone<S: Store>(store: &S, scratch: &Path) {
    let ws = workspace(scratch, "ws");
    make_tree(&ws);
    write(&ws.join("single"), b"abc");
    set_mode(&ws.join("single"), 0o755);
    let dir = ok(store.store_artifact(&ws, "dist", "dist"));
    let file = ok(store.store_artifact(&ws, "single", "single"));
    let old = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000);
    for path in ["dist/app", "dist/lib/data.txt", "single"] {
        fs::File::options()
            .write(true)
            .open(ws.join(path))
            .unwrap()
            .set_modified(old)
            .unwrap();
    }
    // Same size, other bytes: must be replaced. A lost executable bit comes back.
    write(&ws.join("dist/lib/data.txt"), b"DATA\n");
    fs::File::options()
        .write(true)
        .open(ws.join("dist/lib/data.txt"))
        .unwrap()
        .set_modified(old)
        .unwrap();
    set_mode(&ws.join("single"), 0o644);
    ok(store.restore_artifact(&dir, &ws));
    ok(store.restore_artifact(&file, &ws));
    let mtime = |p: &str| fs::metadata(ws.join(p)).unwrap().modified().unwrap();
    assert_eq!(mtime("dist/app"), old);
    assert_eq!(mtime("single"), old);
    assert!(is_executable(&ws.join("single")));
    assert_eq!(fs::read(ws.join("dist/lib/data.txt")).unwrap(), b"data\n");
    assert_ne!(mtime("dist/lib/data.txt"), old);
}

pub fn refuses_absolute_and_parent_paths<S: Store>(store: &S, scratch: &Path) {
    let ws = workspace(scratch, "ws");
    write(&scratch.join("secret"), b"s");
    write(&ws.join("a/file"), b"f");
    let abs = scratch.join("secret").display().to_string();
    let message = err(store.store_artifact(&ws, "x", &abs));
    assert!(
        message.contains("absolute") && message.contains(&abs),
        "{message}"
    );
    for bad in ["../secret", "a/../../secret", "a/..", ".."] {
        let message = err(store.store_artifact(&ws, "x", bad));
        assert!(
            message.contains("`..`") && message.contains(bad),
            "{message}"
        );
    }
    let message = err(store.store_artifact(&ws, "x", "."));
    assert!(message.contains("workspace root"), "{message}");
    symlink(".", ws.join("here")).unwrap();
    let message = err(store.store_artifact(&ws, "x", "here"));
    assert!(message.contains("workspace root"), "{message}");
}

pub fn refuses_missing_path<S: Store>(store: &S, scratch: &Path) {
    let ws = workspace(scratch, "ws");
    let message = err(store.store_artifact(&ws, "bin", "target/bin"));
    assert_eq!(
        message,
        "artifact `bin` not found at `target/bin`: did the job create it?"
    );
}

pub fn refuses_symlink_outside_at_top<S: Store>(store: &S, scratch: &Path) {
    let ws = workspace(scratch, "ws");
    write(&scratch.join("outside/passwd"), b"root");
    symlink(scratch.join("outside/passwd"), ws.join("link")).unwrap();
    symlink("../outside", ws.join("dirlink")).unwrap();
    let message = err(store.store_artifact(&ws, "x", "link"));
    assert!(
        message.contains("symlink")
            && message.contains("outside the workspace")
            && message.contains("`link`"),
        "{message}"
    );
    err(store.store_artifact(&ws, "x", "dirlink"));
    // Through a symlinked directory on the way.
    let message = err(store.store_artifact(&ws, "x", "dirlink/passwd"));
    assert!(message.contains("outside the workspace"), "{message}");
}

pub fn refuses_symlink_outside_inside_directory<S: Store>(store: &S, scratch: &Path) {
    let ws = workspace(scratch, "ws");
    write(&scratch.join("outside/passwd"), b"root");
    write(&ws.join("dist/ok.txt"), b"ok");
    symlink("../../outside/passwd", ws.join("dist/escape")).unwrap();
    let message = err(store.store_artifact(&ws, "dist", "dist"));
    assert!(
        message.contains("dist/escape") && message.contains("outside the workspace"),
        "{message}"
    );
    fs::remove_file(ws.join("dist/escape")).unwrap();
    symlink(scratch.join("outside"), ws.join("dist/abs")).unwrap();
    let message = err(store.store_artifact(&ws, "dist", "dist"));
    assert!(message.contains("dist/abs"), "{message}");
}

pub fn refuses_dangling_symlink<S: Store>(store: &S, scratch: &Path) {
    let ws = workspace(scratch, "ws");
    symlink("nowhere", ws.join("top")).unwrap();
    let message = err(store.store_artifact(&ws, "top", "top"));
    assert!(message.contains("does not exist"), "{message}");
    write(&ws.join("dist/a"), b"a");
    symlink("nowhere", ws.join("dist/dangling")).unwrap();
    let message = err(store.store_artifact(&ws, "dist", "dist"));
    assert!(
        message.contains("dist/dangling") && message.contains("does not exist"),
        "{message}"
    );
}

pub fn accepts_symlink_inside_workspace<S: Store>(store: &S, scratch: &Path) {
    let ws = workspace(scratch, "ws");
    write(&ws.join("build/out/app"), b"app");
    write(&ws.join("vendor/lib.so"), b"lib");
    symlink("build/out", ws.join("dist")).unwrap();
    symlink("../../vendor/lib.so", ws.join("build/out/lib.so")).unwrap();
    symlink(ws.join("vendor/lib.so"), ws.join("build/out/abs.so")).unwrap();
    // The top-level link is followed; links inside are stored as links.
    let record = ok(store.store_artifact(&ws, "dist", "dist"));
    assert_eq!(record.kind, ArtifactKind::Directory);
    let other = workspace(scratch, "ws2");
    write(&other.join("vendor/lib.so"), b"lib2");
    ok(store.restore_artifact(&record, &other));
    assert_eq!(fs::read(other.join("dist/app")).unwrap(), b"app");
    // Links keep pointing at the same file relative to where the artifact
    // is restored (`dist`, not `build/out`), and absolute ones become relative.
    assert_eq!(
        fs::read_link(other.join("dist/lib.so")).unwrap(),
        Path::new("../vendor/lib.so")
    );
    assert_eq!(fs::read(other.join("dist/lib.so")).unwrap(), b"lib2");
    let abs = fs::read_link(other.join("dist/abs.so")).unwrap();
    assert!(abs.is_relative(), "{}", abs.display());
    assert_eq!(fs::read(other.join("dist/abs.so")).unwrap(), b"lib2");
}

pub fn restore_refuses_traversal<S: Store>(store: &S, scratch: &Path) {
    let ws = workspace(scratch, "ws");
    write(&ws.join("f"), b"f");
    let good = ok(store.store_artifact(&ws, "f", "f"));
    let other = workspace(scratch, "deep/ws2");
    for bad in ["../escaped", "a/../../escaped", "/tmp/escaped"] {
        let record = ArtifactRecord {
            path: bad.to_string(),
            ..good.clone()
        };
        err(store.restore_artifact(&record, &other));
    }
    assert!(!scratch.join("deep/escaped").exists());
    // A damaged digest never names a file outside the store.
    let record = ArtifactRecord {
        digest: Digest("../../../etc/passwd".to_string()),
        ..good
    };
    err(store.restore_artifact(&record, &other));
}

pub fn restore_refuses_writing_through_outside_symlink<S: Store>(store: &S, scratch: &Path) {
    let ws = workspace(scratch, "ws");
    write(&ws.join("out/app"), b"app");
    make_tree(&ws);
    let file = ok(store.store_artifact(&ws, "app", "out/app"));
    let dir = ok(store.store_artifact(&ws, "dist", "dist"));
    let other = workspace(scratch, "ws2");
    let outside = workspace(scratch, "outside");
    symlink(&outside, other.join("out")).unwrap();
    symlink(&outside, other.join("dist")).unwrap();
    let message = err(store.restore_artifact(&file, &other));
    assert!(message.contains("symlink"), "{message}");
    err(store.restore_artifact(&dir, &other));
    assert_eq!(fs::read_dir(&outside).unwrap().count(), 0);
}

// ---- caches ----

fn entry(job: &str) -> CacheEntry {
    CacheEntry {
        job_key: job.to_string(),
        outputs: vec![("v".to_string(), "1".to_string())],
        artifacts: vec![ArtifactRecord {
            name: "app".to_string(),
            path: "target/app".to_string(),
            digest: Digest::of(b"app"),
            size: 3,
            kind: ArtifactKind::File,
        }],
        created_ms: 5,
        tests: None,
    }
}

pub fn job_cache_get_put<S: Store>(store: &S, _: &Path) {
    let key = Digest::of(b"key one");
    assert_eq!(ok(store.cache_get(&key)), None);
    ok(store.cache_put(&key, &entry("build")));
    assert_eq!(ok(store.cache_get(&key)), Some(entry("build")));
    assert_eq!(ok(store.cache_get(&Digest::of(b"key two"))), None);
    ok(store.cache_put(&key, &entry("build again")));
    assert_eq!(
        ok(store.cache_get(&key)).map(|e| e.job_key),
        Some("build again".to_string())
    );
}

pub fn key_manifests<S: Store>(store: &S, _: &Path) {
    let identity = "pipeline/build (linux)";
    assert_eq!(ok(store.last_manifest(identity)), None);
    let manifest = KeyManifest {
        parts: vec![
            ("definition".to_string(), "abc".to_string()),
            ("file:src/main.rs".to_string(), "def".to_string()),
        ],
    };
    ok(store.save_manifest(identity, &manifest));
    assert_eq!(ok(store.last_manifest(identity)), Some(manifest.clone()));
    assert_eq!(ok(store.last_manifest("pipeline/other")), None);
    let newer = KeyManifest {
        parts: vec![("definition".to_string(), "xyz".to_string())],
    };
    ok(store.save_manifest(identity, &newer));
    assert_eq!(ok(store.last_manifest(identity)), Some(newer));
}

pub fn dir_cache_restore_and_save<S: Store>(store: &S, scratch: &Path) {
    let ws = workspace(scratch, "ws1");
    let paths = vec!["node_modules".to_string(), "missing".to_string()];
    assert!(!ok(store.dir_cache_restore("deps-1", &paths, &ws)));
    // Nothing to save yet: the key stays free for a job that creates them.
    ok(store.dir_cache_save("deps-1", &paths, &ws));
    assert!(!ok(store.dir_cache_restore("deps-1", &paths, &ws)));
    write(&ws.join("node_modules/pkg/index.js"), b"module.exports = 1");
    write(&ws.join("node_modules/.bin/tool"), b"#!/bin/sh");
    set_mode(&ws.join("node_modules/.bin/tool"), 0o755);
    symlink("../pkg/index.js", ws.join("node_modules/.bin/pkg")).unwrap();
    ok(store.dir_cache_save("deps-1", &paths, &ws));

    let other = workspace(scratch, "ws2");
    write(&other.join("node_modules/pkg/index.js"), b"old");
    write(&other.join("node_modules/extra"), b"kept");
    assert!(ok(store.dir_cache_restore("deps-1", &paths, &other)));
    assert_eq!(
        fs::read(other.join("node_modules/pkg/index.js")).unwrap(),
        b"module.exports = 1"
    );
    assert!(is_executable(&other.join("node_modules/.bin/tool")));
    assert_eq!(
        fs::read_link(other.join("node_modules/.bin/pkg")).unwrap(),
        Path::new("../pkg/index.js")
    );
    assert!(!other.join("missing").exists());
    assert!(!ok(store.dir_cache_restore("deps-2", &paths, &other)));
}

pub fn dir_cache_first_writer_wins<S: Store>(store: &S, scratch: &Path) {
    let ws = workspace(scratch, "ws1");
    let paths = vec!["cache".to_string()];
    write(&ws.join("cache/v"), b"first");
    ok(store.dir_cache_save("k", &paths, &ws));
    write(&ws.join("cache/v"), b"second");
    ok(store.dir_cache_save("k", &paths, &ws));
    let other = workspace(scratch, "ws2");
    assert!(ok(store.dir_cache_restore("k", &paths, &other)));
    assert_eq!(fs::read(other.join("cache/v")).unwrap(), b"first");
}

pub fn dir_cache_absolute_paths<S: Store>(store: &S, scratch: &Path) {
    let ws = workspace(scratch, "ws");
    let registry = scratch.join("home/.cargo/registry");
    write(&registry.join("index/crate"), b"crate");
    let paths = vec![registry.display().to_string()];
    ok(store.dir_cache_save("cargo", &paths, &ws));
    fs::remove_dir_all(scratch.join("home")).unwrap();
    assert!(ok(store.dir_cache_restore("cargo", &paths, &ws)));
    assert_eq!(fs::read(registry.join("index/crate")).unwrap(), b"crate");
    assert_eq!(fs::read_dir(&ws).unwrap().count(), 0);
}
