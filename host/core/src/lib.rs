//! printfarm's farm core: what every API surface shares.
//!
//! - [`storage`]: the database. Every SQL statement of the core lives there, behind typed methods,
//!   so that another backend can come in behind the same interface.
//! - [`identity`]: users, roles, API keys, passwords and sessions.
//! - [`library`]: the G-code library: files on disk, metadata and analysis in the database.
//! - [`queue`]: the persistent job queue, print claims and print history.
//!
//! Each service publishes what changed on its own channel; the host bridges those to its event bus.

pub mod error;
pub mod identity;
pub mod library;
pub mod queue;
pub mod storage;
pub mod time;

pub use error::CoreError;
