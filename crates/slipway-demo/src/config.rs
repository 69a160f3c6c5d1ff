//! Command-line arguments, parsed by hand: seven flags do not justify an argument-parser
//! dependency in a crate whose point is to build fast.

use std::ffi::OsString;
use std::net::SocketAddr;
use std::num::NonZeroU64;
use std::path::PathBuf;
use std::time::Duration;

/// Longest accepted `--version`; it is repeated in every metric line and response header.
pub const MAX_VERSION_LEN: usize = 128;

/// Usage text printed by `--help` and after an argument error.
pub const USAGE: &str = "\
usage: slipway-demo --listen ADDR:PORT --version V [options]

  --listen ADDR:PORT    socket address to bind (an IP address, not a host name; port 0 picks one)
  --version V           version string reported by /, /version and /metrics
  --fail-health         /healthz answers 503
  --state-file PATH     /healthz answers 503 while PATH has a line `fail-health` (re-read on each check)
  --error-rate P        / answers 500 with probability P (0 to 1)
  --error-every N       / answers 500 on every Nth request to it (deterministic)
  --latency-ms N        / waits N milliseconds before answering
  -h, --help            this text

Prints `listening on ADDR` once ready. SIGTERM or SIGINT: stop accepting, finish requests in
flight, exit 0.";

/// How the service behaves; built from the command line by [`parse_args`].
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The only address the service binds.
    pub listen: SocketAddr,
    /// Reported by `/`, `/version`, the `X-Demo-Version` header and every metric.
    pub version: String,
    /// `/healthz` always answers 503.
    pub fail_health: bool,
    /// `/healthz` answers 503 while this file contains a line `fail-health`.
    pub state_file: Option<PathBuf>,
    /// Probability that `/` answers 500.
    pub error_rate: f64,
    /// Every Nth request to `/` answers 500.
    pub error_every: Option<NonZeroU64>,
    /// Added before `/` answers.
    pub latency: Duration,
}

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Serve with this configuration.
    Serve(Config),
    /// Print [`USAGE`] and exit successfully.
    Help,
}

/// A command line that cannot be served; the message names the flag and what it needs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("unknown argument `{0}`")]
    UnknownArgument(String),
    #[error("argument is not valid UTF-8: {0:?}")]
    NotUtf8(OsString),
    #[error("{0} needs a value")]
    MissingValue(&'static str),
    #[error("{0} is required")]
    Required(&'static str),
    #[error("{0} does not take a value")]
    UnexpectedValue(&'static str),
    #[error("invalid value `{value}` for {flag}: {reason}")]
    InvalidValue {
        flag: &'static str,
        value: String,
        reason: &'static str,
    },
}

/// Parses the arguments after the program name.
pub fn parse_args<I>(args: I) -> Result<Command, ConfigError>
where
    I: IntoIterator<Item = OsString>,
{
    let mut args = args.into_iter();
    let mut listen = None;
    let mut version = None;
    let mut fail_health = false;
    let mut state_file = None;
    let mut error_rate = 0.0;
    let mut error_every = None;
    let mut latency = Duration::ZERO;

    while let Some(arg) = args.next() {
        let arg = arg.into_string().map_err(ConfigError::NotUtf8)?;
        // Both `--flag value` and `--flag=value`.
        let (name, inline) = match arg.split_once('=') {
            Some((name, value)) if name.starts_with("--") => {
                (name.to_owned(), Some(value.to_owned()))
            }
            _ => (arg, None),
        };
        let flag = flag_name(&name)?;
        if matches!(flag, "--fail-health" | "--help") {
            if inline.is_some() {
                return Err(ConfigError::UnexpectedValue(flag));
            }
            if flag == "--help" {
                return Ok(Command::Help);
            }
            fail_health = true;
            continue;
        }
        let value = match inline {
            Some(value) => value,
            None => args
                .next()
                .ok_or(ConfigError::MissingValue(flag))?
                .into_string()
                .map_err(ConfigError::NotUtf8)?,
        };
        match flag {
            "--listen" => listen = Some(parse_listen(value)?),
            "--version" => version = Some(parse_version(value)?),
            "--state-file" => state_file = Some(PathBuf::from(value)),
            "--error-rate" => error_rate = parse_rate(value)?,
            "--error-every" => error_every = Some(parse_every(value)?),
            "--latency-ms" => latency = Duration::from_millis(parse_u64(flag, value)?),
            _ => return Err(ConfigError::UnknownArgument(name)),
        }
    }

    Ok(Command::Serve(Config {
        listen: listen.ok_or(ConfigError::Required("--listen"))?,
        version: version.ok_or(ConfigError::Required("--version"))?,
        fail_health,
        state_file,
        error_rate,
        error_every,
        latency,
    }))
}

/// Maps an argument to its canonical flag name, so errors can carry a `&'static str`.
fn flag_name(name: &str) -> Result<&'static str, ConfigError> {
    const FLAGS: [&str; 8] = [
        "--listen",
        "--version",
        "--fail-health",
        "--state-file",
        "--error-rate",
        "--error-every",
        "--latency-ms",
        "--help",
    ];
    if name == "-h" {
        return Ok("--help");
    }
    FLAGS
        .into_iter()
        .find(|flag| *flag == name)
        .ok_or_else(|| ConfigError::UnknownArgument(name.to_owned()))
}

fn parse_listen(value: String) -> Result<SocketAddr, ConfigError> {
    value.parse().map_err(|_| ConfigError::InvalidValue {
        flag: "--listen",
        value,
        reason: "expected IP:PORT, e.g. 127.0.0.1:8080 or [::1]:8080",
    })
}

fn parse_version(value: String) -> Result<String, ConfigError> {
    let reason = if value.is_empty() {
        "must not be empty"
    } else if value.len() > MAX_VERSION_LEN {
        "longer than 128 bytes"
    } else if !value.bytes().all(|b| b.is_ascii_graphic()) {
        // It goes into a response header and label values: no spaces or control characters.
        "only printable ASCII without spaces is allowed"
    } else {
        return Ok(value);
    };
    Err(ConfigError::InvalidValue {
        flag: "--version",
        value,
        reason,
    })
}

fn parse_rate(value: String) -> Result<f64, ConfigError> {
    match value.parse::<f64>() {
        Ok(rate) if (0.0..=1.0).contains(&rate) => Ok(rate),
        _ => Err(ConfigError::InvalidValue {
            flag: "--error-rate",
            value,
            reason: "expected a number from 0 to 1",
        }),
    }
}

fn parse_every(value: String) -> Result<NonZeroU64, ConfigError> {
    value.parse().map_err(|_| ConfigError::InvalidValue {
        flag: "--error-every",
        value,
        reason: "expected a whole number of at least 1",
    })
}

fn parse_u64(flag: &'static str, value: String) -> Result<u64, ConfigError> {
    value.parse().map_err(|_| ConfigError::InvalidValue {
        flag,
        value,
        reason: "expected a whole number",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Command, ConfigError> {
        parse_args(args.iter().map(OsString::from))
    }

    #[test]
    fn parses_every_flag_in_both_spellings() {
        let command = parse(&[
            "--listen=127.0.0.1:0",
            "--version",
            "v2",
            "--fail-health",
            "--state-file",
            "/tmp/s",
            "--error-rate=0.05",
            "--error-every",
            "4",
            "--latency-ms",
            "300",
        ]);
        let Ok(Command::Serve(config)) = command else {
            panic!("expected a config, got {command:?}");
        };
        assert_eq!(config.listen, "127.0.0.1:0".parse().unwrap());
        assert_eq!(config.version, "v2");
        assert!(config.fail_health);
        assert_eq!(config.state_file, Some(PathBuf::from("/tmp/s")));
        assert_eq!(config.error_rate, 0.05);
        assert_eq!(config.error_every, NonZeroU64::new(4));
        assert_eq!(config.latency, Duration::from_millis(300));
    }

    #[test]
    fn help_wins() {
        assert_eq!(parse(&["-h"]), Ok(Command::Help));
        assert_eq!(parse(&["--version", "1", "--help"]), Ok(Command::Help));
    }

    #[test]
    fn rejects_bad_input_with_the_flag_named() {
        let cases: &[(&[&str], &str)] = &[
            (&["--version", "1"], "--listen is required"),
            (&["--listen", "127.0.0.1:1"], "--version is required"),
            (&["--listen", "localhost:80", "--version", "1"], "--listen"),
            (&["--listen"], "--listen needs a value"),
            (&["--version", "a b"], "--version"),
            (&["--version", ""], "--version"),
            (&["--error-rate", "1.5"], "--error-rate"),
            (&["--error-rate", "NaN"], "--error-rate"),
            (&["--error-every", "0"], "--error-every"),
            (&["--latency-ms", "-1"], "--latency-ms"),
            (
                &["--fail-health=yes"],
                "--fail-health does not take a value",
            ),
            (&["--bogus"], "unknown argument `--bogus`"),
            (&["extra"], "unknown argument `extra`"),
        ];
        for (args, expected) in cases {
            let error = parse(args).expect_err("must be rejected");
            assert!(
                error.to_string().contains(expected),
                "{args:?}: `{error}` does not mention `{expected}`"
            );
        }
    }
}
