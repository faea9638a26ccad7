//! `farmhand`: a printfarm test plugin that reaches the farm core only through the WIT host
//! interfaces `auth`, `files`, `jobs` and `printers`, so the end-to-end tests can prove that what a
//! plugin asks for really happens in the core (and that what the operator did not grant is
//! refused).
//!
//! Routes (mounted at `/farmhand`), all answering JSON:
//!
//! | route                          | host call(s) |
//! |--------------------------------|--------------|
//! | `GET /identity`                | `X-Api-Key` → `auth::verify_api_key` → `{"user","role"}`, 403 `{"error":"bad key"}` |
//! | `POST /login`                  | form or JSON `{"user","password"[,"ttl_secs"]}` → `verify_password` → `create_session` → `{"token","user","role"}` |
//! | `GET /session/{token}`         | `check_session` → `{"user","role"}`, 404 `{"error":…}` when unknown or ended |
//! | `DELETE /session/{token}`      | `end_session` → 204 |
//! | `POST /store`                  | multipart `file` part + `path` field → `files::store_upload(…, overwrite=false)` → 201 file info |
//! | `GET /files`                   | `files::list("", true)` |
//! | `GET /files/{*path}`           | `files::stat` |
//! | `DELETE /files/{*path}`        | `files::delete` → 204 |
//! | `POST /folder/{*path}`         | `files::make_folder` → 201 |
//! | `POST /move`, `POST /copy`     | JSON `{"source","destination"}` → `files::move_` (200) / `files::copy` (201) |
//! | `POST /jobs`                   | JSON `{"file"[,"copies","priority","placement":{"printers","tags"}]}` → `jobs::enqueue` → 201 |
//! | `GET /jobs`, `GET /jobs/{id}`  | `jobs::list`, `jobs::get` |
//! | `POST /jobs/{id}/cancel`       | `jobs::cancel` → 204 |
//! | `PUT /jobs/{id}/priority`      | JSON `{"priority"}` → `jobs::set_priority` → 204 |
//! | `POST /tasks/{id}/retry`       | `jobs::retry_task` → 204 |
//! | `GET /history`                 | query `printer`, `file`, `limit` (default 100) → `jobs::history` |
//! | `POST /print/{printer}`        | JSON `{"file"}` → `printers::start_print` → 202 |
//! | `POST /bed-cleared/{printer}`  | `printers::bed_cleared` → 204 |
//! | `POST /pause/{printer}`        | JSON `{"reason"}` → `printers::pause_with_reason`, empty body → `printers::pause`; 204 |
//! | `POST /resume/{printer}`       | `printers::resume` → 204 |
//! | `GET /snapshot/{printer}`      | `camera::snapshot` → `{"content_type","bytes","generated","jpeg"}` (`jpeg`: it starts as one) |
//!
//! A failed host call answers `{"error_kind": "<WIT variant>", "message": "<host message>"}` with
//! the SDK's status for that kind ([`HostError::status`]), so a test can tell *which* host error
//! came back, not only that something failed. Malformed requests answer the SDK's default
//! `{"error": …}` shape.

use printfarm_sdk::auth::Identity;
use printfarm_sdk::jobs::{JobSpec, Placement};
use printfarm_sdk::{
    auth, camera, files, jobs, printers, Error, HostError, Plugin, Request, Response,
};
use printfarm_sdk::{Router, Upload};
use serde::Deserialize;
use serde_json::json;

/// How long a session opened by `POST /login` lasts unless the client asks otherwise.
const DEFAULT_SESSION_SECS: u32 = 3600;
/// How many history records `GET /history` returns unless the client asks otherwise.
const DEFAULT_HISTORY_LIMIT: u32 = 100;

/// The plugin: its routes only; it has no state and subscribes to nothing.
pub struct Farmhand;

impl Plugin for Farmhand {
    fn router() -> Router {
        Router::new()
            .get("/identity", answer(identity))
            .post("/login", answer(login))
            .get("/session/{token}", answer(check_session))
            .delete("/session/{token}", answer(end_session))
            .post("/store", answer(store))
            .get("/files", answer(list_files))
            .get("/files/{*path}", answer(stat_file))
            .delete("/files/{*path}", answer(delete_file))
            .post("/folder/{*path}", answer(make_folder))
            .post("/move", answer(move_entry))
            .post("/copy", answer(copy_entry))
            .get("/jobs", answer(list_jobs))
            .post("/jobs", answer(enqueue))
            .get("/jobs/{id}", answer(get_job))
            .post("/jobs/{id}/cancel", answer(cancel_job))
            .put("/jobs/{id}/priority", answer(set_priority))
            .post("/tasks/{id}/retry", answer(retry_task))
            .get("/history", answer(history))
            .post("/print/{printer}", answer(start_print))
            .post("/bed-cleared/{printer}", answer(bed_cleared))
            .post("/pause/{printer}", answer(pause))
            .post("/resume/{printer}", answer(resume))
            .get("/snapshot/{printer}", answer(snapshot))
    }
}

/// Why a route failed.
///
/// Host errors are kept apart from request errors because the SDK's `Error` keeps only a status
/// and a message: the tests need the host error's *kind* (`denied`, `invalid`, `not-found`…).
pub enum Failure {
    /// A host call failed; answered as `{"error_kind","message"}`.
    Host(HostError),
    /// The request was malformed or refused by the plugin itself; answered as `{"error"}`.
    Http(Error),
}

impl From<HostError> for Failure {
    fn from(e: HostError) -> Self {
        Failure::Host(e)
    }
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Failure::Http(e)
    }
}

/// What a farmhand handler returns; `?` works on both host calls and request parsing.
pub type Outcome = Result<Response, Failure>;

/// Adapts a farmhand handler to the SDK router: host errors become `{"error_kind","message"}`
/// responses here, request errors go on to the router's default error shape.
fn answer(handler: fn(&Request) -> Outcome) -> impl Fn(&Request) -> Result<Response, Error> {
    move |req| match handler(req) {
        Ok(res) => Ok(res),
        Err(Failure::Host(e)) => Ok(host_error(&e)),
        Err(Failure::Http(e)) => Err(e),
    }
}

/// A failed host call as the client sees it, with the SDK's status for its kind.
pub fn host_error(e: &HostError) -> Response {
    Response::json(
        e.status(),
        &json!({ "error_kind": e.kind(), "message": e.message() }),
    )
}

/// An identity as `{"user","role"}`.
fn identity_json(who: &Identity) -> serde_json::Value {
    json!({ "user": who.user, "role": who.role.as_str() })
}

fn identity(req: &Request) -> Outcome {
    let key = req
        .header("x-api-key")
        .ok_or_else(|| Error::unauthorized("missing X-Api-Key header"))?;
    match auth::verify_api_key(key)? {
        Some(who) => Ok(Response::ok_json(&identity_json(&who))),
        None => Err(Error::forbidden("bad key").into()),
    }
}

/// The body of `POST /login`.
#[derive(Deserialize)]
struct Credentials {
    #[serde(alias = "username")]
    user: String,
    password: String,
    ttl_secs: Option<u32>,
}

fn login(req: &Request) -> Outcome {
    // Browsers post forms, scripts post JSON: accept both.
    let creds: Credentials = if req.is_json() {
        req.json()?
    } else {
        req.form()?
    };
    let who = auth::verify_password(&creds.user, &creds.password)?
        .ok_or_else(|| Error::forbidden("bad user name or password"))?;
    let ttl = creds.ttl_secs.unwrap_or(DEFAULT_SESSION_SECS);
    let token = auth::create_session(&who.user, ttl)?;
    Ok(Response::ok_json(&json!({
        "token": token,
        "user": who.user,
        "role": who.role.as_str(),
    })))
}

fn check_session(req: &Request) -> Outcome {
    let token: String = req.param("token")?;
    match auth::check_session(&token)? {
        Some(who) => Ok(Response::ok_json(&identity_json(&who))),
        None => Err(Error::not_found("unknown or expired session").into()),
    }
}

fn end_session(req: &Request) -> Outcome {
    let token: String = req.param("token")?;
    auth::end_session(&token)?;
    Ok(Response::no_content())
}

fn store(req: &Request) -> Outcome {
    let upload: &Upload = req
        .upload("file")
        .ok_or_else(|| Error::bad_request("expected a multipart file part named `file`"))?;
    // Without a `path` field the client's file name is the path, as slicers upload.
    let path = req.form_field("path").unwrap_or(&upload.filename);
    let stored = files::store_upload(upload.handle, path, false)?;
    Ok(Response::created(
        &req.url_for(&format!("/files/{}", stored.path)),
        &stored,
    ))
}

fn list_files(_: &Request) -> Outcome {
    Ok(Response::ok_json(&files::list("", true)?))
}

fn stat_file(req: &Request) -> Outcome {
    let path: String = req.param("path")?;
    Ok(Response::ok_json(&files::stat(&path)?))
}

fn delete_file(req: &Request) -> Outcome {
    let path: String = req.param("path")?;
    files::delete(&path)?;
    Ok(Response::no_content())
}

fn make_folder(req: &Request) -> Outcome {
    let path: String = req.param("path")?;
    let folder = files::make_folder(&path)?;
    Ok(Response::json(201, &folder))
}

/// The body of `POST /move` and `POST /copy`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Transfer {
    source: String,
    destination: String,
}

fn move_entry(req: &Request) -> Outcome {
    let t: Transfer = req.json()?;
    Ok(Response::ok_json(&files::move_(&t.source, &t.destination)?))
}

fn copy_entry(req: &Request) -> Outcome {
    let t: Transfer = req.json()?;
    Ok(Response::json(
        201,
        &files::copy(&t.source, &t.destination)?,
    ))
}

/// The body of `POST /jobs`: the WIT `job-spec` with the host API's defaults, so clients only
/// name what they change.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JobRequest {
    file: String,
    #[serde(default = "one")]
    copies: u32,
    #[serde(default)]
    priority: i32,
    #[serde(default)]
    placement: PlacementRequest,
}

/// `placement` of a [`JobRequest`]; both lists default to empty (any printer).
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct PlacementRequest {
    #[serde(default)]
    printers: Vec<String>,
    #[serde(default)]
    tags: Vec<String>,
}

fn one() -> u32 {
    1
}

fn enqueue(req: &Request) -> Outcome {
    let r: JobRequest = req.json()?;
    let spec = JobSpec {
        file: r.file,
        copies: r.copies,
        priority: r.priority,
        placement: Placement {
            printers: r.placement.printers,
            tags: r.placement.tags,
        },
    };
    let job = jobs::enqueue(&spec)?;
    Ok(Response::created(
        &req.url_for(&format!("/jobs/{}", job.id)),
        &job,
    ))
}

fn list_jobs(_: &Request) -> Outcome {
    Ok(Response::ok_json(&jobs::list()?))
}

fn get_job(req: &Request) -> Outcome {
    let id: String = req.param("id")?;
    Ok(Response::ok_json(&jobs::get(&id)?))
}

fn cancel_job(req: &Request) -> Outcome {
    let id: String = req.param("id")?;
    jobs::cancel(&id)?;
    Ok(Response::no_content())
}

/// The body of `PUT /jobs/{id}/priority`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Priority {
    priority: i32,
}

fn set_priority(req: &Request) -> Outcome {
    let id: String = req.param("id")?;
    let Priority { priority } = req.json()?;
    jobs::set_priority(&id, priority)?;
    Ok(Response::no_content())
}

fn retry_task(req: &Request) -> Outcome {
    let id: String = req.param("id")?;
    jobs::retry_task(&id)?;
    Ok(Response::no_content())
}

/// The query of `GET /history`.
#[derive(Deserialize)]
struct HistoryQuery {
    printer: Option<String>,
    file: Option<String>,
    limit: Option<u32>,
}

fn history(req: &Request) -> Outcome {
    let q: HistoryQuery = req.query()?;
    let records = jobs::history(
        q.printer.as_deref(),
        q.file.as_deref(),
        q.limit.unwrap_or(DEFAULT_HISTORY_LIMIT),
    )?;
    Ok(Response::ok_json(&records))
}

/// The body of `POST /print/{printer}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PrintRequest {
    file: String,
}

fn start_print(req: &Request) -> Outcome {
    let printer: String = req.param("printer")?;
    let PrintRequest { file } = req.json()?;
    printers::start_print(&printer, &file)?;
    // 202: the print starts on the printer's own schedule, not within this request.
    Ok(Response::json(
        202,
        &json!({ "printer": printer, "file": file }),
    ))
}

fn bed_cleared(req: &Request) -> Outcome {
    let printer: String = req.param("printer")?;
    printers::bed_cleared(&printer)?;
    Ok(Response::no_content())
}

/// `{"reason"}`, the body of `POST /pause/{printer}`.
#[derive(Deserialize)]
struct PauseBody {
    reason: String,
}

fn pause(req: &Request) -> Outcome {
    let printer: String = req.param("printer")?;
    if req.body().is_empty() {
        printers::pause(&printer)?;
    } else {
        let PauseBody { reason } = req.json()?;
        printers::pause_with_reason(&printer, &reason)?;
    }
    Ok(Response::no_content())
}

fn resume(req: &Request) -> Outcome {
    let printer: String = req.param("printer")?;
    printers::resume(&printer)?;
    Ok(Response::no_content())
}

/// What came back, not the picture: the test needs to know its kind and size.
fn snapshot(req: &Request) -> Outcome {
    let printer: String = req.param("printer")?;
    let shot = camera::snapshot(&printer)?;
    Ok(Response::ok_json(&json!({
        "content_type": shot.content_type,
        "bytes": shot.data.len(),
        "generated": shot.generated,
        "jpeg": shot.data.starts_with(&[0xFF, 0xD8, 0xFF]),
    })))
}

printfarm_sdk::export_plugin!(Farmhand);

#[cfg(test)]
mod tests {
    use super::*;

    /// The router must register every route of the manifest, or the host would route requests the
    /// plugin answers with 404.
    #[test]
    fn router_matches_the_manifest() {
        let manifest = include_str!("../plugin.toml");
        let mut declared = Vec::new();
        for line in manifest.lines() {
            let line = line.trim();
            if let Some(route) = line.strip_prefix('"').and_then(|l| l.strip_suffix("\",")) {
                if let Some((methods, path)) = route.split_once(' ') {
                    if path.starts_with('/') {
                        for m in methods.split(',') {
                            declared.push(format!("{m} {path}"));
                        }
                    }
                }
            }
        }
        let mut registered = Farmhand::router().route_table();
        declared.sort();
        registered.sort();
        assert_eq!(declared, registered);
    }

    #[test]
    fn host_errors_keep_their_kind() {
        let res = host_error(&HostError::Denied("capability `jobs.read` denied".into()));
        assert_eq!(res.status(), 500);
        let body: serde_json::Value = res.body_json().unwrap();
        assert_eq!(body["error_kind"], "denied");
        assert_eq!(body["message"], "capability `jobs.read` denied");
    }

    #[test]
    fn request_errors_use_the_default_shape() {
        let req = Request::builder("POST", "/jobs")
            .header("content-type", "application/json")
            .body("{\"copies\": 2}")
            .build();
        let res = Farmhand::router().handle(&req);
        assert_eq!(res.status(), 400);
        let body: serde_json::Value = res.body_json().unwrap();
        assert!(body["error"].as_str().unwrap().contains("file"), "{body}");
    }
}
