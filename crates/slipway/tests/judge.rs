//! `slipway judge` on sample files in a temporary directory.

use std::path::{Path, PathBuf};
use std::process::Output;

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text)
        .unwrap_or_else(|error| panic!("writing {}: {error}", path.display()));
    path
}

fn samples(centre: f64) -> String {
    let values: Vec<String> = (0..40)
        .map(|i| format!("{}", centre + ((i * 37) % 40) as f64 * 0.1))
        .collect();
    format!("[{}]", values.join(", "))
}

fn judge(args: &[&str]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_slipway"))
        .arg("judge")
        .args(args)
        .output()
        .unwrap_or_else(|error| panic!("running slipway judge: {error}"))
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[test]
fn a_clear_regression_fails_with_high() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let baseline = write(dir.path(), "baseline.json", &samples(100.0));
    let canary = write(dir.path(), "canary.json", &samples(150.0));
    let (b, c) = (baseline.to_string_lossy(), canary.to_string_lossy());
    let output = judge(&["--baseline", &b, "--canary", &c, "--direction", "increase"]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    assert!(text(&output).contains("High"), "{}", text(&output));
    assert!(text(&output).contains("verdict: Fail"), "{}", text(&output));

    let output = judge(&[
        "--baseline",
        &b,
        "--canary",
        &c,
        "--direction",
        "decrease",
        "--json",
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let verdict: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap_or_default();
    assert_eq!(verdict["outcome"], "Pass", "{}", text(&output));
    assert_eq!(verdict["metrics"][0]["classification"], "Pass");
}

#[test]
fn no_shift_passes_with_metrics_matched_by_name() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let baseline = write(
        dir.path(),
        "b.json",
        &format!(
            r#"{{"latency": {}, "errors": [0, 1, 0, null]}}"#,
            samples(100.0)
        ),
    );
    let canary = write(
        dir.path(),
        "c.json",
        &format!(
            r#"{{"errors": [1, 0, 0, 0], "latency": {}}}"#,
            samples(100.05)
        ),
    );
    let output = judge(&[
        "--baseline",
        &baseline.to_string_lossy(),
        "--canary",
        &canary.to_string_lossy(),
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert!(
        text(&output).contains("verdict: Pass (score 100.0)"),
        "{}",
        text(&output)
    );
    assert!(
        text(&output).contains("latency") && text(&output).contains("errors"),
        "{}",
        text(&output)
    );
}

#[test]
fn bad_input_exits_2_naming_the_file() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let good = write(dir.path(), "good.json", &samples(1.0));
    let good = good.to_string_lossy();
    let cases = [
        ("empty.json", "[]", "no samples"),
        ("prose.json", "latency went up", "not JSON"),
        ("shape.json", r#"{"latency": 3}"#, "not an array"),
        ("words.json", r#"[1, "two", 3]"#, "not a number"),
        ("other.json", r#"{"cpu": [1, 2, 3]}"#, "\"value\" is in"),
    ];
    for (name, content, problem) in cases {
        let bad = write(dir.path(), name, content);
        let output = judge(&["--baseline", &good, "--canary", &bad.to_string_lossy()]);
        assert_eq!(output.status.code(), Some(2), "{name}: {}", text(&output));
        assert!(
            text(&output).contains(name) && text(&output).contains(problem),
            "{name}: {}",
            text(&output)
        );
    }
    let missing = dir.path().join("missing.json");
    let output = judge(&["--baseline", &missing.to_string_lossy(), "--canary", &good]);
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert!(
        text(&output).contains("missing.json: cannot read"),
        "{}",
        text(&output)
    );
}
