//! Snapshots of the printers' cameras (WIT interface `camera`, since contract 0.1.2: the
//! manifest's `api` must ask for `^0.1.2`). Needs the `printers.read` capability.
//!
//! A printer's camera is the webcam whose snapshot URL the operator set (`webcam-snapshot` in its
//! `[[printers]]` entry); the host fetches it, so the plugin needs no outbound grant. A virtual
//! printer without one gets a 640×480 picture the host draws (the print's thumbnail, a progress
//! bar, the state's colour), so that a plugin can be tried on virtual printers.
//!
//! ```no_run
//! use printfarm_sdk::camera;
//!
//! # fn main() -> Result<(), printfarm_sdk::HostError> {
//! let shot = camera::snapshot("p1")?;
//! assert_eq!(shot.content_type, "image/jpeg");
//! if !shot.generated {
//!     // A real camera's picture: worth sending to a failure detector.
//! }
//! # Ok(())
//! # }
//! ```

use super::host_call;
use crate::bindings::printfarm::plugin::camera as raw;
use crate::HostError;

/// One picture of a printer: `content_type` (`image/jpeg`), `data` (at most 8 MiB), and
/// `generated` (true when the host drew it for a virtual printer, false when a camera took it).
pub use raw::Snapshot;

/// A snapshot of printer `printer`'s camera, taken now (a webcam has 5 s to answer). WIT
/// `camera.take-snapshot`.
///
/// Fails with [`HostError::NotFound`] for an unknown printer and for a printer without a camera;
/// [`HostError::Unavailable`] when the webcam does not answer or answers with an HTTP error;
/// [`HostError::Limit`] for a picture over 8 MiB; [`HostError::Invalid`] when the webcam's
/// answer is not a JPEG. Each message names the printer and the webcam's URL.
pub fn snapshot(printer: &str) -> Result<Snapshot, HostError> {
    host_call!("camera::snapshot", raw::take_snapshot(printer))
}
