//! The plugin's jobs, tasks, managers and disabled workers: one kv document, read, changed and
//! written back by calls the host runs one at a time (`serialize-changes` in the manifest), and
//! the two lists clients poll (`GET /jobs`, `GET /tasks`) rendered once per change so that a
//! poll is one kv read.

use std::collections::{BTreeMap, BTreeSet};

use printfarm_sdk::{kv, Error};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

/// Where the document lives.
const STATE_KEY: &str = "state";
/// `GET /jobs`, rendered.
pub const JOBS_VIEW: &str = "view/jobs";
/// `GET /tasks`, rendered.
pub const TASKS_VIEW: &str = "view/tasks";
/// Whether the next tick has anything to do: tasks on printers, or ready tasks of running jobs.
const PENDING_KEY: &str = "pending";
/// The core jobs of tasks on the farm's printers, so that a `jobs` event about another
/// surface's job is dropped without reading the document.
const CORE_JOBS_KEY: &str = "core-jobs";

/// The task priority the original server gave every task (`GET /tasks` shows it).
pub const TASK_PRIORITY: i64 = 50;

/// A job's state, as the original named them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobStatus {
    /// Its tasks are dispatched as printers (or managers) free up.
    Running,
    /// Created stopped or stopped: nothing prints.
    Stopped,
    /// Made ready by a reset: nothing prints until started.
    Ready,
    /// Every task finished.
    Completed,
    /// Every task ended and at least one failed.
    Failed,
}

impl JobStatus {
    /// The name clients see.
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Running => "running",
            JobStatus::Stopped => "stopped",
            JobStatus::Ready => "ready",
            JobStatus::Completed => "completed",
            JobStatus::Failed => "failed",
        }
    }

    /// A status a client may create a job with.
    pub fn parse(text: &str) -> Option<JobStatus> {
        match text {
            "running" => Some(JobStatus::Running),
            "stopped" => Some(JobStatus::Stopped),
            "ready" => Some(JobStatus::Ready),
            _ => None,
        }
    }
}

/// A task's state, as the original named them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TaskStatus {
    /// Waiting to be dispatched, or queued on the farm and not yet claimed by a printer.
    Ready,
    /// Printing (on a farm printer), or sent to an external manager.
    Running,
    /// Stopped while it ran; a start makes it ready again.
    Aborted,
    /// Every copy printed.
    Finished,
    /// A copy failed.
    Failed,
}

impl TaskStatus {
    /// The name clients see.
    pub fn as_str(self) -> &'static str {
        match self {
            TaskStatus::Ready => "ready",
            TaskStatus::Running => "running",
            TaskStatus::Aborted => "aborted",
            TaskStatus::Finished => "finished",
            TaskStatus::Failed => "failed",
        }
    }

    /// Whether it has ended for good.
    pub fn is_final(self) -> bool {
        matches!(self, TaskStatus::Finished | TaskStatus::Failed)
    }
}

/// A job: print `file`, one copy per frame of `frame_start..=frame_end`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Job {
    /// Its id.
    pub id: i64,
    /// The project it belongs to.
    pub project_id: i64,
    /// Its name (`job_name`).
    pub name: Option<String>,
    /// First copy.
    pub frame_start: i64,
    /// Last copy.
    pub frame_end: i64,
    /// Copies per task.
    pub chunk_size: i64,
    /// The highest copy done (`frame_start` before any).
    pub current_frame: i64,
    /// The file relative to the project's folder, as sent.
    pub filepath: String,
    /// The library file that prints: the project's folder joined with `filepath`.
    pub file: String,
    /// A printer profile name: only printers with that profile print it. `None` = any.
    pub render_settings: Option<String>,
    /// Stored and echoed.
    pub format: Option<String>,
    /// Its state.
    pub status: JobStatus,
    /// Higher prints first.
    pub priority: i64,
    /// The managers that may run its tasks; [`LOCAL_MANAGER`](crate::managers::LOCAL_MANAGER) is
    /// the farm's own printers.
    pub managers: Vec<i64>,
    /// Stored and echoed.
    pub owner: Option<String>,
}

/// A task: copies `chunk_start..=chunk_end` of a job, on one printer (or one external manager).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Task {
    /// Its id.
    pub id: i64,
    /// Its job.
    pub job_id: i64,
    /// First copy.
    pub chunk_start: i64,
    /// Last copy.
    pub chunk_end: i64,
    /// Copies of the chunk printed so far.
    pub done: i64,
    /// Its state.
    pub status: TaskStatus,
    /// The manager it was dispatched to.
    pub manager: Option<i64>,
    /// The farm printer its copies print on (the first copy's printer; the rest follow it).
    pub printer: Option<String>,
    /// The farm's core job of the copy in flight, when it runs on the farm's own printers.
    pub core_job: Option<String>,
    /// Why it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl Task {
    /// Copies in the chunk.
    pub fn copies(&self) -> i64 {
        self.chunk_end - self.chunk_start + 1
    }

    /// The copy printing now or next (the chunk's last once done).
    pub fn current_frame(&self) -> i64 {
        (self.chunk_start + self.done).min(self.chunk_end)
    }

    /// The share of its copies printed, in percent with one decimal.
    pub fn percentage_done(&self) -> f64 {
        one_decimal(self.done as f64 / self.copies() as f64 * 100.0)
    }
}

/// A brender manager that registered with `POST /managers`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manager {
    /// Its id (the farm's own node is [`LOCAL_MANAGER`](crate::managers::LOCAL_MANAGER)).
    pub id: i64,
    /// What it registered as.
    pub uuid: String,
    /// Its name.
    pub name: String,
    /// The address it registered from.
    pub ip: String,
    /// The port it listens on.
    pub port: u16,
    /// Whether it takes any number of tasks.
    pub has_virtual_workers: bool,
    /// Its workers, as it last reported (`PATCH /managers/<uuid>`).
    pub total_workers: Option<i64>,
}

impl Manager {
    /// Its base URL.
    pub fn url(&self) -> String {
        if self.ip.contains(':') {
            format!("http://[{}]:{}", self.ip, self.port)
        } else {
            format!("http://{}:{}", self.ip, self.port)
        }
    }
}

/// Everything the plugin keeps about jobs.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Farm {
    /// Jobs by id.
    pub jobs: BTreeMap<i64, Job>,
    /// Tasks by id.
    pub tasks: BTreeMap<i64, Task>,
    /// Registered managers by id.
    pub managers: BTreeMap<i64, Manager>,
    /// Printers disabled for this API's jobs (`POST /workers status=disabled`).
    pub disabled: BTreeSet<String>,
    /// The last job id given.
    pub last_job: i64,
    /// The last task id given.
    pub last_task: i64,
    /// The last manager id given.
    pub last_manager: i64,
}

impl Farm {
    /// Reads the document (empty before the first job).
    pub fn load() -> Result<Farm, Error> {
        Ok(kv::get_json(STATE_KEY)?.unwrap_or_default())
    }

    /// Writes the document and the views derived from it.
    pub fn save(&self) -> Result<(), Error> {
        kv::set_json(STATE_KEY, self)?;
        kv::set_json(JOBS_VIEW, &self.jobs_view())?;
        kv::set_json(TASKS_VIEW, &self.tasks_view())?;
        let core_jobs: Vec<&str> = self
            .tasks
            .values()
            .filter_map(|t| t.core_job.as_deref())
            .collect();
        kv::set_json(CORE_JOBS_KEY, &core_jobs)?;
        kv::set(PENDING_KEY, if self.has_work() { "1" } else { "0" })?;
        Ok(())
    }

    /// Whether a tick has anything to do.
    fn has_work(&self) -> bool {
        self.tasks.values().any(|t| {
            t.core_job.is_some()
                || (t.status == TaskStatus::Ready
                    && self.jobs.get(&t.job_id).map(|j| j.status) == Some(JobStatus::Running))
        })
    }

    /// A job's tasks.
    pub fn tasks_of(&self, job: i64) -> impl Iterator<Item = &Task> {
        self.tasks.values().filter(move |t| t.job_id == job)
    }

    /// A job's share of finished tasks, in percent with one decimal.
    pub fn percentage_done(&self, job: i64) -> f64 {
        let (mut total, mut finished) = (0u32, 0u32);
        for t in self.tasks_of(job) {
            total += 1;
            finished += u32::from(t.status == TaskStatus::Finished);
        }
        if total == 0 {
            return 0.0;
        }
        one_decimal(f64::from(finished) / f64::from(total) * 100.0)
    }

    /// A job as `GET /jobs/<id>` shows it (the original's fields, `priority` a string, plus the
    /// `percentage_done` its dashboard read there and the managers).
    pub fn job_json(&self, job: &Job) -> Value {
        json!({
            "id": job.id,
            "project_id": job.project_id,
            "frame_start": job.frame_start,
            "frame_end": job.frame_end,
            "chunk_size": job.chunk_size,
            "current_frame": job.current_frame,
            "filepath": job.filepath,
            "job_name": job.name,
            "render_settings": job.render_settings,
            "format": job.format,
            "status": job.status.as_str(),
            "priority": job.priority.to_string(),
            "percentage_done": self.percentage_done(job.id),
            "managers": job.managers,
        })
    }

    /// `GET /jobs`.
    pub fn jobs_view(&self) -> Value {
        let mut finished: BTreeMap<i64, (u32, u32)> = BTreeMap::new();
        for t in self.tasks.values() {
            let e = finished.entry(t.job_id).or_default();
            e.0 += 1;
            e.1 += u32::from(t.status == TaskStatus::Finished);
        }
        let out: Map<String, Value> = self
            .jobs
            .values()
            .map(|job| {
                let (total, done) = finished.get(&job.id).copied().unwrap_or_default();
                let pct = if total == 0 {
                    0.0
                } else {
                    one_decimal(f64::from(done) / f64::from(total) * 100.0)
                };
                (
                    job.id.to_string(),
                    json!({
                        "job_name": job.name,
                        "frame_start": job.frame_start,
                        "frame_end": job.frame_end,
                        "current_frame": job.current_frame,
                        "status": job.status.as_str(),
                        "percentage_done": pct,
                        "render_settings": job.render_settings,
                        "format": job.format,
                    }),
                )
            })
            .collect();
        Value::Object(out)
    }

    /// `GET /tasks`, with the printer each task prints on (`worker`) beside the original's fields.
    pub fn tasks_view(&self) -> Value {
        let out: Map<String, Value> = self
            .tasks
            .values()
            .map(|t| {
                (
                    t.id.to_string(),
                    json!({
                        "job_id": t.job_id,
                        "chunk_start": t.chunk_start,
                        "chunk_end": t.chunk_end,
                        "current_frame": t.current_frame(),
                        "status": t.status.as_str(),
                        "percentage_done": t.percentage_done(),
                        "priority": TASK_PRIORITY,
                        "worker": t.printer,
                        "manager_id": t.manager,
                    }),
                )
            })
            .collect();
        Value::Object(out)
    }

    /// Makes the tasks of a job: chunks of `chunk_size` copies, the last one short.
    pub fn make_tasks(&mut self, job: i64) {
        let Some(j) = self.jobs.get(&job) else { return };
        let (start, end, size) = (j.frame_start, j.frame_end, j.chunk_size.max(1));
        let mut chunk = start;
        while chunk <= end {
            self.last_task += 1;
            let id = self.last_task;
            self.tasks.insert(
                id,
                Task {
                    id,
                    job_id: job,
                    chunk_start: chunk,
                    chunk_end: chunk.saturating_add(size - 1).min(end),
                    done: 0,
                    status: TaskStatus::Ready,
                    manager: None,
                    printer: None,
                    core_job: None,
                    reason: None,
                },
            );
            match chunk.checked_add(size) {
                Some(next) => chunk = next,
                None => break,
            }
        }
    }
}

/// Whether a `jobs` event about core job `id` concerns one of this plugin's tasks.
pub fn is_our_core_job(id: &str) -> bool {
    kv::get_json::<Vec<String>>(CORE_JOBS_KEY)
        .ok()
        .flatten()
        .is_some_and(|ids| ids.iter().any(|j| j == id))
}

/// Whether a tick has anything to do, without reading the document.
pub fn has_pending_work() -> bool {
    kv::get_string(PENDING_KEY).ok().flatten().as_deref() == Some("1")
}

/// `x` rounded to one decimal, as the original's `round(…, 1)`.
pub fn one_decimal(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(start: i64, end: i64, chunk: i64) -> Job {
        Job {
            id: 1,
            project_id: 1,
            name: Some("j".into()),
            frame_start: start,
            frame_end: end,
            chunk_size: chunk,
            current_frame: start,
            filepath: "a.gcode".into(),
            file: "a.gcode".into(),
            render_settings: None,
            format: None,
            status: JobStatus::Stopped,
            priority: 10,
            managers: vec![1],
            owner: None,
        }
    }

    #[test]
    fn chunks_cover_the_copies_and_the_last_one_is_short() {
        let mut farm = Farm::default();
        farm.jobs.insert(1, job(3, 9, 3));
        farm.make_tasks(1);
        let chunks: Vec<(i64, i64)> = farm
            .tasks
            .values()
            .map(|t| (t.chunk_start, t.chunk_end))
            .collect();
        assert_eq!(chunks, [(3, 5), (6, 8), (9, 9)]);
    }

    #[test]
    fn percentages_have_one_decimal_like_the_original() {
        let mut farm = Farm::default();
        farm.jobs.insert(1, job(1, 3, 1));
        farm.make_tasks(1);
        farm.tasks.get_mut(&1).unwrap().status = TaskStatus::Finished;
        assert_eq!(farm.percentage_done(1), 33.3);
        assert_eq!(farm.jobs_view()["1"]["percentage_done"], 33.3);
        assert_eq!(farm.job_json(&farm.jobs[&1])["priority"], "10");
    }
}
