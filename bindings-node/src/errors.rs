//! JavaScript errors with a `code`, built from core errors.
//!
//! Each error carries `code` (and, for load errors, `kind`, `file`, `line`,
//! `policyId` and `issues`). When `index.js` has registered its `Error`
//! subclasses (`SchemaError`, `PolicyError`, ...) by code, the error is an
//! instance of the class for its code; otherwise a plain `Error`.

use std::cell::RefCell;

use agentauthz::cases::CasesError;
use agentauthz::LoadError;
use napi::bindgen_prelude::{Function, JsObjectValue, Object, ObjectRef, Unknown};
use napi::{Env, JsValue, ValueType};

use crate::output::JsPolicyIssue;

/// The schema does not parse or is not well-formed.
pub(crate) const SCHEMA_ERROR: &str = "SCHEMA_ERROR";
/// A policy (or the policy folder, or its entities) could not be loaded.
pub(crate) const POLICY_ERROR: &str = "POLICY_ERROR";
/// An argument has the wrong type or shape.
pub(crate) const REQUEST_ERROR: &str = "REQUEST_ERROR";
/// A test-cases file could not be read.
pub(crate) const CASES_ERROR: &str = "CASES_ERROR";
/// `approve` was given an approval id the engine never issued.
pub(crate) const APPROVAL_ERROR: &str = "APPROVAL_ERROR";
/// A revocations file could not be read or written.
pub(crate) const FILE_ERROR: &str = "FILE_ERROR";

thread_local! {
    /// The error classes registered by `index.js`, by code. One per thread:
    /// each worker thread loads the module into its own environment.
    static CLASSES: RefCell<Option<ObjectRef<false>>> = const { RefCell::new(None) };
}

/// Remembers the `Error` subclass to construct for each code (see
/// `__registerErrorClasses` in lib.rs).
pub(crate) fn register(classes: Object<'_>) -> napi::Result<()> {
    let reference = classes.create_ref::<false>()?;
    CLASSES.with(|c| c.replace(Some(reference)));
    Ok(())
}

/// `new Class(message)` for the class registered for `code`, if any.
fn construct<'e>(env: &'e Env, code: &str, message: &str) -> napi::Result<Option<Object<'e>>> {
    CLASSES.with(|c| {
        let classes = c.borrow();
        let Some(classes) = classes.as_ref() else {
            return Ok(None);
        };
        let classes = classes.get_value(env)?;
        let class: Unknown<'_> = classes.get_named_property(code)?;
        if class.get_type()? != ValueType::Function {
            return Ok(None);
        }
        let class: Function<'_, String, Unknown<'_>> = classes.get_named_property(code)?;
        Ok(Some(class.new_instance(message.to_string())?.coerce_to_object()?))
    })
}

/// Optional details attached to an error object.
#[derive(Default)]
pub(crate) struct Details<'a> {
    kind: Option<&'a str>,
    file: Option<String>,
    line: Option<usize>,
    policy_id: Option<&'a str>,
    approval_id: Option<&'a str>,
    issues: &'a [agentauthz::PolicyIssue],
}

/// An `Error` with `code` and `message` (and details), ready to be thrown.
pub(crate) fn js_error(env: &Env, code: &str, message: String, details: Details<'_>) -> napi::Error {
    match build(env, code, &message, details) {
        Ok(obj) => napi::Error::from(obj.to_unknown()),
        Err(_) => napi::Error::new(napi::Status::GenericFailure, format!("{code}: {message}")),
    }
}

/// An error for an argument of the wrong type or shape.
pub(crate) fn request_error(env: &Env, message: String) -> napi::Error {
    js_error(env, REQUEST_ERROR, message, Details::default())
}

fn build<'e>(env: &'e Env, code: &str, message: &str, details: Details<'_>) -> napi::Result<Object<'e>> {
    let mut obj = match construct(env, code, message)? {
        Some(obj) => obj,
        None => env.create_error(napi::Error::from_reason(message))?,
    };
    obj.set_named_property("code", code)?;
    if let Some(kind) = details.kind {
        obj.set_named_property("kind", kind)?;
    }
    if let Some(file) = details.file {
        obj.set_named_property("file", file)?;
    }
    if let Some(line) = details.line.and_then(|l| u32::try_from(l).ok()) {
        obj.set_named_property("line", line)?;
    }
    if let Some(id) = details.policy_id {
        obj.set_named_property("policyId", id)?;
    }
    if let Some(id) = details.approval_id {
        obj.set_named_property("approvalId", id)?;
    }
    if !details.issues.is_empty() {
        let issues: Vec<JsPolicyIssue> = details.issues.iter().map(JsPolicyIssue::from).collect();
        obj.set_named_property("issues", issues)?;
    }
    Ok(obj)
}

/// Maps a core load error to a `SCHEMA_ERROR` or `POLICY_ERROR` whose message
/// names the file (and line, when known).
pub(crate) fn load_error(env: &Env, e: &LoadError) -> napi::Error {
    let message = e.to_string();
    let (code, details) = match e {
        LoadError::Schema { file, line, .. } => (
            SCHEMA_ERROR,
            Details { kind: Some("schema"), file: Some(file.clone()), line: *line, ..Details::default() },
        ),
        LoadError::PolicySyntax { file, line, .. } => (
            POLICY_ERROR,
            Details { kind: Some("syntax"), file: Some(file.clone()), line: *line, ..Details::default() },
        ),
        LoadError::Validation { issues } => (
            POLICY_ERROR,
            Details {
                kind: Some("validation"),
                file: issues.first().map(|i| i.file.clone()),
                line: issues.first().and_then(|i| i.line),
                policy_id: issues.first().map(|i| i.policy_id.as_str()),
                approval_id: None,
                issues,
            },
        ),
        LoadError::DuplicatePolicyId { id, second, .. } => (
            POLICY_ERROR,
            Details {
                kind: Some("duplicate-id"),
                file: Some(second.clone()),
                policy_id: Some(id),
                ..Details::default()
            },
        ),
        LoadError::Unsupported { file, .. } => {
            (POLICY_ERROR, Details { kind: Some("unsupported"), file: Some(file.clone()), ..Details::default() })
        }
        LoadError::Entities { file, .. } => {
            (POLICY_ERROR, Details { kind: Some("entities"), file: Some(file.clone()), ..Details::default() })
        }
        LoadError::Io { path, .. } => {
            (POLICY_ERROR, Details { kind: Some("io"), file: Some(path.display().to_string()), ..Details::default() })
        }
        LoadError::Folder { path, .. } => (
            POLICY_ERROR,
            Details { kind: Some("folder"), file: Some(path.display().to_string()), ..Details::default() },
        ),
        _ => (POLICY_ERROR, Details { kind: Some("load"), ..Details::default() }),
    };
    js_error(env, code, message, details)
}

/// Maps a cases-file error to a `CASES_ERROR`.
pub(crate) fn cases_error(env: &Env, e: &CasesError) -> napi::Error {
    let (kind, file) = match e {
        CasesError::Io { path, .. } => ("io", Some(path.clone())),
        CasesError::Invalid { path, .. } => ("invalid", Some(path.clone())),
        _ => ("invalid", None),
    };
    js_error(env, CASES_ERROR, e.to_string(), Details { kind: Some(kind), file, ..Details::default() })
}

/// An `APPROVAL_ERROR` for an approval id the engine never issued (or forgot).
pub(crate) fn approval_error(env: &Env, message: String, approval_id: &str) -> napi::Error {
    js_error(env, APPROVAL_ERROR, message, Details { approval_id: Some(approval_id), ..Details::default() })
}

/// A `FILE_ERROR` for a revocations file: `kind` is `io` when the system
/// refused, `invalid` when the content is not a revocations list.
pub(crate) fn file_error(env: &Env, e: &std::io::Error, path: &str, what: &str) -> napi::Error {
    let kind = if e.raw_os_error().is_some() { "io" } else { "invalid" };
    js_error(
        env,
        FILE_ERROR,
        format!("cannot {what} {path}: {e}"),
        Details { kind: Some(kind), file: Some(path.to_string()), ..Details::default() },
    )
}
