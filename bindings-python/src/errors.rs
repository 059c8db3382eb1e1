//! Raising the Python exceptions of `agentauthz._errors` from Rust.
//!
//! The exception classes are written in Python (they carry attributes such as
//! `file`, `line` and `decision`, and have ordinary constructors); Rust looks
//! them up by name on first use and caches the module.

use agentauthz::cases::CasesError;
use agentauthz::{LoadError, PolicyIssue};
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyList, PyModule};

static ERRORS: PyOnceLock<Py<PyModule>> = PyOnceLock::new();

/// Builds an exception of class `name` (from `agentauthz._errors`) with a
/// message and keyword arguments.
fn make(py: Python<'_>, name: &str, message: String, kwargs: Option<&Bound<'_, PyDict>>) -> PyErr {
    let built = (|| -> PyResult<Bound<'_, PyAny>> {
        let module = ERRORS.get_or_try_init(py, || py.import("agentauthz._errors").map(Bound::unbind))?;
        let class = module.bind(py).getattr(name)?;
        class.call((message.clone(),), kwargs)
    })();
    match built {
        Ok(instance) => PyErr::from_value(instance),
        // Only reachable if the package is broken; still report the original message.
        Err(e) => PyRuntimeError::new_err(format!("{message} (and raising {name} failed: {e})")),
    }
}

/// `agentauthz.RequestError(message)`: a request that cannot be converted or understood.
pub(crate) fn request_error(py: Python<'_>, message: impl Into<String>) -> PyErr {
    make(py, "RequestError", message.into(), None)
}

/// `agentauthz.AuthzError(message)`: the base class, for errors with no better subclass.
pub(crate) fn authz_error(py: Python<'_>, message: impl Into<String>) -> PyErr {
    make(py, "AuthzError", message.into(), None)
}

/// A located error: `class(message, file=..., line=...)`, plus extra keyword arguments.
fn located(
    py: Python<'_>,
    class: &str,
    message: String,
    file: Option<&str>,
    line: Option<usize>,
    extra: impl FnOnce(&Bound<'_, PyDict>) -> PyResult<()>,
) -> PyErr {
    let kwargs = PyDict::new(py);
    let filled = (|| -> PyResult<()> {
        kwargs.set_item("file", file)?;
        kwargs.set_item("line", line)?;
        extra(&kwargs)
    })();
    match filled {
        Ok(()) => make(py, class, message, Some(&kwargs)),
        Err(e) => e,
    }
}

fn issue_dict<'py>(py: Python<'py>, issue: &PolicyIssue) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("file", &issue.file)?;
    d.set_item("line", issue.line)?;
    d.set_item("policy_id", &issue.policy_id)?;
    d.set_item("message", &issue.message)?;
    Ok(d)
}

/// Maps a core [`LoadError`] to the matching Python exception:
/// schema problems to `SchemaError`, policy problems to `PolicyError` (with the
/// file and line of the first issue), entity data to `EntityError`, unreadable
/// files and folders to `AuthzError`.
pub(crate) fn load_error(py: Python<'_>, error: LoadError) -> PyErr {
    let message = error.to_string();
    match error {
        LoadError::Schema { file, line, .. } => located(py, "SchemaError", message, Some(&file), line, |_| Ok(())),
        LoadError::PolicySyntax { file, line, .. } => {
            located(py, "PolicyError", message, Some(&file), line, |_| Ok(()))
        }
        LoadError::Validation { issues } => {
            let first = issues.first();
            located(py, "PolicyError", message, first.map(|i| i.file.as_str()), first.and_then(|i| i.line), |kw| {
                let list = PyList::empty(py);
                for issue in &issues {
                    list.append(issue_dict(py, issue)?)?;
                }
                kw.set_item("issues", list)?;
                kw.set_item("policy_id", first.map(|i| i.policy_id.as_str()))
            })
        }
        LoadError::DuplicatePolicyId { id, second, .. } => {
            located(py, "PolicyError", message, Some(&second), None, |kw| kw.set_item("policy_id", id))
        }
        LoadError::Unsupported { file, .. } => located(py, "PolicyError", message, Some(&file), None, |_| Ok(())),
        LoadError::Entities { file, .. } => located(py, "EntityError", message, Some(&file), None, |_| Ok(())),
        // Io, Folder and any variant added later.
        _ => authz_error(py, message),
    }
}

/// Maps a [`CasesError`] (unreadable or malformed cases file) to `AuthzError`.
pub(crate) fn cases_error(py: Python<'_>, error: CasesError) -> PyErr {
    authz_error(py, error.to_string())
}

/// `agentauthz.ApprovalError(message, approval_id=...)`: an approval id this
/// engine never issued.
pub(crate) fn approval_error(py: Python<'_>, message: String, approval_id: &str) -> PyErr {
    let kwargs = PyDict::new(py);
    match kwargs.set_item("approval_id", approval_id) {
        Ok(()) => make(py, "ApprovalError", message, Some(&kwargs)),
        Err(e) => e,
    }
}

/// A failure reading or writing a revocations file: `OSError` (the subclass
/// for the errno, e.g. `FileNotFoundError`, with `filename`) when the system
/// refused, `AuthzError` when the file's content is not a revocations list.
pub(crate) fn file_error(py: Python<'_>, error: &std::io::Error, path: &std::path::Path, what: &str) -> PyErr {
    let shown = path.display().to_string();
    match error.raw_os_error() {
        Some(errno) => pyo3::exceptions::PyOSError::new_err((errno, format!("cannot {what}: {error}"), shown)),
        None => authz_error(py, format!("cannot {what} {shown}: {error}")),
    }
}
