//! `printfarm:plugin/printers`: reading needs `printers.read`, control needs `printers.control`.
//!
//! This build lists the printers of the config (all offline); control answers `unavailable` until
//! the serial engine is part of the host.

use super::super::bindings::printfarm::plugin::printers::{self, PrinterInfo, TemperatureSample};
use super::super::bindings::HostError;
use super::super::convert;
use super::super::state::CallState;
use crate::core::PrinterSummary;
use crate::plugin::Capability;

impl CallState {
    fn printer_summaries(&self) -> Vec<PrinterSummary> {
        self.plugin
            .services
            .printers
            .iter()
            .map(PrinterSummary::declared)
            .collect()
    }

    fn find_printer(&self, id: &str) -> Result<PrinterSummary, HostError> {
        self.printer_summaries()
            .into_iter()
            .find(|p| p.id == id)
            .ok_or_else(|| HostError::NotFound(format!("no printer with id `{id}`")))
    }

    fn control(&self, id: &str) -> Result<(), HostError> {
        self.plugin.require(Capability::PrintersControl)?;
        self.find_printer(id)?;
        Err(HostError::Unavailable(format!(
            "printer `{id}` cannot be controlled: this printfarm build has no serial engine yet"
        )))
    }
}

impl printers::Host for CallState {
    async fn list(&mut self) -> Result<Vec<PrinterInfo>, HostError> {
        self.plugin.require(Capability::PrintersRead)?;
        Ok(self
            .printer_summaries()
            .iter()
            .map(convert::printer_info)
            .collect())
    }

    async fn get(&mut self, id: String) -> Result<PrinterInfo, HostError> {
        self.plugin.require(Capability::PrintersRead)?;
        Ok(convert::printer_info(&self.find_printer(&id)?))
    }

    async fn temperature_history(
        &mut self,
        id: String,
        _limit: u32,
    ) -> Result<Vec<TemperatureSample>, HostError> {
        self.plugin.require(Capability::PrintersRead)?;
        self.find_printer(&id)?;
        Ok(Vec::new())
    }

    async fn connect(&mut self, id: String) -> Result<(), HostError> {
        self.control(&id)
    }
    async fn disconnect(&mut self, id: String) -> Result<(), HostError> {
        self.control(&id)
    }
    async fn send_commands(&mut self, id: String, _commands: Vec<String>) -> Result<(), HostError> {
        self.control(&id)
    }
    async fn start_print(&mut self, id: String, _file: String) -> Result<(), HostError> {
        self.control(&id)
    }
    async fn pause(&mut self, id: String) -> Result<(), HostError> {
        self.control(&id)
    }
    async fn resume(&mut self, id: String) -> Result<(), HostError> {
        self.control(&id)
    }
    async fn cancel(&mut self, id: String) -> Result<(), HostError> {
        self.control(&id)
    }
    async fn emergency_stop(&mut self, id: String) -> Result<(), HostError> {
        self.control(&id)
    }
    async fn set_temperature(
        &mut self,
        id: String,
        _heater: String,
        _target: f64,
    ) -> Result<(), HostError> {
        self.control(&id)
    }
    async fn jog(
        &mut self,
        id: String,
        _x: Option<f64>,
        _y: Option<f64>,
        _z: Option<f64>,
        _absolute: bool,
        _speed: Option<f64>,
    ) -> Result<(), HostError> {
        self.control(&id)
    }
    async fn home(&mut self, id: String, _axes: Vec<String>) -> Result<(), HostError> {
        self.control(&id)
    }
    async fn bed_cleared(&mut self, id: String) -> Result<(), HostError> {
        self.control(&id)
    }
}
