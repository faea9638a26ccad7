//! `printfarm:plugin/files`: reading needs `files.read`, changes need `files.write`.
//!
//! The G-code library is not part of this build: every call checks its capability and then
//! answers `unavailable`. `store-upload` still validates the handle so plugin authors see handle
//! errors now.

use super::super::bindings::printfarm::plugin::files::{self, FileInfo};
use super::super::bindings::HostError;
use super::super::state::CallState;
use crate::plugin::Capability;

fn library_unavailable() -> HostError {
    HostError::Unavailable("the G-code library is not available in this printfarm build".into())
}

impl CallState {
    fn files_call(&self, cap: Capability) -> Result<(), HostError> {
        self.plugin.require(cap)?;
        Err(library_unavailable())
    }
}

impl files::Host for CallState {
    async fn list(
        &mut self,
        _folder: String,
        _recursive: bool,
    ) -> Result<Vec<FileInfo>, HostError> {
        self.files_call(Capability::FilesRead).map(|_| Vec::new())
    }
    async fn stat(&mut self, _path: String) -> Result<FileInfo, HostError> {
        self.files_call(Capability::FilesRead)
            .and_then(|_| Err(library_unavailable()))
    }
    async fn store_upload(
        &mut self,
        upload: u64,
        _path: String,
        _overwrite: bool,
    ) -> Result<FileInfo, HostError> {
        self.plugin.require(Capability::FilesWrite)?;
        if self.upload_path(upload).is_none() {
            return Err(HostError::NotFound(format!(
                "upload handle {upload} is not part of this request"
            )));
        }
        Err(library_unavailable())
    }
    async fn make_folder(&mut self, _path: String) -> Result<FileInfo, HostError> {
        self.files_call(Capability::FilesWrite)
            .and_then(|_| Err(library_unavailable()))
    }
    async fn move_(
        &mut self,
        _source: String,
        _destination: String,
    ) -> Result<FileInfo, HostError> {
        self.files_call(Capability::FilesWrite)
            .and_then(|_| Err(library_unavailable()))
    }
    async fn copy(&mut self, _source: String, _destination: String) -> Result<FileInfo, HostError> {
        self.files_call(Capability::FilesWrite)
            .and_then(|_| Err(library_unavailable()))
    }
    async fn delete(&mut self, _path: String) -> Result<(), HostError> {
        self.files_call(Capability::FilesWrite)
    }
}
