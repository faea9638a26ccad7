//! Streaming analysis of G-code files for printfarm's G-code library.
//!
//! [`sniff`] looks at the first few KiB of an upload and refuses what is not G-code, with a
//! reason the uploader can read. [`analyse`] then reads the whole file once, in constant memory,
//! and returns an [`Analysis`]: print time, filament per tool, layers, the printed volume's
//! bounds, the slicer's name and the embedded thumbnails. Slicer-provided figures are preferred;
//! otherwise a kinematic model and the moves themselves supply them.
//!
//! Analysis is CPU-bound and reads a file that may be hundreds of megabytes: call it on a
//! blocking thread, not an async task.
//!
//! Modules, one idea each: `parse` (bytes of one line), `scan` (the streaming pass), `machine`
//! (positions, modes, filament, bounds), `kinematics` (the time model), `slicer` (comment
//! metadata), `thumbnail` (embedded images), `sniff` (the upload check), `analysis` (the result),
//! `motion` (the same time model on a clock, for a simulated printer).

#![warn(missing_docs)]

mod analysis;
mod kinematics;
mod machine;
pub mod motion;
mod parse;
mod scan;
mod slicer;
mod sniff;
mod thumbnail;

use std::io::{self, Read};
use std::path::Path;

pub use analysis::{image_mime_type, Analysis, Bounds, EstimateSource, Thumbnail};
pub use sniff::{sniff, NotGcode, SNIFF_LEN};
pub use thumbnail::{MAX_THUMBNAILS, MAX_THUMBNAIL_BYTES};

/// Analyses G-code read from `reader` to its end, in one streaming pass with flat memory
/// (a 1 MiB read buffer plus at most [`MAX_THUMBNAIL_BYTES`] of thumbnails). `reader` needs no
/// buffering of its own.
///
/// Any bytes are accepted: lines that are not G-code are counted as commands if they are not
/// comments, and otherwise ignored; use [`sniff`] first to refuse files that are not G-code.
/// The only errors are the reader's.
pub fn analyse<R: Read>(reader: R) -> io::Result<Analysis> {
    scan::analyse(reader)
}

/// Opens the file at `path` and [`analyse`]s it.
pub fn analyse_path(path: &Path) -> io::Result<Analysis> {
    analyse(std::fs::File::open(path)?)
}

#[cfg(test)]
mod tests;
