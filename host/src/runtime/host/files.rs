//! `printfarm:plugin/files`: reading needs `files.read`, changes need `files.write`.
//!
//! The G-code library of the core. Uploads are stored from the host's staged files by handle, so
//! file bytes never enter the plugin.

use super::super::bindings::printfarm::plugin::files::{self, Analysis, FileInfo, Thumbnail};
use super::super::bindings::HostError;
use super::super::context::cap;
use super::super::state::CallState;
use super::core_error;
use printfarm_core::library;

fn analysis(a: &library::Analysis) -> Analysis {
    Analysis {
        lines: a.lines,
        estimated_print_secs: a.estimated_print_secs,
        filament_mm: a.filament_mm.clone(),
        layers: a.layers,
        bounds: a
            .bounds
            .map(|b| (b.min_x, b.min_y, b.min_z, b.max_x, b.max_y, b.max_z)),
        slicer: a.slicer.clone(),
        thumbnails: a
            .thumbnails
            .iter()
            .map(|t| Thumbnail {
                width: t.width,
                height: t.height,
                format: t.format.clone(),
            })
            .collect(),
    }
}

/// A library entry as WIT sees it.
pub fn file_info(f: &library::FileInfo) -> FileInfo {
    FileInfo {
        path: f.path.clone(),
        name: f.name.clone(),
        is_folder: f.is_folder,
        size: f.size,
        modified: f.modified_ms.max(0) as u64,
        sha256: f.sha256.clone(),
        analysis: f.analysis.as_ref().map(analysis),
    }
}

impl files::Host for CallState {
    async fn list(&mut self, folder: String, recursive: bool) -> Result<Vec<FileInfo>, HostError> {
        let entries = self
            .plugin
            .grant::<cap::FilesRead>()?
            .library()
            .list(&folder, recursive)
            .await
            .map_err(core_error)?;
        Ok(entries.iter().map(file_info).collect())
    }
    async fn stat(&mut self, path: String) -> Result<FileInfo, HostError> {
        let entry = self
            .plugin
            .grant::<cap::FilesRead>()?
            .library()
            .stat(&path)
            .await
            .map_err(core_error)?;
        Ok(file_info(&entry))
    }
    async fn store_upload(
        &mut self,
        upload: u64,
        path: String,
        overwrite: bool,
    ) -> Result<FileInfo, HostError> {
        let library = self.plugin.grant::<cap::FilesWrite>()?.library().clone();
        let staged = self.take_upload(upload)?;
        let received = library
            .receive_file(&staged.file)
            .await
            .map_err(core_error)?;
        let stored = library
            .store(received, &path, overwrite)
            .await
            .map_err(core_error)?;
        Ok(file_info(&stored))
    }
    async fn make_folder(&mut self, path: String) -> Result<FileInfo, HostError> {
        let entry = self
            .plugin
            .grant::<cap::FilesWrite>()?
            .library()
            .make_folder(&path)
            .await
            .map_err(core_error)?;
        Ok(file_info(&entry))
    }
    async fn move_(&mut self, source: String, destination: String) -> Result<FileInfo, HostError> {
        let entry = self
            .plugin
            .grant::<cap::FilesWrite>()?
            .library()
            .move_entry(&source, &destination)
            .await
            .map_err(core_error)?;
        Ok(file_info(&entry))
    }
    async fn copy(&mut self, source: String, destination: String) -> Result<FileInfo, HostError> {
        let entry = self
            .plugin
            .grant::<cap::FilesWrite>()?
            .library()
            .copy_entry(&source, &destination)
            .await
            .map_err(core_error)?;
        Ok(file_info(&entry))
    }
    async fn delete(&mut self, path: String) -> Result<(), HostError> {
        self.plugin
            .grant::<cap::FilesWrite>()?
            .library()
            .delete(&path)
            .await
            .map_err(core_error)
    }
    async fn space(&mut self) -> Result<(u64, u64), HostError> {
        self.plugin
            .grant::<cap::FilesRead>()?
            .library()
            .space()
            .map_err(core_error)
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{assert_denied, Harness};
    use super::*;

    #[tokio::test]
    async fn read_and_write_are_separate_capabilities() {
        let harness = Harness::new().await;
        let mut reader = harness.granted(&["files.read"]);
        assert!(files::Host::list(&mut reader, "".into(), true)
            .await
            .unwrap()
            .is_empty());
        assert_denied(
            files::Host::make_folder(&mut reader, "parts".into()).await,
            "files.write",
        );
        assert_denied(
            files::Host::delete(&mut reader, "x.gcode".into()).await,
            "files.write",
        );
        let mut writer = harness.granted(&["files.read", "files.write"]);
        let folder = files::Host::make_folder(&mut writer, "parts".into())
            .await
            .unwrap();
        assert_eq!(folder.path, "parts");
        let listed = files::Host::list(&mut reader, "".into(), false)
            .await
            .unwrap();
        assert_eq!(listed.len(), 1, "{listed:?}");
        let mut none = harness.granted(&[]);
        assert_denied(
            files::Host::list(&mut none, "".into(), false).await,
            "files.read",
        );
        assert_denied(files::Host::space(&mut none).await, "files.read");
    }

    #[tokio::test]
    async fn missing_files_bad_paths_and_foreign_uploads_are_told_apart() {
        let harness = Harness::new().await;
        let mut call = harness.granted(&["files.read", "files.write"]);
        match files::Host::stat(&mut call, "nope.gcode".into()).await {
            Err(HostError::NotFound(message)) => assert!(message.contains("nope"), "{message}"),
            other => panic!("{other:?}"),
        }
        match files::Host::make_folder(&mut call, "../outside".into()).await {
            Err(HostError::Invalid(message)) => assert!(!message.is_empty()),
            other => panic!("{other:?}"),
        }
        match files::Host::store_upload(&mut call, 7, "x.gcode".into(), false).await {
            Err(HostError::NotFound(message)) => assert!(message.contains("7"), "{message}"),
            other => panic!("{other:?}"),
        }
    }
}
