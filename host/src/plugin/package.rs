//! Loading a plugin package from its directory: manifest, API version, config schema, component.
//!
//! Everything here runs before any compilation, so a wrong package costs nothing but an error.
//!
//! A config schema may mark a string property `"x-printfarm-outbound": true`: a URL the plugin
//! will reach (its server). The plan checks such a value, or the schema's `default` when the
//! operator set none, against the origins granted to the plugin, so that an ungranted server is
//! a start-up problem the operator reads in `printfarm check` rather than a failure the plugin
//! meets later.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::api;
use super::manifest::Manifest;
use super::outbound::{destination, OutboundPolicy};

/// The JSON Schema keyword that marks a config property as a URL the plugin will reach.
pub const OUTBOUND_KEYWORD: &str = "x-printfarm-outbound";

/// How deep into nested `properties` the schema is searched for [`OUTBOUND_KEYWORD`]: a config
/// is a table of a few levels, and a schema is the plugin author's, not to be walked without end.
const MAX_SCHEMA_DEPTH: usize = 8;

/// A config property marked with [`OUTBOUND_KEYWORD`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundKey {
    /// Its path in the config: `["server"]`, or `["upstream", "url"]` for a nested table.
    pub path: Vec<String>,
    /// The schema's `default`, used when the operator set no value.
    pub default: Option<String>,
}

/// Why a package cannot be loaded. Each message names the file and what to do.
#[derive(Debug, thiserror::Error)]
pub enum PackageError {
    /// `plugin.toml` is missing or unreadable.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// `plugin.toml` is malformed or invalid.
    #[error("invalid manifest {0}")]
    Manifest(String),
    /// The plugin needs a contract version this host does not implement.
    #[error(
        "plugin `{id}` needs API version {required}, but this printfarm serves API {oldest} to \
         {newest}; rebuild the plugin against printfarm:plugin@{newest} (its manifest's `api` then \
         says \"^{newest}\") or run a printfarm that serves {required}",
        oldest = api::OLDEST,
        newest = api::NEWEST
    )]
    IncompatibleApi {
        /// Plugin id.
        id: String,
        /// The manifest's requirement.
        required: semver::VersionReq,
    },
    /// The config schema is missing or not a valid JSON Schema.
    #[error("plugin `{id}`: config schema {path}: {message}")]
    Schema {
        /// Plugin id.
        id: String,
        /// The schema file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The operator's config does not satisfy the plugin's schema.
    #[error("invalid config for plugin `{id}` ([plugins.{id}.config]): {errors}")]
    Config {
        /// Plugin id.
        id: String,
        /// Each violation with its JSON path, `; `-separated.
        errors: String,
    },
    /// The component file is missing.
    #[error("plugin `{id}`: component {path} not found; build the plugin (scripts/build-plugins) or fix `component` in plugin.toml")]
    MissingComponent {
        /// Plugin id.
        id: String,
        /// Where it was expected.
        path: PathBuf,
    },
}

/// A validated package: its manifest, where its component is, and its compiled config schema.
pub struct Package {
    /// The package directory.
    pub dir: PathBuf,
    /// The manifest.
    pub manifest: Manifest,
    /// The component file.
    pub component_path: PathBuf,
    schema: Option<jsonschema::Validator>,
    /// The config properties that hold URLs the plugin will reach.
    outbound_keys: Vec<OutboundKey>,
}

impl std::fmt::Debug for Package {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Package")
            .field("dir", &self.dir)
            .field("id", &self.manifest.id)
            .finish()
    }
}

impl Package {
    /// Reads and validates the package in `dir`: manifest, API version, schema, that the component
    /// file exists. Does not compile anything.
    pub fn load(dir: &Path) -> Result<Package, PackageError> {
        let manifest_path = dir.join("plugin.toml");
        let text =
            std::fs::read_to_string(&manifest_path).map_err(|source| PackageError::Read {
                path: manifest_path.clone(),
                source,
            })?;
        let manifest = Manifest::parse(&text, &manifest_path.display().to_string())
            .map_err(PackageError::Manifest)?;

        if api::served_for(&manifest.api).is_none() {
            return Err(PackageError::IncompatibleApi {
                id: manifest.id.clone(),
                required: manifest.api.clone(),
            });
        }

        let (schema, outbound_keys) = match &manifest.config_schema {
            None => (None, Vec::new()),
            Some(file) => {
                let (schema, keys) = load_schema(&manifest.id, &dir.join(file))?;
                (Some(schema), keys)
            }
        };

        let component_path = dir.join(manifest.component_file());
        if !component_path.is_file() {
            return Err(PackageError::MissingComponent {
                id: manifest.id.clone(),
                path: component_path,
            });
        }
        Ok(Package {
            dir: dir.to_path_buf(),
            manifest,
            component_path,
            schema,
            outbound_keys,
        })
    }

    /// The config properties marked with [`OUTBOUND_KEYWORD`].
    pub fn outbound_keys(&self) -> &[OutboundKey] {
        &self.outbound_keys
    }

    /// Every URL of `config` in a property marked with [`OUTBOUND_KEYWORD`] (or the schema's
    /// default where `config` has none) that the plugin may not reach under `outbound`, each as a
    /// problem naming the key, the value and what to add where. An empty string is taken as
    /// "none" (a plugin's way to leave a feature off), and a value of another type is the
    /// schema's to refuse.
    pub fn outbound_config_problems(
        &self,
        config: &Value,
        outbound: &OutboundPolicy,
    ) -> Vec<String> {
        let id = &self.manifest.id;
        let mut problems = Vec::new();
        for key in &self.outbound_keys {
            let set = key
                .path
                .iter()
                .try_fold(config, |value, name| value.get(name));
            let (url, from_default) = match set {
                Some(Value::String(url)) => (url.as_str(), false),
                Some(_) => continue,
                None => match &key.default {
                    Some(url) => (url.as_str(), true),
                    None => continue,
                },
            };
            if url.is_empty() {
                continue;
            }
            let at = format!(
                "plugins.{id}.config.{} = {url:?}{}",
                key.path.join("."),
                if from_default {
                    " (the schema's default)"
                } else {
                    ""
                }
            );
            match destination(url) {
                Err(refusal) => problems.push(format!(
                    "{at}: {refusal}; give the URL of the server the plugin is to reach"
                )),
                Ok(to) if !outbound.allows(&to.origin) => {
                    problems.push(format!("{at}: {}", outbound.not_granted(id, &to.origin)))
                }
                Ok(_) => {}
            }
        }
        problems
    }

    /// Validates the operator's config for this plugin against its schema. A plugin without a
    /// schema accepts only an empty config, so a misplaced key is never silently ignored.
    pub fn validate_config(&self, config: &Value) -> Result<(), PackageError> {
        let id = self.manifest.id.clone();
        match &self.schema {
            Some(schema) => {
                let errors: Vec<String> = schema
                    .iter_errors(config)
                    .map(|e| {
                        let at = e.instance_path.to_string();
                        let at = if at.is_empty() { "/".to_string() } else { at };
                        format!("at {at}: {e}")
                    })
                    .collect();
                if errors.is_empty() {
                    Ok(())
                } else {
                    Err(PackageError::Config {
                        id,
                        errors: errors.join("; "),
                    })
                }
            }
            None if config.as_object().is_some_and(|o| o.is_empty()) => Ok(()),
            None => Err(PackageError::Config {
                id,
                errors:
                    "the plugin declares no config-schema, so it takes no config; remove the table"
                        .into(),
            }),
        }
    }
}

fn load_schema(
    id: &str,
    path: &Path,
) -> Result<(jsonschema::Validator, Vec<OutboundKey>), PackageError> {
    let err = |message: String| PackageError::Schema {
        id: id.to_string(),
        path: path.to_path_buf(),
        message,
    };
    let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
    let schema: Value = serde_json::from_str(&text).map_err(|e| err(format!("not JSON: {e}")))?;
    let validator = jsonschema::validator_for(&schema)
        .map_err(|e| err(format!("not a valid JSON Schema: {e}")))?;
    let mut keys = Vec::new();
    outbound_keys(&schema, &mut Vec::new(), &mut keys).map_err(err)?;
    Ok((validator, keys))
}

/// Collects the properties of `schema` (under `path`) marked with [`OUTBOUND_KEYWORD`], following
/// nested `properties`. A mark on a property that is not a string is refused: it can hold no URL.
fn outbound_keys(
    schema: &Value,
    path: &mut Vec<String>,
    keys: &mut Vec<OutboundKey>,
) -> Result<(), String> {
    let Some(properties) = schema.get("properties").and_then(Value::as_object) else {
        return Ok(());
    };
    if path.len() >= MAX_SCHEMA_DEPTH {
        return Ok(());
    }
    for (name, property) in properties {
        path.push(name.clone());
        match property.get(OUTBOUND_KEYWORD) {
            None | Some(Value::Bool(false)) => {}
            Some(Value::Bool(true)) => {
                if property.get("type").and_then(Value::as_str) != Some("string") {
                    return Err(format!(
                        "`{OUTBOUND_KEYWORD}` marks property `{}`, which is not of type \"string\"; \
                         only a string can hold the URL the plugin reaches",
                        path.join(".")
                    ));
                }
                keys.push(OutboundKey {
                    path: path.clone(),
                    default: property
                        .get("default")
                        .and_then(Value::as_str)
                        .map(str::to_string),
                });
            }
            Some(other) => {
                return Err(format!(
                    "`{OUTBOUND_KEYWORD}` of property `{}` is {other}; write true or leave it out",
                    path.join(".")
                ))
            }
        }
        outbound_keys(property, path, keys)?;
        path.pop();
    }
    Ok(())
}
