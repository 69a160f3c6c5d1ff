//! `approval:` jobs through the whole engine (dispatcher, job runner) with
//! fake ports: the decisions' outcomes, the outputs later jobs see, cancel,
//! no approver; and what later `deploy:` jobs are handed (the decisions,
//! an artifact restored by digest).

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use slipway_engine::approval;
use slipway_engine::ports::{
    ApprovalDecision, ApprovalJob, ApprovalRequest, ApprovalVote, Approver, ApproverHandle,
    BoxFuture, CancelSignal, DeployArtifact, DeployLine, DeployRequest, DeployResult, Deployer,
    DeployerHandle, StepExit,
};
use slipway_engine::records::{JobResult, Record, RunSummary};
use slipway_engine::{Engine, Plan, RunOptions, Silent};
use slipway_spec::approval::TimeoutOutcome;
use slipway_spec::deploy::ArtifactRef;
use slipway_spec::model::{InputKind, ManualInput, Pipeline, Span};
use support::{FakeExecutor, FakeStore, Seen};
use tokio::sync::Notify;

/// How the scripted approver answers a request.
type Answer = dyn Fn(&ApprovalRequest<'_>) -> Result<ApprovalDecision, String> + Send + Sync;

/// Answers each gate as the test says; remembers the messages it was shown.
struct Scripted {
    answer: Box<Answer>,
    messages: Mutex<Vec<Option<String>>>,
}

impl Approver for Scripted {
    fn approve<'a>(
        &'a self,
        request: ApprovalRequest<'a>,
        log: &'a mut dyn DeployLine,
        _: &'a CancelSignal,
    ) -> BoxFuture<'a, Result<ApprovalDecision, String>> {
        Box::pin(async move {
            log.line("asking the test");
            if let Ok(mut messages) = self.messages.lock() {
                messages.push(request.message.clone());
            }
            (self.answer)(&request)
        })
    }
}

fn scripted(
    answer: impl Fn(&ApprovalRequest<'_>) -> Result<ApprovalDecision, String> + Send + Sync + 'static,
) -> Arc<Scripted> {
    Arc::new(Scripted {
        answer: Box::new(answer),
        messages: Mutex::new(Vec::new()),
    })
}

/// Never answers (not even on cancel): the engine must end the wait.
struct Silence(Arc<Notify>);

impl Approver for Silence {
    fn approve<'a>(
        &'a self,
        _: ApprovalRequest<'a>,
        _: &'a mut dyn DeployLine,
        _: &'a CancelSignal,
    ) -> BoxFuture<'a, Result<ApprovalDecision, String>> {
        Box::pin(async move {
            self.0.notify_one();
            std::future::pending().await
        })
    }
}

/// Remembers what each deploy job was handed; the file's content included.
#[derive(Default)]
struct Recorder {
    seen: Mutex<Vec<Handed>>,
}

#[derive(Debug, Clone)]
struct Handed {
    approvals: Vec<ApprovalDecision>,
    artifact: DeployArtifact,
    content: Option<Vec<u8>>,
    has_approver: bool,
    freeze_override: Option<String>,
}

impl Deployer for Recorder {
    fn deploy<'a>(
        &'a self,
        request: DeployRequest<'a>,
        _: &'a mut dyn DeployLine,
        _: &'a CancelSignal,
    ) -> BoxFuture<'a, DeployResult> {
        Box::pin(async move {
            let content = match &request.artifact {
                DeployArtifact::File { path, .. } => std::fs::read(path).ok(),
                DeployArtifact::Image { .. } => None,
            };
            if let Ok(mut seen) = self.seen.lock() {
                seen.push(Handed {
                    approvals: request.approvals.clone(),
                    artifact: request.artifact.clone(),
                    content,
                    has_approver: request.approver.is_some(),
                    freeze_override: request.freeze_override.clone(),
                });
            }
            DeployResult {
                result: Ok("deployed".to_string()),
                release: None,
            }
        })
    }
}

/// A gate: one approval, 24 h, reject on timeout.
fn gate() -> ApprovalJob {
    ApprovalJob::pause(Span::default())
}

/// Parses `yaml` and turns the jobs named in `gates` into approval jobs
/// (their steps dropped), as the spec's `approval:` will read them.
fn pipeline(yaml: &str, gates: &[(&str, ApprovalJob)]) -> Arc<Pipeline> {
    let mut pipeline = slipway_spec::parse_pipeline(yaml, "slipway.yml").expect("valid pipeline");
    for (id, gate) in gates {
        let job = pipeline
            .jobs
            .iter_mut()
            .find(|job| job.id == *id)
            .expect("gate job");
        job.steps.clear();
        job.approval = Some(gate.clone());
    }
    Arc::new(pipeline)
}

fn options(approver: Option<Arc<dyn Approver>>) -> RunOptions {
    RunOptions {
        file: "slipway.yml".into(),
        parallelism: 2,
        fail_fast: false,
        secrets: vec![("TOKEN".into(), "hunter2".into())],
        inputs: serde_json::Map::new(),
        git: Default::default(),
        restore_artifacts: false,
        deployer: None,
        approver: approver.map(ApproverHandle),
        freeze_override: None,
        job_groups: Default::default(),
    }
}

struct Ran {
    summary: RunSummary,
    seen: Arc<Seen>,
    _dir: tempfile::TempDir,
}

impl Ran {
    fn result(&self, job: &str) -> (JobResult, Option<String>) {
        let job = self
            .summary
            .jobs
            .iter()
            .find(|j| j.key == job)
            .expect("job in summary");
        (job.result, job.error.clone())
    }

    fn finished_outputs(&self, job: usize) -> Vec<(String, String)> {
        let records = self.seen.records.lock().expect("records");
        records
            .iter()
            .find_map(|record| match record {
                Record::JobFinished {
                    job: j, outputs, ..
                } if *j == job => Some(outputs.clone()),
                _ => None,
            })
            .expect("job finished")
    }
}

async fn run(pipeline: Arc<Pipeline>, options: RunOptions, seen: Arc<Seen>) -> Ran {
    let (_cancel_tx, cancel) = tokio::sync::watch::channel(false);
    run_with_cancel(pipeline, options, seen, cancel).await
}

async fn run_with_cancel(
    pipeline: Arc<Pipeline>,
    options: RunOptions,
    seen: Arc<Seen>,
    cancel: CancelSignal,
) -> Ran {
    let dir = tempfile::tempdir().expect("temp dir");
    let engine = Engine {
        executor: Arc::new(FakeExecutor {
            seen: seen.clone(),
            dir: dir.path().to_path_buf(),
        }),
        store: Arc::new(FakeStore { seen: seen.clone() }),
        events: Arc::new(Silent),
    };
    let plan = Plan::new(&pipeline);
    let summary = engine
        .run(pipeline, plan, options, cancel)
        .await
        .expect("run");
    Ran {
        summary,
        seen,
        _dir: dir,
    }
}

fn vote(user: &str, approved: bool, comment: &str) -> ApprovalVote {
    ApprovalVote {
        user: user.into(),
        approved,
        comment: Some(comment.into()),
        at_ms: 1,
    }
}

const GATED: &str = "
env: {STAGE: prod}
jobs:
  build: {steps: [{run: echo build}]}
  gate: {needs: [build], steps: [{run: 'true'}]}
  ship:
    needs: [gate]
    if: needs.gate.outputs.approved_by == 'alice'
    env:
      WHO: ${{ needs.gate.outputs.approved_by }}
      WHY: ${{ needs.gate.outputs.comment }}
      TICKET: ${{ needs.gate.outputs.ticket }}
    steps: [{run: echo ship}]
";

#[tokio::test]
async fn an_approved_gate_succeeds_and_later_jobs_see_its_outputs() {
    let mut gate = gate();
    gate.message = Some(
        "Ship ${{ env.STAGE }} after ${{ needs.build.result }} (token ${{ secrets.TOKEN }})".into(),
    );
    gate.inputs = vec![ManualInput {
        name: "ticket".into(),
        kind: InputKind::String,
        required: true,
        default: None,
        description: None,
        span: Span::default(),
    }];
    let approver = scripted(|request| {
        let mut inputs = serde_json::Map::new();
        inputs.insert("ticket".into(), "OPS-7".into());
        Ok(approval::approved(
            request,
            vec![vote("alice", true, "go")],
            inputs,
        ))
    });
    let seen = Arc::new(Seen::default());
    let ran = run(
        pipeline(GATED, &[("gate", gate)]),
        options(Some(approver.clone())),
        seen.clone(),
    )
    .await;

    assert_eq!(ran.summary.result, JobResult::Success, "{:?}", ran.summary);
    assert_eq!(ran.result("gate").0, JobResult::Success);
    assert_eq!(ran.result("ship").0, JobResult::Success, "`if:` saw alice");
    let env = seen.step_env("ship").expect("ship ran a step");
    for (name, value) in [("WHO", "alice"), ("WHY", "go"), ("TICKET", "OPS-7")] {
        assert!(
            env.contains(&(name.to_string(), value.to_string())),
            "{name}={value} in {env:?}"
        );
    }
    let outputs = ran.finished_outputs(1);
    assert!(
        outputs.contains(&("approved_by".into(), "alice".into())),
        "{outputs:?}"
    );
    assert_eq!(
        *approver.messages.lock().expect("messages"),
        vec![Some("Ship prod after success (token ***)".to_string())],
        "the message rendered with the job's contexts, the secret masked"
    );
    let prepared = seen.prepared.lock().expect("prepared").clone();
    assert_eq!(prepared, ["build", "ship"], "a gate needs no workspace");

    let log = seen.log("gate");
    for wanted in [
        "waiting for 1 approval from anyone with developer or above, timeout 24h, then rejected",
        "message: Ship prod after success (token ***)",
        "inputs asked: ticket (string, required)",
        "asking the test",
        "approved by alice",
    ] {
        assert!(log.contains(wanted), "`{wanted}` in the log:\n{log}");
    }
    assert!(!log.contains("hunter2"), "{log}");
    let records = seen.records.lock().expect("records");
    assert!(
        records.iter().any(|r| matches!(
            r,
            Record::StepFinished {
                job: 1,
                step: 0,
                exit: StepExit::Exited(0),
                ..
            }
        )),
        "the step `approval` is recorded: {records:?}"
    );
    assert!(
        records.iter().any(
            |r| matches!(r, Record::StepStarted { job: 1, step: 0, name, .. } if name == "approval")
        ),
        "{records:?}"
    );
}

#[tokio::test]
async fn a_rejected_gate_fails_with_the_reason_and_later_jobs_are_skipped() {
    let approver = scripted(|request| {
        Ok(approval::rejected(
            request,
            vec![vote("carol", false, "not today")],
        ))
    });
    let seen = Arc::new(Seen::default());
    let ran = run(
        pipeline(GATED, &[("gate", gate())]),
        options(Some(approver)),
        seen.clone(),
    )
    .await;
    assert_eq!(ran.summary.result, JobResult::Failure);
    assert_eq!(
        ran.result("gate"),
        (
            JobResult::Failure,
            Some("rejected by carol: not today".to_string())
        )
    );
    assert_eq!(ran.result("ship").0, JobResult::Skipped);
    assert!(seen.step_env("ship").is_none(), "ship ran no step");
    assert!(seen.log("gate").contains("rejected by carol: not today"));
}

#[tokio::test]
async fn a_timed_out_gate_ends_as_on_timeout_says() {
    let approver = scripted(|request| Ok(approval::timed_out(request, Vec::new())));
    let mut rejecting = gate();
    rejecting.timeout = Duration::from_secs(1);
    let seen = Arc::new(Seen::default());
    let ran = run(
        pipeline(GATED, &[("gate", rejecting.clone())]),
        options(Some(approver.clone())),
        seen,
    )
    .await;
    assert_eq!(
        ran.result("gate"),
        (
            JobResult::Failure,
            Some("timed out after 1s: rejected".to_string())
        )
    );
    assert_eq!(ran.result("ship").0, JobResult::Skipped);

    let mut approving = rejecting;
    approving.on_timeout = TimeoutOutcome::Approve;
    let yaml = GATED.replace(
        "needs.gate.outputs.approved_by == 'alice'",
        "needs.gate.result == 'success' && needs.gate.outputs.approved_by == ''",
    );
    let seen = Arc::new(Seen::default());
    let ran = run(
        pipeline(&yaml, &[("gate", approving)]),
        options(Some(approver)),
        seen.clone(),
    )
    .await;
    assert_eq!(ran.result("gate"), (JobResult::Success, None));
    assert_eq!(
        ran.result("ship").0,
        JobResult::Success,
        "approved by nobody"
    );
    assert!(seen.log("gate").contains("timed out after 1s: approved"));
}

#[tokio::test]
async fn cancelling_the_run_ends_a_waiting_gate_as_cancelled() {
    let asked = Arc::new(Notify::new());
    let approver: Arc<dyn Approver> = Arc::new(Silence(asked.clone()));
    let (cancel_tx, cancel) = tokio::sync::watch::channel(false);
    let seen = Arc::new(Seen::default());
    let running = tokio::spawn(run_with_cancel(
        pipeline(GATED, &[("gate", gate())]),
        options(Some(approver)),
        seen.clone(),
        cancel,
    ));
    asked.notified().await;
    cancel_tx.send(true).expect("cancel");
    let ran = running.await.expect("run task");
    assert_eq!(
        ran.result("gate"),
        (
            JobResult::Cancelled,
            Some("the run was cancelled while the gate waited".to_string())
        )
    );
    assert_ne!(ran.summary.result, JobResult::Success);
    assert_ne!(ran.result("ship").0, JobResult::Success);
    let records = seen.records.lock().expect("records");
    assert!(
        records.iter().any(|r| matches!(
            r,
            Record::StepFinished {
                job: 1,
                exit: StepExit::Cancelled,
                ..
            }
        )),
        "{records:?}"
    );
}

#[tokio::test]
async fn without_an_approver_a_gate_fails_saying_so() {
    let seen = Arc::new(Seen::default());
    let ran = run(pipeline(GATED, &[("gate", gate())]), options(None), seen).await;
    assert_eq!(
        ran.result("gate"),
        (
            JobResult::Failure,
            Some("this runner cannot answer approval gates".to_string())
        )
    );
    assert_eq!(ran.result("ship").0, JobResult::Skipped);
}

const DIGEST: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

fn release(digest: &str) -> Arc<Pipeline> {
    let yaml = "
jobs:
  first: {steps: [{run: 'true'}]}
  second: {needs: [first], steps: [{run: 'true'}]}
  ship:
    needs: [second]
    deploy: {environment: staging, image: 'demo:1'}
";
    let mut pipeline = slipway_spec::parse_pipeline(yaml, "slipway.yml").expect("valid pipeline");
    for job in &mut pipeline.jobs {
        if job.id == "ship"
            && let Some(deploy) = &mut job.deploy
        {
            deploy.artifact = ArtifactRef::Digest {
                name: "app.tar".into(),
                digest: digest.into(),
            };
        } else {
            job.steps.clear();
            job.approval = Some(gate());
        }
    }
    Arc::new(pipeline)
}

#[tokio::test]
async fn deploy_jobs_get_the_gates_decisions_and_the_artifact_by_digest() {
    let approver = scripted(|request| {
        Ok(approval::approved(
            request,
            vec![vote(request.job_key, true, "ok")],
            serde_json::Map::new(),
        ))
    });
    let deployer = Arc::new(Recorder::default());
    let mut options = options(Some(approver));
    options.deployer = Some(DeployerHandle(deployer.clone()));
    // The server's release runs carry an admin's freeze override.
    options.freeze_override = Some("hotfix for INC-42".into());
    let seen = Arc::new(Seen::default());
    seen.blobs
        .lock()
        .expect("blobs")
        .insert(DIGEST.into(), b"release bytes".to_vec());
    let ran = run(release(&format!("blake3:{DIGEST}")), options, seen).await;
    assert_eq!(ran.summary.result, JobResult::Success, "{:?}", ran.summary);

    let handed = deployer.seen.lock().expect("seen").clone();
    let [handed] = handed.as_slice() else {
        panic!("one deployment: {handed:?}");
    };
    let gates: Vec<(&str, bool, &str)> = handed
        .approvals
        .iter()
        .map(|d| (d.job_key.as_str(), d.approved, d.reason.as_str()))
        .collect();
    assert_eq!(
        gates,
        [
            ("first", true, "approved by first"),
            ("second", true, "approved by second")
        ],
        "in order"
    );
    assert!(handed.has_approver, "for a canary's pause");
    assert_eq!(handed.freeze_override.as_deref(), Some("hotfix for INC-42"));
    match &handed.artifact {
        DeployArtifact::File { name, path, digest } => {
            assert_eq!(name, "app.tar");
            assert_eq!(digest.0, DIGEST);
            assert!(
                path.ends_with(format!(".slipway/release/{DIGEST}/app.tar")),
                "{path:?}"
            );
        }
        other => panic!("a file: {other:?}"),
    }
    assert_eq!(handed.content.as_deref(), Some(&b"release bytes"[..]));
}

#[tokio::test]
async fn a_digest_the_store_lacks_or_that_is_no_digest_fails_the_deploy_naming_it() {
    let approver = scripted(|request| {
        Ok(approval::approved(
            request,
            vec![vote("alice", true, "ok")],
            serde_json::Map::new(),
        ))
    });
    for (digest, wanted) in [
        (DIGEST, format!("digest {DIGEST} could not be restored")),
        (
            "blake3:xyz",
            "`blake3:xyz` is not an artifact digest".to_string(),
        ),
    ] {
        let deployer = Arc::new(Recorder::default());
        let mut options = options(Some(approver.clone()));
        options.deployer = Some(DeployerHandle(deployer.clone()));
        let ran = run(release(digest), options, Arc::new(Seen::default())).await;
        let (result, error) = ran.result("ship");
        assert_eq!(result, JobResult::Failure);
        let error = error.unwrap_or_default();
        assert!(error.contains(&wanted), "`{wanted}` in `{error}`");
        assert!(
            deployer.seen.lock().expect("seen").is_empty(),
            "nothing deployed"
        );
    }
}

#[tokio::test]
async fn a_gate_written_in_yaml_runs_as_the_spec_reads_it() {
    let yaml = "
env: {TEAM: payments}
jobs:
  build: {steps: [{run: echo build}]}
  sign-off:
    needs: [build]
    approval:
      approvals: 2
      approvers: [alice, bob]
      timeout: 4h
      message: 'Ship for ${{ env.TEAM }}?'
      inputs:
        window: {type: choice, options: [now, tonight], default: tonight}
  ship:
    needs: [sign-off]
    env: {WINDOW: '${{ needs.sign-off.outputs.window }}'}
    steps: [{run: echo ship}]
";
    let pipeline = Arc::new(slipway_spec::parse_pipeline(yaml, "slipway.yml").expect("valid"));
    let approver = scripted(|request| {
        let mut inputs = serde_json::Map::new();
        inputs.insert("window".into(), "now".into());
        Ok(approval::approved(
            request,
            vec![vote("alice", true, "a"), vote("bob", true, "b")],
            inputs,
        ))
    });
    let seen = Arc::new(Seen::default());
    let ran = run(pipeline, options(Some(approver.clone())), seen.clone()).await;
    assert_eq!(ran.summary.result, JobResult::Success, "{:?}", ran.summary);
    assert_eq!(
        *approver.messages.lock().expect("messages"),
        vec![Some("Ship for payments?".to_string())]
    );
    let log = seen.log("sign-off");
    assert!(
        log.contains("waiting for 2 approvals from alice, bob, timeout 4h, then rejected"),
        "{log}"
    );
    assert!(
        log.contains("inputs asked: window (one of now|tonight)"),
        "{log}"
    );
    let env = seen.step_env("ship").expect("ship ran");
    assert!(
        env.contains(&("WINDOW".to_string(), "now".to_string())),
        "{env:?}"
    );
    assert_eq!(
        ran.finished_outputs(1)
            .iter()
            .find(|(name, _)| name == "approved_by")
            .map(|(_, v)| v.as_str()),
        Some("alice,bob")
    );
}

#[tokio::test]
async fn a_sha256_digest_deploys_that_container_image_by_its_id() {
    let approver = scripted(|request| {
        Ok(approval::approved(
            request,
            vec![vote("alice", true, "ok")],
            serde_json::Map::new(),
        ))
    });
    let deployer = Arc::new(Recorder::default());
    let mut options = options(Some(approver));
    options.deployer = Some(DeployerHandle(deployer.clone()));
    let ran = run(
        release(&format!("sha256:{DIGEST}")),
        options,
        Arc::new(Seen::default()),
    )
    .await;
    assert_eq!(ran.summary.result, JobResult::Success, "{:?}", ran.summary);
    let handed = deployer.seen.lock().expect("seen").clone();
    let artifacts: Vec<DeployArtifact> = handed.into_iter().map(|h| h.artifact).collect();
    assert_eq!(
        artifacts,
        [DeployArtifact::Image {
            reference: format!("sha256:{DIGEST}")
        }]
    );
}
