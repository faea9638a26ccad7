//! Example: **outbound HTTP webhook**, with a **config under a JSON Schema**.
//!
//! The operator sets the target in `[plugins.example-webhook.config] url = "…"`; the host
//! validates the table against `config.schema.json` before the plugin starts, and refuses the
//! config with the schema's words otherwise. A plugin reaches the network only through the host:
//! the `outbound-http` capability and an origin the manifest lists in `outbound-hosts` (which
//! the operator may replace with `[plugins.example-webhook] outbound-hosts`). On every print
//! event of a configured phase it POSTs `{"printer", "file", "phase"}` and counts what the
//! receiver accepted; `GET /sent` serves `{"sent": N, "failed": M}`.

use printfarm_sdk::events::Event;
use printfarm_sdk::{http, kv, log, Error, Plugin, Request, Response, Router};
use serde::Deserialize;

/// `[plugins.example-webhook.config]`, as its schema describes it.
#[derive(Debug, Deserialize)]
pub struct Config {
    /// Where to POST.
    pub url: String,
    /// Which print phases to send.
    #[serde(default = "default_phases")]
    pub phases: Vec<String>,
}

fn default_phases() -> Vec<String> {
    vec!["done".into(), "failed".into()]
}

/// The plugin; its counters are in kv.
pub struct Webhook;

impl Plugin for Webhook {
    fn router() -> Router {
        Router::new().get("/sent", sent)
    }

    fn init(config: &serde_json::Value) -> Result<(), String> {
        serde_json::from_value::<Config>(config.clone())
            .map(|_| ())
            .map_err(|e| format!("invalid config: {e}"))
    }

    fn on_event(event: Event) {
        let Event::Print(print) = event else { return };
        let Ok(config) = printfarm_sdk::config::<Config>() else {
            return;
        };
        if !config.phases.iter().any(|p| p == print.phase.as_str()) {
            return;
        }
        let body = serde_json::json!({
            "printer": print.printer,
            "file": print.file,
            "phase": print.phase.as_str(),
        });
        let counter = match http::post_json(&config.url, &body) {
            Ok(response) if response.is_success() => "sent",
            Ok(response) => {
                log::warn(&format!("{} answered {}", config.url, response.status));
                "failed"
            }
            Err(error) => {
                log::warn(&format!("could not reach {}: {error}", config.url));
                "failed"
            }
        };
        let _ = kv::increment(counter, 1);
    }
}

/// `GET /sent`.
fn sent(_: &Request) -> Result<Response, Error> {
    let count = |key: &str| -> Result<i64, Error> {
        Ok(kv::get_string(key)?
            .and_then(|text| text.parse().ok())
            .unwrap_or(0))
    };
    Ok(Response::ok_json(
        &serde_json::json!({ "sent": count("sent")?, "failed": count("failed")? }),
    ))
}

printfarm_sdk::export_plugin!(Webhook);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_config_needs_a_url_and_defaults_the_phases() {
        assert!(Webhook::init(&serde_json::json!({})).is_err());
        let config: Config =
            serde_json::from_value(serde_json::json!({"url": "http://x"})).unwrap();
        assert_eq!(config.phases, ["done", "failed"]);
    }
}
