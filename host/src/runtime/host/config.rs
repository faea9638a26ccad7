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
