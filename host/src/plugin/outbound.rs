//! Where a plugin may send traffic: the origins its manifest lists in `outbound-hosts`, narrowed
//! by the operator's grant (`[plugins.<id>] outbound-hosts`; default: the manifest's list).
//! Websockets use the same entries (`ws`/`wss` count as `http`/`https`).

use url::Url;

/// `scheme://host:port`, with the scheme's default port filled in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    scheme: String,
    host: String,
    port: u16,
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}://{}:{}", self.scheme, self.host, self.port)
    }
}

/// Parses an allow-list entry: `http(s)://host[:port]`, nothing after the authority.
pub fn parse_origin(s: &str) -> Result<Origin, String> {
    let url = Url::parse(s)
        .map_err(|e| format!("`{s}` is not a URL ({e}); write scheme://host[:port]"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!(
            "`{s}`: only http and https origins can be allowed (websockets use the same entries)"
        ));
    }
    if url.path() != "/" || url.query().is_some() || !url.username().is_empty() {
        return Err(format!(
            "`{s}`: an allowed host is scheme://host[:port], without path, query or credentials"
        ));
    }
    origin_of(&url).ok_or_else(|| format!("`{s}` has no host"))
}

/// The origin a URL addresses; `ws`/`wss` count as `http`/`https`.
fn origin_of(url: &Url) -> Option<Origin> {
    let scheme = match url.scheme() {
        "http" | "ws" => "http",
        "https" | "wss" => "https",
        _ => return None,
    };
    Some(Origin {
        scheme: scheme.to_string(),
        host: url.host_str()?.to_ascii_lowercase(),
        port: url.port_or_known_default()?,
    })
}

/// Where one plugin may send traffic.
#[derive(Debug, Clone, Default)]
pub struct OutboundPolicy {
    allowed: Vec<Origin>,
}

impl OutboundPolicy {
    /// The manifest's origins, narrowed by the operator's grant when one is given.
    pub fn new(manifest: &[String], granted: Option<&[String]>) -> Result<OutboundPolicy, String> {
        let declared: Vec<Origin> = manifest
            .iter()
            .map(|s| parse_origin(s))
            .collect::<Result<_, _>>()?;
        let allowed = match granted {
            None => declared,
            Some(granted) => {
                let granted: Vec<Origin> = granted
                    .iter()
                    .map(|s| parse_origin(s))
                    .collect::<Result<_, _>>()?;
                declared
                    .into_iter()
                    .filter(|o| granted.contains(o))
                    .collect()
            }
        };
        Ok(OutboundPolicy { allowed })
    }

    /// Checks a URL against the allow-list.
    pub fn check(&self, plugin: &str, url: &str) -> Result<Url, OutboundRefusal> {
        let parsed = Url::parse(url)
            .map_err(|e| OutboundRefusal::Invalid(format!("`{url}` is not a URL: {e}")))?;
        let origin = origin_of(&parsed).ok_or_else(|| {
            OutboundRefusal::Invalid(format!(
                "`{url}`: only http(s) and ws(s) URLs can be reached"
            ))
        })?;
        if self.allowed.contains(&origin) {
            Ok(parsed)
        } else {
            let allowed: Vec<String> = self.allowed.iter().map(Origin::to_string).collect();
            Err(OutboundRefusal::Denied(format!(
                "outbound host {origin} denied for plugin `{plugin}`: it is not in its allowed hosts [{}] \
                 (manifest `outbound-hosts` narrowed by [plugins.{plugin}] outbound-hosts)",
                allowed.join(", ")
            )))
        }
    }

    /// The allowed origins.
    pub fn origins(&self) -> Vec<String> {
        self.allowed.iter().map(Origin::to_string).collect()
    }
}

/// Why a URL may not be reached.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OutboundRefusal {
    /// It is not a URL the host can reach (not a URL, not http(s) or ws(s)).
    #[error("{0}")]
    Invalid(String),
    /// Its origin is not allowed for this plugin; the message names the allowed ones.
    #[error("{0}")]
    Denied(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_and_policy() {
        assert_eq!(
            parse_origin("https://app.obico.io").unwrap().to_string(),
            "https://app.obico.io:443"
        );
        assert!(parse_origin("https://app.obico.io/api").is_err());
        assert!(parse_origin("ftp://x").is_err());
        let p = OutboundPolicy::new(
            &["http://127.0.0.1:9000".into(), "https://a.example".into()],
            Some(&["https://a.example:443".into()]),
        )
        .unwrap();
        assert!(p.check("x", "https://a.example/v1?q=1").is_ok());
        assert!(p.check("x", "wss://a.example/ws").is_ok());
        let e = p.check("x", "http://127.0.0.1:9000/").unwrap_err();
        assert!(matches!(e, OutboundRefusal::Denied(m) if m.contains("127.0.0.1:9000")));
        assert!(matches!(
            p.check("x", "not a url").unwrap_err(),
            OutboundRefusal::Invalid(_)
        ));
    }
}
