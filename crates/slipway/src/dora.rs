//! `slipway dora --env ENV [--since 30d] [--json]`: the DORA metrics of an
//! environment from its release records (see `slipway_deploy::dora` for the
//! exact definitions). Without `--project`, this repository's local records
//! (`.slipway/local/environments/ENV/deployments.jsonl`, as `slipway
//! deployments` reads them); with `--project P`, the server's
//! (`GET /api/v1/dora?project=P&env=ENV&since=SECONDS`, the same JSON).

use std::time::Duration;

use slipway_deploy::dora::{Dora, dora as metrics};

use crate::args::DoraArgs;
use crate::client::segment;
use crate::output;
use crate::{Exit, env};

/// `slipway dora`.
pub fn dora(args: DoraArgs) -> Exit {
    let since = match parse_since(&args.since) {
        Ok(since) => since,
        Err(message) => {
            eprintln!("error: {message}");
            return Exit::Usage;
        }
    };
    let result = match &args.project {
        Some(project) => {
            env::runtime().and_then(|runtime| runtime.block_on(remote(&args, project, since)))
        }
        None => local(&args, since),
    };
    let dora = match result {
        Ok(dora) => dora,
        Err(exit) => return exit,
    };
    if args.json {
        output::line(serde_json::to_string_pretty(&dora).unwrap_or_default());
    } else {
        output::line(&dora);
    }
    Exit::Success
}

/// From this repository's records.
fn local(args: &DoraArgs, since: Duration) -> Result<Dora, Exit> {
    let root = env::root(&args.repo);
    let environment = env::load(&root, &args.environment)?;
    let records = env::deployer(&root)
        .deployments(&environment.name)
        .map_err(|error| {
            eprintln!("error: {error}");
            Exit::Failure
        })?;
    let now = u64::try_from(output::now_ms()).unwrap_or(0);
    Ok(metrics(&environment.name, &records, now, since))
}

/// From the server's records of `project`.
async fn remote(args: &DoraArgs, project: &str, since: Duration) -> Result<Dora, Exit> {
    let client = crate::commands::connect(&args.api)?;
    let path = format!(
        "/api/v1/dora?project={}&env={}&since={}",
        segment(project),
        segment(&args.environment),
        since.as_secs()
    );
    client
        .get(&path)
        .await
        .map_err(|error| crate::commands::fail(&error))
}

/// The longest period asked for: 100 years.
const MAX_SINCE: Duration = Duration::from_secs(100 * 365 * 86_400);

/// `90m`, `12h`, `30d`, `2w`: a whole number and a unit, more than zero.
fn parse_since(text: &str) -> Result<Duration, String> {
    let invalid = || {
        format!(
            "--since `{}`: expected a whole number and a unit, m (minutes), h (hours), d (days) \
             or w (weeks), e.g. 90m, 12h, 30d, 2w",
            text.escape_debug()
        )
    };
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(invalid)?;
    let (number, unit) = text.split_at(split);
    let number: u64 = number.parse().map_err(|_| invalid())?;
    let unit_secs: u64 = match unit {
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => return Err(invalid()),
    };
    if number == 0 {
        return Err(format!(
            "--since `{text}`: the period must be longer than 0"
        ));
    }
    match number.checked_mul(unit_secs).map(Duration::from_secs) {
        Some(since) if since <= MAX_SINCE => Ok(since),
        _ => Err(format!("--since `{text}`: at most 100 years (36500d)")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_are_a_number_and_a_unit() {
        let secs = |text: &str| parse_since(text).map(|d| d.as_secs());
        assert_eq!(secs("90m"), Ok(5_400));
        assert_eq!(secs("12h"), Ok(43_200));
        assert_eq!(secs("30d"), Ok(2_592_000));
        assert_eq!(secs("2w"), Ok(1_209_600));
        assert_eq!(secs(" 7d "), Ok(604_800));
        for bad in [
            "",
            "d",
            "30",
            "30x",
            "30 d",
            "-3d",
            "1.5d",
            "30D",
            "3d4h",
            "é",
            "99999999999999999999d",
        ] {
            let error = parse_since(bad).expect_err(bad);
            assert!(error.starts_with("--since `"), "{bad}: {error}");
        }
        assert!(parse_since("0d").unwrap_err().contains("longer than 0"));
        assert!(
            parse_since("5215w")
                .unwrap_err()
                .contains("at most 100 years")
        );
        assert!(parse_since("5214w").is_ok());
    }
}
