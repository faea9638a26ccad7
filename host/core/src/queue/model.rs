//! What the queue holds: jobs, their tasks (one per copy) and the print attempts of each task.

use serde::{Deserialize, Serialize};

/// Where a job may print.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Placement {
    /// Only these printers (empty: any printer carrying every tag).
    #[serde(default)]
    pub printers: Vec<String>,
    /// Only printers whose tags (config `tags`, plus the profile name) include all of these.
    #[serde(default)]
    pub tags: Vec<String>,
}

impl Placement {
    /// Whether a printer with `id` and `tags` may take the job.
    pub fn admits(&self, id: &str, tags: &[String]) -> bool {
        (self.printers.is_empty() || self.printers.iter().any(|p| p == id))
            && self.tags.iter().all(|t| tags.contains(t))
    }
}

fn one() -> u32 {
    1
}

/// What to print. Unknown fields are refused, so a typo never silently changes a job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JobSpec {
    /// The library file to print.
    pub file: String,
    /// Copies to print (1 to [`MAX_COPIES`](super::MAX_COPIES); default 1).
    #[serde(default = "one")]
    pub copies: u32,
    /// Higher runs first; equal priorities run oldest first (default 0).
    #[serde(default)]
    pub priority: i32,
    /// Where it may print (default: anywhere).
    #[serde(default)]
    pub placement: Placement,
}

/// Where a task stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum TaskState {
    /// Waiting for a printer.
    Queued,
    /// A printer claimed it and prints it.
    Printing,
    /// Printed to the end.
    Done,
    /// The print failed.
    Failed,
    /// A user cancelled it.
    Cancelled,
    /// The server stopped while it printed; an operator decides what happens next.
    Interrupted,
}

impl TaskState {
    /// The state's name as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            TaskState::Queued => "queued",
            TaskState::Printing => "printing",
            TaskState::Done => "done",
            TaskState::Failed => "failed",
            TaskState::Cancelled => "cancelled",
            TaskState::Interrupted => "interrupted",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<TaskState> {
        Some(match s {
            "queued" => TaskState::Queued,
            "printing" => TaskState::Printing,
            "done" => TaskState::Done,
            "failed" => TaskState::Failed,
            "cancelled" => TaskState::Cancelled,
            "interrupted" => TaskState::Interrupted,
            _ => return None,
        })
    }
}

/// One copy of a job.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Task {
    /// Task id.
    pub id: i64,
    /// The job it belongs to.
    pub job_id: i64,
    /// Which copy (1-based).
    pub copy: u32,
    /// Its state.
    pub state: TaskState,
    /// The printer that claimed it.
    pub printer: Option<String>,
    /// When its current attempt started (ms since the epoch).
    pub started_ms: Option<i64>,
    /// When it ended.
    pub finished_ms: Option<i64>,
    /// Why it failed, was cancelled or interrupted.
    pub reason: Option<String>,
    /// An interrupted task whose printer waits for an operator's decision (retry or dismiss).
    pub needs_decision: bool,
    /// The last line the firmware acknowledged in the latest attempt.
    pub last_line: Option<u64>,
    /// The byte offset after that line.
    pub file_pos: Option<u64>,
}

/// A job and its tasks.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Job {
    /// Job id.
    pub id: i64,
    /// The library file, as queued.
    pub file: String,
    /// Copies.
    pub copies: u32,
    /// Priority.
    pub priority: i32,
    /// Where it may print.
    pub placement: Placement,
    /// Who queued it.
    pub created_by: Option<String>,
    /// When it was queued (ms since the epoch).
    pub created_ms: i64,
    /// Its tasks, by copy.
    pub tasks: Vec<Task>,
}

/// How a print attempt ended (or that it runs).
pub type PrintOutcome = TaskState;

/// One print attempt: the history.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PrintRecord {
    /// Attempt id.
    pub id: i64,
    /// The task.
    pub task_id: i64,
    /// The job.
    pub job_id: i64,
    /// Which copy of the job (1-based).
    pub copy: u32,
    /// The printer.
    pub printer: String,
    /// The library file, as printed.
    pub file: String,
    /// Start (ms since the epoch).
    pub started_ms: i64,
    /// End.
    pub finished_ms: Option<i64>,
    /// `printing`, `done`, `failed`, `cancelled` or `interrupted`.
    pub outcome: PrintOutcome,
    /// Why it failed, was cancelled or interrupted.
    pub reason: Option<String>,
    /// The last line the firmware acknowledged.
    pub last_line: u64,
    /// The byte offset after that line.
    pub file_pos: u64,
    /// The file's size.
    pub file_size: u64,
    /// Lines acknowledged.
    pub lines_acked: u64,
    /// Lines sent again on the firmware's request.
    pub resends: u64,
    /// Its pauses, oldest first.
    pub pauses: Vec<PrintPause>,
}

/// One pause of a print attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct PrintPause {
    /// When it paused (ms since the epoch): when the pause was asked for, which the printer
    /// carries out once the moves in its buffer are done.
    pub paused_ms: i64,
    /// When it resumed; `null` while paused, and for a print that ended paused.
    pub resumed_ms: Option<i64>,
    /// Who paused it: `user:<name>` (the host API), `plugin:<id>` (a plugin), or `printer`
    /// (the firmware asked with `//action:pause`).
    pub by: String,
    /// Why, when whoever paused it said (a plugin's `pause-with-reason`).
    pub reason: Option<String>,
}

/// How far a print got, as the engine reports it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PrintProgress {
    /// The last acknowledged file line.
    pub last_line: u64,
    /// Byte offset after it.
    pub file_pos: u64,
    /// The file's size.
    pub file_size: u64,
    /// Lines acknowledged.
    pub lines_acked: u64,
    /// Resends.
    pub resends: u64,
}

/// A task a printer claimed: what to print.
#[derive(Debug, Clone)]
pub struct Claim {
    /// The task.
    pub task_id: i64,
    /// Its job.
    pub job_id: i64,
    /// Which copy.
    pub copy: u32,
    /// The print attempt that records it.
    pub print_id: i64,
    /// The library path, as queued.
    pub file: String,
    /// The blob holding the bytes.
    pub blob: String,
}

/// A change of the queue, for the event bus.
#[derive(Debug, Clone)]
pub struct QueueEvent {
    /// The job.
    pub job_id: i64,
    /// A short description (`queued`, `task 2 claimed by p1`, `cancelled`).
    pub what: String,
}

/// A printer as the queue matches it.
#[derive(Debug, Clone)]
pub struct PrinterFacts {
    /// Its id.
    pub id: String,
    /// Its tags.
    pub tags: Vec<String>,
}
