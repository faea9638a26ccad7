//! The on-disk cache of precompiled components, keyed by the engine's compatibility hash and the
//! component's content, so a restart deserializes (mmaps) instead of compiling.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use sha2::{Digest, Sha256};
use wasmtime::component::Component;
use wasmtime::Engine;

/// Whether a component came from the on-disk cache or was compiled now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CompileSource {
    /// Deserialized from the cache: no compilation.
    Cache,
    /// Compiled now (and written to the cache).
    Compiled,
}

/// The cache directory of one engine configuration.
pub struct ComponentCache {
    dir: PathBuf,
}

impl ComponentCache {
    /// The cache below `root` for this engine: a sub-directory per compatibility hash, so artifacts
    /// of another wasmtime version or configuration are never tried.
    pub fn new(engine: &Engine, root: &Path) -> ComponentCache {
        // DefaultHasher::new() has fixed keys: the same engine gives the same directory on every run.
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        ComponentCache {
            dir: root.join(format!("engine-{:016x}", hasher.finish())),
        }
    }

    /// Loads the component at `path` from the cache, or compiles and caches it.
    pub fn load(&self, engine: &Engine, path: &Path) -> anyhow::Result<(Component, CompileSource)> {
        let bytes =
            std::fs::read(path).with_context(|| format!("reading component {}", path.display()))?;
        let entry = self
            .dir
            .join(format!("{}.cwasm", hex::encode(Sha256::digest(&bytes))));
        if entry.is_file() {
            // SAFETY: the file was written by `precompile_component` of an engine with this exact
            // compatibility hash (it lives in that hash's directory) and is only written by rename.
            match unsafe { Component::deserialize_file(engine, &entry) } {
                Ok(component) => return Ok((component, CompileSource::Cache)),
                Err(e) => {
                    tracing::warn!(entry = %entry.display(), error = %e, "cached component unusable; recompiling")
                }
            }
        }
        let compiled = engine.precompile_component(&bytes).map_err(|e| {
            anyhow::Error::from(e).context(format!("compiling component {}", path.display()))
        })?;
        std::fs::create_dir_all(&self.dir)
            .with_context(|| format!("creating cache dir {}", self.dir.display()))?;
        let tmp = entry.with_extension(format!("tmp{}", std::process::id()));
        std::fs::write(&tmp, &compiled).with_context(|| format!("writing {}", tmp.display()))?;
        std::fs::rename(&tmp, &entry).with_context(|| format!("writing {}", entry.display()))?;
        // SAFETY: just produced by this engine's `precompile_component`.
        let component =
            unsafe { Component::deserialize_file(engine, &entry) }.map_err(anyhow::Error::from)?;
        Ok((component, CompileSource::Compiled))
    }
}
