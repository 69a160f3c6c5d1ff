//! What triggers remember per project across restarts, kept in the store's trigger state:
//! the refs polling last saw (`poll.refs`) and the time of the last cron tick
//! (`cron.last_tick_ms`). Read and written with the project's lock held.

use serde::Serialize;
use serde::de::DeserializeOwned;
use slipway_git::Refs;
use slipway_store::sql::ServerStore;

use crate::{RunStarter, TriggerError, Triggers};

/// The branches and tags polling (or a webhook) last saw; absent before the first pass.
const REFS_KEY: &str = "poll.refs";
/// The time of the last cron tick, ms since the epoch; absent before the first tick.
const CRON_KEY: &str = "cron.last_tick_ms";

impl<S: RunStarter, St: ServerStore + 'static> Triggers<S, St> {
    pub(crate) async fn saved_refs(&self, project_id: i64) -> Result<Option<Refs>, TriggerError> {
        self.load(project_id, REFS_KEY).await
    }

    pub(crate) async fn save_refs(&self, project_id: i64, refs: &Refs) -> Result<(), TriggerError> {
        self.save(project_id, REFS_KEY, refs).await
    }

    pub(crate) async fn last_cron_tick(
        &self,
        project_id: i64,
    ) -> Result<Option<u64>, TriggerError> {
        self.load(project_id, CRON_KEY).await
    }

    pub(crate) async fn save_cron_tick(
        &self,
        project_id: i64,
        at_ms: u64,
    ) -> Result<(), TriggerError> {
        self.save(project_id, CRON_KEY, &at_ms).await
    }

    /// The value under `key`. One that does not parse (written by another version) is logged
    /// and treated as absent: polling then takes a new baseline rather than starting a run
    /// for every ref, and cron waits a tick.
    async fn load<T: DeserializeOwned>(
        &self,
        project_id: i64,
        key: &str,
    ) -> Result<Option<T>, TriggerError> {
        let Some(value) = self.store.trigger_state(project_id, key).await? else {
            return Ok(None);
        };
        match serde_json::from_value(value) {
            Ok(parsed) => Ok(Some(parsed)),
            Err(err) => {
                tracing::warn!(project_id, key, error = %err, "unreadable trigger state ignored");
                Ok(None)
            }
        }
    }

    async fn save<T: Serialize>(
        &self,
        project_id: i64,
        key: &'static str,
        value: &T,
    ) -> Result<(), TriggerError> {
        let value = serde_json::to_value(value).map_err(|err| TriggerError::State {
            key,
            reason: err.to_string(),
        })?;
        self.store
            .set_trigger_state(project_id, key, &value)
            .await?;
        Ok(())
    }
}
