//! The farm's persistent job queue (WIT interface `jobs`).
//!
//! Reading ([`list`], [`get`], [`history`]) needs the `jobs.read` capability; enqueueing and
//! control need `jobs.write`. A job is a file, a number of copies, a priority and where it may
//! print; each copy becomes a task that runs on one printer.

use super::host_call;
use crate::bindings::printfarm::plugin::jobs as raw;
use crate::HostError;

/// A job and its tasks: `id`, `spec`, `created`, `tasks`.
pub use raw::JobInfo;
/// What to print: `file`, `copies`, `priority`, `placement`. Start from [`JobSpec::new`].
pub use raw::JobSpec;
/// Where a job may print: only these `printers` (empty = any), only printers whose profile
/// carries all these `tags`.
pub use raw::Placement;
/// One copy of a job: `id`, `job_id`, `copy`, `printer`, `state`, `started`, `finished`,
/// `file_pos`, `reason`.
pub use raw::TaskInfo;
/// The state of a task (`Queued`, `Running`, `Done`, `Failed`, `Cancelled`, `Interrupted`).
pub use raw::TaskState;

impl JobSpec {
    /// One copy of `file`, priority 0, on any printer.
    pub fn new(file: &str) -> Self {
        JobSpec {
            file: file.to_string(),
            copies: 1,
            priority: 0,
            placement: Placement::anywhere(),
        }
    }
}

impl Placement {
    /// Any printer.
    pub fn anywhere() -> Self {
        Placement {
            printers: Vec::new(),
            tags: Vec::new(),
        }
    }
}

impl TaskState {
    /// The state's name as the WIT contract spells it (`queued`, `running`…).
    pub fn as_str(&self) -> &'static str {
        match self {
            TaskState::Queued => "queued",
            TaskState::Running => "running",
            TaskState::Done => "done",
            TaskState::Failed => "failed",
            TaskState::Cancelled => "cancelled",
            TaskState::Interrupted => "interrupted",
        }
    }
}

/// Queues a job.
pub fn enqueue(spec: &JobSpec) -> Result<JobInfo, HostError> {
    host_call!("jobs::enqueue", raw::enqueue(spec))
}

/// Jobs that still have unfinished tasks, in queue order.
pub fn list() -> Result<Vec<JobInfo>, HostError> {
    host_call!("jobs::list", raw::list())
}

/// One job.
pub fn get(id: &str) -> Result<JobInfo, HostError> {
    host_call!("jobs::get", raw::get(id))
}

/// Cancels a job; its running copies are cancelled on their printers.
pub fn cancel(id: &str) -> Result<(), HostError> {
    host_call!("jobs::cancel", raw::cancel(id))
}

/// Changes a job's priority (higher runs first).
pub fn set_priority(id: &str, priority: i32) -> Result<(), HostError> {
    host_call!("jobs::set_priority", raw::set_priority(id, priority))
}

/// Queues a failed, cancelled or interrupted task again.
pub fn retry_task(task_id: &str) -> Result<(), HostError> {
    host_call!("jobs::retry_task", raw::retry_task(task_id))
}

/// Ended tasks, newest first, optionally only of one printer and/or one file, at most `limit`.
pub fn history(
    printer: Option<&str>,
    file: Option<&str>,
    limit: u32,
) -> Result<Vec<TaskInfo>, HostError> {
    host_call!("jobs::history", raw::history(printer, file, limit))
}
