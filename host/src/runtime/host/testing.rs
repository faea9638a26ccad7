//! The in-process harness of the host interfaces' tests: one call's state on scratch services,
//! for a plugin whose manifest and grants the test writes. No component is built and no binary
//! started; what crosses the process is the end-to-end tests' business.

use std::sync::Arc;

use super::super::context::PluginContext;
use super::super::services::Services;
use super::super::state::{CallContext, CallState};
use crate::plugin::outbound::OutboundPolicy;
use crate::plugin::{Capability, Manifest};

/// Scratch services (a database and library in a temporary directory, no printers unless the
/// test declares some) shared by the calls a test makes.
pub(crate) struct Harness {
    pub(crate) services: Arc<Services>,
    _dir: tempfile::TempDir,
}

impl Harness {
    pub(crate) async fn new() -> Harness {
        Harness::with_printers("").await
    }

    /// Scratch services with the `[[printers]]` of `config` (a `printfarm.toml` fragment)
    /// declared: driven by nothing, so offline.
    pub(crate) async fn with_printers(config: &str) -> Harness {
        let dir = tempfile::tempdir().expect("temporary directory");
        let printers = crate::config::FarmConfig::parse(config, "test printers")
            .expect("a valid test config")
            .printers;
        let services = Arc::new(
            Services::scratch_with(dir.path(), &printers)
                .await
                .expect("scratch services"),
        );
        Harness {
            services,
            _dir: dir,
        }
    }

    /// A call of plugin `probe` declaring `declared` and granted `granted`, with `extra`
    /// manifest lines (limits, outbound hosts).
    pub(crate) fn call(&self, declared: &[&str], granted: &[&str], extra: &str) -> CallState {
        let manifest = Manifest::parse(
            &format!(
                "id = \"probe\"\nversion = \"0.1.0\"\napi = \"^0.1\"\nroutes = [\"GET /probe\"]\ncapabilities = {declared:?}\n{extra}"
            ),
            "probe/plugin.toml",
        )
        .expect("a valid test manifest");
        let granted: Vec<Capability> = granted
            .iter()
            .map(|name| name.parse().expect("a known capability"))
            .collect();
        let outbound =
            OutboundPolicy::new(&manifest.outbound_hosts, None).expect("valid test origins");
        let context = PluginContext::new(
            &manifest,
            granted,
            outbound,
            "{\"colour\": \"teal\"}".to_string(),
            self.services.clone(),
        );
        CallState::new(Arc::new(context), CallContext::default())
    }

    /// A call of a plugin that declares and was granted `capabilities`.
    pub(crate) fn granted(&self, capabilities: &[&str]) -> CallState {
        self.call(capabilities, capabilities, "")
    }
}

/// Asserts that `result` failed as `denied`, naming `capability`.
#[track_caller]
pub(crate) fn assert_denied<T: std::fmt::Debug>(
    result: Result<T, super::super::bindings::HostError>,
    capability: &str,
) {
    match result {
        Err(super::super::bindings::HostError::Denied(message)) => {
            assert!(message.contains(capability), "{message}")
        }
        other => panic!("expected denied({capability}), got {other:?}"),
    }
}
