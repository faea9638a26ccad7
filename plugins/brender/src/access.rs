//! Who is calling: a farm API key (`X-Api-Key` or `Authorization: Bearer`). Viewers read; every
//! change needs an operator or admin.

use printfarm_sdk::auth::{self, Identity};
use printfarm_sdk::{Error, Request};

/// The caller of a read: any valid key.
pub fn reader(req: &Request) -> Result<Identity, Error> {
    let key = auth::api_key(req).ok_or_else(|| {
        Error::unauthorized(
            "this API needs a farm API key: send it as `X-Api-Key: <key>` or `Authorization: Bearer <key>`",
        )
    })?;
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
