//! One fixture per runner dialect, each modelled on what the tool really writes: key facts are
//! asserted, and the whole parsed report is kept as an insta snapshot.

use slipway_reports::{Outcome, Report, TestCase, parse_junit};

fn fixture(name: &str) -> Report {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    parse_junit(&bytes).unwrap_or_else(|e| panic!("parsing {name}: {e}"))
}

fn case<'r>(report: &'r Report, name: &str) -> &'r TestCase {
    report
        .cases
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no case named {name}"))
}

fn names<'r>(cases: impl Iterator<Item = &'r TestCase>) -> Vec<&'r str> {
    cases.map(|c| c.name.as_str()).collect()
}

#[test]
fn nextest_flaky_and_rerun() {
    let report = fixture("nextest.xml");
    let totals = report.totals();
    assert_eq!(
        (totals.tests, totals.passed, totals.flaky, totals.failed),
        (6, 2, 1, 3)
    );

    let flaky = case(&report, "net::tests::connects_after_retry");
    assert_eq!(flaky.outcome, Outcome::Flaky);
    assert_eq!(flaky.flaky_attempts, 2);
    assert_eq!(
        flaky.message.as_deref(),
        Some("thread 'net::tests::connects_after_retry' panicked at src/net.rs:88:9")
    );
    assert!(
        flaky
            .details
            .as_deref()
            .is_some_and(|d| d.contains("connection refused"))
    );

    let rerun = case(&report, "net::tests::always_times_out");
    assert_eq!((rerun.outcome, rerun.rerun_failures), (Outcome::Failed, 2));
    assert_eq!(rerun.details.as_deref(), Some("test timed out after 1s"));
    assert_eq!(rerun.system_out.as_deref(), Some("running 1 test"));

    // fail-on-flaky: nextest reports a failure, yet the test is flaky.
    let fail_on_flaky = case(&report, "fail_once");
    assert_eq!(
        (fail_on_flaky.outcome, fail_on_flaky.flaky_attempts),
        (Outcome::Failed, 1)
    );
    assert_eq!(
        names(report.flaky()),
        ["net::tests::connects_after_retry", "fail_once"]
    );
    assert_eq!(
        names(report.failures()),
        [
            "net::tests::always_times_out",
            "parse::tests::rejects_tabs",
            "fail_once"
        ]
    );
    assert_eq!(
        case(&report, "deploy_rolls_back").suite,
        "slipway-demo::integration"
    );
    insta::assert_yaml_snapshot!(report);
}

#[test]
fn pytest_xunit1() {
    let report = fixture("pytest-xunit1.xml");
    let totals = report.totals();
    assert_eq!(
        (
            totals.tests,
            totals.passed,
            totals.failed,
            totals.errored,
            totals.skipped
        ),
        (6, 2, 1, 1, 2)
    );
    let failed = case(&report, "test_create_user");
    assert_eq!(failed.file.as_deref(), Some("tests/test_api.py"));
    assert_eq!(failed.line, Some(19));
    // Attribute newlines are normalised to spaces, as XML requires, except a `&#10;` reference.
    assert_eq!(
        failed.message.as_deref(),
        Some("AssertionError: assert 404 == 201\n +  where 404 = <Response [404]>.status_code")
    );
    assert!(
        failed
            .details
            .as_deref()
            .is_some_and(|d| d.contains("tests/test_api.py:22: AssertionError"))
    );
    let errored = case(&report, "test_delete_user");
    assert_eq!(errored.outcome, Outcome::Errored);
    assert!(
        errored
            .message
            .as_deref()
            .is_some_and(|m| m.contains("\"ConnectionRefusedError"))
    );
    assert_eq!(
        case(&report, "test_windows_paths").message.as_deref(),
        Some("windows only")
    );
    assert_eq!(case(&report, "test_known_bug").outcome, Outcome::Skipped);
    insta::assert_yaml_snapshot!(report);
}

#[test]
fn pytest_xunit2() {
    let report = fixture("pytest-xunit2.xml");
    let totals = report.totals();
    assert_eq!(
        (totals.tests, totals.passed, totals.failed, totals.skipped),
        (4, 2, 1, 1)
    );
    let failed = case(&report, "test_div_by_zero");
    assert_eq!(failed.file, None);
    assert_eq!(failed.system_err.as_deref(), Some("warning: slow path"));
    assert_eq!(
        failed.message.as_deref(),
        Some("ZeroDivisionError: division by zero")
    );
    assert_eq!(case(&report, "test_big").time_seconds, Some(1.069));
    insta::assert_yaml_snapshot!(report);
}

#[test]
fn jest_junit() {
    let report = fixture("jest-junit.xml");
    let totals = report.totals();
    assert_eq!(
        (totals.tests, totals.passed, totals.failed, totals.skipped),
        (5, 3, 1, 1)
    );
    let failed = case(&report, "cart applies a discount code");
    // jest-junit writes no message attribute: the text is all there is.
    assert_eq!(failed.message, None);
    assert!(
        failed
            .details
            .as_deref()
            .is_some_and(|d| d.starts_with("Error: expect(received).toBe(expected)"))
    );
    assert_eq!(failed.suite, "cart");
    assert!(
        report
            .cases
            .iter()
            .any(|c| c.name == "checkout submits <form> & redirects")
    );
    insta::assert_yaml_snapshot!(report);
}

#[test]
fn maven_surefire() {
    let report = fixture("surefire.xml");
    assert_eq!(report.suites.len(), 1);
    assert_eq!(report.suites[0].time_seconds, Some(1234.5));
    assert_eq!(
        report.suites[0].name,
        "com.example.billing.InvoiceServiceTest"
    );
    let totals = report.totals();
    assert_eq!(
        (
            totals.tests,
            totals.passed,
            totals.flaky,
            totals.failed,
            totals.errored,
            totals.skipped
        ),
        (5, 1, 1, 1, 1, 1)
    );
    let rerun = case(&report, "roundsHalfEven");
    assert_eq!((rerun.outcome, rerun.rerun_failures), (Outcome::Failed, 2));
    assert_eq!(rerun.time_seconds, Some(1001.2));
    assert_eq!(
        rerun.message.as_deref(),
        Some("expected: <10.05> but was: <10.06>")
    );
    let flaky = case(&report, "sendsReminder");
    assert_eq!((flaky.outcome, flaky.flaky_attempts), (Outcome::Flaky, 1));
    // Surefire keeps a retry's trace in <stackTrace>, not in the element's text.
    assert!(
        flaky
            .details
            .as_deref()
            .is_some_and(|d| d.contains("MailClient.java:77"))
    );
    assert_eq!(case(&report, "loadsFixtures").outcome, Outcome::Errored);
    insta::assert_yaml_snapshot!(report);
}

#[test]
fn merged_files_count_once_per_test_and_survive_json() {
    let merged = slipway_reports::merge([fixture("pytest-xunit2.xml"), fixture("jest-junit.xml")]);
    assert_eq!(merged.totals().tests, 9);
    assert_eq!(merged.cases.len(), 9);

    // The same file twice: runs double, tests do not.
    let mut twice = fixture("surefire.xml");
    twice.extend(fixture("surefire.xml"));
    let totals = twice.totals();
    assert_eq!((totals.tests, totals.runs), (5, 10));

    let json = serde_json::to_string(&merged).unwrap_or_default();
    let back: Report = serde_json::from_str(&json).unwrap_or_default();
    assert_eq!(back, merged);
}
