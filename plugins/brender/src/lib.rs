//! `brender`: the brender 2 farm API (the 2015 ancestor of Blender's Flamenco) over the farm, so
//! that a client written for the original server works unchanged. A project is an order, a job
//! prints a library file N copies, a task is a chunk of copies on one printer, a worker is a
//! printer, a manager is a farm host node (or an external brender manager, fed by push).
//!
//! State: projects and settings are kv values of their own; jobs, tasks, managers and disabled
//! workers are one document ([`state`]) that the host lets one call at a time change
//! (`serialize-changes`). Tasks follow the farm's queue through `jobs` events and a tick.

pub mod access;
pub mod answers;
pub mod args;
pub mod browse;
pub mod config;
pub mod dispatch;
pub mod jobs;
pub mod managers;
pub mod projects;
pub mod settings;
pub mod state;
pub mod stats;
pub mod tasks;
pub mod workers;

use printfarm_sdk::events::Event;
use printfarm_sdk::{log, Error, Plugin, Request, Response, Router};
use serde_json::{json, Value};

/// The plugin. Its state is in kv.
pub struct Brender;

impl Plugin for Brender {
    fn router() -> Router {
        Router::new()
            .get("/", root)
            .get("/projects", projects::list)
            .post("/projects", projects::create)
            .get("/projects/{id}", projects::get)
            .put("/projects/{id}", projects::update)
            .delete("/projects/{id}", projects::delete)
            .get("/settings", settings::list)
            .post("/settings", settings::write)
            .get("/settings/render", settings::render)
            .get("/browse", browse::browse)
            .get("/browse/{*path}", browse::browse)
            .get("/stats", stats::stats)
            .get("/stats/", stats::stats)
            .get("/managers", managers::list)
            .post("/managers", managers::register)
            .route("PATCH", "/managers/{uuid}", managers::update)
            .get("/workers", workers::list)
            .post("/workers", workers::set_status)
            .get("/workers/{id}", workers::get)
            .get("/jobs", jobs::list)
            .post("/jobs", jobs::create)
            .put("/jobs", jobs::command_many)
            .post("/jobs/delete", jobs::delete_many)
            .get("/jobs/{id}", jobs::get)
            .put("/jobs/{id}", jobs::update)
            .delete("/jobs/{id}", jobs::delete)
            .get("/tasks", tasks::list)
            .post("/tasks", tasks::report)
            .route(
                "GET,POST,PUT,PATCH,DELETE",
                "/{*rest}",
                answers::no_interface,
            )
            .on_error(answers::error)
    }

    fn init(config: &Value) -> Result<(), String> {
        let config: config::Config = serde_json::from_value(config.clone())
            .map_err(|e| format!("[plugins.brender.config]: {e}"))?;
        for net in &config.anonymous_networks {
            net.parse::<ipnet::IpNet>().map_err(|e| {
                format!("[plugins.brender.config] anonymous-networks: `{net}` is not a network in CIDR form ({e}); write it like \"192.168.1.0/24\"")
            })?;
        }
        Ok(())
    }

    /// A copy of one of this API's tasks was claimed, ended or changed on the farm.
    fn on_event(event: Event) {
        if let Event::Jobs(changed) = &event {
            if state::is_our_core_job(&changed.job_id) {
                advance("a job event");
            }
        }
    }

    /// Catches what events may have missed, hands out tasks that waited for a free printer or
    /// manager, and retries pushes that failed.
    fn on_tick() {
        if state::has_pending_work() {
            advance("the tick");
        }
    }
}

/// One dispatch pass, saved.
fn advance(why: &str) {
    let outcome = state::Farm::load().and_then(|mut farm| {
        dispatch::step(&mut farm)?;
        farm.save()
    });
    if let Err(e) = outcome {
        log::warn(&format!(
            "brender: moving tasks along after {why} failed: {}",
            e.message
        ));
    }
}

/// `GET /`: what the dashboard checks on every page.
fn root(_req: &Request) -> Result<Response, Error> {
    Ok(Response::ok_json(
        &json!({"message": "Brender server up and running!"}),
    ))
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

printfarm_sdk::export_plugin!(Brender);
