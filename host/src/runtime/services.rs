//! The host's core services, which every plugin's host interfaces reach through the capability
//! views of [`PluginContext::grant`](super::context::PluginContext::grant).

use super::host::sockets::SocketHub;
use crate::events::EventBus;
use crate::farm::camera::Cameras;
use crate::farm::scheduler::{ActivePrints, Scheduler};
use crate::farm::Fleet;
use crate::storage::Storage;
use printfarm_core::identity::Identities;
use printfarm_core::library::Library;
use printfarm_core::queue::Queue;

/// The host's core services, shared by every plugin.
pub struct Services {
    /// The database.
    pub storage: Storage,
    /// The farm's printers, in config order.
    pub printers: Fleet,
    /// Users, API keys and sessions.
    pub identities: Identities,
    /// The G-code library.
    pub library: Library,
    /// The job queue.
    pub queue: Queue,
    /// What the scheduler prints where.
    pub active: ActivePrints,
    /// The scheduler (for prints started by hand).
    pub scheduler: Scheduler,
    /// The event bus.
    pub events: EventBus,
    /// The bus's events for browsers and API consumers, numbered and coalesced; the server
    /// starts its hub.
    pub stream: crate::events::stream::EventStream,
    /// The HTTP client for outbound calls.
    pub http: reqwest::Client,
    /// Client push connections and outbound websockets.
    pub sockets: SocketHub,
    /// The printers' cameras (webcams, and the frames drawn for virtual printers).
    pub cameras: Cameras,
}

impl Services {
    /// The services over an open core. The scheduler is made, not spawned: the server spawns
    /// it once everything else has started.
    pub fn new(
        storage: Storage,
        printers: Fleet,
        library: Library,
        queue: Queue,
        active: ActivePrints,
        events: EventBus,
    ) -> Result<Services, reqwest::Error> {
        let scheduler = Scheduler::new(
            printers.clone(),
            queue.clone(),
            library.clone(),
            active.clone(),
        );
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("printfarm/", env!("CARGO_PKG_VERSION")))
            .build()?;
        let cameras = Cameras::new(
            http.clone(),
            printers.clone(),
            active.clone(),
            library.clone(),
        );
        Ok(Services {
            identities: Identities::new(storage.clone()),
            storage,
            printers,
            library,
            queue,
            active,
            scheduler,
            events,
            stream: Default::default(),
            http,
            sockets: SocketHub::default(),
            cameras,
        })
    }

    /// Services on a scratch database and library in `dir`, with no printers: what checking a
    /// plugin package runs its component against.
    pub async fn scratch(dir: &std::path::Path) -> anyhow::Result<Services> {
        Services::scratch_with(dir, &[]).await
    }

    /// Services on a scratch database and library in `dir`, with `printers` declared (driven by
    /// nothing, so offline).
    pub async fn scratch_with(
        dir: &std::path::Path,
        printers: &[crate::config::PrinterConfig],
    ) -> anyhow::Result<Services> {
        let storage = Storage::open_sqlite(&dir.join("scratch.db")).await?;
        let library = Library::open(storage.clone(), &dir.join("library"), 1 << 20).await?;
        let facts = printers
            .iter()
            .map(|p| printfarm_core::queue::PrinterFacts {
                id: p.id.clone(),
                tags: p.tags(),
            })
            .collect();
        let queue = Queue::open(storage.clone(), library.clone(), facts).await?;
        Ok(Services::new(
            storage,
            Fleet::declared(printers),
            library,
            queue,
            ActivePrints::default(),
            EventBus::default(),
        )?)
    }

    /// Every printer's summary with its bed state, in config order.
    pub fn printer_summaries(&self) -> Vec<crate::farm::PrinterSummary> {
        self.printers
            .summaries()
            .into_iter()
            .map(|s| self.with_bed(s))
            .collect()
    }

    /// One printer's summary with its bed state.
    pub fn printer_summary(&self, id: &str) -> Option<crate::farm::PrinterSummary> {
        self.printers.summary(id).map(|s| self.with_bed(s))
    }

    fn with_bed(&self, mut summary: crate::farm::PrinterSummary) -> crate::farm::PrinterSummary {
        summary.bed_clear = self.queue.bed_state(&summary.id).unwrap_or(false);
        summary
    }
}
