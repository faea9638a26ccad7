//! `/settings`: the names the original manager reads at start, read back as written.

use printfarm_sdk::{kv, Error, Request, Response};
use serde_json::{Map, Value};

use crate::access;
use crate::args::Args;

/// The settings the original server knew; `POST /settings` writes all of them (a missing one
/// becomes null), as the original did.
pub const NAMES: [&str; 7] = [
    "blender_path_linux",
    "blender_path_win",
    "blender_path_osx",
    "render_settings_path_linux",
    "render_settings_path_win",
    "render_settings_path_osx",
    "active_project",
];

fn key(name: &str) -> String {
    format!("setting/{name}")
}

/// One setting's value.
pub fn get(name: &str) -> Option<String> {
    kv::get_string(&key(name)).ok().flatten()
}

/// Sets (or, with `None`, clears) one setting.
pub fn set(name: &str, value: Option<&str>) -> Result<(), Error> {
    match value {
        Some(v) => kv::set(key(name).as_str(), v)?,
        None => kv::delete(&key(name))?,
    }
    Ok(())
}

/// `GET /settings`: every setting, null when unset.
pub fn list(req: &Request) -> Result<Response, Error> {
    access::reader(req)?;
    let mut out = Map::new();
    for name in NAMES {
        out.insert(
            name.into(),
            get(name).map(Value::String).unwrap_or(Value::Null),
        );
    }
    Ok(Response::ok_json(&Value::Object(out)))
}

/// `POST /settings`: 204.
pub fn write(req: &Request) -> Result<Response, Error> {
    access::operator(req)?;
    let args = Args::of(req)?;
    for name in NAMES {
        set(name, args.str(name))?;
    }
    Ok(Response::empty(204))
}

/// `GET /settings/render`: `{settings_files: [...]}`, the farm's printer profiles (a job's
/// `render_settings` names one to print only on printers with it).
pub fn render(req: &Request) -> Result<Response, Error> {
    access::reader(req)?;
    Ok(Response::ok_json(
        &serde_json::json!({ "settings_files": crate::jobs::profiles()? }),
    ))
}
