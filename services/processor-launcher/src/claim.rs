//! A job this launcher holds: the record as last written, changed only here, with the lease
//! renewed while the work goes on. Losing a compare-and-set means losing the job.

use std::{future::Future, time::Duration};

use chrono::Utc;
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;

use crate::{
    Error,
    record::{JobRecord, JobState},
    store::{JobStore, Versioned},
};

pub struct Claim {
    store: JobStore,
    current: Mutex<Versioned>,
    lease: Duration,
    lost: CancellationToken,
}

impl Claim {
    /// Holds `claimed`, a record this launcher just wrote with its own owner and lease.
    pub fn new(store: JobStore, claimed: Versioned, lease: Duration) -> Self {
        Self {
            store,
            current: Mutex::new(claimed),
            lease,
            lost: CancellationToken::new(),
        }
    }

    /// Fires when another launcher moved the record: whatever runs for the job must stop.
    pub fn lost(&self) -> &CancellationToken {
        &self.lost
    }

    pub async fn current(&self) -> Versioned {
        self.current.lock().await.clone()
    }

    /// Moves the record to `next` with the lease renewed and `change` applied. `false` when
    /// someone else changed the record first: the job is lost, and [`Self::lost`] fires.
    pub async fn update(
        &self,
        next: JobState,
        change: impl FnOnce(&mut JobRecord),
    ) -> Result<bool, Error> {
        let mut current = self.current.lock().await;
        if self.lost.is_cancelled() {
            return Ok(false);
        }
        let now = Utc::now();
        let mut record = current.record.moved_to(next, now)?;
        record.lease_expires_at = Some(now + self.lease);
        change(&mut record);
        match self.store.update(&record, current.revision).await? {
            Some(revision) => {
                *current = Versioned { record, revision };
                Ok(true)
            }
            None => {
                tracing::warn!(job_id = %record.job_id, "Another launcher took the job; stopping.");
                self.lost.cancel();
                Ok(false)
            }
        }
    }

    /// Runs `work` while renewing the lease every third of it. A renewal that loses the
    /// compare-and-set, or that cannot reach the bucket before the lease ends, fires
    /// [`Self::lost`]; `work` must watch it.
    pub async fn while_renewing<F: Future>(&self, work: F) -> F::Output {
        tokio::pin!(work);
        let mut renewal = tokio::time::interval(self.lease / 3);
        renewal.tick().await;
        loop {
            tokio::select! {
                output = &mut work => return output,
                _ = renewal.tick(), if !self.lost.is_cancelled() => self.renew().await,
            }
        }
    }

    async fn renew(&self) {
        match self.update(JobState::Running, |_| {}).await {
            Ok(_) => {}
            Err(error) => {
                let expired = !self.current.lock().await.record.is_leased(Utc::now());
                tracing::warn!(error = %nrt_nats::describe_error(&error), expired, "Could not renew the job's lease.");
                // Past its lease another launcher may run the job: this one must stop.
                if expired {
                    self.lost.cancel();
                }
            }
        }
    }
}
