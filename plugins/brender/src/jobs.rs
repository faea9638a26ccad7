//! `/jobs`: a job prints a library file `frame_end - frame_start + 1` copies, in tasks of
//! `chunk_size` copies. Created with the dashboard's fields, started, stopped, reset, respawned
//! and deleted as the original intended (its defects fixed: names kept, reset working, deletes
//! committed, bad input refused before anything is written).

use printfarm_sdk::{files, kv, printers, Error, Request, Response};
use serde_json::json;

use crate::access;
use crate::answers;
use crate::args::{self, Args};
use crate::dispatch;
use crate::projects;
use crate::state::{Farm, Job, JobStatus, TaskStatus, JOBS_VIEW};

/// Most copies one job may ask for: a typo's million copies would fill the queue.
pub const MAX_COPIES: i64 = 10_000;

/// `GET /jobs`: `{"<id>": {job_name, frame_start, frame_end, current_frame, status,
/// percentage_done, render_settings, format}}`, as rendered at the last change.
pub fn list(req: &Request) -> Result<Response, Error> {
    access::reader(req)?;
    match kv::get(JOBS_VIEW)? {
        Some(body) => Ok(Response::bytes(200, "application/json", body)),
        None => Ok(Response::ok_json(&Farm::load()?.jobs_view())),
    }
}

fn id_param(req: &Request) -> Result<i64, Error> {
    args::int(req.param_str("id").unwrap_or_default())
}

/// `GET /jobs/{id}`.
pub fn get(req: &Request) -> Result<Response, Error> {
    access::reader(req)?;
    let id = id_param(req)?;
    let farm = Farm::load()?;
    match farm.jobs.get(&id) {
        Some(job) => Ok(Response::ok_json(&farm.job_json(job))),
        None => Ok(answers::missing(req)),
    }
}

/// The printer profiles a job may name in `render_settings` (`GET /settings/render`).
pub fn profiles() -> Result<Vec<String>, Error> {
    let mut names: Vec<String> = printers::list()?
        .into_iter()
        .map(|p| p.details.name)
        .collect();
    names.sort();
    names.dedup();
    Ok(names)
}

/// The fields of a job as sent, checked against each other, the projects, the library, the
/// printer profiles and the managers. `base` holds the values of fields not sent.
fn read_fields(args: &Args, base: &Job, farm: &Farm) -> Result<Job, Error> {
    let mut job = base.clone();
    if let Some(p) = args.int("project_id")? {
        job.project_id = p;
    }
    for (name, slot) in [
        ("frame_start", &mut job.frame_start),
        ("frame_end", &mut job.frame_end),
        ("chunk_size", &mut job.chunk_size),
        ("current_frame", &mut job.current_frame),
        ("priority", &mut job.priority),
    ] {
        if let Some(v) = args.int(name)? {
            *slot = v;
        }
    }
    if let Some(f) = args.str("filepath") {
        job.filepath = f.trim().trim_start_matches('/').to_string();
    }
    if let Some(n) = args.str("job_name") {
        job.name = Some(n.to_string());
    }
    if let Some(r) = args.str("render_settings") {
        job.render_settings = Some(r.trim().to_string()).filter(|r| !r.is_empty());
    }
    if let Some(f) = args.str("format") {
        job.format = Some(f.to_string());
    }
    if let Some(o) = args.str("owner") {
        job.owner = Some(o.to_string());
    }
    if args.has("managers") {
        job.managers = args
            .list("managers")
            .iter()
            .map(|m| args::int(m))
            .collect::<Result<_, _>>()?;
    }

    if job.chunk_size < 1 {
        return Err(Error::bad_request(format!(
            "`chunk_size` must be at least 1 (copies per task), not {}",
            job.chunk_size
        )));
    }
    if job.frame_end < job.frame_start {
        return Err(Error::bad_request(format!(
            "`frame_end` ({}) is before `frame_start` ({}): a job prints frame_end - frame_start + 1 copies",
            job.frame_end, job.frame_start
        )));
    }
    // In i128: the frames are the client's numbers, and i64::MIN..=i64::MAX must not wrap.
    let copies = i128::from(job.frame_end) - i128::from(job.frame_start) + 1;
    if copies > i128::from(MAX_COPIES) {
        return Err(Error::bad_request(format!(
            "{copies} copies is more than the {MAX_COPIES} one job may print"
        )));
    }
    if job.managers.is_empty() {
        return Err(Error::bad_request(format!(
            "`managers` is required: the ids of the managers (GET /managers) that may run the job; {} is this farm's printers",
            crate::managers::LOCAL_MANAGER
        )));
    }
    for m in &job.managers {
        if *m != crate::managers::LOCAL_MANAGER && !farm.managers.contains_key(m) {
            return Err(Error::bad_request(format!(
                "manager {m} is not registered (GET /managers lists them)"
            )));
        }
    }
    if let Some(profile) = &job.render_settings {
        if !profiles()?.contains(profile) {
            return Err(Error::bad_request(format!(
                "`render_settings` '{profile}' is not a printer profile of the farm (GET /settings/render lists them; '' = any printer)"
            )));
        }
    }
    let project = projects::load(job.project_id)
        .ok_or_else(|| Error::bad_request(format!("project {} does not exist", job.project_id)))?;
    if job.filepath.is_empty() {
        return Err(Error::bad_request(
            "`filepath` is required: the G-code file, relative to the project's folder",
        ));
    }
    let folder = project.folder();
    job.file = if folder.is_empty() {
        job.filepath.clone()
    } else {
        format!("{folder}/{}", job.filepath)
    };
    match files::stat(&job.file) {
        Ok(info) if !info.is_folder => {}
        Ok(_) => {
            return Err(Error::bad_request(format!(
                "`{}` is a folder of the library, not a G-code file",
                job.file
            )))
        }
        Err(e) if e.is_not_found() || e.is_invalid() => {
            return Err(Error::bad_request(format!(
                "the library has no file `{}` (the project's folder `{folder}` joined with filepath `{}`)",
                job.file, job.filepath
            )))
        }
        Err(e) => return Err(e.into()),
    }
    Ok(job)
}

/// `POST /jobs`: 201 with the job. Its tasks are made at once; a job created `running` (what
/// the dashboard sends) starts printing, one created `stopped` or `ready` waits for a start.
pub fn create(req: &Request) -> Result<Response, Error> {
    access::operator(req)?;
    let args = Args::of(req)?;
    let status = match args.str("status").map(str::trim) {
        None | Some("") => JobStatus::Running,
        Some(s) => JobStatus::parse(s).ok_or_else(|| {
            Error::bad_request(format!(
                "`status` '{s}' is not one a job starts in: running, stopped or ready"
            ))
        })?,
    };
    let mut farm = Farm::load()?;
    let blank = Job {
        id: 0,
        project_id: 0,
        name: None,
        frame_start: 1,
        frame_end: 1,
        chunk_size: 1,
        current_frame: i64::MIN,
        filepath: String::new(),
        file: String::new(),
        render_settings: None,
        format: None,
        status,
        priority: 10,
        managers: Vec::new(),
        owner: None,
    };
    if !args.has("project_id") {
        return Err(Error::bad_request("`project_id` is required"));
    }
    let mut job = read_fields(&args, &blank, &farm)?;
    if job.current_frame == i64::MIN {
        job.current_frame = job.frame_start;
    }
    farm.last_job += 1;
    job.id = farm.last_job;
    let id = job.id;
    farm.jobs.insert(id, job);
    farm.make_tasks(id);
    dispatch::step(&mut farm)?;
    farm.save()?;
    Ok(Response::json(201, &farm.job_json(&farm.jobs[&id])))
}

/// A command for one job.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Command {
    Start,
    Stop,
    Reset,
    Respawn,
}

impl Command {
    fn parse(text: &str) -> Option<Command> {
        match text.trim() {
            "start" => Some(Command::Start),
            "stop" => Some(Command::Stop),
            "reset" => Some(Command::Reset),
            "respawn" => Some(Command::Respawn),
            _ => None,
        }
    }
}

/// Why a reset was refused, in the original's intended words.
const RUNNING_RESET: &str = "This job is running, stop it first.";

/// Runs a command on a job that exists. A reset of a running job is refused before anything
/// changes.
fn run(farm: &mut Farm, id: i64, command: Command) -> Result<(), Error> {
    let status = farm.jobs[&id].status;
    match command {
        Command::Start => {
            if !matches!(
                status,
                JobStatus::Running | JobStatus::Completed | JobStatus::Failed
            ) {
                farm.jobs.get_mut(&id).expect("exists").status = JobStatus::Running;
                for t in farm.tasks.values_mut().filter(|t| t.job_id == id) {
                    if t.status == TaskStatus::Aborted {
                        t.status = TaskStatus::Ready;
                    }
                }
            }
        }
        Command::Stop => {
            if !matches!(
                status,
                JobStatus::Stopped | JobStatus::Completed | JobStatus::Failed
            ) {
                dispatch::stop_tasks(farm, id)?;
                farm.jobs.get_mut(&id).expect("exists").status = JobStatus::Stopped;
            }
        }
        Command::Reset => {
            if status == JobStatus::Running {
                return Err(Error::bad_request(RUNNING_RESET));
            }
            dispatch::stop_tasks(farm, id)?;
            farm.tasks.retain(|_, t| t.job_id != id);
            let job = farm.jobs.get_mut(&id).expect("exists");
            job.status = JobStatus::Ready;
            job.current_frame = job.frame_start;
            farm.make_tasks(id);
        }
        Command::Respawn => {
            if status == JobStatus::Running {
                dispatch::stop_tasks(farm, id)?;
            }
            for t in farm.tasks.values_mut().filter(|t| t.job_id == id) {
                if !t.status.is_final() {
                    t.status = TaskStatus::Ready;
                }
            }
            farm.jobs.get_mut(&id).expect("exists").status = JobStatus::Running;
        }
    }
    Ok(())
}

/// The original's intended answer to a refused reset: 400 `{code, message}`.
fn refused(e: Error) -> Response {
    Response::json(e.status, &json!({"code": e.status, "message": e.message}))
}

/// `PUT /jobs/{id}`: `command=start|stop|reset` (200 with the job), or new values for its
/// fields. Copies, chunk size, project and file change only while no copy has been printed or
/// sent (reset the job first).
pub fn update(req: &Request) -> Result<Response, Error> {
    access::operator(req)?;
    let args = Args::of(req)?;
    let id = id_param(req)?;
    let mut farm = Farm::load()?;
    let Some(job) = farm.jobs.get(&id).cloned() else {
        return Ok(answers::missing(req));
    };
    if let Some(text) = args.str("command").filter(|c| !c.trim().is_empty()) {
        let Some(command) = Command::parse(text).filter(|c| *c != Command::Respawn) else {
            return Ok(Response::json(
                400,
                &json!({"code": 400, "message": "Unknown command. Try \"start\", \"stop\" or \"reset\""}),
            ));
        };
        if let Err(e) = run(&mut farm, id, command) {
            return Ok(refused(e));
        }
    } else {
        let updated = read_fields(&args, &job, &farm)?;
        let reshaped = updated.frame_start != job.frame_start
            || updated.frame_end != job.frame_end
            || updated.chunk_size != job.chunk_size
            || updated.file != job.file;
        if reshaped {
            let untouched = farm
                .tasks_of(id)
                .all(|t| t.status == TaskStatus::Ready && t.core_job.is_none() && t.done == 0);
            if !untouched {
                return Err(Error::bad_request(
                    "copies, chunk size and file cannot change once a copy was printed or sent: stop and reset the job first",
                ));
            }
            farm.tasks.retain(|_, t| t.job_id != id);
        }
        if updated.priority != job.priority {
            for core in farm.tasks_of(id).filter_map(|t| t.core_job.clone()) {
                let p = updated.priority.clamp(i32::MIN.into(), i32::MAX.into()) as i32;
                let _ = printfarm_sdk::jobs::set_priority(&core, p);
            }
        }
        farm.jobs.insert(id, updated);
        if reshaped {
            farm.make_tasks(id);
        }
    }
    dispatch::step(&mut farm)?;
    farm.save()?;
    Ok(Response::ok_json(&farm.job_json(&farm.jobs[&id])))
}

/// The ids of the list forms (`id='1,2,3'` or repeated), every one of them existing.
fn existing_ids(args: &Args, farm: &Farm) -> Result<Result<Vec<i64>, i64>, Error> {
    let ids: Vec<i64> = args
        .list("id")
        .iter()
        .map(|i| args::int(i))
        .collect::<Result<_, _>>()?;
    if ids.is_empty() {
        return Err(Error::bad_request(
            "`id` is required: one job id or a comma-separated list",
        ));
    }
    Ok(match ids.iter().find(|i| !farm.jobs.contains_key(i)) {
        Some(missing) => Err(*missing),
        None => Ok(ids),
    })
}

/// `PUT /jobs id=<list> status=start|stop|reset|respawn`: 200 `{id, status: "running"}` as the
/// original answered; an unknown command is a 400, an unknown id a 404, and then no job changes.
pub fn command_many(req: &Request) -> Result<Response, Error> {
    access::operator(req)?;
    let args = Args::of(req)?;
    let sent = args.str("status").unwrap_or_default().to_string();
    let Some(command) = Command::parse(&sent) else {
        return Err(Error::bad_request(format!(
            "unknown command '{sent}': send status=start, stop, reset or respawn"
        )));
    };
    let mut farm = Farm::load()?;
    let ids = match existing_ids(&args, &farm)? {
        Ok(ids) => ids,
        Err(missing) => {
            return Err(Error::not_found(format!("job {missing} does not exist")));
        }
    };
    if command == Command::Reset {
        if let Some(running) = ids
            .iter()
            .find(|i| farm.jobs[i].status == JobStatus::Running)
        {
            return Ok(refused(Error::bad_request(format!(
                "{RUNNING_RESET} (job {running})"
            ))));
        }
    }
    for id in &ids {
        run(&mut farm, *id, command)?;
    }
    dispatch::step(&mut farm)?;
    farm.save()?;
    Ok(Response::ok_json(
        &json!({"id": args.str("id"), "status": "running"}),
    ))
}

/// Cancels what a job has in flight and removes it with its tasks.
pub fn remove(farm: &mut Farm, id: i64) -> Result<(), Error> {
    dispatch::stop_tasks(farm, id)?;
    farm.tasks.retain(|_, t| t.job_id != id);
    farm.jobs.remove(&id);
    Ok(())
}

/// `POST /jobs/delete id=<list>`: 204; an unknown id is a 404 and then nothing is deleted.
pub fn delete_many(req: &Request) -> Result<Response, Error> {
    access::operator(req)?;
    let args = Args::of(req)?;
    let mut farm = Farm::load()?;
    let ids = match existing_ids(&args, &farm)? {
        Ok(ids) => ids,
        Err(missing) => return Err(Error::not_found(format!("job {missing} does not exist"))),
    };
    for id in ids {
        remove(&mut farm, id)?;
    }
    dispatch::step(&mut farm)?;
    farm.save()?;
    Ok(Response::empty(204))
}

/// `DELETE /jobs/{id}`: 204, then 404.
pub fn delete(req: &Request) -> Result<Response, Error> {
    access::operator(req)?;
    let id = id_param(req)?;
    let mut farm = Farm::load()?;
    if !farm.jobs.contains_key(&id) {
        return Ok(answers::missing(req));
    }
    remove(&mut farm, id)?;
    dispatch::step(&mut farm)?;
    farm.save()?;
    Ok(Response::empty(204))
}
