//! The plugin's persistent key-value store (WIT interface `kv`). Needs the `kv` capability.
//!
//! A call cannot count on memory left by another (most run in a fresh instance), so this is
//! where a plugin keeps everything that must outlive a call. The store is private to the plugin (per-printer plugins share one store
//! across all their mounts; put the printer id in the key to separate them). Values are capped
//! by the manifest's `limits.max-kv-value-bytes` (64 KiB by default; a larger value fails with
//! [`HostError::Limit`]); keys are at most 512 bytes.
//!
//! There are no transactions: two calls running at the same time may both read a value before
//! either writes it back. [`increment`] and the JSON helpers are read-modify-write conveniences,
//! not atomic operations. A plugin whose changes read and write back the same values sets
//! `serialize-changes = true` in its manifest: the host then runs its changing calls (requests
//! other than `GET`/`HEAD`, and hooks) one at a time.
//!
//! In native builds (`cargo test`) the store is simulated in memory per thread; see
//! [`testing`](crate::testing).

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::HostError;

#[cfg(target_arch = "wasm32")]
mod imp {
    use crate::bindings::printfarm::plugin::kv as raw;
    use crate::HostError;

    pub(super) fn get(key: &str) -> Result<Option<Vec<u8>>, HostError> {
        raw::get(key).map_err(Into::into)
    }
    pub(super) fn set(key: &str, value: &[u8]) -> Result<(), HostError> {
        raw::set(key, value).map_err(Into::into)
    }
    pub(super) fn delete(key: &str) -> Result<(), HostError> {
        raw::delete(key).map_err(Into::into)
    }
    pub(super) fn list_keys(prefix: &str, limit: u32) -> Result<Vec<String>, HostError> {
        raw::list_keys(prefix, limit).map_err(Into::into)
    }
}

#[cfg(not(target_arch = "wasm32"))]
use crate::host::testing::kv as imp;

/// The value of a key, `None` if it is not set.
pub fn get(key: &str) -> Result<Option<Vec<u8>>, HostError> {
    imp::get(key)
}

/// The value of a key as text (invalid UTF-8 is replaced with `U+FFFD`), `None` if not set.
pub fn get_string(key: &str) -> Result<Option<String>, HostError> {
    Ok(get(key)?.map(|v| match String::from_utf8(v) {
        Ok(s) => s,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    }))
}

/// The value of a key parsed as JSON, `None` if not set. A value that does not parse into `T`
/// is reported as [`HostError::Invalid`] naming the key.
pub fn get_json<T: DeserializeOwned>(key: &str) -> Result<Option<T>, HostError> {
    match get(key)? {
        None => Ok(None),
        Some(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
            HostError::Invalid(format!("kv value of `{key}` is not the expected JSON: {e}"))
        }),
    }
}

/// Sets a key.
pub fn set(key: &str, value: impl AsRef<[u8]>) -> Result<(), HostError> {
    imp::set(key, value.as_ref())
}

/// Sets a key to `value` serialized as JSON. A value that cannot be serialized is reported as
/// [`HostError::Invalid`].
pub fn set_json<T: Serialize + ?Sized>(key: &str, value: &T) -> Result<(), HostError> {
    let bytes = serde_json::to_vec(value).map_err(|e| {
        HostError::Invalid(format!(
            "value for kv key `{key}` cannot be serialized: {e}"
        ))
    })?;
    set(key, bytes)
}

/// Removes a key. Removing a missing key is not an error.
pub fn delete(key: &str) -> Result<(), HostError> {
    imp::delete(key)
}

/// The keys that start with `prefix`, sorted, at most `limit`.
pub fn list_keys(prefix: &str, limit: u32) -> Result<Vec<String>, HostError> {
    imp::list_keys(prefix, limit)
}

/// Adds `by` to the integer stored (as decimal text) under `key`, treating a missing or
/// non-numeric value as 0, stores the result and returns it. Not atomic: see the module docs.
pub fn increment(key: &str, by: i64) -> Result<i64, HostError> {
    let current = get_string(key)?
        .and_then(|s| s.trim().parse::<i64>().ok())
        .unwrap_or(0);
    let next = current.saturating_add(by);
    set(key, next.to_string())?;
    Ok(next)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn native_store_round_trips() {
        crate::testing::reset();
        assert_eq!(get("a").unwrap(), None);
        set("a", "1").unwrap();
        assert_eq!(get_string("a").unwrap().as_deref(), Some("1"));
        assert_eq!(increment("a", 2).unwrap(), 3);
        assert_eq!(increment("fresh", 1).unwrap(), 1);
        set_json("j", &serde_json::json!({"x": [1]})).unwrap();
        let v: serde_json::Value = get_json("j").unwrap().unwrap();
        assert_eq!(v["x"][0], 1);
        assert!(get_json::<u32>("j").unwrap_err().is_invalid());
        assert_eq!(list_keys("", 10).unwrap(), vec!["a", "fresh", "j"]);
        assert_eq!(list_keys("f", 10).unwrap(), vec!["fresh"]);
        assert_eq!(list_keys("", 1).unwrap(), vec!["a"]);
        delete("a").unwrap();
        delete("a").unwrap();
        assert_eq!(get("a").unwrap(), None);
    }

    #[test]
    fn native_store_enforces_limits() {
        crate::testing::reset();
        crate::testing::set_kv_value_limit(4);
        assert!(set("k", "12345").unwrap_err().is_limit());
        set("k", "1234").unwrap();
        assert!(set(&"k".repeat(513), "v").unwrap_err().is_invalid());
        crate::testing::deny("kv");
        assert!(get("k").unwrap_err().is_denied());
        crate::testing::reset();
        assert_eq!(get("k").unwrap(), None);
    }
}
