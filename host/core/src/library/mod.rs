//! The G-code library: files and folders by path, their bytes in immutable blobs under
//! `<data-dir>/library/blobs`, their metadata and analysis in the database.
//!
//! Paths name database rows only, so moves and renames are one transaction and a crash never
//! leaves a half-moved tree. A blob is written completely and synced before its row is committed;
//! blobs that no row or unfinished job references are removed at start.

pub mod incoming;
pub mod path;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;
use tokio::sync::{broadcast, Semaphore};

pub use incoming::{Incoming, Received};
pub use printfarm_gcode::Analysis;

use crate::storage::Storage;
use crate::time::now_ms;
use crate::CoreError;

/// The thumbnails an analysis found, as listed.
pub fn thumbnails_of(analysis: &Analysis) -> Vec<ThumbnailInfo> {
    analysis
        .thumbnails
        .iter()
        .enumerate()
        .map(|(i, t)| ThumbnailInfo {
            index: i as u32,
            width: t.width,
            height: t.height,
            format: t.format.clone(),
        })
        .collect()
}

/// Library events buffered for slow subscribers.
const EVENT_BACKLOG: usize = 1024;

/// Where an analysis stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum AnalysisState {
    /// Not analysed yet (it runs in the background after the upload).
    Pending,
    /// Done: `analysis` holds the result.
    Done,
    /// It failed: `analysis_error` says why.
    Failed,
}

/// A thumbnail as listed (the bytes are served separately).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ThumbnailInfo {
    /// Its index, for the thumbnail URL.
    pub index: u32,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// `png`, `jpg` or `qoi`.
    pub format: String,
}

/// A file or folder of the library.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct FileInfo {
    /// Path relative to the library root.
    pub path: String,
    /// The last path component.
    pub name: String,
    /// True for folders.
    pub is_folder: bool,
    /// Size in bytes (0 for folders).
    pub size: u64,
    /// When it was stored (ms since the epoch).
    pub modified_ms: i64,
    /// SHA-256 of the content, hex.
    pub sha256: Option<String>,
    /// Where the analysis stands (files only).
    pub analysis_state: Option<AnalysisState>,
    /// The analysis, once done.
    #[schema(value_type = Option<Object>)]
    pub analysis: Option<Analysis>,
    /// Why the analysis failed.
    pub analysis_error: Option<String>,
    /// Embedded thumbnails.
    pub thumbnails: Vec<ThumbnailInfo>,
    /// The blob holding the bytes.
    #[serde(skip)]
    pub blob: Option<String>,
}

/// What happened to a library entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FileChange {
    /// Added (uploaded, copied or moved here).
    Added,
    /// Removed (deleted or moved away).
    Removed,
    /// Its analysis finished.
    Analysed,
}

/// A change of the library.
#[derive(Debug, Clone)]
pub struct LibraryEvent {
    /// The file or folder.
    pub path: String,
    /// What happened.
    pub change: FileChange,
}

struct Inner {
    storage: Storage,
    blobs: PathBuf,
    incoming: PathBuf,
    max_file_bytes: u64,
    events: broadcast::Sender<LibraryEvent>,
    /// One analysis at a time: it is CPU-bound and must not starve printers of a core.
    analysing: Semaphore,
}

/// The library service. Cheap to clone.
#[derive(Clone)]
pub struct Library {
    inner: Arc<Inner>,
}

impl Library {
    /// Opens the library under `dir`: removes leftovers of interrupted uploads and unreferenced
    /// blobs, and analyses files whose analysis a restart interrupted.
    pub async fn open(
        storage: Storage,
        dir: &Path,
        max_file_bytes: u64,
    ) -> Result<Library, CoreError> {
        let blobs = dir.join("blobs");
        let incoming = dir.join("incoming");
        let _ = std::fs::remove_dir_all(&incoming);
        for d in [&blobs, &incoming] {
            std::fs::create_dir_all(d)
                .map_err(CoreError::io(format!("creating {}", d.display())))?;
        }
        let library = Library {
            inner: Arc::new(Inner {
                storage,
                blobs,
                incoming,
                max_file_bytes,
                events: broadcast::channel(EVENT_BACKLOG).0,
                analysing: Semaphore::new(1),
            }),
        };
        library.sweep_blobs().await?;
        for (path, blob) in library.inner.storage.unanalysed_files().await? {
            library.spawn_analysis(path, blob);
        }
        Ok(library)
    }

    /// Library changes, from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<LibraryEvent> {
        self.inner.events.subscribe()
    }

    /// The largest file accepted, in bytes.
    pub fn max_file_bytes(&self) -> u64 {
        self.inner.max_file_bytes
    }

    /// Starts receiving an upload. Write its bytes, `finish` it, then [`store`](Self::store) it.
    pub fn incoming(&self) -> Result<Incoming, CoreError> {
        Incoming::new(&self.inner.incoming, self.inner.max_file_bytes)
    }

    /// Receives a file already on disk (a staged upload), copying it into the library's area.
    pub async fn receive_file(&self, file: &Path) -> Result<Received, CoreError> {
        incoming::receive_file(file, &self.inner.incoming, self.inner.max_file_bytes).await
    }

    fn publish(&self, path: &str, change: FileChange) {
        let _ = self.inner.events.send(LibraryEvent {
            path: path.to_string(),
            change,
        });
    }

    /// The disk path of a blob.
    pub fn blob_path(&self, blob: &str) -> PathBuf {
        self.inner.blobs.join(blob)
    }

    /// Commits a received file at `path` (missing folders are created). `Conflict` if something
    /// is there and not `overwrite`, if a folder is in the way, or if the file is printing.
    pub async fn store(
        &self,
        received: Received,
        path: &str,
        overwrite: bool,
    ) -> Result<FileInfo, CoreError> {
        let path = path::normalise_gcode(path)?;
        let blob = format!("{}.gcode", crate::identity::secret::generate());
        let blob_path = self.blob_path(&blob);
        received
            .file
            .persist(&blob_path)
            .map_err(|e| CoreError::io(format!("storing {path}"))(e.error))?;
        let replaced = self
            .inner
            .storage
            .insert_file(
                &path,
                received.size,
                &received.sha256,
                &blob,
                now_ms(),
                overwrite,
            )
            .await;
        let replaced = match replaced {
            Ok(replaced) => replaced,
            Err(e) => {
                // Nothing half-written: the row was not committed, so the blob goes too.
                let _ = std::fs::remove_file(&blob_path);
                return Err(e);
            }
        };
        if let Some(old) = replaced {
            self.collect_blob(&old).await;
        }
        self.publish(&path, FileChange::Added);
        self.spawn_analysis(path.clone(), blob);
        self.stat(&path).await
    }

    /// Creates a folder and its parents. `Conflict` if a file is in the way.
    pub async fn make_folder(&self, path: &str) -> Result<FileInfo, CoreError> {
        let path = path::normalise(path)?;
        if path.is_empty() {
            return Err(CoreError::Conflict("the library root exists".into()));
        }
        self.inner.storage.insert_folder(&path, now_ms()).await?;
        self.publish(&path, FileChange::Added);
        self.stat(&path).await
    }

    /// One file or folder.
    pub async fn stat(&self, path: &str) -> Result<FileInfo, CoreError> {
        let path = path::normalise(path)?;
        self.inner
            .storage
            .library_entry(&path)
            .await?
            .ok_or_else(|| {
                CoreError::NotFound(format!("no file or folder `{path}` in the library"))
            })
    }

    /// A folder's entries (the root is `""`), with `recursive` everything below it; folders first, by name.
    pub async fn list(&self, folder: &str, recursive: bool) -> Result<Vec<FileInfo>, CoreError> {
        let folder = path::normalise(folder)?;
        if !folder.is_empty() && !self.stat(&folder).await?.is_folder {
            return Err(CoreError::Invalid(format!(
                "`{folder}` is a file, not a folder"
            )));
        }
        self.inner.storage.list_library(&folder, recursive).await
    }

    /// Moves or renames a file or folder. `Conflict` if the destination exists or the source prints.
    pub async fn move_entry(&self, source: &str, destination: &str) -> Result<FileInfo, CoreError> {
        let (source, destination) = self.check_transfer(source, destination).await?;
        if self.inner.storage.printing_under(&source).await? {
            return Err(CoreError::Conflict(format!(
                "`{source}` is printing; move it when the print ends"
            )));
        }
        self.inner
            .storage
            .move_entries(&source, &destination, now_ms())
            .await?;
        self.publish(&source, FileChange::Removed);
        self.publish(&destination, FileChange::Added);
        self.stat(&destination).await
    }

    /// Copies a file or folder. `Conflict` if the destination exists.
    pub async fn copy_entry(&self, source: &str, destination: &str) -> Result<FileInfo, CoreError> {
        let (source, destination) = self.check_transfer(source, destination).await?;
        let entries = self.inner.storage.entries_under(&source).await?;
        // Blobs are immutable, so a copy may share their bytes through a hard link.
        let mut copies = Vec::new();
        for entry in &entries {
            let new_blob = match &entry.blob {
                Some(old) => {
                    let new = format!("{}.gcode", crate::identity::secret::generate());
                    let (from, to) = (self.blob_path(old), self.blob_path(&new));
                    if std::fs::hard_link(&from, &to).is_err() {
                        std::fs::copy(&from, &to)
                            .map_err(CoreError::io(format!("copying {}", entry.path)))?;
                    }
                    Some(new)
                }
                None => None,
            };
            copies.push((entry.clone(), new_blob));
        }
        let result = self
            .inner
            .storage
            .copy_entries(&source, &destination, &copies, now_ms())
            .await;
        if let Err(e) = result {
            for (_, blob) in &copies {
                if let Some(b) = blob {
                    let _ = std::fs::remove_file(self.blob_path(b));
                }
            }
            return Err(e);
        }
        // Copies carry their source's analysis; only files whose analysis had not finished need one.
        for (entry, blob) in copies {
            if let (Some(b), None) = (blob, &entry.analysis) {
                if let Some(p) = self.inner.storage.path_of_blob(&b).await? {
                    self.spawn_analysis(p, b);
                }
            }
        }
        self.publish(&destination, FileChange::Added);
        self.stat(&destination).await
    }

    async fn check_transfer(
        &self,
        source: &str,
        destination: &str,
    ) -> Result<(String, String), CoreError> {
        let source = path::normalise(source)?;
        let entry = self.stat(&source).await?;
        let destination = if entry.is_folder {
            path::normalise(destination)?
        } else {
            path::normalise_gcode(destination)?
        };
        if source.is_empty() || destination.is_empty() {
            return Err(CoreError::Invalid(
                "the library root cannot be moved or copied".into(),
            ));
        }
        if destination == source || destination.starts_with(&format!("{source}/")) {
            return Err(CoreError::Invalid(format!(
                "cannot put `{source}` inside itself (`{destination}`)"
            )));
        }
        if self
            .inner
            .storage
            .library_entry(&destination)
            .await?
            .is_some()
        {
            return Err(CoreError::Conflict(format!(
                "`{destination}` exists; delete it first or pick another name"
            )));
        }
        Ok((source, destination))
    }

    /// Deletes a file, or a folder with everything in it. `Conflict` if a printer is printing it.
    /// Jobs already queued keep printing the bytes they were queued with.
    pub async fn delete(&self, path: &str) -> Result<(), CoreError> {
        let path = path::normalise(path)?;
        if path.is_empty() {
            return Err(CoreError::Invalid(
                "the library root cannot be deleted".into(),
            ));
        }
        self.stat(&path).await?;
        if self.inner.storage.printing_under(&path).await? {
            return Err(CoreError::Conflict(format!(
                "`{path}` is printing; cancel the print first"
            )));
        }
        let blobs = self.inner.storage.delete_entries(&path).await?;
        for blob in blobs {
            self.collect_blob(&blob).await;
        }
        self.publish(&path, FileChange::Removed);
        Ok(())
    }

    /// Free and total bytes of the disk holding the library.
    pub fn space(&self) -> Result<(u64, u64), CoreError> {
        let stat = rustix::fs::statvfs(&self.inner.blobs)
            .map_err(|e| CoreError::io("reading the library disk's size")(e.into()))?;
        let unit = stat.f_frsize;
        Ok((stat.f_bavail * unit, stat.f_blocks * unit))
    }

    /// A thumbnail's format and bytes.
    pub async fn thumbnail(&self, path: &str, index: u32) -> Result<(String, Vec<u8>), CoreError> {
        let entry = self.stat(path).await?;
        let blob = entry
            .blob
            .ok_or_else(|| CoreError::Invalid(format!("`{path}` is a folder")))?;
        self.inner
            .storage
            .thumbnail(&blob, index)
            .await?
            .ok_or_else(|| CoreError::NotFound(format!("`{path}` has no thumbnail {index}")))
    }

    /// The disk path of a file's bytes, for downloads and prints.
    pub async fn file_on_disk(&self, path: &str) -> Result<(FileInfo, PathBuf), CoreError> {
        let entry = self.stat(path).await?;
        match &entry.blob {
            Some(blob) => {
                let disk = self.blob_path(blob);
                Ok((entry, disk))
            }
            None => Err(CoreError::Invalid(format!(
                "`{}` is a folder, not a file",
                entry.path
            ))),
        }
    }

    /// Deletes a blob nothing references any more (no library row, no unfinished job).
    pub async fn collect_blob(&self, blob: &str) {
        match self.inner.storage.blob_referenced(blob).await {
            Ok(false) => {
                let _ = std::fs::remove_file(self.blob_path(blob));
                let _ = self.inner.storage.delete_thumbnails(blob).await;
            }
            Ok(true) => {}
            Err(e) => {
                tracing::warn!(blob, error = %e, "cannot tell whether a blob is still used; kept")
            }
        }
    }

    async fn sweep_blobs(&self) -> Result<(), CoreError> {
        let dir = std::fs::read_dir(&self.inner.blobs).map_err(CoreError::io(format!(
            "reading {}",
            self.inner.blobs.display()
        )))?;
        let referenced = self.inner.storage.referenced_blobs().await?;
        for entry in dir.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if !referenced.contains(&name) {
                tracing::info!(blob = %name, "removing a blob no file or job references (an upload a crash interrupted)");
                let _ = std::fs::remove_file(entry.path());
                self.inner.storage.delete_thumbnails(&name).await?;
            }
        }
        Ok(())
    }

    fn spawn_analysis(&self, path: String, blob: String) {
        let library = self.clone();
        tokio::spawn(async move {
            let Ok(_permit) = library.inner.analysing.acquire().await else {
                return;
            };
            let disk = library.blob_path(&blob);
            let started = std::time::Instant::now();
            let result = tokio::task::spawn_blocking(move || printfarm_gcode::analyse_path(&disk))
                .await
                .map_err(|e| e.to_string())
                .and_then(|r| r.map_err(|e| e.to_string()));
            let stored = match result {
                Ok(analysis) => {
                    tracing::info!(%path, ms = started.elapsed().as_millis() as u64, lines = analysis.lines, "file analysed");
                    library
                        .inner
                        .storage
                        .set_analysis(&blob, Ok(&analysis))
                        .await
                }
                Err(e) => {
                    tracing::warn!(%path, error = %e, "file analysis failed");
                    library.inner.storage.set_analysis(&blob, Err(&e)).await
                }
            };
            match stored {
                Ok(()) => {
                    if let Ok(Some(p)) = library.inner.storage.path_of_blob(&blob).await {
                        library.publish(&p, FileChange::Analysed);
                    }
                }
                Err(e) => tracing::warn!(%path, error = %e, "cannot store a file's analysis"),
            }
        });
    }

    /// Waits until no analysis runs or waits (for tests and benchmarks).
    pub async fn idle(&self) {
        loop {
            if self
                .inner
                .storage
                .unanalysed_files()
                .await
                .map(|f| f.is_empty())
                .unwrap_or(true)
            {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }
}
