//! The agent's [`Approver`]: approval gates are decided on the server, by
//! people voting there (`slipway approve`, the API) or by the gate's timeout.
//!
//! The engine asks when an `approval:` job (or a canary's `pause:
//! until-approved`) is reached; this long-polls the job's
//! `approvals/wait` route (which opens the gate on the first call, with its
//! deadline) in [`WAIT`] rounds until the decision comes back, retrying
//! while the server is unreachable, and ends at once when the job is
//! cancelled. The job's lease stays alive meanwhile: the uploader keeps
//! sending heartbeats for as long as the job runs, and each wait renews the
//! lease too.

use std::sync::Arc;
use std::time::Duration;

use slipway_engine::approval::human_duration;
use slipway_engine::now_ms;
use slipway_engine::ports::{
    ApprovalDecision, ApprovalRequest, Approver, BoxFuture, CancelSignal, DeployLine,
};
use tokio::sync::watch;

use crate::client::Api;
use crate::retry::{Backoff, raised};

/// How long one wait is held by the server before the agent asks again.
const WAIT: Duration = Duration::from_secs(20);

/// Asks the server about the gates of one job.
pub(crate) struct ServerApprover {
    pub(crate) api: Arc<Api>,
    pub(crate) job_id: i64,
    /// Turns true when the agent stops waiting for an unreachable server.
    pub(crate) abandon: watch::Receiver<bool>,
}

impl Approver for ServerApprover {
    fn approve<'a>(
        &'a self,
        request: ApprovalRequest<'a>,
        log: &'a mut dyn DeployLine,
        cancel: &'a CancelSignal,
    ) -> BoxFuture<'a, Result<ApprovalDecision, String>> {
        Box::pin(async move {
            let mut cancel = cancel.clone();
            tokio::select! {
                decision = self.wait(&request, log) => decision,
                () = raised(&mut cancel) => Err("cancelled".to_string()),
            }
        })
    }
}

impl ServerApprover {
    async fn wait(
        &self,
        request: &ApprovalRequest<'_>,
        log: &mut dyn DeployLine,
    ) -> Result<ApprovalDecision, String> {
        let gate_flag = if request.gate.is_empty() {
            String::new()
        } else {
            format!(" --gate '{}'", request.gate)
        };
        let mut announced = false;
        let mut backoff = Backoff::new();
        let mut abandon = self.abandon.clone();
        let wait_ms = u64::try_from(WAIT.as_millis()).unwrap_or(u64::MAX);
        loop {
            match self
                .api
                .approval_wait(
                    self.job_id,
                    request.gate,
                    request.message.as_deref(),
                    wait_ms,
                )
                .await
            {
                Ok(answer) => {
                    backoff.reset();
                    if let Some(decision) = answer.decision {
                        return Ok(decision);
                    }
                    if !announced {
                        announced = true;
                        let left = u64::try_from(answer.deadline_ms)
                            .unwrap_or(0)
                            .saturating_sub(now_ms());
                        log.line(&format!(
                            "waiting on the server (times out in {}): vote with `slipway approve {} '{}'{gate_flag}` (add --reject to reject)",
                            human_duration(Duration::from_millis(left)),
                            request.run,
                            request.job_key
                        ));
                    }
                }
                Err(error) if error.retryable() && !*abandon.borrow() => {
                    tracing::warn!(
                        job = self.job_id,
                        "waiting for an approval: {error}; retrying"
                    );
                    tokio::select! {
                        () = tokio::time::sleep(backoff.next_delay()) => {}
                        () = raised(&mut abandon) => {
                            return Err(format!("the approval could not be asked: {error}"));
                        }
                    }
                }
                Err(error) => return Err(format!("the approval could not be asked: {error}")),
            }
        }
    }
}
