//! Who is calling: a farm API key (`X-Api-Key` or `Authorization: Bearer`), or, for a request
//! without one from a network of `anonymous-networks`, the configured user. Viewers read; every
//! change needs an operator or admin.

use printfarm_sdk::auth::{self, Identity};
use printfarm_sdk::{Error, Request};

use crate::config::Config;

/// The caller of a read: any valid key, or an anonymous request from an allowed network.
pub fn reader(req: &Request) -> Result<Identity, Error> {
    let Some(key) = auth::api_key(req) else {
        let config = Config::get();
        if let Some(role) = config.anonymous_role(req.remote_addr()) {
            return Ok(Identity {
                user: config.anonymous_user,
                role,
            });
        }
        return Err(Error::unauthorized(
            "this API needs a farm API key: send it as `X-Api-Key: <key>` or `Authorization: Bearer <key>` \
             (or let the client's network in with `anonymous-networks` under [plugins.brender.config])",
        ));
    };
    auth::verify_api_key(key)?.ok_or_else(|| Error::unauthorized("the API key is not valid"))
}

/// The caller of a change: an operator or admin.
pub fn operator(req: &Request) -> Result<Identity, Error> {
    let who = reader(req)?;
    if !who.role.can_operate() {
        return Err(Error::forbidden(format!(
            "user {} is a {}: changes need an operator or admin",
            who.user,
            who.role.as_str()
        )));
    }
    Ok(who)
}
