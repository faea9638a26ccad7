//! What one call's store owns.
//!
//! Owned context + borrowed view, as in wasmtime's WASI: [`CallState`] is the store's data, built
//! fresh for every call (or kept with a warm instance); the [`PluginContext`] it points to is
//! shared by all calls of one plugin, and opens the host's services only through the views that
//! [`PluginContext::grant`] hands out.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use wasmtime::component::ResourceTable;
use wasmtime::ResourceLimiter;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::bindings::HostError;
use super::context::PluginContext;

/// How much of a guest's stderr (a panic message, a debug print) is kept per call for the log.
pub const STDERR_CAPTURE_BYTES: usize = 16 << 10;

/// Tables a guest may grow to: Rust components use a few hundred entries at most.
const MAX_TABLE_ELEMENTS: usize = 100_000;

/// A multipart file part staged on disk for the current request.
pub struct StagedUpload {
    /// The temporary file; deleted when dropped unless persisted by `files.store-upload`.
    pub file: tempfile::TempPath,
    /// Size in bytes.
    pub size: u64,
}

/// Per-call context: what this one request or hook brought along.
#[derive(Default)]
pub struct CallContext {
    /// The printer of a per-printer mount.
    pub printer: Option<String>,
    /// Staged uploads by handle.
    pub uploads: HashMap<u64, StagedUpload>,
}

/// A memory limiter that remembers whether it refused, so a trap that follows can be reported as
/// "memory limit" rather than as a plain crash.
pub struct MemoryCap {
    max_bytes: usize,
    hit: Arc<AtomicBool>,
}

impl MemoryCap {
    /// Whether this call hit the limit.
    pub fn flag(&self) -> Arc<AtomicBool> {
        self.hit.clone()
    }
}

impl ResourceLimiter for MemoryCap {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.max_bytes {
            self.hit.store(true, Ordering::Relaxed);
            return Ok(false);
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }
}

/// The data of a store: one call's, or several calls' in turn when the plugin lets its
/// instances be reused (`limits.calls-per-instance`).
pub struct CallState {
    /// The plugin's shared context.
    pub plugin: Arc<PluginContext>,
    /// This call's context.
    pub call: CallContext,
    /// The memory limiter.
    pub limiter: MemoryCap,
    /// The WASI context and the pipe that captures the guest's stderr and stdout, built on the
    /// guest's first WASI call. Most calls make none (a Rust plugin reaches WASI only to print or
    /// panic), and building them (random generators, pipes) was a twentieth of a call's cost.
    wasi: Option<(WasiCtx, MemoryOutputPipe)>,
    /// How much of the pipe's contents earlier calls of this store already reported.
    output_reported: usize,
    table: ResourceTable,
}

impl CallState {
    /// A fresh state for one call.
    pub fn new(plugin: Arc<PluginContext>, call: CallContext) -> CallState {
        let limiter = MemoryCap {
            max_bytes: plugin.limits.memory_mb as usize * (1 << 20),
            hit: Arc::new(AtomicBool::new(false)),
        };
        CallState {
            plugin,
            call,
            limiter,
            wasi: None,
            output_reported: 0,
            table: ResourceTable::new(),
        }
    }

    /// Prepares a reused store for its next call: that call's context, and a memory limiter
    /// that has not refused anything yet. The WASI context stays: the guest may hold handles
    /// into its table (a stderr stream it opened once).
    pub fn start_call(&mut self, call: CallContext) {
        self.call = call;
        self.limiter.hit.store(false, Ordering::Relaxed);
    }

    /// What the guest wrote to stderr and stdout since the last time this was asked (empty if
    /// it wrote nothing).
    pub fn take_output(&mut self) -> bytes::Bytes {
        let Some((_, pipe)) = &self.wasi else {
            return bytes::Bytes::new();
        };
        let contents = pipe.contents();
        let new = contents.slice(self.output_reported.min(contents.len())..);
        self.output_reported = contents.len();
        new
    }

    /// Whether another call may run in this store: not once half of the output pipe is used,
    /// so that every call can write at least half of what a fresh instance could.
    pub fn can_serve_again(&self) -> bool {
        self.output_reported <= STDERR_CAPTURE_BYTES / 2
    }

    /// The staged upload behind a handle, if it belongs to this call.
    pub fn take_upload(&mut self, handle: u64) -> Result<StagedUpload, HostError> {
        self.call.uploads.remove(&handle).ok_or_else(|| {
            HostError::NotFound(format!(
                "upload handle {handle} is not part of this request (or was already stored)"
            ))
        })
    }
}

impl WasiView for CallState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        // No preopened directories, no environment, no network (outbound traffic goes only
        // through the printfarm interfaces); stderr and stdout captured for the log.
        let (ctx, _) = self.wasi.get_or_insert_with(|| {
            let pipe = MemoryOutputPipe::new(STDERR_CAPTURE_BYTES);
            let ctx = wasmtime_wasi::WasiCtxBuilder::new()
                .stderr(pipe.clone())
                .stdout(pipe.clone())
                .allow_tcp(false)
                .allow_udp(false)
                .allow_ip_name_lookup(false)
                .build();
            (ctx, pipe)
        });
        WasiCtxView {
            ctx,
            table: &mut self.table,
        }
    }
}
