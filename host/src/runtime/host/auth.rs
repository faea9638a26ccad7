//! `printfarm:plugin/auth`: needs `auth`; `create-api-key` needs `auth.issue-keys`.
//!
//! The farm's identities: an OctoPrint key, a Pod Manager session and a host API key all resolve
//! to the same user.

use super::super::bindings::printfarm::plugin::auth::{self, Identity, KeyRequestState, Role};
use super::super::bindings::HostError;
use super::super::context::cap;
use super::super::state::CallState;
use super::core_error;
use printfarm_core::identity as core_identity;
use printfarm_core::identity::key_request::KeyRequestState as CoreState;

fn identity(i: core_identity::Identity) -> Identity {
    Identity {
        user: i.user,
        role: match i.role {
            core_identity::Role::Admin => Role::Admin,
            core_identity::Role::Operator => Role::Operator,
            core_identity::Role::Viewer => Role::Viewer,
        },
    }
}

impl auth::Host for CallState {
    async fn verify_api_key(&mut self, key: String) -> Result<Option<Identity>, HostError> {
        let ids = self.plugin.grant::<cap::Auth>()?.identities();
        Ok(ids
            .verify_api_key(&key)
            .await
            .map_err(core_error)?
            .map(identity))
    }
    async fn verify_password(
        &mut self,
        user: String,
        password: String,
    ) -> Result<Option<Identity>, HostError> {
        let ids = self.plugin.grant::<cap::Auth>()?.identities();
        Ok(ids
            .verify_password(&user, &password)
            .await
            .map_err(core_error)?
            .map(identity))
    }
    async fn create_session(&mut self, user: String, ttl_secs: u32) -> Result<String, HostError> {
        let ids = self.plugin.grant::<cap::Auth>()?.identities();
        ids.create_session(&user, ttl_secs)
            .await
            .map_err(core_error)
    }
    async fn check_session(&mut self, token: String) -> Result<Option<Identity>, HostError> {
        let ids = self.plugin.grant::<cap::Auth>()?.identities();
        Ok(ids
            .check_session(&token)
            .await
            .map_err(core_error)?
            .map(identity))
    }
    async fn end_session(&mut self, token: String) -> Result<(), HostError> {
        let ids = self.plugin.grant::<cap::Auth>()?.identities();
        ids.end_session(&token).await.map_err(core_error)
    }
    async fn create_api_key(&mut self, user: String, label: String) -> Result<String, HostError> {
        let ids = self.plugin.grant::<cap::AuthIssueKeys>()?.identities();
        ids.create_api_key(&user, &label).await.map_err(core_error)
    }
    async fn request_api_key(
        &mut self,
        app: String,
        user: Option<String>,
        client: String,
        ttl_secs: u32,
        approve_as: Option<String>,
    ) -> Result<String, HostError> {
        let ids = self.plugin.grant::<cap::AuthIssueKeys>()?.identities();
        let token = ids
            .request_key(
                &app,
                user.as_deref(),
                &client,
                &self.plugin.id,
                ttl_secs,
                approve_as.as_deref(),
            )
            .await
            .map_err(core_error)?;
        // The admin's page lists pending requests; it learns of a new one from the stream.
        self.plugin.stream().publish(
            "key-request",
            &serde_json::json!({"app": app, "user": user, "plugin": self.plugin.id, "state": "pending"}),
        );
        Ok(token)
    }
    async fn poll_api_key_request(&mut self, token: String) -> Result<KeyRequestState, HostError> {
        let ids = self.plugin.grant::<cap::AuthIssueKeys>()?.identities();
        Ok(match ids.poll_key(&token).await.map_err(core_error)? {
            CoreState::Pending => KeyRequestState::Pending,
            CoreState::Approved(key) => KeyRequestState::Approved(key),
            CoreState::Gone => KeyRequestState::Gone,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{assert_denied, Harness};
    use super::*;

    #[tokio::test]
    async fn verifying_and_issuing_keys_are_separate_capabilities() {
        let harness = Harness::new().await;
        let mut verifier = harness.granted(&["auth"]);
        assert!(
            auth::Host::verify_api_key(&mut verifier, "not-a-key".into())
                .await
                .unwrap()
                .is_none()
        );
        assert_denied(
            auth::Host::create_api_key(&mut verifier, "admin".into(), "x".into()).await,
            "auth.issue-keys",
        );
        let mut none = harness.granted(&[]);
        assert_denied(
            auth::Host::verify_api_key(&mut none, "k".into()).await,
            "auth",
        );
        assert_denied(
            auth::Host::check_session(&mut none, "t".into()).await,
            "auth",
        );
    }

    #[tokio::test]
    async fn a_key_issued_for_a_user_verifies_as_that_user() {
        let harness = Harness::new().await;
        harness
            .services
            .identities
            .ensure_first_admin()
            .await
            .unwrap();
        let mut call = harness.granted(&["auth", "auth.issue-keys"]);
        let key = auth::Host::create_api_key(&mut call, "admin".into(), "test".into())
            .await
            .unwrap();
        let identity = auth::Host::verify_api_key(&mut call, key)
            .await
            .unwrap()
            .expect("the new key verifies");
        assert_eq!(identity.user, "admin");
        match auth::Host::create_api_key(&mut call, "nobody".into(), "x".into()).await {
            Err(HostError::NotFound(message)) | Err(HostError::Invalid(message)) => {
                assert!(message.contains("nobody"), "{message}")
            }
            other => panic!("{other:?}"),
        }
    }
}
