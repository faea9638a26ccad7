//! A file arriving in the library: streamed to a temporary file beside the blobs, hashed on the
//! way, held to the size limit, and checked to be G-code from its first bytes.
//!
//! Nothing of an upload is ever visible in the library until [`Library::store`](super::Library::store)
//! commits it; a dropped [`Incoming`] deletes its temporary file.

use std::io::Write;
use std::path::Path;

use sha2::{Digest, Sha256};
use tempfile::NamedTempFile;

use crate::CoreError;

/// Bytes gathered before each write: large writes keep the disk and the hash busy with few calls.
const WRITE_CHUNK: usize = 1 << 20;
/// How much of the start of a file decides whether it is G-code.
pub const SNIFF_BYTES: usize = 8 << 10;

/// A finished upload, not yet in the library.
pub struct Received {
    pub(crate) file: tempfile::TempPath,
    /// Its size in bytes.
    pub size: u64,
    /// SHA-256 of its bytes, hex.
    pub sha256: String,
}

/// An upload being received.
pub struct Incoming {
    file: Option<(NamedTempFile, Sha256)>,
    buffer: Vec<u8>,
    size: u64,
    limit: u64,
    sniffed: bool,
}

impl Incoming {
    /// Starts receiving into a temporary file in `dir`, refusing more than `limit` bytes.
    pub fn new(dir: &Path, limit: u64) -> Result<Incoming, CoreError> {
        let file = tempfile::Builder::new()
            .prefix("incoming-")
            .tempfile_in(dir)
            .map_err(CoreError::io(format!(
                "creating an upload file in {}",
                dir.display()
            )))?;
        Ok(Incoming {
            file: Some((file, Sha256::new())),
            buffer: Vec::with_capacity(WRITE_CHUNK),
            size: 0,
            limit,
            sniffed: false,
        })
    }

    /// Appends bytes.
    pub async fn write(&mut self, bytes: &[u8]) -> Result<(), CoreError> {
        self.size += bytes.len() as u64;
        if self.size > self.limit {
            return Err(CoreError::TooLarge(format!(
                "the file is larger than the library's limit of {} MiB (upload-limit-mb in printfarm.toml)",
                self.limit >> 20
            )));
        }
        self.buffer.extend_from_slice(bytes);
        if !self.sniffed && self.buffer.len() >= SNIFF_BYTES {
            self.sniff()?;
        }
        if self.buffer.len() >= WRITE_CHUNK {
            self.flush().await?;
        }
        Ok(())
    }

    fn sniff(&mut self) -> Result<(), CoreError> {
        self.sniffed = true;
        let n = self.buffer.len().min(SNIFF_BYTES);
        printfarm_gcode::sniff(&self.buffer[..n]).map_err(|e| CoreError::Invalid(e.to_string()))
    }

    /// Writes and hashes the buffer on a blocking thread.
    async fn flush(&mut self) -> Result<(), CoreError> {
        let (mut file, mut hasher) = self.file.take().expect("incoming file present");
        let buffer = std::mem::replace(&mut self.buffer, Vec::with_capacity(WRITE_CHUNK));
        let (file, hasher) = tokio::task::spawn_blocking(move || {
            hasher.update(&buffer);
            file.write_all(&buffer).map(|()| (file, hasher))
        })
        .await
        .map_err(|e| CoreError::io("writing an upload")(std::io::Error::other(e)))?
        .map_err(CoreError::io("writing an upload"))?;
        self.file = Some((file, hasher));
        Ok(())
    }

    /// Completes the upload: the file is G-code, flushed to disk and hashed.
    pub async fn finish(mut self) -> Result<Received, CoreError> {
        if !self.sniffed {
            self.sniff()?;
        }
        self.flush().await?;
        let (file, hasher) = self.file.take().expect("incoming file present");
        let file = tokio::task::spawn_blocking(move || file.as_file().sync_data().map(|()| file))
            .await
            .map_err(|e| CoreError::io("syncing an upload")(std::io::Error::other(e)))?
            .map_err(CoreError::io("syncing an upload"))?;
        Ok(Received {
            file: file.into_temp_path(),
            size: self.size,
            sha256: hex::encode(hasher.finalize()),
        })
    }
}

/// Receives a file that is already on disk (an upload the host staged for a plugin).
pub async fn receive_file(path: &Path, dir: &Path, limit: u64) -> Result<Received, CoreError> {
    use tokio::io::AsyncReadExt;
    let mut source = tokio::fs::File::open(path)
        .await
        .map_err(CoreError::io(format!("opening {}", path.display())))?;
    let mut incoming = Incoming::new(dir, limit)?;
    let mut buffer = vec![0u8; WRITE_CHUNK];
    loop {
        let n = source
            .read(&mut buffer)
            .await
            .map_err(CoreError::io(format!("reading {}", path.display())))?;
        if n == 0 {
            break;
        }
        incoming.write(&buffer[..n]).await?;
    }
    incoming.finish().await
}
