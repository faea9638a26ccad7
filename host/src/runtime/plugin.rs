//! A loaded plugin: its `InstancePre`, a store per call (fresh, or warm when the plugin allows
//! reuse) under a deadline and a memory limit, failure accounting, and the worker that delivers
//! hooks (events, ticks, socket traffic) in order.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::mpsc;
use wasmtime::component::{ComponentExportIndex, InstancePre, TypedFunc};
use wasmtime::{Store, Trap};

use super::bindings::{Plugin, PluginIndices, WitRequest, WitResponse};
use super::context::PluginContext;
use super::engine::{CompileSource, PluginEngine};
use super::health::Health;
pub use super::hook::Hook;
use super::state::{CallContext, CallState};
use super::warm::{IdleInstances, Warm};
use crate::plugin::api;
use crate::plugin::Package;

/// Hooks queued for a plugin before new ones are dropped (events) or wait (socket traffic).
pub const HOOK_QUEUE: usize = 1024;

/// Extra wall-clock time beyond the CPU deadline before a call is abandoned: epochs do not
/// interrupt a host call that is waiting (on the network, the database), this timeout does.
pub const WALL_GRACE: Duration = Duration::from_millis(250);

/// Why a call did not produce a result.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CallError {
    /// The guest trapped (a Rust panic, an unreachable, a host error that trapped).
    #[error("plugin `{plugin}` crashed: {message}")]
    Trap {
        /// Plugin id.
        plugin: String,
        /// The trap, first line.
        message: String,
    },
    /// The call ran past its deadline.
    #[error("plugin `{plugin}` did not answer within its deadline of {deadline_ms} ms")]
    Timeout {
        /// Plugin id.
        plugin: String,
        /// The deadline.
        deadline_ms: u64,
    },
    /// The guest tried to grow its memory past its limit.
    #[error("plugin `{plugin}` exceeded its memory limit of {memory_mb} MiB")]
    MemoryLimit {
        /// Plugin id.
        plugin: String,
        /// The limit.
        memory_mb: u32,
    },
    /// The plugin is disabled.
    #[error("plugin `{plugin}` is disabled: {reason}")]
    Disabled {
        /// Plugin id.
        plugin: String,
        /// Why.
        reason: String,
    },
    /// The host could not start the call (all instance slots busy).
    #[error("plugin `{plugin}` could not be started: {message}")]
    Capacity {
        /// Plugin id.
        plugin: String,
        /// Why.
        message: String,
    },
}

impl CallError {
    /// The HTTP status this error answers with: a crash is the server's fault (500); a timeout,
    /// a limit or a disabled plugin means the service is unavailable for now (503).
    pub fn status(&self) -> u16 {
        match self {
            CallError::Trap { .. } => 500,
            _ => 503,
        }
    }

    /// A short kind for JSON errors and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            CallError::Trap { .. } => "trap",
            CallError::Timeout { .. } => "timeout",
            CallError::MemoryLimit { .. } => "memory-limit",
            CallError::Disabled { .. } => "disabled",
            CallError::Capacity { .. } => "capacity",
        }
    }

    fn counts_as_failure(&self) -> bool {
        matches!(
            self,
            CallError::Trap { .. } | CallError::Timeout { .. } | CallError::MemoryLimit { .. }
        )
    }
}

/// A plugin's health as the host API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct PluginStatus {
    /// `enabled` or `disabled`.
    pub state: &'static str,
    /// Why it is disabled.
    pub reason: Option<String>,
    /// Calls made.
    pub calls: u64,
    /// Calls that failed.
    pub failures: u64,
    /// Failures in a row right now.
    pub consecutive_failures: u32,
    /// The last failure.
    pub last_error: Option<String>,
    /// Whether the component came from the on-disk cache.
    pub compiled: CompileSource,
}

/// A plugin ready to serve.
pub struct LoadedPlugin {
    /// Its package.
    pub package: Package,
    /// What its calls share.
    pub ctx: Arc<PluginContext>,
    /// How its component was obtained.
    pub compiled: CompileSource,
    indices: PluginIndices,
    instance_pre: InstancePre<CallState>,
    /// `http-handler.handle`, resolved once so a request looks up and type-checks nothing.
    handle_export: ComponentExportIndex,
    engine: wasmtime::Engine,
    health: Health,
    idle: IdleInstances,
    /// Held by every call that may change state when the manifest asks for `serialize-changes`.
    changes: Option<tokio::sync::Mutex<()>>,
}

impl LoadedPlugin {
    /// Loads the component (from the cache when possible) and links it once into an `InstancePre`,
    /// so that every later call only instantiates.
    pub fn load(
        engine: &PluginEngine,
        package: Package,
        ctx: Arc<PluginContext>,
    ) -> anyhow::Result<LoadedPlugin> {
        let (component, compiled) = engine.load_component(&package.component_path)?;
        let ctx_calls_per_instance = ctx.limits.calls_per_instance;
        let serialize_changes = package.manifest.serialize_changes;
        let instance_pre: InstancePre<CallState> =
            engine.linker().instantiate_pre(&component).map_err(|e| {
                anyhow::anyhow!(
                    "plugin `{}`: its component does not fit the {}@{} world, nor any \
                     version back to {}: {e:#}",
                    package.manifest.id,
                    api::PACKAGE,
                    api::NEWEST,
                    api::OLDEST,
                )
            })?;
        // Type-checks every export of the world against the component, once.
        let indices = PluginIndices::new(&instance_pre).map_err(anyhow::Error::from)?;
        // Named with the version the component was built against, which may be older.
        let handler_interface = component
            .component_type()
            .exports(engine.engine())
            .map(|(name, _)| name)
            .find(|name| api::is_interface(name, "http-handler"))
            .map(str::to_string)
            .unwrap_or_else(|| format!("{}/http-handler", api::PACKAGE));
        let handle_export = component
            .get_export_index(None, &handler_interface)
            .and_then(|iface| component.get_export_index(Some(&iface), "handle"))
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "plugin `{}` does not export {handler_interface}.handle",
                    package.manifest.id
                )
            })?;
        Ok(LoadedPlugin {
            package,
            ctx,
            compiled,
            indices,
            instance_pre,
            handle_export,
            engine: engine.engine().clone(),
            health: Health::default(),
            idle: IdleInstances::new(ctx_calls_per_instance),
            changes: serialize_changes.then(|| tokio::sync::Mutex::new(())),
        })
    }

    /// The plugin id.
    pub fn id(&self) -> &str {
        &self.ctx.id
    }

    /// Its health.
    pub fn status(&self) -> PluginStatus {
        let h = self.health.snapshot();
        PluginStatus {
            state: if h.disabled_because.is_some() {
                "disabled"
            } else {
                "enabled"
            },
            reason: h.disabled_because,
            calls: h.calls,
            failures: h.failures,
            consecutive_failures: h.consecutive_failures,
            last_error: h.last_error,
            compiled: self.compiled,
        }
    }

    /// Whether the plugin is disabled.
    pub fn is_disabled(&self) -> bool {
        self.health.disabled_because().is_some()
    }

    /// Disables the plugin with a reason that the host API shows.
    pub fn disable(&self, reason: String) {
        tracing::error!(plugin = %self.ctx.id, %reason, "plugin disabled");
        self.announce_disabled(&reason);
        self.health.disable(reason);
        self.idle.close();
    }

    /// Tells the event stream's clients (the dashboard) that the plugin was disabled and why.
    fn announce_disabled(&self, reason: &str) {
        self.ctx.stream().publish(
            "plugin",
            &serde_json::json!({"plugin": self.ctx.id, "state": "disabled", "reason": reason}),
        );
    }

    /// Handles one HTTP request. The hot path: a raw instance and the one export it needs.
    pub async fn handle_http(
        &self,
        call: CallContext,
        req: &WitRequest,
    ) -> Result<WitResponse, CallError> {
        let _changing = match req.method.as_str() {
            "GET" | "HEAD" => None,
            _ => self.changes_lock().await,
        };
        let mut warm = self.checkout(call).await?;
        let func = warm
            .instance
            .get_func(&mut warm.store, self.handle_export)
            .expect("the export index was resolved from this component at load time");
        // SAFETY: PluginIndices::new checked at load time that this export has the WIT type
        // `func(req: request) -> response`, which is what these Rust types lower and lift.
        let handle = unsafe { TypedFunc::<(&WitRequest,), (WitResponse,)>::new_unchecked(func) };
        let outcome = tokio::time::timeout(
            self.wall_deadline(),
            handle.call_async(&mut warm.store, (req,)),
        )
        .await;
        self.finish(warm, outcome).map(|(response,)| response)
    }

    /// Calls `init` with the validated config. `Ok(Err(reason))` = the plugin refused its config.
    /// It runs in an instance of its own, never kept: whatever `init` leaves in memory is seen
    /// by no other call, whether the plugin allows reuse or not.
    pub async fn init(&self) -> Result<Result<(), String>, CallError> {
        let warm = self.instantiate(CallContext::default()).await?;
        let (mut warm, plugin) = self.bind(warm)?;
        let config = self.ctx.config_json.clone();
        let outcome = tokio::time::timeout(
            self.wall_deadline(),
            plugin
                .printfarm_plugin_hooks()
                .call_init(&mut warm.store, &config),
        )
        .await;
        self.conclude(&mut warm, outcome)
    }

    /// Delivers one hook.
    pub async fn deliver(&self, hook: Hook) -> Result<(), CallError> {
        let _changing = self.changes_lock().await;
        let (mut warm, plugin) = self.begin(CallContext::default()).await?;
        let store = &mut warm.store;
        let hooks = plugin.printfarm_plugin_hooks();
        let deadline = self.wall_deadline();
        match hook {
            Hook::Event(event) => {
                let event = super::convert::event(&event);
                let r =
                    tokio::time::timeout(deadline, hooks.call_on_event(&mut *store, &event)).await;
                self.finish(warm, r)
            }
            Hook::Tick => {
                let r = tokio::time::timeout(deadline, hooks.call_on_tick(&mut *store)).await;
                self.finish(warm, r)
            }
            Hook::PushOpen(conn, reply) => {
                let r = tokio::time::timeout(deadline, hooks.call_on_push_open(&mut *store, &conn))
                    .await;
                let answer = self.finish(warm, r);
                let _ = reply.send(match &answer {
                    Ok(verdict) => verdict.clone(),
                    Err(e) => Err(e.to_string()),
                });
                answer.map(|_| ())
            }
            Hook::PushMessage(conn, msg) => {
                let r = tokio::time::timeout(
                    deadline,
                    hooks.call_on_push_message(&mut *store, conn, &msg),
                )
                .await;
                self.finish(warm, r)
            }
            Hook::PushClose(conn) => {
                let r = tokio::time::timeout(deadline, hooks.call_on_push_close(&mut *store, conn))
                    .await;
                self.finish(warm, r)
            }
            Hook::SocketMessage(socket, msg) => {
                let r = tokio::time::timeout(
                    deadline,
                    hooks.call_on_socket_message(&mut *store, socket, &msg),
                )
                .await;
                self.finish(warm, r)
            }
            Hook::SocketClose(socket, code, reason) => {
                let r = tokio::time::timeout(
                    deadline,
                    hooks.call_on_socket_close(&mut *store, socket, code, &reason),
                )
                .await;
                self.finish(warm, r)
            }
        }
    }

    /// The lock of calls that may change state, for a plugin that asked for `serialize-changes`.
    async fn changes_lock(&self) -> Option<tokio::sync::MutexGuard<'_, ()>> {
        match &self.changes {
            Some(lock) => Some(lock.lock().await),
            None => None,
        }
    }

    /// An instance for one call, with the world's exports bound (for `init` and hooks).
    pub async fn begin(&self, call: CallContext) -> Result<(Warm, Plugin), CallError> {
        let warm = self.checkout(call).await?;
        self.bind(warm)
    }

    /// Binds the world's exports of an instance.
    fn bind(&self, mut warm: Warm) -> Result<(Warm, Plugin), CallError> {
        match self.indices.load(&mut warm.store, &warm.instance) {
            Ok(plugin) => Ok((warm, plugin)),
            Err(e) => Err(self.classify(&warm.store, e)),
        }
    }

    /// An instance for one call under the plugin's deadline and memory limit: an idle one when
    /// the plugin allows reuse and one is idle, otherwise a fresh one.
    async fn checkout(&self, call: CallContext) -> Result<Warm, CallError> {
        if let Some(reason) = self.health.disabled_because() {
            return Err(CallError::Disabled {
                plugin: self.ctx.id.clone(),
                reason,
            });
        }
        match self.idle.take(call) {
            Ok(mut warm) => {
                warm.store.set_epoch_deadline(self.deadline_ticks());
                Ok(warm)
            }
            Err(call) => self.instantiate(call).await,
        }
    }

    fn deadline_ticks(&self) -> u64 {
        PluginEngine::deadline_ticks(Duration::from_millis(self.ctx.limits.deadline_ms))
    }

    /// Instantiates the plugin in a fresh store. This is the whole per-call setup cost of a
    /// fresh instance: everything else was prepared at load time.
    pub async fn instantiate(&self, call: CallContext) -> Result<Warm, CallError> {
        let mut store = Store::new(&self.engine, CallState::new(self.ctx.clone(), call));
        store.limiter(|s| &mut s.limiter);
        store.set_epoch_deadline(self.deadline_ticks());
        store.epoch_deadline_trap();
        match self.instance_pre.instantiate_async(&mut store).await {
            Ok(instance) => Ok(Warm::fresh(store, instance)),
            Err(e) => {
                // A memory limit hit while instantiating is the plugin's doing; anything else here
                // (all pool slots busy) is the host's capacity and must not count against it.
                let error = match self.classify(&store, e) {
                    CallError::Trap { plugin, message } => CallError::Capacity { plugin, message },
                    other => other,
                };
                self.record(&error);
                Err(error)
            }
        }
    }

    fn wall_deadline(&self) -> Duration {
        Duration::from_millis(self.ctx.limits.deadline_ms) + WALL_GRACE
    }

    /// Turns a call's outcome into a result ([`conclude`](Self::conclude)) and hands the instance
    /// back for reuse after a call that succeeded.
    fn finish<R>(
        &self,
        mut warm: Warm,
        outcome: Result<wasmtime::Result<R>, tokio::time::error::Elapsed>,
    ) -> Result<R, CallError> {
        let result = self.conclude(&mut warm, outcome);
        // A failed call's instance is dropped: a trap or an abandoned call leaves its state
        // unknown.
        if result.is_ok() {
            self.idle.put_back(warm);
        }
        result
    }

    /// Turns a call's outcome into a result, logs the guest's stderr, and keeps the failure count.
    fn conclude<R>(
        &self,
        warm: &mut Warm,
        outcome: Result<wasmtime::Result<R>, tokio::time::error::Elapsed>,
    ) -> Result<R, CallError> {
        let stderr = warm.store.data_mut().take_output();
        if !stderr.is_empty() {
            tracing::warn!(plugin = %self.ctx.id, output = %String::from_utf8_lossy(&stderr).trim_end(), "plugin wrote to stderr");
        }
        let result = match outcome {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => Err(self.classify(&warm.store, e)),
            Err(_) => Err(CallError::Timeout {
                plugin: self.ctx.id.clone(),
                deadline_ms: self.ctx.limits.deadline_ms,
            }),
        };
        match &result {
            Ok(_) => self.health.succeeded(),
            Err(e) => self.record(e),
        }
        result
    }

    fn classify(&self, store: &Store<CallState>, e: wasmtime::Error) -> CallError {
        let plugin = self.ctx.id.clone();
        if store.data().limiter.flag().load(Ordering::Relaxed) {
            return CallError::MemoryLimit {
                plugin,
                memory_mb: self.ctx.limits.memory_mb,
            };
        }
        if e.downcast_ref::<Trap>() == Some(&Trap::Interrupt) {
            return CallError::Timeout {
                plugin,
                deadline_ms: self.ctx.limits.deadline_ms,
            };
        }
        let message = format!("{e}");
        CallError::Trap { plugin, message }
    }

    fn record(&self, error: &CallError) {
        tracing::error!(plugin = %self.ctx.id, kind = error.kind(), error = %error, "plugin call failed");
        let limit = self.ctx.limits.failures_before_disable;
        if let Some(reason) =
            self.health
                .failed(&error.to_string(), error.counts_as_failure(), limit)
        {
            tracing::error!(plugin = %self.ctx.id, %reason, "plugin disabled");
            self.announce_disabled(&reason);
            self.idle.close();
        }
    }

    /// Starts the worker that delivers this plugin's hooks one at a time, in order, plus its
    /// event subscription and timer. Returns the queue's sender.
    pub fn start_hook_worker(self: &Arc<Self>) -> mpsc::Sender<Hook> {
        let (tx, mut rx) = mpsc::channel::<Hook>(HOOK_QUEUE);
        let plugin = self.clone();
        tokio::spawn(async move {
            while let Some(hook) = rx.recv().await {
                let _ = plugin.deliver(hook).await;
            }
        });

        let manifest = &self.package.manifest;
        if !manifest.events.is_empty() {
            let kinds = manifest.events.clone();
            let mut events = self.ctx.events().subscribe();
            let queue = tx.clone();
            let id = self.ctx.id.clone();
            tokio::spawn(async move {
                loop {
                    match events.recv().await {
                        Ok(event) if kinds.iter().any(|k| k == event.kind()) => {
                            if queue.try_send(Hook::Event(event)).is_err() {
                                tracing::warn!(plugin = %id, "plugin's hook queue is full; an event was dropped");
                            }
                        }
                        Ok(_) => {}
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                            tracing::warn!(plugin = %id, missed = n, "plugin fell behind the event bus");
                        }
                        Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
                    }
                }
            });
        }
        if manifest.timer_interval_ms > 0 {
            let period = Duration::from_millis(manifest.timer_interval_ms);
            let queue = tx.clone();
            tokio::spawn(async move {
                let mut timer = tokio::time::interval_at(
                    tokio::time::Instant::from_std(Instant::now() + period),
                    period,
                );
                timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
                loop {
                    timer.tick().await;
                    // A tick still queued makes another one pointless.
                    if queue.is_closed() {
                        break;
                    }
                    let _ = queue.try_send(Hook::Tick);
                }
            });
        }
        tx
    }
}
