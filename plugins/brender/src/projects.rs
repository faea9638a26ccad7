//! `/projects`: a project is an order or catalogue group of the farm. `path_server` (and
//! `path_linux`) name a folder of the G-code library ('' = its root); a job's `filepath` is
//! relative to it. The Windows, macOS and render paths are stored and echoed: they mean nothing to
//! a farm, but the original clients send and show them.

use printfarm_sdk::{kv, Error, Request, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::access;
use crate::answers;
use crate::args::Args;
use crate::settings;

/// The eight paths of a project, in the original's order.
pub const PATHS: [&str; 8] = [
    "path_server",
    "path_linux",
    "path_win",
    "path_osx",
    "render_path_server",
    "render_path_linux",
    "render_path_win",
    "render_path_osx",
];

/// A stored project.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Project {
    /// Its id.
    pub id: i64,
    /// Its name.
    pub name: Option<String>,
    /// The eight paths, by name (absent = null).
    pub paths: Map<String, Value>,
}

impl Project {
    /// The list entry: name and paths, no id, no `is_active` (as the original listed them).
    fn entry(&self) -> Map<String, Value> {
        let mut out = Map::new();
        out.insert(
            "name".into(),
            self.name.clone().map(Value::String).unwrap_or(Value::Null),
        );
        for path in PATHS {
            out.insert(
                path.into(),
                self.paths.get(path).cloned().unwrap_or(Value::Null),
            );
        }
        out
    }

    /// The full record: id, name, paths and whether it is the active project.
    pub fn full(&self) -> Value {
        let mut out = self.entry();
        out.insert("id".into(), self.id.into());
        let active =
            settings::get("active_project").as_deref() == Some(self.id.to_string().as_str());
        out.insert("is_active".into(), active.into());
        Value::Object(out)
    }

    /// The library folder of the project ('' = the library root).
    pub fn folder(&self) -> String {
        ["path_linux", "path_server"]
            .iter()
            .find_map(|p| self.paths.get(*p).and_then(Value::as_str))
            .unwrap_or("")
            .trim_matches('/')
            .to_string()
    }
}

fn key(id: i64) -> String {
    format!("project/{id}")
}

/// A project by id.
pub fn load(id: i64) -> Option<Project> {
    kv::get_json(&key(id)).ok().flatten()
}

fn save(project: &Project) -> Result<(), Error> {
    kv::set_json(&key(project.id), project)?;
    Ok(())
}

/// Every project, by id.
pub fn all() -> Result<Vec<Project>, Error> {
    let mut out: Vec<Project> = kv::list_keys("project/", 100_000)?
        .iter()
        .filter_map(|k| k.strip_prefix("project/")?.parse().ok())
        .filter_map(load)
        .collect();
    out.sort_by_key(|p| p.id);
    Ok(out)
}

fn paths_from(args: &Args) -> Map<String, Value> {
    PATHS
        .iter()
        .filter_map(|p| Some((p.to_string(), Value::String(args.str(p)?.to_string()))))
        .collect()
}

/// Marks a project active (or, when it was the active one, no longer).
fn set_active(id: i64, active: Option<bool>) -> Result<(), Error> {
    let id_text = id.to_string();
    match active {
        Some(true) => settings::set("active_project", Some(&id_text)),
        Some(false) if settings::get("active_project").as_deref() == Some(id_text.as_str()) => {
            settings::set("active_project", None)
        }
        _ => Ok(()),
    }
}

fn id_param(req: &Request) -> Result<i64, Error> {
    crate::args::int(req.param_str("id").unwrap_or_default())
}

/// `GET /projects`: `{"<id>": {name, paths}}`, `{}` when there is none.
pub fn list(req: &Request) -> Result<Response, Error> {
    access::reader(req)?;
    let out: Map<String, Value> = all()?
        .into_iter()
        .map(|p| (p.id.to_string(), Value::Object(p.entry())))
        .collect();
    Ok(Response::ok_json(&Value::Object(out)))
}

/// `POST /projects`: 201 with the project.
pub fn create(req: &Request) -> Result<Response, Error> {
    access::operator(req)?;
    let args = Args::of(req)?;
    let name = args
        .str("name")
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .ok_or_else(|| Error::bad_request("`name` is required"))?;
    let active = args.bool("is_active")?;
    let id = kv::increment("project-seq", 1)?;
    let project = Project {
        id,
        name: Some(name.to_string()),
        paths: paths_from(&args),
    };
    save(&project)?;
    set_active(id, active)?;
    Ok(Response::json(201, &project.full()))
}

/// `GET /projects/{id}`.
pub fn get(req: &Request) -> Result<Response, Error> {
    access::reader(req)?;
    match load(id_param(req)?) {
        Some(project) => Ok(Response::ok_json(&project.full())),
        None => Ok(answers::missing(req)),
    }
}

/// `PUT /projects/{id}`: 201; every path not sent becomes null, as in the original.
pub fn update(req: &Request) -> Result<Response, Error> {
    access::operator(req)?;
    let args = Args::of(req)?;
    let active = args.bool("is_active")?;
    let Some(mut project) = load(id_param(req)?) else {
        return Ok(answers::missing(req));
    };
    if let Some(name) = args.str("name").map(str::trim).filter(|n| !n.is_empty()) {
        project.name = Some(name.to_string());
    }
    project.paths = paths_from(&args);
    save(&project)?;
    set_active(project.id, active)?;
    Ok(Response::json(201, &project.full()))
}

/// `DELETE /projects/{id}`: 204, then 404.
pub fn delete(req: &Request) -> Result<Response, Error> {
    access::operator(req)?;
    let id = id_param(req)?;
    if load(id).is_none() {
        return Ok(answers::missing(req));
    }
    // Its jobs go with it, their prints cancelled and their tasks removed (the original left
    // the tasks behind).
    let mut farm = crate::state::Farm::load()?;
    let jobs: Vec<i64> = farm
        .jobs
        .values()
        .filter(|j| j.project_id == id)
        .map(|j| j.id)
        .collect();
    for job in jobs {
        crate::jobs::remove(&mut farm, job)?;
    }
    crate::dispatch::step(&mut farm)?;
    farm.save()?;
    kv::delete(&key(id))?;
    set_active(id, Some(false))?;
    Ok(Response::empty(204))
}
