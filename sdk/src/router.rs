//! [`Router`]: dispatches a request to a handler by its manifest route and method.

use std::borrow::Cow;

use crate::{Error, Request, Response};

/// A boxed request handler, as stored by the [`Router`].
///
/// Any `fn(&Request) -> Result<Response, Error>` or closure of that shape can be registered;
/// the router boxes it (a plain function or a closure that captures nothing takes no memory).
pub type Handler = Box<dyn Fn(&Request) -> Result<Response, Error>>;

type ErrorHandler = Box<dyn Fn(&Error) -> Response>;

/// The methods an [`Endpoint`] answers, as the manifest writes them (`"GET"`, `"GET,POST"`,
/// `"*"`).
///
/// A router is built on an instance's first request, which is every request for a plugin with
/// fresh instances, so building one must not cost a string per route: the spec is kept as given (a literal is not copied) and
/// the standard methods are read into a bit set once.
struct Methods {
    spec: Cow<'static, str>,
    /// [`STANDARD`] methods named in the spec, one bit each.
    standard: u16,
    any: bool,
}

/// The methods [`Methods`] keeps as bits, in the order a 405's `allow` header lists them.
const STANDARD: [&str; 9] = [
    "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT",
];

fn standard_bit(method: &str) -> Option<u16> {
    STANDARD
        .iter()
        .position(|m| m.eq_ignore_ascii_case(method))
        .map(|i| 1 << i)
}

impl Methods {
    fn parse(spec: Cow<'static, str>) -> Methods {
        let any = spec.trim() == "*";
        let standard = spec
            .split(',')
            .filter_map(|m| standard_bit(m.trim()))
            .fold(0, |bits, bit| bits | bit);
        Methods {
            spec,
            standard,
            any,
        }
    }

    fn matches(&self, method: &str) -> bool {
        if self.any {
            return true;
        }
        match standard_bit(method) {
            Some(bit) => self.standard & bit != 0,
            None => self.names().any(|m| m.eq_ignore_ascii_case(method)),
        }
    }

    /// The methods named, trimmed (upper-cased by the callers that show them).
    fn names(&self) -> impl Iterator<Item = &str> {
        self.spec
            .split(',')
            .map(str::trim)
            .filter(|m| !m.is_empty())
    }
}

struct Endpoint {
    path: Cow<'static, str>,
    methods: Methods,
    handler: Handler,
}

/// Dispatches requests to handlers by `(method, route)`.
///
/// The host has already matched the request path against the routes of `plugin.toml`, so the
/// router compares the matched route *string* ([`Request::route`]) with the paths registered
/// here: register every route exactly as the manifest writes it, parameters included
/// (`"/greet/{name}"`, `"/api/files/{location}/{*path}"`).
///
/// * A route that was not registered answers 404.
/// * A registered route without a handler for the method answers 405 with an `allow` header.
/// * `HEAD` falls back to the `GET` handler (without the body) unless a `HEAD` handler exists.
/// * A handler's `Err(Error)` goes through the error handler ([`on_error`](Router::on_error));
///   the default answers `{"error": "<message>"}` with the error's status.
///
/// ```
/// use printfarm_sdk::{Error, Request, Response, Router};
///
/// fn version(_: &Request) -> Result<Response, Error> {
///     Ok(Response::ok_json(&serde_json::json!({"api": "0.1", "server": "1.10.0"})))
/// }
///
/// let router = Router::new()
///     .get("/api/version", version)
///     .route("GET,POST", "/api/job", |req: &Request| match req.method() {
///         "GET" => Ok(Response::ok_json(&serde_json::json!({"state": "Operational"}))),
///         _ => Ok(Response::no_content()),
///     })
///     // Django REST Framework's error shape instead of the default {"error": …}
///     .on_error(|e: &Error| Response::json(e.status, &serde_json::json!({"detail": e.message})));
///
/// let res = router.handle(&Request::builder("DELETE", "/api/version").build());
/// assert_eq!(res.status(), 405);
/// assert_eq!(res.header("allow"), Some("GET, HEAD"));
/// ```
///
/// A plugin builds its router in [`Plugin::router`](crate::Plugin::router) on an instance's
/// first request, which is every request in a fresh instance, so keep construction cheap: register plain
/// functions and closures, and do the work inside them.
pub struct Router {
    /// In registration order: the first endpoint that matches a request's route and method
    /// handles it.
    endpoints: Vec<Endpoint>,
    on_error: Option<ErrorHandler>,
}

impl Default for Router {
    fn default() -> Self {
        Self::new()
    }
}

impl Router {
    /// An empty router.
    pub fn new() -> Self {
        Router {
            endpoints: Vec::new(),
            on_error: None,
        }
    }

    /// Registers a handler for `GET path`.
    pub fn get<F>(self, path: impl Into<Cow<'static, str>>, handler: F) -> Self
    where
        F: Fn(&Request) -> Result<Response, Error> + 'static,
    {
        self.route("GET", path, handler)
    }

    /// Registers a handler for `POST path`.
    pub fn post<F>(self, path: impl Into<Cow<'static, str>>, handler: F) -> Self
    where
        F: Fn(&Request) -> Result<Response, Error> + 'static,
    {
        self.route("POST", path, handler)
    }

    /// Registers a handler for `PUT path`.
    pub fn put<F>(self, path: impl Into<Cow<'static, str>>, handler: F) -> Self
    where
        F: Fn(&Request) -> Result<Response, Error> + 'static,
    {
        self.route("PUT", path, handler)
    }

    /// Registers a handler for `DELETE path`.
    pub fn delete<F>(self, path: impl Into<Cow<'static, str>>, handler: F) -> Self
    where
        F: Fn(&Request) -> Result<Response, Error> + 'static,
    {
        self.route("DELETE", path, handler)
    }

    /// Registers a handler for `PATCH path`.
    pub fn patch<F>(self, path: impl Into<Cow<'static, str>>, handler: F) -> Self
    where
        F: Fn(&Request) -> Result<Response, Error> + 'static,
    {
        self.route("PATCH", path, handler)
    }

    /// Registers a handler for every method of `path`.
    pub fn any<F>(self, path: impl Into<Cow<'static, str>>, handler: F) -> Self
    where
        F: Fn(&Request) -> Result<Response, Error> + 'static,
    {
        self.route("*", path, handler)
    }

    /// Registers a handler for `methods path`, with `methods` written as in the manifest:
    /// one method (`"GET"`), several separated by commas (`"GET,POST"`), or `"*"` for all.
    ///
    /// Both are usually string literals, which the router keeps without copying; pass a
    /// `String` for one computed at run time. Handlers registered earlier win when several
    /// match the same method.
    pub fn route<F>(
        mut self,
        methods: impl Into<Cow<'static, str>>,
        path: impl Into<Cow<'static, str>>,
        handler: F,
    ) -> Self
    where
        F: Fn(&Request) -> Result<Response, Error> + 'static,
    {
        self.endpoints.push(Endpoint {
            path: path.into(),
            methods: Methods::parse(methods.into()),
            handler: Box::new(handler),
        });
        self
    }

    /// Sets how errors become responses: the router's own 404 and 405 and every `Err` a handler
    /// returns. The default is [`Response::error_json`], `{"error": "<message>"}`.
    pub fn on_error<F>(mut self, handler: F) -> Self
    where
        F: Fn(&Error) -> Response + 'static,
    {
        self.on_error = Some(Box::new(handler));
        self
    }

    /// The registered routes as `"METHODS path"` strings, in registration order (`"GET /health"`,
    /// `"GET,POST /api/job"`, `"* /proxy/{*rest}"`). Useful in a unit test that compares the
    /// router with the manifest's `routes`.
    pub fn route_table(&self) -> Vec<String> {
        self.endpoints
            .iter()
            .map(|ep| {
                let methods = if ep.methods.any {
                    "*".to_string()
                } else {
                    let names: Vec<String> =
                        ep.methods.names().map(str::to_ascii_uppercase).collect();
                    names.join(",")
                };
                format!("{methods} {}", ep.path)
            })
            .collect()
    }

    /// Turns an error into a response with the configured error handler.
    pub fn error_response(&self, error: &Error) -> Response {
        match &self.on_error {
            Some(f) => f(error),
            None => Response::error_json(error),
        }
    }

    /// Runs the handler for the request and returns its result, without applying the error
    /// handler. 404 and 405 come back as `Err`.
    pub fn dispatch(&self, req: &Request) -> Result<Response, Error> {
        let route = req.route();
        let method = req.method();
        let mut known_route = false;
        for ep in self.endpoints.iter().filter(|ep| ep.path == route) {
            known_route = true;
            if ep.methods.matches(method) {
                return (ep.handler)(req);
            }
        }
        if !known_route {
            return Err(Error::not_found(format!(
                "no handler for route `{route}` in this plugin"
            )));
        }
        if method.eq_ignore_ascii_case("HEAD") {
            if let Some(ep) = self
                .endpoints
                .iter()
                .find(|ep| ep.path == route && ep.methods.matches("GET"))
            {
                return (ep.handler)(req).map(Response::without_body);
            }
        }
        Err(Error::method_not_allowed(format!(
            "method {method} is not allowed on `{route}`"
        )))
    }

    /// Handles a request: dispatches it and turns any error into a response with the error
    /// handler. A 405 response carries an `allow` header.
    pub fn handle(&self, req: &Request) -> Response {
        match self.dispatch(req) {
            Ok(res) => res,
            Err(e) => {
                let res = self.error_response(&e);
                if e.status == 405 {
                    if let Some(allow) = self.allow(req.route()) {
                        return res.with_header("allow", &allow);
                    }
                }
                res
            }
        }
    }

    fn allow(&self, path: &str) -> Option<String> {
        let mut methods: Vec<String> = Vec::new();
        for ep in self.endpoints.iter().filter(|ep| ep.path == path) {
            if ep.methods.any {
                return None;
            }
            for m in ep.methods.names().map(str::to_ascii_uppercase) {
                if !methods.contains(&m) {
                    methods.push(m);
                }
            }
        }
        if methods.iter().any(|m| m == "GET") && !methods.iter().any(|m| m == "HEAD") {
            methods.push("HEAD".to_string());
        }
        (!methods.is_empty()).then(|| methods.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn greet(req: &Request) -> Result<Response, Error> {
        let name: String = req.param("name")?;
        Ok(Response::ok_json(&json!({ "hello": name })))
    }

    fn router() -> Router {
        Router::new()
            .get("/greet/{name}", greet)
            .post("/greet/{name}", |_req: &Request| Ok(Response::no_content()))
            .get("/copies/{n}", |req: &Request| {
                let n: u32 = req.param("n")?;
                Ok(Response::ok_json(&json!({ "n": n })))
            })
            .put("/json", |req: &Request| {
                let v: Value = req.json()?;
                Ok(Response::ok_json(&v))
            })
            .route("GET,PATCH", "/multi", |req: &Request| {
                Ok(Response::text(200, req.method().to_string()))
            })
            .any("/proxy/{*rest}", |req: &Request| {
                Ok(Response::text(200, req.param::<String>("rest")?))
            })
            .delete("/fail", |_req: &Request| Err(Error::conflict("busy")))
    }

    fn body(res: &Response) -> Value {
        res.body_json().expect("JSON body")
    }

    #[test]
    fn dispatches_on_route_and_method() {
        let r = router();
        let res = r.handle(
            &Request::builder("GET", "/greet/{name}")
                .path("/hello/greet/Ada")
                .param("name", "Ada")
                .build(),
        );
        assert_eq!(res.status(), 200);
        assert_eq!(body(&res), json!({"hello": "Ada"}));

        let res = r.handle(
            &Request::builder("POST", "/greet/{name}")
                .param("name", "Ada")
                .build(),
        );
        assert_eq!(res.status(), 204);

        for m in ["GET", "PATCH"] {
            let res = r.handle(&Request::builder(m, "/multi").build());
            assert_eq!(res.body_text(), Some(m));
        }

        let res = r.handle(
            &Request::builder("OPTIONS", "/proxy/{*rest}")
                .param("rest", "a/b")
                .build(),
        );
        assert_eq!(res.body_text(), Some("a/b"));
    }

    #[test]
    fn unknown_route_is_404_json() {
        let res = router().handle(&Request::builder("GET", "/nope").build());
        assert_eq!(res.status(), 404);
        assert_eq!(res.header("content-type"), Some("application/json"));
        assert!(body(&res)["error"].as_str().unwrap().contains("/nope"));
    }

    #[test]
    fn known_route_wrong_method_is_405_with_allow() {
        let res = router().handle(
            &Request::builder("DELETE", "/greet/{name}")
                .param("name", "x")
                .build(),
        );
        assert_eq!(res.status(), 405);
        assert_eq!(res.header("allow"), Some("GET, POST, HEAD"));
        assert!(body(&res)["error"].as_str().unwrap().contains("DELETE"));

        let res = router().handle(&Request::builder("POST", "/multi").build());
        assert_eq!(res.status(), 405);
        assert_eq!(res.header("allow"), Some("GET, PATCH, HEAD"));
    }

    #[test]
    fn head_falls_back_to_get_without_body() {
        let res = router().handle(
            &Request::builder("HEAD", "/greet/{name}")
                .param("name", "x")
                .build(),
        );
        assert_eq!(res.status(), 200);
        assert_eq!(res.header("content-type"), Some("application/json"));
        assert_eq!(res.body(), &crate::ResponseBody::Empty);
    }

    #[test]
    fn typed_param_errors_are_400() {
        let res = router().handle(
            &Request::builder("GET", "/copies/{n}")
                .param("n", "three")
                .build(),
        );
        assert_eq!(res.status(), 400);
        assert!(body(&res)["error"].as_str().unwrap().contains("`n`"));

        let res = router().handle(&Request::builder("GET", "/copies/{n}").build());
        assert_eq!(res.status(), 400);
        assert!(body(&res)["error"]
            .as_str()
            .unwrap()
            .contains("missing path parameter `n`"));
    }

    #[test]
    fn json_errors_are_415_and_400() {
        let res = router().handle(
            &Request::builder("PUT", "/json")
                .header("content-type", "text/plain")
                .body("{}")
                .build(),
        );
        assert_eq!(res.status(), 415);

        let res = router().handle(
            &Request::builder("PUT", "/json")
                .header("content-type", "application/json")
                .body("{nope")
                .build(),
        );
        assert_eq!(res.status(), 400);
        assert!(body(&res)["error"]
            .as_str()
            .unwrap()
            .starts_with("invalid JSON body"));

        let res = router().handle(
            &Request::builder("PUT", "/json")
                .json(&json!({"a": [1, 2]}))
                .build(),
        );
        assert_eq!(res.status(), 200);
        assert_eq!(body(&res), json!({"a": [1, 2]}));
    }

    #[test]
    fn handler_errors_use_the_error_handler() {
        let res = router().handle(&Request::builder("DELETE", "/fail").build());
        assert_eq!(res.status(), 409);
        assert_eq!(body(&res), json!({"error": "busy"}));

        let drf = router()
            .on_error(|e: &Error| Response::json(e.status, &json!({ "detail": e.message })));
        let res = drf.handle(&Request::builder("DELETE", "/fail").build());
        assert_eq!(res.status(), 409);
        assert_eq!(body(&res), json!({"detail": "busy"}));

        let res = drf.handle(&Request::builder("GET", "/missing").build());
        assert_eq!(res.status(), 404);
        assert!(body(&res)["detail"].is_string());
        assert!(body(&res).get("error").is_none());

        let res = drf.handle(&Request::builder("PUT", "/greet/{name}").build());
        assert_eq!(res.status(), 405);
        assert!(body(&res)["detail"].is_string());
        assert_eq!(res.header("allow"), Some("GET, POST, HEAD"));
    }

    #[test]
    fn host_errors_propagate_with_question_mark() {
        let r = Router::new().get("/h", |_req: &Request| {
            let host_call: Result<(), crate::HostError> =
                Err(crate::HostError::Limit("value too large".into()));
            host_call?;
            Ok(Response::no_content())
        });
        let res = r.handle(&Request::builder("GET", "/h").build());
        assert_eq!(res.status(), 413);
        assert_eq!(body(&res), json!({"error": "value too large"}));
    }

    #[test]
    fn route_table_lists_registrations() {
        assert_eq!(
            router().route_table(),
            vec![
                "GET /greet/{name}",
                "POST /greet/{name}",
                "GET /copies/{n}",
                "PUT /json",
                "GET,PATCH /multi",
                "* /proxy/{*rest}",
                "DELETE /fail",
            ]
        );
    }
}
