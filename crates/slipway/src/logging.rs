//! The structured logs of `slipway server`, `up` and `agent` on standard
//! error: text, or JSON lines with `SLIPWAY_LOG_FORMAT=json`; which
//! levels by `SLIPWAY_LOG` (e.g. `debug` or `warn,slipway_server=debug`).

use std::str::FromStr;

use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// Installs the subscriber. `default` is the filter when `SLIPWAY_LOG` is
/// unset: `up` keeps the terminal for its own output (`warn`), the
/// services log `info`.
pub fn init(default: &str) {
    let wanted = std::env::var("SLIPWAY_LOG").unwrap_or_default();
    let filter = match Targets::from_str(if wanted.is_empty() { default } else { &wanted }) {
        Ok(filter) => filter,
        Err(error) => {
            eprintln!("warning: SLIPWAY_LOG={wanted}: {error}; using {default}");
            Targets::from_str(default).unwrap_or_default()
        }
    };
    let json = std::env::var("SLIPWAY_LOG_FORMAT").is_ok_and(|f| f == "json");
    let colour = std::io::IsTerminal::is_terminal(&std::io::stderr())
        && std::env::var_os("NO_COLOR").is_none();
    let registry = tracing_subscriber::registry().with(filter);
    // Another subscriber already set (in tests) is not an error.
    let _ = if json {
        registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .with_writer(std::io::stderr),
            )
            .try_init()
    } else {
        registry
            .with(
                tracing_subscriber::fmt::layer()
                    .with_ansi(colour)
                    .with_writer(std::io::stderr),
            )
            .try_init()
    };
}
