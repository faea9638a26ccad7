//! `[plugins.obico.config]`, and the server's base URL with the websocket URL derived from it.

use serde::Deserialize;

/// The Obico cloud, where the app's users are unless they host their own server.
pub const DEFAULT_SERVER: &str = "https://app.obico.io";

/// The operator's configuration, validated by the host against `config.schema.json`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Config {
    /// The Obico server's base URL.
    #[serde(default = "default_server")]
    pub server: String,
    /// The printers that take part; `None` = all.
    #[serde(default)]
    pub printers: Option<Vec<String>>,
    /// Seconds between status frames of an idle printer.
    #[serde(default = "default_status_interval")]
    pub status_interval_secs: u64,
    /// Seconds between status frames of a printing printer.
    #[serde(default = "default_printing_status_interval")]
    pub printing_status_interval_secs: u64,
    /// Seconds between snapshots when nobody watches.
    #[serde(default = "default_snapshot_interval")]
    pub snapshot_interval_secs: u64,
    /// Seconds between snapshots while someone watches.
    #[serde(default = "default_viewing_snapshot_interval")]
    pub viewing_snapshot_interval_secs: u64,
    /// Poll for unlinked printers so that the app's LAN discovery finds them.
    #[serde(default)]
    pub discovery: bool,
    /// `host:port` the app on the LAN reaches this host at (discovery); `None` = as clients do.
    #[serde(default)]
    pub discovery_address: Option<String>,
    /// Seconds between two anonymous polls of the server.
    #[serde(default = "default_poll_interval")]
    pub poll_interval_secs: u64,
}

fn default_server() -> String {
    DEFAULT_SERVER.to_string()
}
fn default_status_interval() -> u64 {
    30
}
fn default_printing_status_interval() -> u64 {
    5
}
fn default_snapshot_interval() -> u64 {
    120
}
fn default_viewing_snapshot_interval() -> u64 {
    10
}
fn default_poll_interval() -> u64 {
    2
}

impl Default for Config {
    fn default() -> Self {
        serde_json::from_value(serde_json::json!({})).expect("every field has a default")
    }
}

impl Config {
    /// The current config (the default one if the host has none, which it always has).
    pub fn load() -> Config {
        printfarm_sdk::config::<Config>().unwrap_or_default()
    }

    /// Whether printer `id` takes part.
    pub fn includes(&self, id: &str) -> bool {
        self.printers
            .as_ref()
            .is_none_or(|list| list.iter().any(|p| p == id))
    }
}

/// An Obico server's base URL, normalised, with the websocket URL the agents connect to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Server {
    /// `http(s)://host[:port][/prefix]`, without a trailing slash.
    pub base: String,
    /// `ws(s)://host[:port][/prefix]/ws/dev/`.
    pub websocket: String,
}

impl Server {
    /// Parses a base URL as an operator writes it: `https://app.obico.io/`, `http://10.0.0.5:3334`.
    /// The trailing slash is dropped and the websocket scheme follows the HTTP one (`https` →
    /// `wss`). Anything but an absolute http(s) URL without query or fragment is refused, saying why.
    pub fn parse(text: &str) -> Result<Server, String> {
        let text = text.trim();
        let url = url::Url::parse(text).map_err(|e| {
            format!("the Obico server `{text}` is not a URL ({e}); write it as https://app.obico.io or http://host:3334")
        })?;
        let ws_scheme = match url.scheme() {
            "http" => "ws",
            "https" => "wss",
            other => {
                return Err(format!(
                    "the Obico server `{text}` has the scheme `{other}`; use http:// or https:// (the websocket URL is derived from it)"
                ))
            }
        };
        if url.host_str().is_none_or(str::is_empty) {
            return Err(format!("the Obico server `{text}` names no host"));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(format!(
                "the Obico server `{text}` has a query or fragment; give only its base URL"
            ));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(format!(
                "the Obico server `{text}` carries credentials; give only its base URL"
            ));
        }
        let base = url.as_str().trim_end_matches('/').to_string();
        let websocket = format!("{ws_scheme}{}/ws/dev/", &base[url.scheme().len()..]);
        Ok(Server { base, websocket })
    }

    /// The absolute URL of an API path (`/api/v1/octo/verify/`).
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_are_normalised_and_the_websocket_follows_the_scheme() {
        let cloud = Server::parse("https://app.obico.io/").unwrap();
        assert_eq!(cloud.base, "https://app.obico.io");
        assert_eq!(cloud.websocket, "wss://app.obico.io/ws/dev/");
        let own = Server::parse(" http://10.0.0.5:3334//").unwrap();
        assert_eq!(own.base, "http://10.0.0.5:3334");
        assert_eq!(own.websocket, "ws://10.0.0.5:3334/ws/dev/");
        let prefixed = Server::parse("HTTPS://Obico.Example.com/obico/").unwrap();
        assert_eq!(prefixed.base, "https://obico.example.com/obico");
        assert_eq!(prefixed.websocket, "wss://obico.example.com/obico/ws/dev/");
        assert_eq!(
            own.url("/api/v1/octo/verify/"),
            "http://10.0.0.5:3334/api/v1/octo/verify/"
        );
    }

    #[test]
    fn what_is_not_a_base_url_is_refused_with_the_reason() {
        for (text, says) in [
            ("app.obico.io", "not a URL"),
            ("ftp://app.obico.io", "scheme `ftp`"),
            ("wss://app.obico.io", "scheme `wss`"),
            ("https://app.obico.io/?x=1", "query"),
            ("https://me:pw@app.obico.io", "credentials"),
        ] {
            let err = Server::parse(text).unwrap_err();
            assert!(err.contains(says), "{text}: {err}");
        }
    }

    #[test]
    fn defaults_and_printer_selection() {
        let config = Config::default();
        assert_eq!(config.server, DEFAULT_SERVER);
        assert!(config.includes("any"));
        let some: Config = serde_json::from_value(serde_json::json!({"printers": ["a"]})).unwrap();
        assert!(some.includes("a") && !some.includes("b"));
    }
}
