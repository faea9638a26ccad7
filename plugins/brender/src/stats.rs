//! `/stats`: the counts of the original's status page (`total_jobs` counted tasks and
//! `total_shots` jobs, in brender's own words).

use printfarm_sdk::{Error, Request, Response};
use serde_json::json;

use crate::access;
use crate::projects;
use crate::state::Farm;

/// `GET /stats` and `GET /stats/`.
pub fn stats(req: &Request) -> Result<Response, Error> {
    access::reader(req)?;
    let farm = Farm::load()?;
    Ok(Response::ok_json(&json!({
        "server_stats": {
            "total_jobs": farm.tasks.len(),
            "total_shots": farm.jobs.len(),
            "total_projects": projects::all()?.len(),
        }
    })))
}
