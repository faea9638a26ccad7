//! The scheduler: turns the queue into prints. When a printer is operational, idle, not held
//! and its bed is confirmed clear, it claims a task and starts it; it follows each print through
//! the printer's events, records its progress and how it ended, and marks the bed as needing
//! clearing unless the printer clears itself.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use printfarm_core::library::Library;
use printfarm_core::queue::{Claim, JobSpec, Placement, PrintProgress, Queue, TaskState};
use printfarm_serial::engine::{ControlError, Progress};
use printfarm_serial::supervisor::{PrintPhase, PrinterEvent, PrinterEventKind, PrinterState};
use tokio::sync::broadcast;

use super::Fleet;

/// How often a running print's acknowledged position is written to the database: after a crash
/// the interrupted task's record is at most this old.
pub const PROGRESS_PERSIST_INTERVAL: Duration = Duration::from_millis(500);
/// How often the scheduler looks at every printer even without an event.
const RECONCILE_INTERVAL: Duration = Duration::from_secs(1);

/// A print the scheduler started.
#[derive(Debug, Clone)]
pub struct ActivePrint {
    /// What was claimed.
    pub claim: Claim,
    /// Whether the printer was seen printing it (events or status).
    seen_running: bool,
    /// When progress was last written.
    persisted: Instant,
}

/// The prints the scheduler runs, by printer, and the last one each printer started (so events
/// that arrive after a print ended still find its task and library path).
#[derive(Clone, Default)]
pub struct ActivePrints {
    running: Arc<Mutex<HashMap<String, ActivePrint>>>,
    last: Arc<Mutex<HashMap<String, Claim>>>,
    /// Printers a "print now" is being started on: the dispatch loop leaves them alone.
    reserved: Arc<Mutex<HashSet<String>>>,
    /// The analysis' print-time estimate of each printer's last started print, in seconds.
    estimates: Arc<Mutex<HashMap<String, f64>>>,
    /// Pause events per printer that requests have recorded themselves (with their author):
    /// each such event is skipped when it arrives, whenever that is; any other is the
    /// firmware's own. Counted, not timed, because events are followed asynchronously: a
    /// request's event may arrive after the next request has been recorded.
    pausing: Arc<Mutex<HashMap<String, usize>>>,
    /// The same for resume events.
    resuming: Arc<Mutex<HashMap<String, usize>>>,
    /// Woken when a print's end has been recorded and its printer is free for the next one.
    released: Arc<tokio::sync::Notify>,
}

/// How long a "print now" waits for the end of the printer's previous print to be recorded.
/// The printer reports itself idle before the scheduler, which follows its events, has recorded
/// that end; a restart sent right after a cancel would otherwise find the printer "busy".
const END_RECORDING_WAIT: Duration = Duration::from_secs(5);

impl ActivePrints {
    /// The claim behind a print of `file` (a blob path) on `printer`, running or just ended.
    pub fn claim_for(&self, printer: &str, file: &std::path::Path) -> Option<Claim> {
        let last = self.last.lock().expect("active lock");
        let claim = last.get(printer)?;
        (file.file_name()?.to_str()? == claim.blob).then(|| claim.clone())
    }

    /// Seconds a print has left: from the file's analysis while little has printed, then
    /// extrapolated from the time taken so far (OctoPrint's "estimate" and "linear").
    pub fn remaining_secs(&self, printer: &str, progress: &Progress) -> Option<f64> {
        let fraction = progress.fraction();
        if fraction >= 1.0 {
            return Some(0.0);
        }
        let linear =
            (fraction >= 0.02).then(|| progress.elapsed_secs * (1.0 - fraction) / fraction);
        let estimate = self
            .estimates
            .lock()
            .expect("active lock")
            .get(printer)
            .map(|total| (total * (1.0 - fraction)).max(0.0));
        match (estimate, linear) {
            // The slicer's or the model's estimate knows the file; trust it until enough has
            // printed for the real pace to say more, then blend towards the pace.
            (Some(e), Some(l)) => Some(e * (1.0 - fraction) + l * fraction),
            (e, l) => e.or(l),
        }
    }

    /// Names a queued print's progress by its library path instead of the blob on disk.
    pub fn name_progress(&self, printer: &str, progress: &mut Progress) {
        if let Some(claim) = self.claim_for(printer, &progress.file) {
            progress.file = claim.file.into();
        }
    }

    /// The print attempt running on a printer, if the scheduler started it.
    pub fn running_print(&self, printer: &str) -> Option<i64> {
        self.running
            .lock()
            .expect("active lock")
            .get(printer)
            .map(|a| a.claim.print_id)
    }

    /// The claim of the print running on a printer, if the scheduler started it.
    pub fn running_claim(&self, printer: &str) -> Option<Claim> {
        self.running
            .lock()
            .expect("active lock")
            .get(printer)
            .map(|a| a.claim.clone())
    }

    /// Notes that a request will record the event of `printer` it causes itself.
    fn expect(counts: &Mutex<HashMap<String, usize>>, printer: &str) {
        *counts
            .lock()
            .expect("active lock")
            .entry(printer.to_string())
            .or_default() += 1;
    }

    /// Takes one expected event of `printer`: true if a request records it.
    fn take_expected(counts: &Mutex<HashMap<String, usize>>, printer: &str) -> bool {
        let mut counts = counts.lock().expect("active lock");
        match counts.get_mut(printer) {
            Some(n) if *n > 1 => {
                *n -= 1;
                true
            }
            Some(_) => {
                counts.remove(printer);
                true
            }
            None => false,
        }
    }

    /// Whether a printer runs or is about to run a print.
    fn busy(&self, printer: &str) -> bool {
        self.running
            .lock()
            .expect("active lock")
            .contains_key(printer)
            || self.reserved.lock().expect("active lock").contains(printer)
    }

    /// Reserves an idle printer for a "print now"; false if it is busy.
    fn reserve(&self, printer: &str) -> bool {
        let running = self.running.lock().expect("active lock");
        !running.contains_key(printer)
            && self
                .reserved
                .lock()
                .expect("active lock")
                .insert(printer.to_string())
    }

    /// Reserves a printer for a "print now" like [`reserve`](Self::reserve), but while the
    /// printer itself is idle (`idle`) and only the record of its last print's end is pending,
    /// waits up to `wait` for that record rather than refusing at once.
    async fn reserve_once_released(
        &self,
        printer: &str,
        idle: impl Fn() -> bool,
        wait: Duration,
    ) -> bool {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            // Asked for before the check, so a release between the two is not missed.
            let released = self.released.notified();
            if self.reserve(printer) {
                return true;
            }
            // Wait only for the record of a print the printer was seen printing and has ended;
            // another "print now" under way, or a print just started, is a refusal.
            if !self.ending(printer)
                || !idle()
                || tokio::time::timeout_at(deadline, released).await.is_err()
            {
                return false;
            }
        }
    }

    /// Whether the printer's running print is one it was seen printing (so, with the printer
    /// idle, one whose end is about to be recorded), and no "print now" holds it.
    fn ending(&self, printer: &str) -> bool {
        let seen = self
            .running
            .lock()
            .expect("active lock")
            .get(printer)
            .is_some_and(|a| a.seen_running);
        seen && !self.reserved.lock().expect("active lock").contains(printer)
    }

    fn unreserve(&self, printer: &str) {
        self.reserved.lock().expect("active lock").remove(printer);
    }

    fn insert(&self, printer: &str, print: ActivePrint) {
        self.last
            .lock()
            .expect("active lock")
            .insert(printer.to_string(), print.claim.clone());
        self.running
            .lock()
            .expect("active lock")
            .insert(printer.to_string(), print);
    }
}

fn progress_of(p: &Progress) -> PrintProgress {
    PrintProgress {
        last_line: p.last_acked_line,
        file_pos: p.acked_offset,
        file_size: p.file_size,
        lines_acked: p.lines_acked,
        resends: p.resends,
    }
}

fn outcome_of(phase: PrintPhase) -> Option<TaskState> {
    match phase {
        PrintPhase::Done => Some(TaskState::Done),
        PrintPhase::Failed => Some(TaskState::Failed),
        PrintPhase::Cancelled => Some(TaskState::Cancelled),
        PrintPhase::Started | PrintPhase::Paused | PrintPhase::Resumed => None,
    }
}

/// Why a "print now" did not start.
#[derive(Debug, thiserror::Error)]
pub enum PrintNowError {
    /// The printer is not idle and operational.
    #[error("{0}")]
    Busy(String),
    /// The file or the queue refused.
    #[error(transparent)]
    Core(#[from] printfarm_core::CoreError),
    /// The printer refused to start.
    #[error(transparent)]
    Printer(#[from] ControlError),
}

/// The scheduler's handles. Cheap to clone.
#[derive(Clone)]
pub struct Scheduler {
    fleet: Fleet,
    queue: Queue,
    library: Library,
    active: ActivePrints,
}

impl Scheduler {
    /// The scheduler over the fleet and the queue, sharing `active` with the fleet's event bridge.
    pub fn new(fleet: Fleet, queue: Queue, library: Library, active: ActivePrints) -> Scheduler {
        Scheduler {
            fleet,
            queue,
            library,
            active,
        }
    }

    /// Starts the scheduling loop.
    pub fn spawn(&self) {
        tokio::spawn(self.clone().run());
    }

    /// Pauses a printer's print and records the pause in the print's history, with who paused
    /// it (`user:<name>`, `plugin:<id>`) and why. A pause of a print the scheduler did not
    /// start (none exist today) is carried out but has no history to go to.
    pub async fn pause(
        &self,
        printer: &str,
        by: &str,
        reason: Option<&str>,
    ) -> Result<(), ControlError> {
        let handle = self
            .fleet
            .printer(printer)
            .ok_or_else(|| ControlError::NotConnected("not driven by this process".into()))?;
        // Marked before asking, so that the pause event that follows (possibly before the
        // answer, possibly much later) is known to be this request's, not the firmware's.
        ActivePrints::expect(&self.active.pausing, printer);
        let result = handle.pause().await;
        match result {
            Ok(()) => {
                if let Some(print_id) = self.active.running_print(printer) {
                    if let Err(e) = self.queue.record_pause(print_id, by, reason).await {
                        tracing::error!(printer, error = %e, "cannot record a pause in the print's history");
                    }
                }
            }
            Err(_) => {
                ActivePrints::take_expected(&self.active.pausing, printer);
            }
        }
        result
    }

    /// Resumes a printer's paused print and closes its open pause in the history.
    pub async fn resume(&self, printer: &str) -> Result<(), ControlError> {
        let handle = self
            .fleet
            .printer(printer)
            .ok_or_else(|| ControlError::NotConnected("not driven by this process".into()))?;
        ActivePrints::expect(&self.active.resuming, printer);
        if let Err(e) = handle.resume().await {
            ActivePrints::take_expected(&self.active.resuming, printer);
            return Err(e);
        }
        if let Some(print_id) = self.active.running_print(printer) {
            if let Err(e) = self.queue.record_resume(print_id).await {
                tracing::error!(printer, error = %e, "cannot record a resume in the print's history");
            }
        }
        Ok(())
    }

    /// Prints a library file on a printer now, ahead of the queue and even while the queue is
    /// paused: a single-copy job pinned to the printer, claimed and started at once, so it has a
    /// history and crash recovery like every print. `Busy` unless the printer is idle and operational.
    pub async fn print_now(
        &self,
        printer: &str,
        file: &str,
        by: &str,
    ) -> Result<(), PrintNowError> {
        let handle = self.fleet.printer(printer).ok_or_else(|| {
            printfarm_core::CoreError::NotFound(format!("no printer `{printer}`"))
        })?;
        let idle = || handle.status().state == PrinterState::Operational;
        if self.fleet.hold(printer).is_some()
            || !self
                .active
                .reserve_once_released(printer, idle, END_RECORDING_WAIT)
                .await
        {
            return Err(PrintNowError::Busy(format!(
                "printer `{printer}` is printing or held"
            )));
        }
        let result = async {
            let state = handle.status().state;
            if state != PrinterState::Operational {
                return Err(PrintNowError::Busy(format!(
                    "printer `{printer}` is {}, not idle and operational",
                    format!("{state:?}").to_lowercase()
                )));
            }
            let spec = JobSpec {
                file: file.to_string(),
                copies: 1,
                priority: i32::MAX,
                placement: Placement {
                    printers: vec![printer.to_string()],
                    tags: Vec::new(),
                },
            };
            let job = self.queue.enqueue(spec, Some(by)).await?;
            let Some(claim) = self.queue.claim_task(job.tasks[0].id, printer).await? else {
                return Err(PrintNowError::Busy(format!(
                    "job {} was taken meanwhile",
                    job.id
                )));
            };
            if let Err(e) = self.start(printer, claim).await {
                let _ = self
                    .queue
                    .cancel(job.id, &format!("the printer could not start it: {e}"))
                    .await;
                return Err(e.into());
            }
            Ok(())
        }
        .await;
        self.active.unreserve(printer);
        result
    }

    async fn run(self) {
        let mut events = self.fleet.subscribe();
        loop {
            // Temperatures, logs and progress never make a printer ready: only state changes,
            // print ends, queue changes and the periodic look lead to a dispatch.
            let dispatch = tokio::select! {
                event = events.recv() => match event {
                    Ok(event) => self.on_event(event).await,
                    Err(broadcast::error::RecvError::Lagged(lost)) => {
                        tracing::warn!(lost, "scheduler lost printer events; reconciling from printer status");
                        self.reconcile().await;
                        true
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                },
                _ = self.queue.woken() => true,
                _ = tokio::time::sleep(RECONCILE_INTERVAL) => {
                    self.reconcile().await;
                    true
                }
            };
            if dispatch {
                self.dispatch().await;
            }
        }
    }

    /// Follows a printer event; true when it may have made a printer ready.
    async fn on_event(&self, event: PrinterEvent) -> bool {
        let printer = event.printer;
        match event.kind {
            PrinterEventKind::Print {
                phase,
                progress,
                reason,
            } => {
                if let Some(outcome) = outcome_of(phase) {
                    self.finish(&printer, outcome, reason.as_deref(), Some(&progress))
                        .await;
                    return true;
                }
                self.follow_pause(&printer, phase).await;
                if let Some(a) = self
                    .active
                    .running
                    .lock()
                    .expect("active lock")
                    .get_mut(&printer)
                {
                    a.seen_running = true;
                }
                false
            }
            PrinterEventKind::Progress(progress) => {
                let due = {
                    let mut active = self.active.running.lock().expect("active lock");
                    match active.get_mut(&printer) {
                        Some(a) if a.persisted.elapsed() >= PROGRESS_PERSIST_INTERVAL => {
                            a.persisted = Instant::now();
                            a.seen_running = true;
                            Some(a.claim.print_id)
                        }
                        _ => None,
                    }
                };
                if let Some(print_id) = due {
                    if let Err(e) = self
                        .queue
                        .record_progress(print_id, progress_of(&progress))
                        .await
                    {
                        tracing::warn!(%printer, error = %e, "cannot record print progress");
                    }
                }
                false
            }
            PrinterEventKind::State { .. } => true,
            PrinterEventKind::Temperatures(_) | PrinterEventKind::Log(_) => false,
        }
    }

    /// Records the pauses and resumes nobody asked the host for: the firmware's own
    /// (`//action:pause`, `//action:resume`). Those a request caused are recorded by
    /// [`pause`](Self::pause) and [`resume`](Self::resume); recording is idempotent either way.
    async fn follow_pause(&self, printer: &str, phase: PrintPhase) {
        // An expected event is taken whether or not a print is known, so none is left over.
        let firmwares_own = match phase {
            PrintPhase::Paused => !ActivePrints::take_expected(&self.active.pausing, printer),
            PrintPhase::Resumed => !ActivePrints::take_expected(&self.active.resuming, printer),
            _ => false,
        };
        let Some(print_id) = self.active.running_print(printer).filter(|_| firmwares_own) else {
            return;
        };
        let recorded = match phase {
            PrintPhase::Paused => self.queue.record_pause(print_id, "printer", None).await,
            _ => self.queue.record_resume(print_id).await,
        };
        if let Err(e) = recorded {
            tracing::error!(printer, error = %e, "cannot record a pause or resume in the print's history");
        }
    }

    /// Records the end of a printer's queued print; the bed then needs clearing unless it clears itself.
    async fn finish(
        &self,
        printer: &str,
        outcome: TaskState,
        reason: Option<&str>,
        progress: Option<&Progress>,
    ) {
        let Some(active) = self
            .active
            .running
            .lock()
            .expect("active lock")
            .remove(printer)
        else {
            return;
        };
        match self
            .queue
            .finish(
                active.claim.print_id,
                outcome,
                reason,
                progress.map(progress_of),
            )
            .await
        {
            Ok(record) => tracing::info!(
                printer,
                task = record.task_id,
                job = record.job_id,
                outcome = outcome.as_str(),
                last_line = record.last_line,
                "queued print ended"
            ),
            Err(e) => tracing::error!(printer, error = %e, "cannot record the end of a print"),
        }
        let self_clearing = self
            .fleet
            .config(printer)
            .is_some_and(|c| c.self_clearing());
        if !self_clearing {
            if let Err(e) = self.queue.set_bed_clear(printer, false).await {
                tracing::error!(printer, error = %e, "cannot record that the bed needs clearing");
            }
        }
        // Events a request expected and that will never come now (the print ended first).
        self.active
            .pausing
            .lock()
            .expect("active lock")
            .remove(printer);
        self.active
            .resuming
            .lock()
            .expect("active lock")
            .remove(printer);
        self.active.released.notify_waiters();
    }

    /// Ends prints whose end the scheduler missed (lost events): the printer no longer prints.
    async fn reconcile(&self) {
        let ended: Vec<(String, Option<(PrintPhase, Progress)>)> = {
            let mut active = self.active.running.lock().expect("active lock");
            let mut ended = Vec::new();
            for (printer, a) in active.iter_mut() {
                let Some(status) = self.fleet.printer(printer).map(|p| p.status()) else {
                    continue;
                };
                if status.state.is_printing() {
                    a.seen_running = true;
                } else if a.seen_running {
                    ended.push((printer.clone(), status.last_print));
                }
            }
            ended
        };
        for (printer, last) in ended {
            match last.and_then(|(phase, progress)| outcome_of(phase).map(|o| (o, progress))) {
                Some((outcome, progress)) => {
                    self.finish(&printer, outcome, None, Some(&progress)).await
                }
                None => {
                    self.finish(
                        &printer,
                        TaskState::Failed,
                        Some("the print ended while its events were lost"),
                        None,
                    )
                    .await
                }
            }
        }
    }

    /// Whether a printer may take a task now.
    async fn ready(&self, printer: &str) -> bool {
        if self.fleet.hold(printer).is_some() || self.active.busy(printer) {
            return false;
        }
        let Some(status) = self.fleet.printer(printer).map(|p| p.status()) else {
            return false;
        };
        if status.state != PrinterState::Operational {
            return false;
        }
        let self_clearing = self
            .fleet
            .config(printer)
            .is_some_and(|c| c.self_clearing());
        match self.queue.bed_state(printer) {
            Some(clear) => clear || self_clearing,
            // Never stated: a self-clearing printer is ready; any other needs an operator's word first.
            None => self_clearing,
        }
    }

    /// Lets every ready printer claim a task, in config order.
    async fn dispatch(&self) {
        let ids: Vec<String> = self.fleet.ids().map(str::to_string).collect();
        for printer in ids {
            if !self.ready(&printer).await {
                continue;
            }
            let claim = match self.queue.claim(&printer).await {
                Ok(Some(claim)) => claim,
                Ok(None) => continue,
                Err(e) => {
                    tracing::warn!(%printer, error = %e, "claiming a task failed");
                    continue;
                }
            };
            let _ = self.start(&printer, claim).await;
        }
    }

    /// Starts a claimed task; if the printer refuses, the task goes back to the queue.
    async fn start(&self, printer: &str, claim: Claim) -> Result<(), ControlError> {
        let file = self.library.blob_path(&claim.blob);
        let Some(handle) = self.fleet.printer(printer) else {
            return Err(ControlError::NotConnected(
                "not driven by this process".into(),
            ));
        };
        // Registered before starting, so the print's first events find it.
        self.active.insert(
            printer,
            ActivePrint {
                claim: claim.clone(),
                seen_running: false,
                persisted: Instant::now(),
            },
        );
        let estimate = self
            .library
            .stat(&claim.file)
            .await
            .ok()
            .filter(|f| f.blob.as_deref() == Some(claim.blob.as_str()))
            .and_then(|f| f.analysis)
            .and_then(|a| a.estimated_print_secs);
        {
            let mut estimates = self.active.estimates.lock().expect("active lock");
            match estimate {
                Some(e) => estimates.insert(printer.to_string(), e),
                None => estimates.remove(printer),
            };
        }
        match handle.start_print(file).await {
            Ok(()) => {
                if let Err(e) = self.queue.set_bed_clear(printer, false).await {
                    tracing::warn!(printer, error = %e, "cannot record the bed as in use");
                }
                tracing::info!(printer, task = claim.task_id, job = claim.job_id, copy = claim.copy, file = %claim.file, "queued print started");
                Ok(())
            }
            Err(e) => {
                self.active
                    .running
                    .lock()
                    .expect("active lock")
                    .remove(printer);
                let reason = format!("{printer} could not start it: {e}");
                tracing::warn!(printer, task = claim.task_id, error = %e, "a claimed task did not start; back in the queue");
                if let Err(e) = self.queue.unclaim(&claim, &reason).await {
                    tracing::error!(printer, error = %e, "cannot put a task back in the queue");
                }
                Err(e)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn progress(acked: u64, size: u64, elapsed_secs: f64) -> Progress {
        Progress {
            file: "blob.gcode".into(),
            file_size: size,
            last_acked_line: 0,
            acked_offset: acked,
            lines_sent: 0,
            lines_acked: 0,
            resends: 0,
            elapsed_secs,
        }
    }

    fn running(active: &ActivePrints, printer: &str) {
        let claim = Claim {
            task_id: 1,
            job_id: 1,
            copy: 1,
            print_id: 1,
            file: "a.gcode".into(),
            blob: "blob.gcode".into(),
        };
        active.running.lock().unwrap().insert(
            printer.into(),
            ActivePrint {
                claim,
                seen_running: true,
                persisted: Instant::now(),
            },
        );
    }

    /// A print-now on "p" is refused without waiting (the printer idle or not, as given).
    async fn refused_at_once(active: &ActivePrints, idle: bool) {
        let started = Instant::now();
        assert!(
            !active
                .reserve_once_released("p", || idle, Duration::from_secs(5))
                .await
        );
        assert!(started.elapsed() < Duration::from_secs(1));
    }

    #[tokio::test]
    async fn a_print_now_waits_for_the_end_of_the_last_print_to_be_recorded() {
        let active = ActivePrints::default();
        running(&active, "p");
        // The printer is idle; the scheduler records the end a moment later.
        let recorder = active.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(200)).await;
            recorder.running.lock().unwrap().remove("p");
            recorder.released.notify_waiters();
        });
        assert!(
            active
                .reserve_once_released("p", || true, Duration::from_secs(5))
                .await
        );
        active.unreserve("p");

        // A printer that is still printing is busy at once; an end never recorded, after the wait.
        running(&active, "p");
        refused_at_once(&active, false).await;
        assert!(
            !active
                .reserve_once_released("p", || true, Duration::from_millis(100))
                .await
        );

        // A print just started (not yet seen printing) is a refusal at once.
        active
            .running
            .lock()
            .unwrap()
            .get_mut("p")
            .unwrap()
            .seen_running = false;
        refused_at_once(&active, true).await;

        // Another "print now" holding the printer is a refusal at once, not a wait.
        active.running.lock().unwrap().remove("p");
        assert!(active.reserve("p"));
        refused_at_once(&active, true).await;
    }

    #[test]
    fn remaining_time_starts_from_the_estimate_and_moves_to_the_pace() {
        let active = ActivePrints::default();
        assert_eq!(active.remaining_secs("p", &progress(0, 100, 0.0)), None);
        assert_eq!(
            active.remaining_secs("p", &progress(50, 100, 10.0)),
            Some(10.0)
        );
        active.estimates.lock().unwrap().insert("p".into(), 100.0);
        assert_eq!(
            active.remaining_secs("p", &progress(0, 100, 0.0)),
            Some(100.0)
        );
        // Half done after 10 s: the estimate says 50 s left, the pace 10 s; halfway between.
        assert_eq!(
            active.remaining_secs("p", &progress(50, 100, 10.0)),
            Some(30.0)
        );
        assert_eq!(
            active.remaining_secs("p", &progress(100, 100, 20.0)),
            Some(0.0)
        );
    }
}
