//! A library file streamed from disk, never read into memory: host API downloads and plugins'
//! `library-file` response bodies.

use axum::body::Body;
use printfarm_core::library::{FileInfo, Library};
use printfarm_core::CoreError;

/// The content type G-code is served with unless a plugin says otherwise.
pub const GCODE_CONTENT_TYPE: &str = "text/x.gcode";
/// Bytes read from disk at a time: large reads keep the socket fed with few system calls.
const READ_CHUNK: usize = 256 << 10;

/// The file at `path` (which must be a file) and a body streaming its bytes.
pub async fn open(library: &Library, path: &str) -> Result<(FileInfo, Body), CoreError> {
    let (entry, disk) = library.file_on_disk(path).await?;
    let file = tokio::fs::File::open(&disk)
        .await
        .map_err(CoreError::io(format!(
            "opening library file `{}`",
            entry.path
        )))?;
    let body = Body::from_stream(tokio_util::io::ReaderStream::with_capacity(
        file, READ_CHUNK,
    ));
    Ok((entry, body))
}
