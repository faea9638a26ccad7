//! The farm's domain model, shared by the core services and the host interfaces plugins call.
//!
//! The printer engine, the library and the queue fill these in; the runtime translates them to
//! the WIT types at the sandbox boundary.

pub mod bridge;
pub mod fleet;
pub mod printers;
pub mod scheduler;

pub use fleet::Fleet;
pub use printers::{PrinterState, PrinterSummary, Temperature};
