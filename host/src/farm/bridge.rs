//! Library and queue changes onto the event bus, where plugins subscribed to `files` and `jobs`
//! see them.

use printfarm_core::library::{Library, LibraryEvent};
use printfarm_core::queue::{Queue, QueueEvent};
use tokio::sync::broadcast;

use crate::events::{CoreEvent, EventBus};

/// Starts the two bridge tasks.
pub fn spawn(library: &Library, queue: &Queue, bus: &EventBus) {
    tokio::spawn(forward(
        library.subscribe(),
        bus.clone(),
        |e: LibraryEvent| CoreEvent::Files {
            path: e.path,
            change: e.change,
        },
    ));
    tokio::spawn(forward(queue.subscribe(), bus.clone(), |e: QueueEvent| {
        CoreEvent::Jobs {
            job_id: e.job_id.to_string(),
            what: e.what,
        }
    }));
}

async fn forward<T: Clone>(
    mut receiver: broadcast::Receiver<T>,
    bus: EventBus,
    to_core: impl Fn(T) -> CoreEvent,
) {
    loop {
        match receiver.recv().await {
            Ok(event) => bus.publish(to_core(event)),
            Err(broadcast::error::RecvError::Lagged(lost)) => {
                tracing::warn!(
                    lost,
                    "library or queue events lost before reaching the event bus"
                )
            }
            Err(broadcast::error::RecvError::Closed) => return,
        }
    }
}
