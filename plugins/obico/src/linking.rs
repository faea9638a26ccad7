//! Linking a printer to the server, the three ways the agents do: a 6-digit code from the app, a
//! one-time passcode the user types into the app, and LAN discovery. The last two poll the
//! server's anonymous `/unlinked/` endpoint, which shares a rate limit of 3600 calls an hour per
//! address with `/verify/`: the farm polls for one printer at a time, never faster than
//! `poll-interval-secs`, and waits out a 429.

use printfarm_sdk::{log, printers};
use serde_json::{json, Value};

use crate::clock::now_ms;
use crate::config::{Config, Server};
use crate::rest::{self, RestError};
use crate::store::{self, Link, Passcode, Polling, Unlinked};

/// How long the server keeps a one-time passcode (its cache TTL): two hours.
pub const PASSCODE_TTL_MS: u64 = 2 * 60 * 60 * 1000;

/// How long to wait after a 429 that names no wait, doubled for each 429 in a row (capped).
const THROTTLED_WAIT_MS: u64 = 60_000;

/// Whether a code is the 6 digits the app shows.
pub fn is_code(code: &str) -> bool {
    code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit())
}

/// Verifies a code and stores the printer's new link; the next tick connects it.
pub fn link_with_code(server: &Server, printer: &str, code: &str) -> Result<Link, RestError> {
    let verified = rest::verify(server, code)?;
    // The server names every new printer alike: give it the farm's name.
    let mut obico_name = verified.name;
    if let Ok(info) = printers::get(printer) {
        match rest::rename(server, &verified.token, &info.name) {
            Ok(_) => obico_name = Some(info.name),
            Err(e) => log::warn(&format!(
                "naming printer {printer} on the Obico server: {e}"
            )),
        }
    }
    let link = Link {
        token: verified.token,
        server: server.base.clone(),
        obico_id: verified.id,
        obico_name,
        linked_at_ms: now_ms(),
    };
    store::save_link(printer, &link).map_err(RestError::from)?;
    store::clear_passcode(printer);
    store::clear_unlinked(printer);
    log::info(&format!(
        "printer {printer} linked to {} as Obico printer {}",
        server.base,
        link.obico_id.map(|id| id.to_string()).unwrap_or_default()
    ));
    Ok(link)
}

/// The `/unlinked/` body for a printer: its discovery identity and what the app shows of it.
pub fn unlinked_body(printer: &printers::PrinterInfo, passcode: Option<&str>, lan: &Lan) -> Value {
    let device = store::device(&printer.id);
    let mut body = json!({
        "device_id": device.id,
        "hostname": format!("{} ({})", printer.name, printer.id),
        "host_or_ip": lan.host,
        "port": lan.port,
        "os": "printfarm",
        "arch": "wasm32",
        "rpi_model": "",
        "plugin_version": crate::status::AGENT_VERSION,
        "agent": "Obico for OctoPrint",
        "printerprofile": printer.details.name,
        "machine_type": printer.profile.clone().unwrap_or_else(|| printer.details.name.clone()),
    });
    if let Some(passcode) = passcode {
        body["one_time_passcode"] = json!(passcode);
    }
    body
}

/// Where the app on the LAN reaches this host (for discovery): its address and port.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct Lan {
    /// The host's address or name as the farm's clients use it.
    pub host: String,
    /// Its HTTP port.
    pub port: u16,
}

impl Lan {
    /// Where the app reaches this host: the configured `discovery-address`, else what the last
    /// request to the plugin's routes said of the host (`base_url`), else the host's default
    /// listener.
    pub fn load() -> Lan {
        if let Some(lan) = Config::load()
            .discovery_address
            .as_deref()
            .and_then(|a| Lan::parse(&format!("http://{a}")))
        {
            return lan;
        }
        printfarm_sdk::kv::get_json("lan")
            .ok()
            .flatten()
            .unwrap_or(Lan {
                host: "127.0.0.1".into(),
                port: 8080,
            })
    }

    fn parse(base_url: &str) -> Option<Lan> {
        let url = url::Url::parse(base_url).ok()?;
        Some(Lan {
            host: url.host_str()?.trim_matches(['[', ']']).to_string(),
            port: url.port_or_known_default().unwrap_or(80),
        })
    }

    /// Remembers the host's address from a request's base URL (`http://10.0.0.5:8080`).
    pub fn remember(base_url: &str) {
        let Some(lan) = Lan::parse(base_url) else {
            return;
        };
        let known: Option<Lan> = printfarm_sdk::kv::get_json("lan").ok().flatten();
        if known.as_ref() != Some(&lan) {
            let _ = printfarm_sdk::kv::set_json("lan", &lan);
        }
    }
}

/// Starts the passcode flow: one `/unlinked/` call gives the passcode the user types in the app.
pub fn start_passcode(
    server: &Server,
    printer: &printers::PrinterInfo,
) -> Result<Passcode, RestError> {
    let answer = rest::unlinked(server, &unlinked_body(printer, Some(""), &Lan::load()))?;
    let passcode = answer["one_time_passcode"].as_str().unwrap_or_default();
    if passcode.is_empty() {
        return Err(RestError::NotObico(format!(
            "{} answered the passcode request without a passcode: is this an Obico server (and a recent one)?",
            server.base
        )));
    }
    let started_ms = now_ms();
    let passcode = Passcode {
        passcode: passcode.to_string(),
        expires_at: Some(rfc3339(started_ms + PASSCODE_TTL_MS)),
        started_ms,
    };
    store::save_passcode(&printer.id, &passcode).map_err(RestError::from)?;
    Ok(passcode)
}

/// One anonymous poll, if one is due: for the next printer (round robin) that waits for its
/// passcode to be entered or, with discovery on, for the app to find it.
pub fn poll(config: &Config, server: &Server, infos: &[printers::PrinterInfo]) {
    let now = now_ms();
    let mut schedule = store::polling();
    if now < schedule.next_ms {
        return;
    }
    let waiting: Vec<&printers::PrinterInfo> = infos
        .iter()
        .filter(|p| config.includes(&p.id) && store::link(&p.id).is_none())
        .filter(|p| config.discovery || store::passcode(&p.id).is_some())
        .collect();
    if waiting.is_empty() {
        return;
    }
    let printer = waiting[schedule.cursor % waiting.len()];
    schedule.cursor = (schedule.cursor + 1) % waiting.len();
    schedule.next_ms = now + config.poll_interval_secs * 1000;
    match poll_one(server, printer) {
        Ok(()) => schedule.throttled = 0,
        Err(RestError::Throttled(wait)) => {
            schedule.throttled += 1;
            let wait_ms = wait.map(|s| s * 1000).unwrap_or_else(|| {
                THROTTLED_WAIT_MS << schedule.throttled.saturating_sub(1).min(5)
            });
            schedule.next_ms = now + wait_ms.max(config.poll_interval_secs * 1000);
            log::warn(&format!(
                "the Obico server rate-limited the link polls; next poll in {} s",
                wait_ms / 1000
            ));
        }
        Err(e) => log::warn(&format!("polling for printer {}: {e}", printer.id)),
    }
    store::save_polling(&schedule);
}

fn poll_one(server: &Server, printer: &printers::PrinterInfo) -> Result<(), RestError> {
    let pending = store::passcode(&printer.id);
    let sent = pending.as_ref().map(|p| p.passcode.as_str());
    let answer = rest::unlinked(
        server,
        &unlinked_body(printer, sent.or(Some("")), &Lan::load()),
    )?;
    // Discovery: the app got this printer's secret from us and the server hands it back.
    let device = store::device(&printer.id);
    for message in answer["messages"].as_array().into_iter().flatten() {
        let data = &message["data"];
        let for_us = message["type"] == "verify_code"
            && message["device_id"].as_str().or(data["device_id"].as_str()) == Some(&device.id)
            && data["secret"].as_str() == Some(&device.secret);
        if let (true, Some(code)) = (for_us, data["code"].as_str()) {
            link_with_code(server, &printer.id, code)?;
            return Ok(());
        }
    }
    let Some(mut pending) = pending else {
        return Ok(());
    };
    let code = answer["verification_code"].as_str().unwrap_or_default();
    if !code.is_empty() {
        link_with_code(server, &printer.id, code)?;
        return Ok(());
    }
    // The server issues a new passcode when the old one expired.
    if let Some(passcode) = answer["one_time_passcode"].as_str() {
        if !passcode.is_empty() && passcode != pending.passcode {
            pending.passcode = passcode.to_string();
            pending.started_ms = now_ms();
            pending.expires_at = Some(rfc3339(pending.started_ms + PASSCODE_TTL_MS));
            store::save_passcode(&printer.id, &pending).map_err(RestError::from)?;
        }
    }
    Ok(())
}

/// Ends a printer's link: the token is forgotten and the socket closes on the next tick.
pub fn unlink(printer: &str, reason: Option<String>) {
    store::clear_link(printer);
    store::clear_passcode(printer);
    match reason {
        Some(reason) => {
            let _ = store::save_unlinked(
                printer,
                &Unlinked {
                    reason,
                    at_ms: now_ms(),
                },
            );
        }
        None => store::clear_unlinked(printer),
    }
}

/// Milliseconds since the epoch as RFC 3339 UTC (`2026-12-07T19:00:00Z`).
pub fn rfc3339(ms: u64) -> String {
    time::OffsetDateTime::from_unix_timestamp((ms / 1000) as i64)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

/// Restores the polling schedule after a change of server (a new server has its own limit).
pub fn reset_polling() {
    store::save_polling(&Polling::default());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_six_digits() {
        assert!(is_code("123456"));
        for bad in ["12345", "1234567", "12345a", "", "١٢٣٤٥٦"] {
            assert!(!is_code(bad), "{bad}");
        }
    }

    #[test]
    fn timestamps_are_rfc3339_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400_000), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_796_670_000_000), "2026-12-07T19:00:00Z");
    }
}
