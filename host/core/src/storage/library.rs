//! The library's rows: entries by path, analyses, thumbnails, and which blobs are still in use.

use std::collections::HashSet;

use sqlx::{Sqlite, Transaction};

use super::identity::is_unique_violation;
use super::Storage;
use crate::library::{path, Analysis, AnalysisState, FileInfo};
use crate::CoreError;

const ENTRY_COLUMNS: &str =
    "path, is_folder, size, sha256, blob, modified_ms, analysis, analysis_error";

type EntryRow = (
    String,
    i64,
    i64,
    Option<String>,
    Option<String>,
    i64,
    Option<String>,
    Option<String>,
);

fn entry(row: EntryRow) -> FileInfo {
    let (path, is_folder, size, sha256, blob, modified_ms, analysis, analysis_error) = row;
    let is_folder = is_folder != 0;
    let analysis: Option<Analysis> = analysis.and_then(|a| serde_json::from_str(&a).ok());
    let analysis_state = (!is_folder).then_some(match (&analysis, &analysis_error) {
        (Some(_), _) => AnalysisState::Done,
        (None, Some(_)) => AnalysisState::Failed,
        (None, None) => AnalysisState::Pending,
    });
    FileInfo {
        name: path::name_of(&path).to_string(),
        path,
        is_folder,
        size: size as u64,
        modified_ms,
        sha256,
        analysis_state,
        thumbnails: analysis
            .as_ref()
            .map(crate::library::thumbnails_of)
            .unwrap_or_default(),
        analysis,
        analysis_error,
        blob,
    }
}

/// The condition "job `j` still has a task that may print": its blob must be kept.
const JOB_UNFINISHED: &str = "EXISTS (SELECT 1 FROM tasks t WHERE t.job_id = j.id \
     AND t.state IN ('queued', 'printing', 'interrupted'))";

/// The condition "`path` column is `?` or below it", and its three binds.
const UNDER: &str = "(path = ? OR substr(path, 1, ?) = ?)";

fn under_binds(p: &str) -> (String, i64, String) {
    let prefix = format!("{p}/");
    (p.to_string(), prefix.chars().count() as i64, prefix)
}

async fn entry_in(
    tx: &mut Transaction<'_, Sqlite>,
    p: &str,
) -> Result<Option<FileInfo>, CoreError> {
    let row: Option<EntryRow> = sqlx::query_as(&format!(
        "SELECT {ENTRY_COLUMNS} FROM library_entries WHERE path = ?"
    ))
    .bind(p)
    .fetch_optional(&mut **tx)
    .await?;
    Ok(row.map(entry))
}

/// Creates the missing folders above `p`; a file in the way is a conflict.
async fn ensure_parents(
    tx: &mut Transaction<'_, Sqlite>,
    p: &str,
    now: i64,
) -> Result<(), CoreError> {
    for folder in path::ancestors(p) {
        match entry_in(tx, folder).await? {
            Some(e) if e.is_folder => {}
            Some(_) => {
                return Err(CoreError::Conflict(format!(
                    "`{folder}` is a file, so `{p}` cannot be created below it"
                )))
            }
            None => insert_folder_row(tx, folder, now).await?,
        }
    }
    Ok(())
}

async fn insert_folder_row(
    tx: &mut Transaction<'_, Sqlite>,
    p: &str,
    now: i64,
) -> Result<(), CoreError> {
    sqlx::query(
        "INSERT INTO library_entries (path, parent, is_folder, size, modified_ms) VALUES (?, ?, 1, 0, ?)",
    )
    .bind(p)
    .bind(path::parent_of(p))
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

async fn printing_under_in(tx: &mut Transaction<'_, Sqlite>, p: &str) -> Result<bool, CoreError> {
    let (a, n, prefix) = under_binds(p);
    let (count,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM tasks t JOIN jobs j ON j.id = t.job_id \
         JOIN library_entries e ON e.blob = j.blob \
         WHERE t.state = 'printing' AND (e.path = ? OR substr(e.path, 1, ?) = ?)",
    )
    .bind(a)
    .bind(n)
    .bind(prefix)
    .fetch_one(&mut **tx)
    .await?;
    Ok(count > 0)
}

impl Storage {
    /// Inserts a file row (creating parent folders); with `overwrite`, replaces a file there and
    /// returns its old blob.
    pub async fn insert_file(
        &self,
        p: &str,
        size: u64,
        sha256: &str,
        blob: &str,
        now: i64,
        overwrite: bool,
    ) -> Result<Option<String>, CoreError> {
        let mut tx = self.write().await?;
        ensure_parents(&mut tx, p, now).await?;
        let old = match entry_in(&mut tx, p).await? {
            Some(e) if e.is_folder => {
                return Err(CoreError::Conflict(format!("`{p}` is a folder")))
            }
            Some(_) if !overwrite => {
                return Err(CoreError::Conflict(format!(
                    "`{p}` exists; allow overwriting or pick another name"
                )))
            }
            Some(e) => {
                if printing_under_in(&mut tx, p).await? {
                    return Err(CoreError::Conflict(format!(
                        "`{p}` is printing; it cannot be replaced until the print ends"
                    )));
                }
                sqlx::query("DELETE FROM library_entries WHERE path = ?")
                    .bind(p)
                    .execute(&mut *tx)
                    .await?;
                e.blob
            }
            None => None,
        };
        let inserted = sqlx::query(
            "INSERT INTO library_entries (path, parent, is_folder, size, sha256, blob, modified_ms) \
             VALUES (?, ?, 0, ?, ?, ?, ?)",
        )
        .bind(p)
        .bind(path::parent_of(p))
        .bind(size as i64)
        .bind(sha256)
        .bind(blob)
        .bind(now)
        .execute(&mut *tx)
        .await;
        match inserted {
            Err(e) if is_unique_violation(&e) => {
                return Err(CoreError::Conflict(format!("`{p}` was created meanwhile")))
            }
            other => other?,
        };
        tx.commit().await?;
        Ok(old)
    }

    /// Inserts a folder and its parents. `Conflict` if anything is at `p`.
    pub async fn insert_folder(&self, p: &str, now: i64) -> Result<(), CoreError> {
        let mut tx = self.write().await?;
        ensure_parents(&mut tx, p, now).await?;
        if let Some(e) = entry_in(&mut tx, p).await? {
            return Err(CoreError::Conflict(format!(
                "`{p}` exists (a {})",
                if e.is_folder { "folder" } else { "file" }
            )));
        }
        insert_folder_row(&mut tx, p, now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// One entry.
    pub async fn library_entry(&self, p: &str) -> Result<Option<FileInfo>, CoreError> {
        let row: Option<EntryRow> = sqlx::query_as(&format!(
            "SELECT {ENTRY_COLUMNS} FROM library_entries WHERE path = ?"
        ))
        .bind(p)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(entry))
    }

    /// A folder's children, or with `recursive` everything below it; folders first, then by path.
    pub async fn list_library(
        &self,
        folder: &str,
        recursive: bool,
    ) -> Result<Vec<FileInfo>, CoreError> {
        let rows: Vec<EntryRow> = if recursive && !folder.is_empty() {
            let (_, n, prefix) = under_binds(folder);
            sqlx::query_as(&format!(
                "SELECT {ENTRY_COLUMNS} FROM library_entries WHERE substr(path, 1, ?) = ? \
                 ORDER BY is_folder DESC, path"
            ))
            .bind(n)
            .bind(prefix)
            .fetch_all(&self.pool)
            .await?
        } else if recursive {
            sqlx::query_as(&format!(
                "SELECT {ENTRY_COLUMNS} FROM library_entries ORDER BY is_folder DESC, path"
            ))
            .fetch_all(&self.pool)
            .await?
        } else {
            sqlx::query_as(&format!(
                "SELECT {ENTRY_COLUMNS} FROM library_entries WHERE parent = ? ORDER BY is_folder DESC, path"
            ))
            .bind(folder)
            .fetch_all(&self.pool)
            .await?
        };
        Ok(rows.into_iter().map(entry).collect())
    }

    /// `p` and everything below it, outermost first.
    pub async fn entries_under(&self, p: &str) -> Result<Vec<FileInfo>, CoreError> {
        let (a, n, prefix) = under_binds(p);
        let rows: Vec<EntryRow> = sqlx::query_as(&format!(
            "SELECT {ENTRY_COLUMNS} FROM library_entries WHERE {UNDER} ORDER BY path"
        ))
        .bind(a)
        .bind(n)
        .bind(prefix)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(entry).collect())
    }

    /// Whether a printer is printing `p` or a file below it.
    pub async fn printing_under(&self, p: &str) -> Result<bool, CoreError> {
        let mut tx = self.pool.begin().await?;
        printing_under_in(&mut tx, p).await
    }

    /// Renames `source` (and everything below it) to `destination` in one transaction.
    pub async fn move_entries(
        &self,
        source: &str,
        destination: &str,
        now: i64,
    ) -> Result<(), CoreError> {
        let mut tx = self.write().await?;
        ensure_parents(&mut tx, destination, now).await?;
        if entry_in(&mut tx, destination).await?.is_some() {
            return Err(CoreError::Conflict(format!("`{destination}` exists")));
        }
        let (a, n, prefix) = under_binds(source);
        let paths: Vec<(String,)> =
            sqlx::query_as(&format!("SELECT path FROM library_entries WHERE {UNDER}"))
                .bind(a)
                .bind(n)
                .bind(prefix)
                .fetch_all(&mut *tx)
                .await?;
        for (old,) in paths {
            let new = format!("{destination}{}", &old[source.len()..]);
            sqlx::query(
                "UPDATE library_entries SET path = ?, parent = ?, modified_ms = ? WHERE path = ?",
            )
            .bind(&new)
            .bind(path::parent_of(&new))
            .bind(now)
            .bind(&old)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Inserts copies of `entries` (from below `source`) below `destination`, each with its new blob.
    pub async fn copy_entries(
        &self,
        source: &str,
        destination: &str,
        entries: &[(FileInfo, Option<String>)],
        now: i64,
    ) -> Result<(), CoreError> {
        let mut tx = self.write().await?;
        ensure_parents(&mut tx, destination, now).await?;
        for (e, blob) in entries {
            let new = format!("{destination}{}", &e.path[source.len()..]);
            let analysis = e
                .analysis
                .as_ref()
                .map(|a| serde_json::to_string(a).unwrap_or_default());
            let inserted = sqlx::query(
                "INSERT INTO library_entries (path, parent, is_folder, size, sha256, blob, modified_ms, analysis) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(&new)
            .bind(path::parent_of(&new))
            .bind(e.is_folder as i64)
            .bind(e.size as i64)
            .bind(&e.sha256)
            .bind(blob)
            .bind(now)
            .bind(analysis)
            .execute(&mut *tx)
            .await;
            match inserted {
                Err(err) if is_unique_violation(&err) => {
                    return Err(CoreError::Conflict(format!("`{new}` exists")))
                }
                other => other?,
            };
            if let (Some(old), Some(blob)) = (&e.blob, blob) {
                sqlx::query(
                    "INSERT INTO library_thumbnails (blob, idx, width, height, format, data) \
                     SELECT ?, idx, width, height, format, data FROM library_thumbnails WHERE blob = ?",
                )
                .bind(blob)
                .bind(old)
                .execute(&mut *tx)
                .await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    /// The path of the entry holding a blob.
    pub async fn path_of_blob(&self, blob: &str) -> Result<Option<String>, CoreError> {
        let row: Option<(String,)> =
            sqlx::query_as("SELECT path FROM library_entries WHERE blob = ?")
                .bind(blob)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.map(|(p,)| p))
    }

    /// Deletes `p` and everything below it; returns the blobs they held.
    pub async fn delete_entries(&self, p: &str) -> Result<Vec<String>, CoreError> {
        let mut tx = self.write().await?;
        let (a, n, prefix) = under_binds(p);
        let blobs: Vec<(Option<String>,)> =
            sqlx::query_as(&format!("SELECT blob FROM library_entries WHERE {UNDER}"))
                .bind(&a)
                .bind(n)
                .bind(&prefix)
                .fetch_all(&mut *tx)
                .await?;
        sqlx::query(&format!("DELETE FROM library_entries WHERE {UNDER}"))
            .bind(a)
            .bind(n)
            .bind(prefix)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(blobs.into_iter().filter_map(|(b,)| b).collect())
    }

    /// Whether a library row or a job with unfinished tasks uses a blob.
    pub async fn blob_referenced(&self, blob: &str) -> Result<bool, CoreError> {
        let (entries,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM library_entries WHERE blob = ?")
                .bind(blob)
                .fetch_one(&self.pool)
                .await?;
        if entries > 0 {
            return Ok(true);
        }
        let (jobs,): (i64,) = sqlx::query_as(&format!(
            "SELECT COUNT(*) FROM jobs j WHERE j.blob = ? AND {JOB_UNFINISHED}"
        ))
        .bind(blob)
        .fetch_one(&self.pool)
        .await?;
        Ok(jobs > 0)
    }

    /// Every blob a library row or a job with unfinished tasks uses (one query, for the sweep
    /// at start).
    pub async fn referenced_blobs(&self) -> Result<HashSet<String>, CoreError> {
        let rows: Vec<(String,)> = sqlx::query_as(&format!(
            "SELECT blob FROM library_entries WHERE blob IS NOT NULL \
             UNION SELECT j.blob FROM jobs j WHERE {JOB_UNFINISHED}"
        ))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(|(b,)| b).collect())
    }

    /// Files whose analysis has not run: `(path, blob)`.
    pub async fn unanalysed_files(&self) -> Result<Vec<(String, String)>, CoreError> {
        Ok(sqlx::query_as(
            "SELECT path, blob FROM library_entries \
             WHERE is_folder = 0 AND analysis IS NULL AND analysis_error IS NULL",
        )
        .fetch_all(&self.pool)
        .await?)
    }

    /// Stores an analysis (and its thumbnails) or why it failed, for every entry with that blob.
    pub async fn set_analysis(
        &self,
        blob: &str,
        result: Result<&Analysis, &str>,
    ) -> Result<(), CoreError> {
        let mut tx = self.write().await?;
        match result {
            Ok(analysis) => {
                let json = serde_json::to_string(analysis)
                    .map_err(|e| CoreError::Invalid(format!("analysis not serialisable: {e}")))?;
                sqlx::query(
                    "UPDATE library_entries SET analysis = ?, analysis_error = NULL WHERE blob = ?",
                )
                .bind(json)
                .bind(blob)
                .execute(&mut *tx)
                .await?;
                sqlx::query("DELETE FROM library_thumbnails WHERE blob = ?")
                    .bind(blob)
                    .execute(&mut *tx)
                    .await?;
                for (i, t) in analysis.thumbnails.iter().enumerate() {
                    sqlx::query(
                        "INSERT INTO library_thumbnails (blob, idx, width, height, format, data) VALUES (?, ?, ?, ?, ?, ?)",
                    )
                    .bind(blob)
                    .bind(i as i64)
                    .bind(i64::from(t.width))
                    .bind(i64::from(t.height))
                    .bind(&t.format)
                    .bind(&t.data)
                    .execute(&mut *tx)
                    .await?;
                }
            }
            Err(reason) => {
                sqlx::query("UPDATE library_entries SET analysis_error = ? WHERE blob = ?")
                    .bind(reason)
                    .bind(blob)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    /// A thumbnail's format and bytes.
    pub async fn thumbnail(
        &self,
        blob: &str,
        index: u32,
    ) -> Result<Option<(String, Vec<u8>)>, CoreError> {
        Ok(
            sqlx::query_as(
                "SELECT format, data FROM library_thumbnails WHERE blob = ? AND idx = ?",
            )
            .bind(blob)
            .bind(i64::from(index))
            .fetch_optional(&self.pool)
            .await?,
        )
    }

    /// Removes a blob's thumbnails.
    pub async fn delete_thumbnails(&self, blob: &str) -> Result<(), CoreError> {
        sqlx::query("DELETE FROM library_thumbnails WHERE blob = ?")
            .bind(blob)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
