//! The plugin's configuration and identity (WIT interface `config`). Always available.

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::Error;

#[cfg(target_arch = "wasm32")]
fn raw_json() -> String {
    crate::bindings::printfarm::plugin::config::get_json()
}

#[cfg(not(target_arch = "wasm32"))]
fn raw_json() -> String {
    crate::host::testing::config_json()
}

/// The operator's configuration for this plugin (`[plugins.<id>.config]` in `printfarm.toml`),
/// deserialized into `T`.
///
/// The host has already validated it against the manifest's `config-schema`, but JSON Schema
/// defaults are not filled in: give optional fields `#[serde(default)]`. A configuration that
/// does not fit `T` (a schema and struct that disagree) is a 500 error.
///
/// ```
/// #[derive(serde::Deserialize)]
/// struct Config {
///     #[serde(default = "default_greeting")]
///     greeting: String,
/// }
/// fn default_greeting() -> String { "Hello".into() }
///
/// let config: Config = printfarm_sdk::config().unwrap();
/// assert_eq!(config.greeting, "Hello");
/// ```
pub fn config<T: DeserializeOwned>() -> Result<T, Error> {
    let raw = raw_json();
    let raw = if raw.trim().is_empty() { "{}" } else { &raw };
    serde_json::from_str(raw).map_err(|e| {
        Error::internal(format!(
            "the plugin's configuration does not have the expected shape: {e}"
        ))
    })
}

/// The operator's configuration as a JSON value (`{}` when the operator set nothing).
pub fn config_json() -> Value {
    config::<Value>().unwrap_or_else(|_| Value::Object(Default::default()))
}

/// The plugin's id from its manifest.
pub fn plugin_id() -> String {
    #[cfg(target_arch = "wasm32")]
    {
        crate::bindings::printfarm::plugin::config::plugin_id()
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        crate::host::testing::plugin_id()
    }
}
