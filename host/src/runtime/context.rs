//! What every call of one plugin shares, and capabilities in the types: a host interface reaches
//! the core's services only through a [`Granted`] view, and only [`PluginContext::grant`] makes
//! one, after checking that the plugin holds the capability. So a new host function cannot forget
//! the check: without it, there is no way to the services (as wasmtime-wasi-http hands out its
//! `WasiHttpCtxView`). Each view opens only the services its capability needs (the `kv` view has
//! no printers, the `files` views no queue), but a service whole: a view for reading and one for
//! changing the same service (`FilesRead`, `FilesWrite`) hand out the same object, so a function
//! that checks the weaker of two capabilities is caught by review and the in-process tests, not by
//! the types.
//!
//! What needs no capability (the plugin's own push connections, the events its manifest
//! subscribes to) has accessors of its own on [`PluginContext`].

use std::marker::PhantomData;
use std::sync::Arc;

use super::bindings::HostError;
use super::host::sockets::{Outgoing, SocketHub, SocketKind};
use super::services::Services;
use crate::events::EventBus;
use crate::farm::camera::Cameras;
use crate::farm::scheduler::Scheduler;
use crate::farm::Fleet;
use crate::plugin::outbound::OutboundPolicy;
use crate::plugin::{Capability, Grants, Limits, Manifest};
use crate::storage::Storage;
use printfarm_core::identity::Identities;
use printfarm_core::library::Library;
use printfarm_core::queue::Queue;

/// What every call of one plugin shares.
///
/// Its services are private: host code reaches them only through [`grant`](Self::grant).
///
/// ```compile_fail
/// fn bypass(ctx: &printfarm::runtime::context::PluginContext) {
///     let _ = &ctx.services; // error: the field is private
/// }
/// ```
pub struct PluginContext {
    /// Plugin id.
    pub id: String,
    /// Declared ∩ granted capabilities.
    pub grants: Grants,
    /// Its limits.
    pub limits: Limits,
    /// Its validated config, as JSON text.
    pub config_json: String,
    /// Where outbound calls may go.
    pub outbound: OutboundPolicy,
    /// Its path mount (the operator's, or the manifest's default), with `{printer}` for a
    /// per-printer plugin.
    pub mount: String,
    /// The core: private, reached through [`grant`](Self::grant).
    services: Arc<Services>,
}

impl PluginContext {
    /// The context of a plugin: its manifest's declarations narrowed by the operator's grants
    /// (`granted` capabilities), the `outbound` policy the plan checked, and its validated
    /// config.
    pub fn new(
        manifest: &Manifest,
        granted: impl IntoIterator<Item = Capability>,
        outbound: OutboundPolicy,
        config_json: String,
        services: Arc<Services>,
    ) -> PluginContext {
        PluginContext {
            id: manifest.id.clone(),
            grants: Grants::new(manifest.capabilities.iter().copied(), granted),
            limits: manifest.limits.clone(),
            config_json,
            outbound,
            mount: manifest.default_mount(),
            services,
        }
    }

    /// The same context mounted at `mount` (the operator's `[plugins.<id>] mount`).
    pub fn mounted_at(mut self, mount: String) -> PluginContext {
        self.mount = mount;
        self
    }

    /// The view of capability `C`, or the WIT error the guest receives when the plugin does not
    /// hold it (not declared in its manifest, or not granted by the operator).
    pub fn grant<C: Cap>(&self) -> Result<Granted<'_, C>, HostError> {
        self.grants
            .check(&self.id, C::CAPABILITY)
            .map_err(HostError::Denied)?;
        Ok(Granted {
            services: &self.services,
            _capability: PhantomData,
        })
    }

    /// The plugin's own client push connections (no capability: it reaches only its own).
    pub fn push(&self) -> PushChannel<'_> {
        PushChannel {
            hub: &self.services.sockets,
            plugin: &self.id,
        }
    }

    /// The event bus, for the hook worker that delivers the events the manifest subscribes to.
    pub fn events(&self) -> &EventBus {
        &self.services.events
    }

    /// The event stream of browsers and API consumers, where the host announces the plugin's
    /// state and the key requests it files.
    pub fn stream(&self) -> &crate::events::stream::EventStream {
        &self.services.stream
    }
}

/// A capability as a type, so that which services a [`Granted`] view opens is decided when the
/// host is compiled.
pub trait Cap {
    /// The capability this type stands for.
    const CAPABILITY: Capability;
}

/// One type per [`Capability`], named as its variant.
pub mod cap {
    use super::{Cap, Capability};

    macro_rules! capability_types {
        ($($name:ident),* $(,)?) => {
            $(
                #[doc = concat!("[`Capability::", stringify!($name), "`] as a type.")]
                pub struct $name;
                impl Cap for $name {
                    const CAPABILITY: Capability = Capability::$name;
                }
            )*
            /// The capabilities that have a type here, which must be all of them.
            pub const TYPED: &[Capability] = &[$(Capability::$name),*];
        };
    }

    capability_types!(
        PrintersRead,
        PrintersControl,
        FilesRead,
        FilesWrite,
        JobsRead,
        JobsWrite,
        Auth,
        AuthIssueKeys,
        Kv,
        OutboundHttp,
        OutboundWs,
    );
}

/// Proof that the plugin holds capability `C`, and the services `C` covers. Made only by
/// [`PluginContext::grant`].
pub struct Granted<'a, C: Cap> {
    services: &'a Arc<Services>,
    _capability: PhantomData<C>,
}

impl<'a> Granted<'a, cap::PrintersRead> {
    /// The farm's printers, to read their state and history.
    pub fn printers(&self) -> &'a Fleet {
        &self.services.printers
    }

    /// Every printer's summary with its bed state.
    pub fn summaries(&self) -> Vec<crate::farm::PrinterSummary> {
        self.services.printer_summaries()
    }

    /// One printer's summary with its bed state.
    pub fn summary(&self, id: &str) -> Option<crate::farm::PrinterSummary> {
        self.services.printer_summary(id)
    }

    /// The printers' cameras.
    pub fn cameras(&self) -> &'a Cameras {
        &self.services.cameras
    }
}

impl<'a> Granted<'a, cap::PrintersControl> {
    /// The farm's printers, to command them.
    pub fn printers(&self) -> &'a Fleet {
        &self.services.printers
    }

    /// The scheduler, for prints started by hand.
    pub fn scheduler(&self) -> &'a Scheduler {
        &self.services.scheduler
    }

    /// The queue, for a printer's bed state.
    pub fn queue(&self) -> &'a Queue {
        &self.services.queue
    }
}

impl<'a> Granted<'a, cap::FilesRead> {
    /// The G-code library, to read.
    pub fn library(&self) -> &'a Library {
        &self.services.library
    }
}

impl<'a> Granted<'a, cap::FilesWrite> {
    /// The G-code library, to change.
    pub fn library(&self) -> &'a Library {
        &self.services.library
    }
}

impl<'a> Granted<'a, cap::JobsRead> {
    /// The job queue and print history, to read.
    pub fn queue(&self) -> &'a Queue {
        &self.services.queue
    }
}

impl<'a> Granted<'a, cap::JobsWrite> {
    /// The job queue, to change.
    pub fn queue(&self) -> &'a Queue {
        &self.services.queue
    }

    /// The printers, to stop the running copies of a cancelled job.
    pub fn printers(&self) -> &'a Fleet {
        &self.services.printers
    }
}

impl<'a> Granted<'a, cap::Auth> {
    /// Users, keys and sessions, to verify.
    pub fn identities(&self) -> &'a Identities {
        &self.services.identities
    }
}

impl<'a> Granted<'a, cap::AuthIssueKeys> {
    /// Users and keys, to issue keys.
    pub fn identities(&self) -> &'a Identities {
        &self.services.identities
    }
}

impl<'a> Granted<'a, cap::Kv> {
    /// The database that holds every plugin's key-value store (keyed by plugin id).
    pub fn storage(&self) -> &'a Storage {
        &self.services.storage
    }
}

impl<'a> Granted<'a, cap::OutboundHttp> {
    /// The HTTP client for outbound calls (the caller checks the destination's origin).
    pub fn http(&self) -> &'a reqwest::Client {
        &self.services.http
    }
}

impl<'a> Granted<'a, cap::OutboundWs> {
    /// The socket hub, for the plugin's outbound websockets.
    pub fn sockets(&self) -> &'a SocketHub {
        &self.services.sockets
    }

    /// The socket hub, owned, for the task that carries a websocket's frames after the call.
    pub fn sockets_owned(&self) -> OwnedSockets {
        OwnedSockets(self.services.clone())
    }
}

/// The socket hub, owned (see [`Granted::sockets_owned`]).
pub struct OwnedSockets(Arc<Services>);

impl OwnedSockets {
    /// The hub.
    pub fn hub(&self) -> &SocketHub {
        &self.0.sockets
    }
}

/// A plugin's own client push connections.
pub struct PushChannel<'a> {
    hub: &'a SocketHub,
    plugin: &'a str,
}

impl PushChannel<'_> {
    /// Queues a message or a close for one of the plugin's push connections.
    pub fn send(&self, conn: u64, outgoing: Outgoing) -> Result<(), HostError> {
        self.hub.send(self.plugin, SocketKind::Push, conn, outgoing)
    }

    /// The plugin's open push connections, of one printer or all.
    pub fn connections(
        &self,
        printer: Option<&str>,
    ) -> Vec<super::bindings::printfarm::plugin::push::Connection> {
        self.hub.push_connections(self.plugin, printer)
    }
}

#[cfg(test)]
mod tests {
    use super::super::host::testing::Harness;
    use super::*;

    #[tokio::test]
    async fn a_view_is_handed_out_only_for_a_capability_declared_and_granted() {
        let harness = Harness::new().await;
        // Declared but not granted, granted but not declared, neither: no view, and the error
        // names the capability.
        for (declared, granted) in [(&["kv"][..], &[][..]), (&[], &["kv"]), (&[], &[])] {
            let state = harness.call(declared, granted, "");
            match state.plugin.grant::<cap::Kv>() {
                Err(HostError::Denied(message)) => assert!(message.contains("kv"), "{message}"),
                Err(other) => panic!("expected a denial, got {other:?}"),
                Ok(_) => {
                    panic!("kv view handed out with declared {declared:?}, granted {granted:?}")
                }
            }
        }
        let state = harness.granted(&["kv"]);
        assert!(state.plugin.grant::<cap::Kv>().is_ok());
        assert!(
            state.plugin.grant::<cap::FilesRead>().is_err(),
            "one capability opens no other"
        );
    }

    #[test]
    fn every_capability_has_a_type() {
        assert_eq!(cap::TYPED, &Capability::ALL[..]);
    }
}
