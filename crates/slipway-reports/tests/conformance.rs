//! Checks the parser against test data written by other projects, read in place from
//! `$SLIPWAY_CONFORMANCE_DIR` or `../shared/conformance` beside the checkout.

use std::path::{Path, PathBuf};

use slipway_reports::{Totals, parse_junit};

/// Vectors deliberately not followed, by path relative to `junit/`, with the reason.
const SKIPPED: &[(&str, &str)] = &[];

fn conformance_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("SLIPWAY_CONFORMANCE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/conformance")
        });
    dir.join("junit").is_dir().then_some(dir)
}

fn xml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            xml_files(&path, out);
        } else if path.extension().is_some_and(|ext| ext == "xml") {
            out.push(path);
        }
    }
}

fn stat(stats: &serde_json::Value, key: &str) -> i64 {
    stats
        .get(key)
        .and_then(serde_json::Value::as_i64)
        .unwrap_or(i64::MIN)
}

fn as_i64(count: u64) -> i64 {
    i64::try_from(count).unwrap_or(i64::MAX)
}

/// Our totals under publish-unit-test-result's names; a flaky pass is a success there.
fn actual_stats(totals: &Totals) -> Vec<(&'static str, i64)> {
    vec![
        ("tests", as_i64(totals.tests)),
        ("tests_succ", as_i64(totals.passed + totals.flaky)),
        ("tests_skip", as_i64(totals.skipped)),
        ("tests_fail", as_i64(totals.failed)),
        ("tests_error", as_i64(totals.errored)),
        ("runs", as_i64(totals.runs)),
        ("runs_succ", totals.runs_passed),
        ("runs_skip", as_i64(totals.runs_skipped)),
        ("runs_fail", as_i64(totals.runs_failed)),
        ("runs_error", as_i64(totals.runs_errored)),
    ]
}

/// Compares one file with its `.results.json`; `Err` says what differs.
fn check(xml_path: &Path) -> Result<(), String> {
    let json_path = xml_path.with_extension("results.json");
    let json =
        std::fs::read_to_string(&json_path).map_err(|e| format!("reading {json_path:?}: {e}"))?;
    let expected: serde_json::Value = serde_json::from_str(&json).map_err(|e| e.to_string())?;
    let stats = expected.get("stats").ok_or("no stats in results.json")?;
    let expects_error = stats
        .get("errors")
        .and_then(serde_json::Value::as_array)
        .is_some_and(|errors| !errors.is_empty());
    let bytes = std::fs::read(xml_path).map_err(|e| e.to_string())?;
    match (parse_junit(&bytes), expects_error) {
        (Err(error), true) => {
            println!("    parse error as expected: {error}");
            Ok(())
        }
        (Ok(_), true) => Err("parsed, but a parse error was expected".into()),
        (Err(error), false) => Err(format!("unexpected parse error: {error}")),
        (Ok(report), false) => {
            let differences: Vec<String> = actual_stats(&report.totals())
                .into_iter()
                .filter(|&(key, actual)| stat(stats, key) != actual)
                .map(|(key, actual)| format!("{key}: expected {}, got {actual}", stat(stats, key)))
                .collect();
            if differences.is_empty() {
                Ok(())
            } else {
                Err(differences.join("; "))
            }
        }
    }
}

#[test]
fn publish_unit_test_result_totals() {
    let Some(dir) = conformance_dir() else {
        println!(
            "skipped: conformance data not found (set SLIPWAY_CONFORMANCE_DIR or place it at ../shared/conformance)"
        );
        return;
    };
    let junit = dir.join("junit");
    let mut files = Vec::new();
    xml_files(&junit.join("publish-unit-test-result"), &mut files);
    files.sort();
    assert!(!files.is_empty(), "no XML files under {junit:?}");
    let (mut passed, mut failed, mut skipped) = (0, Vec::new(), 0);
    for file in &files {
        let relative = file
            .strip_prefix(&junit)
            .unwrap_or(file)
            .to_string_lossy()
            .into_owned();
        if let Some((_, reason)) = SKIPPED.iter().find(|(name, _)| *name == relative) {
            println!("SKIP {relative}: {reason}");
            skipped += 1;
            continue;
        }
        match check(file) {
            Ok(()) => {
                println!("pass {relative}");
                passed += 1;
            }
            Err(why) => {
                println!("FAIL {relative}: {why}");
                failed.push(relative);
            }
        }
    }
    println!(
        "publish-unit-test-result: {passed} passed, {} failed, {skipped} skipped",
        failed.len()
    );
    assert!(failed.is_empty(), "failing vectors: {failed:?}");
}

#[test]
fn xxe_vectors_never_resolve_entities() {
    let Some(dir) = conformance_dir() else {
        println!(
            "skipped: conformance data not found (set SLIPWAY_CONFORMANCE_DIR or place it at ../shared/conformance)"
        );
        return;
    };
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    let first_passwd_line = passwd.lines().next().unwrap_or("root:x:0:0");
    let mut files = Vec::new();
    xml_files(&dir.join("junit/xxe"), &mut files);
    files.sort();
    assert!(!files.is_empty(), "no XXE vectors found");
    for file in &files {
        let bytes = std::fs::read(file).unwrap_or_default();
        match parse_junit(&bytes) {
            Err(error) => println!("pass {}: rejected ({error})", file.display()),
            Ok(report) => {
                let json = serde_json::to_string(&report).unwrap_or_default();
                assert!(
                    !json.contains(first_passwd_line),
                    "{} leaked /etc/passwd",
                    file.display()
                );
                println!("pass {}: parsed without resolving entities", file.display());
            }
        }
    }
}
