//! OctoPrint's CSRF protection, as its clients meet it: a change (`POST`, `PUT`, `PATCH`,
//! `DELETE`) made without a valid API key must carry the double-submit token — the
//! `csrf_token` cookie the web pages set, echoed in `X-CSRF-Token` — or it is refused with
//! 400 "CSRF validation failed" before anything else is looked at. A valid key is never asked
//! for it (scripts and apps); a browser page that logged in with a password is.
//!
//! OctoPrint names its cookies per instance: `csrf_token_P<port>`, and with a script root
//! (here: the printer's mount) `_R<root with / as |>`, so that several instances on one host
//! do not overwrite each other's cookies.

use printfarm_sdk::{Error, Request, Response};
use rand::Rng;

/// The message OctoPrint answers with.
pub const FAILED: &str = "CSRF validation failed";

/// Whether the method changes anything (the others are never checked).
pub fn is_change(req: &Request) -> bool {
    !matches!(req.method(), "GET" | "HEAD" | "OPTIONS")
}

/// The cookie's name for this instance (`csrf_token_P5000`, `csrf_token_P8080_R|octoprint|v1`).
pub fn cookie_name(req: &Request) -> String {
    let port = req
        .base_url()
        .rsplit_once(':')
        .map(|(_, port)| port)
        .filter(|p| p.chars().all(|c| c.is_ascii_digit()))
        .unwrap_or(if req.base_url().starts_with("https:") {
            "443"
        } else {
            "80"
        })
        .to_string();
    let root = req.mount().trim_end_matches('/');
    if root.is_empty() {
        format!("csrf_token_P{port}")
    } else {
        format!("csrf_token_P{port}_R{}", root.replace('/', "|"))
    }
}

/// The request's token pair checks out: the cookie is there and the header repeats it.
pub fn is_valid(req: &Request) -> bool {
    let name = cookie_name(req);
    let cookie = req.header("cookie").and_then(|cookies| {
        cookies
            .split(';')
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.trim().to_string())
    });
    match (cookie, req.header("x-csrf-token")) {
        (Some(cookie), Some(header)) => !cookie.is_empty() && cookie == header.trim(),
        _ => false,
    }
}

/// Refuses a change without a key (`has_key` false) that lacks the token pair.
pub fn check(req: &Request, has_key: bool) -> Result<(), Error> {
    if is_change(req) && !has_key && !is_valid(req) {
        return Err(Error::bad_request(FAILED));
    }
    Ok(())
}

/// `response` with a fresh token cookie, as OctoPrint's pages set it (readable by scripts, so
/// they can echo it).
pub fn with_cookie(req: &Request, response: Response) -> Response {
    let token: String = {
        let mut rng = rand::rng();
        (0..40)
            .map(|_| char::from_digit(rng.random_range(0..16), 16).unwrap_or('0'))
            .collect()
    };
    let path = format!("{}/", req.mount().trim_end_matches('/'));
    response.with_header(
        "set-cookie",
        &format!("{}={token}; Path={path}; SameSite=Lax", cookie_name(req)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(method: &str, mount: &str, headers: &[(&str, &str)]) -> Request {
        let mut builder = Request::builder(method, "/api/job")
            .mount(mount)
            .base_url("http://127.0.0.1:8080");
        for (k, v) in headers {
            builder = builder.header(k, v);
        }
        builder.build()
    }

    #[test]
    fn cookies_are_named_per_port_and_mount() {
        assert_eq!(cookie_name(&request("GET", "", &[])), "csrf_token_P8080");
        assert_eq!(
            cookie_name(&request("GET", "/octoprint/v1", &[])),
            "csrf_token_P8080_R|octoprint|v1"
        );
    }

    #[test]
    fn changes_without_a_key_need_the_echoed_token() {
        let cookie = "a=1; csrf_token_P8080=abc";
        assert!(check(&request("GET", "", &[]), false).is_ok());
        assert!(check(&request("POST", "", &[]), true).is_ok());
        let refused = check(&request("POST", "", &[("cookie", cookie)]), false).unwrap_err();
        assert_eq!((refused.status, refused.message.as_str()), (400, FAILED));
        let forged = [("cookie", cookie), ("x-csrf-token", "abd")];
        assert!(check(&request("POST", "", &forged), false).is_err());
        let echoed = [("cookie", cookie), ("x-csrf-token", "abc")];
        assert!(check(&request("DELETE", "", &echoed), false).is_ok());
    }
}
