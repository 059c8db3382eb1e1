//! Turning [`PolicySources`] into a ready-to-evaluate policy set.
//!
//! Everything that can be done once is done here: parsing, strict validation,
//! policy-id assignment, annotation lookup, entity closure, the action index
//! and the policy-set version hash. Decisions then only evaluate.

use std::collections::{BTreeMap, HashMap};
use std::str::FromStr;
use std::sync::Arc;

use cedar_policy::{
    Effect, Entities, EntityUid, Policy, PolicyId, PolicySet, Schema, ValidationMode, ValidationWarning, Validator,
};
use sha2::{Digest, Sha256};

use crate::error::{LoadError, PolicyIssue};
use crate::request_shape::{action_shapes, ActionShape};
use crate::scope_index::ScopeIndex;
use crate::source::PolicySources;

/// What the engine knows about one loaded policy: its id, where it came from,
/// its effect and its annotations (`@owner`, `@ask`, `@control`, ...).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PolicyInfo {
    /// The policy id: its `@id` annotation, else Cedar's `policyN`.
    pub id: String,
    /// The file the policy was read from.
    pub file: String,
    /// `permit` or `forbid`.
    pub effect: Effect,
    /// Every annotation, by name.
    pub annotations: BTreeMap<String, String>,
    /// The owner named by `@ask("...")` (forbid policies only).
    pub ask: Option<String>,
    /// `@mode("shadow")`: evaluated and reported in [`crate::Decision::shadow`],
    /// never enforced.
    pub shadow: bool,
}

impl PolicyInfo {
    /// The `@owner` annotation, if present.
    pub fn owner(&self) -> Option<&str> {
        self.annotations.get("owner").map(String::as_str)
    }
}

/// A validated, indexed policy set with its schema and entities.
#[derive(Debug)]
pub(crate) struct Compiled {
    pub schema: Schema,
    pub entities: Entities,
    pub meta: HashMap<PolicyId, Arc<PolicyInfo>>,
    /// Which policies can apply to which requests.
    pub index: ScopeIndex,
    /// What a request for each schema action must look like (the fast request path).
    pub shapes: HashMap<EntityUid, ActionShape>,
    /// `open_pr` -> `Action::"open_pr"` for action ids that are unique in the schema.
    pub action_shorthand: HashMap<String, EntityUid>,
    pub version: Arc<str>,
    pub policy_count: usize,
    /// Whether any policy is `@mode("shadow")`.
    pub has_shadow: bool,
    /// Policies and entities in the compiled evaluator's form.
    pub fast: crate::fast::FastSet,
}

/// Whether load refuses policies that do not pass strict validation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OnInvalid {
    Refuse,
    Accept,
}

/// Deepest bracket nesting (`(`, `[`, `{`, and `<` in schemas) accepted in
/// policy and schema text. Cedar's parser recurses per level; deeper text is
/// refused before it is parsed, so that hostile text cannot exhaust the stack
/// (at load, or later when a deeply nested expression is evaluated).
pub const MAX_NESTING: usize = 48;

/// Stack for the thread that parses and validates: Cedar's parser and validator
/// recurse, and the caller's thread may have a small stack (a Python or Node
/// worker thread). Only the pages actually touched are committed.
const LOAD_STACK_BYTES: usize = 64 << 20;

/// Runs `f` on a thread with a large stack (see [`LOAD_STACK_BYTES`]).
fn on_load_stack<T: Send>(f: impl FnOnce() -> Result<T, LoadError> + Send) -> Result<T, LoadError> {
    std::thread::scope(|scope| {
        let spawned = std::thread::Builder::new()
            .name("agentauthz-load".into())
            .stack_size(LOAD_STACK_BYTES)
            .spawn_scoped(scope, f);
        match spawned {
            Ok(handle) => handle.join().unwrap_or_else(|_| {
                Err(LoadError::Unsupported {
                    file: "<load>".into(),
                    message: "policy loading failed unexpectedly".into(),
                })
            }),
            Err(e) => Err(LoadError::Unsupported {
                file: "<load>".into(),
                message: format!("cannot start the load thread: {e}"),
            }),
        }
    })
}

/// Refuses text nested deeper than [`MAX_NESTING`], outside string literals
/// and `//` comments. `angle` also counts `<`/`>` (schema generics).
fn check_nesting(name: &str, text: &str, angle: bool) -> Result<(), LoadError> {
    let (mut depth, mut line, mut in_str, mut escaped, mut in_comment) = (0usize, 1usize, false, false, false);
    let mut prev = '\0';
    for c in text.chars() {
        if c == '\n' {
            line += 1;
            in_comment = false;
        } else if in_comment {
        } else if in_str {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_str = false;
            }
        } else if c == '"' {
            in_str = true;
        } else if c == '/' && prev == '/' {
            in_comment = true;
        } else if c == '(' || c == '[' || c == '{' || (angle && c == '<') {
            depth += 1;
            if depth > MAX_NESTING {
                return Err(LoadError::Unsupported {
                    file: format!("{name}:{line}"),
                    message: format!("nested deeper than {MAX_NESTING} levels; refused"),
                });
            }
        } else if c == ')' || c == ']' || c == '}' || (angle && c == '>') {
            depth = depth.saturating_sub(1);
        }
        prev = c;
    }
    Ok(())
}

/// Refuses over-deep schema or policy text (see [`MAX_NESTING`]).
fn check_sources(sources: &PolicySources) -> Result<(), LoadError> {
    check_nesting(&sources.schema.name, &sources.schema.text, true)?;
    for p in &sources.policies {
        check_nesting(&p.name, &p.text, false)?;
    }
    Ok(())
}

pub(crate) fn compile(sources: &PolicySources, on_invalid: OnInvalid) -> Result<Compiled, LoadError> {
    check_sources(sources)?;
    on_load_stack(|| compile_checked(sources, on_invalid))
}

fn compile_checked(sources: &PolicySources, on_invalid: OnInvalid) -> Result<Compiled, LoadError> {
    let schema = parse_schema(sources)?;
    let (policies, meta) = parse_policies(sources)?;
    if on_invalid == OnInvalid::Refuse {
        let issues = validate(&schema, &policies, &meta, sources);
        if !issues.is_empty() {
            return Err(LoadError::Validation { issues });
        }
    }
    let entities = parse_entities(sources, &schema)?;
    let shapes = action_shapes(&sources.schema.text);
    let fast = crate::fast::build(&entities, &policies, shapes.values());
    let index = ScopeIndex::build(&schema, &entities, &policies, &fast.policies)
        .map_err(|message| LoadError::Unsupported { file: "<policies>".into(), message })?;
    let action_shorthand = action_shorthand(&schema);
    let has_shadow = meta.values().any(|m| m.shadow);
    Ok(Compiled {
        has_shadow,
        shapes,
        version: version_hash(sources).into(),
        policy_count: policies.num_of_policies(),
        schema,
        entities,
        meta,
        index,
        action_shorthand,
        fast,
    })
}

/// Strict validation of policies against the schema, without building an engine.
pub(crate) fn validate_sources(sources: &PolicySources) -> Result<Vec<PolicyIssue>, LoadError> {
    check_sources(sources)?;
    on_load_stack(|| {
        let schema = parse_schema(sources)?;
        let (policies, meta) = parse_policies(sources)?;
        Ok(validate(&schema, &policies, &meta, sources))
    })
}

/// Whether schema text is Cedar's JSON schema format rather than Cedar schema
/// syntax: the Cedar syntax cannot begin with `{`, JSON schemas always do.
pub(crate) fn is_json_schema(text: &str) -> bool {
    text.trim_start().starts_with('{')
}

fn parse_schema(sources: &PolicySources) -> Result<Schema, LoadError> {
    let text = &sources.schema.text;
    if is_json_schema(text) {
        return Schema::from_json_str(text).map_err(|e| LoadError::Schema {
            file: sources.schema.name.clone(),
            line: None,
            message: diagnostic_message(&e),
        });
    }
    Schema::from_cedarschema_str(text).map(|(s, _warnings)| s).map_err(|e| LoadError::Schema {
        file: sources.schema.name.clone(),
        line: line_of(&e, text),
        message: diagnostic_message(&e),
    })
}

fn parse_entities(sources: &PolicySources, schema: &Schema) -> Result<Entities, LoadError> {
    match &sources.entities {
        Some(e) => Entities::from_json_str(&e.text, Some(schema))
            .map_err(|err| LoadError::Entities { file: e.name.clone(), message: diagnostic_message(&err) }),
        None => schema
            .action_entities()
            .map_err(|err| LoadError::Entities { file: "<schema actions>".into(), message: err.to_string() }),
    }
}

type Parsed = (PolicySet, HashMap<PolicyId, Arc<PolicyInfo>>);

/// Parses every policy file; ids are `@id` when given, else `policyN` numbered
/// across files in order (for one file these are exactly Cedar's own ids).
fn parse_policies(sources: &PolicySources) -> Result<Parsed, LoadError> {
    let mut set = PolicySet::new();
    let mut meta: HashMap<PolicyId, Arc<PolicyInfo>> = HashMap::new();
    let mut index = 0usize;
    for file in &sources.policies {
        let parsed = PolicySet::from_str(&file.text).map_err(|e| LoadError::PolicySyntax {
            file: file.name.clone(),
            line: line_of(&e, &file.text),
            message: diagnostic_message(&e),
        })?;
        if parsed.num_of_templates() > 0 {
            return Err(LoadError::Unsupported {
                file: file.name.clone(),
                message: "policy templates (?principal / ?resource slots) are not supported yet".into(),
            });
        }
        let mut in_order: Vec<&Policy> = parsed.policies().collect();
        in_order.sort_by_key(|p| cedar_position(p.id()));
        for policy in in_order {
            let id = match policy.annotation("id") {
                Some(id) => id.to_string(),
                None => format!("policy{index}"),
            };
            index += 1;
            let pid = PolicyId::new(&id);
            if let Some(first) = meta.get(&pid) {
                return Err(LoadError::DuplicatePolicyId { id, first: first.file.clone(), second: file.name.clone() });
            }
            let annotations: BTreeMap<String, String> =
                policy.annotations().map(|(k, v)| (k.to_string(), v.to_string())).collect();
            let ask = match (policy.effect(), policy.annotation("ask")) {
                (Effect::Forbid, Some(owner)) if !owner.trim().is_empty() => Some(owner.to_string()),
                (_, None) => None,
                (Effect::Permit, Some(_)) => {
                    return Err(LoadError::Unsupported {
                        file: file.name.clone(),
                        message: format!("policy `{id}`: @ask applies to forbid policies only"),
                    })
                }
                (Effect::Forbid, Some(_)) => {
                    return Err(LoadError::Unsupported {
                        file: file.name.clone(),
                        message: format!("policy `{id}`: @ask needs the owner to ask, e.g. @ask(\"security\")"),
                    })
                }
            };
            let shadow = match policy.annotation("mode").map(str::trim) {
                None | Some("enforce") => false,
                Some("shadow") => true,
                Some(other) => {
                    return Err(LoadError::Unsupported {
                        file: file.name.clone(),
                        message: format!(
                            "policy `{id}`: @mode(\"{other}\") is not a mode; use \"shadow\" or \"enforce\""
                        ),
                    })
                }
            };
            let renamed = policy.new_id(pid.clone());
            set.add(renamed).map_err(|e| LoadError::Unsupported { file: file.name.clone(), message: e.to_string() })?;
            meta.insert(
                pid,
                Arc::new(PolicyInfo { id, file: file.name.clone(), effect: policy.effect(), annotations, ask, shadow }),
            );
        }
    }
    Ok((set, meta))
}

/// Cedar names the n-th policy of a file `policyN`; sorting on N restores text order.
fn cedar_position(id: &PolicyId) -> usize {
    id.to_string().strip_prefix("policy").and_then(|n| n.parse().ok()).unwrap_or(usize::MAX)
}

fn validate(
    schema: &Schema,
    policies: &PolicySet,
    meta: &HashMap<PolicyId, Arc<PolicyInfo>>,
    sources: &PolicySources,
) -> Vec<PolicyIssue> {
    let result = Validator::new(schema.clone()).validate(policies, ValidationMode::Strict);
    let text_of = |file: &str| sources.policies.iter().find(|p| p.name == file).map(|p| p.text.as_str());
    let issue = |id: &PolicyId, diag: &dyn miette::Diagnostic| {
        let m = meta.get(id);
        let file = m.map(|m| m.file.clone()).unwrap_or_default();
        PolicyIssue {
            line: text_of(&file).and_then(|t| line_of(diag, t)),
            policy_id: m.map(|m| m.id.clone()).unwrap_or_else(|| id.to_string()),
            file,
            message: diagnostic_message(diag),
        }
    };
    let mut issues: Vec<PolicyIssue> = result.validation_errors().map(|e| issue(e.policy_id(), e)).collect();
    // A policy whose scope matches no action's `appliesTo` can never apply: for a
    // forbid that is a silent hole. Cedar up to 4.10 rejected it in strict mode;
    // newer versions only warn. We keep rejecting it.
    issues.extend(
        result
            .validation_warnings()
            .filter(|w| matches!(w, ValidationWarning::InvalidActionApplication(_)))
            .map(|w| issue(w.policy_id(), w)),
    );
    issues.sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));
    issues
}

fn action_shorthand(schema: &Schema) -> HashMap<String, EntityUid> {
    let mut seen: HashMap<String, Option<EntityUid>> = HashMap::new();
    for a in schema.actions() {
        let id = a.id().unescaped().to_string();
        seen.entry(id).and_modify(|v| *v = None).or_insert_with(|| Some(a.clone()));
    }
    seen.into_iter().filter_map(|(k, v)| v.map(|v| (k, v))).collect()
}

/// `sha256:` plus the first 16 hex digits of a hash over every input, in order.
fn version_hash(sources: &PolicySources) -> String {
    let mut h = Sha256::new();
    let mut feed = |tag: &str, text: &str| {
        h.update(tag.as_bytes());
        h.update((text.len() as u64).to_le_bytes());
        h.update(text.as_bytes());
    };
    feed("schema", &sources.schema.text);
    for p in &sources.policies {
        feed("policies", &p.text);
    }
    if let Some(e) = &sources.entities {
        feed("entities", &e.text);
    }
    let digest = h.finalize();
    let hex: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// 1-based line of a diagnostic's first labelled span in `text`.
fn line_of(diag: &dyn miette::Diagnostic, text: &str) -> Option<usize> {
    let span = diag.labels()?.next()?;
    let before = text.as_bytes().get(..span.offset())?;
    Some(before.iter().filter(|&&b| b == b'\n').count() + 1)
}

/// The error's message, its first underlying cause and Cedar's help text, if any.
pub(crate) fn diagnostic_message(diag: &dyn miette::Diagnostic) -> String {
    let mut msg = diag.to_string();
    if let Some(cause) = std::error::Error::source(diag) {
        let cause = cause.to_string();
        if !msg.contains(&cause) {
            msg.push_str(": ");
            msg.push_str(&cause);
        }
    }
    if let Some(help) = diag.help() {
        msg.push_str(" (help: ");
        msg.push_str(&help.to_string());
        msg.push(')');
    }
    msg
}
