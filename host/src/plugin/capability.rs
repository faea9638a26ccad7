//! Capabilities: what a plugin declares it needs and the operator grants.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// One capability of the host interfaces. A host call succeeds only when the plugin declared it in
/// `plugin.toml` *and* the operator granted it in `printfarm.toml`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Capability {
    /// Read printers' state and temperature history.
    PrintersRead,
    /// Connect, command and control printers.
    PrintersControl,
    /// List and read files of the G-code library, serve them for download.
    FilesRead,
    /// Store uploads, create folders, move, copy and delete files.
    FilesWrite,
    /// Read the job queue and print history.
    JobsRead,
    /// Enqueue and control jobs.
    JobsWrite,
    /// Verify API keys and passwords, manage sessions.
    Auth,
    /// Issue new API keys (application-key workflows).
    AuthIssueKeys,
    /// The plugin's private key-value store.
    Kv,
    /// Outbound HTTP to allow-listed hosts.
    OutboundHttp,
    /// Outbound websockets to allow-listed hosts.
    OutboundWs,
}

impl Capability {
    /// Every capability, in the order the docs list them.
    pub const ALL: [Capability; 11] = [
        Capability::PrintersRead,
        Capability::PrintersControl,
        Capability::FilesRead,
        Capability::FilesWrite,
        Capability::JobsRead,
        Capability::JobsWrite,
        Capability::Auth,
        Capability::AuthIssueKeys,
        Capability::Kv,
        Capability::OutboundHttp,
        Capability::OutboundWs,
    ];

    /// The name used in manifests and config files.
    pub fn name(self) -> &'static str {
        match self {
            Capability::PrintersRead => "printers.read",
            Capability::PrintersControl => "printers.control",
            Capability::FilesRead => "files.read",
            Capability::FilesWrite => "files.write",
            Capability::JobsRead => "jobs.read",
            Capability::JobsWrite => "jobs.write",
            Capability::Auth => "auth",
            Capability::AuthIssueKeys => "auth.issue-keys",
            Capability::Kv => "kv",
            Capability::OutboundHttp => "outbound-http",
            Capability::OutboundWs => "outbound-ws",
        }
    }
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Capability {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Capability::ALL
            .into_iter()
            .find(|c| c.name() == s)
            .ok_or_else(|| {
                let known: Vec<_> = Capability::ALL.iter().map(|c| c.name()).collect();
                format!(
                    "unknown capability `{s}`; known capabilities: {}",
                    known.join(", ")
                )
            })
    }
}

impl TryFrom<String> for Capability {
    type Error = String;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<Capability> for String {
    fn from(c: Capability) -> String {
        c.name().to_string()
    }
}

/// What one plugin may do: its declared capabilities intersected with the operator's grants.
#[derive(Debug, Clone, Default)]
pub struct Grants {
    declared: BTreeSet<Capability>,
    granted: BTreeSet<Capability>,
}

impl Grants {
    /// Builds the grants of a plugin from its manifest's declaration and the operator's grant list.
    pub fn new(
        declared: impl IntoIterator<Item = Capability>,
        granted: impl IntoIterator<Item = Capability>,
    ) -> Self {
        Grants {
            declared: declared.into_iter().collect(),
            granted: granted.into_iter().collect(),
        }
    }

    /// Checks that `cap` is both declared and granted; the error says which half is missing and
    /// what to change, in words a plugin can pass on.
    pub fn check(&self, plugin: &str, cap: Capability) -> Result<(), String> {
        if !self.declared.contains(&cap) {
            return Err(format!(
                "capability `{cap}` denied: plugin `{plugin}` does not declare it in the \
                 `capabilities` of its plugin.toml"
            ));
        }
        if !self.granted.contains(&cap) {
            return Err(format!(
                "capability `{cap}` denied: the operator has not granted it to plugin `{plugin}`; \
                 add \"{cap}\" to `grants` under [plugins.{plugin}] in printfarm.toml"
            ));
        }
        Ok(())
    }

    /// Capabilities the plugin declared.
    pub fn declared(&self) -> impl Iterator<Item = Capability> + '_ {
        self.declared.iter().copied()
    }

    /// Capabilities the plugin may use (declared and granted).
    pub fn effective(&self) -> impl Iterator<Item = Capability> + '_ {
        self.declared.intersection(&self.granted).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for cap in Capability::ALL {
            assert_eq!(cap.name().parse::<Capability>().unwrap(), cap);
        }
        assert!("printers.write"
            .parse::<Capability>()
            .unwrap_err()
            .contains("printers.read"));
    }

    #[test]
    fn both_declaration_and_grant_are_needed() {
        let g = Grants::new(
            [Capability::Kv, Capability::JobsRead],
            [Capability::Kv, Capability::Auth],
        );
        assert!(g.check("p", Capability::Kv).is_ok());
        assert!(g
            .check("p", Capability::JobsRead)
            .unwrap_err()
            .contains("not granted"));
        assert!(g
            .check("p", Capability::Auth)
            .unwrap_err()
            .contains("does not declare"));
        assert_eq!(g.effective().collect::<Vec<_>>(), vec![Capability::Kv]);
    }
}
