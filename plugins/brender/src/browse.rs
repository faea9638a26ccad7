//! `/browse[/<path>]`: the G-code library under the active project's folder, as the dashboard's
//! file picker reads it: folders and G-code files (kind `gcodefile`, where the original listed
//! `.blend` files as `blendfile`).

use printfarm_sdk::{files, Error, Request, Response};
use serde_json::json;

use crate::access;
use crate::answers;
use crate::projects;
use crate::settings;

/// What the library stores as printable G-code.
const GCODE_EXTENSIONS: [&str; 4] = ["gcode", "gco", "g", "gc"];

fn is_gcode(name: &str) -> bool {
    name.rsplit_once('.')
        .is_some_and(|(_, ext)| GCODE_EXTENSIONS.contains(&ext.to_ascii_lowercase().as_str()))
}

/// `{project_path_server, parent_path, items_list: [[name, relpath, folder|gcodefile]]}`;
/// a missing folder is a 404.
pub fn browse(req: &Request) -> Result<Response, Error> {
    access::reader(req)?;
    let rel = req
        .param_str("path")
        .unwrap_or_default()
        .trim_matches('/')
        .to_string();
    if rel.split('/').any(|part| part == "..") {
        return Err(Error::bad_request("a path may not contain `..`"));
    }
    let project_folder = settings::get("active_project")
        .and_then(|id| id.parse().ok())
        .and_then(projects::load)
        .map(|p| p.folder())
        .unwrap_or_default();
    let folder = [project_folder.as_str(), rel.as_str()]
        .iter()
        .filter(|p| !p.is_empty())
        .copied()
        .collect::<Vec<_>>()
        .join("/");
    let entries = match files::list(&folder, false) {
        Ok(entries) => entries,
        Err(e) if e.is_not_found() || e.is_invalid() => return Ok(answers::missing(req)),
        Err(e) => return Err(e.into()),
    };
    let items: Vec<_> = entries
        .iter()
        .filter(|f| f.is_folder || is_gcode(&f.name))
        .map(|f| {
            let relpath = if rel.is_empty() {
                f.name.clone()
            } else {
                format!("{rel}/{}", f.name)
            };
            json!([
                f.name,
                relpath,
                if f.is_folder { "folder" } else { "gcodefile" }
            ])
        })
        .collect();
    Ok(Response::ok_json(&json!({
        "project_path_server": project_folder,
        "parent_path": if rel.is_empty() { String::new() } else { format!("{rel}/..") },
        "items_list": items,
    })))
}
