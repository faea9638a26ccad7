//! `brender`: the brender 2 farm API (the 2015 ancestor of Blender's Flamenco) over the farm, so
//! that a client written for the original server works unchanged. A project is an order, a job
//! prints a library file N copies, a task is a chunk of copies on one printer, a worker is a
//! printer, a manager is a farm host node.
//!
//! Built so far: the request bodies (form-encoded and JSON), the original's answers for bad
//! input and unknown URLs, `GET /`, `/projects` and `/settings`. Jobs, tasks, workers, managers,
//! `/browse` and `/stats` come next.

pub mod access;
pub mod answers;
pub mod args;
pub mod projects;
pub mod settings;

use printfarm_sdk::{Error, Plugin, Request, Response, Router};
use serde_json::json;

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
            .route(
                "GET,POST,PUT,PATCH,DELETE",
                "/{*rest}",
                answers::no_interface,
            )
            .on_error(answers::error)
    }
}

/// `GET /`: what the dashboard checks on every page.
fn root(_req: &Request) -> Result<Response, Error> {
    Ok(Response::ok_json(
        &json!({"message": "Brender server up and running!"}),
    ))
}

printfarm_sdk::export_plugin!(Brender);
