//! `/tasks`: every task with its chunk, and the report an external manager sends when a worker
//! ends one (`POST /tasks {id, status}`, answered 204 as the original did).

use printfarm_sdk::{kv, Error, Request, Response};

use crate::access;
use crate::args::Args;
use crate::dispatch;
use crate::state::{Farm, TaskStatus, TASKS_VIEW};

/// `GET /tasks`: `{"<id>": {job_id, chunk_start, chunk_end, current_frame, status,
/// percentage_done, priority}}`, as rendered at the last change.
pub fn list(req: &Request) -> Result<Response, Error> {
    access::reader(req)?;
    match kv::get(TASKS_VIEW)? {
        Some(body) => Ok(Response::bytes(200, "application/json", body)),
        None => Ok(Response::ok_json(&Farm::load()?.tasks_view())),
    }
}

/// `POST /tasks {id, status: finished|failed}`: 204. It acts on a running task only (a late
/// report of a stopped task changes nothing); the job ends when its last task does, and the
/// freed worker gets the next task.
pub fn report(req: &Request) -> Result<Response, Error> {
    access::operator(req)?;
    let args = Args::of(req)?;
    let id = args
        .int("id")?
        .ok_or_else(|| Error::bad_request("`id` is required: the task the report is about"))?;
    let status = match args.str("status").map(str::trim) {
        Some("finished") => TaskStatus::Finished,
        Some("failed") => TaskStatus::Failed,
        Some(other) => {
            return Err(Error::bad_request(format!(
                "`status` '{other}' is not a task's end: send finished or failed"
            )))
        }
        None => {
            return Err(Error::bad_request(
                "`status` is required: finished or failed",
            ))
        }
    };
    let mut farm = Farm::load()?;
    let Some(task) = farm.tasks.get_mut(&id) else {
        return Err(Error::not_found(format!("task {id} does not exist")));
    };
    if task.status == TaskStatus::Running && task.core_job.is_none() {
        task.status = status;
        if status == TaskStatus::Finished {
            task.done = task.copies();
        }
        dispatch::step(&mut farm)?;
        farm.save()?;
    }
    Ok(Response::empty(204))
}
