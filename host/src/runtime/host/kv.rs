//! `printfarm:plugin/kv`: the plugin's private store, behind the `kv` capability.

use super::super::bindings::printfarm::plugin::kv;
use super::super::bindings::HostError;
use super::super::context::{cap, Granted};
use super::super::state::CallState;

/// Longest key accepted: keys are identifiers, not data.
pub const MAX_KEY_BYTES: usize = 512;
/// Most keys one `list-keys` call returns.
pub const MAX_LIST: u32 = 10_000;

fn storage_error(e: crate::storage::StorageError) -> HostError {
    tracing::error!(error = %e, "kv storage failed");
    HostError::Internal("the key-value store failed; the host log has details".into())
}

impl CallState {
    fn kv(&self, key: &str) -> Result<Granted<'_, cap::Kv>, HostError> {
        let kv = self.plugin.grant::<cap::Kv>()?;
        if key.len() > MAX_KEY_BYTES {
            return Err(HostError::Limit(format!(
                "kv key of {} bytes exceeds the {MAX_KEY_BYTES}-byte limit",
                key.len()
            )));
        }
        Ok(kv)
    }
}

impl kv::Host for CallState {
    async fn get(&mut self, key: String) -> Result<Option<Vec<u8>>, HostError> {
        self.kv(&key)?
            .storage()
            .kv_get(&self.plugin.id, &key)
            .await
            .map_err(storage_error)
    }

    async fn set(&mut self, key: String, value: Vec<u8>) -> Result<(), HostError> {
        let kv = self.kv(&key)?;
        let max = self.plugin.limits.max_kv_value_bytes;
        if value.len() as u64 > max {
            return Err(HostError::Limit(format!(
                "kv value of {} bytes exceeds this plugin's limit of {max} bytes (limits.max-kv-value-bytes)",
                value.len()
            )));
        }
        kv.storage()
            .kv_set(&self.plugin.id, &key, &value)
            .await
            .map_err(storage_error)
    }

    async fn delete(&mut self, key: String) -> Result<(), HostError> {
        self.kv(&key)?
            .storage()
            .kv_delete(&self.plugin.id, &key)
            .await
            .map_err(storage_error)
    }

    async fn list_keys(&mut self, prefix: String, limit: u32) -> Result<Vec<String>, HostError> {
        self.kv(&prefix)?
            .storage()
            .kv_keys(&self.plugin.id, &prefix, limit.min(MAX_LIST))
            .await
            .map_err(storage_error)
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{assert_denied, Harness};
    use super::*;

    #[tokio::test]
    async fn values_round_trip_per_plugin_within_limits() {
        let harness = Harness::new().await;
        let mut call = harness.call(&["kv"], &["kv"], "[limits]\nmax-kv-value-bytes = 8");
        kv::Host::set(&mut call, "a/1".into(), b"one".to_vec())
            .await
            .unwrap();
        kv::Host::set(&mut call, "a/2".into(), b"two".to_vec())
            .await
            .unwrap();
        assert_eq!(
            kv::Host::get(&mut call, "a/1".into()).await.unwrap(),
            Some(b"one".to_vec())
        );
        assert_eq!(
            kv::Host::list_keys(&mut call, "a/".into(), 10)
                .await
                .unwrap(),
            vec!["a/1".to_string(), "a/2".to_string()]
        );
        kv::Host::delete(&mut call, "a/1".into()).await.unwrap();
        assert_eq!(kv::Host::get(&mut call, "a/1".into()).await.unwrap(), None);
        // The limit: 9 bytes where 8 are allowed.
        match kv::Host::set(&mut call, "big".into(), vec![0; 9]).await {
            Err(HostError::Limit(message)) => assert!(message.contains("8 bytes"), "{message}"),
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn without_the_capability_every_call_is_denied() {
        let harness = Harness::new().await;
        // Declared but not granted, and granted but not declared: both denied.
        for mut call in [
            harness.call(&["kv"], &[], ""),
            harness.call(&[], &["kv"], ""),
        ] {
            assert_denied(kv::Host::get(&mut call, "k".into()).await, "kv");
            assert_denied(kv::Host::set(&mut call, "k".into(), vec![1]).await, "kv");
            assert_denied(kv::Host::delete(&mut call, "k".into()).await, "kv");
            assert_denied(kv::Host::list_keys(&mut call, "".into(), 1).await, "kv");
        }
    }
}
