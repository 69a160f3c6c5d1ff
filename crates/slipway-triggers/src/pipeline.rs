//! The pipeline file at a commit: read from the mirror and parsed.

use slipway_git::Mirror;
use slipway_spec::Pipeline;

use crate::{PIPELINE_FILE, PipelineSource};

/// `slipway.yml` at `sha`, parsed; or the reason a run of that commit fails at once, in words
/// fit for the run's failure reason (parse errors as `file:line:col: error: message` lines).
pub(crate) async fn read_pipeline(
    mirror: &Mirror,
    sha: &str,
) -> Result<(PipelineSource, Pipeline), String> {
    let limit = u64::try_from(slipway_spec::MAX_FILE_BYTES).unwrap_or(u64::MAX);
    let bytes = match mirror.read_file(sha, PIPELINE_FILE, limit).await {
        Ok(Some(bytes)) => bytes,
        Ok(None) => {
            return Err(format!(
                "commit {sha} has no {PIPELINE_FILE} at the repository root; add one to run pipelines"
            ));
        }
        Err(err) => return Err(err.to_string()),
    };
    let pipeline = slipway_spec::parse_bytes(&bytes, PIPELINE_FILE)
        .map_err(|diagnostics| diagnostics.to_string().trim_end().to_owned())?;
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
