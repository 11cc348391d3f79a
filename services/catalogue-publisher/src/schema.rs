//! Offline validation of STAC items and collections against the STAC core JSON Schemas, loaded
//! from a folder that mirrors their `$id` URLs (`testdata/fixtures/stac-schema/`:
//! `schemas.stacspec.org/v1.1.0/...`, `geojson.org/schema/...`). Nothing is fetched: a `$ref`
//! outside the folder is an error when the validator is built.
//!
//! Only the **core** schemas are checked. The STAC extension schemas (file, processing, eo, ...)
//! are not available offline, so extension fields such as `file:checksum` are not validated and
//! the `stac_extensions` URLs are not followed.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};

use jsonschema::{Draft, Registry, Resource, Validator};
use serde_json::{Value, json};

/// Why the schemas could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    #[error("cannot read STAC schema folder {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("STAC schema {path} is not JSON")]
    Parse {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error(
        "no STAC item schema under {root}: expected schemas.stacspec.org/<version>/item-spec/json-schema/item.json"
    )]
    NoItemSchema { root: PathBuf },
    #[error("the STAC schemas under {root} do not resolve offline")]
    Registry {
        root: PathBuf,
        #[source]
        source: Box<jsonschema::ReferencingError>,
    },
    #[error("STAC schema {uri} does not compile: {message}")]
    Compile { uri: String, message: String },
}

/// Validates STAC documents of every version whose schemas were found.
pub struct StacValidator {
    /// By STAC version (`1.1.0`).
    items: BTreeMap<String, Validator>,
    collections: BTreeMap<String, Validator>,
}

impl StacValidator {
    /// Loads every schema under `schema_root`, each registered under the URL its path mirrors.
    pub fn offline(schema_root: &Path) -> Result<Self, SchemaError> {
        let mut documents = Vec::new();
        collect_json(schema_root, schema_root, &mut documents)?;
        let registry = Registry::new()
            .draft(Draft::Draft7)
            .extend(
                documents
                    .iter()
                    .map(|(uri, schema)| (uri.as_str(), Resource::from_contents(schema.clone()))),
            )
            .and_then(|builder| builder.prepare())
            .map_err(|source| SchemaError::Registry {
                root: schema_root.to_owned(),
                source: Box::new(source),
            })?;
        let mut items = BTreeMap::new();
        let mut collections = BTreeMap::new();
        for (uri, _) in &documents {
            let Some(rest) = uri.strip_prefix("https://schemas.stacspec.org/v") else {
                continue;
            };
            let Some((version, path)) = rest.split_once('/') else {
                continue;
            };
            let target = match path {
                "item-spec/json-schema/item.json" => &mut items,
                "collection-spec/json-schema/collection.json" => &mut collections,
                _ => continue,
            };
            target.insert(version.to_owned(), compile(&registry, uri)?);
        }
        if items.is_empty() {
            return Err(SchemaError::NoItemSchema {
                root: schema_root.to_owned(),
            });
        }
        Ok(Self { items, collections })
    }

    /// The STAC versions items can be validated against.
    pub fn item_versions(&self) -> impl Iterator<Item = &str> {
        self.items.keys().map(String::as_str)
    }

    /// Validates an item against the core item schema of its `stac_version`. Errors read
    /// `<instance path>: <message>`, e.g. `/properties: "datetime" is a required property`.
    pub fn validate_item(&self, item: &Value) -> Result<(), Vec<String>> {
        validate(&self.items, "item", item)
    }

    /// Validates a collection against the core collection schema of its `stac_version`.
    pub fn validate_collection(&self, collection: &Value) -> Result<(), Vec<String>> {
        validate(&self.collections, "collection", collection)
    }
}

fn compile(registry: &Registry<'_>, uri: &str) -> Result<Validator, SchemaError> {
    jsonschema::options()
        .with_draft(Draft::Draft7)
        .with_registry(registry)
        .build(&json!({ "$ref": uri }))
        .map_err(|error| SchemaError::Compile {
            uri: uri.to_owned(),
            message: error.to_string(),
        })
}

fn validate(
    validators: &BTreeMap<String, Validator>,
    kind: &str,
    document: &Value,
) -> Result<(), Vec<String>> {
    let Some(version) = document.get("stac_version").and_then(Value::as_str) else {
        return Err(vec![format!(
            "/: a STAC {kind} needs a string stac_version"
        )]);
    };
    let Some(validator) = validators.get(version) else {
        let known: Vec<&str> = validators.keys().map(String::as_str).collect();
        return Err(vec![format!(
            "/stac_version: no offline schema for STAC {version} {kind}s (have {})",
            known.join(", ")
        )]);
    };
    let errors: Vec<String> = validator
        .iter_errors(document)
        .map(|error| {
            let path = error.instance_path().to_string();
            let path = if path.is_empty() {
                "/".to_owned()
            } else {
                path
            };
            format!("{path}: {error}")
        })
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// Every `*.json` under `dir`, with the `https://` URL its path below `root` mirrors.
fn collect_json(
    root: &Path,
    dir: &Path,
    found: &mut Vec<(String, Value)>,
) -> Result<(), SchemaError> {
    let read_error = |source| SchemaError::Read {
        path: dir.to_owned(),
        source,
    };
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(read_error)?
        .map(|entry| entry.map(|entry| entry.path()))
        .collect::<Result<_, _>>()
        .map_err(read_error)?;
    entries.sort();
    for path in entries {
        if path.is_dir() {
            collect_json(root, &path, found)?;
        } else if path.extension().is_some_and(|ext| ext == "json") {
            let text = std::fs::read(&path).map_err(|source| SchemaError::Read {
                path: path.clone(),
                source,
            })?;
            let schema = serde_json::from_slice(&text).map_err(|source| SchemaError::Parse {
                path: path.clone(),
                source,
            })?;
            let relative = path.strip_prefix(root).expect("found below the root");
            let segments: Vec<String> = relative
                .components()
                .map(|part| part.as_os_str().to_string_lossy().into_owned())
                .collect();
            found.push((format!("https://{}", segments.join("/")), schema));
        }
    }
    Ok(())
}
