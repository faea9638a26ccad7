//! `printfarm:plugin/config`: the plugin's validated config and its id.

use super::super::bindings::printfarm::plugin::config;
use super::super::state::CallState;

impl config::Host for CallState {
    async fn get_json(&mut self) -> String {
        self.plugin.config_json.clone()
    }

    async fn plugin_id(&mut self) -> String {
        self.plugin.id.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::Harness;
    use super::*;

    #[tokio::test]
    async fn a_plugin_reads_its_own_config_and_id_without_any_capability() {
        let harness = Harness::new().await;
        let mut call = harness.call(&[], &[], "");
        assert_eq!(config::Host::plugin_id(&mut call).await, "probe");
        let json: serde_json::Value =
            serde_json::from_str(&config::Host::get_json(&mut call).await).unwrap();
        assert_eq!(json["colour"], "teal");
    }
}
