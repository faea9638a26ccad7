//! Multipart bodies: file parts stream to the staging directory, never into memory; other fields
//! are kept as text. The plugin receives handles to the staged files.

use std::path::Path;

use std::time::Duration;

use axum::body::{Body, BodyDataStream};
use futures::TryStreamExt;
use tokio::io::AsyncWriteExt;

use crate::runtime::bindings::{FormField, UploadedFile};
use crate::runtime::state::StagedUpload;

/// Most fields (file or not) one request may carry.
pub const MAX_FIELDS: usize = 256;

/// A request body that could not be staged.
#[derive(Debug, thiserror::Error)]
pub enum StagingError {
    /// Over a size limit (413).
    #[error("{0}")]
    TooLarge(String),
    /// Malformed multipart (400).
    #[error("malformed multipart body: {0}")]
    Malformed(String),
    /// The staging directory failed (500).
    #[error("cannot stage the upload: {0}")]
    Io(#[from] std::io::Error),
}

/// What a multipart body became.
#[derive(Default)]
pub struct Staged {
    /// Text fields, in order.
    pub form: Vec<FormField>,
    /// File parts, in order.
    pub uploads: Vec<UploadedFile>,
    /// The staged files by handle; they are deleted when dropped.
    pub files: Vec<(u64, StagedUpload)>,
}

/// How much of a refused body is still read (and discarded) before the connection closes.
///
/// A server that closes a socket with unread data makes the kernel reset the connection, and a
/// client still writing its upload then sees a broken pipe instead of the 413 that says why.
/// Reading a bounded remainder lets ordinary clients read the answer; a client sending far more
/// than this is cut off anyway.
pub const DRAIN_LIMIT_BYTES: u64 = 16 << 20;

/// How long a refused body is read at most, so a slow sender cannot hold the connection.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(3);

/// Reads and discards what is left of a refused body (at most [`DRAIN_LIMIT_BYTES`] within
/// [`DRAIN_TIMEOUT`]), so the client can read the error before the connection closes.
pub async fn drain(stream: &mut BodyDataStream) {
    let discard = async {
        let mut read = 0u64;
        while let Ok(Some(chunk)) = stream.try_next().await {
            read += chunk.len() as u64;
            if read > DRAIN_LIMIT_BYTES {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(DRAIN_TIMEOUT, discard).await;
}

/// Streams a multipart body: file parts to `dir` (at most `upload_limit` bytes in all), text fields
/// into memory (at most `field_limit` bytes in all).
pub async fn stage_multipart(
    body: Body,
    boundary: String,
    dir: &Path,
    upload_limit: u64,
    field_limit: u64,
) -> Result<Staged, StagingError> {
    let mut stream = body.into_data_stream();
    let staged = stage_parts(&mut stream, boundary, dir, upload_limit, field_limit).await;
    if staged.is_err() {
        drain(&mut stream).await;
    }
    staged
}

async fn stage_parts(
    stream: &mut BodyDataStream,
    boundary: String,
    dir: &Path,
    upload_limit: u64,
    field_limit: u64,
) -> Result<Staged, StagingError> {
    let mut multipart = multer::Multipart::new(stream, boundary);
    let mut staged = Staged::default();
    let (mut file_bytes, mut field_bytes) = (0u64, 0u64);
    let too_large_upload = || {
        StagingError::TooLarge(format!(
            "the upload exceeds the server's limit of {} MiB (upload-limit-mb in printfarm.toml)",
            upload_limit >> 20
        ))
    };
    while let Some(mut field) = multipart.next_field().await.map_err(malformed)? {
        if staged.form.len() + staged.uploads.len() >= MAX_FIELDS {
            return Err(StagingError::TooLarge(format!(
                "more than {MAX_FIELDS} multipart fields"
            )));
        }
        let name = field.name().unwrap_or_default().to_string();
        match field.file_name().map(str::to_string) {
            Some(filename) => {
                let content_type = field.content_type().map(|m| m.to_string());
                let temp = tempfile::Builder::new()
                    .prefix("upload-")
                    .tempfile_in(dir)?;
                let (std_file, path) = temp.into_parts();
                let mut file = tokio::fs::File::from_std(std_file);
                let mut size = 0u64;
                while let Some(chunk) = field.chunk().await.map_err(malformed)? {
                    size += chunk.len() as u64;
                    file_bytes += chunk.len() as u64;
                    if file_bytes > upload_limit {
                        return Err(too_large_upload());
                    }
                    file.write_all(&chunk).await?;
                }
                file.flush().await?;
                let handle = staged.files.len() as u64 + 1;
                staged.uploads.push(UploadedFile {
                    field: name,
                    filename,
                    content_type,
                    size,
                    handle,
                });
                staged
                    .files
                    .push((handle, StagedUpload { file: path, size }));
            }
            None => {
                let mut value = Vec::new();
                while let Some(chunk) = field.chunk().await.map_err(malformed)? {
                    field_bytes += chunk.len() as u64;
                    if field_bytes > field_limit {
                        return Err(StagingError::TooLarge(format!(
                            "the multipart text fields exceed {field_limit} bytes (the plugin's limits.max-body-bytes)"
                        )));
                    }
                    value.extend_from_slice(&chunk);
                }
                let value = String::from_utf8(value).map_err(|_| {
                    StagingError::Malformed(format!(
                        "field `{name}` is not UTF-8 text; send it as a file part"
                    ))
                })?;
                staged.form.push(FormField { name, value });
            }
        }
    }
    Ok(staged)
}

fn malformed(e: multer::Error) -> StagingError {
    StagingError::Malformed(e.to_string())
}

/// Reads a whole small body, refusing one over `limit` bytes.
pub async fn read_limited(body: Body, limit: u64) -> Result<Vec<u8>, StagingError> {
    let mut out = Vec::new();
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream
        .try_next()
        .await
        .map_err(|e| StagingError::Malformed(e.to_string()))?
    {
        if (out.len() + chunk.len()) as u64 > limit {
            drain(&mut stream).await;
            return Err(StagingError::TooLarge(format!(
                "the request body exceeds {limit} bytes (the plugin's limits.max-body-bytes)"
            )));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}
