//! `/workers`: every farm printer as a worker (`hostname` = the printer's name), enabled or
//! disabled for this API's jobs, plus the workers external managers report.

use printfarm_sdk::http::{self, OutboundRequest};
use printfarm_sdk::printers::{self, PrinterInfo, PrinterState};
use printfarm_sdk::{host_info, Error, Request, Response};
use serde_json::{json, Map, Value};

use crate::access;
use crate::answers;
use crate::args::Args;
use crate::state::Farm;

/// How long `GET /workers` waits for an external manager's list.
const MANAGER_TIMEOUT_MS: u32 = 1_000;

/// `rendering` while it prints, `disabled` when taken out of this API's jobs, `busy` when it is
/// not ready for a new print (paused, waiting for its bed to be cleared), else `enabled`.
fn status(p: &PrinterInfo, farm: &Farm) -> &'static str {
    if farm.disabled.contains(&p.id) {
        "disabled"
    } else if matches!(p.state, PrinterState::Printing) {
        "rendering"
    } else if p.state.is_busy() || p.awaiting_bed_clear {
        "busy"
    } else {
        "enabled"
    }
}

fn connection(p: &PrinterInfo) -> &'static str {
    match p.state {
        PrinterState::Offline | PrinterState::Connecting | PrinterState::Error => "offline",
        _ => "online",
    }
}

fn entry(p: &PrinterInfo, farm: &Farm, req: &Request) -> Value {
    json!({
        "id": p.id,
        "hostname": p.name,
        "status": status(p, farm),
        "connection": connection(p),
        "system": format!("{} ({})", p.details.name, p.port),
        "port": p.port,
        "ip_address": req.base_url(),
        "manager": host_info().node,
    })
}

/// `GET /workers`: `{hostname: {id, hostname, status, connection, system, port, ip_address}}`.
pub fn list(req: &Request) -> Result<Response, Error> {
    access::reader(req)?;
    let farm = Farm::load()?;
    let mut out = Map::new();
    for m in farm.managers.values() {
        let url = format!("{}/workers", m.url());
        if http::check(&url).is_err() {
            continue;
        }
        if let Ok(res) = http::send(OutboundRequest::get(&url).with_timeout_ms(MANAGER_TIMEOUT_MS))
        {
            if let Ok(Value::Object(workers)) = res.json::<Value>() {
                out.extend(workers);
            }
        }
    }
    for p in printers::list()? {
        out.insert(p.name.clone(), entry(&p, &farm, req));
    }
    Ok(Response::ok_json(&Value::Object(out)))
}

/// `GET /workers/{id}`: one printer, with what its page shows.
pub fn get(req: &Request) -> Result<Response, Error> {
    access::reader(req)?;
    let id = req.param_str("id").unwrap_or_default();
    let Some(p) = printers::list()?.into_iter().find(|p| p.id == id) else {
        return Ok(answers::missing(req));
    };
    let farm = Farm::load()?;
    let mut out = entry(&p, &farm, req);
    let temperatures: Map<String, Value> = p
        .temperatures
        .iter()
        .map(|t| {
            (
                t.sensor.clone(),
                json!({"actual": t.actual, "target": t.target}),
            )
        })
        .collect();
    out["update_frequent"] = json!({
        "state": p.state.as_str(),
        "temperatures": temperatures,
        "progress": p.progress.as_ref().map(|g| g.fraction() * 100.0),
        "file": p.progress.as_ref().map(|g| g.file.clone()),
    });
    out["update_less_frequent"] = json!({
        "profile": p.details.name,
        "nozzle_diameter": p.details.nozzle_diameter,
        "extruders": p.details.extruders,
        "awaiting_bed_clear": p.awaiting_bed_clear,
    });
    Ok(Response::ok_json(&out))
}

/// `POST /workers id=<list> status=enabled|disabled`: 204. A disabled printer gets no new task
/// of this API (what it prints goes on); every id must be a printer, or nothing changes.
pub fn set_status(req: &Request) -> Result<Response, Error> {
    access::operator(req)?;
    let args = Args::of(req)?;
    let disable = match args.str("status").map(str::trim) {
        Some("enabled") => false,
        Some("disabled") => true,
        other => {
            return Err(Error::bad_request(format!(
                "`status` must be enabled or disabled, not {}",
                other.map_or("nothing".to_string(), |s| format!("'{s}'"))
            )))
        }
    };
    let ids = args.list("id");
    if ids.is_empty() {
        return Err(Error::bad_request(
            "`id` is required: one worker id or a comma-separated list",
        ));
    }
    let known = printers::list()?;
    if let Some(missing) = ids.iter().find(|i| !known.iter().any(|p| &p.id == *i)) {
        return Err(Error::not_found(format!("worker {missing} does not exist")));
    }
    let mut farm = Farm::load()?;
    for id in ids {
        if disable {
            farm.disabled.insert(id);
        } else {
            farm.disabled.remove(&id);
        }
    }
    crate::dispatch::step(&mut farm)?;
    farm.save()?;
    Ok(Response::empty(204))
}
