//! The live log store against real files in temporary directories.

use std::collections::HashSet;
use std::fs;
use std::io;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use slipway_logs::live::{Cursor, LiveInput, LiveLine, LiveLogs, LiveStream};
use slipway_logs::{Retention, Stream};

/// A guard against a hanging stream, not a timing assertion.
const PATIENCE: Duration = Duration::from_secs(60);

fn input(stream: Stream, ts_ms: u64, text: &str) -> LiveInput<'_> {
    LiveInput {
        stream,
        ts_ms,
        text: text.as_bytes(),
    }
}

fn out(texts: &[&'static str]) -> Vec<LiveInput<'static>> {
    texts
        .iter()
        .enumerate()
        .map(|(i, text)| input(Stream::Stdout, 1_000 + i as u64, text))
        .collect()
}

async fn next(stream: &mut LiveStream) -> Option<LiveLine> {
    let item = tokio::time::timeout(PATIENCE, stream.recv())
        .await
        .expect("the stream neither yielded nor ended");
    item.map(|line| line.expect("stream error"))
}

async fn collect(mut stream: LiveStream) -> Vec<LiveLine> {
    let mut lines = Vec::new();
    while let Some(line) = next(&mut stream).await {
        lines.push(line);
    }
    lines
}

/// `(job, step, line, text)` of each line, for comparisons.
fn summary(lines: &[LiveLine]) -> Vec<(i64, u32, u64, String)> {
    lines
        .iter()
        .map(|l| {
            let text = String::from_utf8_lossy(&l.text).into_owned();
            (l.job, l.step, l.line, text)
        })
        .collect()
}

fn s(job: i64, step: u32, line: u64, text: &str) -> (i64, u32, u64, String) {
    (job, step, line, text.to_owned())
}

/// Run 7: job 1 (`build`) steps 0 and 2, job 2 (`test`) step 0.
fn fill(logs: &LiveLogs) {
    logs.append(7, 1, "build", 0, &out(&["b0", "b1"]))
        .expect("append");
    logs.append(7, 2, "test", 0, &[input(Stream::Stderr, 5, "t0")])
        .expect("append");
    logs.append(7, 1, "build", 0, &out(&["b2"]))
        .expect("append");
    logs.append(7, 1, "build", 2, &out(&["c0", ""]))
        .expect("append");
}

fn filled_summary() -> Vec<(i64, u32, u64, String)> {
    vec![
        s(1, 0, 0, "b0"),
        s(1, 0, 1, "b1"),
        s(1, 0, 2, "b2"),
        s(1, 2, 0, "c0"),
        s(1, 2, 1, ""),
        s(2, 0, 0, "t0"),
    ]
}

fn new_logs(dir: &Path) -> Arc<LiveLogs> {
    Arc::new(LiveLogs::new(dir.to_path_buf()))
}

#[tokio::test]
async fn appended_lines_are_stored_and_streamed_back() {
    let dir = tempfile::tempdir().expect("tempdir");
    let logs = new_logs(dir.path());
    fill(&logs);

    let stored = fs::read(dir.path().join("7/1/0.log")).expect("step log");
    assert_eq!(stored, b"1000 o b0\n1001 o b1\n1000 o b2\n");
    assert_eq!(
        fs::read_to_string(dir.path().join("7/1/key"))
            .ok()
            .as_deref(),
        Some("build")
    );

    let lines = collect(logs.stream(7, None, Cursor::new(), false)).await;
    assert_eq!(summary(&lines), filled_summary());
    let t0 = lines.last().expect("a line");
    assert_eq!(
        (&*t0.job_key, t0.stream, t0.ts_ms),
        ("test", Stream::Stderr, 5)
    );
    assert!(lines[..5].iter().all(|l| &*l.job_key == "build"));

    let job2 = collect(logs.stream(7, Some(2), Cursor::new(), false)).await;
    assert_eq!(summary(&job2), vec![s(2, 0, 0, "t0")]);
    let unknown = collect(logs.stream(8, None, Cursor::new(), false)).await;
    assert!(unknown.is_empty());
}

#[tokio::test]
async fn a_follower_gets_live_lines_and_ends_when_the_run_finishes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let logs = new_logs(dir.path());
    logs.append(7, 1, "build", 0, &out(&["before"]))
        .expect("append");
    let mut follower = logs.stream(7, None, Cursor::new(), true);
    let mut job_follower = logs.stream(7, Some(1), Cursor::new(), true);
    assert_eq!(next(&mut follower).await.map(|l| l.line), Some(0));
    assert_eq!(next(&mut job_follower).await.map(|l| l.line), Some(0));

    logs.append(7, 1, "build", 0, &out(&["live 1", "live 2"]))
        .expect("append");
    logs.append(7, 2, "test", 0, &out(&["other job"]))
        .expect("append");
    logs.finish_job(7, 1).expect("finish job");
    // The job's follower ends with its job; the run's goes on.
    let job_lines = collect(job_follower).await;
    assert_eq!(
        summary(&job_lines),
        vec![s(1, 0, 1, "live 1"), s(1, 0, 2, "live 2")]
    );

    logs.append(7, 2, "test", 1, &out(&["after"]))
        .expect("append");
    logs.finish_job(7, 2).expect("finish job");
    logs.finish_run(7).expect("finish run");
    let rest = collect(follower).await;
    assert_eq!(
        summary(&rest),
        vec![
            s(1, 0, 1, "live 1"),
            s(1, 0, 2, "live 2"),
            s(2, 0, 0, "other job"),
            s(2, 1, 0, "after"),
        ]
    );

    // Following a finished run gives what is stored and ends.
    let again = collect(logs.stream(7, None, Cursor::new(), true)).await;
    assert_eq!(again.len(), 5);
    let job_again = collect(logs.stream(7, Some(2), Cursor::new(), true)).await;
    assert_eq!(job_again.len(), 2);
}

#[tokio::test]
async fn an_encoded_cursor_resumes_with_exactly_the_rest() {
    let dir = tempfile::tempdir().expect("tempdir");
    let logs = new_logs(dir.path());
    fill(&logs);
    let all = collect(logs.stream(7, None, Cursor::new(), false)).await;
    for delivered in 0..=all.len() {
        let mut cursor = Cursor::new();
        for line in &all[..delivered] {
            cursor.advance(line);
        }
        let id = cursor.encode();
        assert!(!id.contains(['\n', '\r', ' ']), "{id:?}");
        let resumed = Cursor::parse(&id).expect("own encoding parses");
        let rest = collect(logs.stream(7, None, resumed, false)).await;
        assert_eq!(summary(&rest), summary(&all[delivered..]), "after {id:?}");
    }

    // Resuming a follower: the rest, then what arrives.
    let mut cursor = Cursor::new();
    all.iter().take(4).for_each(|line| cursor.advance(line));
    let follower = logs.stream(
        7,
        None,
        Cursor::parse(&cursor.encode()).expect("parse"),
        true,
    );
    logs.append(7, 2, "test", 0, &out(&["t1"])).expect("append");
    logs.finish_run(7).expect("finish run");
    let rest = collect(follower).await;
    assert_eq!(
        summary(&rest),
        vec![s(1, 2, 1, ""), s(2, 0, 0, "t0"), s(2, 0, 1, "t1")]
    );
}

#[tokio::test]
async fn a_restarted_store_streams_everything_and_numbers_on() {
    let dir = tempfile::tempdir().expect("tempdir");
    fill(&new_logs(dir.path()));
    // A write cut short by a crash: never acknowledged, so dropped.
    let step0 = dir.path().join("7/2/0.log");
    let mut stored = fs::read(&step0).expect("read");
    stored.extend_from_slice(b"1234 o half a li");
    fs::write(&step0, &stored).expect("write");

    let logs = new_logs(dir.path());
    let lines = collect(logs.stream(7, None, Cursor::new(), false)).await;
    assert_eq!(summary(&lines), filled_summary());
    assert_eq!(&*lines[0].job_key, "build");

    logs.append(7, 2, "test", 0, &out(&["t1"])).expect("append");
    // Step 0 of job 1 is before its latest step (2), even after a restart.
    let backwards = logs.append(7, 1, "build", 0, &out(&["late"]));
    assert_eq!(
        backwards.err().map(|e| e.kind()),
        Some(io::ErrorKind::InvalidInput)
    );
    logs.append(7, 1, "build", 2, &out(&["c2"]))
        .expect("append");
    logs.append(7, 1, "build", 3, &out(&["d0"]))
        .expect("append");
    let job1 = collect(logs.stream(7, Some(1), Cursor::new(), false)).await;
    let mut expected = filled_summary();
    expected.truncate(5);
    expected.extend([s(1, 2, 2, "c2"), s(1, 3, 0, "d0")]);
    assert_eq!(summary(&job1), expected);
    let job2 = collect(logs.stream(7, Some(2), Cursor::new(), false)).await;
    assert_eq!(summary(&job2), vec![s(2, 0, 0, "t0"), s(2, 0, 1, "t1")]);
    // The cut record was removed from the file, not glued to the next one.
    assert_eq!(fs::read(&step0).expect("read"), b"5 e t0\n1000 o t1\n");

    // A job that ended stays ended after a restart.
    logs.finish_job(7, 2).expect("finish");
    let logs = new_logs(dir.path());
    let refused = logs.append(7, 2, "test", 0, &out(&["x"]));
    assert_eq!(
        refused.err().map(|e| e.kind()),
        Some(io::ErrorKind::InvalidInput)
    );
    let job2 = collect(logs.stream(7, Some(2), Cursor::new(), true)).await;
    assert_eq!(job2.len(), 2);
}

#[tokio::test]
async fn an_archived_job_streams_the_same_lines() {
    let dir = tempfile::tempdir().expect("tempdir");
    let logs = new_logs(dir.path());
    fill(&logs);
    let before = collect(logs.stream(7, None, Cursor::new(), false)).await;
    logs.finish_job(7, 1).expect("finish job");
    logs.finish_job(7, 2).expect("finish job");
    logs.finish_job(7, 2).expect("finishing again is harmless");
    for step in [0, 2] {
        assert!(!dir.path().join(format!("7/1/{step}.log")).exists());
        assert!(dir.path().join(format!("7/1/{step}.log.zst")).exists());
    }
    let after = collect(logs.stream(7, None, Cursor::new(), false)).await;
    assert_eq!(after, before);

    logs.finish_run(7).expect("finish run");
    let restarted = new_logs(dir.path());
    let mut cursor = Cursor::new();
    cursor.advance(&before[1]);
    let rest = collect(restarted.stream(7, None, cursor, true)).await;
    assert_eq!(rest, before[2..].to_vec());
}

/// Every line exactly once and each job's lines in order.
fn assert_each_once(lines: &[LiveLine], expected_count: usize) {
    let mut seen = HashSet::new();
    let mut last = std::collections::HashMap::new();
    for line in lines {
        assert!(
            seen.insert((line.job, line.step, line.line)),
            "twice: {line:?}"
        );
        let position = (line.step, line.line);
        if let Some(previous) = last.insert(line.job, position) {
            assert!(previous < position, "out of order: {line:?}");
        }
    }
    assert_eq!(lines.len(), expected_count);
}

#[tokio::test]
async fn a_follower_that_falls_behind_still_gets_every_line_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let logs = Arc::new(LiveLogs::with_broadcast_capacity(
        dir.path().to_path_buf(),
        2,
    ));
    logs.append(7, 1, "build", 0, &out(&["first"]))
        .expect("append");
    let mut follower = logs.stream(7, None, Cursor::new(), true);
    let mut job_follower = logs.stream(7, Some(1), Cursor::new(), true);
    // Their first line means they have subscribed (they subscribe before reading the files).
    assert!(next(&mut follower).await.is_some());
    assert!(next(&mut job_follower).await.is_some());

    // On this single-threaded runtime the followers cannot run while this loop appends, so
    // the broadcast overflows many times over.
    for batch in 0..500u32 {
        let job = 1 + i64::from(batch % 2);
        let step = batch / 100;
        let key = if job == 1 { "build" } else { "test" };
        logs.append(7, job, key, step, &out(&["a", "b", "c"]))
            .expect("append");
    }
    // Job 1 ends, then job 2 keeps writing: the job's end event is lost in the lag too.
    logs.finish_job(7, 1).expect("finish job");
    for _ in 0..10 {
        logs.append(7, 2, "test", 9, &out(&["z"])).expect("append");
    }
    let job_lines = collect(job_follower).await;
    assert_each_once(&job_lines, 250 * 3);
    assert!(job_lines.iter().all(|l| l.job == 1));

    logs.finish_job(7, 2).expect("finish job");
    logs.finish_run(7).expect("finish run");
    let lines = collect(follower).await;
    assert_each_once(&lines, 500 * 3 + 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn followers_joining_while_jobs_write_concurrently_get_every_line_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let logs = Arc::new(LiveLogs::with_broadcast_capacity(
        dir.path().to_path_buf(),
        4,
    ));
    const JOBS: i64 = 3;
    const BATCHES: u32 = 300;
    let mut followers = vec![(None, logs.stream(7, None, Cursor::new(), true))];
    let writers: Vec<_> = (1..=JOBS)
        .map(|job| {
            let logs = logs.clone();
            std::thread::spawn(move || {
                for batch in 0..BATCHES {
                    let key = format!("job {job}");
                    logs.append(7, job, &key, batch / 50, &out(&["x", "y"]))
                        .expect("append");
                }
                logs.finish_job(7, job).expect("finish job");
            })
        })
        .collect();
    // Followers that join while the jobs write, some of a single job.
    for round in 0..6 {
        tokio::task::yield_now().await;
        let job = (round % 2 == 1).then_some(1 + round % JOBS);
        followers.push((job, logs.stream(7, job, Cursor::new(), true)));
    }
    for writer in writers {
        writer.join().expect("writer");
    }
    logs.finish_run(7).expect("finish run");
    let per_job = BATCHES as usize * 2;
    for (job, follower) in followers {
        let lines = collect(follower).await;
        let jobs: HashSet<i64> = lines.iter().map(|l| l.job).collect();
        let expected: HashSet<i64> = match job {
            Some(job) => HashSet::from([job]),
            None => (1..=JOBS).collect(),
        };
        assert_eq!(jobs, expected);
        assert_each_once(&lines, jobs.len() * per_job);
    }
}

#[tokio::test]
async fn bad_input_is_refused_and_nothing_is_stored() {
    let dir = tempfile::tempdir().expect("tempdir");
    let logs = new_logs(dir.path());
    let with_newline = [
        input(Stream::Stdout, 1, "fine"),
        input(Stream::Stdout, 2, "a\nb"),
    ];
    let err = logs.append(7, 1, "build", 0, &with_newline).err();
    assert_eq!(err.map(|e| e.kind()), Some(io::ErrorKind::InvalidInput));
    assert!(!dir.path().join("7/1/0.log").exists());

    logs.append(7, 1, "build", 1, &out(&["x"])).expect("append");
    let other_key = logs.append(7, 1, "deploy", 1, &out(&["y"])).err();
    assert_eq!(
        other_key.map(|e| e.kind()),
        Some(io::ErrorKind::InvalidInput)
    );
    logs.finish_run(7).expect("finish run");
    let after_end = logs.append(7, 1, "build", 1, &out(&["z"])).err();
    assert_eq!(
        after_end.map(|e| e.kind()),
        Some(io::ErrorKind::InvalidInput)
    );
    let lines = collect(logs.stream(7, None, Cursor::new(), true)).await;
    assert_eq!(summary(&lines), vec![s(1, 1, 0, "x")]);

    for bad in [
        "12:0",
        "12:0:41,",
        "x:1:2",
        "1:2:3 ",
        "-1:0:0",
        "1:0:0,1:0:1",
    ] {
        assert!(Cursor::parse(bad).is_err(), "{bad:?}");
    }
}

#[tokio::test]
async fn prune_spares_runs_that_have_not_finished() {
    let dir = tempfile::tempdir().expect("tempdir");
    let logs = new_logs(dir.path());
    logs.append(7, 1, "build", 0, &out(&["old"]))
        .expect("append");
    logs.append(8, 3, "build", 0, &out(&["running"]))
        .expect("append");
    logs.finish_job(7, 1).expect("finish job");
    logs.finish_run(7).expect("finish run");

    let all_over_limit = Retention {
        max_age: None,
        max_total_bytes: Some(0),
    };
    let report = logs.prune(&all_over_limit).expect("prune");
    assert_eq!(report.deleted, vec![dir.path().join("7/1/0.log.zst")]);
    assert_eq!(report.spared_active, vec![dir.path().join("8/3/0.log")]);

    // The pruned run still ends for a follower; the running one still streams.
    assert!(
        collect(logs.stream(7, None, Cursor::new(), true))
            .await
            .is_empty()
    );
    let running = collect(logs.stream(8, None, Cursor::new(), false)).await;
    assert_eq!(summary(&running), vec![s(3, 0, 0, "running")]);

    let empty = new_logs(&dir.path().join("nothing here"));
    assert!(
        empty
            .prune(&all_over_limit)
            .expect("prune")
            .deleted
            .is_empty()
    );
}

#[test]
fn streaming_outside_a_runtime_is_an_error_not_a_panic() {
    let dir = tempfile::tempdir().expect("tempdir");
    let logs = new_logs(dir.path());
    let mut stream = logs.stream(7, None, Cursor::new(), false);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let first = runtime.block_on(stream.recv());
    assert!(matches!(first, Some(Err(_))));
    assert!(runtime.block_on(stream.recv()).is_none());
}
