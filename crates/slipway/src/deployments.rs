//! `slipway deployments ENV` (the records, oldest first) and
//! `slipway rollback ENV` (the previous release again, with the
//! environment's strategy, progress printed as a deploy job prints it).

use slipway_deploy::state::{BatchRecord, StrategyRecord};
use slipway_deploy::{DeployError, DeployLog, DeploymentRecord};

use crate::Exit;
use crate::args::{DeploymentsArgs, RollbackArgs};
use crate::env::{self, word};
use crate::output;

/// `slipway deployments ENV [--json] [--limit N]`.
pub fn deployments(args: DeploymentsArgs) -> Exit {
    let root = env::root(&args.repo);
    let environment = match env::load(&root, &args.environment) {
        Ok(environment) => environment,
        Err(exit) => return exit,
    };
    let records = match env::deployer(&root).deployments(&environment.name) {
        Ok(records) => records,
        Err(error) => {
            eprintln!("error: {error}");
            return Exit::Failure;
        }
    };
    let skip = args
        .limit
        .and_then(|limit| usize::try_from(limit).ok())
        .map_or(0, |limit| records.len().saturating_sub(limit));
    let records = records.get(skip..).unwrap_or_default();
    if args.json {
        output::line(serde_json::to_string_pretty(records).unwrap_or_default());
        return Exit::Success;
    }
    if records.is_empty() {
        eprintln!("environment {} has no deployments yet", environment.name);
        return Exit::Success;
    }
    for line in table(records) {
        if !output::line(line) {
            break;
        }
    }
    Exit::Success
}

fn table(records: &[DeploymentRecord]) -> Vec<String> {
    let mut rows = vec![
        [
            "ID",
            "WHEN (UTC)",
            "KIND",
            "VERSION",
            "DIGEST",
            "STRATEGY",
            "OUTCOME",
            "TOOK",
            "MESSAGE",
        ]
        .map(str::to_owned),
    ];
    for record in records {
        rows.push([
            record.id.clone(),
            utc(record.started_ms),
            record.kind.clone(),
            record.version.clone(),
            slipway_deploy::short(&record.digest).to_owned(),
            strategy(&record.strategy),
            word(&record.outcome),
            output::duration(
                i64::try_from(record.finished_ms.saturating_sub(record.started_ms))
                    .unwrap_or(i64::MAX),
            ),
            record.message.clone().unwrap_or_default(),
        ]);
    }
    let columns = rows.first().map_or(0, |row| row.len());
    let widths: Vec<usize> = (0..columns)
        .map(|column| {
            rows.iter()
                .map(|row| row[column].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    rows.iter()
        .map(|row| {
            let mut line = String::new();
            for (column, cell) in row.iter().enumerate() {
                if column + 1 == columns {
                    line.push_str(cell);
                } else {
                    line.push_str(&format!("{cell:<width$}  ", width = widths[column]));
                }
            }
            line.trim_end().to_owned()
        })
        .collect()
}

/// `rolling 2`, `rolling 25%`, `rolling [1,2]`, `blue-green`.
fn strategy(record: &StrategyRecord) -> String {
    match record {
        StrategyRecord::Rolling { batch, .. } => match batch {
            BatchRecord::Count(n) => format!("rolling {n}"),
            BatchRecord::Percent(p) => format!("rolling {p}%"),
            BatchRecord::List(sizes) => format!(
                "rolling [{}]",
                sizes
                    .iter()
                    .map(usize::to_string)
                    .collect::<Vec<_>>()
                    .join(",")
            ),
        },
        StrategyRecord::BlueGreen { .. } => "blue-green".to_owned(),
        StrategyRecord::Canary { steps, .. } => format!("canary ({} steps)", steps.len()),
    }
}

/// Milliseconds since the epoch as `YYYY-MM-DD HH:MM:SS` in UTC.
fn utc(ms: u64) -> String {
    slipway_deploy::gates::utc(ms / 1000)
}

/// Prints each progress line as `slipway run` shows a deploy job's step.
pub(crate) struct Printed;

impl DeployLog for Printed {
    fn line(&mut self, text: &str) {
        for line in text.split('\n') {
            output::line(line);
        }
    }
}

/// `slipway rollback ENV`.
pub fn rollback(args: RollbackArgs) -> Exit {
    let root = env::root(&args.repo);
    let environment = match env::load(&root, &args.environment) {
        Ok(environment) => environment,
        Err(exit) => return exit,
    };
    let runtime = match env::runtime() {
        Ok(runtime) => runtime,
        Err(exit) => return exit,
    };
    let deployer = env::deployer(&root);
    let (cancel_tx, cancel) = tokio::sync::watch::channel(false);
    let mut printed = Printed;
    let result = runtime.block_on(async {
        let rollback = deployer.rollback(&environment, &root, &mut printed, cancel);
        tokio::pin!(rollback);
        tokio::select! {
            result = &mut rollback => result,
            () = crate::wait_for_signal() => {
                eprintln!("slipway: cancelling the rollback (the targets in progress are put back first)");
                let _ = cancel_tx.send(true);
                rollback.await
            }
        }
    });
    match result {
        Ok(record) => {
            output::line(format!(
                "rolled {} back to {} ({}) as {}",
                environment.name,
                record.version,
                slipway_deploy::short(&record.digest),
                record.id
            ));
            Exit::Success
        }
        Err(DeployError::Config(message)) => {
            eprintln!("error: {message}");
            Exit::Usage
        }
        Err(error) => {
            eprintln!("error: {error}");
            Exit::Failure
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_utc_dates() {
        assert_eq!(utc(0), "1970-01-01 00:00:00");
        assert_eq!(utc(951_782_400_000), "2000-02-29 00:00:00");
        assert_eq!(utc(1_795_796_645_123), "2026-11-27 16:24:05");
    }

    #[test]
    fn strategies_are_short() {
        let rolling = |batch| StrategyRecord::Rolling {
            batch,
            max_unavailable: None,
            max_fail_percentage: 0,
        };
        assert_eq!(strategy(&rolling(BatchRecord::Count(2))), "rolling 2");
        assert_eq!(strategy(&rolling(BatchRecord::Percent(25))), "rolling 25%");
        assert_eq!(
            strategy(&rolling(BatchRecord::List(vec![1, 2]))),
            "rolling [1,2]"
        );
        assert_eq!(
            strategy(&StrategyRecord::BlueGreen { keep_old_ms: 1 }),
            "blue-green"
        );
    }
}
