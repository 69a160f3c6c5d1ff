//! Counting: tests (deduplicated by identity) and runs (every testcase element).

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::model::{Outcome, Report, Suite};

/// Counts over a report.
///
/// "Tests" count distinct tests: cases with the same `(classname, name)` are one test whose
/// outcome is the most severe of its cases. "Runs" count `<testcase>` elements and their result
/// elements the way publish-unit-test-result does, so a case holding both `<skipped>` and
/// `<failure>` counts once in each of `runs_skipped` and `runs_failed`.
///
/// A top-level suite without any `<testcase>` contributes the counts declared in its attributes
/// to both groups (some runners write only the summary).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    /// Distinct tests: `passed + failed + errored + skipped + flaky`, except where declared
    /// suite counts disagree with each other.
    pub tests: u64,
    /// Tests that passed at the first attempt.
    pub passed: u64,
    pub failed: u64,
    pub errored: u64,
    pub skipped: u64,
    /// Tests that passed after failing attempts (counted as passing by the conformance data).
    pub flaky: u64,
    /// Testcase elements.
    pub runs: u64,
    /// `runs` minus the result elements; negative when cases carry several result elements,
    /// exactly as publish-unit-test-result reports it.
    pub runs_passed: i64,
    /// `<skipped>` elements.
    pub runs_skipped: u64,
    /// `<failure>` elements.
    pub runs_failed: u64,
    /// `<error>` elements.
    pub runs_errored: u64,
}

impl Report {
    /// Counts tests and runs; see [`Totals`].
    pub fn totals(&self) -> Totals {
        let mut totals = Totals::default();
        count_cases(self, &mut totals);
        for suite in self
            .suites
            .iter()
            .filter(|s| s.depth == 0 && s.case_count == 0)
        {
            add_declared(suite, &mut totals);
        }
        totals.runs_passed = signed(totals.runs)
            .saturating_sub(signed(totals.runs_skipped))
            .saturating_sub(signed(totals.runs_failed))
            .saturating_sub(signed(totals.runs_errored));
        totals
    }
}

fn count_cases(report: &Report, totals: &mut Totals) {
    // Worst outcome per test identity; cases without any identity cannot be matched with
    // each other, so each counts as its own test.
    let mut by_identity: HashMap<(&str, &str), Outcome> = HashMap::new();
    for case in &report.cases {
        totals.runs += 1;
        totals.runs_skipped += u64::from(case.result_elements.skipped);
        totals.runs_failed += u64::from(case.result_elements.failures);
        totals.runs_errored += u64::from(case.result_elements.errors);
        if case.classname.is_empty() && case.name.is_empty() {
            count_test(totals, case.outcome);
            continue;
        }
        by_identity
            .entry((case.classname.as_str(), case.name.as_str()))
            .and_modify(|worst| {
                if case.outcome.severity() > worst.severity() {
                    *worst = case.outcome;
                }
            })
            .or_insert(case.outcome);
    }
    for outcome in by_identity.into_values() {
        count_test(totals, outcome);
    }
}

fn count_test(totals: &mut Totals, outcome: Outcome) {
    totals.tests += 1;
    let counter = match outcome {
        Outcome::Passed => &mut totals.passed,
        Outcome::Failed => &mut totals.failed,
        Outcome::Errored => &mut totals.errored,
        Outcome::Skipped => &mut totals.skipped,
        Outcome::Flaky => &mut totals.flaky,
    };
    *counter += 1;
}

fn add_declared(suite: &Suite, totals: &mut Totals) {
    let declared = suite.declared;
    let tests = declared.tests.unwrap_or(0);
    let failed = declared.failures.unwrap_or(0);
    let errored = declared.errors.unwrap_or(0);
    let skipped = declared
        .skipped
        .unwrap_or(0)
        .saturating_add(declared.disabled.unwrap_or(0));
    totals.tests = totals.tests.saturating_add(tests);
    totals.failed = totals.failed.saturating_add(failed);
    totals.errored = totals.errored.saturating_add(errored);
    totals.skipped = totals.skipped.saturating_add(skipped);
    let passed = tests
        .saturating_sub(failed)
        .saturating_sub(errored)
        .saturating_sub(skipped);
    totals.passed = totals.passed.saturating_add(passed);
    totals.runs = totals.runs.saturating_add(tests);
    totals.runs_failed = totals.runs_failed.saturating_add(failed);
    totals.runs_errored = totals.runs_errored.saturating_add(errored);
    totals.runs_skipped = totals.runs_skipped.saturating_add(skipped);
}

fn signed(count: u64) -> i64 {
    i64::try_from(count).unwrap_or(i64::MAX)
}
