//! `/api/printerprofiles`: the printer's profile as OctoPrint describes one, and the profiles a
//! client adds, changes and deletes.
//!
//! The printer's own profile comes from its farm profile (volume, speeds, heaters, extruders):
//! it is the current and default one. Clients may add profiles and change any of them, as they
//! can on an OctoPrint; those are kept in the plugin's storage and shown back, but the farm
//! prints with its own settings — a changed profile here does not move a printer's limits.
//! Reading needs OctoPrint's CONNECTION permission (operators); changing, SETTINGS (admins).

use printfarm_sdk::printers::{self, PrinterInfo};
use printfarm_sdk::{kv, Error, Request, Response};
use serde_json::{json, Map, Value};

use crate::auth::{self, Access};
use crate::errors::{self, host};
use crate::merge::merge;

/// The printer profile id OctoPrint clients see: the farm profile's name, else `_default`.
pub fn profile_id(p: &PrinterInfo) -> String {
    p.profile.clone().unwrap_or_else(|| "_default".to_string())
}

/// The profile of a printer as OctoPrint describes it, from the printer's farm profile.
pub fn profile(req: &Request, p: &PrinterInfo) -> Value {
    let id = profile_id(p);
    let d = &p.details;
    let (width, depth, height) = d.volume;
    let (x, y, z, e) = d.max_speeds;
    json!({
        "id": id,
        "name": p.profile.clone().unwrap_or_else(|| "Default".into()),
        "model": p.name,
        "color": "default",
        "current": true,
        "default": true,
        "heatedBed": d.heated_bed,
        "heatedChamber": d.heated_chamber,
        "volume": {
            "width": width,
            "depth": depth,
            "height": height,
            "formFactor": if d.circular_bed { "circular" } else { "rectangular" },
            "origin": if d.origin_center { "center" } else { "lowerleft" },
            "custom_box": false,
        },
        "axes": {
            "x": {"speed": x, "inverted": false},
            "y": {"speed": y, "inverted": false},
            "z": {"speed": z, "inverted": false},
            "e": {"speed": e, "inverted": false},
        },
        "extruder": {
            "count": d.extruders,
            "offsets": vec![[0.0, 0.0]; d.extruders as usize],
            "nozzleDiameter": d.nozzle_diameter,
            "sharedNozzle": false,
            "defaultExtrusionLength": 5,
        },
        "resource": req.url_for(&format!("/api/printerprofiles/{id}")),
    })
}

/// The kv key of a printer's client-made profiles (and changes to its own): id → profile.
fn stored_key(printer: &str) -> String {
    format!("profiles/{printer}")
}

fn stored(printer: &str) -> Result<Map<String, Value>, Error> {
    Ok(kv::get_json(&stored_key(printer))
        .map_err(host)?
        .unwrap_or_default())
}

fn save(printer: &str, profiles: &Map<String, Value>) -> Result<(), Error> {
    kv::set_json(&stored_key(printer), profiles).map_err(host)
}

/// Every profile by id: the printer's own (as changed by clients), then the added ones, each
/// with its `current`, `default` and `resource` set as this printer sees them.
fn all(req: &Request, p: &PrinterInfo) -> Result<Map<String, Value>, Error> {
    let own_id = profile_id(p);
    let mut stored = stored(&p.id)?;
    let mut own = profile(req, p);
    if let Some(changes) = stored.remove(&own_id) {
        merge(&mut own, &changes);
    }
    let mut out = Map::new();
    out.insert(own_id.clone(), own);
    for (id, mut other) in stored {
        other["id"] = json!(id);
        other["current"] = json!(false);
        other["default"] = json!(false);
        other["resource"] = json!(req.url_for(&format!("/api/printerprofiles/{id}")));
        out.insert(id, other);
    }
    Ok(out)
}

/// The `profile` object of a change's body; 400 without one.
fn profile_of(req: &Request) -> Result<Value, Error> {
    let body = errors::json_object(req)?;
    match body.get("profile") {
        Some(p @ Value::Object(_)) => Ok(p.clone()),
        _ => Err(Error::bad_request("profile is missing")),
    }
}

/// `GET /api/printerprofiles` and `POST` (a new profile, based on the printer's own).
pub fn list(req: &Request) -> Result<Response, Error> {
    let p = printers::get(req.require_printer()?).map_err(host)?;
    if req.method() == "GET" {
        auth::require(req, Access::Control)?;
        return Ok(Response::ok_json(&json!({"profiles": all(req, &p)?})));
    }
    auth::require(req, Access::Admin)?;
    let new = profile_of(req)?;
    let id = new
        .get("id")
        .and_then(Value::as_str)
        .or_else(|| new.get("name").and_then(Value::as_str))
        .map(slug)
        .filter(|id| !id.is_empty())
        .ok_or_else(|| Error::bad_request("profile must have an id or a name"))?;
    let profiles = all(req, &p)?;
    if profiles.contains_key(&id) {
        return Err(Error::conflict(format!(
            "Profile with id {id} already exists"
        )));
    }
    let mut created = profile(req, &p);
    merge(&mut created, &new);
    let mut stored = stored(&p.id)?;
    stored.insert(id.clone(), created);
    save(&p.id, &stored)?;
    let shown = all(req, &p)?.remove(&id).unwrap_or_default();
    Ok(Response::ok_json(&json!({ "profile": shown })))
}

/// `GET`, `PATCH` (creating a missing one, as OctoPrint does) and `DELETE
/// /api/printerprofiles/{id}`. The current profile cannot be deleted (409).
pub fn one(req: &Request) -> Result<Response, Error> {
    let p = printers::get(req.require_printer()?).map_err(host)?;
    let id: String = req.param("id")?;
    match req.method() {
        "GET" => {
            auth::require(req, Access::Control)?;
            let profile = all(req, &p)?
                .remove(&id)
                .ok_or_else(|| Error::not_found(crate::errors::NOT_FOUND))?;
            Ok(Response::ok_json(&profile))
        }
        "PATCH" => {
            auth::require(req, Access::Admin)?;
            let changes = profile_of(req)?;
            let mut stored = stored(&p.id)?;
            let entry = stored.entry(id.clone()).or_insert_with(|| {
                if id == profile_id(&p) {
                    json!({})
                } else {
                    profile(req, &p)
                }
            });
            merge(entry, &changes);
            save(&p.id, &stored)?;
            let shown = all(req, &p)?.remove(&id).unwrap_or_default();
            Ok(Response::ok_json(&json!({ "profile": shown })))
        }
        _ => {
            auth::require(req, Access::Admin)?;
            if id == profile_id(&p) {
                return Err(Error::conflict("Cannot delete currently selected profile"));
            }
            let mut stored = stored(&p.id)?;
            if stored.remove(&id).is_some() {
                save(&p.id, &stored)?;
            }
            Ok(Response::no_content())
        }
    }
}

/// A profile id from a name, as OctoPrint makes one: lower case, runs of other characters as `_`.
fn slug(name: &str) -> String {
    let mut out = String::new();
    for c in name.trim().chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if c == '-' || c == '_' {
            out.push(c);
        } else if !out.ends_with('_') {
            out.push('_');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_made_from_names() {
        assert_eq!(slug("My Printer (0.6)"), "my_printer_0_6_");
    }
}
