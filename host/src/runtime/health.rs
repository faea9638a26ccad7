//! A plugin's health: the calls it served, its failures, and the disabling that too many
//! failures in a row cause. Every call reads and writes it, so the path of a call that
//! succeeds touches only atomics; the failure path, rare by nature, takes a lock.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::Mutex;

/// Calls, failures and the disabled state of one plugin.
#[derive(Default)]
pub struct Health {
    disabled: AtomicBool,
    calls: AtomicU64,
    consecutive_failures: AtomicU32,
    record: Mutex<Record>,
}

/// What only failures and disabling change.
#[derive(Default)]
struct Record {
    disabled_because: Option<String>,
    failures: u64,
    last_error: Option<String>,
}

/// The figures the host API shows, read at one moment.
#[derive(Debug, Clone)]
pub struct HealthSnapshot {
    /// Why the plugin is disabled, if it is.
    pub disabled_because: Option<String>,
    /// Calls made, failed or not.
    pub calls: u64,
    /// Calls that failed.
    pub failures: u64,
    /// Failures in a row right now.
    pub consecutive_failures: u32,
    /// The last failure.
    pub last_error: Option<String>,
}

impl Health {
    /// Why the plugin is disabled, or `None` while it is enabled (a lock-free check then).
    pub fn disabled_because(&self) -> Option<String> {
        if !self.disabled.load(Ordering::Acquire) {
            return None;
        }
        self.lock().disabled_because.clone()
    }

    /// Disables the plugin; the first reason given is the one kept. Whether this call
    /// disabled it.
    pub fn disable(&self, reason: String) -> bool {
        let mut record = self.lock();
        if record.disabled_because.is_some() {
            return false;
        }
        record.disabled_because = Some(reason);
        self.disabled.store(true, Ordering::Release);
        true
    }

    /// Counts a call that succeeded: the failures in a row start again from zero.
    pub fn succeeded(&self) {
        self.calls.fetch_add(1, Ordering::Relaxed);
        if self.consecutive_failures.load(Ordering::Relaxed) != 0 {
            self.consecutive_failures.store(0, Ordering::Relaxed);
        }
    }

    /// Counts a call that did not succeed. A failure that is the plugin's doing (`counts`) adds
    /// to the failures in a row, and the one that reaches `limit` disables the plugin: its
    /// reason is returned.
    pub fn failed(&self, error: &str, counts: bool, limit: u32) -> Option<String> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        if !counts {
            return None;
        }
        let mut record = self.lock();
        record.failures += 1;
        record.last_error = Some(error.to_string());
        let in_a_row = self.consecutive_failures.fetch_add(1, Ordering::Relaxed) + 1;
        if in_a_row < limit || record.disabled_because.is_some() {
            return None;
        }
        let reason = format!(
            "{in_a_row} consecutive failed calls (limits.failures-before-disable = {limit}); last: {error}"
        );
        record.disabled_because = Some(reason.clone());
        self.disabled.store(true, Ordering::Release);
        Some(reason)
    }

    /// The figures as they are now.
    pub fn snapshot(&self) -> HealthSnapshot {
        let record = self.lock();
        HealthSnapshot {
            disabled_because: record.disabled_because.clone(),
            calls: self.calls.load(Ordering::Relaxed),
            failures: record.failures,
            consecutive_failures: self.consecutive_failures.load(Ordering::Relaxed),
            last_error: record.last_error.clone(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Record> {
        self.record.lock().expect("plugin health lock")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_in_a_row_disable_and_a_success_resets_the_count() {
        let health = Health::default();
        assert_eq!(health.failed("boom", true, 3), None);
        assert_eq!(health.failed("boom", true, 3), None);
        health.succeeded();
        assert_eq!(health.snapshot().consecutive_failures, 0);
        assert_eq!(health.failed("boom", true, 3), None);
        assert_eq!(
            health.failed("busy", false, 3),
            None,
            "not the plugin's doing"
        );
        assert_eq!(health.failed("boom", true, 3), None);
        assert_eq!(health.disabled_because(), None);
        let reason = health
            .failed("bang", true, 3)
            .expect("the third in a row disables");
        assert!(
            reason.contains("3 consecutive") && reason.contains("bang"),
            "{reason}"
        );
        assert_eq!(health.disabled_because(), Some(reason));
        let s = health.snapshot();
        assert_eq!((s.calls, s.failures), (7, 5));
        assert_eq!(s.last_error.as_deref(), Some("bang"));
    }

    #[test]
    fn the_first_reason_to_disable_is_kept() {
        let health = Health::default();
        assert!(health.disable("by the operator".into()));
        assert!(!health.disable("again".into()));
        assert_eq!(health.failed("boom", true, 1), None);
        assert_eq!(
            health.disabled_because().as_deref(),
            Some("by the operator")
        );
    }
}
