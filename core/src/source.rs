//! Reading policy folders and files into memory, before anything is parsed.

use std::path::{Path, PathBuf};

use crate::error::LoadError;

/// A piece of text and the name (usually a file path) used in error messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedText {
    /// Where the text came from, e.g. `policies-examples/coding-agent/policies.cedar`.
    pub name: String,
    /// The text itself.
    pub text: String,
}

impl NamedText {
    /// Pairs a name with its text.
    pub fn new(name: impl Into<String>, text: impl Into<String>) -> Self {
        Self { name: name.into(), text: text.into() }
    }

    fn read(path: &Path) -> Result<Self, LoadError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| LoadError::Io { path: path.to_path_buf(), source })?;
        Ok(Self::new(path.display().to_string(), text))
    }
}

/// The raw inputs of an engine: one schema, policy files, optional entities.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicySources {
    /// The Cedar schema: Cedar schema syntax, or Cedar's JSON schema format
    /// (text whose first non-blank character is `{`).
    pub schema: NamedText,
    /// Policy files in Cedar syntax, in evaluation-id order.
    pub policies: Vec<NamedText>,
    /// Cedar entity JSON (an array), if any.
    pub entities: Option<NamedText>,
}

impl PolicySources {
    /// Sources given as text.
    pub fn from_strings(schema: &str, policies: &str, entities: Option<&str>) -> Self {
        Self {
            schema: NamedText::new("<schema>", schema),
            policies: vec![NamedText::new("<policies>", policies)],
            entities: entities.map(|e| NamedText::new("<entities>", e)),
        }
    }

    /// Reads a policy folder: exactly one schema (`*.cedarschema`, or
    /// `*.cedarschema.json` in Cedar's JSON schema format), any number of
    /// `*.cedar` files (sorted by name) and an optional `entities.json`.
    pub fn from_dir(dir: impl AsRef<Path>) -> Result<Self, LoadError> {
        let dir = dir.as_ref();
        let mut schemas = files_with_extension(dir, "cedarschema")?;
        schemas.extend(
            files_with_extension(dir, "json")?
                .into_iter()
                .filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().ends_with(".cedarschema.json"))),
        );
        let schema = match schemas.len() {
            1 => schemas.remove(0),
            0 => return Err(folder_error(dir, "no *.cedarschema file (nor a *.cedarschema.json)")),
            n => {
                return Err(folder_error(
                    dir,
                    &format!("{n} schema files (*.cedarschema, *.cedarschema.json); exactly one is expected"),
                ))
            }
        };
        let policies = files_with_extension(dir, "cedar")?;
        if policies.is_empty() {
            return Err(folder_error(dir, "no *.cedar policy files"));
        }
        let entities = dir.join("entities.json");
        let entities = if entities.is_file() { Some(entities) } else { None };
        Self::from_files(&schema, &policies, entities.as_deref())
    }

    /// Reads a schema file, policy files or folders of `*.cedar` files, and an
    /// optional entities file.
    pub fn from_files(schema: &Path, policies: &[PathBuf], entities: Option<&Path>) -> Result<Self, LoadError> {
        let mut policy_files = Vec::new();
        for p in policies {
            if p.is_dir() {
                policy_files.extend(files_with_extension(p, "cedar")?);
            } else {
                policy_files.push(p.clone());
            }
        }
        Ok(Self {
            schema: NamedText::read(schema)?,
            policies: policy_files.iter().map(|p| NamedText::read(p)).collect::<Result<_, _>>()?,
            entities: entities.map(NamedText::read).transpose()?,
        })
    }
}

fn folder_error(dir: &Path, message: &str) -> LoadError {
    LoadError::Folder { path: dir.to_path_buf(), message: message.to_string() }
}

fn files_with_extension(dir: &Path, ext: &str) -> Result<Vec<PathBuf>, LoadError> {
    let io = |source| LoadError::Io { path: dir.to_path_buf(), source };
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let path = entry.map_err(io)?.path();
        if path.is_file() && path.extension().is_some_and(|e| e == ext) {
            out.push(path);
        }
    }
    out.sort();
    Ok(out)
}
