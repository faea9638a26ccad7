//! Routes as manifests write them (`"GET,POST /api/files/{location}/{*path}"`), and the overlap test
//! the router uses to refuse two plugins claiming the same requests.

use std::fmt;

/// HTTP methods a route answers, as a bit set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MethodSet(u16);

/// Methods a manifest may name, in bit order.
const METHODS: [&str; 7] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

impl MethodSet {
    /// Every method (`*` in a manifest).
    pub const ANY: MethodSet = MethodSet((1 << METHODS.len()) - 1);

    /// Parses `GET`, `GET,POST` or `*`.
    pub fn parse(s: &str) -> Result<MethodSet, String> {
        if s == "*" {
            return Ok(MethodSet::ANY);
        }
        let mut set = 0u16;
        for m in s.split(',') {
            let m = m.trim();
            let bit = METHODS
                .iter()
                .position(|known| *known == m)
                .ok_or_else(|| {
                    format!(
                        "unknown HTTP method `{m}` (expected one of {}, or *)",
                        METHODS.join(", ")
                    )
                })?;
            set |= 1 << bit;
        }
        Ok(MethodSet(set))
    }

    /// Whether the set holds `method` (upper case). `HEAD` is answered by `GET` routes too.
    pub fn contains(self, method: &str) -> bool {
        let bit = |name: &str| {
            METHODS
                .iter()
                .position(|m| *m == name)
                .map(|i| self.0 & (1 << i) != 0)
        };
        bit(method).unwrap_or(false) || (method == "HEAD" && bit("GET").unwrap_or(false))
    }

    /// Whether two sets share a method.
    pub fn intersects(self, other: MethodSet) -> bool {
        self.0 & other.0 != 0
    }

    /// Adds the methods of `other`.
    pub fn union(self, other: MethodSet) -> MethodSet {
        MethodSet(self.0 | other.0)
    }

    /// The methods, comma separated (for `Allow` headers).
    pub fn to_header(self) -> String {
        METHODS
            .iter()
            .enumerate()
            .filter(|(i, _)| self.0 & (1 << i) != 0)
            .map(|(_, m)| *m)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// One route of a manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteSpec {
    /// The methods it answers.
    pub methods: MethodSet,
    /// The path pattern: `/`-separated segments, `{name}` for one segment, `{*name}` for the rest.
    pub path: String,
}

impl RouteSpec {
    /// Parses `"METHOD /path"`.
    pub fn parse(s: &str) -> Result<RouteSpec, String> {
        let (method, path) = s.trim().split_once(' ').ok_or_else(|| {
            format!("route `{s}` must be \"METHOD /path\", e.g. \"GET /api/version\"")
        })?;
        let methods = MethodSet::parse(method)?;
        let path = path.trim().to_string();
        validate_pattern(&path).map_err(|e| format!("route `{s}`: {e}"))?;
        Ok(RouteSpec { methods, path })
    }
}

impl fmt::Display for RouteSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}",
            self.methods.to_header().replace(", ", ","),
            self.path
        )
    }
}

/// Checks a path pattern: starts with `/`, no empty segments, parameters well formed and named
/// once, a catch-all only last.
pub fn validate_pattern(path: &str) -> Result<(), String> {
    if !path.starts_with('/') {
        return Err(format!("path `{path}` must start with /"));
    }
    if path == "/" {
        return Ok(());
    }
    let segments: Vec<&str> = path[1..].split('/').collect();
    let mut names = Vec::new();
    for (i, seg) in segments.iter().enumerate() {
        let last = i + 1 == segments.len();
        if seg.is_empty() && !last {
            return Err(format!("path `{path}` has an empty segment"));
        }
        match Segment::of(seg) {
            Segment::Static(s) if s.contains(['{', '}']) => {
                return Err(format!(
                    "path `{path}`: a parameter must be a whole segment, `{{name}}` or `{{*name}}`"
                ));
            }
            Segment::CatchAll(_) if !last => {
                return Err(format!(
                    "path `{path}`: a catch-all `{{*name}}` must be the last segment"
                ));
            }
            Segment::Param(n) | Segment::CatchAll(n) => {
                if n.is_empty() || !n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                    return Err(format!(
                        "path `{path}`: parameter name `{n}` must be letters, digits or _"
                    ));
                }
                if names.contains(&n) {
                    return Err(format!("path `{path}`: parameter `{n}` appears twice"));
                }
                names.push(n);
            }
            Segment::Static(_) => {}
        }
    }
    Ok(())
}

/// One segment of a path pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Segment<'a> {
    Static(&'a str),
    Param(&'a str),
    CatchAll(&'a str),
}

impl<'a> Segment<'a> {
    fn of(seg: &'a str) -> Segment<'a> {
        match seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            Some(inner) => match inner.strip_prefix('*') {
                Some(name) => Segment::CatchAll(name),
                None => Segment::Param(inner),
            },
            None => Segment::Static(seg),
        }
    }
}

fn segments(path: &str) -> Vec<Segment<'_>> {
    path.trim_start_matches('/')
        .split('/')
        .map(Segment::of)
        .collect()
}

/// Whether some request path would match both patterns. A parameter matches any one non-empty
/// segment; a catch-all matches one or more remaining segments.
pub fn patterns_overlap(a: &str, b: &str) -> bool {
    overlap(&segments(a), &segments(b))
}

fn overlap(a: &[Segment<'_>], b: &[Segment<'_>]) -> bool {
    match (a.first(), b.first()) {
        (None, None) => true,
        (Some(Segment::CatchAll(_)), Some(_)) | (Some(_), Some(Segment::CatchAll(_))) => true,
        (None, Some(_)) | (Some(_), None) => false,
        (Some(x), Some(y)) => {
            let heads_meet = match (x, y) {
                (Segment::Static(s), Segment::Static(t)) => s == t,
                (Segment::Static(s), Segment::Param(_))
                | (Segment::Param(_), Segment::Static(s)) => !s.is_empty(),
                _ => true,
            };
            heads_meet && overlap(&a[1..], &b[1..])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_routes() {
        let r = RouteSpec::parse("GET,POST /api/files/{location}/{*path}").unwrap();
        assert!(
            r.methods.contains("GET") && r.methods.contains("POST") && !r.methods.contains("PUT")
        );
        assert!(r.methods.contains("HEAD"));
        assert!(RouteSpec::parse("/no-method").is_err());
        assert!(RouteSpec::parse("FETCH /x")
            .unwrap_err()
            .contains("unknown HTTP method"));
        assert!(RouteSpec::parse("GET /a/{*rest}/b")
            .unwrap_err()
            .contains("last segment"));
        assert!(RouteSpec::parse("GET /a/x{y}")
            .unwrap_err()
            .contains("whole segment"));
        assert!(RouteSpec::parse("GET /a/{x}/{x}")
            .unwrap_err()
            .contains("twice"));
        assert!(RouteSpec::parse("GET api")
            .unwrap_err()
            .contains("start with /"));
    }

    #[test]
    fn detects_overlaps() {
        assert!(patterns_overlap("/api/version", "/api/version"));
        assert!(patterns_overlap("/api/{x}", "/api/version"));
        assert!(patterns_overlap("/api/{*rest}", "/api/files/local"));
        assert!(patterns_overlap("/{*all}", "/anything"));
        assert!(!patterns_overlap("/api/version", "/api/server"));
        assert!(!patterns_overlap("/api/{x}", "/api/a/b"));
        assert!(!patterns_overlap("/api/{*rest}", "/api"));
        assert!(!patterns_overlap("/a/{x}/c", "/a/b/d"));
    }
}
