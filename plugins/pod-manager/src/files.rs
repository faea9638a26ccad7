//! `/api/files/…` and `/uploads/…`: uploads go into the farm's one G-code library (under
//! `pod/<id>-<name>`, so two uploads of `part.gcode` never collide), so every printer can print
//! them without a copy. The Pod Manager's integer ids and upload times live in kv:
//!
//! * `files/next`: the last id given out;
//! * `file/<id, zero-padded>`: one [`StoredFile`] (zero-padding makes kv's sorted key listing
//!   the id order, newest last).
//!
//! `file` in the answers is `<base>/uploads/<id>/<name>`, which streams the bytes from the
//! library (the host streams them; they never pass through the plugin). Unlike the original's
//! public media directory it needs the same authentication as the API: farm files are private.

use printfarm_sdk::files;
use printfarm_sdk::{kv, Error, HostError, Request, Response};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::auth;
use crate::drf;
use crate::printers::encode_path;
use crate::time::{now_micros, rfc3339_micros};

/// Where uploads go in the library.
pub const FOLDER: &str = "pod";
/// Most files listed by `GET /api/files/`.
const LIST_LIMIT: u32 = 1000;

/// What the plugin keeps about one upload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredFile {
    /// The Pod Manager id.
    pub id: u64,
    /// The library path (`pod/22-part.gcode`).
    pub path: String,
    /// The file name as uploaded.
    pub filename: String,
    /// When it was uploaded, RFC 3339 with microseconds.
    pub created_at: String,
}

fn key(id: u64) -> String {
    format!("file/{id:012}")
}

/// The upload with this id.
pub fn load(id: u64) -> Option<StoredFile> {
    kv::get_json(&key(id)).ok().flatten()
}

/// An id as clients send it: a number, or a string of one.
pub fn parse_id(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// The file as the API shows it.
pub fn file_json(req: &Request, f: &StoredFile) -> Value {
    let base = req.base_url();
    json!({
        "id": f.id,
        "restUrl": format!("{base}/api/files/{}/", f.id),
        "file": format!("{base}/uploads/{}/{}", f.id, encode_path(&f.filename)),
        "filename": f.filename,
        "createdAt": f.created_at,
    })
}

/// The last path component of a client's file name (browsers on Windows once sent whole paths).
pub fn clean_name(name: &str) -> String {
    name.rsplit(['/', '\\'])
        .next()
        .unwrap_or_default()
        .trim()
        .to_string()
}

/// `GET /api/files/` lists, newest first; `POST` uploads the multipart part `file`.
pub fn files(req: &Request) -> Result<Response, Error> {
    auth::require(req)?;
    if req.method() == "POST" {
        return upload(req);
    }
    let mut keys = kv::list_keys("file/", LIST_LIMIT)?;
    keys.reverse();
    let items: Vec<Value> = keys
        .iter()
        .filter_map(|k| kv::get_json::<StoredFile>(k).ok().flatten())
        .map(|f| file_json(req, &f))
        .collect();
    Ok(Response::ok_json(&items))
}

/// Stores the upload. The `filename` form field is ignored, as documented: the name is the
/// multipart part's.
fn upload(req: &Request) -> Result<Response, Error> {
    let Some(part) = req.upload("file") else {
        return Ok(drf::field_error("file", "No file was submitted."));
    };
    let filename = clean_name(&part.filename);
    if filename.is_empty() {
        return Ok(drf::field_error("file", "No filename could be determined."));
    }
    if part.size == 0 {
        return Ok(drf::field_error("file", "The submitted file is empty."));
    }
    let id = reserve_id()?;
    let path = format!("{FOLDER}/{id}-{filename}");
    match files::store_upload(part.handle, &path, false) {
        Ok(_) => {}
        // The library refuses names and contents that are not G-code: the client's mistake.
        Err(HostError::Invalid(m)) | Err(HostError::Conflict(m)) | Err(HostError::Limit(m)) => {
            let _ = kv::delete(&key(id));
            return Ok(drf::field_error("file", &m));
        }
        Err(e) => {
            let _ = kv::delete(&key(id));
            return Err(e.into());
        }
    }
    let stored = StoredFile {
        id,
        path,
        filename,
        created_at: rfc3339_micros(now_micros()),
    };
    kv::set_json(&key(id), &stored)?;
    let body = file_json(req, &stored);
    let location = body["restUrl"].as_str().unwrap_or_default().to_string();
    Ok(Response::created(&location, &body))
}

/// Claims a fresh id. Requests run concurrently and kv has no compare-and-set, so
/// `kv::increment` alone could hand two uploads the same id: each claim writes a marker with a
/// nonce and reads it back, and moves on to the next id when another upload's marker is there.
/// That narrows the race to near nothing; closing it needs an atomic kv operation.
fn reserve_id() -> Result<u64, Error> {
    for _ in 0..8 {
        let id = kv::increment("files/next", 1)? as u64;
        if kv::get(&key(id))?.is_some() {
            continue;
        }
        let nonce = crate::accounts::random_token();
        kv::set(&key(id), format!("\"claim:{nonce}\""))?;
        if kv::get_string(&key(id))?.is_some_and(|v| v.contains(&nonce)) {
            return Ok(id);
        }
    }
    Err(Error::unavailable("too many concurrent uploads; try again"))
}

/// The upload named by the `id` parameter; DRF's 404 otherwise.
fn find(req: &Request) -> Result<StoredFile, Error> {
    req.param_str("id")
        .and_then(|id| id.parse().ok())
        .and_then(load)
        .ok_or_else(|| Error::not_found(drf::NOT_FOUND))
}

/// `GET /api/files/{id}/`.
pub fn get(req: &Request) -> Result<Response, Error> {
    auth::require(req)?;
    let f = find(req)?;
    Ok(Response::ok_json(&file_json(req, &f)))
}

/// `GET /uploads/{id}/{name}`: the bytes, streamed by the host from the library.
pub fn download(req: &Request) -> Result<Response, Error> {
    auth::require(req)?;
    let f = find(req)?;
    if req.param_str("name") != Some(f.filename.as_str()) {
        return Err(Error::not_found(drf::NOT_FOUND));
    }
    // Gone from the library (deleted through another surface): 404 rather than a host error.
    if files::stat(&f.path).is_err() {
        return Err(Error::not_found(drf::NOT_FOUND));
    }
    let quoted = f.filename.replace(['"', '\\'], "_");
    Ok(Response::library_file(&f.path)
        .with_header("content-type", "application/octet-stream")
        .with_header(
            "content-disposition",
            &format!("inline; filename=\"{quoted}\""),
        ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_ids() {
        assert_eq!(clean_name("C:\\parts\\cube.gcode"), "cube.gcode");
        assert_eq!(clean_name("a/b.gcode"), "b.gcode");
        assert_eq!(parse_id(&json!(3)), Some(3));
        assert_eq!(parse_id(&json!("4")), Some(4));
        assert_eq!(parse_id(&json!("x")), None);
        assert_eq!(key(22), "file/000000000022");
    }

    #[test]
    fn ids_skip_taken_ones() {
        printfarm_sdk::testing::reset();
        assert_eq!(reserve_id().unwrap(), 1);
        // Another upload claimed 2 meanwhile.
        kv::set(&key(2), "\"claim:other\"").unwrap();
        assert_eq!(reserve_id().unwrap(), 3);
        // Claims are not files.
        assert_eq!(load(1), None);
    }
}
