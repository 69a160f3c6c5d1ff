//! The parsed report: suites, test cases and their outcomes.

use serde::{Deserialize, Serialize};

/// Everything one or more JUnit files said about a job's tests.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// Every `<testsuite>` element, nested ones included, in document order.
    pub suites: Vec<Suite>,
    /// Every `<testcase>` element, in document order (a test run several times appears several times).
    pub cases: Vec<TestCase>,
}

impl Report {
    /// Appends another file's report to this one (for a job that wrote several files).
    pub fn extend(&mut self, other: Report) {
        self.suites.extend(other.suites);
        self.cases.extend(other.cases);
    }

    /// Cases that failed or errored, in document order.
    pub fn failures(&self) -> impl Iterator<Item = &TestCase> {
        self.cases
            .iter()
            .filter(|case| matches!(case.outcome, Outcome::Failed | Outcome::Errored))
    }

    /// Cases that failed at least once and were retried: those that passed in the end
    /// ([`Outcome::Flaky`]) and those that passed but were configured to fail when flaky
    /// (nextest's `fail-on-flaky`, reported as a failure with flaky attempts).
    pub fn flaky(&self) -> impl Iterator<Item = &TestCase> {
        self.cases.iter().filter(|case| case.is_flaky())
    }
}

/// Combines the reports of several files of one job into one report.
pub fn merge(reports: impl IntoIterator<Item = Report>) -> Report {
    let mut merged = Report::default();
    for report in reports {
        merged.extend(report);
    }
    merged
}

/// One `<testsuite>` element.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Suite {
    /// The `name` attribute, empty when absent.
    pub name: String,
    /// 0 for a suite at the top of its file, 1 for a suite inside it, and so on.
    pub depth: u32,
    /// The `time` attribute in seconds.
    pub time_seconds: Option<f64>,
    /// The `timestamp` attribute, verbatim.
    pub timestamp: Option<String>,
    /// The counts the suite declares in its attributes (they may disagree with its cases).
    pub declared: DeclaredCounts,
    /// How many `<testcase>` elements the suite contains, nested suites included.
    pub case_count: u32,
    /// The suite's `<system-out>`, truncated.
    pub system_out: Option<String>,
    /// The suite's `<system-err>`, truncated.
    pub system_err: Option<String>,
}

/// The `tests`, `failures`, `errors`, `skipped` and `disabled` attributes of a suite.
///
/// Used for totals only when a top-level suite has no `<testcase>` elements at all (some
/// runners write only the summary), since the attributes of real files often lie.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeclaredCounts {
    /// `tests`: cases the suite claims to hold.
    pub tests: Option<u64>,
    /// `failures`.
    pub failures: Option<u64>,
    /// `errors`.
    pub errors: Option<u64>,
    /// `skipped` (or `skips`).
    pub skipped: Option<u64>,
    /// `disabled` (nextest, tst, GoogleTest).
    pub disabled: Option<u64>,
}

/// One `<testcase>` element.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TestCase {
    /// Name of the innermost enclosing suite, empty when none has a name.
    pub suite: String,
    /// The `classname` attribute, empty when absent.
    pub classname: String,
    /// The `name` attribute, empty when absent.
    pub name: String,
    /// The `file` attribute (pytest xunit1, nextest, jest-junit with `addFileAttribute`).
    pub file: Option<String>,
    /// The `line` attribute (pytest xunit1).
    pub line: Option<u32>,
    /// The `time` attribute in seconds.
    pub time_seconds: Option<f64>,
    /// The final outcome.
    pub outcome: Outcome,
    /// The `message` attribute of the result that decided the outcome (for a flaky test: of the
    /// first failed attempt), truncated.
    pub message: Option<String>,
    /// The text or `<stackTrace>` of that result, truncated.
    pub details: Option<String>,
    /// Failed attempts before the final one (`<flakyFailure>`, `<flakyError>`).
    pub flaky_attempts: u32,
    /// Failed reruns of a test that never passed (`<rerunFailure>`, `<rerunError>`).
    pub rerun_failures: u32,
    /// How many `<failure>`, `<error>` and `<skipped>` elements the case carried. JUnit allows
    /// several; the "runs" totals count these elements rather than cases.
    pub result_elements: ResultElements,
    /// The case's `<system-out>`, truncated.
    pub system_out: Option<String>,
    /// The case's `<system-err>`, truncated.
    pub system_err: Option<String>,
}

impl TestCase {
    /// Whether the test failed at least one attempt and passed a later one.
    pub fn is_flaky(&self) -> bool {
        self.outcome == Outcome::Flaky
            || (self.flaky_attempts > 0 && self.outcome == Outcome::Failed)
    }
}

/// Number of each result element inside one `<testcase>`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResultElements {
    /// `<failure>` elements.
    pub failures: u32,
    /// `<error>` elements.
    pub errors: u32,
    /// `<skipped>` elements.
    pub skipped: u32,
}

/// What became of a test case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Outcome {
    /// Passed at the first attempt (or held no result element).
    Passed,
    /// An assertion failed (`<failure>`).
    Failed,
    /// The test could not run properly: setup error, crash, timeout (`<error>`).
    Errored,
    /// Skipped, ignored, disabled or not run.
    Skipped,
    /// Passed after failing attempts.
    Flaky,
}

impl Outcome {
    /// Rank used when one test has several cases: the most severe wins, as in
    /// publish-unit-test-result (error > failure > success > skipped); a flaky pass outranks
    /// a clean one.
    pub(crate) fn severity(self) -> u8 {
        match self {
            Outcome::Skipped => 0,
            Outcome::Passed => 1,
            Outcome::Flaky => 2,
            Outcome::Failed => 3,
            Outcome::Errored => 4,
        }
    }
}
