//! Camera snapshots of the farm's printers, for plugins that show or upload one (WIT
//! `camera.snapshot`):
//!
//! - a printer with `webcam-snapshot` in its `[[printers]]` entry: the JPEG its webcam serves
//!   there ([`webcam`]);
//! - a virtual printer without one: a frame the host draws ([`frame`]) from the print's slicer
//!   thumbnail ([`thumbnail`]), a progress bar and the printer's state, so that plugins and their
//!   servers can be tried on a farm of virtual printers;
//! - any other printer has no camera.
//!
//! Plugins ask every few seconds for every printer (a status page of 50 printers every 10 s),
//! so a drawn frame is cheap: the decoded and scaled thumbnail is kept per file content (blob),
//! and a printer's last frame is handed out again while nothing it shows has changed.

pub mod frame;
pub mod thumbnail;
pub mod webcam;

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use printfarm_core::library::Library;

use super::scheduler::ActivePrints;
use super::Fleet;
use frame::{FrameKey, State};
use thumbnail::Scaled;

/// Scaled thumbnails kept, by file content: one per printer of a large farm, and a few more
/// for files printed in turn.
const THUMBNAIL_CACHE: usize = 64;

/// A snapshot: what a camera saw, or what the host drew for a virtual printer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// `image/jpeg`.
    pub content_type: String,
    /// The image.
    pub data: Vec<u8>,
    /// True when the host drew it (a virtual printer), false when a camera took it.
    pub generated: bool,
}

/// Why there is no snapshot. Each message names the printer and, for a webcam, its URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CameraError {
    /// No printer has this id.
    #[error("{0}")]
    UnknownPrinter(String),
    /// The printer has no camera.
    #[error("{0}")]
    NoCamera(String),
    /// The webcam did not answer, or answered with an error.
    #[error("{0}")]
    Unavailable(String),
    /// The webcam's answer is larger than [`webcam::MAX_SNAPSHOT_BYTES`].
    #[error("{0}")]
    TooLarge(String),
    /// The webcam's answer is not a JPEG.
    #[error("{0}")]
    NotJpeg(String),
    /// Drawing a frame failed (the host logs why).
    #[error("{0}")]
    Internal(String),
}

/// The farm's cameras. Cheap to clone; clones share the caches.
#[derive(Clone)]
pub struct Cameras {
    http: reqwest::Client,
    fleet: Fleet,
    active: ActivePrints,
    library: Library,
    caches: Arc<Caches>,
}

#[derive(Default)]
struct Caches {
    thumbnails: Mutex<Thumbnails>,
    /// Each printer's last drawn frame, by printer id.
    frames: Mutex<HashMap<String, LastFrame>>,
}

/// Scaled thumbnails by blob (`None`: the file has none that can be drawn), at most
/// [`THUMBNAIL_CACHE`], the oldest dropped first.
#[derive(Default)]
struct Thumbnails {
    by_blob: HashMap<String, Option<Arc<Scaled>>>,
    /// The blobs in the order they came in, oldest first.
    order: VecDeque<String>,
}

impl Thumbnails {
    fn insert(&mut self, blob: &str, scaled: Option<Arc<Scaled>>) {
        if self.by_blob.insert(blob.to_string(), scaled).is_none() {
            self.order.push_back(blob.to_string());
            while self.order.len() > THUMBNAIL_CACHE {
                if let Some(oldest) = self.order.pop_front() {
                    self.by_blob.remove(&oldest);
                }
            }
        }
    }
}

/// A printer's last drawn frame and what it showed.
struct LastFrame {
    key: FrameKey,
    jpeg: Arc<Vec<u8>>,
}

impl Cameras {
    /// The cameras of `fleet`'s printers; webcams are fetched with `http`, frames drawn from
    /// what `active` prints and the `library`'s thumbnails.
    pub fn new(
        http: reqwest::Client,
        fleet: Fleet,
        active: ActivePrints,
        library: Library,
    ) -> Self {
        Cameras {
            http,
            fleet,
            active,
            library,
            caches: Arc::default(),
        }
    }

    /// A snapshot of printer `id`.
    pub async fn snapshot(&self, id: &str) -> Result<Snapshot, CameraError> {
        let config = self
            .fleet
            .config(id)
            .ok_or_else(|| CameraError::UnknownPrinter(format!("no printer with id `{id}`")))?;
        if let Some(url) = &config.webcam_snapshot {
            return webcam::fetch(&self.http, id, url).await;
        }
        if !config.is_virtual() {
            return Err(CameraError::NoCamera(format!(
                "printer {id} has no camera: set webcam-snapshot in its [[printers]] entry"
            )));
        }
        self.draw(id).await
    }

    /// The frame of virtual printer `id`: the one drawn last when it would look the same.
    async fn draw(&self, id: &str) -> Result<Snapshot, CameraError> {
        let summary = self
            .fleet
            .summary(id)
            .ok_or_else(|| CameraError::UnknownPrinter(format!("no printer with id `{id}`")))?;
        let state = State::of(summary.state);
        let fraction = summary.progress.as_ref().map(|p| p.fraction());
        let blob = summary
            .progress
            .as_ref()
            .and_then(|_| self.active.running_claim(id));
        // From the cache but for the first frame of a file, so cheap to ask before the key.
        let picture = match &blob {
            Some(claim) => self.thumbnail(&claim.file, &claim.blob).await,
            None => None,
        };
        let key = FrameKey::new(
            blob.map(|c| c.blob).filter(|_| picture.is_some()),
            state,
            fraction,
        );
        if let Some(last) = self.caches.frames.lock().expect("frames lock").get(id) {
            if last.key == key {
                return Ok(generated(last.jpeg.to_vec()));
            }
        }
        let jpeg =
            tokio::task::spawn_blocking(move || frame::draw(picture.as_deref(), state, fraction))
                .await
                .map_err(|e| e.to_string())
                .and_then(|drawn| drawn.map_err(|e| e.to_string()))
                .map_err(|e| {
                    tracing::error!(printer = id, error = %e, "drawing a camera frame failed");
                    CameraError::Internal(format!(
                    "the host failed to draw the frame of printer {id}; its log has the details"
                ))
                })?;
        let jpeg = Arc::new(jpeg);
        self.caches.frames.lock().expect("frames lock").insert(
            id.to_string(),
            LastFrame {
                key,
                jpeg: jpeg.clone(),
            },
        );
        Ok(generated(jpeg.to_vec()))
    }

    /// The thumbnail of library file `path` with content `blob`, scaled for a frame: from the
    /// cache, or read and decoded once. `None` when the file has no PNG thumbnail, was replaced
    /// or moved since the print started, or is not analysed yet (then asked again next time).
    async fn thumbnail(&self, path: &str, blob: &str) -> Option<Arc<Scaled>> {
        if let Some(cached) = self
            .caches
            .thumbnails
            .lock()
            .expect("thumbnails lock")
            .by_blob
            .get(blob)
        {
            return cached.clone();
        }
        let entry = self.library.stat(path).await.ok()?;
        if entry.blob.as_deref() != Some(blob) || entry.analysis.is_none() {
            return None;
        }
        let best = thumbnail::best(&entry.thumbnails);
        let scaled = match best {
            None => None,
            Some(index) => {
                let (_, png) = self.library.thumbnail(path, index).await.ok()?;
                let decoded = tokio::task::spawn_blocking(move || {
                    thumbnail::decode_png(&png)
                        .map(|image| image.scaled_to_fit(frame::PICTURE.0, frame::PICTURE.1))
                })
                .await
                .ok()?;
                match decoded {
                    Ok(scaled) => Some(Arc::new(scaled)),
                    Err(e) => {
                        tracing::warn!(file = path, error = %e, "a thumbnail cannot be decoded; the camera frame shows none");
                        None
                    }
                }
            }
        };
        self.caches
            .thumbnails
            .lock()
            .expect("thumbnails lock")
            .insert(blob, scaled.clone());
        scaled
    }
}

fn generated(data: Vec<u8>) -> Snapshot {
    Snapshot {
        content_type: "image/jpeg".into(),
        data,
        generated: true,
    }
}
