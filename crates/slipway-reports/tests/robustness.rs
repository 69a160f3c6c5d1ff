//! Bad input gives errors, never panics, never reads files.

use proptest::prelude::*;
use slipway_reports::{MAX_DEPTH, MAX_INPUT_BYTES, Outcome, ReportError, parse_junit};

#[test]
fn errors_say_what_is_wrong() {
    assert_eq!(parse_junit(b""), Err(ReportError::Empty));
    assert_eq!(parse_junit(b" \n\t"), Err(ReportError::Empty));
    assert_eq!(parse_junit(b"just text"), Err(ReportError::NoRootElement));
    assert_eq!(
        parse_junit(b"<?xml version=\"1.0\"?>\n<html><body/></html>"),
        Err(ReportError::NotJunit {
            root: "html".into(),
            line: 2
        })
    );
    assert_eq!(
        parse_junit(b"<testsuites><testsuite><testcase name=\"a\">"),
        Err(ReportError::Truncated {
            element: "testcase".into()
        })
    );
    match parse_junit(b"<testsuites>\n<testsuite></testcase></testsuites>") {
        Err(ReportError::Xml { line, .. }) => assert_eq!(line, 2),
        other => panic!("expected an XML error, got {other:?}"),
    }
    let message = parse_junit(b"<testsuite><testcase name=\"a\" name=\"b\"/></testsuite>")
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(message.contains("line 1"), "{message}");
}

#[test]
fn oversized_input_is_refused_before_parsing() {
    let huge = vec![0u8; MAX_INPUT_BYTES + 1];
    assert_eq!(
        parse_junit(&huge),
        Err(ReportError::TooLarge {
            size: MAX_INPUT_BYTES + 1,
            limit: MAX_INPUT_BYTES
        })
    );
}

#[test]
fn deep_nesting_is_refused() {
    let mut xml = String::from("<testsuites>");
    for _ in 0..MAX_DEPTH + 10 {
        xml.push_str("<testsuite>");
    }
    assert!(matches!(
        parse_junit(xml.as_bytes()),
        Err(ReportError::TooDeep { .. })
    ));
}

#[test]
fn declared_entities_are_never_resolved() {
    let xml = br#"<?xml version="1.0"?>
<!DOCTYPE testsuites [
  <!ENTITY xxe SYSTEM "file:///etc/passwd">
  <!ENTITY internal "expanded">
]>
<testsuites><testsuite name="&xxe;">
  <testcase name="t &internal;" classname="c">
    <failure message="&xxe;">before &xxe; after</failure>
  </testcase>
</testsuite></testsuites>"#;
    let report = parse_junit(xml).unwrap_or_else(|e| panic!("{e}"));
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    let json = serde_json::to_string(&report).unwrap_or_default();
    for line in passwd.lines().filter(|l| !l.trim().is_empty()).take(3) {
        assert!(!json.contains(line), "/etc/passwd leaked: {line}");
    }
    assert!(!json.contains("expanded"));
    let case = &report.cases[0];
    assert_eq!(case.outcome, Outcome::Failed);
    assert_eq!(case.message.as_deref(), Some("&xxe;"));
    assert_eq!(case.details.as_deref(), Some("before &xxe; after"));
    assert_eq!(case.name, "t &internal;");
}

#[test]
fn huge_output_is_truncated() {
    let big = "x".repeat(1024 * 1024);
    let xml = format!(
        "<testsuite><testcase name=\"a\"><failure>{big}</failure><system-out>{big}</system-out></testcase></testsuite>"
    );
    let report = parse_junit(xml.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
    let case = &report.cases[0];
    let details = case.details.as_deref().unwrap_or_default();
    assert!(
        details.len() < 70 * 1024,
        "details kept {} bytes",
        details.len()
    );
    assert!(details.contains("truncated"));
    assert!(
        case.system_out
            .as_deref()
            .is_some_and(|out| out.len() < 70 * 1024)
    );
}

const SEED: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<testsuites name="run" tests="3"><testsuite name="s" tests="3" failures="1" time="1,234.5">
<testcase name="a" classname="c" time="0.1"><failure message="m &amp; n">text<stackTrace>trace</stackTrace></failure></testcase>
<testcase name="b" classname="c"><flakyFailure message="f"><system-out>o</system-out></flakyFailure></testcase>
<testcase name="c" status="disabled"><skipped/><![CDATA[x]]><system-err>&#10;e</system-err></testcase>
</testsuite></testsuites>"#;

/// One edit of the seed: overwrite, insert or delete a byte at a position.
fn mutation() -> impl Strategy<Value = (usize, u8, u8)> {
    (0..SEED.len(), 0u8..3, any::<u8>())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = parse_junit(&bytes);
    }

    #[test]
    fn mutated_reports_never_panic(edits in proptest::collection::vec(mutation(), 1..8)) {
        let mut bytes = SEED.as_bytes().to_vec();
        for (position, kind, byte) in edits {
            let position = position.min(bytes.len());
            match kind {
                0 if position < bytes.len() => bytes[position] = byte,
                1 => bytes.insert(position, byte),
                _ if position < bytes.len() => { bytes.remove(position); }
                _ => {}
            }
        }
        if let Ok(report) = parse_junit(&bytes) {
            let totals = report.totals();
            prop_assert_eq!(totals.runs, report.cases.len() as u64 + declared_runs(&report));
            let json = serde_json::to_string(&report).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let back: slipway_reports::Report =
                serde_json::from_str(&json).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(back, report);
        }
    }

    #[test]
    fn xml_shaped_noise_never_panics(parts in proptest::collection::vec(prop_oneof![
        Just("<testsuites>"), Just("</testsuites>"), Just("<testsuite name=\"s\" tests=\"2\">"),
        Just("</testsuite>"), Just("<testcase name=\"n\">"), Just("</testcase>"), Just("<failure message=\"m\">"),
        Just("</failure>"), Just("<flakyError>"), Just("</flakyError>"), Just("<stackTrace>"),
        Just("</stackTrace>"), Just("<system-out>"), Just("</system-out>"), Just("text"), Just("&amp;"),
        Just("&#0;"), Just("&bogus;"), Just("<![CDATA[x]]>"), Just("<!DOCTYPE x [<!ENTITY a \"b\">]>"),
        Just("<skipped/>"), Just("&"), Just("<"),
    ], 0..40)) {
        let _ = parse_junit(parts.concat().as_bytes());
    }
}

fn declared_runs(report: &slipway_reports::Report) -> u64 {
    report
        .suites
        .iter()
        .filter(|s| s.depth == 0 && s.case_count == 0)
        .map(|s| s.declared.tests.unwrap_or(0))
        .sum()
}

#[test]
fn content_after_an_empty_root_is_ignored() {
    let report = parse_junit(b"<testsuite name=\"only\" tests=\"2\"/><testsuite name=\"junk\"/>")
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(report.suites.len(), 1);
    assert_eq!(report.totals().tests, 2);
}
