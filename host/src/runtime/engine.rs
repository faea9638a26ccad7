//! The one wasmtime engine of the process.

use std::path::Path;
use std::time::Duration;

use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use super::bindings::Plugin;
pub use super::cache::CompileSource;
use super::cache::ComponentCache;
use super::state::CallState;
use crate::plugin::manifest::ceilings;

/// How often the ticker advances the engine's epoch. Deadlines are counted in these ticks, so a
/// call overruns its deadline by at most one tick. 10 ms keeps the ticker's cost negligible.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Instances (and memories, tables) the pooling allocator keeps slots for: the most calls that can
/// be in flight at once across all plugins. Beyond it a call waits for nothing: it fails fast with
/// "too many concurrent calls" and answers 503.
pub const MAX_CONCURRENT_INSTANCES: u32 = 1000;

/// Bytes of each linear memory kept resident between calls. A Rust plugin's call touches its
/// shadow stack and a few heap pages (well under a megabyte); faulting those in again on every call
/// cost more than the plugin's own work.
pub const KEEP_RESIDENT_BYTES: usize = 2 << 20;

/// The engine, the linker with every host interface, and the component cache.
pub struct PluginEngine {
    engine: Engine,
    linker: Linker<CallState>,
    cache: ComponentCache,
}

impl PluginEngine {
    /// Builds the engine and starts its epoch ticker. `cache_dir` holds precompiled components.
    pub fn new(cache_dir: &Path) -> anyhow::Result<PluginEngine> {
        let mut pool = PoolingAllocationConfig::new();
        pool.total_component_instances(MAX_CONCURRENT_INSTANCES)
            // A Rust wasip2 component has a handful of core instances and at most two memories/tables.
            .total_core_instances(MAX_CONCURRENT_INSTANCES * 4)
            .total_memories(MAX_CONCURRENT_INSTANCES)
            .total_tables(MAX_CONCURRENT_INSTANCES * 2)
            .total_stacks(MAX_CONCURRENT_INSTANCES)
            .max_memory_size(ceilings::MEMORY_MB as usize * (1 << 20))
            // A reused slot should not fault its pages in again: keep the memory a plugin call
            // typically touches resident, and (Linux 6.7+) reset only the pages that were dirtied
            // instead of memset-ing or madvise-ing the whole region.
            .linear_memory_keep_resident(KEEP_RESIDENT_BYTES)
            .table_keep_resident(64 << 10)
            .pagemap_scan(Enabled::Auto);

        let mut config = Config::new();
        config
            .wasm_component_model(true)
            .epoch_interruption(true)
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        let engine = Engine::new(&config)
            .map_err(|e| anyhow::Error::from(e).context("creating the wasmtime engine"))?;

        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)
            .map_err(|e| anyhow::Error::from(e).context("linking WASI"))?;
        Plugin::add_to_linker::<CallState, HasSelf<CallState>>(&mut linker, |s| s)
            .map_err(|e| anyhow::Error::from(e).context("linking the printfarm host interfaces"))?;

        spawn_epoch_ticker(&engine);
        let cache = ComponentCache::new(&engine, cache_dir);
        Ok(PluginEngine {
            engine,
            linker,
            cache,
        })
    }

    /// The engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The linker with WASI and every printfarm interface.
    pub fn linker(&self) -> &Linker<CallState> {
        &self.linker
    }

    /// Loads a component, from the cache when an entry for this engine and these bytes exists.
    pub fn load_component(&self, path: &Path) -> anyhow::Result<(Component, CompileSource)> {
        self.cache.load(&self.engine, path)
    }

    /// Epoch ticks that make up `deadline`, rounded up, plus one so that a call never gets less
    /// than its deadline when it starts just before a tick.
    pub fn deadline_ticks(deadline: Duration) -> u64 {
        (deadline.as_millis() as u64).div_ceil(EPOCH_TICK.as_millis() as u64) + 1
    }
}

/// One ticker thread per engine (a ticker per call once cost wasmtime serve orders of magnitude).
/// It holds only a weak reference, so it stops when the engine is dropped.
fn spawn_epoch_ticker(engine: &Engine) {
    let weak = engine.weak();
    std::thread::Builder::new()
        .name("wasm-epoch-ticker".into())
        .spawn(move || loop {
            std::thread::sleep(EPOCH_TICK);
            match weak.upgrade() {
                Some(engine) => engine.increment_epoch(),
                None => break,
            }
        })
        .expect("spawning the epoch ticker thread");
}
