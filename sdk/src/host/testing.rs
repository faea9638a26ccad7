//! What plugin unit tests can use in native builds (`cargo test` on the build machine).
//!
//! Outside the host the imported interfaces do not exist. So that handlers can still be tested
//! natively, the SDK simulates a few of them, separately for each thread (each `#[test]` runs
//! on its own thread, so tests do not see each other's data):
//!
//! * [`kv`](crate::kv): an in-memory store with the host's key-length rule (512 bytes) and a
//!   value limit ([`set_kv_value_limit`], 64 KiB by default).
//! * [`config()`](crate::config()) / [`config_json`](crate::config_json): whatever
//!   [`set_config`] stored (`{}` by default).
//! * [`plugin_id`](crate::plugin_id): [`set_plugin_id`] (`"test-plugin"` by default).
//! * [`log`](crate::log): printed to stderr.
//!
//! Every other host call (printers, files, jobs, auth, outbound HTTP and websockets, push) fails
//! with [`HostError::Unavailable`]; [`push::connections`](crate::push::connections) is empty.
//!
//! This module exists only on non-wasm targets.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};

use crate::HostError;

struct State {
    kv: BTreeMap<String, Vec<u8>>,
    kv_value_limit: usize,
    config: String,
    plugin_id: String,
    denied: BTreeSet<String>,
}

impl Default for State {
    fn default() -> Self {
        State {
            kv: BTreeMap::new(),
            kv_value_limit: 65536,
            config: "{}".to_string(),
            plugin_id: "test-plugin".to_string(),
            denied: BTreeSet::new(),
        }
    }
}

thread_local! {
    static STATE: RefCell<State> = RefCell::new(State::default());
}

fn with<R>(f: impl FnOnce(&mut State) -> R) -> R {
    STATE.with(|s| f(&mut s.borrow_mut()))
}

/// Resets this thread's simulated host: empty kv store, default limits, `{}` config,
/// plugin id `test-plugin`, nothing denied.
pub fn reset() {
    with(|s| *s = State::default());
}

/// Sets the configuration that [`config()`](crate::config()) returns on this thread.
pub fn set_config(config: serde_json::Value) {
    with(|s| s.config = config.to_string());
}

/// Sets the id that [`plugin_id`](crate::plugin_id) returns on this thread.
pub fn set_plugin_id(id: &str) {
    with(|s| s.plugin_id = id.to_string());
}

/// Sets the simulated `limits.max-kv-value-bytes`.
pub fn set_kv_value_limit(bytes: usize) {
    with(|s| s.kv_value_limit = bytes);
}

/// Makes the simulated host refuse a capability (only `"kv"` is simulated) with
/// [`HostError::Denied`], as a host does when the operator did not grant it.
pub fn deny(capability: &str) {
    with(|s| {
        s.denied.insert(capability.to_string());
    });
}

/// A copy of this thread's simulated kv store.
pub fn kv_entries() -> BTreeMap<String, Vec<u8>> {
    with(|s| s.kv.clone())
}

pub(crate) fn config_json() -> String {
    with(|s| s.config.clone())
}

pub(crate) fn plugin_id() -> String {
    with(|s| s.plugin_id.clone())
}

pub(crate) mod kv {
    use super::*;

    fn check(s: &State, key: &str) -> Result<(), HostError> {
        if s.denied.contains("kv") {
            return Err(HostError::Denied(
                "capability `kv` is not granted to this plugin".into(),
            ));
        }
        if key.len() > 512 {
            return Err(HostError::Invalid(format!(
                "kv key is {} bytes long; the limit is 512",
                key.len()
            )));
        }
        Ok(())
    }

    pub(crate) fn get(key: &str) -> Result<Option<Vec<u8>>, HostError> {
        with(|s| {
            check(s, key)?;
            Ok(s.kv.get(key).cloned())
        })
    }

    pub(crate) fn set(key: &str, value: &[u8]) -> Result<(), HostError> {
        with(|s| {
            check(s, key)?;
            if value.len() > s.kv_value_limit {
                return Err(HostError::Limit(format!(
                    "kv value is {} bytes; limits.max-kv-value-bytes is {}",
                    value.len(),
                    s.kv_value_limit
                )));
            }
            s.kv.insert(key.to_string(), value.to_vec());
            Ok(())
        })
    }

    pub(crate) fn delete(key: &str) -> Result<(), HostError> {
        with(|s| {
            check(s, key)?;
            s.kv.remove(key);
            Ok(())
        })
    }

    pub(crate) fn list_keys(prefix: &str, limit: u32) -> Result<Vec<String>, HostError> {
        with(|s| {
            check(s, prefix)?;
            Ok(s.kv
                .range(prefix.to_string()..)
                .take_while(|(k, _)| k.starts_with(prefix))
                .take(limit as usize)
                .map(|(k, _)| k.clone())
                .collect())
        })
    }
}
