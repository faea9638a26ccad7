//! `/api/files…`: the OctoPrint file tree of the `local` location, which is the farm's G-code
//! library. File bytes never pass through the plugin: uploads are stored by handle and
//! downloads are streamed by the host.

use printfarm_sdk::files::{self, FileInfo};
use printfarm_sdk::printers::{self, PrinterInfo};
use printfarm_sdk::{Error, HostError, Request, Response};
use serde_json::{json, Map, Value};

use crate::auth::{self, Access};
use crate::errors::{self, host};
use crate::file_stats::{self, FileStats};
use crate::job;
use crate::printer::is_ready;

/// The G-code extensions the farm's library accepts (compared case-insensitively).
const GCODE_EXTENSIONS: [&str; 4] = ["gcode", "gco", "g", "gc"];

/// Whether a name has a G-code extension.
pub fn is_gcode(name: &str) -> bool {
    name.rsplit_once('.')
        .is_some_and(|(_, ext)| GCODE_EXTENSIONS.iter().any(|e| e.eq_ignore_ascii_case(ext)))
}

/// Normalises a client path (folder or file): strips slashes at both ends and refuses `.`/`..`
/// segments, empty segments and backslashes, so a client cannot leave the library.
pub fn clean_path(path: &str) -> Result<String, Error> {
    let trimmed = path.trim().trim_matches('/');
    if trimmed.is_empty() {
        return Ok(String::new());
    }
    for seg in trimmed.split('/') {
        if seg.is_empty() || seg == "." || seg == ".." || seg.contains('\\') {
            return Err(Error::bad_request(format!("Invalid path: {path}")));
        }
    }
    Ok(trimmed.to_string())
}

/// Joins a folder and a name.
fn join(folder: &str, name: &str) -> String {
    if folder.is_empty() {
        name.to_string()
    } else {
        format!("{folder}/{name}")
    }
}

/// Percent-encodes a library path for a URL, keeping `/`.
fn encode(path: &str) -> String {
    let mut out = String::new();
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The API URL of a library entry.
pub fn resource_url(req: &Request, path: &str) -> String {
    req.url_for(&format!("/api/files/local/{}", encode(path)))
}

/// The download URL of a library file.
fn download_url(req: &Request, path: &str) -> String {
    req.url_for(&format!("/downloads/files/local/{}", encode(path)))
}

/// `gcodeAnalysis` from the core's analysis (filament volume for 1.75 mm filament, which the
/// farm's analysis does not record).
fn analysis(info: &FileInfo) -> Option<Value> {
    let a = info.analysis.as_ref()?;
    let mut filament = Map::new();
    for (i, mm) in a.filament_mm.iter().enumerate() {
        let radius_cm = 0.175 / 2.0;
        let volume = std::f64::consts::PI * radius_cm * radius_cm * (mm / 10.0);
        filament.insert(format!("tool{i}"), json!({"length": mm, "volume": volume}));
    }
    let mut out = json!({
        "estimatedPrintTime": a.estimated_print_secs,
        "filament": filament,
    });
    if let Some((x0, y0, z0, x1, y1, z1)) = a.bounds {
        out["dimensions"] = json!({"width": x1 - x0, "depth": y1 - y0, "height": z1 - z0});
        out["printingArea"] =
            json!({"minX": x0, "minY": y0, "minZ": z0, "maxX": x1, "maxY": y1, "maxZ": z1});
    }
    Some(out)
}

/// An OctoPrint file or folder entry; `children` for folders, built from `all` (a recursive
/// listing) when given.
pub fn entry(req: &Request, info: &FileInfo, all: Option<&[FileInfo]>, stats: &FileStats) -> Value {
    if info.is_folder {
        let children: Vec<Value> = all
            .map(|all| {
                all.iter()
                    .filter(|c| parent(&c.path) == info.path)
                    .map(|c| entry(req, c, Some(all), stats))
                    .collect()
            })
            .unwrap_or_default();
        let size: u64 = all
            .map(|all| {
                all.iter()
                    .filter(|c| !c.is_folder && c.path.starts_with(&format!("{}/", info.path)))
                    .map(|c| c.size)
                    .sum()
            })
            .unwrap_or(0);
        return json!({
            "name": info.name,
            "display": info.name,
            "path": info.path,
            "origin": "local",
            "type": "folder",
            "typePath": ["folder"],
            "children": children,
            "size": size,
            "date": info.modified / 1000,
            "prints": {"failure": 0, "success": 0},
            "refs": {"resource": resource_url(req, &info.path)},
        });
    }
    let mut v = json!({
        "name": info.name,
        "display": info.name,
        "path": info.path,
        "origin": "local",
        "type": "machinecode",
        "typePath": ["machinecode", "gcode"],
        "size": info.size,
        "date": info.modified / 1000,
        "hash": info.sha256,
        "refs": {
            "resource": resource_url(req, &info.path),
            "download": download_url(req, &info.path),
        },
    });
    if let Some(a) = analysis(info) {
        v["gcodeAnalysis"] = a;
    }
    stats.annotate(&info.path, &mut v);
    v
}

/// The per-file metadata of the request's printer, loaded once for a listing.
fn stats_for(req: &Request) -> Result<FileStats, Error> {
    let printer = printers::get(req.require_printer()?).map_err(host)?;
    Ok(FileStats::load(
        &printer.id,
        &crate::profiles::profile_id(&printer),
    ))
}

/// The folder part of a path (`""` at the root).
fn parent(path: &str) -> &str {
    path.rsplit_once('/').map(|(p, _)| p).unwrap_or("")
}

/// The file list of a folder, OctoPrint's way: the folder's own entries, with folders
/// expanded when `recursive`.
fn tree(req: &Request, folder: &str, recursive: bool) -> Result<Vec<Value>, Error> {
    let all = files::list(folder, recursive).map_err(host)?;
    let stats = stats_for(req)?;
    Ok(all
        .iter()
        .filter(|f| parent(&f.path) == folder)
        .map(|f| entry(req, f, recursive.then_some(all.as_slice()), &stats))
        .collect())
}

/// Whether the request asks for a recursive listing.
fn recursive(req: &Request) -> bool {
    req.query_param("recursive")
        .is_some_and(|r| errors::truthy(&r))
}

/// The body of a listing of the local storage, with the library disk's free and total bytes.
fn listing(req: &Request) -> Result<Value, Error> {
    let files = tree(req, "", recursive(req))?;
    let (free, total) = files::space().map_err(host)?;
    Ok(json!({"files": files, "free": free, "total": total}))
}

/// `GET /api/files`.
pub fn list_all(req: &Request) -> Result<Response, Error> {
    auth::require(req, Access::Read)?;
    Ok(Response::ok_json(&listing(req)?))
}

/// Checks the `{location}` parameter: `local` is the library, `sdcard` exists but is empty.
fn location(req: &Request) -> Result<String, Error> {
    let loc = req.param_str("location").unwrap_or_default().to_string();
    match loc.as_str() {
        "local" | "sdcard" => Ok(loc),
        _ => Err(Error::not_found(format!("Unknown location: {loc}"))),
    }
}

/// `GET/POST /api/files/{location}`: list, or upload / create a folder. `POST /api/files/test`
/// is OctoPrint's name check, not a location.
pub fn location_root(req: &Request) -> Result<Response, Error> {
    if req.method() == "POST" && req.param_str("location") == Some("test") {
        return name_test(req);
    }
    if req.method() == "GET" {
        auth::require(req, Access::Read)?;
        return match location(req)?.as_str() {
            "local" => Ok(Response::ok_json(&listing(req)?)),
            _ => Ok(Response::ok_json(&json!({"files": []}))),
        };
    }
    let caller = auth::require(req, Access::Control)?;
    if location(req)? == "sdcard" {
        let p = printers::get(req.require_printer()?).map_err(host)?;
        return Err(Error::conflict(if is_ready(&p) {
            "The farm prints from its library and writes nothing to SD cards; upload to local"
        } else {
            "Can not upload to SD card, printer is either not operational or already busy"
        }));
    }
    upload(req, &caller)
}

/// `POST /api/files/test`: `sanitize` (the path a name would be stored under) and `exists`
/// (whether it is taken, with a free name to suggest), as upload dialogs ask before uploading.
fn name_test(req: &Request) -> Result<Response, Error> {
    auth::require(req, Access::Read)?;
    let cmd = errors::command(req, &["sanitize", "exists"])?;
    let text = |key: &str| -> Result<String, Error> {
        cmd.data
            .get(key)
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| Error::bad_request("Mandatory parameters missing"))
    };
    let (_storage, folder, name) = (text("storage")?, text("path")?, text("filename")?);
    let folder = clean_path(&folder)?;
    let name = clean_path(&name)?;
    let joined = join(&folder, &name);
    if cmd.name == "sanitize" {
        return Ok(Response::ok_json(&json!({ "sanitized": joined })));
    }
    let Ok(found) = files::stat(&joined) else {
        return Ok(Response::ok_json(&json!({"exists": false})));
    };
    let (stem, ext) = match name.rsplit_once('.') {
        Some((stem, ext)) => (stem.to_string(), format!(".{ext}")),
        None => (name.clone(), String::new()),
    };
    let suggestion = (1..)
        .map(|n| format!("{stem}_{n}{ext}"))
        .find(|candidate| files::stat(&join(&folder, candidate)).is_err())
        .unwrap_or_default();
    Ok(Response::ok_json(&json!({
        "exists": true,
        "suggestion": suggestion,
        "size": found.size,
        "date": found.modified / 1000,
    })))
}

/// A multipart/form field, which clients send in any order.
fn field<'a>(req: &'a Request, name: &str) -> Option<&'a str> {
    req.form_field(name)
}

/// `POST /api/files/local`: a file upload (`file`, `path`, `select`, `print`, `filename`,
/// `noOverwrite`) or a folder (`foldername`, `path`).
fn upload(req: &Request, caller: &auth::Caller) -> Result<Response, Error> {
    let id = req.require_printer()?;
    let folder = clean_path(field(req, "path").unwrap_or(""))?;
    let userdata = field(req, "userdata")
        .map(|text| {
            serde_json::from_str::<Value>(text)
                .map_err(|_| Error::bad_request("userdata contains invalid JSON"))
        })
        .transpose()?;
    let Some(upload) = req.upload("file") else {
        if let Some(name) = field(req, "foldername") {
            return make_folder(req, &folder, name);
        }
        return Err(Error::bad_request(
            "No file to upload and no folder to create",
        ));
    };
    let name = field(req, "filename")
        .filter(|n| !n.trim().is_empty())
        .unwrap_or(&upload.filename);
    let name = name.rsplit(['/', '\\']).next().unwrap_or(name).trim();
    if name.is_empty() || name == "." || name == ".." {
        return Err(Error::bad_request("Invalid file name"));
    }
    if !is_gcode(name) {
        return Err(Error::unsupported_media_type(format!(
            "Could not upload the file \"{name}\", invalid type"
        )));
    }
    let path = join(&folder, name);
    let printer = printers::get(id).map_err(host)?;
    if printing_file(&printer) == Some(path.as_str()) {
        return Err(Error::conflict(format!(
            "Trying to overwrite file that is currently being printed: {path}"
        )));
    }
    let no_overwrite = field(req, "noOverwrite").is_some_and(errors::truthy);
    let stored = files::store_upload(upload.handle, &path, !no_overwrite).map_err(|e| match e {
        HostError::Conflict(m) => Error::conflict(m),
        HostError::Invalid(m) => Error::unsupported_media_type(m),
        e => host(e),
    })?;
    file_stats::record_upload(
        &stored.path,
        file_stats::Upload {
            user: caller.identity.user.clone(),
            userdata: userdata.clone(),
        },
    )?;
    let want_print = field(req, "print").is_some_and(errors::truthy);
    let want_select = field(req, "select").is_some_and(errors::truthy) || want_print;
    // OctoPrint silently drops select/print when the printer is not ready for them.
    let ready = is_ready(&printer);
    let effective_select = want_select && ready;
    let mut effective_print = false;
    if effective_select {
        job::select(id, &stored.path)?;
        if want_print {
            effective_print = job::start(id, &stored.path).is_ok();
        }
    }
    let location = resource_url(req, &stored.path);
    Ok(Response::created(
        &location,
        &json!({
            "files": {"local": {
                "name": stored.name,
                "display": stored.name,
                "path": stored.path,
                "origin": "local",
                "refs": {"resource": location, "download": download_url(req, &stored.path)},
            }},
            "done": true,
            "userdata": userdata,
            "effectiveSelect": effective_select,
            "effectivePrint": effective_print,
        }),
    ))
}

/// Creates `folder/name`: 201 with the folder (also when it exists already, as OctoPrint
/// answers), 409 for a name with a G-code extension or where a file is.
fn make_folder(req: &Request, folder: &str, name: &str) -> Result<Response, Error> {
    let name = clean_path(name)?;
    if name.is_empty() {
        return Err(Error::bad_request("folder name is empty"));
    }
    if is_gcode(&name) {
        return Err(Error::conflict(
            "Can't create folder, please try another name",
        ));
    }
    let path = join(folder, &name);
    let info = match files::stat(&path) {
        Ok(existing) if existing.is_folder => existing,
        Ok(_) => return Err(Error::conflict(format!("A file exists at {path}"))),
        Err(_) => files::make_folder(&path).map_err(host)?,
    };
    let location = resource_url(req, &info.path);
    Ok(Response::created(
        &location,
        &json!({
            "folder": {
                "name": info.name,
                "path": info.path,
                "origin": "local",
                "refs": {"resource": location},
            },
            "done": true,
        }),
    ))
}

/// The file a printer is printing, if any.
pub fn printing_file(p: &PrinterInfo) -> Option<&str> {
    p.progress.as_ref().map(|pr| pr.file.as_str())
}

/// The `{*path}` of a file route, cleaned; 404 for paths that cannot exist.
fn entry_path(req: &Request) -> Result<String, Error> {
    let raw = req.param_str("path").unwrap_or_default();
    clean_path(raw).map_err(|_| Error::not_found(format!("File not found: {raw}")))
}

/// A library entry, 404 when missing.
fn stat(path: &str) -> Result<FileInfo, Error> {
    files::stat(path).map_err(|e| match e {
        HostError::NotFound(_) | HostError::Invalid(_) => {
            Error::not_found(format!("File not found: {path}"))
        }
        e => host(e),
    })
}

/// `GET/POST/DELETE /api/files/{location}/{*path}`.
pub fn file(req: &Request) -> Result<Response, Error> {
    // A file command checks its permission after parsing the command, as OctoPrint does.
    let access = if req.method() == "DELETE" {
        Access::Control
    } else {
        Access::Read
    };
    let caller = auth::require(req, access)?;
    if location(req)? == "sdcard" {
        return Err(Error::not_found(
            "File not found on the SD card (no card is in use)",
        ));
    }
    let path = entry_path(req)?;
    match req.method() {
        "GET" => {
            let info = stat(&path)?;
            let all = if info.is_folder {
                Some(files::list(&path, recursive(req)).map_err(host)?)
            } else {
                None
            };
            Ok(Response::ok_json(&entry(
                req,
                &info,
                all.as_deref(),
                &stats_for(req)?,
            )))
        }
        "DELETE" => delete(req, &path),
        _ => file_command(req, &caller, &path),
    }
}

/// `DELETE`: 409 while the file (or something in the folder) prints; unselects it.
fn delete(req: &Request, path: &str) -> Result<Response, Error> {
    let id = req.require_printer()?;
    stat(path)?;
    let printer = printers::get(id).map_err(host)?;
    if let Some(printing) = printing_file(&printer) {
        if printing == path || printing.starts_with(&format!("{path}/")) {
            return Err(Error::conflict(format!(
                "Trying to delete a file that is currently being printed: {path}"
            )));
        }
    }
    files::delete(path).map_err(host)?;
    if let Some(sel) = job::selection(id)? {
        if sel.path == path || sel.path.starts_with(&format!("{path}/")) {
            job::unselect(id)?;
        }
    }
    Ok(Response::no_content())
}

/// `POST /api/files/local/{path}`: `select`, `unselect`, `analyse`, `copy`, `move`.
fn file_command(req: &Request, caller: &auth::Caller, path: &str) -> Result<Response, Error> {
    let id = req.require_printer()?;
    let cmd = errors::command_with(
        req,
        &[
            ("select", &[]),
            ("unselect", &[]),
            ("slice", &[]),
            ("analyse", &[]),
            ("copy", &["destination"]),
            ("move", &["destination"]),
        ],
    )?;
    if !caller.identity.role.can_operate() {
        return Err(crate::errors::forbidden());
    }
    if cmd.name == "unselect" {
        return unselect(id, path);
    }
    let info = stat(path)?;
    match cmd.name.as_str() {
        "select" => {
            if info.is_folder || !is_gcode(&info.name) {
                return Err(Error::unsupported_media_type(format!(
                    "Cannot select {path} for printing, not a machinecode file"
                )));
            }
            let printer = printers::get(id).map_err(host)?;
            if !is_ready(&printer) {
                return Err(Error::conflict(
                    "Printer is not operational or already printing, cannot select file",
                ));
            }
            job::select(id, path)?;
            if errors::json_bool(&cmd.data, "print") {
                job::start(id, path)?;
            }
            Ok(Response::no_content())
        }
        // The core analyses every file when it is stored; nothing is left to start.
        "analyse" => Ok(Response::no_content()),
        "slice" => Err(Error::unsupported_media_type(
            "Cannot slice file, no slicer available",
        )),
        _ => copy_or_move(req, &cmd.name, &info, &cmd.data),
    }
}

/// `unselect`: only the selected file (or `current`), only while the printer is ready, with
/// OctoPrint's messages.
fn unselect(id: &str, path: &str) -> Result<Response, Error> {
    let printer = printers::get(id).map_err(host)?;
    if !is_ready(&printer) {
        return Err(Error::conflict(
            "Printer is already printing, cannot unselect current file",
        ));
    }
    let Some(selected) = job::selection(id)? else {
        return Err(Error::conflict(
            "Cannot unselect current file when there is no file selected",
        ));
    };
    if path != selected.path && path != "current" {
        return Err(Error::bad_request(
            "Only the currently selected file can be unselected",
        ));
    }
    job::unselect(id)?;
    Ok(Response::no_content())
}

/// `copy`/`move` with `destination`: into an existing folder, or to a new name; 409 when the
/// target exists or the file prints.
fn copy_or_move(
    req: &Request,
    command: &str,
    info: &FileInfo,
    data: &Map<String, Value>,
) -> Result<Response, Error> {
    let destination = data
        .get("destination")
        .and_then(Value::as_str)
        .ok_or_else(|| Error::bad_request("destination is missing"))?;
    let destination = clean_path(destination)?;
    // An empty destination is the library root, which `stat` does not describe.
    let target = match files::stat(&destination) {
        _ if destination.is_empty() => info.name.clone(),
        Ok(d) if d.is_folder => join(&destination, &info.name),
        Ok(_) => {
            return Err(Error::conflict(format!(
                "File or folder does already exist: {destination}"
            )))
        }
        Err(_) => destination,
    };
    if target.is_empty() {
        return Err(Error::bad_request("Invalid destination"));
    }
    if !info.is_folder && !is_gcode(&target) {
        return Err(Error::unsupported_media_type(format!(
            "Invalid destination name: {target}"
        )));
    }
    if files::stat(&target).is_ok() {
        return Err(Error::conflict(format!(
            "File or folder does already exist: {target}"
        )));
    }
    let id = req.require_printer()?;
    let moved = if command == "move" {
        let printer = printers::get(id).map_err(host)?;
        if let Some(printing) = printing_file(&printer) {
            if printing == info.path || printing.starts_with(&format!("{}/", info.path)) {
                return Err(Error::conflict(
                    "Trying to move a file that is currently being printed",
                ));
            }
        }
        let moved = files::move_(&info.path, &target).map_err(host)?;
        if job::selection(id)?.is_some_and(|s| s.path == info.path) {
            job::select(id, &moved.path)?;
        }
        moved
    } else {
        files::copy(&info.path, &target).map_err(host)?
    };
    let location = resource_url(req, &moved.path);
    let mut refs = json!({"resource": location});
    if !moved.is_folder {
        refs["download"] = json!(download_url(req, &moved.path));
    }
    Ok(Response::created(
        &location,
        &json!({"origin": "local", "name": moved.name, "path": moved.path, "refs": refs}),
    ))
}

/// `GET /downloads/files/{location}/{*path}`: the file, streamed by the host.
pub fn download(req: &Request) -> Result<Response, Error> {
    // OctoPrint serves no SD download at all, so that 404 comes before the key check.
    if location(req)? != "local" {
        return Err(Error::not_found(
            "File not found on the SD card (no card is in use)",
        ));
    }
    auth::require(req, Access::Read)?;
    let path = entry_path(req)?;
    let info = stat(&path)?;
    if info.is_folder {
        return Err(Error::not_found(format!("File not found: {path}")));
    }
    Ok(Response::library_file(&info.path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_cannot_leave_the_library() {
        assert_eq!(clean_path("/a/b/").unwrap(), "a/b");
        assert_eq!(clean_path("").unwrap(), "");
        assert!(clean_path("../etc").is_err());
        assert!(clean_path("a/../../b").is_err());
        assert!(clean_path("a//b").is_err());
        assert!(clean_path("a\\..\\b").is_err());
    }

    #[test]
    fn gcode_names_and_urls() {
        assert!(is_gcode("a.GCODE"));
        assert!(is_gcode("b.gco"));
        assert!(!is_gcode("c.stl"));
        assert!(!is_gcode("gcode"));
        assert_eq!(encode("a b/ü.gcode"), "a%20b/%C3%BC.gcode");
    }
}
