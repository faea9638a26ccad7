//! Plugin packages: a directory holding `plugin.toml` and the `.wasm` component.
//!
//! Loading a package follows one lifecycle: [`manifest`] parses and validates the manifest,
//! [`package`] checks the API version against the ones [`api`] serves (before anything is
//! compiled) and the config schema,
//! [`capability`] intersects what the plugin declares with what the operator grants.

pub mod api;
pub mod capability;
pub mod manifest;
pub mod outbound;
pub mod package;
pub mod route;

pub use capability::{Capability, Grants};
pub use manifest::{Limits, Manifest};
pub use package::{Package, PackageError};
pub use route::{MethodSet, RouteSpec};
