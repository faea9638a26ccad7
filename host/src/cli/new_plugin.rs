//! `printfarm plugin new NAME`: writes a plugin crate that builds, checks and runs as it is (a
//! route, a native unit test, its manifest and a README with the commands), for an author to
//! grow from. The files are those of `sdk/README.md`'s first steps.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _};

use crate::plugin::api;
use crate::plugin::manifest::is_valid_id;

/// The skeleton's files for plugin `id`, depending on the SDK at `sdk`: (relative path, text).
pub fn skeleton(id: &str, sdk: &Path) -> Vec<(&'static str, String)> {
    let lib = id.replace('-', "_");
    let api_req = format!("^{}.{}", api::NEWEST.major, api::NEWEST.minor);
    let cargo = format!(
        r#"[package]
name = "{id}"
version = "0.1.0"
edition = "2021"
publish = false

[lib]
crate-type = ["cdylib"]

[dependencies]
printfarm-sdk = {{ path = "{sdk}" }}
serde_json = "1"

# A crate of its own, even inside another workspace.
[workspace]

# Every call instantiates the component afresh: a small one starts faster.
[profile.release]
lto = true
codegen-units = 1
opt-level = "s"
"#,
        sdk = sdk.display()
    );
    let manifest = format!(
        r#"# The plugin's manifest; every key is described in the SDK's README.
id = "{id}"
version = "0.1.0"
api = "{api_req}"                  # the contract versions it works with
component = "{lib}.wasm"
routes = ["GET /hello/{{name}}"]   # served under /{id}
capabilities = []                 # what it may call; the operator grants them too
"#
    );
    let source = format!(
        r#"//! `{id}`: a printfarm plugin. `GET /{id}/hello/{{name}}` answers `{{"hello": "<name>"}}`.

use printfarm_sdk::{{Error, Plugin, Request, Response, Router}};

/// The plugin. Every call runs in a fresh instance: keep state in `printfarm_sdk::kv`.
pub struct Main;

impl Plugin for Main {{
    fn router() -> Router {{
        // Exactly the routes of plugin.toml.
        Router::new().get("/hello/{{name}}", hello)
    }}
}}

/// `GET /hello/{{name}}`.
fn hello(req: &Request) -> Result<Response, Error> {{
    let name: String = req.param("name")?;
    Ok(Response::ok_json(&serde_json::json!({{ "hello": name }})))
}}

printfarm_sdk::export_plugin!(Main);

#[cfg(test)]
mod tests {{
    use super::*;

    #[test]
    fn says_hello() {{
        let req = Request::builder("GET", "/hello/{{name}}").param("name", "Ada").build();
        let body: serde_json::Value = hello(&req).unwrap().body_json().unwrap();
        assert_eq!(body["hello"], "Ada");
    }}
}}
"#
    );
    let readme = format!(
        r#"# {id}

A printfarm plugin.

```sh
cargo test                                            # the native unit tests
cargo build --release --target wasm32-wasip2          # rustup target add wasm32-wasip2 once
mkdir -p ../my-plugins/{id}
cp plugin.toml target/wasm32-wasip2/release/{lib}.wasm ../my-plugins/{id}/
printfarm plugin check ../my-plugins/{id}
```

Then, in the farm's `printfarm.toml`:

```toml
plugin-dirs = ["../my-plugins"]

[plugins.{id}]
grants = []
```

and `printfarm check`, `printfarm serve`, `curl http://127.0.0.1:8080/{id}/hello/Ada`.
"#
    );
    vec![
        ("Cargo.toml", cargo),
        ("plugin.toml", manifest),
        ("src/lib.rs", source),
        ("README.md", readme),
    ]
}

/// Writes the skeleton of plugin `id` into a new directory `dir`; `sdk` is the SDK crate's
/// directory (made absolute). Refuses a bad id and a directory that exists.
pub fn write(dir: &Path, id: &str, sdk: &Path) -> anyhow::Result<Vec<PathBuf>> {
    if !is_valid_id(id) {
        bail!("`{id}` cannot be a plugin id: use 1-64 lowercase letters, digits or `-`, starting with a letter");
    }
    if !sdk.join("Cargo.toml").is_file() {
        bail!(
            "{} holds no printfarm-sdk crate; pass --sdk with the `sdk` directory of a printfarm checkout",
            sdk.display()
        );
    }
    if dir.exists() {
        bail!("{} already exists; choose another directory", dir.display());
    }
    let sdk = std::fs::canonicalize(sdk).with_context(|| format!("resolving {}", sdk.display()))?;
    let mut written = Vec::new();
    for (relative, text) in skeleton(id, &sdk) {
        let path = dir.join(relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
        written.push(path);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugin::Manifest;

    #[test]
    fn the_manifest_is_valid_and_the_source_serves_its_route() {
        let files = skeleton("greeter-2", Path::new("/opt/printfarm/sdk"));
        let text = |name: &str| &files.iter().find(|(n, _)| *n == name).unwrap().1;
        let manifest = Manifest::parse(text("plugin.toml"), "plugin.toml").unwrap();
        assert_eq!(manifest.id, "greeter-2");
        assert_eq!(manifest.component_file(), "greeter_2.wasm");
        assert!(crate::plugin::api::served_for(&manifest.api).is_some());
        assert!(text("src/lib.rs").contains(r#".get("/hello/{name}", hello)"#));
        assert!(text("Cargo.toml").contains(r#"path = "/opt/printfarm/sdk""#));
    }

    #[test]
    fn bad_ids_and_existing_directories_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let sdk = Path::new(env!("CARGO_MANIFEST_DIR")).join("../sdk");
        let e = write(&dir.path().join("x"), "Bad_Name", &sdk).unwrap_err();
        assert!(e.to_string().contains("Bad_Name"), "{e}");
        let e = write(dir.path(), "fine", &sdk).unwrap_err();
        assert!(e.to_string().contains("already exists"), "{e}");
        let e = write(&dir.path().join("y"), "fine", dir.path()).unwrap_err();
        assert!(e.to_string().contains("--sdk"), "{e}");
        let written = write(&dir.path().join("fine"), "fine", &sdk).unwrap();
        assert_eq!(written.len(), 4);
    }
}
