//! Farm identities: users with roles, argon2 passwords, API keys and browser sessions.
//!
//! One user has one identity on every surface: the host API, an OctoPrint client's API key and a
//! Pod Manager session all resolve to the same [`Identity`].

pub mod key_request;
pub mod password;
pub mod secret;

use serde::{Deserialize, Serialize};

use crate::storage::Storage;
use crate::time::now_ms;
use crate::CoreError;

/// What a user may do.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Read only.
    Viewer,
    /// Printers, files and jobs.
    Operator,
    /// Everything, including users.
    Admin,
}

impl Role {
    /// The role's name as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Operator => "operator",
            Role::Viewer => "viewer",
        }
    }

    /// Whether the role may change printers, files and jobs.
    pub fn can_operate(self) -> bool {
        self >= Role::Operator
    }
}

impl std::str::FromStr for Role {
    type Err = CoreError;
    fn from_str(s: &str) -> Result<Role, CoreError> {
        match s {
            "admin" => Ok(Role::Admin),
            "operator" => Ok(Role::Operator),
            "viewer" => Ok(Role::Viewer),
            other => Err(CoreError::Invalid(format!(
                "unknown role `{other}`: use admin, operator or viewer"
            ))),
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An authenticated user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Identity {
    /// The user name.
    pub user: String,
    /// The user's role.
    pub role: Role,
}

/// A user as listed.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct User {
    /// The user name.
    pub name: String,
    /// The role.
    pub role: Role,
    /// Whether the user can log in with a password.
    pub has_password: bool,
    /// Number of API keys.
    pub api_keys: i64,
    /// When the user was created (ms since the epoch).
    pub created_ms: i64,
}

/// The name the first-start admin gets.
pub const FIRST_ADMIN: &str = "admin";
/// Longest user name.
pub const MAX_NAME_LEN: usize = 64;
/// Longest session a plugin may open: 30 days.
pub const MAX_SESSION_SECS: u32 = 30 * 24 * 3600;

/// The first admin's credentials, made on a database without users and shown once.
#[derive(Debug, Clone)]
pub struct FirstAdmin {
    /// Its API key.
    pub api_key: String,
    /// Its dashboard password.
    pub password: String,
}

/// An API key as listed: never the key itself (only its hash is kept).
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct ApiKeyInfo {
    /// Names it for revoking.
    pub id: i64,
    /// What it is for.
    pub label: String,
    /// When it was issued (Unix ms).
    pub created_ms: i64,
}

/// A browser session, without its token.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct Session {
    /// Names it for listing and revoking (not the token: knowing it lets nobody in).
    pub id: String,
    /// Whose it is.
    pub user: String,
    /// When it was opened (Unix ms).
    pub created_ms: i64,
    /// When it expires (Unix ms).
    pub expires_ms: i64,
}

/// A session's public id: the start of its token's digest.
fn session_id(token_hash: &str) -> String {
    token_hash.chars().take(16).collect()
}

/// Checks a user name: 1 to 64 letters, digits, `.`, `_`, `-` or `@`.
pub fn validate_user_name(name: &str) -> Result<(), CoreError> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'));
    if ok {
        Ok(())
    } else {
        Err(CoreError::Invalid(format!(
            "bad user name `{name}`: use 1 to {MAX_NAME_LEN} letters, digits, `.`, `_`, `-` or `@`"
        )))
    }
}

/// The identity service. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Identities {
    storage: Storage,
}

impl Identities {
    /// The service over a database.
    pub fn new(storage: Storage) -> Identities {
        Identities { storage }
    }

    /// Creates a user with a first API key, which is returned (it is shown once: only its hash is kept).
    pub async fn add_user(
        &self,
        name: &str,
        role: Role,
        password: Option<&str>,
    ) -> Result<(User, String), CoreError> {
        validate_user_name(name)?;
        let password_hash = match password {
            Some(p) => {
                let p = p.to_string();
                Some(
                    tokio::task::spawn_blocking(move || password::hash(&p))
                        .await
                        .map_err(|e| CoreError::Invalid(format!("hashing failed: {e}")))??,
                )
            }
            None => None,
        };
        let key = secret::generate();
        let created_ms = now_ms();
        self.storage
            .insert_user(
                name,
                role,
                password_hash.as_deref(),
                &secret::digest(&key),
                created_ms,
            )
            .await?;
        let user = User {
            name: name.to_string(),
            role,
            has_password: password_hash.is_some(),
            api_keys: 1,
            created_ms,
        };
        Ok((user, key))
    }

    /// On a database without users, creates the admin [`FIRST_ADMIN`] with an API key and a
    /// password for the dashboard, and returns both (they are shown this once).
    pub async fn ensure_first_admin(&self) -> Result<Option<FirstAdmin>, CoreError> {
        if self.storage.count_users().await? > 0 {
            return Ok(None);
        }
        // 16 letters and digits (about 95 bits): short enough to type from a terminal.
        let password: String = secret::generate().chars().take(16).collect();
        let (_, api_key) = self
            .add_user(FIRST_ADMIN, Role::Admin, Some(&password))
            .await?;
        Ok(Some(FirstAdmin { api_key, password }))
    }

    /// Every user, by name.
    pub async fn users(&self) -> Result<Vec<User>, CoreError> {
        self.storage.list_users().await
    }

    /// Deletes a user with their keys and sessions. The last admin cannot be deleted.
    pub async fn delete_user(&self, name: &str) -> Result<(), CoreError> {
        let users = self.users().await?;
        let user = users
            .iter()
            .find(|u| u.name == name)
            .ok_or_else(|| CoreError::NotFound(format!("no user `{name}`")))?;
        if user.role == Role::Admin && users.iter().filter(|u| u.role == Role::Admin).count() == 1 {
            return Err(CoreError::Conflict(format!(
                "`{name}` is the last admin; create another admin first"
            )));
        }
        self.storage.delete_user(name).await?;
        Ok(())
    }

    /// The user an API key belongs to.
    pub async fn verify_api_key(&self, key: &str) -> Result<Option<Identity>, CoreError> {
        if key.is_empty() || key.len() > 256 {
            return Ok(None);
        }
        self.storage.identity_by_key(&secret::digest(key)).await
    }

    /// The user, when `password` is theirs.
    pub async fn verify_password(
        &self,
        user: &str,
        password: &str,
    ) -> Result<Option<Identity>, CoreError> {
        let Some((identity, Some(stored))) = self.storage.user_password(user).await? else {
            return Ok(None);
        };
        let password = password.to_string();
        let matches = tokio::task::spawn_blocking(move || password::verify(&password, &stored))
            .await
            .unwrap_or(false);
        Ok(matches.then_some(identity))
    }

    /// Opens a session of `ttl_secs` (at most [`MAX_SESSION_SECS`]) and returns its token.
    pub async fn create_session(&self, user: &str, ttl_secs: u32) -> Result<String, CoreError> {
        if self.storage.user_password(user).await?.is_none() {
            return Err(CoreError::NotFound(format!("no user `{user}`")));
        }
        let token = secret::generate();
        let now = now_ms();
        let ttl = i64::from(ttl_secs.clamp(1, MAX_SESSION_SECS)) * 1000;
        self.storage
            .insert_session(&secret::digest(&token), user, now, now + ttl)
            .await?;
        Ok(token)
    }

    /// The user behind a live session token.
    pub async fn check_session(&self, token: &str) -> Result<Option<Identity>, CoreError> {
        if token.is_empty() || token.len() > 256 {
            return Ok(None);
        }
        self.storage
            .identity_by_session(&secret::digest(token), now_ms())
            .await
    }

    /// Ends a session (unknown tokens are ignored).
    pub async fn end_session(&self, token: &str) -> Result<(), CoreError> {
        self.storage.delete_session(&secret::digest(token)).await
    }

    /// A user's API keys, without the keys themselves.
    pub async fn api_keys(&self, user: &str) -> Result<Vec<ApiKeyInfo>, CoreError> {
        // One user's row, not the whole user list.
        if self.storage.user_password(user).await?.is_none() {
            return Err(CoreError::NotFound(format!("no user `{user}`")));
        }
        Ok(self
            .storage
            .api_keys(user)
            .await?
            .into_iter()
            .map(|(id, label, created_ms)| ApiKeyInfo {
                id,
                label,
                created_ms,
            })
            .collect())
    }

    /// Revokes one of a user's API keys: it stops working at once.
    pub async fn revoke_api_key(&self, user: &str, id: i64) -> Result<(), CoreError> {
        if self.storage.delete_api_key(user, id).await? {
            Ok(())
        } else {
            Err(CoreError::NotFound(format!(
                "user `{user}` has no key {id}"
            )))
        }
    }

    /// The live sessions of `user` (or of everyone), newest first.
    pub async fn sessions(&self, user: Option<&str>) -> Result<Vec<Session>, CoreError> {
        Ok(self
            .storage
            .sessions(user, now_ms())
            .await?
            .into_iter()
            .map(|(hash, user, created_ms, expires_ms)| Session {
                id: session_id(&hash),
                user,
                created_ms,
                expires_ms,
            })
            .collect())
    }

    /// Ends the session with this [`Session::id`], if it is `user`'s (or anyone's, for `None`).
    /// Returns whether there was one.
    pub async fn revoke_session(&self, id: &str, user: Option<&str>) -> Result<bool, CoreError> {
        for (hash, _, _, _) in self.storage.sessions(user, now_ms()).await? {
            if session_id(&hash) == id {
                self.storage.delete_session(&hash).await?;
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// The [`Session::id`] of a session token.
    pub fn session_id_of(token: &str) -> String {
        session_id(&secret::digest(token))
    }

    /// The CSRF token of a session: a digest of its token, so the server stores nothing more and
    /// a page that knows it proves it was given it by the server, which another site cannot read.
    pub fn csrf_token(session_token: &str) -> String {
        secret::digest(&format!("csrf:{session_token}"))
    }

    /// Issues another API key for a user and returns it (shown once).
    pub async fn create_api_key(&self, user: &str, label: &str) -> Result<String, CoreError> {
        if label.len() > 200 {
            return Err(CoreError::Invalid(
                "the key label is longer than 200 bytes".into(),
            ));
        }
        let key = secret::generate();
        if !self
            .storage
            .insert_api_key(user, label, &secret::digest(&key), now_ms())
            .await?
        {
            return Err(CoreError::NotFound(format!("no user `{user}`")));
        }
        Ok(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn identities() -> (tempfile::TempDir, Identities) {
        let dir = tempfile::tempdir().unwrap();
        let storage = Storage::open_sqlite(&dir.path().join("t.db"))
            .await
            .unwrap();
        (dir, Identities::new(storage))
    }

    #[tokio::test]
    async fn keys_passwords_and_sessions_resolve_to_one_identity() {
        let (_dir, ids) = identities().await;
        let first = ids.ensure_first_admin().await.unwrap().unwrap();
        assert!(ids.ensure_first_admin().await.unwrap().is_none());
        let admin = ids.verify_api_key(&first.api_key).await.unwrap().unwrap();
        assert_eq!((admin.user.as_str(), admin.role), ("admin", Role::Admin));
        let by_password = ids
            .verify_password("admin", &first.password)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(by_password.user, "admin");

        let (user, key) = ids
            .add_user("ann", Role::Viewer, Some("long enough"))
            .await
            .unwrap();
        assert!(user.has_password);
        assert_eq!(key.len(), secret::SECRET_LEN);
        let by_key = ids.verify_api_key(&key).await.unwrap().unwrap();
        let by_password = ids
            .verify_password("ann", "long enough")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(by_key, by_password);
        assert!(ids
            .verify_password("ann", "wrong one!")
            .await
            .unwrap()
            .is_none());
        assert!(ids
            .verify_password("nobody", "long enough")
            .await
            .unwrap()
            .is_none());
        assert!(ids.verify_api_key("bogus").await.unwrap().is_none());

        let token = ids.create_session("ann", 60).await.unwrap();
        assert_eq!(
            ids.check_session(&token).await.unwrap(),
            Some(by_key.clone())
        );
        ids.end_session(&token).await.unwrap();
        assert!(ids.check_session(&token).await.unwrap().is_none());

        let second = ids.create_api_key("ann", "slicer").await.unwrap();
        assert_eq!(ids.verify_api_key(&second).await.unwrap(), Some(by_key));
        assert!(matches!(
            ids.create_api_key("nobody", "x").await,
            Err(CoreError::NotFound(_))
        ));
    }

    #[tokio::test]
    async fn bad_names_duplicates_and_the_last_admin_are_refused() {
        let (_dir, ids) = identities().await;
        ids.ensure_first_admin().await.unwrap();
        for bad in ["", "a/b", "with space", &"x".repeat(65)] {
            assert!(matches!(
                ids.add_user(bad, Role::Viewer, None).await,
                Err(CoreError::Invalid(_))
            ));
        }
        assert!(matches!(
            ids.add_user("admin", Role::Viewer, None).await,
            Err(CoreError::Conflict(_))
        ));
        assert!(matches!(
            ids.delete_user("admin").await,
            Err(CoreError::Conflict(_))
        ));
        let (_, key) = ids.add_user("bob", Role::Operator, None).await.unwrap();
        ids.delete_user("bob").await.unwrap();
        assert!(ids.verify_api_key(&key).await.unwrap().is_none());
    }
}
