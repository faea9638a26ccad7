//! `printfarm:plugin/files`: reading needs `files.read`, changes need `files.write`.
//!
//! The G-code library is not part of this build: every call checks its capability and then
//! answers `unavailable`. `store-upload` still validates the handle so plugin authors see handle
//! errors now.

use super::super::bindings::printfarm::plugin::files::{self, FileInfo};
use super::super::bindings::HostError;
use super::super::state::CallState;
use crate::plugin::Capability;

/// What the `unavailable` answers name.
const LIBRARY: &str = "the G-code library is";

impl CallState {
    fn files_call<T>(&self, cap: Capability) -> Result<T, HostError> {
        self.core_unavailable(cap, LIBRARY)
    }
}

impl files::Host for CallState {
    async fn list(
        &mut self,
        _folder: String,
        _recursive: bool,
    ) -> Result<Vec<FileInfo>, HostError> {
        self.files_call(Capability::FilesRead)
    }
    async fn stat(&mut self, _path: String) -> Result<FileInfo, HostError> {
        self.files_call(Capability::FilesRead)
    }
    async fn store_upload(
        &mut self,
        upload: u64,
        _path: String,
        _overwrite: bool,
    ) -> Result<FileInfo, HostError> {
        self.plugin.require(Capability::FilesWrite)?;
        self.take_upload(upload)?;
        self.files_call(Capability::FilesWrite)
    }
    async fn make_folder(&mut self, _path: String) -> Result<FileInfo, HostError> {
        self.files_call(Capability::FilesWrite)
    }
    async fn move_(
        &mut self,
        _source: String,
        _destination: String,
    ) -> Result<FileInfo, HostError> {
        self.files_call(Capability::FilesWrite)
    }
    async fn copy(&mut self, _source: String, _destination: String) -> Result<FileInfo, HostError> {
        self.files_call(Capability::FilesWrite)
    }
    async fn delete(&mut self, _path: String) -> Result<(), HostError> {
        self.files_call(Capability::FilesWrite)
    }
}
