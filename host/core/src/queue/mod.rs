//! The persistent job queue: jobs of copies become tasks; idle printers claim the highest-priority,
//! oldest task they may print, atomically; every attempt is kept as history.
//!
//! The queue decides what prints where; it does not drive printers. The host's scheduler asks
//! it for claims when a printer is ready and reports back what the printer did.

pub mod model;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use tokio::sync::{broadcast, Notify};

pub use model::*;

use crate::library::Library;
use crate::storage::queue::Candidate;
use crate::storage::Storage;
use crate::time::now_ms;
use crate::CoreError;

/// Most copies one job may ask for.
pub const MAX_COPIES: u32 = 10_000;
/// Most history records one query returns.
pub const MAX_HISTORY: u32 = 10_000;
/// Queue events buffered for slow subscribers.
const EVENT_BACKLOG: usize = 1024;
/// Longest pause reason kept, in bytes: a sentence or two for the history, not a log. A longer
/// one is cut rather than refused, because refusing would refuse the pause itself, and a pause
/// for a detected failure must not fail for the length of its explanation.
pub const MAX_PAUSE_REASON: usize = 1024;

struct Inner {
    storage: Storage,
    library: Library,
    printers: Vec<PrinterFacts>,
    events: broadcast::Sender<QueueEvent>,
    /// Signalled whenever a claim may have become possible.
    wake: Notify,
    /// Claims of this process run one at a time: racing claimers would only collide on the same
    /// best task (the database's compare-and-set still guards claims from other processes).
    claiming: tokio::sync::Mutex<()>,
    /// The queue's paused flag, as stored: read on every claim, so kept in memory too.
    paused: std::sync::atomic::AtomicBool,
    /// The beds' states, as stored: read on every status request, so kept in memory too.
    beds: Mutex<HashMap<String, bool>>,
}

/// The queue service. Cheap to clone.
#[derive(Clone)]
pub struct Queue {
    inner: Arc<Inner>,
}

impl Queue {
    /// Opens the queue over a database, for a farm of `printers`, loading its stored flags.
    pub async fn open(
        storage: Storage,
        library: Library,
        printers: Vec<PrinterFacts>,
    ) -> Result<Queue, CoreError> {
        let queue = Queue {
            inner: Arc::new(Inner {
                storage,
                library,
                printers,
                events: broadcast::channel(EVENT_BACKLOG).0,
                wake: Notify::new(),
                beds: Mutex::new(HashMap::new()),
                paused: std::sync::atomic::AtomicBool::new(false),
                claiming: tokio::sync::Mutex::new(()),
            }),
        };
        queue.load().await?;
        Ok(queue)
    }

    async fn load(&self) -> Result<(), CoreError> {
        let paused = self.inner.storage.queue_paused().await?;
        self.inner
            .paused
            .store(paused, std::sync::atomic::Ordering::SeqCst);
        for p in &self.inner.printers {
            if let Some(clear) = self.inner.storage.bed_clear(&p.id).await? {
                self.inner
                    .beds
                    .lock()
                    .expect("beds lock")
                    .insert(p.id.clone(), clear);
            }
        }
        Ok(())
    }

    /// Whether a printer's bed is confirmed clear, from memory (`None`: never said).
    pub fn bed_state(&self, printer: &str) -> Option<bool> {
        self.inner
            .beds
            .lock()
            .expect("beds lock")
            .get(printer)
            .copied()
    }

    /// Queue changes, from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<QueueEvent> {
        self.inner.events.subscribe()
    }

    /// Resolves when something happened that may let a printer claim a task.
    pub async fn woken(&self) {
        self.inner.wake.notified().await
    }

    /// Tells the scheduler to look for claims again.
    pub fn wake(&self) {
        self.inner.wake.notify_one();
    }

    fn publish(&self, job_id: i64, what: impl Into<String>) {
        let _ = self.inner.events.send(QueueEvent {
            job_id,
            what: what.into(),
        });
    }

    fn printer(&self, id: &str) -> Result<&PrinterFacts, CoreError> {
        self.inner
            .printers
            .iter()
            .find(|p| p.id == id)
            .ok_or_else(|| CoreError::NotFound(format!("no printer `{id}` in this farm")))
    }

    /// Queues a job: checks the file exists and that some printer may print it.
    pub async fn enqueue(&self, spec: JobSpec, user: Option<&str>) -> Result<Job, CoreError> {
        if spec.copies == 0 || spec.copies > MAX_COPIES {
            return Err(CoreError::Invalid(format!(
                "copies must be between 1 and {MAX_COPIES}, not {}",
                spec.copies
            )));
        }
        for p in &spec.placement.printers {
            self.printer(p).map_err(|_| {
                CoreError::Invalid(format!(
                    "placement names `{p}`, which is not a printer of this farm"
                ))
            })?;
        }
        if !self
            .inner
            .printers
            .iter()
            .any(|p| spec.placement.admits(&p.id, &p.tags))
        {
            return Err(CoreError::Invalid(format!(
                "no printer of this farm matches the placement (printers {:?}, tags {:?})",
                spec.placement.printers, spec.placement.tags
            )));
        }
        let (file, _) = self.inner.library.file_on_disk(&spec.file).await?;
        let blob = file.blob.clone().expect("files have blobs");
        let spec = JobSpec {
            file: file.path.clone(),
            ..spec
        };
        let id = self
            .inner
            .storage
            .insert_job(&spec, &blob, file.size, user, now_ms())
            .await?;
        self.publish(id, "queued");
        self.wake();
        self.job(id).await
    }

    /// Jobs that still have queued, printing or interrupted tasks, in queue order.
    pub async fn jobs(&self) -> Result<Vec<Job>, CoreError> {
        self.inner.storage.active_jobs().await
    }

    /// One job.
    pub async fn job(&self, id: i64) -> Result<Job, CoreError> {
        self.inner
            .storage
            .job(id)
            .await?
            .ok_or_else(|| CoreError::NotFound(format!("no job {id}")))
    }

    /// Cancels a job's queued and interrupted tasks and returns its printing ones as
    /// `(task, printer)`: the caller cancels those prints, whose end is then recorded.
    pub async fn cancel(&self, id: i64, reason: &str) -> Result<Vec<(i64, String)>, CoreError> {
        self.job(id).await?;
        let running = self.inner.storage.cancel_job(id, reason, now_ms()).await?;
        self.publish(id, "cancelled");
        self.collect_job_blob(id).await;
        Ok(running)
    }

    /// Changes a job's priority.
    pub async fn set_priority(&self, id: i64, priority: i32) -> Result<(), CoreError> {
        if !self.inner.storage.set_priority(id, priority).await? {
            return Err(CoreError::NotFound(format!("no job {id}")));
        }
        self.publish(id, format!("priority {priority}"));
        self.wake();
        Ok(())
    }

    /// Queues a failed, cancelled or interrupted task again.
    pub async fn retry(&self, task_id: i64) -> Result<Task, CoreError> {
        let task = self.task(task_id).await?;
        if !matches!(
            task.state,
            TaskState::Failed | TaskState::Cancelled | TaskState::Interrupted
        ) {
            return Err(CoreError::Conflict(format!(
                "task {task_id} is {}; only failed, cancelled or interrupted tasks can be retried",
                task.state.as_str()
            )));
        }
        let blob = self.inner.storage.job_blob(task.job_id).await?;
        if !self.inner.library.blob_path(&blob).is_file() {
            return Err(CoreError::Conflict(format!(
                "the bytes of job {}'s file are gone (the file was deleted); queue the file again",
                task.job_id
            )));
        }
        if !self.inner.storage.requeue_task(task_id).await? {
            return Err(CoreError::Conflict(format!(
                "task {task_id} changed meanwhile; try again"
            )));
        }
        self.publish(task.job_id, format!("task {} queued again", task.copy));
        self.wake();
        self.task(task_id).await
    }

    /// Records the operator's decision to leave an interrupted task as it is: its printer is
    /// released (the task can still be retried later).
    pub async fn dismiss(&self, task_id: i64) -> Result<Task, CoreError> {
        let task = self.task(task_id).await?;
        if !task.needs_decision {
            return Err(CoreError::Conflict(format!(
                "task {task_id} is {} and waits for no decision",
                task.state.as_str()
            )));
        }
        self.inner.storage.clear_decision(task_id).await?;
        self.publish(task.job_id, format!("task {} dismissed", task.copy));
        self.wake();
        self.task(task_id).await
    }

    /// One task.
    pub async fn task(&self, id: i64) -> Result<Task, CoreError> {
        self.inner
            .storage
            .task(id)
            .await?
            .ok_or_else(|| CoreError::NotFound(format!("no task {id}")))
    }

    /// Print attempts, newest first, optionally of one printer and/or one file.
    pub async fn history(
        &self,
        printer: Option<&str>,
        file: Option<&str>,
        limit: u32,
    ) -> Result<Vec<PrintRecord>, CoreError> {
        self.inner
            .storage
            .history(printer, file, limit.clamp(1, MAX_HISTORY))
            .await
    }

    /// Whether the queue is paused (no new claims).
    pub fn paused(&self) -> bool {
        self.inner.paused.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Pauses or resumes the queue. Running prints go on.
    pub async fn set_paused(&self, paused: bool) -> Result<(), CoreError> {
        self.inner.storage.set_queue_paused(paused).await?;
        self.inner
            .paused
            .store(paused, std::sync::atomic::Ordering::SeqCst);
        self.publish(
            0,
            if paused {
                "queue paused"
            } else {
                "queue resumed"
            },
        );
        self.wake();
        Ok(())
    }

    /// Records whether a printer's bed is clear.
    pub async fn set_bed_clear(&self, printer: &str, clear: bool) -> Result<(), CoreError> {
        self.printer(printer)?;
        self.inner
            .storage
            .set_bed_clear(printer, clear, now_ms())
            .await?;
        self.inner
            .beds
            .lock()
            .expect("beds lock")
            .insert(printer.to_string(), clear);
        if clear {
            self.wake();
        }
        Ok(())
    }

    /// Printers that wait for an operator's decision on an interrupted task.
    pub async fn held_printers(&self) -> Result<HashSet<String>, CoreError> {
        self.inner.storage.held_printers().await
    }

    /// Claims the best task `printer` may print, atomically: the highest priority, then the
    /// oldest job, then the lowest copy. `None` when the queue is paused or nothing matches.
    pub async fn claim(&self, printer: &str) -> Result<Option<Claim>, CoreError> {
        let facts = self.printer(printer)?.clone();
        if self.paused() {
            return Ok(None);
        }
        let _one_at_a_time = self.inner.claiming.lock().await;
        const PAGE: i64 = 64;
        let mut offset = 0;
        loop {
            let candidates = self.inner.storage.claim_candidates(offset, PAGE).await?;
            if candidates.is_empty() {
                return Ok(None);
            }
            for c in &candidates {
                if !c.placement.admits(&facts.id, &facts.tags) {
                    continue;
                }
                // Another claimer may win the race for this task: then look further.
                if let Some(claim) = self.try_claim(c, printer).await? {
                    return Ok(Some(claim));
                }
            }
            offset += PAGE;
        }
    }

    /// Claims one given queued task for `printer`, whether or not the queue is paused (a print
    /// started by hand). `None` if the task is not queued any more.
    pub async fn claim_task(
        &self,
        task_id: i64,
        printer: &str,
    ) -> Result<Option<Claim>, CoreError> {
        match self.inner.storage.candidate(task_id).await? {
            Some(c) => self.try_claim(&c, printer).await,
            None => Ok(None),
        }
    }

    /// Claims one queued task for `printer` (a compare-and-set in the database); `None` when
    /// another claimer took it first.
    async fn try_claim(&self, c: &Candidate, printer: &str) -> Result<Option<Claim>, CoreError> {
        let claimed = self
            .inner
            .storage
            .try_claim(c.task_id, printer, &c.file, c.file_size, now_ms())
            .await?;
        Ok(claimed.map(|print_id| {
            self.publish(c.job_id, format!("task {} claimed by {printer}", c.copy));
            Claim {
                task_id: c.task_id,
                job_id: c.job_id,
                copy: c.copy,
                print_id,
                file: c.file.clone(),
                blob: c.blob.clone(),
            }
        }))
    }

    /// Puts a claimed task back in the queue (the printer could not start it).
    pub async fn unclaim(&self, claim: &Claim, reason: &str) -> Result<(), CoreError> {
        self.inner
            .storage
            .unclaim(claim.task_id, claim.print_id, reason, now_ms())
            .await?;
        self.publish(
            claim.job_id,
            format!("task {} back in the queue: {reason}", claim.copy),
        );
        Ok(())
    }

    /// Records how far a print got.
    pub async fn record_progress(
        &self,
        print_id: i64,
        progress: PrintProgress,
    ) -> Result<(), CoreError> {
        self.inner.storage.print_progress(print_id, progress).await
    }

    /// Records that a running print paused, by whom (`user:<name>`, `plugin:<id>`, `printer`)
    /// and why; a reason longer than [`MAX_PAUSE_REASON`] is cut there. Does nothing when a
    /// pause of the print is open already, so that the printer's own pause event after a
    /// request does not count twice; true if recorded.
    pub async fn record_pause(
        &self,
        print_id: i64,
        by: &str,
        reason: Option<&str>,
    ) -> Result<bool, CoreError> {
        let reason = reason.map(|r| cut(r, MAX_PAUSE_REASON));
        self.inner
            .storage
            .record_pause(print_id, by, reason.as_deref(), now_ms())
            .await
    }

    /// Records that a print resumed: closes its open pause, if any (true then).
    pub async fn record_resume(&self, print_id: i64) -> Result<bool, CoreError> {
        self.inner.storage.record_resume(print_id, now_ms()).await
    }

    /// Records how a print ended; its task takes the same state.
    pub async fn finish(
        &self,
        print_id: i64,
        outcome: PrintOutcome,
        reason: Option<&str>,
        progress: Option<PrintProgress>,
    ) -> Result<PrintRecord, CoreError> {
        if let Some(p) = progress {
            self.record_progress(print_id, p).await?;
        }
        let record = self
            .inner
            .storage
            .finish_print(print_id, outcome, reason, now_ms())
            .await?
            .ok_or_else(|| CoreError::NotFound(format!("no print {print_id}")))?;
        self.publish(
            record.job_id,
            format!("print on {} {}", record.printer, outcome.as_str()),
        );
        self.collect_job_blob(record.job_id).await;
        self.wake();
        Ok(record)
    }

    /// At start: marks every print that was running when the server stopped as interrupted (with
    /// the last acknowledged line recorded), and its task as waiting for a decision.
    pub async fn recover_interrupted(&self) -> Result<Vec<PrintRecord>, CoreError> {
        self.inner.storage.interrupt_running(now_ms()).await
    }

    async fn collect_job_blob(&self, job_id: i64) {
        if let Ok(blob) = self.inner.storage.job_blob(job_id).await {
            self.inner.library.collect_blob(&blob).await;
        }
    }
}

/// `text` cut to at most `max` bytes at a character boundary, marked with `…` when cut.
fn cut(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max - '…'.len_utf8();
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_long_reason_is_cut_at_a_character_boundary() {
        assert_eq!(super::cut("short", 10), "short");
        let cut = super::cut(&"é".repeat(600), super::MAX_PAUSE_REASON);
        assert!(cut.len() <= super::MAX_PAUSE_REASON, "{}", cut.len());
        assert!(cut.ends_with("é…"), "{cut}");
    }
}
