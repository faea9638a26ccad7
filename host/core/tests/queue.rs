//! The queue over a real SQLite database: claim order, placement, concurrent claims that never
//! hand out a task twice, cancel/retry, and recovery of prints a crash interrupted.

use std::collections::HashSet;

use printfarm_core::library::Library;
use printfarm_core::queue::{JobSpec, Placement, PrintProgress, PrinterFacts, Queue, TaskState};
use printfarm_core::storage::Storage;
use printfarm_core::CoreError;

const GCODE: &[u8] = b"G28\nG1 X10 Y10 E1 F1500\n";

fn printer(id: &str, tags: &[&str]) -> PrinterFacts {
    PrinterFacts {
        id: id.into(),
        tags: tags.iter().map(|t| t.to_string()).collect(),
    }
}

async fn setup(dir: &std::path::Path, printers: Vec<PrinterFacts>) -> (Library, Queue) {
    let storage = Storage::open_sqlite(&dir.join("db")).await.unwrap();
    let library = Library::open(storage.clone(), &dir.join("library"), 1 << 20)
        .await
        .unwrap();
    if library.stat("a.gcode").await.is_err() {
        let mut incoming = library.incoming().unwrap();
        incoming.write(GCODE).await.unwrap();
        library
            .store(incoming.finish().await.unwrap(), "a.gcode", false)
            .await
            .unwrap();
    }
    let queue = Queue::open(storage, library.clone(), printers)
        .await
        .unwrap();
    (library, queue)
}

fn spec(copies: u32, priority: i32, printers: &[&str], tags: &[&str]) -> JobSpec {
    JobSpec {
        file: "a.gcode".into(),
        copies,
        priority,
        placement: Placement {
            printers: printers.iter().map(|p| p.to_string()).collect(),
            tags: tags.iter().map(|t| t.to_string()).collect(),
        },
    }
}

#[tokio::test]
async fn claims_follow_priority_then_age_and_respect_placement() {
    let dir = tempfile::tempdir().unwrap();
    let (_, queue) = setup(
        dir.path(),
        vec![printer("p1", &["petg"]), printer("p2", &[])],
    )
    .await;
    let low = queue
        .enqueue(spec(2, 0, &[], &[]), Some("ann"))
        .await
        .unwrap();
    let high = queue.enqueue(spec(1, 5, &[], &[]), None).await.unwrap();
    let petg = queue
        .enqueue(spec(1, 9, &[], &["petg"]), None)
        .await
        .unwrap();

    let c = queue.claim("p2").await.unwrap().unwrap();
    assert_eq!(
        c.job_id, high.id,
        "p2 cannot print petg, so the priority-5 job is next"
    );
    let c = queue.claim("p1").await.unwrap().unwrap();
    assert_eq!(c.job_id, petg.id);
    let c = queue.claim("p1").await.unwrap().unwrap();
    assert_eq!((c.job_id, c.copy), (low.id, 1));
    queue.set_paused(true).await.unwrap();
    assert!(
        queue.claim("p2").await.unwrap().is_none(),
        "a paused queue hands out nothing"
    );
    queue.set_paused(false).await.unwrap();
    let c = queue.claim("p2").await.unwrap().unwrap();
    assert_eq!((c.job_id, c.copy), (low.id, 2));
    assert!(queue.claim("p2").await.unwrap().is_none());
    assert_eq!(
        queue.job(low.id).await.unwrap().created_by.as_deref(),
        Some("ann")
    );
}

#[tokio::test]
async fn bad_jobs_are_refused_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let (_, queue) = setup(dir.path(), vec![printer("p1", &[])]).await;
    let cases = [
        (spec(0, 0, &[], &[]), "copies"),
        (spec(1, 0, &["nope"], &[]), "not a printer"),
        (spec(1, 0, &[], &["abs"]), "no printer"),
        (
            JobSpec {
                file: "missing.gcode".into(),
                ..spec(1, 0, &[], &[])
            },
            "missing.gcode",
        ),
        (
            JobSpec {
                file: "../x.gcode".into(),
                ..spec(1, 0, &[], &[])
            },
            "traversal",
        ),
    ];
    for (s, why) in cases {
        let e = queue.enqueue(s, None).await.unwrap_err();
        assert!(e.to_string().contains(why), "{why}: {e}");
    }
    assert!(
        queue.jobs().await.unwrap().is_empty(),
        "nothing half-queued"
    );
}

#[tokio::test]
async fn concurrent_claimers_never_get_the_same_task() {
    let dir = tempfile::tempdir().unwrap();
    let printers: Vec<PrinterFacts> = (0..8).map(|i| printer(&format!("p{i}"), &[])).collect();
    let (_, queue) = setup(dir.path(), printers).await;
    queue.enqueue(spec(200, 0, &[], &[]), None).await.unwrap();
    let mut claimers = Vec::new();
    for i in 0..8 {
        let queue = queue.clone();
        claimers.push(tokio::spawn(async move {
            let mut got = Vec::new();
            while let Some(c) = queue.claim(&format!("p{i}")).await.unwrap() {
                got.push(c.task_id);
                queue
                    .finish(c.print_id, TaskState::Done, None, None)
                    .await
                    .unwrap();
            }
            got
        }));
    }
    let mut all = Vec::new();
    for c in claimers {
        all.extend(c.await.unwrap());
    }
    let unique: HashSet<_> = all.iter().collect();
    assert_eq!((all.len(), unique.len()), (200, 200));
    assert_eq!(queue.history(None, None, 1000).await.unwrap().len(), 200);
}

#[tokio::test]
async fn cancel_retry_and_crash_recovery() {
    let dir = tempfile::tempdir().unwrap();
    let (_, queue) = setup(dir.path(), vec![printer("p1", &[]), printer("p2", &[])]).await;
    let job = queue.enqueue(spec(3, 0, &[], &[]), None).await.unwrap();
    let running = queue.claim("p1").await.unwrap().unwrap();
    let progress = PrintProgress {
        last_line: 2,
        file_pos: 24,
        file_size: 24,
        lines_acked: 2,
        resends: 0,
    };
    queue
        .record_progress(running.print_id, progress)
        .await
        .unwrap();

    // A crash: a new queue over the same database finds the print still running.
    drop(queue);
    let (_, queue) = setup(dir.path(), vec![printer("p1", &[]), printer("p2", &[])]).await;
    let interrupted = queue.recover_interrupted().await.unwrap();
    assert_eq!(interrupted.len(), 1);
    assert_eq!((interrupted[0].last_line, interrupted[0].file_pos), (2, 24));
    assert!(interrupted[0].reason.as_ref().unwrap().contains("line 2"));
    assert_eq!(
        queue.held_printers().await.unwrap(),
        HashSet::from(["p1".to_string()])
    );
    let task = queue.task(running.task_id).await.unwrap();
    assert_eq!(task.state, TaskState::Interrupted);
    assert!(task.needs_decision);
    assert_eq!(task.last_line, Some(2));

    let retried = queue.retry(running.task_id).await.unwrap();
    assert_eq!(retried.state, TaskState::Queued);
    assert!(queue.held_printers().await.unwrap().is_empty());
    let e = queue.retry(running.task_id).await.unwrap_err();
    assert!(matches!(e, CoreError::Conflict(_)), "{e}");

    let printing = queue.claim("p2").await.unwrap().unwrap();
    let still_running = queue.cancel(job.id, "test").await.unwrap();
    assert_eq!(still_running, vec![(printing.task_id, "p2".to_string())]);
    queue
        .finish(printing.print_id, TaskState::Cancelled, Some("test"), None)
        .await
        .unwrap();
    let job = queue.job(job.id).await.unwrap();
    assert!(
        job.tasks.iter().all(|t| t.state == TaskState::Cancelled),
        "{:?}",
        job.tasks
    );
    assert!(queue.jobs().await.unwrap().is_empty());
    let history = queue.history(Some("p1"), None, 10).await.unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].outcome, TaskState::Interrupted);
}

/// Every pause of an attempt is in its history, with who paused it and why, closed by the
/// resume; a second pause while one is open does not count, and only a running print pauses.
#[tokio::test]
async fn pauses_are_recorded_in_the_history_of_their_print() {
    let dir = tempfile::tempdir().unwrap();
    let (_, queue) = setup(dir.path(), vec![printer("p1", &[])]).await;
    queue.enqueue(spec(1, 0, &[], &[]), None).await.unwrap();
    let claim = queue.claim("p1").await.unwrap().unwrap();
    let print = claim.print_id;
    assert!(queue
        .record_pause(print, "plugin:obico", Some("spaghetti detected"))
        .await
        .unwrap());
    assert!(
        !queue.record_pause(print, "printer", None).await.unwrap(),
        "the printer's own pause event after a request is the same pause"
    );
    assert!(queue.record_resume(print).await.unwrap());
    assert!(!queue.record_resume(print).await.unwrap());
    let long = "x".repeat(5000);
    assert!(queue
        .record_pause(print, "user:alice", Some(&long))
        .await
        .unwrap());
    let record = queue
        .finish(print, TaskState::Cancelled, Some("test"), None)
        .await
        .unwrap();
    assert_eq!(record.pauses.len(), 2, "{:?}", record.pauses);
    assert!(
        !queue.record_pause(print, "user:alice", None).await.unwrap(),
        "an ended print does not pause"
    );

    let history = queue.history(Some("p1"), None, 10).await.unwrap();
    let pauses = &history[0].pauses;
    assert_eq!(pauses.len(), 2);
    assert_eq!(pauses[0].by, "plugin:obico");
    assert_eq!(pauses[0].reason.as_deref(), Some("spaghetti detected"));
    assert!(pauses[0].resumed_ms.unwrap() >= pauses[0].paused_ms);
    assert_eq!(pauses[1].by, "user:alice");
    assert_eq!(pauses[1].resumed_ms, None, "it ended paused");
    let reason = pauses[1].reason.as_deref().unwrap();
    assert!(
        reason.len() <= printfarm_core::queue::MAX_PAUSE_REASON && reason.ends_with('…'),
        "{}",
        reason.len()
    );
}
