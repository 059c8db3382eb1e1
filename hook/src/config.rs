//! The declarative mapping of tool calls onto a policy model: built-in
//! defaults (`default-mapping.toml`) merged with an organisation's overrides.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

/// The built-in mapping, as TOML text.
pub const DEFAULT_MAPPING: &str = include_str!("default-mapping.toml");

/// How tool calls become authorization requests.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mapping {
    /// The principal's entity type.
    pub principal: PrincipalCfg,
    /// The repository the agent works in.
    pub repository: RepositoryCfg,
    /// The credential presented with each request.
    pub credential: CredentialCfg,
    /// Session counters the hook fills.
    pub session: SessionCfg,
    /// Model action names.
    pub actions: ActionsCfg,
    /// Model entity types.
    pub entities: EntitiesCfg,
    /// File classification.
    pub files: FilesCfg,
    /// Web tools.
    pub web: WebCfg,
    /// Shell command classification.
    pub shell: ShellCfg,
    /// Tools by name.
    pub tools: BTreeMap<String, ToolCfg>,
}

/// The principal's entity type.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrincipalCfg {
    /// e.g. `Agent`.
    pub entity_type: String,
}

/// Repository settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RepositoryCfg {
    /// e.g. `Repository`.
    pub entity_type: String,
    /// Repository ids by absolute root path.
    pub ids: BTreeMap<String, String>,
    /// e.g. `Branch` (ids `<repo>/<branch>`).
    pub branch_entity_type: String,
}

/// The credential the hook presents.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CredentialCfg {
    /// Credential id; `{session}` is replaced by the session id.
    pub id: String,
    /// Scopes.
    pub scopes: Vec<String>,
    /// Lifetime of the credential presented with each call.
    pub lifetime_seconds: u64,
}

/// Session counters.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionCfg {
    /// Counter names (`actions`, `repos_touched`, `same_action`).
    pub counters: Vec<String>,
}

/// Model action names for each kind of effect.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionsCfg {
    /// Reading a file in the repository.
    pub read_file: String,
    /// Writing a file in the repository.
    pub write_file: String,
    /// Running a shell command.
    pub run_command: String,
    /// `git push`.
    pub push: String,
    /// A network call.
    pub network: String,
    /// An MCP tool.
    pub mcp: String,
    /// Reading a secret-looking file.
    pub read_secret: String,
    /// Writing a secret-looking file.
    pub write_secret: String,
}

/// Model entity types.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntitiesCfg {
    /// Files outside the repository.
    pub file_outside: String,
    /// Secret files.
    pub secret: String,
    /// Network hosts.
    pub api_host: String,
    /// MCP tools.
    pub tool: String,
}

/// File classification.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilesCfg {
    /// Secret-looking file names (`*` and `?` wildcards; `dir/` for folders).
    pub secret_patterns: Vec<String>,
}

/// Web tools.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebCfg {
    /// The host a web search is attributed to.
    pub search_host: String,
}

/// Shell command classification, by command name.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShellCfg {
    /// Prefix commands that run their arguments as a command.
    pub wrappers: Vec<String>,
    /// Shells (`-c SCRIPT` is analysed).
    pub shells: Vec<String>,
    /// Interpreters whose inline programs are denied.
    pub opaque: Vec<String>,
    /// Commands that read their file arguments.
    pub readers: Vec<String>,
    /// Commands that write their file arguments.
    pub writers: Vec<String>,
    /// Commands that read all but the last argument and write the last.
    pub copiers: Vec<String>,
    /// Commands that call the network.
    pub network: Vec<String>,
}

/// One tool.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToolCfg {
    /// What the tool does.
    pub kind: ToolKind,
    /// Where its argument is in `tool_input` (first present wins).
    #[serde(default)]
    pub field: Vec<String>,
}

/// What a tool does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ToolKind {
    /// Runs a shell command.
    Shell,
    /// Reads a file.
    Read,
    /// Writes a file.
    Write,
    /// Lists or searches a folder.
    Search,
    /// Fetches a URL.
    Fetch,
    /// Searches the web.
    Websearch,
    /// An MCP tool.
    Mcp,
    /// Touches nothing the model covers (to-do lists, plan mode): allowed, audited.
    None,
}

impl Mapping {
    /// The built-in mapping.
    pub fn builtin() -> Result<Self, String> {
        Self::from_layers(&[DEFAULT_MAPPING])
    }

    /// The built-in mapping overridden by a TOML file.
    pub fn with_overrides(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read mapping {}: {e}", path.display()))?;
        Self::with_override_text(&text, path)
    }

    /// The built-in mapping overridden by `text`, read from `path` (named in errors).
    pub fn with_override_text(text: &str, path: &Path) -> Result<Self, String> {
        Self::from_layers(&[DEFAULT_MAPPING, text]).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Later layers override earlier ones, table by table, key by key.
    pub fn from_layers(layers: &[&str]) -> Result<Self, String> {
        let mut merged = toml::Table::new();
        for text in layers {
            let table: toml::Table = toml::from_str(text).map_err(|e| e.to_string())?;
            merge(&mut merged, table);
        }
        toml::Value::Table(merged).try_into().map_err(|e: toml::de::Error| e.to_string())
    }

    /// The tool's mapping: by exact name, MCP tools (`mcp__server__tool`) as `mcp`.
    pub fn tool(&self, name: &str) -> Option<ToolCfg> {
        if let Some(t) = self.tools.get(name) {
            return Some(t.clone());
        }
        name.starts_with("mcp__").then(|| ToolCfg { kind: ToolKind::Mcp, field: vec![] })
    }
}

fn merge(into: &mut toml::Table, from: toml::Table) {
    for (k, v) in from {
        match (into.get_mut(&k), v) {
            (Some(toml::Value::Table(a)), toml::Value::Table(b)) => merge(a, b),
            (_, v) => {
                into.insert(k, v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_parses_and_overrides_merge_key_by_key() {
        let m = Mapping::builtin().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(m.actions.run_command, "run_command");
        let o = Mapping::from_layers(&[
            DEFAULT_MAPPING,
            "[actions]\nwrite_file = \"push_commit\"\n[tools.Bash]\nkind = \"none\"\n",
        ])
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(o.actions.write_file, "push_commit");
        assert_eq!(o.actions.read_file, "read_repo");
        assert_eq!(o.tools.get("Bash").map(|t| t.kind), Some(ToolKind::None));
        assert!(Mapping::from_layers(&[DEFAULT_MAPPING, "[actions]\nbogus = 1\n"]).is_err());
    }
}
