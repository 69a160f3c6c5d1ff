//! The parsers and renderers never panic, whatever the text.

use std::time::Duration;

use proptest::prelude::*;
use slipway_verify::duration::{format_duration, parse_duration};
use slipway_verify::template::{Escape, Vars, check, render};
use slipway_verify::{Role, Side};

proptest! {
    #[test]
    fn durations_parse_or_err_and_round_trip(text in "\\PC{0,12}", millis in 0u64..10_000_000) {
        let _ = parse_duration(&text);
        let duration = Duration::from_millis(millis);
        prop_assert_eq!(parse_duration(&format_duration(duration)), Ok(duration));
    }

    #[test]
    fn templates_check_and_render_without_panicking(
        template in "[a-z{} \"|\\\\]{0,40}",
        version in "\\PC{0,10}",
        targets in proptest::collection::vec("\\PC{0,10}", 0..3),
    ) {
        let side = Side { version, targets };
        let vars = Vars { role: Role::Baseline, side: &side, interval: Duration::from_secs(1) };
        let checked = check(&template);
        for escape in [Escape::PromQl, Escape::Url, Escape::Shell] {
            // A template that checks renders; one that does not, fails the same way.
            prop_assert_eq!(checked.is_ok(), render(&template, &vars, escape).is_ok());
        }
    }
}
