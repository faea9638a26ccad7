//! Warm instances: a plugin whose manifest allows it (`limits.calls-per-instance` above 1) has
//! an instance kept after a call that succeeded, and called again. Instantiating is most of what
//! a trivial call costs the host (allocating and resetting the instance's slots, registering its
//! modules, the guest's start-up), so a kept instance serves a route at about twice the rate.
//!
//! What stays safe: concurrent calls never share an instance (each takes its own, or a fresh
//! one when none is idle); an instance whose call failed (a trap, a timeout, a memory limit) is
//! never kept, since its state is unknown; each instance serves at most the plugin's number of
//! calls; and every call gets its own context, deadline and memory-limit flag. What a plugin
//! keeps in its own memory between calls is its business: the SDK tells authors not to rely on
//! it either way.

use std::sync::Mutex;

use wasmtime::component::Instance;
use wasmtime::Store;

use super::state::{CallContext, CallState};

/// Idle instances kept per plugin. Each holds a slot of the pooling allocator and its resident
/// memory; a call that finds none idle instantiates one, so this bounds memory, not concurrency.
/// 32 covers the calls in flight at once on the machines a farm host runs on.
pub const MAX_IDLE: usize = 32;

/// An instance, its store, and how many calls it has served.
pub struct Warm {
    /// The store the instance lives in.
    pub store: Store<CallState>,
    /// The instance.
    pub instance: Instance,
    served: u32,
}

impl Warm {
    /// A freshly made instance, which has served no call yet.
    pub fn fresh(store: Store<CallState>, instance: Instance) -> Warm {
        Warm {
            store,
            instance,
            served: 0,
        }
    }
}

/// One plugin's idle instances.
pub struct IdleInstances {
    calls_per_instance: u32,
    idle: Mutex<Idle>,
}

#[derive(Default)]
struct Idle {
    instances: Vec<Warm>,
    /// Set for good when the plugin is disabled: an instance whose call was still running then
    /// must not be kept, since no call will ever take it.
    closed: bool,
}

impl IdleInstances {
    /// Idle instances for a plugin whose instances may serve `calls_per_instance` calls each (1
    /// keeps none).
    pub fn new(calls_per_instance: u32) -> IdleInstances {
        IdleInstances {
            calls_per_instance,
            idle: Mutex::new(Idle::default()),
        }
    }

    /// The most recently used idle instance, made ready for `call`, or `call` back when none is
    /// idle. The caller sets the call's deadline.
    pub fn take(&self, call: CallContext) -> Result<Warm, CallContext> {
        // Last in, first out: the instance used last has the warmest caches.
        let Some(mut warm) = self.lock().instances.pop() else {
            return Err(call);
        };
        warm.store.data_mut().start_call(call);
        Ok(warm)
    }

    /// Takes back an instance after a call that succeeded. It is kept if it may serve another
    /// call and there is room; otherwise it is dropped, which returns its slots to the pool.
    pub fn put_back(&self, mut warm: Warm) {
        warm.served += 1;
        if warm.served >= self.calls_per_instance || !warm.store.data().can_serve_again() {
            return;
        }
        // The finished call's staged uploads are deleted now, not when the instance is next used.
        warm.store.data_mut().start_call(CallContext::default());
        let mut idle = self.lock();
        if !idle.closed && idle.instances.len() < MAX_IDLE {
            idle.instances.push(warm);
        }
    }

    /// Drops every idle instance and keeps none from now on (when the plugin is disabled: it will
    /// not be called again). The instances are dropped outside the lock.
    pub fn close(&self) {
        let dropped = {
            let mut idle = self.lock();
            idle.closed = true;
            std::mem::take(&mut idle.instances)
        };
        drop(dropped);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Idle> {
        self.idle.lock().expect("idle instances lock")
    }
}
