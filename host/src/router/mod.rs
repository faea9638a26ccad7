//! The route table: built once at startup from the manifests and the operator's mounts, before any
//! guest runs. Overlapping routes of two plugins are refused, naming both.

pub mod mount;
pub mod table;

pub use mount::validate_mount;
pub use table::{Listener, RouteTable, RouteTarget, TableError};
