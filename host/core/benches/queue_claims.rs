//! Queue throughput: 10 000 tasks claimed by 100 instant printers, on SQLite in a temp dir.
//!
//! Each printer is a task that claims, "prints" instantly and records the end, until the queue is
//! empty. Prints claims per second and checks that no task ran twice and none was left.
//! `BENCH_TASKS` and `BENCH_PRINTERS` change the sizes.
//!
//! Run: `cargo bench -p printfarm-core --bench queue_claims`

use std::collections::HashSet;
use std::time::Instant;

use printfarm_core::library::Library;
use printfarm_core::queue::{JobSpec, Placement, PrinterFacts, Queue, TaskState};
use printfarm_core::storage::Storage;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

async fn run(tasks: usize, printers: usize, concurrent: bool) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let storage = Storage::open_sqlite(&dir.path().join("bench.db")).await?;
    let library = Library::open(storage.clone(), &dir.path().join("library"), 1 << 20).await?;
    let mut incoming = library.incoming()?;
    incoming.write(b"G28\nG1 X10 Y10 E1 F1500\n").await?;
    library
        .store(incoming.finish().await?, "bench.gcode", false)
        .await?;
    let facts: Vec<PrinterFacts> = (0..printers)
        .map(|i| PrinterFacts {
            id: format!("p{i}"),
            tags: Vec::new(),
        })
        .collect();
    let queue = Queue::open(storage, library, facts).await?;
    // Jobs of 10 copies with mixed priorities, as a farm would hold them.
    let started = Instant::now();
    for j in 0..tasks.div_ceil(10) {
        let copies = (tasks - j * 10).min(10) as u32;
        queue
            .enqueue(
                JobSpec {
                    file: "bench.gcode".into(),
                    copies,
                    priority: (j % 3) as i32,
                    placement: Placement::default(),
                },
                None,
            )
            .await?;
    }
    let enqueue_secs = started.elapsed().as_secs_f64();

    let started = Instant::now();
    let mut claimed: Vec<i64> = Vec::with_capacity(tasks);
    if concurrent {
        let mut workers = Vec::new();
        for i in 0..printers {
            let queue = queue.clone();
            workers.push(tokio::spawn(async move {
                let mut got = Vec::new();
                while let Some(c) = queue.claim(&format!("p{i}")).await? {
                    got.push(c.task_id);
                    queue
                        .finish(c.print_id, TaskState::Done, None, None)
                        .await?;
                }
                anyhow::Ok(got)
            }));
        }
        for w in workers {
            claimed.extend(w.await??);
        }
    } else {
        // As the host's scheduler does it: one loop over the ready printers.
        'outer: loop {
            for i in 0..printers {
                match queue.claim(&format!("p{i}")).await? {
                    Some(c) => {
                        claimed.push(c.task_id);
                        queue
                            .finish(c.print_id, TaskState::Done, None, None)
                            .await?;
                    }
                    None => break 'outer,
                }
            }
        }
    }
    let secs = started.elapsed().as_secs_f64();
    let unique: HashSet<i64> = claimed.iter().copied().collect();
    let history = queue.history(None, None, (tasks + 10) as u32).await?;
    let left = queue.jobs().await?.len();
    println!(
        "{:<34} {tasks} tasks, {printers} printers: enqueue {:.2} s; claim+finish {:.2} s = {:.0} claims/s; \
         claimed {}, distinct {}, history {}, jobs left {left}",
        if concurrent { "100 concurrent claimers" } else { "one scheduler loop" },
        enqueue_secs,
        secs,
        claimed.len() as f64 / secs,
        claimed.len(),
        unique.len(),
        history.len(),
    );
    anyhow::ensure!(
        claimed.len() == tasks,
        "{} of {tasks} tasks claimed",
        claimed.len()
    );
    anyhow::ensure!(unique.len() == tasks, "a task was claimed twice");
    anyhow::ensure!(
        history.len() == tasks && left == 0,
        "history or queue inconsistent"
    );
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let tasks = env("BENCH_TASKS", 10_000);
    let printers = env("BENCH_PRINTERS", 100);
    run(tasks, printers, true).await?;
    run(tasks, printers, false).await?;
    Ok(())
}
