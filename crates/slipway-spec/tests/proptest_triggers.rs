//! Property tests of trigger matching and cron: arbitrary names, paths, patterns and cron
//! strings never panic, and a few laws hold.

use proptest::prelude::*;
use slipway_spec::{RefFilter, Schedule, Span, TriggerEvent, Triggers};

/// Characters that mean something in patterns, plus ordinary ones and a non-ASCII one.
const PATTERN_CHARS: &str = "[*?+!\\[\\]\\\\/a-c0-9.é-]{0,24}";

fn triggers(branches: Vec<String>, paths: Vec<String>, ignore: bool) -> Triggers {
    let mut filter = RefFilter::default();
    if ignore {
        filter.branches_ignore = branches;
        filter.paths_ignore = paths.clone();
    } else {
        filter.branches = branches;
        filter.paths = paths.clone();
    }
    Triggers {
        push: Some(filter.clone()),
        pull_request: Some(filter),
        tag: Some(RefFilter {
            tags: paths,
            ..RefFilter::default()
        }),
        ..Triggers::default()
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Patterns straight into the model (the parser would refuse the malformed ones): matching
    /// still never panics and always gives a reason.
    #[test]
    fn arbitrary_patterns_and_names_never_panic(
        branches in prop::collection::vec(PATTERN_CHARS, 0..4),
        paths in prop::collection::vec(PATTERN_CHARS, 0..4),
        ignore in any::<bool>(),
        branch in any::<String>(),
        changed in prop::collection::vec(any::<String>(), 0..4),
        known in any::<bool>(),
    ) {
        let t = triggers(branches, paths, ignore);
        let changed_paths = known.then_some(changed.as_slice());
        for event in [
            TriggerEvent::Push { branch: &branch, changed_paths },
            TriggerEvent::PullRequest { target_branch: &branch, changed_paths },
            TriggerEvent::Tag { tag: &branch },
        ] {
            let m = t.matches(&event);
            prop_assert!(!m.reason.is_empty());
        }
    }

    /// The same, through the parser: whatever the patterns, parsing and matching hold up.
    #[test]
    fn parsed_patterns_never_panic(pattern in PATTERN_CHARS, branch in "[a-z/*.?+\\[\\]-]{0,20}") {
        let quoted = format!("'{}'", pattern.replace('\'', "''"));
        let source = format!("on:\n  push:\n    branches: [{quoted}]\n    paths: [{quoted}]\njobs:\n  a:\n    steps:\n      - run: x\n");
        if let Ok(p) = slipway_spec::parse_pipeline(&source, "p.yml") {
            let changed = vec![branch.clone()];
            let _ = p.on.matches(&TriggerEvent::Push { branch: &branch, changed_paths: Some(&changed) });
        }
    }

    /// A name without special characters, used as a pattern, matches itself and `**` matches
    /// everything.
    #[test]
    fn literal_patterns_match_themselves(name in "[a-z0-9./_-]{1,30}") {
        let t = triggers(vec![name.clone()], Vec::new(), false);
        let m = t.matches(&TriggerEvent::Push { branch: &name, changed_paths: None });
        prop_assert!(m.matched, "{}", m);
        let all = triggers(vec!["**".to_string()], Vec::new(), false);
        let everything = all.matches(&TriggerEvent::Push { branch: &name, changed_paths: None });
        prop_assert!(everything.matched);
    }

    /// `next_after` never panics; when it answers, the time is a whole minute strictly later,
    /// and asking again just before it gives the same answer.
    #[test]
    fn cron_next_is_a_later_whole_minute(
        // Values 1-7 are valid in every field, so every expression here is valid.
        cron in "(\\*|\\*/[1-7]|[1-7]|[1-3]-[4-7](/[1-3])?|[1-7],[1-7]) (\\*|\\*/[1-7]|[1-7]|[1-3]-[4-7]) (\\*|\\*/[1-7]|[1-7]|[1-3]-[4-7]|[1-7],[1-7]) (\\*|[1-7]|[1-3]-[4-7]) (\\*|\\*/[1-7]|[0-7]|[1-3]-[4-7]|MON|sun)",
        after in 0u64..8_000_000_000,
    ) {
        let schedule = Schedule { cron, span: Span::default() };
        // Day 1-7 of months 1-7 always exists, so there is always a next time.
        let next = schedule.next_after(after);
        prop_assert!(next.is_some(), "{} after {}", schedule.cron, after);
        if let Some(t) = next {
            prop_assert!(t > after);
            prop_assert_eq!(t % 60, 0);
            prop_assert_eq!(schedule.next_after(t - 1), Some(t));
        }
    }

    #[test]
    fn cron_any_text_never_panics(cron in any::<String>(), after in any::<u64>()) {
        let _ = Schedule { cron, span: Span::default() }.next_after(after);
    }
}
