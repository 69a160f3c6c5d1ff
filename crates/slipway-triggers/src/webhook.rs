//! Webhook deliveries: authenticate, normalise, fetch the commit, evaluate `on:`, start.

use slipway_api::HookAnswer;
use slipway_engine::records::GitInfo;
use slipway_hooks::{Event, Forge, MAX_BODY_BYTES, ParseError, Parsed, PullRequest, Push};
use slipway_spec::TriggerEvent;
use slipway_store::sql::{DeliveryResult, NewDelivery, Project, ServerStore, SqlError};

use crate::git::Synced;
use crate::pipeline::{Unreadable, read_pipeline, read_pipeline_at};
use crate::{PullRequestInfo, RunRequest, RunStarter, Triggers};

/// Headers carrying the forge's id of a delivery, looked up in this order.
const DELIVERY_ID_HEADERS: &[&str] = &[
    "X-GitHub-Delivery",
    "X-Gitlab-Event-UUID",
    "X-Forgejo-Delivery",
    "X-Gitea-Delivery",
];

/// The forge's name in the delivery log (as in the webhook URL).
fn forge_key(forge: Forge) -> &'static str {
    match forge {
        Forge::GitHub => "github",
        Forge::GitLab => "gitlab",
        Forge::Gitea => "gitea",
    }
}

/// Request text fit to store: at most `max` bytes (cut at a character boundary), control
/// characters (NUL included, which PostgreSQL refuses) replaced by `?`.
fn printable(text: &str, max: usize) -> String {
    let mut out = String::with_capacity(text.len().min(max));
    for c in text.chars() {
        if out.len() + c.len_utf8() > max {
            break;
        }
        out.push(if c.is_control() && c != '\n' { '?' } else { c });
    }
    out
}

/// What a delivery leads to once its event is known.
enum Decision {
    Start(Box<RunRequest>),
    Ignore(String),
}

impl<S: RunStarter, St: ServerStore + 'static> Triggers<S, St> {
    /// A webhook delivery. `headers` looks a header up by lower-case name.
    ///
    /// Answers: 413 for a body over [`MAX_BODY_BYTES`]; 404 for an unknown project; 401 for a
    /// missing or bad signature (or a project without a webhook secret), creating nothing;
    /// 400 for a body that is not the forge's payload; 202 `ignored` (with the reason, also
    /// logged) for events Slipway does not act on and pipelines whose `on:` does not match;
    /// 202 `started` with the run ids otherwise. A commit that cannot be fetched, or has no
    /// or an invalid `slipway.yml`, still starts a run, failed with the reason. 500 `failed`
    /// when the store or the run starter fails.
    pub async fn webhook(
        &self,
        forge: Forge,
        project: &str,
        headers: &(dyn Fn(&str) -> Option<String> + Sync),
        body: &[u8],
    ) -> (u16, HookAnswer) {
        if body.len() > MAX_BODY_BYTES {
            return refuse(
                413,
                format!(
                    "the body is {} bytes, over the limit of {MAX_BODY_BYTES}",
                    body.len()
                ),
            );
        }
        let project = match self.store.project_by_name(project).await {
            Ok(project) => project,
            Err(SqlError::NotFound { .. } | SqlError::Invalid { .. }) => {
                return refuse(404, "no such project".to_owned());
            }
            Err(err) => return failed(format!("the store failed: {err}")),
        };
        // slipway-hooks names headers in their usual spelling; the server's lookup is by
        // lower-case name.
        let lookup = |name: &str| headers(&name.to_ascii_lowercase());
        let event_name = slipway_hooks::event_type(forge, &lookup).unwrap_or_default();
        let (status, answer) = self
            .deliver(&project, forge, &lookup, &event_name, body)
            .await;
        self.log_delivery(&project, forge, &lookup, &event_name, status, &answer)
            .await;
        (status, answer)
    }

    /// Authenticates, parses and acts on a delivery to a known project.
    async fn deliver(
        &self,
        project: &Project,
        forge: Forge,
        lookup: &(dyn Fn(&str) -> Option<String> + Sync),
        event_name: &str,
        body: &[u8],
    ) -> (u16, HookAnswer) {
        let secret = match self.store.webhook_secret(project.id).await {
            Ok(secret) => secret,
            Err(err) => return failed(format!("the store failed: {err}")),
        };
        let secret = secret.as_ref().map_or(&[][..], |s| s.expose());
        if let Err(err) = slipway_hooks::verify(forge, lookup, body, secret) {
            tracing::warn!(project = %project.name, forge = %forge, error = %err,
                "webhook delivery rejected");
            return refuse(401, err.to_string());
        }
        let event = match slipway_hooks::parse(forge, event_name, body) {
            Ok(Parsed::Event(event)) => event,
            Ok(Parsed::Ignored { reason }) => {
                tracing::info!(project = %project.name, forge = %forge, reason = %reason,
                    "webhook delivery ignored");
                return ignored(reason);
            }
            Err(err @ ParseError::TooLarge { .. }) => return refuse(413, err.to_string()),
            Err(err) => {
                tracing::warn!(project = %project.name, forge = %forge, error = %err,
                    "webhook delivery refused");
                return refuse(400, err.to_string());
            }
        };
        match &event {
            Event::Push(push) | Event::Tag(push) if !push.deleted => {
                self.starter.verified(project, &push.after);
            }
            Event::PullRequest(pr) => self.starter.verified(project, &pr.head_sha),
            Event::Push(_) | Event::Tag(_) => {}
        }
        // The project's lock is held from the fetch until the push is recorded for polling,
        // which happens after the run is started: the run does not wait for that write.
        let lock = self.project_lock(project.id);
        let _guard = lock.lock().await;
        let answer = match self.decide(project, &event).await {
            Decision::Ignore(reason) => {
                tracing::info!(project = %project.name, forge = %forge, reason = %reason,
                    "webhook delivery starts nothing");
                ignored(reason)
            }
            Decision::Start(request) => match self.start(*request).await {
                Ok(run) => (
                    202,
                    HookAnswer {
                        result: "started".to_owned(),
                        runs: vec![run],
                        message: None,
                    },
                ),
                Err(err) => failed(format!("the run could not be started: {err}")),
            },
        };
        if let Event::Push(push) | Event::Tag(push) = &event
            && let Err(err) = self.remember_push(project.id, push).await
        {
            tracing::warn!(project = %project.name, error = %err,
                "could not record the pushed ref for polling");
        }
        answer
    }

    /// Records the delivery in the store's delivery log; a failure to do so is only logged,
    /// since the answer (and any run) stands.
    async fn log_delivery(
        &self,
        project: &Project,
        forge: Forge,
        lookup: &(dyn Fn(&str) -> Option<String> + Sync),
        event_name: &str,
        status: u16,
        answer: &HookAnswer,
    ) {
        let result = match (status, answer.result.as_str()) {
            (202, "started") => DeliveryResult::Started,
            (202, _) => DeliveryResult::Ignored,
            (500, _) => DeliveryResult::Failed,
            _ => DeliveryResult::Rejected,
        };
        let delivery_id = DELIVERY_ID_HEADERS
            .iter()
            .find_map(|name| lookup(name))
            .map(|id| printable(&id, 255));
        let delivery = NewDelivery {
            project_id: project.id,
            forge: forge_key(forge).to_owned(),
            event: printable(event_name, 255),
            delivery_id,
            result,
            message: answer.message.as_deref().map(|m| printable(m, 16 * 1024)),
            run_ids: answer.runs.clone(),
        };
        if let Err(err) = self.store.record_delivery(delivery).await {
            tracing::warn!(project = %project.name, error = %err, "could not log the webhook delivery");
        }
    }

    /// Fetches the event's commit and evaluates the pipeline at it. Call with the project's
    /// lock held; the caller then records a branch or tag push in the polling state so polling
    /// does not start it again.
    async fn decide(&self, project: &Project, event: &Event) -> Decision {
        let synced = self.sync_mirror(project).await;
        let mut decision = match event {
            Event::Push(push) | Event::Tag(push) if push.deleted => {
                Decision::Ignore(format!("{} was deleted: nothing to build", push.ref_name))
            }
            Event::Push(push) => push_decision(project.id, &synced, push, "push").await,
            Event::Tag(push) => push_decision(project.id, &synced, push, "tag").await,
            Event::PullRequest(pr) => pull_request_decision(project.id, &synced, pr).await,
        };
        // Who caused the event starts the run (approvals may refuse them).
        let sender = match event {
            Event::Push(push) | Event::Tag(push) => &push.sender,
            Event::PullRequest(pr) => &pr.sender,
        };
        if let Decision::Start(request) = &mut decision
            && !sender.is_empty()
        {
            request.triggered_by = Some(sender.clone());
        }
        decision
    }

    /// Sets the pushed ref to its new commit in the polling state (once polling has a
    /// baseline), so that the next polling pass does not see it as new.
    async fn remember_push(&self, project_id: i64, push: &Push) -> Result<(), crate::TriggerError> {
        let Some(mut saved) = self.saved_refs(project_id).await? else {
            return Ok(());
        };
        let refs = &mut saved;
        let map = match (&push.branch, &push.tag) {
            (Some(branch), _) => Some((&mut refs.branches, branch)),
            (None, Some(tag)) => Some((&mut refs.tags, tag)),
            (None, None) => None,
        };
        let Some((map, name)) = map else {
            return Ok(());
        };
        if push.deleted {
            map.remove(name);
        } else {
            map.insert(name.clone(), push.after.clone());
        }
        self.save_refs(project_id, &saved).await
    }
}

/// A branch (`push`) or tag (`tag`) push.
///
/// The pipeline is read first, without asking whether the mirror holds the commit (reading
/// says so); the changed paths (two more git processes) are computed only when its `on.push`
/// filter has `paths:` or `paths-ignore:`, the only thing that uses them here (the server
/// does not pass them on to runs).
async fn push_decision(project_id: i64, synced: &Synced, push: &Push, trigger: &str) -> Decision {
    let sha = push.after.as_str();
    let (branch, tag) = (push.branch.clone(), push.tag.clone());
    let failed = |why| {
        let reason = format!("{trigger} of {}", push.ref_name);
        Decision::Start(Box::new(RunRequest::new(
            project_id,
            trigger,
            branch.clone(),
            tag.clone(),
            sha,
            None,
            Err(why),
            reason,
        )))
    };
    let Some(mirror) = synced.mirror.as_deref() else {
        return failed(synced.not_fetched(sha));
    };
    let (source, pipeline) = match read_pipeline_at(mirror, sha).await {
        Ok(found) => found,
        Err(Unreadable::CommitNotFound) => return failed(synced.missing(mirror, sha)),
        Err(Unreadable::Reason(why)) => return failed(why),
    };
    let changed = match &branch {
        Some(_) if filters_paths(pipeline.on.push.as_ref()) => {
            match mirror.changed_paths(&push.before, sha).await {
                Ok(Some(changed)) if !changed.truncated => Some(changed.paths),
                _ => None,
            }
        }
        _ => None,
    };
    let verdict = match (&branch, &tag) {
        (Some(branch), _) => pipeline.on.matches(&TriggerEvent::Push {
            branch,
            changed_paths: changed.as_deref(),
        }),
        (None, Some(tag)) => pipeline.on.matches(&TriggerEvent::Tag { tag }),
        (None, None) => {
            return Decision::Ignore(format!("{} is neither a branch nor a tag", push.ref_name));
        }
    };
    if !verdict.matched {
        return Decision::Ignore(verdict.reason);
    }
    Decision::Start(Box::new(RunRequest::new(
        project_id,
        trigger,
        branch,
        tag,
        sha,
        changed,
        Ok(source),
        verdict.reason,
    )))
}

/// A pull request opened, updated or reopened: its head is fetched through the base
/// repository's ref for it, so forks need no access of their own.
async fn pull_request_decision(project_id: i64, synced: &Synced, pr: &PullRequest) -> Decision {
    let sha = pr.head_sha.as_str();
    let info = PullRequestInfo {
        number: pr.number,
        target_branch: pr.target_branch.clone(),
        head_ref: pr.head_ref.clone(),
        title: pr.title.clone(),
    };
    let fetched_ref = match &synced.mirror {
        Some(mirror) => mirror.fetch_ref(&pr.head_ref).await.err(),
        None => None,
    };
    let request = |changed: Option<Vec<String>>, pipeline, reason| {
        let mut request = RunRequest::new(
            project_id,
            "pull_request",
            Some(pr.source_branch.clone()),
            None,
            sha,
            changed,
            pipeline,
            reason,
        );
        request.pull_request = Some(info.clone());
        Decision::Start(Box::new(request))
    };
    let mirror = match synced.with_commit(sha).await {
        Ok(mirror) => mirror,
        Err(why) => {
            let why = match fetched_ref {
                Some(err) => format!("{why} ({}: {err})", pr.head_ref),
                None => why,
            };
            return request(None, Err(why), format!("pull request #{}", pr.number));
        }
    };
    let (source, pipeline) = match read_pipeline(mirror, sha).await {
        Ok(found) => found,
        Err(why) => return request(None, Err(why), format!("pull request #{}", pr.number)),
    };
    // The paths of the pull request are those since the target branch, when the head still
    // descends from its tip; otherwise unknown, and path filters pass (as on GitHub). Only
    // computed when a filter uses them.
    let changed = if filters_paths(pipeline.on.pull_request.as_ref()) {
        let target = format!("refs/heads/{}", pr.target_branch);
        match mirror.resolve(&target).await {
            Ok(Some(base)) => match mirror.changed_paths(&base, sha).await {
                Ok(Some(changed)) if !changed.truncated => Some(changed.paths),
                _ => None,
            },
            _ => None,
        }
    } else {
        None
    };
    let verdict = pipeline.on.matches(&TriggerEvent::PullRequest {
        target_branch: &pr.target_branch,
        changed_paths: changed.as_deref(),
    });
    if !verdict.matched {
        return Decision::Ignore(verdict.reason);
    }
    request(changed, Ok(source), verdict.reason)
}

/// Whether a trigger's filter looks at changed paths.
fn filters_paths(filter: Option<&slipway_spec::RefFilter>) -> bool {
    filter.is_some_and(|f| !f.paths.is_empty() || !f.paths_ignore.is_empty())
}

impl RunRequest {
    /// A request for commit `sha`, with no inputs.
    #[allow(
        clippy::too_many_arguments,
        reason = "a private constructor naming every field"
    )]
    pub(crate) fn new(
        project_id: i64,
        trigger: &str,
        branch: Option<String>,
        tag: Option<String>,
        sha: &str,
        changed_paths: Option<Vec<String>>,
        pipeline: Result<crate::PipelineSource, String>,
        reason: String,
    ) -> RunRequest {
        RunRequest {
            project_id,
            trigger: trigger.to_owned(),
            git: GitInfo {
                branch: branch.clone(),
                tag: tag.clone(),
                sha: Some(sha.to_owned()),
                event: trigger.to_owned(),
                changed_paths: changed_paths.unwrap_or_default(),
            },
            branch,
            tag,
            commit: Some(sha.to_owned()),
            inputs: serde_json::Map::new(),
            pipeline,
            reason,
            pull_request: None,
            triggered_by: None,
        }
    }
}

fn refuse(status: u16, message: String) -> (u16, HookAnswer) {
    (
        status,
        HookAnswer {
            result: "rejected".to_owned(),
            runs: Vec::new(),
            message: Some(message),
        },
    )
}

fn ignored(reason: String) -> (u16, HookAnswer) {
    (
        202,
        HookAnswer {
            result: "ignored".to_owned(),
            runs: Vec::new(),
            message: Some(reason),
        },
    )
}

fn failed(message: String) -> (u16, HookAnswer) {
    tracing::error!(error = %message, "webhook delivery failed");
    (
        500,
        HookAnswer {
            result: "failed".to_owned(),
            runs: Vec::new(),
            message: Some(message),
        },
    )
}
