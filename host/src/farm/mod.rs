//! The farm: the fleet of printers, the scheduler that feeds them from the queue, the bridge from
//! the core crate's (`printfarm-core`) changes to events, and the domain model they share with the
//! host interfaces plugins call. (Named `farm` so that "core" means only the `printfarm-core` crate.)
//!
//! The printer engine, the library and the queue fill these in; the runtime translates them to
//! the WIT types at the sandbox boundary.

pub mod bridge;
pub mod camera;
pub mod fleet;
pub mod printers;
pub mod scheduler;

pub use fleet::Fleet;
pub use printers::{PrinterState, PrinterSummary, Temperature};
