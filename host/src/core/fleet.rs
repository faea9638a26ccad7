//! The farm's printers: one supervisor per `[[printers]]` entry, virtual printers on ptys for
//! `port = "virtual"`, and the bridge from their events to the host's event bus.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use printfarm_serial::engine::EngineConfig;
use printfarm_serial::sim::{SimConfig, VirtualPrinter};
use printfarm_serial::supervisor::{
    Printer, PrinterEvent, PrinterEventKind, PrinterSettings, TemperatureSample,
};
use tokio::sync::broadcast;

use super::printers::PrinterSummary;
use crate::config::PrinterConfig;
use crate::events::{CoreEvent, EventBus};

/// Printer events buffered between the supervisors and the bridge to the event bus.
const PRINTER_EVENT_BACKLOG: usize = 4096;

/// One printer of the farm.
struct FleetPrinter {
    config: PrinterConfig,
    /// `None` when nothing drives it (`printfarm plugin check`).
    printer: Option<Printer>,
    /// Keeps a virtual printer's pty alive for as long as the fleet runs.
    _simulator: Option<VirtualPrinter>,
}

/// Every printer of this host, in config order.
pub struct Fleet {
    printers: Vec<FleetPrinter>,
}

impl Fleet {
    /// Printers as declared, driven by nothing: for tools that only need the list.
    pub fn declared(configs: &[PrinterConfig]) -> Fleet {
        Fleet {
            printers: configs
                .iter()
                .map(|config| FleetPrinter {
                    config: config.clone(),
                    printer: None,
                    _simulator: None,
                })
                .collect(),
        }
    }

    /// Starts a supervisor per printer (and a simulated printer on a pty under
    /// `<data-dir>/virtual/` for each `port = "virtual"`), publishing to `bus`.
    pub fn start(
        configs: &[PrinterConfig],
        data_dir: &Path,
        bus: &EventBus,
    ) -> anyhow::Result<Fleet> {
        let (sender, receiver) = broadcast::channel(PRINTER_EVENT_BACKLOG);
        tokio::spawn(bridge(receiver, bus.clone()));
        let mut printers = Vec::with_capacity(configs.len());
        for config in configs {
            let (port, simulator) = if config.is_virtual() {
                let link = data_dir.join("virtual").join(&config.id);
                let sim = SimConfig {
                    speed: config.virtual_speed.unwrap_or(1.0),
                    ..SimConfig::default()
                };
                let simulator = VirtualPrinter::start(&link, sim).with_context(|| {
                    format!(
                        "starting virtual printer `{}` at {}",
                        config.id,
                        link.display()
                    )
                })?;
                (link, Some(simulator))
            } else {
                (PathBuf::from(&config.port), None)
            };
            let printer = Printer::spawn(
                PrinterSettings {
                    id: config.id.clone(),
                    engine: engine_config(config, port),
                    auto_connect: config.auto_connect,
                },
                sender.clone(),
            );
            printers.push(FleetPrinter {
                config: config.clone(),
                printer: Some(printer),
                _simulator: simulator,
            });
        }
        Ok(Fleet { printers })
    }

    /// Every printer's summary, in config order.
    pub fn summaries(&self) -> Vec<PrinterSummary> {
        self.printers.iter().map(summary).collect()
    }

    /// One printer's summary.
    pub fn summary(&self, id: &str) -> Option<PrinterSummary> {
        self.find(id).map(summary)
    }

    /// The supervisor of a printer, when one drives it.
    pub fn printer(&self, id: &str) -> Option<&Printer> {
        self.find(id).and_then(|p| p.printer.as_ref())
    }

    /// A printer's config.
    pub fn config(&self, id: &str) -> Option<&PrinterConfig> {
        self.find(id).map(|p| &p.config)
    }

    /// The last `limit` temperature samples of a printer, oldest first.
    pub fn temperature_history(&self, id: &str, limit: usize) -> Vec<TemperatureSample> {
        self.printer(id)
            .map(|p| p.temperature_history(limit))
            .unwrap_or_default()
    }

    fn find(&self, id: &str) -> Option<&FleetPrinter> {
        self.printers.iter().find(|p| p.config.id == id)
    }
}

fn summary(p: &FleetPrinter) -> PrinterSummary {
    match &p.printer {
        Some(printer) => PrinterSummary::new(&p.config, printer.status()),
        None => PrinterSummary::declared(&p.config),
    }
}

/// The engine settings of a configured printer.
fn engine_config(config: &PrinterConfig, port: PathBuf) -> EngineConfig {
    let mut engine = EngineConfig::new(port, config.baud);
    engine.rx_buffer = config.rx_buffer;
    engine.command_buffer = config.command_buffer;
    engine.send_ahead = config.send_ahead;
    if let Some(secs) = config.ack_timeout_secs {
        engine.ack_timeout = Duration::from_secs_f64(secs);
    }
    engine.pause_script = config.pause_script.clone();
    engine.resume_script = config.resume_script.clone();
    engine.cancel_script = config.cancel_script.clone();
    engine
}

/// Republishes printer events as core events.
async fn bridge(mut receiver: broadcast::Receiver<PrinterEvent>, bus: EventBus) {
    loop {
        let event = match receiver.recv().await {
            Ok(event) => event,
            Err(broadcast::error::RecvError::Lagged(lost)) => {
                tracing::warn!(lost, "printer events lost before reaching the event bus");
                continue;
            }
            Err(broadcast::error::RecvError::Closed) => return,
        };
        let printer = event.printer;
        let core = match event.kind {
            PrinterEventKind::State {
                previous,
                current,
                reason,
            } => CoreEvent::PrinterState {
                printer,
                previous,
                current,
                reason,
            },
            PrinterEventKind::Temperatures(sample) => CoreEvent::Temperatures {
                printer,
                time: sample.time_ms,
                readings: sample.readings,
            },
            PrinterEventKind::Progress(progress) => CoreEvent::Progress { printer, progress },
            PrinterEventKind::Print {
                phase,
                progress,
                reason,
            } => CoreEvent::Print {
                printer,
                phase,
                file: progress.file.display().to_string(),
                task_id: None,
                elapsed_secs: progress.elapsed_secs,
                reason,
            },
            PrinterEventKind::Log(line) => CoreEvent::PrinterLog { printer, line },
        };
        bus.publish(core);
    }
}
