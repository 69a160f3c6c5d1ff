//! Reads the `deploy:` of a job (`environment`, `artifact` or `image`, `strategy`) and, once
//! every job is read, checks that each `artifact: JOB.NAME` names an artifact that a job of
//! the deploy job's `needs` declares.
//!
//! ```yaml
//! deploy:
//!   environment: production
//!   artifact: package.app            # JOB.NAME, built by a job of `needs` …
//!   # artifact: {name: app, digest: af13…62}   # … or published earlier, by digest: 64
//!   #   lowercase hex digits (BLAKE3) or `sha256:` + 64; no `needs` check
//!   # image: registry.local/app@sha256:…       # or a container image (docker targets)
//!   strategy: rolling                # | blue_green | {rolling: {…}} | {blue_green: {…}}
//!                                    # | {canary: {…}} (see `crate::canary`)
//! ```

use std::time::Duration;

use crate::check::{Checker, is_identifier};
use crate::deploy::{ArtifactRef, BatchSize, BlueGreen, DeployJob, Rolling, Strategy};
use crate::diagnostic::Diagnostic;
use crate::environment::{in_range, name, positive};
use crate::model::{Job, Span};
use crate::schema::names;
use crate::schema_delivery::ARTIFACT_DIGEST_KEYS;
use crate::schema_deploy::{BLUE_GREEN_KEYS, DEPLOY_KEYS, ROLLING_KEYS, STRATEGY_KEYS};
use crate::suggest::closest;
use crate::yaml::{Key, Node, NodeKind};
use crate::{canary, container};

const DEFAULT_KEEP_OLD: Duration = Duration::from_secs(5 * 60);

/// An `artifact: JOB.NAME` waiting for every job to be read, to be checked against them.
pub(crate) struct ArtifactUse {
    /// The deploy job.
    pub deploy_job: String,
    /// Its `needs`.
    pub needs: Vec<String>,
    pub job: String,
    pub artifact: String,
    /// Where the value is written.
    pub span: Span,
    pub width: usize,
}

/// Reads `deploy:`; `needs` are the job's, for the artifact check.
pub(crate) fn read(
    c: &mut Checker<'_>,
    job_id: &str,
    key: &Key,
    node: &Node,
    needs: &[String],
) -> Option<DeployJob> {
    let NodeKind::Map(entries) = &node.kind else {
        c.push(
            Diagnostic::new(
                node.span,
                node.width(),
                format!("expected a map for `deploy`, found {}", node.describe()),
            )
            .help("write `deploy: {environment: NAME, artifact: JOB.NAME}`; see docs/deploy.md"),
        );
        return None;
    };
    c.check_keys(entries, DEPLOY_KEYS, "`deploy`");
    let mut environment = None;
    let mut sources: Vec<(&Key, Option<ArtifactRef>)> = Vec::new();
    let mut strategy = Some(Strategy::default());
    for (k, value) in entries {
        match k.name.as_str() {
            "environment" => environment = Some(name(c, value, "`deploy.environment`")),
            "artifact" => sources.push((
                k,
                match value.kind {
                    NodeKind::Map(_) => artifact_by_digest(c, value),
                    _ => artifact(c, job_id, value, needs),
                },
            )),
            "image" => sources.push((
                k,
                container::image(c, value, "`deploy.image`").map(ArtifactRef::Image),
            )),
            "strategy" => strategy = self::strategy(c, value),
            _ => {}
        }
    }
    if environment.is_none() {
        c.push(
            Diagnostic::new(
                key.span,
                key.name.chars().count(),
                "`deploy` is missing the required key `environment`",
            )
            .help("add `environment: NAME`, the name of `.slipway/environments/NAME.yml`"),
        );
    }
    let artifact = match sources.as_slice() {
        [(_, source)] => source.clone(),
        [] => {
            c.push(
                Diagnostic::new(key.span, key.name.chars().count(), "`deploy` has neither `artifact` nor `image`")
                    .help("add `artifact: JOB.NAME` (an artifact a job of `needs` declares), `artifact: {name: NAME, digest: DIGEST}` or `image: NAME@sha256:...`"),
            );
            None
        }
        [_, (second, _), ..] => {
            c.push(
                Diagnostic::new(
                    second.span,
                    second.name.chars().count(),
                    "`deploy` has both `artifact` and `image`",
                )
                .help("a deployment installs one thing: keep `artifact` or `image`"),
            );
            None
        }
    };
    Some(DeployJob {
        environment: environment??,
        artifact: artifact?,
        strategy: strategy?,
        span: key.span,
    })
}

/// `JOB.NAME`, recorded for [`check_artifacts`].
fn artifact(
    c: &mut Checker<'_>,
    job_id: &str,
    node: &Node,
    needs: &[String],
) -> Option<ArtifactRef> {
    let text = c.text(node, "`deploy.artifact`")?;
    let Some((job, artifact)) = text
        .split_once('.')
        .filter(|(job, artifact)| is_identifier(job) && !artifact.is_empty())
    else {
        c.push(
            Diagnostic::new(node.span, node.width(), format!("`deploy.artifact` `{text}` is not `JOB.NAME`"))
                .help("name the job that declares the artifact and the artifact's name, e.g. `artifact: package.app`"),
        );
        return None;
    };
    c.artifact_uses.push(ArtifactUse {
        deploy_job: job_id.to_string(),
        needs: needs.to_vec(),
        job: job.to_string(),
        artifact: artifact.to_string(),
        span: node.span,
        width: node.width(),
    });
    Some(ArtifactRef::Job {
        job: job.to_string(),
        artifact: artifact.to_string(),
    })
}

/// `{name: NAME, digest: DIGEST}`: an artifact published by an earlier run, so no job of
/// `needs` has to build it. DIGEST is 64 lowercase hex digits (BLAKE3, as the engine writes
/// digests) or `sha256:` and 64 lowercase hex digits.
fn artifact_by_digest(c: &mut Checker<'_>, node: &Node) -> Option<ArtifactRef> {
    let entries = c.map(node, "`deploy.artifact`")?;
    c.check_keys(entries, ARTIFACT_DIGEST_KEYS, "`deploy.artifact`");
    let mut name = None;
    let mut digest = None;
    for (key, value) in entries {
        match key.name.as_str() {
            "name" => name = Some(artifact_name(c, value)),
            "digest" => digest = Some(self::digest(c, value)),
            _ => {}
        }
    }
    for (present, key, help) in [
        (name.is_some(), "name", "add `name:`, the artifact's name"),
        (
            digest.is_some(),
            "digest",
            "add `digest:`, 64 hex digits (BLAKE3) or `sha256:` and 64 hex digits",
        ),
    ] {
        if !present {
            c.missing(node, key, "`deploy.artifact`", help);
        }
    }
    Some(ArtifactRef::Digest {
        name: name??,
        digest: digest??,
    })
}

fn artifact_name(c: &mut Checker<'_>, node: &Node) -> Option<String> {
    let name = c.text(node, "`deploy.artifact.name`")?;
    if name.trim().is_empty() || name.chars().any(char::is_control) {
        c.push(
            Diagnostic::new(
                node.span,
                node.width(),
                format!("invalid artifact name `{name}`"),
            )
            .help("write the name the artifact was published under, e.g. `name: app`"),
        );
        return None;
    }
    Some(name)
}

/// Whether `text` is a digest as [`artifact_by_digest`] takes it.
pub(crate) fn is_digest(text: &str) -> bool {
    let hex = text.strip_prefix("sha256:").unwrap_or(text);
    hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fn digest(c: &mut Checker<'_>, node: &Node) -> Option<String> {
    let text = c.text(node, "`deploy.artifact.digest`")?;
    if is_digest(&text) {
        return Some(text);
    }
    c.push(
        Diagnostic::new(node.span, node.width(), format!("invalid digest `{text}`"))
            .help("write 64 lowercase hex digits (the BLAKE3 digest Slipway shows for an artifact) or `sha256:` and 64 lowercase hex digits"),
    );
    None
}

/// Checks every recorded `artifact: JOB.NAME` against the jobs of the file.
pub(crate) fn check_artifacts(c: &mut Checker<'_>, jobs: &[Job]) {
    for used in std::mem::take(&mut c.artifact_uses) {
        let problem = if !used.needs.contains(&used.job) {
            let help = if used.needs.is_empty() {
                format!(
                    "add `needs: [{}]` to job `{}`: the artifact must be built before it is deployed",
                    used.job, used.deploy_job
                )
            } else {
                format!(
                    "add `{}` to the `needs` of job `{}` (now: {}): the artifact must be built before it is deployed",
                    used.job,
                    used.deploy_job,
                    used.needs.join(", ")
                )
            };
            Some((
                format!(
                    "`deploy.artifact` names job `{}`, which job `{}` does not need",
                    used.job, used.deploy_job
                ),
                help,
            ))
        } else if let Some(producer) = jobs.iter().find(|j| j.id == used.job) {
            let declared = || producer.artifacts.iter().map(|a| a.name.as_str());
            if declared().any(|name| name == used.artifact) {
                None
            } else if producer.artifacts.is_empty() {
                Some((
                    format!(
                        "job `{}` declares no artifact `{}`; it declares no artifacts at all",
                        used.job, used.artifact
                    ),
                    format!(
                        "add `artifacts: {{{}: PATH}}` to job `{}`",
                        used.artifact, used.job
                    ),
                ))
            } else {
                let help = match closest(&used.artifact, declared()) {
                    Some(s) => format!("did you mean `{}.{s}`?", used.job),
                    None => {
                        let list: Vec<String> =
                            declared().map(|n| format!("`{}.{n}`", used.job)).collect();
                        format!(
                            "the artifacts of job `{}` are {}",
                            used.job,
                            list.join(", ")
                        )
                    }
                };
                Some((
                    format!(
                        "job `{}` declares no artifact `{}`",
                        used.job, used.artifact
                    ),
                    help,
                ))
            }
        } else {
            // An unknown job in `needs` is reported by the graph check.
            None
        };
        if let Some((message, help)) = problem {
            c.push(Diagnostic::new(used.span, used.width, message).help(help));
        }
    }
}

fn strategy(c: &mut Checker<'_>, node: &Node) -> Option<Strategy> {
    match &node.kind {
        NodeKind::Str(text) => match text.as_str() {
            "rolling" => Some(Strategy::Rolling(Rolling::default())),
            "blue_green" => Some(Strategy::BlueGreen(BlueGreen {
                keep_old: DEFAULT_KEEP_OLD,
            })),
            "canary" => {
                c.push(
                    Diagnostic::new(node.span, node.width(), "the canary strategy needs `steps`")
                        .help("write `strategy: {canary: {steps: [{weight: 10}, {pause: 30s}, {weight: 100}]}}`"),
                );
                None
            }
            other => {
                unknown_strategy(c, other, node.span, node.width());
                None
            }
        },
        NodeKind::Map(entries) => {
            let [(key, value)] = entries.as_slice() else {
                c.push(
                    Diagnostic::new(node.span, node.width(), format!("`strategy` holds one strategy, and this map has {} keys", entries.len()))
                        .help("write `strategy: {rolling: {batch: 2}}` or `strategy: {blue_green: {keep_old: 5m}}`"),
                );
                return None;
            };
            match key.name.as_str() {
                "rolling" => rolling(c, value, "`rolling`").map(Strategy::Rolling),
                "blue_green" => blue_green(c, value).map(Strategy::BlueGreen),
                "canary" => canary::read(c, key, value).map(Strategy::Canary),
                other => {
                    unknown_strategy(c, other, key.span, other.chars().count());
                    None
                }
            }
        }
        _ => {
            c.push(
                Diagnostic::new(node.span, node.width(), format!("expected a strategy name or a map for `strategy`, found {}", node.describe()))
                    .help("write `strategy: rolling`, `strategy: {rolling: {batch: 2}}` or `strategy: {blue_green: {keep_old: 5m}}`"),
            );
            None
        }
    }
}

fn unknown_strategy(c: &mut Checker<'_>, name: &str, span: Span, width: usize) {
    let help = match closest(name, names(STRATEGY_KEYS)) {
        Some(s) => format!("did you mean `{s}`?"),
        None => "the strategies are `rolling`, `blue_green` and `canary`".to_string(),
    };
    c.push(Diagnostic::new(span, width, format!("unknown strategy `{name}`")).help(help));
}

/// The keys of `rolling` (also a canary's `promote`, named by `what`).
pub(crate) fn rolling(c: &mut Checker<'_>, node: &Node, what: &str) -> Option<Rolling> {
    let entries = c.optional_map(node, what);
    c.check_keys(entries, ROLLING_KEYS, what);
    let mut rolling = Rolling::default();
    let mut ok = true;
    for (key, value) in entries {
        match key.name.as_str() {
            "batch" => match batch(c, value) {
                Some(batch) => rolling.batch = batch,
                None => ok = false,
            },
            "max_unavailable" => match positive(c, value, "`max_unavailable`") {
                Some(n) => rolling.max_unavailable = Some(n),
                None => ok = false,
            },
            "max_fail_percentage" => match in_range(c, value, "`max_fail_percentage`", 0, 100) {
                Some(n) => rolling.max_fail_percentage = u32::try_from(n).unwrap_or(0),
                None => ok = false,
            },
            _ => {}
        }
    }
    ok.then_some(rolling)
}

fn batch(c: &mut Checker<'_>, node: &Node) -> Option<BatchSize> {
    match &node.kind {
        NodeKind::Int(_) => positive(c, node, "`batch`").map(BatchSize::Count),
        NodeKind::Str(text) => {
            let percent = text
                .strip_suffix('%')
                .and_then(|n| n.trim().parse::<u32>().ok())
                .filter(|n| (1..=100).contains(n));
            if percent.is_none() {
                c.push(
                    Diagnostic::new(node.span, node.width(), format!("invalid `batch` `{text}`"))
                        .help("write a count (`2`), a percentage of the targets from 1% to 100% (`\"25%\"`) or a list of sizes (`[1, 2, 5]`)"),
                );
            }
            percent.map(BatchSize::Percent)
        }
        NodeKind::Seq(items) => {
            if items.is_empty() {
                c.push(
                    Diagnostic::new(node.span, node.width(), "`batch` is an empty list")
                        .help("list the batch sizes, e.g. `[1, 2, 5]` (the last size repeats)"),
                );
                return None;
            }
            let sizes: Vec<usize> = items
                .iter()
                .filter_map(|item| positive(c, item, "each `batch` size"))
                .collect();
            (sizes.len() == items.len()).then_some(BatchSize::List(sizes))
        }
        _ => {
            c.push(
                Diagnostic::new(
                    node.span,
                    node.width(),
                    format!(
                        "expected a count, a percentage or a list for `batch`, found {}",
                        node.describe()
                    ),
                )
                .help("write `batch: 2`, `batch: \"25%\"` or `batch: [1, 2, 5]`"),
            );
            None
        }
    }
}

fn blue_green(c: &mut Checker<'_>, node: &Node) -> Option<BlueGreen> {
    let entries = c.optional_map(node, "`blue_green`");
    c.check_keys(entries, BLUE_GREEN_KEYS, "`blue_green`");
    let mut keep_old = Some(DEFAULT_KEEP_OLD);
    for (key, value) in entries {
        if key.name == "keep_old" {
            keep_old = c.precise_duration(value, "`keep_old`");
        }
    }
    Some(BlueGreen {
        keep_old: keep_old?,
    })
}

#[cfg(test)]
mod tests {
    use crate::deploy::{ArtifactRef, BatchSize, Strategy};

    fn deploy_of(source: &str) -> crate::deploy::DeployJob {
        let pipeline = match crate::parse_pipeline(source, "t.yml") {
            Ok(p) => p,
            Err(d) => panic!("{}", d.render(source, false)),
        };
        pipeline
            .jobs
            .into_iter()
            .find_map(|j| j.deploy)
            .expect("a deploy job")
    }

    #[test]
    fn artifact_names_may_hold_dots_and_slashes() {
        // The list form of `artifacts` names an artifact by its path.
        let deploy = deploy_of(
            "jobs:\n  build:\n    artifacts: [dist/app.tar.gz]\n    steps: [{run: make}]\n  ship:\n    needs: build\n    deploy: {environment: prod, artifact: build.dist/app.tar.gz}\n",
        );
        assert_eq!(
            deploy.artifact,
            ArtifactRef::Job {
                job: "build".into(),
                artifact: "dist/app.tar.gz".into()
            }
        );
        assert_eq!(deploy.strategy, Strategy::default());
    }

    #[test]
    fn batch_forms() {
        for (written, expected) in [
            ("3", BatchSize::Count(3)),
            ("\"100%\"", BatchSize::Percent(100)),
            ("1%", BatchSize::Percent(1)),
            ("[1, 2]", BatchSize::List(vec![1, 2])),
        ] {
            let deploy = deploy_of(&format!(
                "jobs:\n  ship:\n    deploy:\n      environment: prod\n      image: app:1\n      strategy: {{rolling: {{batch: {written}}}}}\n"
            ));
            let Strategy::Rolling(rolling) = deploy.strategy else {
                panic!("rolling");
            };
            assert_eq!(rolling.batch, expected, "{written}");
        }
    }
}
