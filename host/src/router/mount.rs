//! Mount prefixes: where a plugin's routes live.

use crate::HOST_PREFIX;

/// The placeholder a per-printer mount carries for the printer id.
pub const PRINTER_PLACEHOLDER: &str = "{printer}";

/// Checks a mount prefix: `/` or `/a/b` (no trailing slash), static segments except exactly one
/// `{printer}` for per-printer plugins, and nothing at or below the host's reserved prefix.
pub fn validate_mount(mount: &str, per_printer: bool) -> Result<(), String> {
    if !mount.starts_with('/') {
        return Err(format!("mount `{mount}` must start with /"));
    }
    if mount == "/" {
        return if per_printer {
            Err("mount `/` of a per-printer plugin must contain `{printer}`".into())
        } else {
            Ok(())
        };
    }
    if mount.len() > 1 && mount.ends_with('/') {
        return Err(format!(
            "mount `{mount}` must not end with / (write `{}`)",
            mount.trim_end_matches('/')
        ));
    }
    let placeholders = mount.matches(PRINTER_PLACEHOLDER).count();
    match (per_printer, placeholders) {
        (true, 1) | (false, 0) => {}
        (true, _) => {
            return Err(format!(
                "mount `{mount}` of a per-printer plugin must contain `{{printer}}` exactly once"
            ))
        }
        (false, _) => {
            return Err(format!(
                "mount `{mount}`: only per-printer plugins can use `{{printer}}`"
            ))
        }
    }
    for seg in mount.split('/').skip(1) {
        if seg != PRINTER_PLACEHOLDER
            && (seg.is_empty() || seg.contains(['{', '}', '*', '?', '#', '%']))
        {
            return Err(format!(
                "mount `{mount}`: segment `{seg}` must be plain text"
            ));
        }
    }
    let first = mount.split('/').nth(1).unwrap_or("");
    if format!("/{first}") == HOST_PREFIX {
        return Err(format!(
            "mount `{mount}` is inside {HOST_PREFIX}, which is reserved for the host"
        ));
    }
    Ok(())
}

/// The concrete prefix of a mount for one printer (or the mount itself).
pub fn concrete(mount: &str, printer: Option<&str>) -> String {
    let m = match printer {
        Some(p) => mount.replace(PRINTER_PLACEHOLDER, p),
        None => mount.to_string(),
    };
    if m == "/" {
        String::new()
    } else {
        m
    }
}

/// Joins a mount prefix (as returned by [`concrete`]) and a route path.
pub fn join(prefix: &str, route: &str) -> String {
    match (prefix.is_empty(), route == "/") {
        (true, _) => route.to_string(),
        (false, true) => prefix.to_string(),
        (false, false) => format!("{prefix}{route}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mounts() {
        assert!(validate_mount("/", false).is_ok());
        assert!(validate_mount("/octoprint/{printer}", true).is_ok());
        assert!(validate_mount("/octoprint", true).is_err());
        assert!(validate_mount("/a/{printer}", false).is_err());
        assert!(validate_mount("/farm", false)
            .unwrap_err()
            .contains("reserved"));
        assert!(validate_mount("/farm/x", false).is_err());
        assert!(validate_mount("/farmer", false).is_ok());
        assert!(validate_mount("/a/", false).is_err());
        assert!(validate_mount("/a/{x}", false).is_err());
        assert_eq!(
            join(&concrete("/octoprint/{printer}", Some("p1")), "/api/job"),
            "/octoprint/p1/api/job"
        );
        assert_eq!(join(&concrete("/", None), "/api/job"), "/api/job");
        assert_eq!(join(&concrete("/hello", None), "/"), "/hello");
    }
}
