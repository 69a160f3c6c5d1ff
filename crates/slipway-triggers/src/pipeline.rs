//! The pipeline file at a commit: read from the mirror and parsed.

use slipway_git::{GitError, Mirror};
use slipway_spec::Pipeline;

use crate::{PIPELINE_FILE, PipelineSource};

/// Why the pipeline at a commit could not be had.
pub(crate) enum Unreadable {
    /// The mirror does not hold the commit (the caller knows why, and words it).
    CommitNotFound,
    /// Anything else, in words fit for the run's failure reason.
    Reason(String),
}

/// `slipway.yml` at `sha`, parsed; or the reason a run of that commit fails at once, in words
/// fit for the run's failure reason (parse errors as `file:line:col: error: message` lines).
pub(crate) async fn read_pipeline(
    mirror: &Mirror,
    sha: &str,
) -> Result<(PipelineSource, Pipeline), String> {
    read_pipeline_at(mirror, sha)
        .await
        .map_err(|why| match why {
            Unreadable::CommitNotFound => GitError::CommitNotFound {
                repo: mirror.shown_url().to_owned(),
                sha: sha.to_owned(),
            }
            .to_string(),
            Unreadable::Reason(reason) => reason,
        })
}

/// [`read_pipeline`], telling a missing commit apart, so that a caller which has not checked
/// for the commit first (a webhook: one git process fewer) can say why it is missing.
pub(crate) async fn read_pipeline_at(
    mirror: &Mirror,
    sha: &str,
) -> Result<(PipelineSource, Pipeline), Unreadable> {
    let limit = u64::try_from(slipway_spec::MAX_FILE_BYTES).unwrap_or(u64::MAX);
    let bytes = match mirror.read_file(sha, PIPELINE_FILE, limit).await {
        Ok(Some(bytes)) => bytes,
        Ok(None) => {
            return Err(Unreadable::Reason(format!(
                "commit {sha} has no {PIPELINE_FILE} at the repository root; add one to run pipelines"
            )));
        }
        Err(GitError::CommitNotFound { .. }) => return Err(Unreadable::CommitNotFound),
        Err(err) => return Err(Unreadable::Reason(err.to_string())),
    };
    let pipeline = slipway_spec::parse_bytes(&bytes, PIPELINE_FILE)
        .map_err(|diagnostics| Unreadable::Reason(diagnostics.to_string().trim_end().to_owned()))?;
    // parse_bytes accepted the bytes, so they are UTF-8; the lossy path never copies then.
    let source = match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(err) => String::from_utf8_lossy(err.as_bytes()).into_owned(),
    };
    Ok((
        PipelineSource {
            file: PIPELINE_FILE.to_owned(),
            source,
        },
        pipeline,
    ))
}
