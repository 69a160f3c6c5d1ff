//! Manual runs: a ref, typed inputs, a run.

use serde_json::{Map, Value};
use slipway_git::GitError;
use slipway_spec::TriggerEvent;
use slipway_store::sql::{Project, ServerStore};

use crate::pipeline::read_pipeline;
use crate::{RunRequest, RunStarter, TriggerError, Triggers, check_inputs};

impl<S: RunStarter, St: ServerStore + 'static> Triggers<S, St> {
    /// A manual run of `git_ref` (a branch, tag or commit; the default branch when `None`):
    /// fetch, resolve, read the pipeline there, check `inputs` against its
    /// `on.manual.inputs` (typed, defaults filled), start the run and return its id.
    ///
    /// Nothing starts when the ref is unknown, the pipeline file is missing or invalid, or an
    /// input is wrong: the error says what to fix. A pipeline without `on.manual` may still be
    /// run by hand (the person asking has the rights to), but then takes no inputs.
    pub async fn manual(
        &self,
        project: &Project,
        git_ref: Option<&str>,
        inputs: Map<String, Value>,
    ) -> Result<i64, TriggerError> {
        self.manual_by(project, git_ref, inputs, None).await
    }

    /// [`Triggers::manual`], recording `user` as who started the run.
    pub async fn manual_by(
        &self,
        project: &Project,
        git_ref: Option<&str>,
        inputs: Map<String, Value>,
        user: Option<&str>,
    ) -> Result<i64, TriggerError> {
        let lock = self.project_lock(project.id);
        let guard = lock.lock().await;
        let mirror = self.fetched_mirror(project).await?;
        let wanted = git_ref
            .map(str::trim)
            .filter(|r| !r.is_empty())
            .unwrap_or(&project.default_branch);
        let refs = mirror.refs().await?;
        let short = wanted
            .strip_prefix("refs/heads/")
            .or_else(|| wanted.strip_prefix("refs/tags/"))
            .unwrap_or(wanted);
        let (branch, tag, sha) = if let Some(sha) = refs.branches.get(short) {
            (Some(short.to_owned()), None, sha.clone())
        } else if let Some(sha) = refs.tags.get(short) {
            (None, Some(short.to_owned()), sha.clone())
        } else {
            match mirror.resolve(wanted).await {
                Ok(Some(sha)) => (None, None, sha),
                Ok(None) | Err(GitError::InvalidArgument { .. }) => {
                    return Err(TriggerError::UnknownRef(wanted.to_owned()));
                }
                Err(err) => return Err(err.into()),
            }
        };
        let (source, pipeline) = read_pipeline(&mirror, &sha)
            .await
            .map_err(TriggerError::Pipeline)?;
        drop(guard);

        let declared = pipeline
            .on
            .manual
            .as_ref()
            .map_or(&[][..], |manual| manual.inputs.as_slice());
        let typed = check_inputs(declared, inputs).map_err(TriggerError::Input)?;
        let verdict = pipeline.on.matches(&TriggerEvent::Manual);
        let reason = if verdict.matched {
            verdict.reason
        } else {
            format!("manual run ({})", verdict.reason)
        };
        let mut request = RunRequest::new(
            project.id,
            "manual",
            branch,
            tag,
            &sha,
            None,
            Ok(source),
            reason,
        );
        request.inputs = typed;
        request.triggered_by = user.map(str::to_owned);
        self.start(request).await.map_err(TriggerError::Start)
    }
}
