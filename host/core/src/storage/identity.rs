//! Users, API keys and sessions.

use super::Storage;
use crate::identity::key_request::KeyRequest;
use crate::identity::{Identity, Role, User};
use crate::CoreError;

fn identity(name: String, role: String) -> Result<Identity, CoreError> {
    Ok(Identity {
        user: name,
        role: role.parse()?,
    })
}

/// Whether a query failed on a unique constraint (a duplicate name or hash).
pub(crate) fn is_unique_violation(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .is_some_and(|d| d.is_unique_violation())
}

impl Storage {
    /// Inserts a user and their first API key in one transaction.
    pub async fn insert_user(
        &self,
        name: &str,
        role: Role,
        password_hash: Option<&str>,
        key_hash: &str,
        created_ms: i64,
    ) -> Result<(), CoreError> {
        let mut tx = self.write().await?;
        let inserted = sqlx::query(
            "INSERT INTO users (name, role, password_hash, created_ms) VALUES (?, ?, ?, ?)",
        )
        .bind(name)
        .bind(role.as_str())
        .bind(password_hash)
        .bind(created_ms)
        .execute(&mut *tx)
        .await;
        match inserted {
            Err(e) if is_unique_violation(&e) => {
                return Err(CoreError::Conflict(format!("the user `{name}` exists")))
            }
            other => other?,
        };
        sqlx::query(
            "INSERT INTO api_keys (user_name, label, key_hash, created_ms) VALUES (?, 'first key', ?, ?)",
        )
        .bind(name)
        .bind(key_hash)
        .bind(created_ms)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// How many users exist.
    pub async fn count_users(&self) -> Result<i64, CoreError> {
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM users")
            .fetch_one(&self.pool)
            .await?;
        Ok(n)
    }

    /// Every user, by name.
    pub async fn list_users(&self) -> Result<Vec<User>, CoreError> {
        let rows: Vec<(String, String, Option<String>, i64, i64)> = sqlx::query_as(
            "SELECT u.name, u.role, u.password_hash, u.created_ms, \
             (SELECT COUNT(*) FROM api_keys k WHERE k.user_name = u.name) \
             FROM users u ORDER BY u.name",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|(name, role, password, created_ms, api_keys)| {
                Ok(User {
                    name,
                    role: role.parse()?,
                    has_password: password.is_some(),
                    api_keys,
                    created_ms,
                })
            })
            .collect()
    }

    /// Deletes a user; their keys and sessions go with them.
    pub async fn delete_user(&self, name: &str) -> Result<(), CoreError> {
        let mut tx = self.write().await?;
        for table in ["api_keys", "sessions"] {
            sqlx::query(&format!("DELETE FROM {table} WHERE user_name = ?"))
                .bind(name)
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query("DELETE FROM users WHERE name = ?")
            .bind(name)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The user owning an API key hash.
    pub async fn identity_by_key(&self, key_hash: &str) -> Result<Option<Identity>, CoreError> {
        let row: Option<(String, String)> = sqlx::query_as(
            "SELECT u.name, u.role FROM api_keys k JOIN users u ON u.name = k.user_name \
             WHERE k.key_hash = ?",
        )
        .bind(key_hash)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|(n, r)| identity(n, r)).transpose()
    }

    /// A user's identity and password hash.
    pub async fn user_password(
        &self,
        name: &str,
    ) -> Result<Option<(Identity, Option<String>)>, CoreError> {
        let row: Option<(String, String, Option<String>)> =
            sqlx::query_as("SELECT name, role, password_hash FROM users WHERE name = ?")
                .bind(name)
                .fetch_optional(&self.pool)
                .await?;
        row.map(|(n, r, p)| Ok((identity(n, r)?, p))).transpose()
    }

    /// Adds an API key; false when the user does not exist.
    pub async fn insert_api_key(
        &self,
        user: &str,
        label: &str,
        key_hash: &str,
        created_ms: i64,
    ) -> Result<bool, CoreError> {
        let done = sqlx::query(
            "INSERT INTO api_keys (user_name, label, key_hash, created_ms) \
             SELECT name, ?, ?, ? FROM users WHERE name = ?",
        )
        .bind(label)
        .bind(key_hash)
        .bind(created_ms)
        .bind(user)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Stores a session.
    pub async fn insert_session(
        &self,
        token_hash: &str,
        user: &str,
        created_ms: i64,
        expires_ms: i64,
    ) -> Result<(), CoreError> {
        // Expired sessions are swept whenever a new one starts, so the table stays small.
        sqlx::query("DELETE FROM sessions WHERE expires_ms < ?")
            .bind(created_ms)
            .execute(&self.pool)
            .await?;
        sqlx::query(
            "INSERT INTO sessions (token_hash, user_name, created_ms, expires_ms) VALUES (?, ?, ?, ?)",
        )
        .bind(token_hash)
        .bind(user)
        .bind(created_ms)
        .bind(expires_ms)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The user of a session that has not expired at `now_ms`.
    pub async fn identity_by_session(
        &self,
        token_hash: &str,
        now_ms: i64,
    ) -> Result<Option<Identity>, CoreError> {
        let row: Option<(String, String)> = sqlx::query_as(
            "SELECT u.name, u.role FROM sessions s JOIN users u ON u.name = s.user_name \
             WHERE s.token_hash = ? AND s.expires_ms > ?",
        )
        .bind(token_hash)
        .bind(now_ms)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|(n, r)| identity(n, r)).transpose()
    }

    /// A user's API keys: `(id, label, created)`, oldest first (never the key or its hash).
    pub async fn api_keys(&self, user: &str) -> Result<Vec<(i64, String, i64)>, CoreError> {
        Ok(sqlx::query_as(
            "SELECT id, label, created_ms FROM api_keys WHERE user_name = ? ORDER BY id",
        )
        .bind(user)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Deletes a user's API key by id; whether there was one.
    pub async fn delete_api_key(&self, user: &str, id: i64) -> Result<bool, CoreError> {
        let done = sqlx::query("DELETE FROM api_keys WHERE user_name = ? AND id = ?")
            .bind(user)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Live sessions at `now_ms` (of one user, or everyone's), newest first: `(token hash, user,
    /// created, expires)`.
    pub async fn sessions(
        &self,
        user: Option<&str>,
        now_ms: i64,
    ) -> Result<Vec<(String, String, i64, i64)>, CoreError> {
        Ok(sqlx::query_as(
            "SELECT token_hash, user_name, created_ms, expires_ms FROM sessions \
             WHERE expires_ms > ? AND (? IS NULL OR user_name = ?) ORDER BY created_ms DESC",
        )
        .bind(now_ms)
        .bind(user)
        .bind(user)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Removes a session.
    pub async fn delete_session(&self, token_hash: &str) -> Result<(), CoreError> {
        sqlx::query("DELETE FROM sessions WHERE token_hash = ?")
            .bind(token_hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Files a key request; `approved` = `(user, decided by)` approves it at once.
    #[allow(clippy::too_many_arguments)]
    pub async fn insert_key_request(
        &self,
        token_hash: &str,
        app: &str,
        user: Option<&str>,
        client: &str,
        plugin: &str,
        created_ms: i64,
        expires_ms: i64,
        approved: Option<(&str, String)>,
    ) -> Result<(), CoreError> {
        let (approved_user, decided_by) = match &approved {
            Some((u, by)) => (Some(*u), Some(by.as_str())),
            None => (None, None),
        };
        sqlx::query(
            "INSERT INTO key_requests (token_hash, app, user_name, client, plugin, created_ms, expires_ms, approved_user, decided_by) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(token_hash)
        .bind(app)
        .bind(user)
        .bind(client)
        .bind(plugin)
        .bind(created_ms)
        .bind(expires_ms)
        .bind(approved_user)
        .bind(decided_by)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// A key request by token hash: `(id, app, expires, approved user)`.
    pub async fn key_request_by_token(
        &self,
        token_hash: &str,
    ) -> Result<Option<(i64, String, i64, Option<String>)>, CoreError> {
        Ok(sqlx::query_as(
            "SELECT id, app, expires_ms, approved_user FROM key_requests WHERE token_hash = ?",
        )
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Removes an approved request and returns the user it was approved for; `None` if another
    /// poll took it first.
    pub async fn take_approved_key_request(&self, id: i64) -> Result<Option<String>, CoreError> {
        let row: Option<(String,)> = sqlx::query_as(
            "DELETE FROM key_requests WHERE id = ? AND approved_user IS NOT NULL RETURNING approved_user",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|(u,)| u))
    }

    /// Removes a request (denied or expired).
    pub async fn delete_key_request(&self, id: i64) -> Result<(), CoreError> {
        sqlx::query("DELETE FROM key_requests WHERE id = ?")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Undecided requests that have not expired, oldest first; expired ones are removed.
    pub async fn pending_key_requests(&self, now: i64) -> Result<Vec<KeyRequest>, CoreError> {
        sqlx::query("DELETE FROM key_requests WHERE expires_ms <= ?")
            .bind(now)
            .execute(&self.pool)
            .await?;
        type Row = (i64, String, Option<String>, String, String, i64, i64);
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT id, app, user_name, client, plugin, created_ms, expires_ms FROM key_requests \
             WHERE approved_user IS NULL ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(
                |(id, app, user, client, plugin, created_ms, expires_ms)| KeyRequest {
                    id,
                    app,
                    user,
                    client,
                    plugin,
                    created_ms,
                    expires_ms,
                },
            )
            .collect())
    }

    /// Approves an undecided request; false if it was decided meanwhile.
    pub async fn approve_key_request(
        &self,
        id: i64,
        user: &str,
        decider: &str,
    ) -> Result<bool, CoreError> {
        let done = sqlx::query(
            "UPDATE key_requests SET approved_user = ?, decided_by = ? WHERE id = ? AND approved_user IS NULL",
        )
        .bind(user)
        .bind(decider)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }
}
