//! Applications' requests for API keys (OctoPrint's app-keys workflow): a plugin files the
//! request, an admin decides through the host API, the application collects its key once.
//!
//! No key is stored while a request waits: it is created when the application collects an
//! approved request, and the request is removed in the same step, so it is handed out once.

use serde::Serialize;

use super::{secret, Identities};
use crate::time::now_ms;
use crate::CoreError;

/// Longest application name accepted.
pub const MAX_APP_LEN: usize = 200;

/// A request waiting for an admin, as the host API lists it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct KeyRequest {
    /// Its id, for the decision.
    pub id: i64,
    /// The application's name as it gave it (`Home Assistant`).
    pub app: String,
    /// The farm user the application asked for, if any.
    pub user: Option<String>,
    /// The address the request came from.
    pub client: String,
    /// The plugin that filed it.
    pub plugin: String,
    /// When it was filed (ms since the epoch).
    pub created_ms: i64,
    /// When it expires.
    pub expires_ms: i64,
}

/// Where a request stands, for the application polling it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyRequestState {
    /// Waiting for a decision.
    Pending,
    /// Approved: the new key (handed out this once).
    Approved(String),
    /// Denied, expired, collected or unknown.
    Gone,
}

impl Identities {
    /// Files a request for `app` and returns the token the application polls with. With
    /// `approve_as` (the plugin's own trusted-network policy) it is approved at once for that user.
    pub async fn request_key(
        &self,
        app: &str,
        user: Option<&str>,
        client: &str,
        plugin: &str,
        ttl_secs: u32,
        approve_as: Option<&str>,
    ) -> Result<String, CoreError> {
        let app = app.trim();
        if app.is_empty() || app.chars().count() > MAX_APP_LEN {
            return Err(CoreError::Invalid(format!(
                "the application name must be 1 to {MAX_APP_LEN} characters"
            )));
        }
        if let Some(u) = approve_as {
            self.require_user(u).await?;
        }
        let token = secret::generate();
        let now = now_ms();
        let ttl = i64::from(ttl_secs.clamp(1, super::MAX_SESSION_SECS)) * 1000;
        self.storage
            .insert_key_request(
                &secret::digest(&token),
                app,
                user,
                client,
                plugin,
                now,
                now + ttl,
                approve_as.map(|u| (u, format!("plugin:{plugin}"))),
            )
            .await?;
        Ok(token)
    }

    /// Where the request of `token` stands; an approved one yields its new key, once.
    pub async fn poll_key(&self, token: &str) -> Result<KeyRequestState, CoreError> {
        if token.is_empty() || token.len() > 256 {
            return Ok(KeyRequestState::Gone);
        }
        let Some((id, app, expires_ms, approved)) = self
            .storage
            .key_request_by_token(&secret::digest(token))
            .await?
        else {
            return Ok(KeyRequestState::Gone);
        };
        if expires_ms <= now_ms() {
            self.storage.delete_key_request(id).await?;
            return Ok(KeyRequestState::Gone);
        }
        if approved.is_none() {
            return Ok(KeyRequestState::Pending);
        }
        // Taken atomically: of two polls at once, one gets the key and the other sees it gone.
        match self.storage.take_approved_key_request(id).await? {
            Some(user) => {
                let key = self
                    .create_api_key(&user, &format!("{app} (application key)"))
                    .await?;
                Ok(KeyRequestState::Approved(key))
            }
            None => Ok(KeyRequestState::Gone),
        }
    }

    /// Requests waiting for a decision, oldest first (expired ones are dropped).
    pub async fn key_requests(&self) -> Result<Vec<KeyRequest>, CoreError> {
        self.storage.pending_key_requests(now_ms()).await
    }

    /// An admin's decision. Approval is for `user`, else the user the application asked for,
    /// else the deciding admin.
    pub async fn decide_key_request(
        &self,
        id: i64,
        approve: bool,
        user: Option<&str>,
        decider: &str,
    ) -> Result<(), CoreError> {
        let pending = self.key_requests().await?;
        let Some(request) = pending.iter().find(|r| r.id == id) else {
            return Err(CoreError::NotFound(format!(
                "no key request {id} waits for a decision (decided, collected or expired)"
            )));
        };
        if !approve {
            self.storage.delete_key_request(id).await?;
            return Ok(());
        }
        let user = user.or(request.user.as_deref()).unwrap_or(decider);
        self.require_user(user).await?;
        if !self.storage.approve_key_request(id, user, decider).await? {
            return Err(CoreError::Conflict(format!(
                "key request {id} was decided meanwhile"
            )));
        }
        Ok(())
    }

    async fn require_user(&self, user: &str) -> Result<(), CoreError> {
        match self.storage.user_password(user).await? {
            Some(_) => Ok(()),
            None => Err(CoreError::Invalid(format!("no farm user `{user}`"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::Role;
    use crate::storage::Storage;

    #[tokio::test]
    async fn requests_wait_are_decided_and_hand_out_one_working_key() {
        let dir = tempfile::tempdir().unwrap();
        let ids = Identities::new(
            Storage::open_sqlite(&dir.path().join("t.db"))
                .await
                .unwrap(),
        );
        ids.ensure_first_admin().await.unwrap();
        ids.add_user("ann", Role::Operator, None).await.unwrap();

        let token = ids
            .request_key(
                "Home Assistant",
                Some("ann"),
                "10.0.0.5:4000",
                "octoprint",
                60,
                None,
            )
            .await
            .unwrap();
        assert_eq!(
            ids.poll_key(&token).await.unwrap(),
            KeyRequestState::Pending
        );
        let pending = ids.key_requests().await.unwrap();
        assert_eq!(
            (pending.len(), pending[0].user.as_deref()),
            (1, Some("ann"))
        );
        ids.decide_key_request(pending[0].id, true, None, "admin")
            .await
            .unwrap();
        let KeyRequestState::Approved(key) = ids.poll_key(&token).await.unwrap() else {
            panic!("approved request yields a key")
        };
        assert_eq!(ids.verify_api_key(&key).await.unwrap().unwrap().user, "ann");
        assert_eq!(
            ids.poll_key(&token).await.unwrap(),
            KeyRequestState::Gone,
            "handed out once"
        );

        let denied = ids
            .request_key("Cura", None, "c", "octoprint", 60, None)
            .await
            .unwrap();
        let id = ids.key_requests().await.unwrap()[0].id;
        ids.decide_key_request(id, false, None, "admin")
            .await
            .unwrap();
        assert_eq!(ids.poll_key(&denied).await.unwrap(), KeyRequestState::Gone);
        assert!(matches!(
            ids.decide_key_request(id, true, None, "admin").await,
            Err(CoreError::NotFound(_))
        ));

        let auto = ids
            .request_key("HA", None, "c", "octoprint", 60, Some("ann"))
            .await
            .unwrap();
        assert!(matches!(
            ids.poll_key(&auto).await.unwrap(),
            KeyRequestState::Approved(_)
        ));
        assert!(ids
            .request_key("HA", None, "c", "octoprint", 60, Some("nobody"))
            .await
            .is_err());
        let expired = ids
            .request_key("X", None, "c", "octoprint", 1, None)
            .await
            .unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
        assert_eq!(ids.poll_key(&expired).await.unwrap(), KeyRequestState::Gone);
        assert!(ids.key_requests().await.unwrap().is_empty());
    }
}
