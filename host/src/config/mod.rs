//! The operator's configuration, `printfarm.toml`.
//!
//! Every key is checked: an unknown key or a wrong type is an error that names the file, the key and
//! what was expected. Without a file the server runs on embedded defaults: SQLite in the data
//! directory, three virtual printers, every shipped plugin enabled.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

pub mod profile;

use crate::plugin::Capability;
pub use profile::PrinterProfile;

/// Where the server listens when neither the file nor `--listen` says otherwise.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// The data directory when neither the file nor `--data-dir` says otherwise (relative to the
/// working directory).
pub const DEFAULT_DATA_DIR: &str = "printfarm-data";
/// Largest multipart upload staged for a plugin: G-code files of a few hundred MB are common.
pub const DEFAULT_UPLOAD_LIMIT_MB: u64 = 1024;
/// How many virtual printers the embedded defaults declare.
pub const DEFAULT_VIRTUAL_PRINTERS: usize = 3;

/// The whole operator configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct FarmConfig {
    /// The main listener.
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// Where the database, the library and the caches live.
    #[serde(default)]
    pub data_dir: Option<PathBuf>,
    /// Where precompiled components are cached (default: `<data-dir>/cache/components`). Several
    /// servers may share one: entries are keyed by engine and content and written atomically.
    #[serde(default)]
    pub cache_dir: Option<PathBuf>,
    /// Extra directories holding plugin packages (one sub-directory per package). Plugins found
    /// there are third-party: they run only when `[plugins.<id>]` enables them, with the grants
    /// listed there.
    #[serde(default)]
    pub plugin_dirs: Vec<PathBuf>,
    /// Largest multipart upload, MiB.
    #[serde(default = "default_upload_limit")]
    pub upload_limit_mb: u64,
    /// The printers of this host, in order.
    #[serde(default)]
    pub printers: Vec<PrinterConfig>,
    /// Printer profiles by name, for the printers' `profile` key.
    #[serde(default)]
    pub profiles: BTreeMap<String, PrinterProfile>,
    /// Per-plugin settings, by plugin id.
    #[serde(default)]
    pub plugins: BTreeMap<String, PluginSettings>,
}

/// One `[[printers]]` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct PrinterConfig {
    /// Unique id, used in URLs: letters, digits, `-` and `_`.
    pub id: String,
    /// Display name (default: the id).
    #[serde(default)]
    pub name: Option<String>,
    /// Serial device path (`/dev/ttyACM0`, or a stable symlink) or `virtual`.
    pub port: String,
    /// Baud rate.
    #[serde(default = "default_baud")]
    pub baud: u32,
    /// Printer profile name (also a tag queued jobs can ask for).
    #[serde(default)]
    pub profile: Option<String>,
    /// Tags queued jobs can ask for in their placement (`nozzle-0.4`, `petg`).
    #[serde(default)]
    pub tags: Vec<String>,
    /// Connect by itself at start and after a USB replug (default true).
    #[serde(default = "yes")]
    pub auto_connect: bool,
    /// The firmware's serial RX buffer in bytes (Marlin on AVR: 128). Stating it enables
    /// send-ahead even without ADVANCED_OK.
    #[serde(default)]
    pub rx_buffer: Option<usize>,
    /// The firmware's command buffer (Marlin `BUFSIZE`, usually 4).
    #[serde(default)]
    pub command_buffer: Option<usize>,
    /// Keep several lines in flight when the buffers are known (default true); false forces
    /// one line at a time.
    #[serde(default = "yes")]
    pub send_ahead: bool,
    /// Seconds of silence while lines are in flight before the engine asks again (default 10).
    #[serde(default)]
    pub ack_timeout_secs: Option<f64>,
    /// What a firmware `Error:` the engine cannot classify does: `disconnect` (stop the
    /// printer and close the port, OctoPrint's default), `cancel` (fail the print, stay
    /// connected) or `ignore`. Transmission errors never stop a print; fatal ones always do.
    #[serde(default)]
    pub firmware_errors: printfarm_serial::engine::UnknownErrors,
    /// Whether the bed clears itself after a print (a belt printer, or a virtual printer), so
    /// the next job may start without an operator. Default: true for virtual printers only.
    #[serde(default)]
    pub self_clearing: Option<bool>,
    /// A webcam snapshot URL (`http` or `https`, answering a JPEG), for clients that show one
    /// and for plugins' `camera.snapshot`, which the host fetches it for.
    #[serde(default)]
    pub webcam_snapshot: Option<String>,
    /// G-code run when a print pauses (after the buffered moves), e.g. retract and park.
    #[serde(default)]
    pub pause_script: Vec<String>,
    /// G-code run before a paused print resumes.
    #[serde(default)]
    pub resume_script: Vec<String>,
    /// G-code run after a print is cancelled (heaters are switched off after it in any case).
    #[serde(default)]
    pub cancel_script: Vec<String>,
    /// For `port = "virtual"`: the simulated printer's time factor (0 = instant, 1 = real time;
    /// default 1).
    #[serde(default)]
    pub virtual_speed: Option<f64>,
    /// The profile named by `profile` (or the generic one), resolved when the config is read.
    #[serde(skip)]
    pub details: PrinterProfile,
}

fn yes() -> bool {
    true
}

impl PrinterConfig {
    /// The display name.
    pub fn display_name(&self) -> &str {
        self.name.as_deref().unwrap_or(&self.id)
    }

    /// Whether this is a simulated printer (`port = "virtual"`).
    pub fn is_virtual(&self) -> bool {
        self.port == "virtual"
    }

    /// The printer's tags for queue placement: its `tags` and its profile name.
    pub fn tags(&self) -> Vec<String> {
        let mut tags = self.tags.clone();
        tags.extend(self.profile.iter().cloned());
        tags
    }

    /// Whether the bed clears itself after a print.
    pub fn self_clearing(&self) -> bool {
        self.self_clearing.unwrap_or(self.is_virtual())
    }
}

/// One `[plugins.<id>]` table.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct PluginSettings {
    /// Run the plugin. Shipped plugins default to true, third-party ones to true once mentioned.
    #[serde(default)]
    pub enabled: Option<bool>,
    /// Mount prefix, overriding the manifest's (per-printer plugins keep a `{printer}` segment).
    #[serde(default)]
    pub mount: Option<String>,
    /// Also serve the plugin at the root of a listener of its own (its path mount stays), for
    /// clients that expect a server of their own (the original brender server on port 9999).
    #[serde(default)]
    pub listen: Option<SocketAddr>,
    /// For per-printer plugins: serve printer k (in config order) at the root of port `first-port + k`
    /// on the main listener's address, for clients that cannot use a path.
    #[serde(default)]
    pub first_port: Option<u16>,
    /// Capabilities granted, by name (checked with the rest of the config, so that a typo is
    /// reported with every other problem). Default: everything a shipped plugin declares; nothing
    /// for third-party ones.
    #[serde(default)]
    pub grants: Option<Vec<String>>,
    /// Outbound origins granted (`scheme://host[:port]`), which may name servers the manifest
    /// does not list (a self-hosted one) and replaces the manifest's list. Default: the
    /// manifest's `outbound-hosts`. The plugin also needs `outbound-http` or `outbound-ws`.
    #[serde(default)]
    pub outbound_hosts: Option<Vec<String>>,
    /// The plugin's own config, validated against its JSON Schema.
    #[serde(default)]
    pub config: Option<toml::Table>,
}

impl PluginSettings {
    /// The capabilities granted, when the config says (names it does not know are left out:
    /// [`FarmConfig::parse`] refuses them).
    pub fn granted(&self) -> Option<Vec<Capability>> {
        self.grants
            .as_ref()
            .map(|names| names.iter().filter_map(|name| name.parse().ok()).collect())
    }

    /// The plugin's config table as JSON (`{}` when absent).
    pub fn config_json(&self) -> serde_json::Value {
        match &self.config {
            Some(table) => serde_json::to_value(table).unwrap_or_default(),
            None => serde_json::Value::Object(Default::default()),
        }
    }
}

fn default_listen() -> SocketAddr {
    DEFAULT_LISTEN
        .parse()
        .expect("valid default listen address")
}
fn default_upload_limit() -> u64 {
    DEFAULT_UPLOAD_LIMIT_MB
}
fn default_baud() -> u32 {
    115_200
}

/// A config error: the file, and what is wrong in it.
#[derive(Debug, thiserror::Error)]
#[error("{file}: {message}")]
pub struct ConfigError {
    /// The config file (or `<embedded defaults>`).
    pub file: String,
    /// What is wrong, with the key and what was expected; several problems are one per line,
    /// each after the file's name.
    pub message: String,
}

impl ConfigError {
    /// The error listing `problems` of `file`, if there are any.
    pub fn from_problems(file: &str, problems: Vec<String>) -> Option<ConfigError> {
        (!problems.is_empty()).then(|| ConfigError {
            file: file.to_string(),
            message: problems.join(&format!("\n{file}: ")),
        })
    }
}

impl FarmConfig {
    /// The embedded defaults: three virtual printers, every shipped plugin enabled.
    pub fn embedded_defaults() -> FarmConfig {
        let mut config: FarmConfig = toml::from_str("").expect("empty config parses");
        config.printers = (1..=DEFAULT_VIRTUAL_PRINTERS)
            .map(|i| {
                let mut printer: PrinterConfig =
                    toml::from_str(&format!("id = \"virtual-{i}\"\nport = \"virtual\""))
                        .expect("a virtual printer's table parses");
                printer.name = Some(format!("Virtual printer {i}"));
                printer
            })
            .collect();
        config
    }

    /// Reads and validates a config file. Relative paths inside it are taken relative to its directory.
    pub fn load(path: &Path) -> Result<FarmConfig, ConfigError> {
        let file = path.display().to_string();
        let (config, problems) = FarmConfig::load_all(path)?;
        ConfigError::from_problems(&file, problems).map_or(Ok(config), Err)
    }

    /// Reads a config file and returns it with every problem found in it, each naming its key
    /// (see [`FarmConfig::parse_all`]). Relative paths inside it are taken relative to its
    /// directory.
    pub fn load_all(path: &Path) -> Result<(FarmConfig, Vec<String>), ConfigError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: file.clone(),
            message: format!("cannot read the config file: {e}"),
        })?;
        let (mut config, problems) = FarmConfig::parse_all(&text, &file)?;
        let base = path.parent().unwrap_or(Path::new("."));
        config.data_dir = config.data_dir.map(|d| base.join(d));
        config.cache_dir = config.cache_dir.map(|d| base.join(d));
        config.plugin_dirs = config
            .plugin_dirs
            .into_iter()
            .map(|d| base.join(d))
            .collect();
        Ok((config, problems))
    }

    /// Parses and validates config text; `file` names it in errors, which list every problem.
    pub fn parse(text: &str, file: &str) -> Result<FarmConfig, ConfigError> {
        let (config, problems) = FarmConfig::parse_all(text, file)?;
        ConfigError::from_problems(file, problems).map_or(Ok(config), Err)
    }

    /// Parses config text and returns it with every problem found in it, each naming its key.
    /// Fails only when the text is not a config at all (TOML syntax, an unknown key, a value of
    /// the wrong type); `file` names it in that error.
    pub fn parse_all(text: &str, file: &str) -> Result<(FarmConfig, Vec<String>), ConfigError> {
        let mut config: FarmConfig = toml::from_str(text).map_err(|e| ConfigError {
            file: file.to_string(),
            message: e.to_string().trim_end().to_string(),
        })?;
        let problems = config.resolve();
        Ok((config, problems))
    }

    /// Resolves the printers' profiles and checks what the types cannot; returns every problem.
    fn resolve(&mut self) -> Vec<String> {
        let mut problems = Vec::new();
        for (name, profile) in self.profiles.iter_mut() {
            profile.name = name.clone();
            if let Err(m) = profile.validate() {
                problems.push(format!("key `profiles.{name}`: {m}"));
            }
        }
        for (i, p) in self.printers.iter_mut().enumerate() {
            p.details = match &p.profile {
                Some(name) => match self.profiles.get(name) {
                    Some(profile) => profile.clone(),
                    None => {
                        problems.push(format!(
                            "key `printers[{i}].profile`: no `[profiles.{name}]` table describes the profile `{name}`"
                        ));
                        PrinterProfile::default()
                    }
                },
                None => PrinterProfile::default(),
            };
        }
        let mut seen = std::collections::HashSet::new();
        for (i, p) in self.printers.iter().enumerate() {
            let ok = !p.id.is_empty()
                && p.id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
            if !ok {
                problems.push(format!(
                    "key `printers[{i}].id`: `{}` must be letters, digits, `-` or `_` (it is used in URLs)",
                    p.id
                ));
            }
            if p.virtual_speed
                .is_some_and(|speed| !(0.0..=1000.0).contains(&speed))
            {
                problems.push(format!(
                    "key `printers[{i}].virtual-speed`: must be between 0 (instant) and 1000"
                ));
            }
            if p.ack_timeout_secs
                .is_some_and(|secs| !(secs > 0.0 && secs <= 3600.0))
            {
                problems.push(format!(
                    "key `printers[{i}].ack-timeout-secs`: must be more than 0 and at most 3600"
                ));
            }
            if let Some(url) = &p.webcam_snapshot {
                // Checked here, so that a typo is a start-up problem and not every snapshot's.
                let web = url::Url::parse(url)
                    .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.has_host());
                if !web {
                    problems.push(format!(
                        "key `printers[{i}].webcam-snapshot`: `{url}` is not an http or https URL; \
                         give the URL the camera serves its snapshot JPEG at"
                    ));
                }
            }
            if p.rx_buffer == Some(0) || p.command_buffer == Some(0) {
                problems.push(format!(
                    "key `printers[{i}]`: `rx-buffer` and `command-buffer` must be at least 1"
                ));
            }
            if !seen.insert(p.id.clone()) {
                problems.push(format!(
                    "key `printers[{i}].id`: printer id `{}` is used twice",
                    p.id
                ));
            }
        }
        if self.upload_limit_mb == 0 {
            problems.push("key `upload-limit-mb`: must be at least 1".into());
        }
        for (id, settings) in &self.plugins {
            if let Some(mount) = &settings.mount {
                if mount.parse::<SocketAddr>().is_ok() {
                    problems.push(format!(
                        "key `plugins.{id}.mount`: `{mount}` is an address; use `listen = \"{mount}\"` for a listener of its own"
                    ));
                }
            }
            for name in settings.grants.iter().flatten() {
                if let Err(e) = name.parse::<Capability>() {
                    problems.push(format!("key `plugins.{id}.grants`: {e}"));
                }
            }
        }
        problems
    }

    /// The data directory in force.
    pub fn data_dir(&self) -> PathBuf {
        self.data_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR))
    }

    /// The component cache directory in force.
    pub fn cache_dir(&self) -> PathBuf {
        self.cache_dir
            .clone()
            .unwrap_or_else(|| self.data_dir().join("cache").join("components"))
    }

    /// The upload limit in bytes.
    pub fn upload_limit_bytes(&self) -> u64 {
        self.upload_limit_mb.saturating_mul(1 << 20)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_have_three_virtual_printers() {
        let c = FarmConfig::embedded_defaults();
        assert_eq!(c.printers.len(), 3);
        assert_eq!(c.listen.to_string(), DEFAULT_LISTEN);
        assert_eq!(c.upload_limit_bytes(), 1 << 30);
    }

    #[test]
    fn errors_name_file_and_key() {
        let e = FarmConfig::parse("listen = 5", "farm.toml")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("farm.toml:") && e.contains("listen"), "{e}");
        let e = FarmConfig::parse("[plugins.hello]\nenabeld = true", "farm.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("enabeld") && e.contains("enabled"), "{e}");
        let e = FarmConfig::parse("[[printers]]\nid = \"a b\"\nport = \"virtual\"", "f")
            .unwrap_err()
            .to_string();
        assert!(e.contains("printers[0].id"), "{e}");
        let e = FarmConfig::parse("[plugins.hello]\ngrants = [\"root\"]", "f")
            .unwrap_err()
            .to_string();
        assert!(e.contains("root"), "{e}");
        let e = FarmConfig::parse(
            "[[printers]]\nid = \"a\"\nport = \"virtual\"\nwebcam-snapshot = \"cam.local/snap\"",
            "f",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("printers[0].webcam-snapshot"), "{e}");
    }

    #[test]
    fn plugin_config_becomes_json() {
        let c = FarmConfig::parse("[plugins.hello.config]\ngreeting = \"Hi\"\nn = 2", "f").unwrap();
        assert_eq!(
            c.plugins["hello"].config_json(),
            serde_json::json!({"greeting": "Hi", "n": 2})
        );
    }
}
