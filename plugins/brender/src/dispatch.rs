//! Moving tasks along: what the farm's queue did with the copies in flight, jobs that ended, and
//! ready tasks handed out, one per free worker, as the original server's `dispatch_tasks` did.
//!
//! A task on the farm's own printers goes through the core queue one copy at a time: the first
//! copy may print on any eligible printer (the core's scheduler picks, with its bed-clear rule,
//! history and crash recovery), the chunk's other copies are then placed on that same printer,
//! so that a task is one chunk on one printer. A task for an external manager is pushed to it
//! (`POST http://<ip>:<port>/tasks`) and reported back through `POST /tasks`.

use printfarm_sdk::http::{self, OutboundRequest};
use printfarm_sdk::jobs::{self, JobSpec, Placement, TaskState};
use printfarm_sdk::printers::{self, PrinterState};
use printfarm_sdk::{kv, log, Error, HostError};

use crate::managers::LOCAL_MANAGER;
use crate::projects;
use crate::state::{Farm, Job, JobStatus, Task, TaskStatus};

/// How long a push to an external manager may take before the task is left for the next try.
const PUSH_TIMEOUT_MS: u32 = 3_000;

/// One pass: follow the copies in flight, end finished jobs, hand out ready tasks.
pub fn step(farm: &mut Farm) -> Result<(), Error> {
    follow_core_jobs(farm)?;
    end_jobs(farm);
    hand_out(farm)
}

/// Reads what the core queue did with each copy in flight.
fn follow_core_jobs(farm: &mut Farm) -> Result<(), Error> {
    let in_flight: Vec<i64> = farm
        .tasks
        .values()
        .filter(|t| t.core_job.is_some())
        .map(|t| t.id)
        .collect();
    for id in in_flight {
        let core = farm.tasks[&id].core_job.clone().unwrap_or_default();
        let info = match jobs::get(&core) {
            Ok(info) => info,
            Err(e) if e.is_not_found() => {
                // Gone from the queue (deleted by an operator): the copy did not print.
                let t = farm.tasks.get_mut(&id).expect("listed above");
                t.core_job = None;
                t.status = TaskStatus::Failed;
                t.reason = Some(format!("the farm's job {core} was removed"));
                continue;
            }
            // Asked again at the next pass; the other tasks move on.
            Err(e) => {
                log::warn(&format!(
                    "brender: task {id}: reading the farm's job {core} failed: {}",
                    e.message()
                ));
                continue;
            }
        };
        let Some(copy) = info.tasks.first() else {
            continue;
        };
        let job_file = farm
            .jobs
            .get(&farm.tasks[&id].job_id)
            .map(|j| j.file.clone());
        let t = farm.tasks.get_mut(&id).expect("listed above");
        match copy.state {
            TaskState::Queued if t.done == 0 => {
                // Not claimed yet: if the printers that may take it changed (one was disabled,
                // enabled or failed), it is placed again.
                let eligible = match farm.jobs.get(&t.job_id) {
                    Some(job) => usable_printers(&farm.disabled, Some(job))?,
                    None => Vec::new(),
                };
                let mut placed = info.spec.placement.printers.clone();
                placed.sort();
                if placed != eligible {
                    match cancel(&core) {
                        Ok(()) => {}
                        Err(e) => {
                            log::warn(&format!("brender: task {id}: cancelling {core} to place it again failed: {}", e.message()));
                            continue;
                        }
                    }
                    // Nothing of the chunk printed: it waits to be handed out again (a copy that
                    // a printer claimed and gave back left it `running`).
                    let t = farm.tasks.get_mut(&id).expect("listed above");
                    t.core_job = None;
                    t.status = TaskStatus::Ready;
                    t.printer = None;
                }
            }
            TaskState::Queued => {}
            TaskState::Running | TaskState::Interrupted => {
                // Interrupted: the operator decides on the farm (retry or dismiss); until then
                // the copy still occupies its printer.
                t.status = TaskStatus::Running;
                t.printer = copy.printer.clone().or(t.printer.take());
            }
            TaskState::Done => {
                t.done += 1;
                t.core_job = None;
                t.printer = copy.printer.clone().or(t.printer.take());
                if t.done >= t.copies() {
                    t.status = TaskStatus::Finished;
                } else if let Some(file) = job_file {
                    // The chunk's next copy, on the same printer.
                    let priority = farm
                        .jobs
                        .get(&t.job_id)
                        .map(|j| j.priority)
                        .unwrap_or_default();
                    let printer = t.printer.clone();
                    let next = enqueue(&file, priority, printer.into_iter().collect());
                    let t = farm.tasks.get_mut(&id).expect("listed above");
                    match next {
                        Ok(core) => {
                            t.core_job = Some(core);
                            t.status = TaskStatus::Running;
                        }
                        Err(e) => {
                            t.status = TaskStatus::Failed;
                            t.reason = Some(format!(
                                "the chunk's next copy could not be queued: {}",
                                e.message
                            ));
                        }
                    }
                }
            }
            TaskState::Failed | TaskState::Cancelled => {
                t.core_job = None;
                t.status = TaskStatus::Failed;
                t.reason = Some(match (&copy.state, &copy.reason) {
                    (_, Some(r)) => r.clone(),
                    (TaskState::Cancelled, None) => "cancelled on the farm".into(),
                    _ => "the print failed".into(),
                });
            }
        }
    }
    Ok(())
}

/// A job whose tasks all ended is `completed`, or `failed` if one failed; its `current_frame`
/// is the highest copy done.
fn end_jobs(farm: &mut Farm) {
    let ids: Vec<i64> = farm.jobs.keys().copied().collect();
    for id in ids {
        let (mut any, mut all_final, mut failed, mut highest) = (false, true, false, None);
        for t in farm.tasks_of(id) {
            any = true;
            all_final &= t.status.is_final();
            failed |= t.status == TaskStatus::Failed;
            if t.done > 0 {
                let last = t.chunk_start + t.done - 1;
                highest = Some(highest.map_or(last, |h: i64| h.max(last)));
            }
        }
        let job = farm.jobs.get_mut(&id).expect("listed above");
        if let Some(h) = highest {
            job.current_frame = job.current_frame.max(h);
        }
        if any && all_final && matches!(job.status, JobStatus::Running | JobStatus::Stopped) {
            job.status = if failed {
                JobStatus::Failed
            } else {
                JobStatus::Completed
            };
        }
    }
}

/// The farm printers that may take new work (of `job`, when given): not disabled here, not
/// offline or in error, and with the job's printer profile when it names one. Sorted.
fn usable_printers(
    disabled: &std::collections::BTreeSet<String>,
    job: Option<&Job>,
) -> Result<Vec<String>, Error> {
    let mut ids: Vec<String> = printers::list()?
        .into_iter()
        .filter(|p| !disabled.contains(&p.id))
        .filter(|p| !matches!(p.state, PrinterState::Offline | PrinterState::Error))
        .filter(|p| {
            job.and_then(|j| j.render_settings.as_deref())
                .is_none_or(|profile| p.details.name == profile)
        })
        .map(|p| p.id)
        .collect();
    ids.sort();
    Ok(ids)
}

/// Hands ready tasks of running jobs, highest priority first, to a manager of the job with a
/// free worker: the farm's own printers (one task per eligible printer) or an external manager
/// (`total_workers` minus its running tasks, or any number with virtual workers).
fn hand_out(farm: &mut Farm) -> Result<(), Error> {
    let mut ready: Vec<(i64, i64, i64)> = farm
        .tasks
        .values()
        .filter(|t| t.status == TaskStatus::Ready && t.core_job.is_none())
        .filter_map(|t| {
            let job = farm.jobs.get(&t.job_id)?;
            (job.status == JobStatus::Running).then_some((-job.priority, job.id, t.id))
        })
        .collect();
    if ready.is_empty() {
        return Ok(());
    }
    ready.sort_unstable();
    let mut local_busy = farm.tasks.values().filter(|t| t.core_job.is_some()).count();
    let mut eligible_cache: Vec<(i64, Vec<String>)> = Vec::new();
    // One task in flight per usable printer, as the original sent one per free worker.
    let usable = usable_printers(&farm.disabled, None)?.len();
    // A manager that did not take a task is not tried again in this pass: each try may wait
    // for the push timeout, and the pass must end well within the call's deadline.
    let mut unreachable: Vec<i64> = Vec::new();
    for (_, job_id, task_id) in ready {
        let job = farm.jobs[&job_id].clone();
        for manager in &job.managers {
            if *manager == LOCAL_MANAGER {
                let eligible = match eligible_cache.iter().find(|(j, _)| *j == job_id) {
                    Some((_, e)) => e.clone(),
                    None => {
                        let e = usable_printers(&farm.disabled, Some(&job))?;
                        eligible_cache.push((job_id, e.clone()));
                        e
                    }
                };
                // One copy in flight per usable printer, and per printer this job may use: a job
                // limited to one profile does not hold the other printers' turns.
                let of_job = farm
                    .tasks
                    .values()
                    .filter(|t| t.job_id == job_id && t.core_job.is_some())
                    .count();
                if eligible.is_empty() || local_busy >= usable || of_job >= eligible.len() {
                    continue;
                }
                let queued = enqueue(&job.file, job.priority, eligible);
                let t = farm.tasks.get_mut(&task_id).expect("listed above");
                match queued {
                    Ok(core) => {
                        t.core_job = Some(core);
                        t.manager = Some(LOCAL_MANAGER);
                        t.printer = None;
                        local_busy += 1;
                    }
                    // The file was deleted or the farm refused it: the task fails with why,
                    // and the rest of the pass goes on.
                    Err(e) => {
                        t.status = TaskStatus::Failed;
                        t.reason = Some(format!("the farm did not queue it: {}", e.message));
                    }
                }
                break;
            }
            let Some(m) = farm.managers.get(manager).cloned() else {
                continue;
            };
            if unreachable.contains(&m.id) {
                continue;
            }
            let running = farm
                .tasks
                .values()
                .filter(|t| t.status == TaskStatus::Running && t.manager == Some(m.id))
                .count() as i64;
            let free = m.has_virtual_workers || m.total_workers.unwrap_or(0) > running;
            if !free {
                continue;
            }
            let task = farm.tasks[&task_id].clone();
            match push(&job, &task, &m.url()) {
                Ok(()) => {
                    let t = farm.tasks.get_mut(&task_id).expect("listed above");
                    t.status = TaskStatus::Running;
                    t.manager = Some(m.id);
                    break;
                }
                Err(e) if e.is_denied() => {
                    unreachable.push(m.id);
                    // Said once per manager, not at every pass: the grant is the operator's move.
                    let said = format!("denied-warned/{}", m.id);
                    if kv::get(&said).ok().flatten().is_none() {
                        log::warn(&format!(
                            "brender: tasks wait for manager {}: {}",
                            m.name,
                            e.message()
                        ));
                        let _ = kv::set(&said, "1");
                    }
                }
                Err(e) => {
                    unreachable.push(m.id);
                    log::warn(&format!(
                        "brender: task {task_id} could not be sent to manager {} at {}: {}",
                        m.name,
                        m.url(),
                        e.message()
                    ));
                }
            }
        }
    }
    Ok(())
}

/// Queues one copy of `file` on the farm.
fn enqueue(file: &str, priority: i64, printers: Vec<String>) -> Result<String, Error> {
    let spec = JobSpec {
        file: file.to_string(),
        copies: 1,
        priority: priority.clamp(i32::MIN.into(), i32::MAX.into()) as i32,
        placement: Placement {
            printers,
            tags: Vec::new(),
        },
    };
    Ok(jobs::enqueue(&spec)?.id)
}

/// Sends a task to an external manager with the fields the original server sent.
fn push(job: &Job, task: &Task, base: &str) -> Result<(), HostError> {
    let project = projects::load(job.project_id);
    let path = |name: &str| {
        project
            .as_ref()
            .and_then(|p| p.paths.get(name))
            .and_then(|v| v.as_str())
            .unwrap_or("")
            .to_string()
    };
    let join = |dir: String, rest: &str| {
        if dir.is_empty() {
            rest.to_string()
        } else {
            format!("{}/{}", dir.trim_end_matches('/'), rest)
        }
    };
    let output = |os: &str| {
        join(
            path(&format!("render_path_{os}")),
            &format!("{}/#####", job.id),
        )
    };
    let fields: Vec<(&str, String)> = vec![
        ("task_id", task.id.to_string()),
        ("file_path_linux", join(path("path_linux"), &job.filepath)),
        ("file_path_win", join(path("path_win"), &job.filepath)),
        ("file_path_osx", join(path("path_osx"), &job.filepath)),
        (
            "render_settings",
            job.render_settings.clone().unwrap_or_default(),
        ),
        ("start", task.current_frame().to_string()),
        ("end", task.chunk_end.to_string()),
        ("output_path_linux", output("linux")),
        ("output_path_win", output("win")),
        ("output_path_osx", output("osx")),
        ("priority", job.priority.to_string()),
        ("format", job.format.clone().unwrap_or_default()),
    ];
    let url = format!("{base}/tasks");
    http::check(&url)?;
    let res = http::send(
        OutboundRequest::post(&url)
            .with_header("content-type", "application/x-www-form-urlencoded")
            .with_body(form_encode(&fields))
            .with_timeout_ms(PUSH_TIMEOUT_MS),
    )?;
    if res.status >= 400 {
        return Err(HostError::Unavailable(format!(
            "the manager answered HTTP {}",
            res.status
        )));
    }
    Ok(())
}

/// Stops every task of a job that is on a printer or a manager: the farm's copies are
/// cancelled (a copy that was printing leaves its task `aborted`, one still queued leaves it
/// `ready`), an external manager gets `DELETE /tasks/<id>`.
pub fn stop_tasks(farm: &mut Farm, job: i64) -> Result<(), Error> {
    let ids: Vec<i64> = farm.tasks_of(job).map(|t| t.id).collect();
    for id in ids {
        let t = farm.tasks[&id].clone();
        if let Some(core) = &t.core_job {
            cancel(core)?;
            let t = farm.tasks.get_mut(&id).expect("listed above");
            t.core_job = None;
            t.status = if t.status == TaskStatus::Running || t.done > 0 {
                TaskStatus::Aborted
            } else {
                TaskStatus::Ready
            };
        } else if t.status == TaskStatus::Running {
            if let Some(m) = t.manager.and_then(|m| farm.managers.get(&m)) {
                let url = format!("{}/tasks/{id}", m.url());
                let answer = http::check(&url).and_then(|_| {
                    http::send(OutboundRequest::delete(&url).with_timeout_ms(PUSH_TIMEOUT_MS))
                });
                if let Err(e) = answer {
                    log::warn(&format!(
                        "brender: manager {} was not told to stop task {id}: {}",
                        m.name,
                        e.message()
                    ));
                }
            }
            farm.tasks.get_mut(&id).expect("listed above").status = TaskStatus::Aborted;
        }
    }
    Ok(())
}

/// Cancels a copy on the farm; one already ended or gone is no error (there is nothing left to
/// stop).
fn cancel(core: &str) -> Result<(), HostError> {
    match jobs::cancel(core) {
        Err(e) if e.is_not_found() || e.is_conflict() => Ok(()),
        other => other,
    }
}

/// `application/x-www-form-urlencoded`, as Python's `requests` encoded the original's pushes.
fn form_encode(fields: &[(&str, String)]) -> String {
    let mut out = form_urlencoded::Serializer::new(String::new());
    for (name, value) in fields {
        out.append_pair(name, value);
    }
    out.finish()
}
