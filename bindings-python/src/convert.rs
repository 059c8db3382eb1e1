//! Python objects to and from the values the core understands.
//!
//! Python to JSON is depth-limited (a cyclic or very deep structure stops at
//! the limit instead of exhausting the stack) and size-limited (a huge or
//! exponentially shared structure stops at [`agentauthz::MAX_REQUEST_BYTES`]).

use std::borrow::Cow;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use agentauthz::cedar_policy::EntityUid;
use agentauthz::{ContextValue, MAX_CONTEXT_DEPTH, MAX_REQUEST_BYTES};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{
    PyBool, PyDateTime, PyDelta, PyDeltaAccess, PyDict, PyFloat, PyFrozenSet, PyInt, PyList, PySet, PyString, PyTuple,
};
use serde_json::Value;

/// Deepest nesting accepted in entity data given as Python objects.
pub(crate) const MAX_ENTITY_DEPTH: usize = 128;

/// A conversion failure: what went wrong and where (path segments, innermost first).
#[derive(Debug)]
pub(crate) struct ConvError {
    path: Vec<String>,
    message: String,
}

impl ConvError {
    fn new(message: impl Into<String>) -> Self {
        Self { path: Vec::new(), message: message.into() }
    }

    fn at(mut self, segment: String) -> Self {
        self.path.push(segment);
        self
    }

    /// `"<root>['a'][0]: message"`.
    pub(crate) fn describe(&self, root: &str) -> String {
        let mut where_ = root.to_string();
        for seg in self.path.iter().rev() {
            where_.push_str(seg);
        }
        format!("{where_}: {}", self.message)
    }
}

/// Limits and running totals of one conversion.
pub(crate) struct Limits {
    max_depth: usize,
    budget: usize,
}

impl Limits {
    /// Limits for a request context: [`MAX_CONTEXT_DEPTH`] and [`MAX_REQUEST_BYTES`].
    pub(crate) fn context() -> Self {
        Self { max_depth: MAX_CONTEXT_DEPTH, budget: MAX_REQUEST_BYTES }
    }

    /// Limits for entity data: [`MAX_ENTITY_DEPTH`] and 64 MiB.
    pub(crate) fn entities() -> Self {
        Self { max_depth: MAX_ENTITY_DEPTH, budget: 64 << 20 }
    }

    fn charge(&mut self, bytes: usize) -> Result<(), ConvError> {
        match self.budget.checked_sub(bytes.saturating_add(8)) {
            Some(rest) => {
                self.budget = rest;
                Ok(())
            }
            None => Err(ConvError::new(format!("value is too large (over {MAX_REQUEST_BYTES} bytes once converted)"))),
        }
    }
}

fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type().name().map(|n| n.to_string()).unwrap_or_else(|_| "?".into())
}

/// A Python `str` as Rust UTF-8; lone surrogates are refused.
pub(crate) fn py_str(s: &Bound<'_, PyString>) -> Result<String, ConvError> {
    py_str_ref(s).map(Cow::into_owned)
}

/// A Python `str` as Rust UTF-8, borrowed from the string object where the
/// interpreter allows it; lone surrogates are refused.
pub(crate) fn py_str_ref<'a>(s: &'a Bound<'_, PyString>) -> Result<Cow<'a, str>, ConvError> {
    if let Some(borrowed) = utf8::borrow(s) {
        return Ok(Cow::Borrowed(borrowed));
    }
    s.to_cow().map_err(|_| ConvError::new("string is not valid Unicode (it contains a lone surrogate)"))
}

/// Zero-copy UTF-8 views of `str` objects.
///
/// The wheel targets the stable ABI of Python 3.9, where reading a `str` as
/// UTF-8 goes through a temporary `bytes` object (pyo3's `to_cow`): an
/// allocation and a copy per string, about a third of a decision's cost from
/// Python. `PyUnicode_AsUTF8AndSize` returns the UTF-8 form that the `str`
/// object caches itself; it joined the stable ABI in Python 3.10, so it is
/// called only when the running interpreter is 3.10 or newer, and 3.9 keeps
/// the `to_cow` path.
#[allow(unsafe_code)]
mod utf8 {
    use std::os::raw::c_char;
    use std::sync::OnceLock;

    use pyo3::ffi::{PyObject, Py_ssize_t};
    use pyo3::prelude::*;
    use pyo3::types::PyString;

    extern "C" {
        // Part of the stable ABI since 3.10 (and exported by every CPython 3).
        fn PyUnicode_AsUTF8AndSize(unicode: *mut PyObject, size: *mut Py_ssize_t) -> *const c_char;
    }

    fn available(py: Python<'_>) -> bool {
        static AVAILABLE: OnceLock<bool> = OnceLock::new();
        *AVAILABLE.get_or_init(|| py.version_info() >= (3, 10))
    }

    /// The string's UTF-8 bytes, borrowed for as long as the object lives;
    /// `None` when the API is unavailable or the string cannot be encoded
    /// (a lone surrogate), in which case the caller takes the slow path.
    pub(super) fn borrow<'a>(s: &'a Bound<'_, PyString>) -> Option<&'a str> {
        if !available(s.py()) {
            return None;
        }
        let mut size: Py_ssize_t = 0;
        // SAFETY: `s` is a live `str` (the type is checked by `Bound<PyString>`)
        // and we hold the GIL (a `Bound` proves it). The returned buffer is
        // owned by the string object and stays valid and unchanged while the
        // object lives (str is immutable), which the `'a` borrow of `s` ensures.
        let data = unsafe { PyUnicode_AsUTF8AndSize(s.as_ptr(), &mut size) };
        if data.is_null() {
            // UnicodeEncodeError (lone surrogate): clear it; the slow path reports it.
            let _ = PyErr::take(s.py());
            return None;
        }
        let len = usize::try_from(size).ok()?;
        // SAFETY: on success CPython returns `size` bytes of valid UTF-8 (it
        // fails on lone surrogates, the only str content without a UTF-8 form).
        Some(unsafe { std::str::from_utf8_unchecked(std::slice::from_raw_parts(data.cast::<u8>(), len)) })
    }
}

/// A Python value read in place by the engine's context conversion (see
/// [`agentauthz::HostValue`] and `Engine::prepare`): `str`, `int` (not
/// `bool`), `bool`, `list` and `dict` with `str` keys, read exactly as
/// [`to_value`] reads them; every other type (tuples, sets, datetimes, ...)
/// answers `None`, and the engine then decides from [`context_record`]'s
/// form. Reading runs no Python code, so nothing can change the objects
/// while they are read.
pub(crate) struct PyHost<'py>(pub(crate) Bound<'py, PyAny>);

impl agentauthz::HostValue for PyHost<'_> {
    fn as_str(&self) -> Option<&str> {
        // Python 3.9 has no borrowed UTF-8 view: the other path takes its strings.
        utf8::borrow(self.0.cast::<PyString>().ok()?)
    }

    fn as_long(&self) -> Option<i64> {
        if self.0.is_instance_of::<PyBool>() || !self.0.is_instance_of::<PyInt>() {
            return None;
        }
        self.0.extract::<i64>().ok()
    }

    fn as_bool(&self) -> Option<bool> {
        self.0.cast::<PyBool>().ok().map(|b| b.is_true())
    }

    fn each_item(&self, mut f: impl FnMut(&Self) -> Option<()>) -> Option<()> {
        let list = self.0.cast::<PyList>().ok()?;
        for item in list.iter() {
            f(&PyHost(item))?;
        }
        Some(())
    }

    fn each_attr(&self, mut f: impl FnMut(&str, &Self) -> Option<()>) -> Option<()> {
        let dict = self.0.cast::<PyDict>().ok()?;
        for (k, v) in dict.iter() {
            // None in a record means "attribute absent", as in `dict_to_record`.
            if v.is_none() {
                continue;
            }
            let key = utf8::borrow(k.cast::<PyString>().ok()?)?;
            f(key, &PyHost(v))?;
        }
        Some(())
    }
}

/// Converts a context `dict` to a Cedar record.
pub(crate) fn context_record(
    obj: &Bound<'_, PyAny>,
    limits: &mut Limits,
) -> Result<Vec<(String, ContextValue)>, ConvError> {
    match obj.cast::<PyDict>() {
        Ok(d) => dict_to_record(d, 0, limits),
        Err(_) => Err(ConvError::new(format!("context must be a dict, got {}", type_name(obj)))),
    }
}

fn dict_to_record(
    d: &Bound<'_, PyDict>,
    depth: usize,
    limits: &mut Limits,
) -> Result<Vec<(String, ContextValue)>, ConvError> {
    let mut record = Vec::with_capacity(d.len());
    // Snapshot first: converting a value may run Python code (a tzinfo, a set
    // subclass) that mutates the dict, which must not disturb the iteration.
    let items: Vec<_> = d.iter().collect();
    for (k, v) in items {
        let Ok(key) = k.cast::<PyString>() else {
            return Err(ConvError::new(format!("keys must be str, got {} {}", type_name(&k), short_repr(&k))));
        };
        let key = py_str_ref(key).map_err(|e| e.at(format!("[{}]", short_repr(&k))))?;
        // None in a record means "attribute absent" (for optional attributes).
        if v.is_none() {
            continue;
        }
        let value = limits
            .charge(key.len())
            .and_then(|()| to_value(&v, depth + 1, limits))
            .map_err(|e| e.at(format!("[{}]", short_repr(&k))))?;
        record.push((key.into_owned(), value));
    }
    Ok(record)
}

fn short_repr(obj: &Bound<'_, PyAny>) -> String {
    let r = obj.repr().map(|r| r.to_string_lossy().into_owned()).unwrap_or_else(|_| "<unprintable>".into());
    if r.chars().count() > 60 {
        let mut s: String = r.chars().take(57).collect();
        s.push_str("...");
        s
    } else {
        r
    }
}

/// Converts one Python value to Cedar JSON (for entity data).
pub(crate) fn to_json(obj: &Bound<'_, PyAny>, depth: usize, limits: &mut Limits) -> Result<Value, ConvError> {
    to_value(obj, depth, limits).map(|v| v.to_json())
}

/// Converts one Python value to a Cedar value at `depth` (a record's attributes are
/// at depth 1). Strings, bools, ints (64-bit), dicts (records), lists, tuples
/// and sets (Cedar sets), `datetime` (aware only) and `timedelta` are accepted;
/// the last two become Cedar literal strings (`2026-11-25T10:00:00.000Z`,
/// `90000ms`) that the schema turns into `datetime` and `duration` values.
fn to_value(obj: &Bound<'_, PyAny>, depth: usize, limits: &mut Limits) -> Result<ContextValue, ConvError> {
    if depth > limits.max_depth {
        return Err(ConvError::new(format!("nested deeper than {} levels (or cyclic)", limits.max_depth)));
    }
    if let Ok(s) = obj.cast::<PyString>() {
        let s = py_str_ref(s)?;
        limits.charge(s.len())?;
        return Ok(ContextValue::String(s.into_owned()));
    }
    if let Ok(d) = obj.cast::<PyDict>() {
        limits.charge(0)?;
        return dict_to_record(d, depth, limits).map(ContextValue::Record);
    }
    if let Ok(b) = obj.cast::<PyBool>() {
        limits.charge(0)?;
        return Ok(ContextValue::Bool(b.is_true()));
    }
    if obj.is_instance_of::<PyInt>() {
        limits.charge(0)?;
        return match obj.extract::<i64>() {
            Ok(i) => Ok(ContextValue::Long(i)),
            Err(_) => {
                Err(ConvError::new(format!("int {} is out of range for a Cedar Long (64-bit signed)", short_repr(obj))))
            }
        };
    }
    if let Ok(l) = obj.cast::<PyList>() {
        limits.charge(0)?;
        // Index-based: the list may change size if a __repr__ elsewhere mutates it.
        let mut out = Vec::with_capacity(l.len());
        let mut i = 0;
        // Bounds checked each time (the list may shrink meanwhile): ending on
        // `get_item`'s IndexError would build a Python exception per list.
        while i < l.len() {
            let Ok(item) = l.get_item(i) else { break };
            out.push(to_value(&item, depth + 1, limits).map_err(|e| e.at(format!("[{i}]")))?);
            i += 1;
        }
        return Ok(ContextValue::Set(out));
    }
    if let Ok(t) = obj.cast::<PyTuple>() {
        limits.charge(0)?;
        let mut out = Vec::with_capacity(t.len());
        for (i, item) in t.iter().enumerate() {
            out.push(to_value(&item, depth + 1, limits).map_err(|e| e.at(format!("[{i}]")))?);
        }
        return Ok(ContextValue::Set(out));
    }
    if obj.is_instance_of::<PySet>() || obj.is_instance_of::<PyFrozenSet>() {
        limits.charge(0)?;
        let mut out = Vec::new();
        let iter = obj.try_iter().map_err(|e| ConvError::new(format!("cannot iterate the set: {e}")))?;
        for item in iter {
            let item = item.map_err(|e| ConvError::new(format!("cannot iterate the set: {e}")))?;
            out.push(to_value(&item, depth + 1, limits).map_err(|e| e.at("{...}".into()))?);
        }
        return Ok(ContextValue::Set(out));
    }
    if let Ok(dt) = obj.cast::<PyDateTime>() {
        limits.charge(32)?;
        // A plain string: the core reads it as a `datetime` where the schema
        // declares one (its fast path; an `__extn` escape would take Cedar's slow one).
        return Ok(ContextValue::String(datetime_to_cedar(dt)?));
    }
    if let Ok(td) = obj.cast::<PyDelta>() {
        limits.charge(32)?;
        return Ok(ContextValue::String(timedelta_to_cedar(td)));
    }
    if obj.is_instance_of::<PyFloat>() {
        return Err(ConvError::new(format!(
            "float {} is not supported: Cedar has no floating-point numbers (use an int)",
            short_repr(obj)
        )));
    }
    if obj.is_none() {
        return Err(ConvError::new("None is not a Cedar value (leave the attribute out instead)"));
    }
    Err(ConvError::new(format!(
        "{} {} has no Cedar equivalent (use str, int, bool, dict, list, set, datetime or timedelta)",
        type_name(obj),
        short_repr(obj)
    )))
}

static UTC: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
static EPOCH: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

fn utc(py: Python<'_>) -> PyResult<&Bound<'_, PyAny>> {
    UTC.get_or_try_init(py, || Ok::<_, PyErr>(py.import("datetime")?.getattr("timezone")?.getattr("utc")?.unbind()))
        .map(|u| u.bind(py))
}

/// Converts an aware `datetime` to UTC; naive ones are refused (they have no
/// defined instant: Python itself reads them as local time or as UTC
/// depending on the call).
fn aware_utc<'py>(dt: &Bound<'py, PyDateTime>) -> Result<Bound<'py, PyAny>, ConvError> {
    let py = dt.py();
    let offset = dt
        .call_method0("utcoffset")
        .map_err(|e| ConvError::new(format!("cannot read the datetime's UTC offset: {e}")))?;
    if offset.is_none() {
        return Err(ConvError::new(format!(
            "naive datetime {} is refused: attach a timezone (e.g. datetime.now(timezone.utc))",
            short_repr(dt.as_any())
        )));
    }
    let utc = utc(py).map_err(|e| ConvError::new(e.to_string()))?;
    dt.call_method1("astimezone", (utc,))
        .map_err(|e| ConvError::new(format!("cannot convert the datetime to UTC: {e}")))
}

/// An aware `datetime` as a Cedar `datetime` literal, `YYYY-MM-DDThh:mm:ss.SSSZ`
/// (UTC, milliseconds; finer digits are truncated).
pub(crate) fn datetime_to_cedar(dt: &Bound<'_, PyDateTime>) -> Result<String, ConvError> {
    let u = aware_utc(dt)?;
    let field = |name: &str| -> Result<i64, ConvError> {
        u.getattr(name)
            .and_then(|v| v.extract::<i64>())
            .map_err(|e| ConvError::new(format!("cannot read datetime.{name}: {e}")))
    };
    Ok(format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        field("year")?,
        field("month")?,
        field("day")?,
        field("hour")?,
        field("minute")?,
        field("second")?,
        field("microsecond")? / 1000
    ))
}

/// A `timedelta` as a Cedar `duration` literal in milliseconds, e.g. `-1500ms`
/// (sub-millisecond parts are truncated toward zero).
pub(crate) fn timedelta_to_cedar(td: &Bound<'_, PyDelta>) -> String {
    let micros = i128::from(td.get_days()) * 86_400_000_000
        + i128::from(td.get_seconds()) * 1_000_000
        + i128::from(td.get_microseconds());
    format!("{}ms", micros / 1000)
}

fn epoch(py: Python<'_>) -> PyResult<&Bound<'_, PyAny>> {
    EPOCH
        .get_or_try_init(py, || -> PyResult<Py<PyAny>> {
            let utc = utc(py)?;
            Ok(py.import("datetime")?.getattr("datetime")?.call((1970, 1, 1, 0, 0, 0, 0, utc), None)?.unbind())
        })
        .map(|e| e.bind(py))
}

/// An instant as an aware `datetime` in UTC (microsecond precision).
pub(crate) fn py_datetime(py: Python<'_>, t: SystemTime) -> PyResult<Bound<'_, PyAny>> {
    let (sign, offset) = match t.duration_since(UNIX_EPOCH) {
        Ok(d) => (1_i64, d),
        Err(e) => (-1_i64, e.duration()),
    };
    let secs = i64::try_from(offset.as_secs()).unwrap_or(i64::MAX);
    let delta = py.import("datetime")?.getattr("timedelta")?.call1((
        0,
        sign.saturating_mul(secs),
        sign * i64::from(offset.subsec_micros()),
    ))?;
    epoch(py)?.call_method1("__add__", (delta,))
}

/// A duration given as seconds (a positive `int` or `float`) or a positive
/// `timedelta`.
pub(crate) fn duration(obj: &Bound<'_, PyAny>) -> Result<Duration, ConvError> {
    let secs: f64 = if let Ok(td) = obj.cast::<PyDelta>() {
        let micros = i128::from(td.get_days()) * 86_400_000_000
            + i128::from(td.get_seconds()) * 1_000_000
            + i128::from(td.get_microseconds());
        if micros <= 0 {
            return Err(ConvError::new(format!("must be positive, got {}", short_repr(obj))));
        }
        return u64::try_from(micros)
            .map(Duration::from_micros)
            .map_err(|_| ConvError::new(format!("{} is too long", short_repr(obj))));
    } else if obj.is_instance_of::<PyBool>() {
        return Err(ConvError::new("expected seconds (int or float) or a timedelta, got bool"));
    } else if let Ok(f) = obj.cast::<PyFloat>() {
        f.value()
    } else if obj.is_instance_of::<PyInt>() {
        let n: i64 = obj.extract().map_err(|_| ConvError::new(format!("{} is out of range", short_repr(obj))))?;
        n as f64
    } else {
        return Err(ConvError::new(format!("expected seconds (int or float) or a timedelta, got {}", type_name(obj))));
    };
    if !(secs.is_finite() && secs > 0.0) {
        return Err(ConvError::new(format!("must be a positive number of seconds, got {}", short_repr(obj))));
    }
    Duration::try_from_secs_f64(secs).map_err(|_| ConvError::new(format!("{} is out of range", short_repr(obj))))
}

/// A `now=` argument: an aware `datetime` or an RFC 3339 string.
pub(crate) fn instant(obj: &Bound<'_, PyAny>) -> Result<SystemTime, ConvError> {
    if let Ok(s) = obj.cast::<PyString>() {
        let text = py_str_ref(s)?;
        return agentauthz::parse_rfc3339(&text)
            .ok_or_else(|| ConvError::new(format!("{text:?} is not an RFC 3339 instant like 2026-11-25T10:00:00Z")));
    }
    let Ok(dt) = obj.cast::<PyDateTime>() else {
        return Err(ConvError::new(format!(
            "expected an aware datetime or an RFC 3339 string, got {}",
            type_name(obj)
        )));
    };
    let py = obj.py();
    let u = aware_utc(dt)?;
    let epoch = epoch(py).map_err(|e| ConvError::new(e.to_string()))?;
    let delta = u.call_method1("__sub__", (epoch,)).map_err(|e| ConvError::new(e.to_string()))?;
    let delta = delta.cast::<PyDelta>().map_err(|e| ConvError::new(e.to_string()))?;
    let micros = i64::from(delta.get_days()) * 86_400_000_000
        + i64::from(delta.get_seconds()) * 1_000_000
        + i64::from(delta.get_microseconds());
    let magnitude = Duration::from_micros(micros.unsigned_abs());
    let t = if micros >= 0 { UNIX_EPOCH.checked_add(magnitude) } else { UNIX_EPOCH.checked_sub(magnitude) };
    t.ok_or_else(|| ConvError::new("datetime is out of the representable range"))
}

/// Cedar JSON to Python objects (dicts, lists, str, int, float, bool, None).
pub(crate) fn json_to_py<'py>(py: Python<'py>, value: &Value) -> PyResult<Bound<'py, PyAny>> {
    json_to_py_depth(py, value, 0)
}

fn json_to_py_depth<'py>(py: Python<'py>, value: &Value, depth: usize) -> PyResult<Bound<'py, PyAny>> {
    if depth > 256 {
        return Err(pyo3::exceptions::PyValueError::new_err("value nested too deeply to convert"));
    }
    Ok(match value {
        Value::Null => py.None().into_bound(py),
        Value::Bool(b) => PyBool::new(py, *b).to_owned().into_any(),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                i.into_pyobject(py)?.into_any()
            } else if let Some(u) = n.as_u64() {
                u.into_pyobject(py)?.into_any()
            } else {
                n.as_f64().unwrap_or(f64::NAN).into_pyobject(py)?.into_any()
            }
        }
        Value::String(s) => PyString::new(py, s).into_any(),
        Value::Array(items) => {
            let list = PyList::empty(py);
            for item in items {
                list.append(json_to_py_depth(py, item, depth + 1)?)?;
            }
            list.into_any()
        }
        Value::Object(map) => {
            let dict = PyDict::new(py);
            for (k, v) in map {
                dict.set_item(k, json_to_py_depth(py, v, depth + 1)?)?;
            }
            dict.into_any()
        }
    })
}

/// Builds an entity uid from a type name and id (`agentauthz::entity_uid`:
/// each type name is parsed once per thread).
pub(crate) fn uid_from_parts(type_name: &str, id: &str) -> Result<EntityUid, String> {
    check_ref_len(type_name.len() + id.len())?;
    agentauthz::entity_uid(type_name, id).map_err(|e| match e {
        agentauthz::RequestError::Entity { message, .. } => message,
        other => other.to_string(),
    })
}

/// Refuses an entity reference longer than a whole request may be (as the
/// core's JSON form and the Node binding do), so a huge id is neither parsed
/// nor echoed back in errors and audit records.
fn check_ref_len(bytes: usize) -> Result<(), String> {
    if bytes > agentauthz::MAX_REQUEST_BYTES {
        return Err(format!(
            "request exceeds a limit: an entity reference of {bytes} bytes; at most {} are accepted",
            agentauthz::MAX_REQUEST_BYTES
        ));
    }
    Ok(())
}

/// Parses `Type::"id"` as Cedar does (`agentauthz::parse_uid`: the common
/// shape skips Cedar's parser; results and errors are Cedar's).
pub(crate) fn uid_from_str(s: &str) -> Result<EntityUid, String> {
    check_ref_len(s.len())?;
    agentauthz::parse_uid(s).map_err(|e| format!("`{s}` is not an entity reference like Type::\"id\": {e}"))
}

/// An entity reference given as `'Type::"id"'`, `("Type", "id")` or
/// `{"type": "Type", "id": "id"}`.
pub(crate) fn entity_ref(obj: &Bound<'_, PyAny>) -> Result<EntityUid, String> {
    if let Ok(s) = obj.cast::<PyString>() {
        let s = py_str_ref(s).map_err(|e| e.message)?;
        return uid_from_str(&s);
    }
    if let Ok(t) = obj.cast::<PyTuple>() {
        if t.len() == 2 {
            if let (Ok(ty), Ok(id)) = (t.get_item(0), t.get_item(1)) {
                if let (Ok(ty), Ok(id)) = (ty.cast::<PyString>(), id.cast::<PyString>()) {
                    let ty = py_str_ref(ty).map_err(|e| e.message)?;
                    let id = py_str_ref(id).map_err(|e| e.message)?;
                    return uid_from_parts(&ty, &id);
                }
            }
        }
        return Err(format!("a tuple entity reference must be (type, id) strings, got {}", short_repr(obj)));
    }
    if let Ok(d) = obj.cast::<PyDict>() {
        let inner = match d.get_item("__entity") {
            Ok(Some(i)) => i,
            _ => d.clone().into_any(),
        };
        if let Ok(inner) = inner.cast::<PyDict>() {
            if inner.len() == 2 {
                if let (Ok(Some(ty)), Ok(Some(id))) = (inner.get_item("type"), inner.get_item("id")) {
                    if let (Ok(ty), Ok(id)) = (ty.cast::<PyString>(), id.cast::<PyString>()) {
                        let ty = py_str_ref(ty).map_err(|e| e.message)?;
                        let id = py_str_ref(id).map_err(|e| e.message)?;
                        return uid_from_parts(&ty, &id);
                    }
                }
            }
        }
        return Err(format!("a dict entity reference needs exactly str keys 'type' and 'id', got {}", short_repr(obj)));
    }
    Err(format!(
        "expected 'Type::\"id\"', a (type, id) tuple or a {{'type', 'id'}} dict, got {} {}",
        type_name(obj),
        short_repr(obj)
    ))
}
