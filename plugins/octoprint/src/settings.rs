//! The server-level endpoints: version, server, login, current user, settings and connection.

use printfarm_sdk::auth::{self as farm_auth, Role};
use printfarm_sdk::printers::{self, PrinterInfo, PrinterState};
use printfarm_sdk::{kv, Error, Request, Response};
use serde_json::{json, Value};

use crate::auth::{self, Access, Caller};
use crate::errors::{self, host};
use crate::printer::state_text;
use crate::profiles::profile_id;

/// The OctoPrint version this surface imitates (the one the reference was observed against).
pub const OCTOPRINT_VERSION: &str = "1.11.8";

/// How long a session opened by a login lasts (OctoPrint's default "remember me" is 30 days;
/// a client that polls re-logins passively anyway).
const SESSION_TTL_SECS: u32 = 24 * 3600;

/// `GET /api/version`. Needs a key like every API call except login and current user.
pub fn version(req: &Request) -> Result<Response, Error> {
    auth::require(req, Access::Read)?;
    Ok(Response::ok_json(&json!({
        "api": "0.1",
        "server": OCTOPRINT_VERSION,
        "text": format!("OctoPrint {OCTOPRINT_VERSION}"),
    })))
}

/// `GET /api/server`.
pub fn server(req: &Request) -> Result<Response, Error> {
    auth::require(req, Access::Read)?;
    Ok(Response::ok_json(
        &json!({"version": OCTOPRINT_VERSION, "safemode": null}),
    ))
}

/// The user record OctoPrint answers a login with: the access API's record and the session.
fn user_record(caller: &Caller, session: Option<String>) -> Value {
    let mut record = crate::access::user_record(caller);
    record["session"] = json!(session);
    // When credentials were last seen: now, for a login that just checked them.
    record["_credentials_seen"] = json!(crate::clock::now_offset());
    record["_is_external_client"] = json!(false);
    record["_login_mechanism"] = json!("apikey");
    record
}

/// `POST /api/login`: passive (the key's user, JSON `{"passive":true}` or form `passive=True`)
/// or with `user`/`pass`. Open without a key; an anonymous passive login answers OctoPrint's
/// guest record. A password login answers the user's API key, as OctoPrint does: phone apps log
/// in once with a password and use that key from then on.
pub fn login(req: &Request) -> Result<Response, Error> {
    let caller = auth::optional(req)?;
    crate::csrf::check(req, caller.is_some())?;
    let data: serde_json::Map<String, Value> = if req.is_json() {
        errors::json_object(req)?
    } else {
        req.form_fields()
            .iter()
            .map(|f| (f.name.clone(), Value::String(f.value.clone())))
            .collect()
    };
    let field = |k: &str| data.get(k).and_then(Value::as_str).map(str::to_string);
    if let (Some(user), Some(pass)) = (field("user"), field("pass")) {
        let identity = farm_auth::verify_password(&user, &pass)
            .map_err(host)?
            .ok_or_else(|| Error::forbidden("User unknown or password incorrect"))?;
        let session = farm_auth::create_session(&identity.user, SESSION_TTL_SECS).map_err(host)?;
        let key = login_key(&identity.user)?;
        let caller = Caller { identity, key };
        let mut record = user_record(&caller, Some(session));
        record["_login_mechanism"] = json!("password");
        return Ok(Response::ok_json(&record));
    }
    if !data.contains_key("passive") {
        return Err(Error::bad_request(
            "Neither user and pass nor passive given",
        ));
    }
    match caller {
        Some(caller) => {
            let session =
                farm_auth::create_session(&caller.identity.user, SESSION_TTL_SECS).map_err(host)?;
            Ok(Response::ok_json(&user_record(&caller, Some(session))))
        }
        None => Ok(Response::ok_json(&json!({
            "_credentials_seen": false,
            "_is_external_client": false,
            "needs": {"group": ["guests"]},
        }))),
    }
}

/// `POST /api/logout`: ends nothing the farm keeps (a key stays valid; the session the login
/// answered expires by itself) and answers the anonymous user, as OctoPrint does.
pub fn logout(req: &Request) -> Result<Response, Error> {
    let caller = auth::optional(req)?;
    crate::csrf::check(req, caller.is_some())?;
    Ok(Response::ok_json(&json!({"needs": {"group": ["guests"]}})))
}

/// The kv key holding the API key a password login hands out for `user`.
fn login_key_entry(user: &str) -> String {
    format!("login-key/{user}")
}

/// The API key a password login answers for `user`: OctoPrint has one key per user and returns
/// it. The farm keeps only hashes of its keys, so the first password login issues a key
/// labelled "OctoPrint login" and the plugin keeps it (in its own storage) to return it again;
/// a key since revoked or given to another user is replaced.
fn login_key(user: &str) -> Result<String, Error> {
    let entry = login_key_entry(user);
    if let Some(key) = printfarm_sdk::kv::get_json::<String>(&entry).map_err(host)? {
        if farm_auth::verify_api_key(&key)
            .map_err(host)?
            .is_some_and(|who| who.user == user)
        {
            return Ok(key);
        }
    }
    let key = farm_auth::create_api_key(user, "OctoPrint login").map_err(host)?;
    printfarm_sdk::kv::set_json(&entry, &key).map_err(host)?;
    Ok(key)
}

/// `GET /api/currentuser`: open; anonymous callers are guests.
pub fn current_user(req: &Request) -> Result<Response, Error> {
    Ok(Response::ok_json(&match auth::optional(req)? {
        Some(c) => json!({
            "name": c.identity.user,
            "groups": auth::groups(c.identity.role),
            "permissions": auth::permissions(c.identity.role),
        }),
        None => json!({"name": null, "groups": ["guests"], "permissions": []}),
    }))
}

/// A stable UUID for a printer, derived from its id: HA uses `upnpUuid` as the device's unique
/// id, so it must survive restarts without being stored anywhere.
pub fn printer_uuid(printer: &str) -> String {
    // Two FNV-1a 64-bit hashes with different offsets give 128 bits; set the version (5, name
    // based) and variant bits so clients that parse it accept it.
    let fnv = |seed: u64| {
        let mut h = seed;
        for b in b"printfarm-octoprint:".iter().chain(printer.as_bytes()) {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x100_0000_01b3);
        }
        h
    };
    let hi = (fnv(0xcbf2_9ce4_8422_2325) & !0xf000) | 0x5000;
    let lo = (fnv(0x6c62_272e_07bb_0142) & 0x3fff_ffff_ffff_ffff) | 0x8000_0000_0000_0000;
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        hi >> 32,
        (hi >> 16) & 0xffff,
        hi & 0xffff,
        lo >> 48,
        lo & 0xffff_ffff_ffff
    )
}

/// `GET /api/settings`: the subset clients read.
pub fn settings(req: &Request) -> Result<Response, Error> {
    let caller = if req.method() == "POST" {
        // OctoPrint's SETTINGS permission; the body must be an object. Nothing of OctoPrint's
        // settings changes the farm (its printers are configured in printfarm.toml), so the
        // answer is the settings as they stand, as OctoPrint answers after saving.
        let caller = auth::require(req, Access::Admin)?;
        errors::json_object(req)?;
        caller
    } else {
        auth::require(req, Access::Read)?
    };
    let mut all: Value =
        serde_json::from_str(SETTINGS_DEFAULTS).map_err(|e| Error::internal(e.to_string()))?;
    if caller.identity.role != Role::Admin {
        // As OctoPrint: access control and the tracking plugin's event list are for admins.
        if let Some(all) = all.as_object_mut() {
            all.remove("accessControl");
        }
        if let Some(tracking) = all
            .pointer_mut("/plugins/tracking")
            .and_then(Value::as_object_mut)
        {
            tracking.remove("events");
        }
    }
    crate::merge::merge(&mut all, &farm_settings(req, &caller)?);
    Ok(Response::ok_json(&all))
}

/// OctoPrint 1.11's settings as a fresh install answers them (machine paths, keys and ids
/// removed): every key a client may read is there. The farm's own values go over them.
const SETTINGS_DEFAULTS: &str = include_str!("settings_defaults.json");

/// The settings that come from the farm: this printer's name, port, camera and identity.
fn farm_settings(req: &Request, caller: &Caller) -> Result<Value, Error> {
    let id = req.require_printer()?;
    let p = printers::get(id).map_err(host)?;
    let api_key = (caller.identity.role == Role::Admin).then_some(caller.key.clone());
    Ok(json!({
        "api": {"key": api_key, "allowCrossOrigin": false},
        "appearance": {"name": p.name, "color": "default", "colorTransparent": false},
        "feature": {
            "temperatureGraph": true,
            "modelSizeDetection": true,
            "printCancelConfirmation": true,
        },
        "folder": {"uploads": null, "timelapse": null, "watched": null},
        "plugins": {
            "discovery": {"upnpUuid": printer_uuid(id), "publicHost": null, "publicPort": null},
            "tracking": {"enabled": false},
        },
        "printer": {"defaultExtrusionLength": 5},
        "serial": {
            "port": p.port,
            "baudrate": p.baud,
            "portOptions": [p.port],
            "baudrateOptions": [p.baud],
            "autoconnect": true,
        },
        "temperature": {"profiles": [
            {"name": "ABS", "extruder": 210, "bed": 100, "chamber": null},
            {"name": "PLA", "extruder": 180, "bed": 60, "chamber": null},
        ]},
        "webcam": {
            "webcamEnabled": p.webcam_snapshot.is_some(),
            "timelapseEnabled": false,
            "streamUrl": "",
            "snapshotUrl": p.webcam_snapshot.clone().unwrap_or_default(),
            "flipH": false,
            "flipV": false,
            "rotate90": false,
        },
    }))
}

/// `GET /api/connection`.
fn connection_state(p: &PrinterInfo) -> Value {
    let profile = profile_id(p);
    let connected = !matches!(p.state, PrinterState::Offline | PrinterState::Error);
    json!({
        "current": {
            "state": if p.state == PrinterState::Offline { "Closed".to_string() } else { state_text(p) },
            "port": if connected { Value::from(p.port.clone()) } else { Value::Null },
            "baudrate": if connected { Value::from(p.baud) } else { Value::Null },
            "printerProfile": profile,
        },
        "options": {
            "ports": [p.port],
            "baudrates": [p.baud],
            "printerProfiles": [{"id": profile, "name": p.profile.clone().unwrap_or_else(|| "Default".into())}],
            "portPreference": p.port,
            "baudratePreference": p.baud,
            "printerProfilePreference": profile,
            "autoconnect": true,
        },
    })
}

/// `GET/POST /api/connection`: state and options; `connect`, `disconnect`, `fake_ack`.
pub fn connection(req: &Request) -> Result<Response, Error> {
    let id = req.require_printer()?;
    if req.method() == "GET" {
        auth::require(req, Access::Read)?;
        let p = printers::get(id).map_err(host)?;
        return Ok(Response::ok_json(&connection_state(&p)));
    }
    auth::require(req, Access::Control)?;
    let cmd = errors::command(req, &["connect", "disconnect", "fake_ack"])?;
    let p = printers::get(id).map_err(host)?;
    match cmd.name.as_str() {
        "connect" => {
            // The farm owns the device and its speed: a client may name them (OctoPrint's
            // dialog sends what it was offered) but not change them.
            if let Some(port) = cmd.data.get("port") {
                let ok = port
                    .as_str()
                    .is_some_and(|s| s == p.port || s.eq_ignore_ascii_case("AUTO"));
                if !ok {
                    return Err(Error::bad_request(format!("Invalid port: {port}")));
                }
            }
            if let Some(baud) = cmd.data.get("baudrate") {
                let ok = baud.as_u64() == Some(u64::from(p.baud)) || baud.as_u64() == Some(0);
                if !ok {
                    return Err(Error::bad_request(format!("Invalid baudrate: {baud}")));
                }
            }
            // HA sends `printerprofile` in lower case.
            let profile = cmd
                .data
                .get("printerProfile")
                .or_else(|| cmd.data.get("printerprofile"));
            if let Some(profile) = profile {
                if profile.as_str() != Some(profile_id(&p).as_str()) {
                    return Err(Error::bad_request(format!(
                        "Invalid printer profile: {profile}"
                    )));
                }
            }
            for flag in ["save", "autoconnect"] {
                if cmd.data.get(flag).is_some_and(|v| !v.is_boolean()) {
                    return Err(Error::bad_request(format!("{flag} must be a boolean")));
                }
            }
            forget_pending_disconnect(id)?;
            printers::connect(id).map_err(host)?;
        }
        "disconnect" => disconnect(id, &p)?,
        // The farm's engine never waits for a lost ok forever (it asks again after a timeout),
        // so there is nothing to fake.
        _ => {}
    }
    Ok(Response::no_content())
}

/// Disconnects, as OctoPrint does even mid-print: the running print is cancelled (and recorded
/// as cancelled by the farm) and the port closed once the cancel has ended the print, on a
/// later tick; the farm itself never closes a printing printer's port. Answered at once, as
/// OctoPrint answers.
fn disconnect(id: &str, p: &PrinterInfo) -> Result<(), Error> {
    if !p.state.is_busy() {
        return printers::disconnect(id).map_err(host);
    }
    printers::cancel(id).map_err(host)?;
    let mut pending: Vec<String> = kv::get_json(PENDING_DISCONNECTS)
        .map_err(host)?
        .unwrap_or_default();
    if !pending.iter().any(|p| p == id) {
        pending.push(id.to_string());
    }
    kv::set_json(PENDING_DISCONNECTS, &pending).map_err(host)
}

/// Forgets a disconnect still waiting for `printer`'s cancel: a later connect or print start
/// from a client means the printer is wanted again.
pub fn forget_pending_disconnect(printer: &str) -> Result<(), Error> {
    let Some(mut pending) = kv::get_json::<Vec<String>>(PENDING_DISCONNECTS).map_err(host)? else {
        return Ok(());
    };
    pending.retain(|p| p != printer);
    kv::set_json(PENDING_DISCONNECTS, &pending).map_err(host)
}

/// The kv key of the printers whose disconnect waits for their cancelled print to end.
const PENDING_DISCONNECTS: &str = "disconnect-after-cancel";

/// On each tick: closes the ports of printers whose disconnect waited for a cancel to end.
/// One kv read when none waits.
pub fn finish_pending_disconnects() {
    let Ok(Some(pending)) = kv::get_json::<Vec<String>>(PENDING_DISCONNECTS) else {
        return;
    };
    let mut waiting = Vec::new();
    for id in pending {
        match printers::get(&id) {
            Ok(p) if p.state.is_busy() => waiting.push(id),
            Ok(_) => {
                if let Err(e) = printers::disconnect(&id) {
                    printfarm_sdk::log::warn(&format!("disconnecting {id} after its cancel: {e}"));
                }
            }
            // A printer gone from the farm has nothing left to disconnect.
            Err(_) => {}
        }
    }
    let _ = if waiting.is_empty() {
        kv::delete(PENDING_DISCONNECTS)
    } else {
        kv::set_json(PENDING_DISCONNECTS, &waiting)
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printer_uuids_are_stable_distinct_and_well_formed() {
        let a = printer_uuid("v1");
        assert_eq!(a, printer_uuid("v1"));
        assert_ne!(a, printer_uuid("v2"));
        assert_eq!(a.len(), 36);
        assert_eq!(&a[14..15], "5");
    }
}
