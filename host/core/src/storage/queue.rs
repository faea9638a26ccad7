//! Jobs, tasks, print attempts, beds and the queue's paused flag.

use std::collections::{HashMap, HashSet};

use super::Storage;
use crate::queue::{
    Job, JobSpec, Placement, PrintOutcome, PrintPause, PrintProgress, PrintRecord, Task, TaskState,
};
use crate::CoreError;

/// A queued task as the claim loop sees it.
#[derive(Debug, Clone)]
pub struct Candidate {
    /// The task.
    pub task_id: i64,
    /// Its job.
    pub job_id: i64,
    /// Which copy.
    pub copy: u32,
    /// Where the job may print.
    pub placement: Placement,
    /// The library path.
    pub file: String,
    /// The blob.
    pub blob: String,
    /// The blob's size.
    pub file_size: u64,
}

const TASK_COLUMNS: &str =
    "t.id, t.job_id, t.copy, t.state, t.printer, t.started_ms, t.finished_ms, t.reason, \
     t.needs_decision, \
     (SELECT p.last_line FROM prints p WHERE p.task_id = t.id ORDER BY p.id DESC LIMIT 1), \
     (SELECT p.file_pos FROM prints p WHERE p.task_id = t.id ORDER BY p.id DESC LIMIT 1)";

type TaskRow = (
    i64,
    i64,
    i64,
    String,
    Option<String>,
    Option<i64>,
    Option<i64>,
    Option<String>,
    i64,
    Option<i64>,
    Option<i64>,
);

fn state(s: &str) -> Result<TaskState, CoreError> {
    TaskState::parse(s)
        .ok_or_else(|| CoreError::Invalid(format!("unknown task state `{s}` in the database")))
}

fn task(row: TaskRow) -> Result<Task, CoreError> {
    let (
        id,
        job_id,
        copy,
        st,
        printer,
        started_ms,
        finished_ms,
        reason,
        needs_decision,
        last_line,
        file_pos,
    ) = row;
    Ok(Task {
        id,
        job_id,
        copy: copy as u32,
        state: state(&st)?,
        printer,
        started_ms,
        finished_ms,
        reason,
        needs_decision: needs_decision != 0,
        last_line: last_line.map(|v| v as u64),
        file_pos: file_pos.map(|v| v as u64),
    })
}

const JOB_COLUMNS: &str = "id, file_path, copies, priority, printers, tags, created_by, created_ms";
type JobRow = (i64, String, i64, i64, String, String, Option<String>, i64);

const PRINT_COLUMNS: &str =
    "id, task_id, job_id, copy, printer, file_path, started_ms, finished_ms, outcome, reason, \
     last_line, file_pos, file_size, lines_acked, resends";
type PrintRow = (
    i64,
    i64,
    i64,
    i64,
    String,
    String,
    i64,
    Option<i64>,
    String,
    Option<String>,
    i64,
    i64,
    i64,
    i64,
    i64,
);

fn print_record(row: PrintRow) -> Result<PrintRecord, CoreError> {
    let (
        id,
        task_id,
        job_id,
        copy,
        printer,
        file,
        started_ms,
        finished_ms,
        outcome,
        reason,
        last_line,
        file_pos,
        file_size,
        lines_acked,
        resends,
    ) = row;
    Ok(PrintRecord {
        id,
        task_id,
        job_id,
        copy: copy as u32,
        printer,
        file,
        started_ms,
        finished_ms,
        outcome: state(&outcome)?,
        reason,
        last_line: last_line as u64,
        file_pos: file_pos as u64,
        file_size: file_size as u64,
        lines_acked: lines_acked as u64,
        resends: resends as u64,
        pauses: Vec::new(),
    })
}

const PAUSE_COLUMNS: &str = "print_id, paused_ms, resumed_ms, paused_by, reason";
type PauseRow = (i64, i64, Option<i64>, String, Option<String>);

/// Hands each record its pauses; `rows` are ordered by print and time.
fn attach_pauses(records: &mut [PrintRecord], rows: Vec<PauseRow>) {
    let mut by_print: HashMap<i64, Vec<PrintPause>> = HashMap::new();
    for (print_id, paused_ms, resumed_ms, by, reason) in rows {
        by_print.entry(print_id).or_default().push(PrintPause {
            paused_ms,
            resumed_ms,
            by,
            reason,
        });
    }
    for record in records {
        if let Some(pauses) = by_print.remove(&record.id) {
            record.pauses = pauses;
        }
    }
}

/// The pauses of one print, oldest first.
async fn pauses_of(
    executor: impl sqlx::SqliteExecutor<'_>,
    print_id: i64,
) -> Result<Vec<PauseRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {PAUSE_COLUMNS} FROM print_pauses WHERE print_id = ? ORDER BY paused_ms, id"
    ))
    .bind(print_id)
    .fetch_all(executor)
    .await
}

fn json_list(s: &str) -> Vec<String> {
    serde_json::from_str(s).unwrap_or_default()
}

impl Storage {
    /// Inserts a job and one queued task per copy, in one transaction; returns the job id.
    pub async fn insert_job(
        &self,
        spec: &JobSpec,
        blob: &str,
        file_size: u64,
        user: Option<&str>,
        now: i64,
    ) -> Result<i64, CoreError> {
        let mut tx = self.write().await?;
        let (id,): (i64,) = sqlx::query_as(
            "INSERT INTO jobs (file_path, blob, file_size, copies, priority, printers, tags, created_by, created_ms) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        )
        .bind(&spec.file)
        .bind(blob)
        .bind(file_size as i64)
        .bind(i64::from(spec.copies))
        .bind(i64::from(spec.priority))
        .bind(serde_json::to_string(&spec.placement.printers).unwrap_or_default())
        .bind(serde_json::to_string(&spec.placement.tags).unwrap_or_default())
        .bind(user)
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        for copy in 1..=i64::from(spec.copies) {
            sqlx::query(
                "INSERT INTO tasks (job_id, copy, priority, state) VALUES (?, ?, ?, 'queued')",
            )
            .bind(id)
            .bind(copy)
            .bind(i64::from(spec.priority))
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(id)
    }

    async fn job_with_tasks(&self, row: JobRow) -> Result<Job, CoreError> {
        let (id, file, copies, priority, printers, tags, created_by, created_ms) = row;
        let rows: Vec<TaskRow> = sqlx::query_as(&format!(
            "SELECT {TASK_COLUMNS} FROM tasks t WHERE t.job_id = ? ORDER BY t.copy"
        ))
        .bind(id)
        .fetch_all(&self.pool)
        .await?;
        Ok(Job {
            id,
            file,
            copies: copies as u32,
            priority: priority as i32,
            placement: Placement {
                printers: json_list(&printers),
                tags: json_list(&tags),
            },
            created_by,
            created_ms,
            tasks: rows.into_iter().map(task).collect::<Result<_, _>>()?,
        })
    }

    /// One job with its tasks.
    pub async fn job(&self, id: i64) -> Result<Option<Job>, CoreError> {
        let row: Option<JobRow> =
            sqlx::query_as(&format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = ?"))
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
        match row {
            Some(row) => Ok(Some(self.job_with_tasks(row).await?)),
            None => Ok(None),
        }
    }

    /// Jobs with queued, printing or interrupted tasks, in queue order.
    pub async fn active_jobs(&self) -> Result<Vec<Job>, CoreError> {
        let rows: Vec<JobRow> = sqlx::query_as(&format!(
            "SELECT {JOB_COLUMNS} FROM jobs j WHERE EXISTS (SELECT 1 FROM tasks t WHERE t.job_id = j.id \
             AND t.state IN ('queued', 'printing', 'interrupted')) ORDER BY j.priority DESC, j.id"
        ))
        .fetch_all(&self.pool)
        .await?;
        let mut jobs = Vec::with_capacity(rows.len());
        for row in rows {
            jobs.push(self.job_with_tasks(row).await?);
        }
        Ok(jobs)
    }

    /// One task.
    pub async fn task(&self, id: i64) -> Result<Option<Task>, CoreError> {
        let row: Option<TaskRow> = sqlx::query_as(&format!(
            "SELECT {TASK_COLUMNS} FROM tasks t WHERE t.id = ?"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(task).transpose()
    }

    /// The blob of a job.
    pub async fn job_blob(&self, job_id: i64) -> Result<String, CoreError> {
        let row: Option<(String,)> = sqlx::query_as("SELECT blob FROM jobs WHERE id = ?")
            .bind(job_id)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|(b,)| b)
            .ok_or_else(|| CoreError::NotFound(format!("no job {job_id}")))
    }

    /// Cancels a job's queued and interrupted tasks; returns its printing ones as `(task, printer)`.
    pub async fn cancel_job(
        &self,
        id: i64,
        reason: &str,
        now: i64,
    ) -> Result<Vec<(i64, String)>, CoreError> {
        let mut tx = self.write().await?;
        sqlx::query(
            "UPDATE tasks SET state = 'cancelled', finished_ms = ?, reason = ?, needs_decision = 0 \
             WHERE job_id = ? AND state IN ('queued', 'interrupted')",
        )
        .bind(now)
        .bind(reason)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        let running: Vec<(i64, String)> = sqlx::query_as(
            "SELECT id, printer FROM tasks WHERE job_id = ? AND state = 'printing' AND printer IS NOT NULL",
        )
        .bind(id)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(running)
    }

    /// Sets a job's priority; false if there is no such job.
    pub async fn set_priority(&self, id: i64, priority: i32) -> Result<bool, CoreError> {
        let mut tx = self.write().await?;
        let done = sqlx::query("UPDATE jobs SET priority = ? WHERE id = ?")
            .bind(i64::from(priority))
            .bind(id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE tasks SET priority = ? WHERE job_id = ?")
            .bind(i64::from(priority))
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }

    /// Puts an ended task back in the queue; false if it changed meanwhile.
    pub async fn requeue_task(&self, id: i64) -> Result<bool, CoreError> {
        let done = sqlx::query(
            "UPDATE tasks SET state = 'queued', printer = NULL, started_ms = NULL, finished_ms = NULL, \
             reason = NULL, needs_decision = 0 WHERE id = ? AND state IN ('failed', 'cancelled', 'interrupted')",
        )
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Records that an operator decided about an interrupted task.
    pub async fn clear_decision(&self, id: i64) -> Result<(), CoreError> {
        sqlx::query("UPDATE tasks SET needs_decision = 0 WHERE id = ?")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Print attempts with their pauses, newest first.
    pub async fn history(
        &self,
        printer: Option<&str>,
        file: Option<&str>,
        limit: u32,
    ) -> Result<Vec<PrintRecord>, CoreError> {
        const SELECTED: &str = "FROM prints WHERE (? IS NULL OR printer = ?) \
             AND (? IS NULL OR file_path = ?) ORDER BY started_ms DESC, id DESC LIMIT ?";
        // One read, so that the pauses belong to exactly the records listed.
        let mut tx = self.pool.begin().await?;
        let rows: Vec<PrintRow> = sqlx::query_as(&format!("SELECT {PRINT_COLUMNS} {SELECTED}"))
            .bind(printer)
            .bind(printer)
            .bind(file)
            .bind(file)
            .bind(i64::from(limit))
            .fetch_all(&mut *tx)
            .await?;
        // The records' ids by the same filter rather than bound one by one: a page of history
        // can hold more ids than SQLite takes parameters.
        let pauses: Vec<PauseRow> = sqlx::query_as(&format!(
            "SELECT {PAUSE_COLUMNS} FROM print_pauses WHERE print_id IN (SELECT id {SELECTED}) \
             ORDER BY print_id, paused_ms, id"
        ))
        .bind(printer)
        .bind(printer)
        .bind(file)
        .bind(file)
        .bind(i64::from(limit))
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        let mut records: Vec<PrintRecord> = rows
            .into_iter()
            .map(print_record)
            .collect::<Result<_, _>>()?;
        attach_pauses(&mut records, pauses);
        Ok(records)
    }

    /// Records that a running print paused, unless a pause of it is open already (a second
    /// pause request, or the printer's own pause event after the request). True if recorded.
    pub async fn record_pause(
        &self,
        print_id: i64,
        by: &str,
        reason: Option<&str>,
        now: i64,
    ) -> Result<bool, CoreError> {
        let done = sqlx::query(
            "INSERT INTO print_pauses (print_id, paused_ms, paused_by, reason) \
             SELECT id, ?, ?, ? FROM prints WHERE id = ? AND outcome = 'printing' \
             AND NOT EXISTS (SELECT 1 FROM print_pauses WHERE print_id = ? AND resumed_ms IS NULL)",
        )
        .bind(now)
        .bind(by)
        .bind(reason)
        .bind(print_id)
        .bind(print_id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Closes a print's open pause; true if it had one.
    pub async fn record_resume(&self, print_id: i64, now: i64) -> Result<bool, CoreError> {
        let done = sqlx::query(
            "UPDATE print_pauses SET resumed_ms = ? WHERE print_id = ? AND resumed_ms IS NULL",
        )
        .bind(now)
        .bind(print_id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Queued tasks in claim order: priority, then job age, then copy.
    pub async fn claim_candidates(
        &self,
        offset: i64,
        limit: i64,
    ) -> Result<Vec<Candidate>, CoreError> {
        self.candidates(
            "t.state = 'queued' ORDER BY t.priority DESC, t.job_id, t.copy LIMIT ? OFFSET ?",
            &[limit, offset],
        )
        .await
    }

    /// One task, if it is queued.
    pub async fn candidate(&self, task_id: i64) -> Result<Option<Candidate>, CoreError> {
        Ok(self
            .candidates("t.id = ? AND t.state = 'queued'", &[task_id])
            .await?
            .pop())
    }

    async fn candidates(
        &self,
        condition: &str,
        binds: &[i64],
    ) -> Result<Vec<Candidate>, CoreError> {
        type CandidateRow = (i64, i64, i64, String, String, String, String, i64);
        let sql = format!(
            "SELECT t.id, t.job_id, t.copy, j.printers, j.tags, j.file_path, j.blob, j.file_size \
             FROM tasks t JOIN jobs j ON j.id = t.job_id WHERE {condition}"
        );
        let mut query = sqlx::query_as::<_, CandidateRow>(&sql);
        for b in binds {
            query = query.bind(*b);
        }
        let rows = query.fetch_all(&self.pool).await?;
        Ok(rows
            .into_iter()
            .map(
                |(task_id, job_id, copy, printers, tags, file, blob, file_size)| Candidate {
                    task_id,
                    job_id,
                    copy: copy as u32,
                    placement: Placement {
                        printers: json_list(&printers),
                        tags: json_list(&tags),
                    },
                    file,
                    blob,
                    file_size: file_size as u64,
                },
            )
            .collect())
    }

    /// Claims a queued task for a printer and opens its print record, atomically. `None` when
    /// another claimer took it first.
    pub async fn try_claim(
        &self,
        task_id: i64,
        printer: &str,
        file: &str,
        file_size: u64,
        now: i64,
    ) -> Result<Option<i64>, CoreError> {
        let mut tx = self.write().await?;
        let claimed = sqlx::query(
            "UPDATE tasks SET state = 'printing', printer = ?, started_ms = ?, finished_ms = NULL, reason = NULL \
             WHERE id = ? AND state = 'queued'",
        )
        .bind(printer)
        .bind(now)
        .bind(task_id)
        .execute(&mut *tx)
        .await?;
        if claimed.rows_affected() != 1 {
            return Ok(None);
        }
        let (print_id,): (i64,) = sqlx::query_as(
            "INSERT INTO prints (task_id, job_id, copy, printer, file_path, started_ms, outcome, file_size) \
             SELECT id, job_id, copy, ?, ?, ?, 'printing', ? FROM tasks WHERE id = ? RETURNING id",
        )
        .bind(printer)
        .bind(file)
        .bind(now)
        .bind(file_size as i64)
        .bind(task_id)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Some(print_id))
    }

    /// Undoes a claim whose print never started: the task is queued again, the attempt recorded as failed.
    pub async fn unclaim(
        &self,
        task_id: i64,
        print_id: i64,
        reason: &str,
        now: i64,
    ) -> Result<(), CoreError> {
        let mut tx = self.write().await?;
        sqlx::query(
            "UPDATE prints SET outcome = 'failed', finished_ms = ?, reason = ? WHERE id = ?",
        )
        .bind(now)
        .bind(reason)
        .bind(print_id)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE tasks SET state = 'queued', printer = NULL, started_ms = NULL WHERE id = ? AND state = 'printing'",
        )
        .bind(task_id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Records a running print's progress.
    pub async fn print_progress(&self, print_id: i64, p: PrintProgress) -> Result<(), CoreError> {
        sqlx::query(
            "UPDATE prints SET last_line = ?, file_pos = ?, file_size = ?, lines_acked = ?, resends = ? WHERE id = ?",
        )
        .bind(p.last_line as i64)
        .bind(p.file_pos as i64)
        .bind(p.file_size as i64)
        .bind(p.lines_acked as i64)
        .bind(p.resends as i64)
        .bind(print_id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Ends a print attempt and sets its task to the same state.
    pub async fn finish_print(
        &self,
        print_id: i64,
        outcome: PrintOutcome,
        reason: Option<&str>,
        now: i64,
    ) -> Result<Option<PrintRecord>, CoreError> {
        let mut tx = self.write().await?;
        let row: Option<PrintRow> = sqlx::query_as(&format!(
            "UPDATE prints SET outcome = ?, reason = ?, finished_ms = ? WHERE id = ? RETURNING {PRINT_COLUMNS}"
        ))
        .bind(outcome.as_str())
        .bind(reason)
        .bind(now)
        .bind(print_id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let mut record = print_record(row)?;
        let pauses = pauses_of(&mut *tx, print_id).await?;
        attach_pauses(std::slice::from_mut(&mut record), pauses);
        sqlx::query(
            "UPDATE tasks SET state = ?, finished_ms = ?, reason = ? WHERE id = ? AND state = 'printing'",
        )
        .bind(outcome.as_str())
        .bind(now)
        .bind(reason)
        .bind(record.task_id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Some(record))
    }

    /// Marks prints still running (the server stopped under them) interrupted, their tasks waiting
    /// for a decision; returns them.
    pub async fn interrupt_running(&self, now: i64) -> Result<Vec<PrintRecord>, CoreError> {
        let mut tx = self.write().await?;
        let rows: Vec<PrintRow> = sqlx::query_as(&format!(
            "SELECT {PRINT_COLUMNS} FROM prints WHERE outcome = 'printing' ORDER BY id"
        ))
        .fetch_all(&mut *tx)
        .await?;
        let mut records = Vec::new();
        for row in rows {
            let mut r = print_record(row)?;
            let reason = format!(
                "the server stopped during the print; the printer had acknowledged line {} (byte {} of {})",
                r.last_line, r.file_pos, r.file_size
            );
            sqlx::query("UPDATE prints SET outcome = 'interrupted', reason = ?, finished_ms = ? WHERE id = ?")
                .bind(&reason)
                .bind(now)
                .bind(r.id)
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "UPDATE tasks SET state = 'interrupted', reason = ?, finished_ms = ?, needs_decision = 1 \
                 WHERE id = ? AND state = 'printing'",
            )
            .bind(&reason)
            .bind(now)
            .bind(r.task_id)
            .execute(&mut *tx)
            .await?;
            r.outcome = TaskState::Interrupted;
            r.reason = Some(reason);
            r.finished_ms = Some(now);
            let pauses = pauses_of(&mut *tx, r.id).await?;
            attach_pauses(std::slice::from_mut(&mut r), pauses);
            records.push(r);
        }
        tx.commit().await?;
        Ok(records)
    }

    /// Printers with an interrupted task that waits for a decision.
    pub async fn held_printers(&self) -> Result<HashSet<String>, CoreError> {
        let rows: Vec<(String,)> = sqlx::query_as(
            "SELECT DISTINCT printer FROM tasks WHERE state = 'interrupted' AND needs_decision = 1 AND printer IS NOT NULL",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(|(p,)| p).collect())
    }

    /// Whether the queue is paused.
    pub async fn queue_paused(&self) -> Result<bool, CoreError> {
        let row: Option<(String,)> =
            sqlx::query_as("SELECT value FROM farm_settings WHERE key = 'queue.paused'")
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.is_some_and(|(v,)| v == "true"))
    }

    /// Pauses or resumes the queue.
    pub async fn set_queue_paused(&self, paused: bool) -> Result<(), CoreError> {
        sqlx::query(
            "INSERT INTO farm_settings (key, value) VALUES ('queue.paused', ?) \
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        )
        .bind(if paused { "true" } else { "false" })
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Whether a printer's bed is confirmed clear.
    pub async fn bed_clear(&self, printer: &str) -> Result<Option<bool>, CoreError> {
        let row: Option<(i64,)> =
            sqlx::query_as("SELECT clear FROM printer_beds WHERE printer = ?")
                .bind(printer)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.map(|(c,)| c != 0))
    }

    /// Records a printer's bed state.
    pub async fn set_bed_clear(
        &self,
        printer: &str,
        clear: bool,
        now: i64,
    ) -> Result<(), CoreError> {
        sqlx::query(
            "INSERT INTO printer_beds (printer, clear, changed_ms) VALUES (?, ?, ?) \
             ON CONFLICT (printer) DO UPDATE SET clear = excluded.clear, changed_ms = excluded.changed_ms",
        )
        .bind(printer)
        .bind(clear as i64)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
