//! `printfarm:plugin/auth`: needs `auth`; `create-api-key` needs `auth.issue-keys`.
//!
//! Farm identities are not part of this build: calls check their capability, then answer `unavailable`.

use super::super::bindings::printfarm::plugin::auth::{self, Identity};
use super::super::bindings::HostError;
use super::super::state::CallState;
use crate::plugin::Capability;

impl CallState {
    fn identity_call<T>(&self, cap: Capability) -> Result<T, HostError> {
        self.core_unavailable(cap, "farm users and API keys are")
    }
}

impl auth::Host for CallState {
    async fn verify_api_key(&mut self, _key: String) -> Result<Option<Identity>, HostError> {
        self.identity_call(Capability::Auth)
    }
    async fn verify_password(
        &mut self,
        _user: String,
        _password: String,
    ) -> Result<Option<Identity>, HostError> {
        self.identity_call(Capability::Auth)
    }
    async fn create_session(&mut self, _user: String, _ttl_secs: u32) -> Result<String, HostError> {
        self.identity_call(Capability::Auth)
    }
    async fn check_session(&mut self, _token: String) -> Result<Option<Identity>, HostError> {
        self.identity_call(Capability::Auth)
    }
    async fn end_session(&mut self, _token: String) -> Result<(), HostError> {
        self.identity_call(Capability::Auth)
    }
    async fn create_api_key(&mut self, _user: String, _label: String) -> Result<String, HostError> {
        self.identity_call(Capability::AuthIssueKeys)
    }
}
