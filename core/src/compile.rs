//! Turning [`PolicySources`] into a ready-to-evaluate policy set.
//!
//! Everything that can be done once is done here: parsing, strict validation,
//! policy-id assignment, annotation lookup, entity closure, the action index
//! and the policy-set version hash. Decisions then only evaluate.

use std::collections::{BTreeMap, HashMap};
use std::str::FromStr;
use std::sync::{Arc, Mutex, OnceLock};

use cedar_policy::{
    Effect, Entities, EntityUid, Policy, PolicyId, PolicySet, Schema, ValidationMode, ValidationWarning, Validator,
};
use sha2::{Digest, Sha256};

use crate::error::{LoadError, PolicyIssue};
use crate::request_shape::{action_shapes, ActionShape, ShapeRef};
use crate::scope_index::ScopeIndex;
use crate::source::{NamedText, PolicySources};

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
    pub meta: crate::fast::FxMap<PolicyId, Arc<PolicyInfo>>,
    /// Which policies can apply to which requests.
    pub index: ScopeIndex,
    /// What a request for each schema action must look like (the fast request path).
    pub shapes: crate::fast::FxMap<EntityUid, ActionShape>,
    /// The shapes with a context record, keyed by the action's number in
    /// `fast` (see [`ShapeRef`]).
    pub shape_refs: crate::fast::FxMap<u32, ShapeRef>,
    /// This compilation's number in the process: a reload, even of the same
    /// text, gets another, since `fast` may number entities differently.
    pub generation: u64,
    /// `open_pr` -> `Action::"open_pr"` for action ids that are unique in the schema.
    pub action_shorthand: crate::fast::FxMap<String, EntityUid>,
    pub version: Arc<str>,
    pub policy_count: usize,
    /// Whether any policy is `@mode("shadow")`.
    pub has_shadow: bool,
    /// The entities in the compiled evaluator's form (its compiled policies
    /// are in the index's buckets).
    pub fast: crate::fast::Store,
}

/// Called as each phase of a load ends (see [`set_load_phase_hook`]).
static LOAD_PHASE_HOOK: OnceLock<fn(&'static str)> = OnceLock::new();

/// Has `hook` called, on the loading thread, as each phase of every later load
/// ends: `"parsed and validated"` (schema, policies and entities),
/// `"compiled evaluator"`, `"scope index"`. For memory benchmarks: a counting allocator
/// read at each phase tells what the phase keeps. Set once per process;
/// returns false (and changes nothing) if a hook was already set.
#[doc(hidden)]
pub fn set_load_phase_hook(hook: fn(&'static str)) -> bool {
    LOAD_PHASE_HOOK.set(hook).is_ok()
}

fn phase(name: &'static str) {
    if let Some(hook) = LOAD_PHASE_HOOK.get() {
        hook(name);
    }
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

/// Policy files at least this large are parsed in pieces on several threads.
const PARALLEL_PARSE_BYTES: usize = 256 << 10;

/// Policy sets at least this large are validated (and compiled) in parts on
/// several threads.
pub(crate) const PARALLEL_MIN_POLICIES: usize = 4_096;

/// Threads a load may use: the machine's parallelism, at most 8.
fn load_threads() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1).clamp(1, 8)
}

/// `f` over every item, each on its own large-stack thread (the first on the
/// calling thread), results in item order. An item whose thread cannot be
/// started (or failed) is run again on the calling thread.
fn in_parallel<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let f = &f;
    std::thread::scope(|scope| {
        let handles: Vec<_> = items
            .iter()
            .skip(1)
            .map(|item| {
                std::thread::Builder::new()
                    .name("agentauthz-load".into())
                    .stack_size(LOAD_STACK_BYTES)
                    .spawn_scoped(scope, move || f(item))
                    .ok()
            })
            .collect();
        let mut out = Vec::with_capacity(items.len());
        out.extend(items.first().map(f));
        for (item, handle) in items.iter().skip(1).zip(handles) {
            out.push(match handle.map(|h| h.join()) {
                Some(Ok(r)) => r,
                _ => f(item),
            });
        }
        out
    })
}

/// Splits policy text into about `n` pieces of whole statements: cuts only
/// after a `;` outside string literals, `//` comments and brackets. Each piece
/// comes with its byte offset in `text`.
fn split_statements(text: &str, n: usize) -> Vec<(usize, &str)> {
    let target = text.len() / n.max(1) + 1;
    let (mut depth, mut in_str, mut escaped, mut in_comment) = (0usize, false, false, false);
    let (mut prev, mut start) = (0u8, 0usize);
    let mut pieces = Vec::new();
    for (i, &c) in text.as_bytes().iter().enumerate() {
        if c == b'\n' {
            in_comment = false;
        } else if in_comment {
        } else if in_str {
            if escaped {
                escaped = false;
            } else if c == b'\\' {
                escaped = true;
            } else if c == b'"' {
                in_str = false;
            }
        } else if c == b'"' {
            in_str = true;
        } else if c == b'/' && prev == b'/' {
            in_comment = true;
        } else if c == b'(' || c == b'[' || c == b'{' {
            depth += 1;
        } else if c == b')' || c == b']' || c == b'}' {
            depth = depth.saturating_sub(1);
        } else if c == b';' && depth == 0 && i + 1 - start >= target && pieces.len() + 1 < n {
            // `;` is ASCII: i + 1 is a character boundary.
            pieces.push((start, text.get(start..=i).unwrap_or_default()));
            start = i + 1;
        }
        prev = c;
    }
    pieces.push((start, text.get(start..).unwrap_or_default()));
    pieces
}

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

/// `a` on a large-stack thread alongside `b` on this one; both results. If
/// the thread cannot be started, or `a` fails unexpectedly there, `a` runs
/// here after `b`.
fn alongside<A: Send, B>(
    a: impl Fn() -> Result<A, LoadError> + Sync,
    b: impl FnOnce() -> B,
) -> (Result<A, LoadError>, B) {
    let a = &a;
    std::thread::scope(|scope| {
        let handle = std::thread::Builder::new()
            .name("agentauthz-load".into())
            .stack_size(LOAD_STACK_BYTES)
            .spawn_scoped(scope, a)
            .ok();
        let second = b();
        let first = match handle.map(|h| h.join()) {
            Some(Ok(r)) => r,
            _ => a(),
        };
        (first, second)
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
    // The schema, then the entities (checked against it), on one thread and
    // the policies on this one: they are independent, and for a small folder
    // each takes milliseconds, which a hook process pays on every tool call.
    // Errors are reported in the order of a sequential load: schema, policies,
    // validation, entities.
    // The request shapes read the schema text on their own: they go with the
    // policies, the shorter side.
    let (schema_side, (parsed, shapes)) = alongside(
        || {
            let schema = parse_schema(sources)?;
            let entities = parse_entities(sources, &schema);
            Ok((schema, entities))
        },
        || (parse_policies(sources, on_invalid == OnInvalid::Refuse), action_shapes(&sources.schema.text)),
    );
    let (schema, entities) = schema_side?;
    let parsed = parsed?;
    if on_invalid == OnInvalid::Refuse {
        let issues = validate(&schema, &parsed, sources);
        if !issues.is_empty() {
            return Err(LoadError::Validation { issues });
        }
    }
    let entities = entities?;
    let Parsed { set: policies, meta, .. } = parsed;
    phase("parsed and validated");
    let policy_count = policies.len();
    // The engine keeps the store; the index keeps the compiled policies (by position).
    let crate::fast::FastSet { mut store, policies: compiled } =
        crate::fast::build(&entities, &policies, shapes.values());
    phase("compiled evaluator");
    let index = ScopeIndex::build(&schema, &entities, policies, &compiled, &mut store)
        .map_err(|message| LoadError::Unsupported { file: "<policies>".into(), message })?;
    phase("scope index");
    drop(compiled);
    let shape_refs = ShapeRef::number(&shapes, &mut store);
    let action_shorthand = action_shorthand(&schema);
    let has_shadow = meta.values().any(|m| m.shadow);
    Ok(Compiled {
        has_shadow,
        shapes,
        shape_refs,
        generation: next_generation(),
        version: version_hash(sources).into(),
        policy_count,
        schema,
        entities,
        meta,
        index,
        action_shorthand,
        fast: store,
    })
}

/// A number no other compilation in the process has.
fn next_generation() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// Strict validation of policies against the schema, without building an engine.
pub(crate) fn validate_sources(sources: &PolicySources) -> Result<Vec<PolicyIssue>, LoadError> {
    check_sources(sources)?;
    on_load_stack(|| {
        let schema = parse_schema(sources)?;
        let parsed = parse_policies(sources, true)?;
        Ok(validate(&schema, &parsed, sources))
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
        // The common forms without Cedar's JSON value parser; anything else,
        // and every error, is Cedar's own reading.
        Some(e) => match crate::entities_json::parse(&e.text, schema) {
            Some(entities) => Ok(entities),
            None => Entities::from_json_str(&e.text, Some(schema))
                .map_err(|err| LoadError::Entities { file: e.name.clone(), message: diagnostic_message(&err) }),
        },
        None => schema
            .action_entities()
            .map_err(|err| LoadError::Entities { file: "<schema actions>".into(), message: err.to_string() }),
    }
}

/// Parsed policy files.
pub(crate) struct Parsed {
    /// Every policy, renamed to its engine id, in load order (ids are unique:
    /// `meta` refuses a duplicate).
    set: Vec<Policy>,
    /// What the engine knows of each.
    meta: crate::fast::FxMap<PolicyId, Arc<PolicyInfo>>,
    /// For policies parsed from a piece of a large file (see [`parse_file`]),
    /// the piece's byte offset in the file.
    bases: HashMap<PolicyId, usize>,
    /// The policies as Cedar parsed them, one set per file or piece, with each
    /// Cedar id's engine id: strict validation goes part by part, and frees
    /// each part where it validated it. Empty when not kept.
    parts: Vec<Mutex<Option<Part>>>,
}

/// Policies as Cedar parsed them, with each Cedar id's engine id.
type Part = (PolicySet, HashMap<PolicyId, PolicyId>);

/// One parsed policy as the engine keeps it: its Cedar id, its engine id, and
/// the renamed policy with what the engine knows of it, or why it is refused.
type Prepared = (PolicyId, String, Result<(Policy, PolicyInfo), LoadError>);

/// Parses one policy file, a large one in pieces on several threads: its
/// policies in text order, each set with the byte offset of its text. When any
/// piece does not parse, the whole file is parsed again, so syntax errors and
/// their lines are Cedar's own for the file.
fn parse_file(file: &NamedText) -> Result<Vec<(usize, PolicySet)>, LoadError> {
    let whole = || {
        PolicySet::from_str(&file.text).map(|set| vec![(0, set)]).map_err(|e| LoadError::PolicySyntax {
            file: file.name.clone(),
            line: line_of(&e, &file.text),
            message: diagnostic_message(&e),
        })
    };
    let threads = load_threads();
    if file.text.len() < PARALLEL_PARSE_BYTES || threads < 2 {
        return whole();
    }
    let pieces = split_statements(&file.text, threads);
    if pieces.len() < 2 {
        return whole();
    }
    let parsed = in_parallel(&pieces, |(base, text)| PolicySet::from_str(text).ok().map(|set| (*base, set)));
    parsed.into_iter().collect::<Option<Vec<_>>>().map_or_else(whole, Ok)
}

/// Parses every policy file; ids are `@id` when given, else `policyN` numbered
/// across files in order (for one file these are exactly Cedar's own ids).
/// Parses every policy file; `keep_parts` keeps the policies as parsed, for
/// [`validate`].
fn parse_policies(sources: &PolicySources, keep_parts: bool) -> Result<Parsed, LoadError> {
    let mut set: Vec<Policy> = Vec::new();
    let mut meta: crate::fast::FxMap<PolicyId, Arc<PolicyInfo>> = Default::default();
    let mut bases: HashMap<PolicyId, usize> = HashMap::new();
    let mut parts = Vec::new();
    let mut index = 0usize;
    for file in &sources.policies {
        let pieces = parse_file(file)?;
        if pieces.iter().any(|(_, parsed)| parsed.num_of_templates() > 0) {
            return Err(LoadError::Unsupported {
                file: file.name.clone(),
                message: "policy templates (?principal / ?resource slots) are not supported yet".into(),
            });
        }
        // Each piece's first policy number (for `policyN` ids), then every
        // policy prepared, a large file's pieces on several threads.
        let mut firsts = Vec::with_capacity(pieces.len());
        for (_, parsed) in &pieces {
            firsts.push(index);
            index += parsed.num_of_policies();
        }
        let jobs: Vec<(&PolicySet, usize)> =
            pieces.iter().zip(&firsts).map(|((_, parsed), first)| (parsed, *first)).collect();
        let prepare = |(parsed, first): &(&PolicySet, usize)| prepare_piece(file, parsed, *first);
        let prepared: Vec<Vec<Prepared>> =
            if jobs.len() > 1 { in_parallel(&jobs, prepare) } else { jobs.iter().map(prepare).collect() };
        // In text order: a duplicate id is reported before the policy's own
        // problems, as a one-by-one load would.
        for ((base, parsed), piece) in pieces.into_iter().zip(prepared) {
            let mut ids = HashMap::with_capacity(piece.len());
            for (cedar_id, id, result) in piece {
                let pid = PolicyId::new(&id);
                if let Some(first) = meta.get(&pid) {
                    return Err(LoadError::DuplicatePolicyId {
                        id,
                        first: first.file.clone(),
                        second: file.name.clone(),
                    });
                }
                let (renamed, info) = result?;
                set.push(renamed);
                if base > 0 {
                    bases.insert(pid.clone(), base);
                }
                meta.insert(pid.clone(), Arc::new(info));
                ids.insert(cedar_id, pid);
            }
            if keep_parts {
                parts.push(Mutex::new(Some((parsed, ids))));
            }
        }
    }
    Ok(Parsed { set, meta, bases, parts })
}

/// Prepares the policies of one parsed file or piece, in text order; the
/// first is policy number `first` of the whole load.
fn prepare_piece(file: &NamedText, parsed: &PolicySet, first: usize) -> Vec<Prepared> {
    let mut in_order: Vec<&Policy> = parsed.policies().collect();
    in_order.sort_by_key(|p| cedar_position(p.id()));
    in_order
        .into_iter()
        .enumerate()
        .map(|(i, policy)| {
            let id = match policy.annotation("id") {
                Some(id) => id.to_string(),
                None => format!("policy{}", first + i),
            };
            let result = prepare_policy(file, policy, &id);
            (policy.id().clone(), id, result)
        })
        .collect()
}

/// One policy renamed to `id`, with its annotations checked.
fn prepare_policy(file: &NamedText, policy: &Policy, id: &str) -> Result<(Policy, PolicyInfo), LoadError> {
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
                message: format!("policy `{id}`: @mode(\"{other}\") is not a mode; use \"shadow\" or \"enforce\""),
            })
        }
    };
    let renamed = policy.new_id(PolicyId::new(id));
    let info =
        PolicyInfo { id: id.to_string(), file: file.name.clone(), effect: policy.effect(), annotations, ask, shadow };
    Ok((renamed, info))
}

/// Cedar names the n-th policy of a file `policyN`; sorting on N restores text order.
fn cedar_position(id: &PolicyId) -> usize {
    id.to_string().strip_prefix("policy").and_then(|n| n.parse().ok()).unwrap_or(usize::MAX)
}

fn validate(schema: &Schema, parsed: &Parsed, sources: &PolicySources) -> Vec<PolicyIssue> {
    let text_of = |file: &str| sources.policies.iter().find(|p| p.name == file).map(|p| p.text.as_str());
    let issue = |id: &PolicyId, diag: &dyn miette::Diagnostic| {
        let m = parsed.meta.get(id);
        let file = m.map(|m| m.file.clone()).unwrap_or_default();
        let base = parsed.bases.get(id).copied().unwrap_or(0);
        PolicyIssue {
            line: text_of(&file).and_then(|t| line_at(diag, t, base)),
            policy_id: m.map(|m| m.id.clone()).unwrap_or_else(|| id.to_string()),
            file,
            message: diagnostic_message(diag),
        }
    };
    let validator = Validator::new(schema.clone());
    let check = |slot: &Mutex<Option<Part>>| -> Vec<PolicyIssue> {
        let taken = slot.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take();
        let Some((part, ids)) = taken else {
            // Only if a validating thread failed part-way: refuse the load.
            return vec![PolicyIssue {
                file: "<policies>".into(),
                line: None,
                policy_id: String::new(),
                message: "validation failed unexpectedly".into(),
            }];
        };
        // Policies of one validation shape get one verdict: when one of each
        // shape validates, the part does. Otherwise (or when no two policies
        // share a shape) the whole part is validated, so issues and their
        // order are Cedar's own.
        if let Some(representatives) = crate::validation_shape::one_of_each_shape(&part, schema) {
            if crate::validation_shape::is_clean(&validator.validate(&representatives, ValidationMode::Strict)) {
                return Vec::new();
            }
        }
        let ours = |cedar: &PolicyId| ids.get(cedar).cloned().unwrap_or_else(|| cedar.clone());
        let result = validator.validate(&part, ValidationMode::Strict);
        let mut issues: Vec<PolicyIssue> = result.validation_errors().map(|e| issue(&ours(e.policy_id()), e)).collect();
        // A policy whose scope matches no action's `appliesTo` can never apply: for a
        // forbid that is a silent hole. Cedar up to 4.10 rejected it in strict mode;
        // newer versions only warn. We keep rejecting it.
        issues.extend(
            result
                .validation_warnings()
                .filter(|w| matches!(w, ValidationWarning::InvalidActionApplication(_)))
                .map(|w| issue(&ours(w.policy_id()), w)),
        );
        issues
    };
    // Strict validation checks each static policy on its own against the
    // schema: a large load is validated part by part on several threads.
    let threads = load_threads();
    let mut issues: Vec<PolicyIssue> = if parsed.set.len() >= PARALLEL_MIN_POLICIES
        && threads > 1
        && parsed.parts.len() > 1
    {
        let groups: Vec<_> = parsed.parts.chunks(parsed.parts.len().div_ceil(threads)).collect();
        in_parallel(&groups, |group| group.iter().flat_map(check).collect::<Vec<_>>()).into_iter().flatten().collect()
    } else {
        parsed.parts.iter().flat_map(check).collect()
    };
    issues.sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));
    issues
}

fn action_shorthand(schema: &Schema) -> crate::fast::FxMap<String, EntityUid> {
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
    line_at(diag, text, 0)
}

/// [`line_of`] for a diagnostic about text that starts `base` bytes into `text`.
fn line_at(diag: &dyn miette::Diagnostic, text: &str, base: usize) -> Option<usize> {
    let span = diag.labels()?.next()?;
    let before = text.as_bytes().get(..base.checked_add(span.offset())?)?;
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]
    use super::*;

    #[test]
    fn statements_split_only_after_top_level_semicolons() {
        let text = "@id(\"a;\") permit(principal, action, resource) when { [1,2].contains(1) };\n\
                    // a comment; with \" and ;\n\
                    forbid(principal, action, resource) when { context.s == \"x;\\\";y\" };\n\
                    permit(principal, action, resource);";
        for n in 1..8 {
            let pieces = split_statements(text, n);
            assert!(pieces.len() <= n.max(1), "{n}: {pieces:?}");
            assert_eq!(pieces.iter().map(|(_, p)| *p).collect::<String>(), text);
            for (base, piece) in &pieces {
                assert_eq!(&text[*base..*base + piece.len()], *piece);
                assert!(PolicySet::from_str(piece).is_ok(), "{n}: {piece:?}");
            }
            let total: usize = pieces.iter().map(|(_, p)| PolicySet::from_str(p).unwrap().num_of_policies()).sum();
            assert_eq!(total, 3);
        }
        // Cuts fall after the first and second statements only.
        let cuts: Vec<usize> = split_statements(text, 3).iter().map(|(b, _)| *b).collect();
        assert_eq!(cuts.len(), 3, "{cuts:?}");
        assert!(text[..cuts[1]].ends_with("contains(1) };"));
        assert!(text[..cuts[2]].ends_with("\\\";y\" };"));
    }

    /// A file of `n` policies, one per line (1-based line k holds policy k-1);
    /// `bad` replaces the policy on that line.
    fn big_file(n: usize, bad: Option<(usize, &str)>) -> PolicySources {
        let schema = "entity Agent; entity Repo; action read appliesTo { principal: Agent, resource: Repo };";
        let text: String = (0..n)
            .map(|i| match bad {
                Some((line, policy)) if line == i + 1 => format!("{policy}\n"),
                _ => format!(
                    "@id(\"p{i}\") permit(principal == Agent::\"a{i}\", action == Action::\"read\", resource == Repo::\"r{i}\");\n"
                ),
            })
            .collect();
        assert!(text.len() > PARALLEL_PARSE_BYTES * 2);
        PolicySources::from_strings(schema, &text, None)
    }

    /// Large files parsed in pieces give the policies, ids and order of one
    /// parse of the whole file; errors name the file's own line.
    #[test]
    fn large_files_parse_in_pieces_like_the_whole_file() {
        let n = 8_000;
        let sources = big_file(n, None);
        let Parsed { set, meta, .. } = parse_policies(&sources, true).unwrap();
        let whole = PolicySet::from_str(&sources.policies[0].text).unwrap();
        let mut want: Vec<&Policy> = whole.policies().collect();
        want.sort_by_key(|p| cedar_position(p.id()));
        let got: Vec<&Policy> = set.iter().collect();
        assert_eq!(got.len(), n);
        for (g, w) in got.iter().zip(&want) {
            assert_eq!(g.to_string(), w.to_string());
            assert_eq!(meta[g.id()].id, w.annotation("id").unwrap());
        }
        // Invalid (strict validation) and unparsable policies late in the file.
        let line = n - 10;
        let invalid = big_file(n, Some((line, "@id(\"bad\") permit(principal, action, resource) when { 1 };")));
        let parsed = parse_policies(&invalid, true).unwrap();
        let schema = parse_schema(&invalid).unwrap();
        let issues = validate(&schema, &parsed, &invalid);
        assert_eq!(issues.len(), 1, "{issues:?}");
        assert_eq!((issues[0].policy_id.as_str(), issues[0].line), ("bad", Some(line)));
        // A duplicate id, and a bad @ask after it, in the second half: the
        // duplicate is reported, as when loading policy by policy.
        let mut dup = big_file(n, Some((line, "@id(\"p0\") permit(principal, action, resource);")));
        dup.policies[0].text.push_str("@ask(\"sec\") permit(principal, action, resource);\n");
        match parse_policies(&dup, true) {
            Err(LoadError::DuplicatePolicyId { id, .. }) => assert_eq!(id, "p0"),
            other => panic!("{:?}", other.map(|p| p.set.len())),
        }
        let broken = big_file(n, Some((line, "permit(principal, action, resource) when { 1 + };")));
        match parse_policies(&broken, true) {
            Err(LoadError::PolicySyntax { line: got, .. }) => assert_eq!(got, Some(line)),
            other => panic!("{:?}", other.map(|p| p.set.len())),
        }
    }
}
