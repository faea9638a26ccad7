//! `/api/printer…`: state, temperatures, heaters, print head, raw commands and the (absent) SD card.

use std::collections::BTreeMap;

use printfarm_sdk::printers::{self, PrinterInfo, PrinterState};
use printfarm_sdk::{kv, Error, Request, Response};
use serde_json::{json, Map, Value};

use crate::auth::{self, Access};
use crate::errors::{self, host, not_operational};

/// OctoPrint's state string for a printer.
pub fn state_text(p: &PrinterInfo) -> String {
    p.state.octoprint_text().to_string()
}

/// Whether OctoPrint would call the printer operational (connected, printing or not).
pub fn is_operational(p: &PrinterInfo) -> bool {
    !matches!(
        p.state,
        PrinterState::Offline | PrinterState::Connecting | PrinterState::Error
    )
}

/// Whether OctoPrint's `is_printing()` holds: printing, pausing or cancelling, not paused. Jog
/// and extrude are allowed while paused (to clear a nozzle, move the head away).
pub fn is_printing(p: &PrinterInfo) -> bool {
    matches!(
        p.state,
        PrinterState::Printing | PrinterState::Pausing | PrinterState::Cancelling
    )
}

/// Whether a print may start: operational and idle.
pub fn is_ready(p: &PrinterInfo) -> bool {
    p.state == PrinterState::Operational
}

/// OctoPrint's `state` object: text, error and every flag.
pub fn state_object(p: &PrinterInfo) -> Value {
    let s = p.state;
    let error = if s == PrinterState::Error {
        p.state_reason.clone().unwrap_or_default()
    } else {
        String::new()
    };
    json!({
        "text": state_text(p),
        "error": error,
        "flags": s.octoprint_flags(),
    })
}

/// Whether the printer has a heated bed and a heated chamber: as its farm profile says, or as
/// the sensors its firmware reports show.
pub fn heaters(p: &PrinterInfo) -> (bool, bool) {
    let has = |s: &str| p.temperatures.iter().any(|t| t.sensor == s);
    (
        p.details.heated_bed || has("bed"),
        p.details.heated_chamber || has("chamber"),
    )
}

/// The kv key of a printer's temperature offsets. OctoPrint keeps offsets per connection; the
/// farm has no such notion, so the plugin keeps them to report them back.
fn offsets_key(printer: &str) -> String {
    format!("offsets/{printer}")
}

/// A printer's temperature offsets by heater.
pub fn offsets(printer: &str) -> Result<BTreeMap<String, f64>, Error> {
    Ok(kv::get_json(&offsets_key(printer))
        .map_err(host)?
        .unwrap_or_default())
}

/// The printer, which must be operational (409 otherwise, as OctoPrint answers).
fn operational(id: &str) -> Result<PrinterInfo, Error> {
    let p = printers::get(id).map_err(host)?;
    if !is_operational(&p) {
        return Err(not_operational());
    }
    Ok(p)
}

/// `GET /api/printer`: 409 when not operational; `exclude`, `history`, `limit`.
pub fn get(req: &Request) -> Result<Response, Error> {
    auth::require(req, Access::Read)?;
    let id = req.require_printer()?;
    let p = operational(id)?;
    let exclude: Vec<String> = req
        .query_param("exclude")
        .map(|e| e.split(',').map(|s| s.trim().to_string()).collect())
        .unwrap_or_default();
    let mut out = Map::new();
    if !exclude.iter().any(|e| e == "temperature") {
        out.insert(
            "temperature".into(),
            Value::Object(temperature_data(req, &p, |_| true, true)?),
        );
    }
    if !exclude.iter().any(|e| e == "sd") {
        out.insert("sd".into(), json!({"ready": false}));
    }
    if !exclude.iter().any(|e| e == "state") {
        out.insert("state".into(), state_object(&p));
    }
    Ok(Response::ok_json(&Value::Object(out)))
}

/// The printer's current temperatures (`{sensor: {actual, target, offset}}`) of the sensors
/// `keep` accepts, and with `?history=true` (and `limit`, default 300) the recent samples under
/// `history`. OctoPrint filters the history entries with the same rule, so the per-heater
/// routes drop each entry's `time` (`with_time` false) while `/api/printer` keeps it.
fn temperature_data(
    req: &Request,
    p: &PrinterInfo,
    keep: impl Fn(&str) -> bool,
    with_time: bool,
) -> Result<Map<String, Value>, Error> {
    let offsets = offsets(&p.id)?;
    let mut temps = Map::new();
    // Before the first report (or from firmware that reports nothing) the heaters a client
    // expects are there with null readings: Home Assistant creates its sensors from the first
    // answer it gets and never adds one later.
    let (heated_bed, _) = heaters(p);
    let expected = std::iter::once("tool0").chain(heated_bed.then_some("bed"));
    for sensor in expected.filter(|s| keep(s)) {
        temps.insert(
            sensor.into(),
            json!({"actual": null, "target": null, "offset": offsets.get(sensor).copied().unwrap_or(0.0)}),
        );
    }
    for t in p.temperatures.iter().filter(|t| keep(&t.sensor)) {
        temps.insert(
            t.sensor.clone(),
            json!({
                "actual": t.actual,
                "target": t.target,
                "offset": offsets.get(&t.sensor).copied().unwrap_or(0.0),
            }),
        );
    }
    let wants_history = req
        .query_param("history")
        .is_some_and(|h| errors::truthy(&h));
    if wants_history {
        // A limit that is not a plain number is ignored, as OctoPrint does.
        let limit = req
            .query_param("limit")
            .and_then(|l| l.parse::<u32>().ok())
            .unwrap_or(300);
        let samples = printers::temperature_history(&p.id, limit).map_err(host)?;
        let history: Vec<Value> = samples
            .iter()
            .map(|s| {
                let mut entry = Map::new();
                if with_time {
                    entry.insert("time".into(), json!(s.time / 1000));
                }
                for t in s.readings.iter().filter(|t| keep(&t.sensor)) {
                    entry.insert(
                        t.sensor.clone(),
                        json!({"actual": t.actual, "target": t.target}),
                    );
                }
                Value::Object(entry)
            })
            .collect();
        temps.insert("history".into(), Value::Array(history));
    }
    Ok(temps)
}

/// `GET /api/printer/tool`, `/bed`, `/chamber`: one kind of heater's temperatures (409 while
/// not operational, or without that heater).
fn heater_state(req: &Request, kind: &str) -> Result<Response, Error> {
    auth::require(req, Access::Read)?;
    let id = req.require_printer()?;
    let p = operational(id)?;
    let (bed, chamber) = heaters(&p);
    if (kind == "bed" && !bed) || (kind == "chamber" && !chamber) {
        return Err(Error::conflict(format!(
            "Printer does not have a heated {kind}"
        )));
    }
    let data = if kind == "tool" {
        temperature_data(req, &p, |s| s.starts_with("tool"), false)?
    } else {
        temperature_data(req, &p, |s| s == kind, false)?
    };
    Ok(Response::ok_json(&Value::Object(data)))
}

/// `GET /api/printer/error`: the last error, empty strings when there was none.
pub fn error(req: &Request) -> Result<Response, Error> {
    auth::require(req, Access::Read)?;
    let id = req.require_printer()?;
    let p = printers::get(id).map_err(host)?;
    let (error, reason) = match (p.state, p.state_reason) {
        (PrinterState::Error, Some(why)) => (why, "firmware"),
        _ => (String::new(), ""),
    };
    Ok(Response::ok_json(
        &json!({"error": error, "reason": reason}),
    ))
}

/// `GET /api/printer/command/custom`: the farm configures no custom control panels.
pub fn custom_controls(req: &Request) -> Result<Response, Error> {
    auth::require(req, Access::Control)?;
    Ok(Response::ok_json(&json!({"controls": []})))
}

/// Checks a temperature target or offset value.
fn temperature(value: &Value, what: &str) -> Result<f64, Error> {
    value
        .as_f64()
        .ok_or_else(|| Error::bad_request(format!("{what} must be a number")))
}

/// Sets the targets of the named heaters.
fn set_targets(id: &str, targets: &[(String, f64)]) -> Result<(), Error> {
    for (heater, t) in targets {
        printers::set_temperature(id, heater, *t).map_err(host)?;
    }
    Ok(())
}

/// Stores offsets for the named heaters (OctoPrint's range is -50 to 50).
fn set_offsets(id: &str, values: &[(String, f64)]) -> Result<(), Error> {
    let mut all = offsets(id)?;
    for (heater, v) in values {
        if !(-50.0..=50.0).contains(v) {
            return Err(Error::bad_request(format!(
                "Offset for {heater} must be between -50 and 50"
            )));
        }
        all.insert(heater.clone(), *v);
    }
    kv::set_json(&offsets_key(id), &all).map_err(host)?;
    Ok(())
}

/// A `{"tool0": n, …}` object of tool values.
fn tool_values(data: &Map<String, Value>, key: &str) -> Result<Vec<(String, f64)>, Error> {
    let obj = data
        .get(key)
        .and_then(Value::as_object)
        .ok_or_else(|| Error::bad_request(format!("{key} is missing or not an object")))?;
    let mut out = Vec::new();
    for (tool, v) in obj {
        let valid = tool
            .strip_prefix("tool")
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
        if !valid {
            return Err(Error::bad_request(format!("Invalid tool: {tool}")));
        }
        out.push((tool.clone(), temperature(v, tool)?));
    }
    Ok(out)
}

/// Sets a feed or flow rate factor (`M220`/`M221`) as OctoPrint converts it: an integer is a
/// percentage, a fraction (a JSON float such as `0.9`) is multiplied by 100; at least 1, no upper
/// bound; anything else is 400 "factor is invalid".
fn set_factor(id: &str, data: &Map<String, Value>, gcode: &str) -> Result<(), Error> {
    let invalid = || Error::bad_request("factor is invalid");
    let factor = match data.get("factor") {
        Some(Value::Number(n)) if n.is_i64() || n.is_u64() => n.as_f64().ok_or_else(invalid)?,
        Some(Value::Number(n)) => (n.as_f64().ok_or_else(invalid)? * 100.0).trunc(),
        _ => return Err(invalid()),
    };
    if factor < 1.0 {
        return Err(invalid());
    }
    printers::send_commands(id, [format!("{gcode} S{factor}")]).map_err(host)?;
    Ok(())
}

/// `POST /api/printer/tool`: `target`, `offset`, `select`, `extrude`, `flowrate`.
pub fn tool(req: &Request) -> Result<Response, Error> {
    if req.method() == "GET" {
        return heater_state(req, "tool");
    }
    auth::require(req, Access::Control)?;
    let id = req.require_printer()?;
    let p = operational(id)?;
    let cmd = errors::command(req, &["select", "target", "offset", "extrude", "flowrate"])?;
    match cmd.name.as_str() {
        "target" => set_targets(id, &tool_values(&cmd.data, "targets")?)?,
        "offset" => set_offsets(id, &tool_values(&cmd.data, "offsets")?)?,
        "select" => {
            let tool = cmd.data.get("tool").and_then(Value::as_str).unwrap_or("");
            let n = tool
                .strip_prefix("tool")
                .and_then(|n| n.parse::<u32>().ok())
                .ok_or_else(|| Error::bad_request(format!("Invalid tool: {tool}")))?;
            printers::send_commands(id, [format!("T{n}")]).map_err(host)?;
        }
        "extrude" => {
            if is_printing(&p) {
                return Err(Error::conflict("Printer is currently printing"));
            }
            let amount = errors::required_number(&cmd.data, "amount")?;
            let speed = errors::number(&cmd.data, "speed")?.unwrap_or(300.0);
            printers::send_commands(
                id,
                [
                    "G91".to_string(),
                    "M83".to_string(),
                    format!("G1 E{amount} F{speed}"),
                    "M82".to_string(),
                    "G90".to_string(),
                ],
            )
            .map_err(host)?;
        }
        _ => set_factor(id, &cmd.data, "M221")?,
    }
    Ok(Response::no_content())
}

/// `POST /api/printer/bed` and `/chamber`: `target`, `offset`; 409 without such a heater.
fn heater(req: &Request, heater: &str) -> Result<Response, Error> {
    if req.method() == "GET" {
        return heater_state(req, heater);
    }
    auth::require(req, Access::Control)?;
    let id = req.require_printer()?;
    let p = operational(id)?;
    let cmd = errors::command(req, &["target", "offset"])?;
    let (bed, chamber) = heaters(&p);
    if (heater == "bed" && !bed) || (heater == "chamber" && !chamber) {
        return Err(Error::conflict(format!(
            "Printer does not have a heated {heater}"
        )));
    }
    match cmd.name.as_str() {
        "target" => {
            let t = temperature(
                cmd.data
                    .get("target")
                    .ok_or_else(|| Error::bad_request("target is missing"))?,
                "target",
            )?;
            set_targets(id, &[(heater.to_string(), t)])?;
        }
        _ => {
            let o = temperature(
                cmd.data
                    .get("offset")
                    .ok_or_else(|| Error::bad_request("offset is missing"))?,
                "offset",
            )?;
            set_offsets(id, &[(heater.to_string(), o)])?;
        }
    }
    Ok(Response::no_content())
}

/// `POST /api/printer/bed`.
pub fn bed(req: &Request) -> Result<Response, Error> {
    heater(req, "bed")
}

/// `POST /api/printer/chamber`.
pub fn chamber(req: &Request) -> Result<Response, Error> {
    heater(req, "chamber")
}

/// `POST /api/printer/printhead`: `jog`, `home`, `feedrate`. Jog and home are refused (409)
/// while printing, not while paused; the feed rate may change any time.
pub fn printhead(req: &Request) -> Result<Response, Error> {
    auth::require(req, Access::Control)?;
    let id = req.require_printer()?;
    let p = operational(id)?;
    let cmd = errors::command(req, &["jog", "home", "feedrate"])?;
    if cmd.name != "feedrate" && is_printing(&p) {
        return Err(Error::conflict(
            "Printer is not operational or currently printing",
        ));
    }
    match cmd.name.as_str() {
        "jog" => {
            let x = errors::number(&cmd.data, "x")?;
            let y = errors::number(&cmd.data, "y")?;
            let z = errors::number(&cmd.data, "z")?;
            let absolute = errors::json_bool(&cmd.data, "absolute");
            // OctoPrint accepts `speed: false/true` to mean the profile's default.
            let speed = match cmd.data.get("speed") {
                Some(Value::Bool(_)) | None | Some(Value::Null) => None,
                Some(_) => errors::number(&cmd.data, "speed")?,
            };
            printers::jog(id, x, y, z, absolute, speed).map_err(host)?;
        }
        "home" => {
            let axes = cmd
                .data
                .get("axes")
                .and_then(Value::as_array)
                .ok_or_else(|| Error::bad_request("axes is missing or not a list"))?;
            let mut list = Vec::new();
            for a in axes {
                match a.as_str().map(str::to_ascii_lowercase).as_deref() {
                    Some(a @ ("x" | "y" | "z")) => list.push(a.to_string()),
                    _ => return Err(Error::bad_request(format!("Invalid axis: {a}"))),
                }
            }
            printers::home(id, list).map_err(host)?;
        }
        _ => set_factor(id, &cmd.data, "M220")?,
    }
    Ok(Response::no_content())
}

/// `POST /api/printer/command`: `{"command": "…"}` or `{"commands": […]}`.
pub fn command(req: &Request) -> Result<Response, Error> {
    auth::require(req, Access::Control)?;
    let id = req.require_printer()?;
    operational(id)?;
    let data = errors::json_object(req)?;
    let has = |k: &str| data.contains_key(k);
    if has("command") && has("commands") {
        return Err(Error::bad_request(
            "'command' and 'commands' are mutually exclusive",
        ));
    }
    if (has("command") || has("commands")) && has("script") {
        return Err(Error::bad_request(
            "'command'/'commands' and 'script' are mutually exclusive",
        ));
    }
    let mut lines = Vec::new();
    if let Some(c) = data.get("command") {
        lines.push(
            c.as_str()
                .ok_or_else(|| Error::bad_request("command must be a string"))?
                .to_string(),
        );
    } else if let Some(cs) = data.get("commands") {
        for c in cs
            .as_array()
            .ok_or_else(|| Error::bad_request("commands must be a list"))?
        {
            lines.push(
                c.as_str()
                    .ok_or_else(|| Error::bad_request("commands must be strings"))?
                    .to_string(),
            );
        }
    } else if data.contains_key("script") {
        // The farm has no named G-code scripts a client could run.
        return Err(Error::not_found("Unknown script"));
    } else {
        return Err(Error::bad_request(
            "Need one of 'command', 'commands' or 'script'",
        ));
    }
    // A client may send several lines in one string.
    let lines: Vec<String> = lines
        .iter()
        .flat_map(|l| l.lines())
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect();
    if !lines.is_empty() {
        printers::send_commands(id, lines).map_err(host)?;
    }
    Ok(Response::no_content())
}

/// `GET/POST /api/printer/sd`: SD support is on, as in OctoPrint's defaults (clients such as
/// octorest read the card's state and fail on a 404), but the farm streams from its library, so
/// no card is ever ready and the card commands change nothing (409 while busy or offline, as
/// OctoPrint answers).
pub fn sd(req: &Request) -> Result<Response, Error> {
    if req.method() == "GET" {
        auth::require(req, Access::Read)?;
        return Ok(Response::ok_json(&json!({"ready": false})));
    }
    auth::require(req, Access::Control)?;
    let p = printers::get(req.require_printer()?).map_err(host)?;
    if !is_ready(&p) {
        return Err(Error::conflict(
            "Printer is not operational or currently busy",
        ));
    }
    errors::command(req, &["init", "refresh", "release"])?;
    Ok(Response::no_content())
}
