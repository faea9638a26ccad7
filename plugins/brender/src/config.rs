//! `[plugins.brender.config]`: who a request without a key acts as. The original clients send no
//! credentials; an operator who runs them lets their networks in explicitly.

use ipnet::IpNet;
use printfarm_sdk::auth::Role;
use serde::Deserialize;

/// The operator's configuration, validated by the host against `config.schema.json`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Config {
    /// Networks (`192.168.1.0/24`, `127.0.0.1/32`) whose requests need no key. Default: none.
    #[serde(default)]
    pub anonymous_networks: Vec<String>,
    /// The farm user such a request acts as (recorded where the farm records who acted).
    #[serde(default = "default_user")]
    pub anonymous_user: String,
    /// Its role: `operator` (the original clients change things) or `viewer`.
    #[serde(default = "default_role")]
    pub anonymous_role: String,
}

fn default_user() -> String {
    "brender".into()
}

fn default_role() -> String {
    "operator".into()
}

impl Config {
    /// The configuration (the default when none is set).
    pub fn get() -> Config {
        printfarm_sdk::config().unwrap_or_default()
    }

    /// The role of an anonymous request from `remote` (`ip:port`), `None` outside the networks.
    pub fn anonymous_role(&self, remote: &str) -> Option<Role> {
        if self.anonymous_networks.is_empty() {
            return None;
        }
        let ip: std::net::IpAddr = crate::args::ip_of(remote).parse().ok()?;
        let inside = self
            .anonymous_networks
            .iter()
            .filter_map(|n| n.parse::<IpNet>().ok())
            .any(|n| n.contains(&ip));
        let role = match self.anonymous_role.as_str() {
            "viewer" => Role::Viewer,
            _ => Role::Operator,
        };
        inside.then_some(role)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_listed_networks_act_without_a_key() {
        let c = Config {
            anonymous_networks: vec!["10.0.0.0/8".into(), "::1/128".into()],
            ..Config::default()
        };
        assert_eq!(c.anonymous_role("10.2.3.4:5000"), Some(Role::Operator));
        assert_eq!(c.anonymous_role("[::1]:5000"), Some(Role::Operator));
        assert_eq!(c.anonymous_role("192.168.1.2:5000"), None);
        assert_eq!(Config::default().anonymous_role("10.2.3.4:1"), None);
    }
}
