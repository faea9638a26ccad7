//! Loading a plugin package from its directory: manifest, API version, config schema, component.
//!
//! Everything here runs before any compilation, so a wrong package costs nothing but an error.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::api;
use super::manifest::Manifest;

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

        let schema = match &manifest.config_schema {
            None => None,
            Some(file) => Some(load_schema(&manifest.id, &dir.join(file))?),
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
        })
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

fn load_schema(id: &str, path: &Path) -> Result<jsonschema::Validator, PackageError> {
    let err = |message: String| PackageError::Schema {
        id: id.to_string(),
        path: path.to_path_buf(),
        message,
    };
    let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
    let schema: Value = serde_json::from_str(&text).map_err(|e| err(format!("not JSON: {e}")))?;
    jsonschema::validator_for(&schema).map_err(|e| err(format!("not a valid JSON Schema: {e}")))
}
