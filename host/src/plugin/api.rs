//! The versions of the WIT contract (`wit/v<version>/`) this host serves, and the one a plugin's
//! manifest asks for.
//!
//! While the contract is 0.x, its second number plays the part of the major version, as cargo and
//! wasmtime's component linker read semver: 0.1.1 only adds to 0.1.0, so a component built against
//! 0.1.0 links to the 0.1.1 host functions unchanged (wasmtime resolves an import of
//! `printfarm:plugin/kv@0.1.0` to a definition of `printfarm:plugin/kv@0.1.1`), and a breaking
//! change would start 0.2.0. `wit/README.md` states the promise to plugin authors.

use semver::{Version, VersionReq};

/// The oldest contract version served: the first release, frozen in `wit/v0.1.0`.
pub const OLDEST: Version = Version::new(0, 1, 0);

/// The newest contract version: the one the host's bindings are generated from and the SDK builds
/// against (`wit/v0.1.2`, which adds `camera`, `printers.pause-with-reason` and
/// `outbound-http.check`).
pub const NEWEST: Version = Version::new(0, 1, 2);

/// Every version served, oldest first; each has its folder under `wit/`.
pub static SERVED: [Version; 3] = [OLDEST, Version::new(0, 1, 1), NEWEST];

/// The WIT package every version belongs to.
pub const PACKAGE: &str = "printfarm:plugin";

/// The newest served version that `required` (a manifest's `api`) accepts, if any.
pub fn served_for(required: &VersionReq) -> Option<&'static Version> {
    SERVED
        .iter()
        .rev()
        .find(|version| required.matches(version))
}

/// Whether `name` (a component's import or export name) is `interface` of this contract, at any
/// version: `printfarm:plugin/http-handler@0.1.0` is `http-handler`.
pub fn is_interface(name: &str, interface: &str) -> bool {
    name.strip_prefix(PACKAGE)
        .and_then(|rest| rest.strip_prefix('/'))
        .and_then(|rest| rest.strip_prefix(interface))
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('@'))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every served version has its frozen folder, whose files all declare that version, and the
    /// newest is the one the bindings are generated from.
    #[test]
    fn every_served_version_has_its_wit_folder() {
        let wit = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../wit");
        for version in &SERVED {
            let folder = wit.join(format!("v{version}"));
            let files: Vec<_> = std::fs::read_dir(&folder)
                .unwrap_or_else(|e| panic!("{}: {e}", folder.display()))
                .map(|entry| entry.unwrap().path())
                .filter(|path| path.extension().is_some_and(|ext| ext == "wit"))
                .collect();
            assert!(files.len() > 5, "{} holds too few files", folder.display());
            for file in files {
                let text = std::fs::read_to_string(&file).unwrap();
                assert!(
                    text.starts_with(&format!("package {PACKAGE}@{version};")),
                    "{} does not declare {PACKAGE}@{version}",
                    file.display()
                );
            }
        }
        let bindings = include_str!("../runtime/bindings.rs");
        assert!(
            bindings.contains(&format!("\"../wit/v{NEWEST}\"")),
            "the host's bindings are not generated from wit/v{NEWEST}"
        );
    }

    #[test]
    fn a_requirement_gets_the_newest_version_it_accepts() {
        let req = |s: &str| VersionReq::parse(s).unwrap();
        assert_eq!(served_for(&req("^0.1")), Some(&NEWEST));
        assert_eq!(served_for(&req("=0.1.0")), Some(&OLDEST));
        assert_eq!(served_for(&req("~0.1.1")), Some(&NEWEST));
        assert_eq!(served_for(&req("=0.1.1")), Some(&SERVED[1]));
        assert_eq!(served_for(&req("^0.2")), None);
        assert_eq!(served_for(&req("^1")), None);
    }

    #[test]
    fn interface_names_match_at_any_version() {
        assert!(is_interface(
            "printfarm:plugin/http-handler@0.1.0",
            "http-handler"
        ));
        assert!(is_interface(
            "printfarm:plugin/http-handler@0.1.1",
            "http-handler"
        ));
        assert!(!is_interface(
            "printfarm:plugin/http-handlers@0.1.0",
            "http-handler"
        ));
        assert!(!is_interface(
            "other:plugin/http-handler@0.1.0",
            "http-handler"
        ));
    }
}
