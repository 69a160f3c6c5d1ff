//! Deciding a test case's outcome from the result elements it holds.

use crate::model::{Outcome, ResultElements, TestCase};
use crate::parse::{DETAILS_LIMIT, MESSAGE_LIMIT};
use crate::text::{CappedText, cap};

/// Result parts kept per case; further ones are counted but their text is dropped, so that a
/// case with thousands of `<failure>` elements stays bounded in memory.
const PARTS_KEPT: usize = 16;

/// A result element inside `<testcase>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ResultKind {
    Failure,
    Error,
    Skipped,
    /// A failed attempt of a test that passed later (Surefire, nextest).
    FlakyFailure,
    FlakyError,
    /// A failed rerun of a test that never passed (Surefire, nextest).
    RerunFailure,
    RerunError,
}

impl ResultKind {
    pub(crate) fn from_element(local_name: &str) -> Option<Self> {
        Some(match local_name {
            "failure" => Self::Failure,
            "error" => Self::Error,
            "skipped" => Self::Skipped,
            "flakyFailure" => Self::FlakyFailure,
            "flakyError" => Self::FlakyError,
            "rerunFailure" => Self::RerunFailure,
            "rerunError" => Self::RerunError,
            _ => return None,
        })
    }

    pub(crate) fn element_name(self) -> &'static str {
        match self {
            Self::Failure => "failure",
            Self::Error => "error",
            Self::Skipped => "skipped",
            Self::FlakyFailure => "flakyFailure",
            Self::FlakyError => "flakyError",
            Self::RerunFailure => "rerunFailure",
            Self::RerunError => "rerunError",
        }
    }
}

/// One result element being read.
#[derive(Debug)]
pub(crate) struct ResultPart {
    pub(crate) kind: ResultKind,
    pub(crate) message: Option<String>,
    pub(crate) text: CappedText,
    pub(crate) stack_trace: Option<String>,
}

impl ResultPart {
    pub(crate) fn new(kind: ResultKind) -> Self {
        Self {
            kind,
            message: None,
            text: CappedText::new(DETAILS_LIMIT),
            stack_trace: None,
        }
    }
}

/// A finished result element: what it said, without the buffers.
struct KeptPart {
    kind: ResultKind,
    message: Option<String>,
    details: Option<String>,
}

/// A `<testcase>` being read.
pub(crate) struct CaseBuilder {
    pub(crate) case: TestCase,
    parts: Vec<KeptPart>,
    /// `status="disabled"` (tst, publish-unit-test-result) or GoogleTest's `notrun`.
    not_run: bool,
}

impl CaseBuilder {
    pub(crate) fn new(suite: String) -> Self {
        Self {
            case: TestCase {
                suite,
                classname: String::new(),
                name: String::new(),
                file: None,
                line: None,
                time_seconds: None,
                outcome: Outcome::Passed,
                message: None,
                details: None,
                flaky_attempts: 0,
                rerun_failures: 0,
                result_elements: ResultElements::default(),
                system_out: None,
                system_err: None,
            },
            parts: Vec::new(),
            not_run: false,
        }
    }

    pub(crate) fn note_status(&mut self, status: &str) {
        let status = status.trim();
        if ["disabled", "notrun", "skipped", "suppressed"]
            .iter()
            .any(|s| status.eq_ignore_ascii_case(s))
        {
            self.not_run = true;
        }
    }

    pub(crate) fn add_result(&mut self, part: ResultPart) {
        let counts = &mut self.case.result_elements;
        match part.kind {
            ResultKind::Failure => counts.failures = counts.failures.saturating_add(1),
            ResultKind::Error => counts.errors = counts.errors.saturating_add(1),
            ResultKind::Skipped => counts.skipped = counts.skipped.saturating_add(1),
            ResultKind::FlakyFailure | ResultKind::FlakyError => {
                self.case.flaky_attempts = self.case.flaky_attempts.saturating_add(1);
            }
            ResultKind::RerunFailure | ResultKind::RerunError => {
                self.case.rerun_failures = self.case.rerun_failures.saturating_add(1);
            }
        }
        if self.parts.len() < PARTS_KEPT {
            let details = join(part.text.finish(), part.stack_trace, DETAILS_LIMIT);
            self.parts.push(KeptPart {
                kind: part.kind,
                message: part.message,
                details,
            });
        }
    }

    /// Decides the outcome: error > failure > flaky pass > skipped > passed. Message and
    /// details come from all results of the deciding kind, joined (publish-unit-test-result
    /// does the same); for a flaky pass, from the first failed attempt.
    pub(crate) fn finish(mut self) -> TestCase {
        let counts = self.case.result_elements;
        let (outcome, deciding): (Outcome, &[ResultKind]) = if counts.errors > 0 {
            (Outcome::Errored, &[ResultKind::Error])
        } else if counts.failures > 0 {
            (Outcome::Failed, &[ResultKind::Failure])
        } else if self.case.flaky_attempts > 0 {
            (
                Outcome::Flaky,
                &[ResultKind::FlakyFailure, ResultKind::FlakyError],
            )
        } else if counts.skipped > 0 {
            (Outcome::Skipped, &[ResultKind::Skipped])
        } else if self.not_run {
            (Outcome::Skipped, &[])
        } else {
            (Outcome::Passed, &[])
        };
        self.case.outcome = outcome;
        let mut relevant = self
            .parts
            .into_iter()
            .filter(|p| deciding.contains(&p.kind));
        if outcome == Outcome::Flaky {
            if let Some(first) = relevant.next() {
                self.case.message = first.message;
                self.case.details = first.details;
            }
            return self.case;
        }
        for part in relevant {
            self.case.message = join(self.case.message.take(), part.message, MESSAGE_LIMIT);
            self.case.details = join(self.case.details.take(), part.details, DETAILS_LIMIT);
        }
        self.case
    }
}

fn join(first: Option<String>, second: Option<String>, limit: usize) -> Option<String> {
    match (first, second) {
        (Some(a), Some(b)) => Some(cap(&format!("{a}\n{b}"), limit)),
        (a, b) => a.or(b),
    }
}
