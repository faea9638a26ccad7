//! The farm's G-code library (WIT interface `files`).
//!
//! Reading ([`list`], [`stat`]) needs the `files.read` capability; storing, moving and deleting
//! need `files.write`. File bytes never pass through the plugin: uploads arrive as staged
//! [`Upload`](crate::Upload) handles that [`store_upload`] keeps, and downloads are answered
//! with [`Response::library_file`](crate::Response::library_file).
//!
//! Paths are relative to the library root, `/`-separated, without a leading slash
//! (`parts/benchy.gcode`); `""` is the root folder.

use super::host_call;
use crate::bindings::printfarm::plugin::files as raw;
use crate::HostError;

/// What the host's analysis found in a G-code file: line count, estimated print time, filament
/// per tool, layers, bounding box, slicer and embedded thumbnails.
pub use raw::Analysis;
/// A file or folder of the library: `path`, `name`, `is_folder`, `size`, `modified`, `sha256`,
/// `analysis`.
pub use raw::FileInfo;
/// A thumbnail a slicer embedded in a G-code file.
pub use raw::Thumbnail;

/// Lists a folder (`""` for the root); with `recursive`, everything below it.
pub fn list(folder: &str, recursive: bool) -> Result<Vec<FileInfo>, HostError> {
    host_call!("files::list", raw::list(folder, recursive))
}

/// One file or folder.
pub fn stat(path: &str) -> Result<FileInfo, HostError> {
    host_call!("files::stat", raw::stat(path))
}

/// Stores a staged upload (its [`Upload::handle`](crate::Upload)) at `path`, creating folders.
/// `conflict` if the file exists and not `overwrite`. Only valid during the request that
/// carried the upload.
pub fn store_upload(handle: u64, path: &str, overwrite: bool) -> Result<FileInfo, HostError> {
    host_call!(
        "files::store_upload",
        raw::store_upload(handle, path, overwrite)
    )
}

/// Creates a folder and its parents.
pub fn make_folder(path: &str) -> Result<FileInfo, HostError> {
    host_call!("files::make_folder", raw::make_folder(path))
}

/// Moves or renames a file or folder (WIT `move`; `move` is a Rust keyword). `conflict` if the
/// destination exists.
pub fn move_(source: &str, destination: &str) -> Result<FileInfo, HostError> {
    host_call!("files::move_", raw::move_(source, destination))
}

/// Copies a file or folder. `conflict` if the destination exists.
pub fn copy(source: &str, destination: &str) -> Result<FileInfo, HostError> {
    host_call!("files::copy", raw::copy(source, destination))
}

/// Deletes a file, or a folder with everything in it. `conflict` if a printer is printing it.
pub fn delete(path: &str) -> Result<(), HostError> {
    host_call!("files::delete", raw::delete(path))
}

/// Free and total bytes of the disk that holds the library.
pub fn space() -> Result<(u64, u64), HostError> {
    host_call!("files::space", raw::space())
}
