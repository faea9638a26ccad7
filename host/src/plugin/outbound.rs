//! Where a plugin may send traffic: the origins the operator grants it in `printfarm.toml`
//! (`[plugins.<id>] outbound-hosts`), or, when the operator sets no list there, the origins its
//! manifest lists in `outbound-hosts`. The manifest's list is the plugin's proposal (the servers
//! it talks to out of the box); the operator's list is the decision, and may name servers the
//! plugin's author could not know (a self-hosted server whose URL the operator configures).
//! Websockets use the same entries (`ws`/`wss` count as `http`/`https`).
//!
//! Every refusal of an ungranted origin, whether on `send`, on `connect`, by `check` or when
//! the plan checks a URL in a plugin's config, is worded by [`OutboundPolicy::not_granted`], so
//! the operator reads one message that says what to write where.

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

/// A URL a plugin wants to reach, and the origin it is granted by.
#[derive(Debug, Clone)]
pub struct Destination {
    /// The URL, parsed.
    pub url: Url,
    /// Its origin (`ws`/`wss` URLs have the `http`/`https` one).
    pub origin: Origin,
}

/// Parses a URL a plugin wants to reach: an absolute `http`, `https`, `ws` or `wss` URL with a
/// host. Anything else is [`OutboundRefusal::Invalid`].
pub fn destination(url: &str) -> Result<Destination, OutboundRefusal> {
    let parsed = Url::parse(url)
        .map_err(|e| OutboundRefusal::Invalid(format!("`{url}` is not a URL: {e}")))?;
    let origin = origin_of(&parsed).ok_or_else(|| {
        OutboundRefusal::Invalid(format!(
            "`{url}`: only http(s) and ws(s) URLs with a host can be reached"
        ))
    })?;
    Ok(Destination {
        url: parsed,
        origin,
    })
}

/// Where one plugin may send traffic.
#[derive(Debug, Clone, Default)]
pub struct OutboundPolicy {
    allowed: Vec<Origin>,
    /// Whether the operator set `outbound-hosts` (else `allowed` is the manifest's list), so
    /// that advice to add an origin can say that writing the key replaces the manifest's list.
    operator_set: bool,
}

impl OutboundPolicy {
    /// The origins the operator `granted` in `printfarm.toml`, or the `manifest`'s when the
    /// operator set none. Either list must hold valid origins.
    pub fn new(manifest: &[String], granted: Option<&[String]>) -> Result<OutboundPolicy, String> {
        let parse = |list: &[String]| -> Result<Vec<Origin>, String> {
            list.iter().map(|s| parse_origin(s)).collect()
        };
        let declared = parse(manifest)?;
        Ok(match granted {
            None => OutboundPolicy {
                allowed: declared,
                operator_set: false,
            },
            Some(granted) => OutboundPolicy {
                allowed: parse(granted)?,
                operator_set: true,
            },
        })
    }

    /// Checks a URL against the allow-list: the parsed URL when its origin is granted.
    pub fn check(&self, plugin: &str, url: &str) -> Result<Url, OutboundRefusal> {
        let destination = destination(url)?;
        if self.allows(&destination.origin) {
            Ok(destination.url)
        } else {
            Err(OutboundRefusal::Denied(format!(
                "outbound {}",
                self.not_granted(plugin, &destination.origin)
            )))
        }
    }

    /// Whether `origin` is granted.
    pub fn allows(&self, origin: &Origin) -> bool {
        self.allowed.contains(origin)
    }

    /// Why `origin` may not be reached, and what the operator writes to grant it: `origin
    /// https://x:1234 is not granted to plugin obico: add "https://x:1234" to outbound-hosts
    /// under [plugins.obico] in printfarm.toml`, with the whole list to write when the operator
    /// has none yet and the manifest has one (writing the key replaces the manifest's list).
    pub fn not_granted(&self, plugin: &str, origin: &Origin) -> String {
        let mut message = format!(
            "origin {origin} is not granted to plugin {plugin}: add \"{origin}\" to outbound-hosts \
             under [plugins.{plugin}] in printfarm.toml"
        );
        if !self.operator_set && !self.allowed.is_empty() {
            let list: Vec<String> = self
                .allowed
                .iter()
                .chain(std::iter::once(origin))
                .map(|o| format!("\"{o}\""))
                .collect();
            message.push_str(&format!(
                " (it has none there, so the plugin's manifest's list applies; to keep that \
                 list too, write outbound-hosts = [{}])",
                list.join(", ")
            ));
        }
        message
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
    /// Its origin is not granted to this plugin; the message says what to add where.
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
        assert!(matches!(
            p.check("x", "ftp://a.example/").unwrap_err(),
            OutboundRefusal::Invalid(_)
        ));
    }

    /// The operator's list is the grant: it may name a server the manifest does not know (a
    /// self-hosted one), and leaves out what it does not name.
    #[test]
    fn the_operator_may_grant_an_origin_the_manifest_does_not_list() {
        let p = OutboundPolicy::new(
            &["https://app.obico.io".into()],
            Some(&["http://obico.example:3334".into()]),
        )
        .unwrap();
        assert!(p.check("obico", "ws://obico.example:3334/ws/dev/").is_ok());
        assert!(p.check("obico", "https://app.obico.io/").is_err());
        assert!(OutboundPolicy::new(&[], Some(&["obico.example".into()])).is_err());
    }

    /// One message for every refusal: the origin, the plugin, and what to write where; when the
    /// operator has no list yet, the list that keeps the manifest's origins.
    #[test]
    fn a_refusal_says_what_to_add_where() {
        let granted = OutboundPolicy::new(&[], Some(&["https://a.example".into()])).unwrap();
        let Err(OutboundRefusal::Denied(message)) = granted.check("obico", "wss://x:1234/ws")
        else {
            panic!("not denied")
        };
        assert_eq!(
            message,
            "outbound origin https://x:1234 is not granted to plugin obico: add \"https://x:1234\" \
             to outbound-hosts under [plugins.obico] in printfarm.toml"
        );
        let manifest_only = OutboundPolicy::new(&["https://app.obico.io".into()], None).unwrap();
        let Err(OutboundRefusal::Denied(message)) = manifest_only.check("obico", "http://x:1234/")
        else {
            panic!("not denied")
        };
        assert!(
            message.ends_with(
                "write outbound-hosts = [\"https://app.obico.io:443\", \"http://x:1234\"])"
            ),
            "{message}"
        );
    }
}
