//! `POST /api/printers/transfer` `{file, printers: [ids], print?: bool}` → 202.
//!
//! The original copied the file to each printer's OctoPrint; here every printer already sees
//! the farm library, so there is nothing to copy. With `print: true` the file is queued through
//! the farm core, **one job per printer**, each placed on that printer only: one copy per listed
//! printer is then guaranteed (one job with several copies and a placement list would let one
//! fast printer take two copies while another takes none).
//!
//! Bad input is DRF's 400 with per-field messages, never a 500: unknown printer or file ids,
//! empty lists, bodies that are not JSON (DRF's `JSON parse error - …`).

use printfarm_sdk::jobs::{self, JobSpec, Placement};
use printfarm_sdk::{files as library, printers, Error, Request, Response};
use serde_json::{json, Map, Value};

use crate::auth;
use crate::drf;
use crate::files;
use crate::printers::encode_path;

/// The body: JSON, or the browsable API's form (`_content` holding JSON, or plain fields).
fn body(req: &Request) -> Result<Map<String, Value>, Response> {
    let text = match req.form_field("_content") {
        Some(c) => c.as_bytes().to_vec(),
        None if !req.form_fields().is_empty() => {
            let mut m = Map::new();
            let printers: Vec<Value> = req
                .form_fields()
                .iter()
                .filter(|f| f.name == "printers")
                .map(|f| json!(f.value))
                .collect();
            m.insert("printers".into(), Value::Array(printers));
            for name in ["file", "print"] {
                if let Some(v) = req.form_field(name) {
                    let v = match (name, v) {
                        ("print", "true" | "on" | "1") => json!(true),
                        ("print", _) => json!(false),
                        _ => json!(v),
                    };
                    m.insert(name.into(), v);
                }
            }
            return Ok(m);
        }
        None => req.body().to_vec(),
    };
    match serde_json::from_slice::<Value>(&text) {
        Ok(Value::Object(m)) => Ok(m),
        // DRF's serializer answers a body that is not an object with this.
        Ok(_) => Err(Response::json(
            400,
            &json!({"non_field_errors": ["Invalid data. Expected a dictionary, but got a different type."]}),
        )),
        Err(e) => Err(drf::detail(400, &format!("JSON parse error - {e}"))),
    }
}

/// `POST /api/printers/transfer`.
pub fn transfer(req: &Request) -> Result<Response, Error> {
    auth::require(req)?;
    let body = match body(req) {
        Ok(b) => b,
        Err(res) => return Ok(res),
    };
    let mut errors = Map::new();

    let file = match body.get("file") {
        None | Some(Value::Null) => {
            errors.insert("file".into(), json!([drf::REQUIRED]));
            None
        }
        Some(v) => {
            let found = files::parse_id(v)
                .and_then(files::load)
                // Deleted from the library since: as good as unknown.
                .filter(|f| library::stat(&f.path).is_ok());
            if found.is_none() {
                let shown = v.as_str().map(str::to_string).unwrap_or(v.to_string());
                errors.insert("file".into(), json!([drf::does_not_exist(&shown)]));
            }
            found
        }
    };

    let known: Vec<String> = printers::list()?.into_iter().map(|p| p.id).collect();
    let mut targets: Vec<String> = Vec::new();
    match body.get("printers") {
        None | Some(Value::Null) => {
            errors.insert("printers".into(), json!([drf::REQUIRED]));
        }
        Some(Value::Array(items)) if items.is_empty() => {
            errors.insert("printers".into(), json!(["This list may not be empty."]));
        }
        Some(Value::Array(items)) => {
            let mut bad = Vec::new();
            for item in items {
                let id = match item {
                    Value::String(s) => s.clone(),
                    Value::Number(n) => n.to_string(),
                    other => other.to_string(),
                };
                if !known.contains(&id) {
                    bad.push(json!(drf::does_not_exist(&id)));
                } else if !targets.contains(&id) {
                    targets.push(id);
                }
            }
            if !bad.is_empty() {
                errors.insert("printers".into(), Value::Array(bad));
            }
        }
        Some(_) => {
            errors.insert(
                "printers".into(),
                json!(["Expected a list of items but got type \"str\"."]),
            );
        }
    }

    let print = match body.get("print") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            errors.insert("print".into(), json!(["Must be a valid boolean."]));
            false
        }
    };

    let file = match file {
        Some(f) if errors.is_empty() => f,
        _ => return Ok(Response::json(400, &Value::Object(errors))),
    };

    let mut queued = Vec::new();
    if print {
        for printer in &targets {
            let spec = JobSpec {
                placement: Placement {
                    printers: vec![printer.clone()],
                    tags: Vec::new(),
                },
                ..JobSpec::new(&file.path)
            };
            let job = jobs::enqueue(&spec)?;
            queued.push(json!({"printer": printer, "job": job.id}));
        }
    }
    // Where each printer's OctoPrint surface shows the file (its `local` tree is the library).
    let octoprint_path = format!("local/{}", encode_path(&file.path));
    Ok(Response::json(
        202,
        &json!({
            "file": file.id,
            "printers": targets,
            "print": print,
            "path": octoprint_path,
            "jobs": queued,
        }),
    ))
}
