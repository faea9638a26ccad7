//! The event stream for browsers and API consumers (`GET /farm/api/events`): the bus's events
//! numbered, rendered as JSON once for every client, kept in a ring so that a client that
//! reconnects with `Last-Event-ID` misses nothing, with temperatures and progress coalesced per
//! printer so that a farm of hundreds of printers does not flood a browser.
//!
//! One hub task reads the bus; clients read the hub's broadcast. A client that falls behind the
//! broadcast's backlog is dropped with a reason, never waited for.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use tokio::sync::broadcast;

use super::{CoreEvent, EventBus};

/// Events kept for resuming: at the coalesced rates (one temperature and one progress batch a
/// second, plus state changes) this covers minutes of a large farm.
pub const RING: usize = 8192;

/// And at most this many bytes of them: a farm of hundreds of printers makes batches of tens of
/// kilobytes, and the ring must not grow to hundreds of megabytes.
pub const RING_BYTES: usize = 16 << 20;

/// How many events a client may fall behind before it is dropped. A browser that stopped
/// reading must not hold memory in the server.
pub const CLIENT_BACKLOG: usize = 1024;

/// How often coalesced temperatures and progress go out: each printer's latest readings once a
/// second at most.
pub const COALESCE: Duration = Duration::from_secs(1);

/// Sent whatever the filter when a client may have missed events (its `Last-Event-ID` is older
/// than the ring, or the stream fell behind the core): it should reload what it shows.
pub const RESYNC: &str = "resync";

/// Every kind of the stream a client may filter on (`?types=`).
pub const KINDS: [&str; 9] = [
    "printer-state",
    "temperatures",
    "progress",
    "print",
    "printer-log",
    "files",
    "jobs",
    "plugin",
    "key-request",
];

/// One numbered event, its JSON rendered once.
#[derive(Debug)]
pub struct StreamEvent {
    /// Its number: increasing, never reused while the server runs.
    pub id: u64,
    /// Its kind (one of [`KINDS`]).
    pub kind: &'static str,
    /// The JSON of its `data:` line.
    pub data: String,
}

/// What a new client gets: the events after the id it last saw, then the live ones.
pub struct Subscription {
    /// Events it missed, oldest first.
    pub replay: Vec<Arc<StreamEvent>>,
    /// Its `Last-Event-ID` is older than the ring: it missed events that are gone, and should
    /// reload the state it shows.
    pub gap: bool,
    /// The live events.
    pub live: broadcast::Receiver<Arc<StreamEvent>>,
}

/// The stream: ring, numbering and broadcast. Cheap to clone.
#[derive(Clone)]
pub struct EventStream {
    inner: Arc<Inner>,
}

struct Inner {
    /// The numbering and the ring change together, so a subscriber sees no event twice and
    /// misses none between its replay and its live receiver.
    ring: Mutex<Ring>,
    sender: broadcast::Sender<Arc<StreamEvent>>,
}

#[derive(Default)]
struct Ring {
    last_id: u64,
    events: VecDeque<Arc<StreamEvent>>,
    bytes: usize,
}

impl Default for EventStream {
    fn default() -> Self {
        EventStream {
            inner: Arc::new(Inner {
                ring: Mutex::new(Ring::default()),
                sender: broadcast::channel(CLIENT_BACKLOG).0,
            }),
        }
    }
}

impl EventStream {
    /// Numbers, keeps and sends one event.
    pub fn publish(&self, kind: &'static str, data: &Value) {
        let mut ring = self.inner.ring.lock().expect("event ring lock");
        ring.last_id += 1;
        let event = Arc::new(StreamEvent {
            id: ring.last_id,
            kind,
            data: data.to_string(),
        });
        ring.bytes += event.data.len();
        ring.events.push_back(event.clone());
        while ring.events.len() > RING || (ring.bytes > RING_BYTES && ring.events.len() > 1) {
            if let Some(old) = ring.events.pop_front() {
                ring.bytes -= old.data.len();
            }
        }
        // Sent under the lock, so that a subscriber that takes the lock gets either this
        // event in its replay or on its receiver, never both and never neither.
        let _ = self.inner.sender.send(event);
    }

    /// A new client. `after` is its `Last-Event-ID`.
    pub fn subscribe(&self, after: Option<u64>) -> Subscription {
        let ring = self.inner.ring.lock().expect("event ring lock");
        let live = self.inner.sender.subscribe();
        let (replay, gap) = match after {
            None => (Vec::new(), false),
            // An id from before a restart (ids start again at 1) is newer than the newest:
            // the client saw events this run never had, so it must reload too.
            Some(after) if after > ring.last_id => (Vec::new(), true),
            Some(after) => {
                let oldest = ring.events.front().map_or(ring.last_id + 1, |e| e.id);
                let replay = ring
                    .events
                    .iter()
                    .filter(|e| e.id > after)
                    .cloned()
                    .collect();
                (
                    replay,
                    after.saturating_add(1) < oldest && after < ring.last_id,
                )
            }
        };
        Subscription { replay, gap, live }
    }

    /// The id of the newest event (0 before the first).
    pub fn last_id(&self) -> u64 {
        self.inner.ring.lock().expect("event ring lock").last_id
    }

    /// Starts the hub that turns the bus's events into stream events.
    pub fn spawn_hub(&self, bus: &EventBus) {
        let stream = self.clone();
        let mut rx = bus.subscribe();
        tokio::spawn(async move {
            let mut pending = Pending::default();
            let mut tick = tokio::time::interval(COALESCE);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    received = rx.recv() => match received {
                        Ok(event) => stream.take(event, &mut pending),
                        Err(broadcast::error::RecvError::Lagged(missed)) => {
                            tracing::warn!(missed, "the event stream fell behind the bus");
                            stream.publish(RESYNC, &json!({"reason": format!("the stream fell behind the farm by {missed} events")}));
                        }
                        Err(broadcast::error::RecvError::Closed) => break,
                    },
                    _ = tick.tick() => stream.flush(&mut pending),
                }
            }
        });
    }

    /// One bus event: coalesced, or published at once (after the printer's pending progress,
    /// so that a client never sees progress arrive after the print ended).
    fn take(&self, event: CoreEvent, pending: &mut Pending) {
        match event {
            CoreEvent::Temperatures {
                printer,
                time,
                readings,
            } => {
                pending
                    .temperatures
                    .insert(printer, json!({"time": time, "readings": readings}));
            }
            CoreEvent::Progress {
                printer,
                progress,
                remaining_secs,
            } => {
                let fraction = if progress.file_size == 0 {
                    0.0
                } else {
                    progress.acked_offset as f64 / progress.file_size as f64
                };
                pending.progress.insert(
                    printer,
                    json!({
                        "file": progress.file,
                        "fraction": fraction,
                        "file_pos": progress.acked_offset,
                        "file_size": progress.file_size,
                        "elapsed_secs": progress.elapsed_secs,
                        "remaining_secs": remaining_secs,
                        "resends": progress.resends,
                    }),
                );
            }
            CoreEvent::PrinterState {
                printer,
                previous,
                current,
                reason,
            } => {
                self.flush_printer(&printer, pending);
                self.publish(
                    "printer-state",
                    &json!({"printer": printer, "previous": previous, "state": current, "reason": reason}),
                );
            }
            CoreEvent::Print {
                printer,
                phase,
                file,
                task_id,
                elapsed_secs,
                reason,
            } => {
                self.flush_printer(&printer, pending);
                self.publish(
                    "print",
                    &json!({"printer": printer, "phase": phase, "file": file, "task_id": task_id,
                            "elapsed_secs": elapsed_secs, "reason": reason}),
                );
            }
            CoreEvent::PrinterLog { printer, line } => {
                self.publish("printer-log", &json!({"printer": printer, "line": line}));
            }
            CoreEvent::Files { path, change } => {
                self.publish("files", &json!({"path": path, "change": change}));
            }
            CoreEvent::Jobs { job_id, what } => {
                self.publish("jobs", &json!({"job_id": job_id, "what": what}));
            }
        }
    }

    /// Sends one printer's pending progress now.
    fn flush_printer(&self, printer: &str, pending: &mut Pending) {
        if let Some(progress) = pending.progress.remove(printer) {
            self.publish("progress", &json!({ "printers": { printer: progress } }));
        }
    }

    /// Sends what was coalesced since the last flush: one event per kind for every printer.
    fn flush(&self, pending: &mut Pending) {
        if !pending.temperatures.is_empty() {
            let printers = std::mem::take(&mut pending.temperatures);
            self.publish("temperatures", &json!({ "printers": printers }));
        }
        if !pending.progress.is_empty() {
            let printers = std::mem::take(&mut pending.progress);
            self.publish("progress", &json!({ "printers": printers }));
        }
    }
}

/// The latest readings and progress per printer since the last flush.
#[derive(Default)]
struct Pending {
    temperatures: BTreeMap<String, Value>,
    progress: BTreeMap<String, Value>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_resumes_after_the_last_id_it_saw_and_learns_of_a_gap() {
        let stream = EventStream::default();
        for i in 0..5 {
            stream.publish("jobs", &json!({ "n": i }));
        }
        let sub = stream.subscribe(Some(3));
        let ids: Vec<u64> = sub.replay.iter().map(|e| e.id).collect();
        assert_eq!(ids, [4, 5]);
        assert!(!sub.gap);
        assert!(stream.subscribe(Some(5)).replay.is_empty());
        assert!(stream.subscribe(None).replay.is_empty());

        for i in 0..RING {
            stream.publish("jobs", &json!({ "n": i }));
        }
        let late = stream.subscribe(Some(2));
        assert!(late.gap, "events 3.. are gone from the ring");
        assert_eq!(late.replay.len(), RING);
        assert_eq!(stream.last_id(), 5 + RING as u64);
        // An id from before a restart, or nonsense: a gap, never a panic.
        assert!(stream.subscribe(Some(u64::MAX)).gap);
        assert!(stream.subscribe(Some(10 * RING as u64)).replay.is_empty());
    }

    #[test]
    fn the_ring_is_bounded_in_bytes_too() {
        let stream = EventStream::default();
        let big = json!({ "pad": "x".repeat(1 << 20) });
        for _ in 0..40 {
            stream.publish("progress", &big);
        }
        let kept = stream.subscribe(Some(0)).replay;
        assert!(
            kept.len() <= RING_BYTES >> 20,
            "{} events of 1 MiB kept",
            kept.len()
        );
        assert_eq!(kept.last().unwrap().id, 40);
    }

    #[tokio::test]
    async fn a_printers_pending_progress_goes_out_before_its_print_event() {
        let stream = EventStream::default();
        let mut pending = Pending::default();
        let mut live = stream.subscribe(None).live;
        let progress = printfarm_serial::engine::Progress {
            file: "a.gcode".into(),
            file_size: 100,
            last_acked_line: 5,
            acked_offset: 50,
            lines_sent: 6,
            lines_acked: 5,
            resends: 0,
            elapsed_secs: 1.0,
        };
        stream.take(
            CoreEvent::Progress {
                printer: "p".into(),
                progress,
                remaining_secs: None,
            },
            &mut pending,
        );
        stream.take(
            CoreEvent::Print {
                printer: "p".into(),
                phase: crate::events::PrintPhase::Done,
                file: "a.gcode".into(),
                task_id: None,
                elapsed_secs: 2.0,
                reason: None,
            },
            &mut pending,
        );
        assert_eq!(live.recv().await.unwrap().kind, "progress");
        assert_eq!(live.recv().await.unwrap().kind, "print");
        stream.flush(&mut pending);
        assert!(live.try_recv().is_err(), "nothing was left to flush");
    }

    #[tokio::test]
    async fn temperatures_are_coalesced_per_printer() {
        let stream = EventStream::default();
        let mut pending = Pending::default();
        let mut live = stream.subscribe(None).live;
        for t in 0..50 {
            for p in ["a", "b"] {
                stream.take(
                    CoreEvent::Temperatures {
                        printer: p.into(),
                        time: t,
                        readings: Vec::new(),
                    },
                    &mut pending,
                );
            }
        }
        stream.flush(&mut pending);
        let batch = live.recv().await.unwrap();
        assert_eq!(batch.kind, "temperatures");
        let data: Value = serde_json::from_str(&batch.data).unwrap();
        assert_eq!(data["printers"]["a"]["time"], 49);
        assert_eq!(data["printers"]["b"]["time"], 49);
        assert!(live.try_recv().is_err(), "100 readings became one event");
    }
}
