//! Load-time conversion: policies (from their JSON form) and entity data into
//! the compiled evaluator's representation; request contexts at decision time.

use std::collections::HashMap;
use std::sync::Arc;

use cedar_policy::{
    ActionConstraint, Entities, EntityUid, EvalResult, Policy, PolicyId, PrincipalConstraint, ResourceConstraint,
};
use cedar_policy_core::ast;
use serde_json::Value as Json;

use super::eval::apply_ext;
use super::time::{parse_datetime, parse_duration};
use super::{ActionScope, Attrs, BinOp, EntityData, Expr, ExtFn, FastPolicy, Names, Pat, Scope, Store, Value, Var};
use crate::request::ContextValue;
use crate::request_shape::ActionShape;
use crate::request_shape::{Ext, Record, Ty};

/// The compiled form of a policy set: the entity store the engine keeps, and
/// every policy the evaluator supports, by id (policies absent are
/// Cedar-only), which the load hands to the scope index.
#[derive(Debug, Default)]
pub(crate) struct FastSet {
    pub store: Store,
    pub policies: HashMap<PolicyId, Arc<FastPolicy>>,
}

fn adopt_names(ty: &Ty, names: &mut Names, depth: usize) {
    match ty {
        Ty::Set(elem) if depth < 64 => adopt_names(elem, names, depth + 1),
        Ty::Record(r) if depth < 64 => {
            for (name, t, _) in &r.sorted {
                names.adopt(name);
                adopt_names(t, names, depth + 1);
            }
        }
        _ => {}
    }
}

/// Converts the entity store and every policy it can. Attribute names share
/// the allocations of the request shapes' names (see `fast::lookup_name`).
pub(crate) fn build<'s>(
    entities: &Entities,
    policies: &[Policy],
    shapes: impl IntoIterator<Item = &'s ActionShape>,
) -> FastSet {
    let mut names = Names::default();
    for shape in shapes {
        if let Some(record) = &shape.context {
            adopt_names(&Ty::Record(Arc::clone(record)), &mut names, 0);
        }
    }
    let mut store = Store::default();
    let stored: Vec<_> = entities.iter().collect();
    for e in &stored {
        store.intern(&e.uid());
    }
    for e in &stored {
        let uid = e.uid();
        let mut ancestors: Vec<u32> = match entities.ancestors(&uid) {
            Some(a) => a.collect::<Vec<_>>().into_iter().map(|a| store.intern(a).id).collect(),
            None => Vec::new(),
        };
        ancestors.sort_unstable();
        ancestors.dedup();
        let attrs = e
            .attrs()
            .map(|(k, v)| (names.intern(k), v.map(|v| eval_result(&v, &mut store, &mut names))))
            .collect::<Vec<_>>();
        let attrs = sorted(attrs.into_iter().map(|(k, v)| (k, v.unwrap_or(Value::Opaque))).collect());
        let tags = e
            .tags()
            .map(|(k, v)| (Arc::from(k), v.map(|v| eval_result(&v, &mut store, &mut names))))
            .collect::<Vec<_>>();
        let tags = sorted(tags.into_iter().map(|(k, v)| (k, v.unwrap_or(Value::Opaque))).collect());
        let id = store.intern(&uid).id as usize;
        if let Some(slot) = store.data.get_mut(id) {
            *slot = Some(EntityData { ancestors: ancestors.into(), attrs, tags });
        }
    }
    // Straight from Cedar's own tree of each policy (what Cedar evaluates).
    let mut out = HashMap::new();
    for p in policies {
        if let Some(fp) = policy(p, &mut Cx { store: &mut store, names: &mut names }) {
            out.insert(p.id().clone(), Arc::new(fp));
        }
    }
    FastSet { store, policies: out }
}

fn sorted(mut attrs: Vec<(Arc<str>, Value)>) -> Attrs {
    if !attrs.is_sorted_by(|a, b| a.0 <= b.0) {
        attrs.sort_by(|a, b| a.0.cmp(&b.0));
    }
    attrs.into()
}

fn eval_result(v: &EvalResult, store: &mut Store, names: &mut Names) -> Value {
    match v {
        EvalResult::Bool(b) => Value::Bool(*b),
        EvalResult::Long(i) => Value::Long(*i),
        EvalResult::String(s) => Value::Str(Arc::from(s.as_str())),
        EvalResult::EntityUid(u) => Value::Entity(store.intern(u)),
        EvalResult::Set(s) => Value::Set(s.iter().map(|v| eval_result(v, store, names)).collect()),
        EvalResult::Record(r) => {
            Value::Record(sorted(r.iter().map(|(k, v)| (names.intern(k), eval_result(v, store, names))).collect()))
        }
        EvalResult::ExtensionValue(repr) => extension_repr(repr),
    }
}

/// An extension value from its Cedar text form: `datetime("...")`,
/// `duration("...")` or the canonical `offset` form of a computed datetime.
fn extension_repr(repr: &str) -> Value {
    let quoted = |s: &str, prefix: &str, suffix: &str| -> Option<String> {
        let inner = s.strip_prefix(prefix)?.strip_suffix(suffix)?;
        (!inner.contains(['"', '\\'])).then(|| inner.to_string())
    };
    if let Some(s) = quoted(repr, "datetime(\"", "\")") {
        return parse_datetime(&s).map_or(Value::Opaque, Value::Datetime);
    }
    if let Some(s) = quoted(repr, "duration(\"", "\")") {
        return parse_duration(&s).map_or(Value::Opaque, Value::Duration);
    }
    for (prefix, suffix) in [
        ("offset(datetime(\"1970-01-01\"), duration(\"", "\"))"),
        ("datetime(\"1970-01-01\").offset(duration(\"", "\"))"),
    ] {
        if let Some(s) = quoted(repr, prefix, suffix) {
            return parse_duration(&s).map_or(Value::Opaque, Value::Datetime);
        }
    }
    Value::Opaque
}

/// What converting a policy interns into.
struct Cx<'a> {
    store: &'a mut Store,
    names: &'a mut Names,
}

fn policy(p: &Policy, cx: &mut Cx<'_>) -> Option<FastPolicy> {
    let store = &mut *cx.store;
    if !p.is_static() {
        return None;
    }
    let principal = match p.principal_constraint() {
        PrincipalConstraint::Any => Scope::Any,
        PrincipalConstraint::Eq(e) => Scope::Eq(store.intern(&e).id),
        PrincipalConstraint::In(e) => Scope::In(store.intern(&e).id),
        PrincipalConstraint::Is(t) => Scope::Is(store.type_id(&t.to_string())),
        PrincipalConstraint::IsIn(t, e) => Scope::IsIn(store.type_id(&t.to_string()), store.intern(&e).id),
    };
    let resource = match p.resource_constraint() {
        ResourceConstraint::Any => Scope::Any,
        ResourceConstraint::Eq(e) => Scope::Eq(store.intern(&e).id),
        ResourceConstraint::In(e) => Scope::In(store.intern(&e).id),
        ResourceConstraint::Is(t) => Scope::Is(store.type_id(&t.to_string())),
        ResourceConstraint::IsIn(t, e) => Scope::IsIn(store.type_id(&t.to_string()), store.intern(&e).id),
    };
    let action = match p.action_constraint() {
        ActionConstraint::Any => ActionScope::Any,
        ActionConstraint::Eq(e) => ActionScope::Eq(store.intern(&e).id),
        ActionConstraint::In(es) => ActionScope::In(es.iter().map(|e| store.intern(e).id).collect()),
    };
    // Cedar's tree holds the `when` and `unless` clauses as one expression
    // (`when { a } unless { b }` is `a && !b`), which is what Cedar evaluates.
    let ast: &cedar_policy_core::ast::Policy = p.as_ref();
    let condition = match ast.non_scope_constraints() {
        Some(body) => Some(expr(body, cx, 0)?),
        None => None,
    };
    Some(FastPolicy { id: p.id().clone(), effect: p.effect(), principal, action, resource, condition })
}

/// Deeper expressions are left to Cedar (keeps recursion bounded).
const MAX_DEPTH: usize = 200;

fn boxed(e: &ast::Expr, cx: &mut Cx<'_>, depth: usize) -> Option<Box<Expr>> {
    expr(e, cx, depth + 1).map(Box::new)
}

fn literal(l: &ast::Literal, store: &mut Store) -> Value {
    match l {
        ast::Literal::Bool(b) => Value::Bool(*b),
        ast::Literal::Long(n) => Value::Long(*n),
        ast::Literal::String(s) => Value::Str(Arc::from(s.as_str())),
        ast::Literal::EntityUID(uid) => Value::Entity(store.intern(&EntityUid::from(ast::EntityUID::clone(uid)))),
    }
}

/// A Cedar expression in the compiled form; `None` for what this evaluator
/// leaves to Cedar (slots, unknowns, other extensions, deep nesting).
fn expr(e: &ast::Expr, cx: &mut Cx<'_>, depth: usize) -> Option<Expr> {
    use ast::ExprKind as K;
    if depth > MAX_DEPTH {
        return None;
    }
    let e = match e.expr_kind() {
        K::Lit(l) => Expr::Const(literal(l, cx.store)),
        K::Var(v) => Expr::Var(match v {
            ast::Var::Principal => Var::Principal,
            ast::Var::Action => Var::Action,
            ast::Var::Resource => Var::Resource,
            ast::Var::Context => Var::Context,
        }),
        K::UnaryApp { op, arg } => match op {
            // Cedar writes `a != b` as `!(a == b)`, `a > b` as `!(a <= b)` and
            // `a >= b` as `!(a < b)`: one comparison here.
            ast::UnaryOp::Not => match arg.expr_kind() {
                K::BinaryApp {
                    op: inner @ (ast::BinaryOp::Eq | ast::BinaryOp::LessEq | ast::BinaryOp::Less),
                    arg1,
                    arg2,
                } => {
                    let op = match inner {
                        ast::BinaryOp::Eq => BinOp::NotEq,
                        ast::BinaryOp::LessEq => BinOp::Greater,
                        _ => BinOp::GreaterEq,
                    };
                    Expr::Bin(op, boxed(arg1, cx, depth + 1)?, boxed(arg2, cx, depth + 1)?)
                }
                _ => Expr::Not(boxed(arg, cx, depth)?),
            },
            ast::UnaryOp::Neg => Expr::Neg(boxed(arg, cx, depth)?),
            ast::UnaryOp::IsEmpty => Expr::IsEmpty(boxed(arg, cx, depth)?),
        },
        K::And { left, right } => Expr::And(boxed(left, cx, depth)?, boxed(right, cx, depth)?),
        K::Or { left, right } => Expr::Or(boxed(left, cx, depth)?, boxed(right, cx, depth)?),
        K::BinaryApp { op, arg1, arg2 } => {
            let op = match op {
                ast::BinaryOp::Eq => BinOp::Eq,
                ast::BinaryOp::Less => BinOp::Less,
                ast::BinaryOp::LessEq => BinOp::LessEq,
                ast::BinaryOp::Add => BinOp::Add,
                ast::BinaryOp::Sub => BinOp::Sub,
                ast::BinaryOp::Mul => BinOp::Mul,
                ast::BinaryOp::In => BinOp::In,
                ast::BinaryOp::Contains => BinOp::Contains,
                ast::BinaryOp::ContainsAll => BinOp::ContainsAll,
                ast::BinaryOp::ContainsAny => BinOp::ContainsAny,
                ast::BinaryOp::GetTag => BinOp::GetTag,
                ast::BinaryOp::HasTag => BinOp::HasTag,
            };
            Expr::Bin(op, boxed(arg1, cx, depth)?, boxed(arg2, cx, depth)?)
        }
        K::GetAttr { expr: a, attr } => {
            let name = cx.names.intern(attr);
            match expr(a, cx, depth + 1)? {
                Expr::Var(v) => Expr::Path(v, Box::new([name])),
                Expr::Path(v, names) => {
                    let mut names = names.into_vec();
                    names.push(name);
                    Expr::Path(v, names.into())
                }
                a => Expr::GetAttr(Box::new(a), name),
            }
        }
        K::HasAttr { expr: a, attr } => Expr::Has(boxed(a, cx, depth)?, vec![cx.names.intern(attr)].into()),
        K::ExtHasAttr { expr: a, attrs } => {
            let attrs: Vec<Arc<str>> = attrs.iter().map(|s| cx.names.intern(s)).collect();
            Expr::Has(boxed(a, cx, depth)?, attrs.into())
        }
        K::Like { expr: a, pattern } => {
            let pat: Vec<Pat> = pattern
                .iter()
                .map(|el| match el {
                    ast::PatternElem::Char(c) => Pat::Char(*c),
                    ast::PatternElem::Wildcard => Pat::Star,
                })
                .collect();
            Expr::Like(boxed(a, cx, depth)?, pat.into())
        }
        K::Is { expr: a, entity_type } => Expr::Is(boxed(a, cx, depth)?, cx.store.type_id(&entity_type.to_string())),
        K::If { test_expr, then_expr, else_expr } => {
            Expr::If(boxed(test_expr, cx, depth)?, boxed(then_expr, cx, depth)?, boxed(else_expr, cx, depth)?)
        }
        K::Set(items) => {
            let items = items.iter().map(|e| expr(e, cx, depth + 1)).collect::<Option<Vec<_>>>()?;
            if items.iter().all(|e| matches!(e, Expr::Const(_))) {
                Expr::Const(Value::Set(
                    items.into_iter().filter_map(|e| if let Expr::Const(v) = e { Some(v) } else { None }).collect(),
                ))
            } else {
                Expr::Set(items)
            }
        }
        K::Record(fields) => {
            // Sorted by name already (a BTreeMap).
            let mut items: Vec<(Arc<str>, Expr)> = Vec::with_capacity(fields.len());
            for (k, e) in fields.iter() {
                items.push((cx.names.intern(k), expr(e, cx, depth + 1)?));
            }
            if items.iter().all(|(_, e)| matches!(e, Expr::Const(_))) {
                let attrs: Vec<(Arc<str>, Value)> = items
                    .into_iter()
                    .filter_map(|(k, e)| if let Expr::Const(v) = e { Some((k, v)) } else { None })
                    .collect();
                Expr::Const(Value::Record(attrs.into()))
            } else {
                Expr::Record(items)
            }
        }
        K::ExtensionFunctionApp { fn_name, args } => {
            let f = match fn_name.to_string().as_str() {
                "datetime" => ExtFn::Datetime,
                "duration" => ExtFn::Duration,
                "offset" => ExtFn::Offset,
                "durationSince" => ExtFn::DurationSince,
                "toDate" => ExtFn::ToDate,
                "toTime" => ExtFn::ToTime,
                "toMilliseconds" => ExtFn::ToMilliseconds,
                "toSeconds" => ExtFn::ToSeconds,
                "toMinutes" => ExtFn::ToMinutes,
                "toHours" => ExtFn::ToHours,
                "toDays" => ExtFn::ToDays,
                _ => return None,
            };
            let args = args.iter().map(|e| expr(e, cx, depth + 1)).collect::<Option<Vec<_>>>()?;
            let arity = match f {
                ExtFn::Offset | ExtFn::DurationSince => 2,
                _ => 1,
            };
            if args.len() != arity {
                return None;
            }
            // Extension calls on literals are evaluated once, here.
            let consts: Option<Vec<Value>> =
                args.iter().map(|e| if let Expr::Const(v) = e { Some(v.clone()) } else { None }).collect();
            match consts.map(|vals| apply_ext(f, &vals)) {
                Some(Ok(v)) => Expr::Const(v),
                _ => Expr::Ext(f, args),
            }
        }
        _ => return None,
    };
    Some(e)
}

/// A context in either form the engine takes (Cedar JSON, [`ContextValue`]),
/// as [`convert_context`] reads it: one converter for both, so they cannot
/// drift apart.
pub(crate) trait ContextSource: Sized {
    fn as_str(&self) -> Option<&str>;
    fn as_long(&self) -> Option<i64>;
    fn as_bool(&self) -> Option<bool>;
    fn as_set(&self) -> Option<&[Self]>;
    fn as_record(&self) -> Option<impl Iterator<Item = (&str, &Self)>>;
}

impl ContextSource for Json {
    fn as_str(&self) -> Option<&str> {
        Json::as_str(self)
    }
    fn as_long(&self) -> Option<i64> {
        self.as_i64()
    }
    fn as_bool(&self) -> Option<bool> {
        Json::as_bool(self)
    }
    fn as_set(&self) -> Option<&[Self]> {
        self.as_array().map(Vec::as_slice)
    }
    fn as_record(&self) -> Option<impl Iterator<Item = (&str, &Self)>> {
        self.as_object().map(|o| o.iter().map(|(k, v)| (k.as_str(), v)))
    }
}

impl ContextSource for ContextValue {
    fn as_str(&self) -> Option<&str> {
        match self {
            ContextValue::String(s) => Some(s),
            _ => None,
        }
    }
    fn as_long(&self) -> Option<i64> {
        match self {
            ContextValue::Long(n) => Some(*n),
            _ => None,
        }
    }
    fn as_bool(&self) -> Option<bool> {
        match self {
            ContextValue::Bool(b) => Some(*b),
            _ => None,
        }
    }
    fn as_set(&self) -> Option<&[Self]> {
        match self {
            ContextValue::Set(items) => Some(items),
            _ => None,
        }
    }
    fn as_record(&self) -> Option<impl Iterator<Item = (&str, &Self)>> {
        match self {
            ContextValue::Record(attrs) => Some(attrs.iter().map(|(k, v)| (k.as_str(), v))),
            _ => None,
        }
    }
}

/// A context (its attributes, from either form) as values, checked against
/// the action's context type exactly as `request_shape::context_pairs` checks
/// it. `None` whenever that conversion would not give a valid context (or
/// would fall back, or an extension string does not parse, or a record
/// repeats a key): the caller then takes Cedar's path, which reports the
/// problem (and reads a repeated key as JSON does).
pub(crate) fn convert_context<'a, S: HostValue + 'a>(
    attrs: impl Iterator<Item = (&'a str, &'a S)>,
    record: &Record,
    now: Option<i64>,
) -> Option<Value> {
    with_scratch(Budget::unlimited(), |cx| {
        let start = cx.attrs.len();
        for (k, v) in attrs {
            top_attr(cx, record, now, k, v)?;
        }
        finish_context(cx, start, record, now)
    })
}

/// [`convert_context`] for a context read in place from host values (see
/// [`HostValue`]), within `budget`: `None` also when the budget runs out.
pub(crate) fn convert_host_context<H: HostValue>(
    context: &H,
    record: &Record,
    now: Option<i64>,
    budget: Budget,
) -> Option<Value> {
    with_scratch(budget, |cx| {
        let start = cx.attrs.len();
        context.each_attr(|k, v| top_attr(cx, record, now, k, v))?;
        finish_context(cx, start, record, now)
    })
}

/// What a conversion works with: its budget, this thread's slot for the
/// names of records (see [`Record::name`]), and the attributes and set
/// elements converted so far, one segment per record or set being read
/// (a nested one is read, and its segment taken, before its parent goes on).
struct Conv {
    budget: Budget,
    slot: usize,
    attrs: Converted,
    items: Vec<Value>,
    /// Attributes so far counted as required, per open record.
    required: usize,
}

/// Attributes converted so far, each with its position in its record type.
type Converted = Vec<(usize, Arc<str>, Value)>;

thread_local! {
    /// Scratch space kept between conversions (one allocation per thread, not one per record).
    static SCRATCH: std::cell::RefCell<(Converted, Vec<Value>)> =
        const { std::cell::RefCell::new((Vec::new(), Vec::new())) };
}

/// Runs `f` with this thread's scratch space (fresh vectors when another
/// conversion on this thread holds it, as when a host value's accessor starts
/// one), left empty and kept for the next conversion.
fn with_scratch(budget: Budget, f: impl FnOnce(&mut Conv) -> Option<Value>) -> Option<Value> {
    let (attrs, items) = SCRATCH
        .try_with(|s| s.try_borrow_mut().map(|mut s| std::mem::take(&mut *s)).unwrap_or_default())
        .unwrap_or_default();
    let mut cx = Conv { budget, slot: crate::request_shape::name_slot(), attrs, items, required: 0 };
    let out = f(&mut cx);
    cx.attrs.clear();
    cx.items.clear();
    // Not kept when a huge context grew them.
    if cx.attrs.capacity() <= 1024 && cx.items.capacity() <= 1024 {
        let _ = SCRATCH.try_with(|s| {
            if let Ok(mut s) = s.try_borrow_mut() {
                *s = (cx.attrs, cx.items);
            }
        });
    }
    out
}

/// One attribute of the context record (the engine's `now` replaces the caller's).
fn top_attr<S: HostValue>(cx: &mut Conv, record: &Record, now: Option<i64>, k: &str, v: &S) -> Option<()> {
    if now.is_some() && k == "now" {
        return Some(());
    }
    attribute(cx, record, k, v, 1)
}

/// One attribute `k` of a record of type `record` at `depth`, converted and
/// appended to the open record's segment.
fn attribute<S: HostValue>(cx: &mut Conv, record: &Record, k: &str, v: &S, depth: usize) -> Option<()> {
    cx.budget.take(1, k.len())?;
    let (at, (_, ty, req)) = record.position(k)?;
    cx.required += usize::from(*req);
    let value = value(cx, v, ty, depth)?;
    cx.attrs.push((at, record.name(at, cx.slot)?, value));
    Some(())
}

fn finish_context(cx: &mut Conv, start: usize, record: &Record, now: Option<i64>) -> Option<Value> {
    if let Some(now) = now {
        // `now` is declared whenever the engine stamps it (`declares_now`).
        let (at, (_, _, req)) = record.position("now")?;
        cx.required += usize::from(*req);
        cx.attrs.push((at, record.name(at, cx.slot)?, Value::Datetime(now)));
    }
    let required = cx.required;
    unique_record(cx, start, required, record.required)
}

/// A value read in place by the engine's typed context conversion: Cedar's
/// JSON data model (strings, 64-bit integers, booleans, lists as sets,
/// records), without building an intermediate tree. The language bindings
/// implement it for their host objects (see `Engine::prepare`).
///
/// Every method answers `None` for a value that is not of its kind. A value
/// the implementation does not read exactly as [`ContextValue`] would (any
/// other host type) must answer `None` to all of them: the engine then
/// decides the request from its [`ContextValue`] form instead.
pub trait HostValue {
    /// The text of a string.
    fn as_str(&self) -> Option<&str>;
    /// A 64-bit signed integer (not a boolean).
    fn as_long(&self) -> Option<i64>;
    /// A boolean.
    fn as_bool(&self) -> Option<bool>;
    /// Calls `f` on each element of a list (a Cedar set), stopping at the
    /// first `None`; `None` when this is not a list or `f` stopped.
    fn each_item(&self, f: impl FnMut(&Self) -> Option<()>) -> Option<()>;
    /// Calls `f` on each attribute of a record (keys are unique; attributes
    /// the host language writes as absent are skipped), stopping at the first
    /// `None`; `None` when this is not a record or `f` stopped.
    fn each_attr(&self, f: impl FnMut(&str, &Self) -> Option<()>) -> Option<()>;
}

impl HostValue for Json {
    fn as_str(&self) -> Option<&str> {
        Json::as_str(self)
    }
    fn as_long(&self) -> Option<i64> {
        self.as_i64()
    }
    fn as_bool(&self) -> Option<bool> {
        Json::as_bool(self)
    }
    fn each_item(&self, f: impl FnMut(&Self) -> Option<()>) -> Option<()> {
        self.as_array()?.iter().try_for_each(f)
    }
    fn each_attr(&self, mut f: impl FnMut(&str, &Self) -> Option<()>) -> Option<()> {
        self.as_object()?.iter().try_for_each(|(k, v)| f(k, v))
    }
}

impl HostValue for ContextValue {
    fn as_str(&self) -> Option<&str> {
        ContextSource::as_str(self)
    }
    fn as_long(&self) -> Option<i64> {
        ContextSource::as_long(self)
    }
    fn as_bool(&self) -> Option<bool> {
        ContextSource::as_bool(self)
    }
    fn each_item(&self, f: impl FnMut(&Self) -> Option<()>) -> Option<()> {
        self.as_set()?.iter().try_for_each(f)
    }
    fn each_attr(&self, mut f: impl FnMut(&str, &Self) -> Option<()>) -> Option<()> {
        self.as_record()?.try_for_each(|(k, v)| f(k, v))
    }
}

/// How much a conversion may still take: values (attributes and set
/// elements), bytes of text (keys and strings) and nesting depth.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Budget {
    values: usize,
    bytes: usize,
    depth: usize,
}

impl Budget {
    /// No limit (the context was checked against the limits already).
    pub(crate) fn unlimited() -> Self {
        Self { values: usize::MAX, bytes: usize::MAX, depth: usize::MAX }
    }

    /// At most `values` values, `bytes` bytes of text and `depth` levels.
    pub(crate) fn new(values: usize, bytes: usize, depth: usize) -> Self {
        Self { values, bytes, depth }
    }

    fn take(&mut self, values: usize, bytes: usize) -> Option<()> {
        self.values = self.values.checked_sub(values)?;
        self.bytes = self.bytes.checked_sub(bytes)?;
        Some(())
    }
}

/// The record whose attributes are `cx.attrs[start..]`, when its keys are
/// unique and every required attribute is there (the segment is taken either
/// way). Each attribute comes with its position in the record type's sorted
/// list, so ordering and repeats are decided on integers, not names.
fn unique_record(cx: &mut Conv, start: usize, required: usize, wanted: usize) -> Option<Value> {
    let segment = cx.attrs.get_mut(start..)?;
    if !segment.is_sorted_by_key(|a| a.0) {
        segment.sort_unstable_by_key(|a| a.0);
    }
    let unique = !segment.windows(2).any(|w| matches!(w, [a, b] if a.0 == b.0));
    if required != wanted || !unique {
        cx.attrs.truncate(start);
        return None;
    }
    Some(Value::Record(cx.attrs.drain(start..).map(|(_, k, v)| (k, v)).collect()))
}

/// One value of type `ty` at `depth` (a context attribute's value is at 1).
fn value<S: HostValue>(cx: &mut Conv, v: &S, ty: &Ty, depth: usize) -> Option<Value> {
    if depth > cx.budget.depth {
        return None;
    }
    Some(match ty {
        Ty::String => {
            let s = v.as_str()?;
            cx.budget.take(0, s.len())?;
            Value::Str(Arc::from(s))
        }
        Ty::Long => Value::Long(v.as_long()?),
        Ty::Bool => Value::Bool(v.as_bool()?),
        Ty::Ext(Ext::Datetime) => Value::Datetime(parse_datetime(v.as_str()?)?),
        Ty::Ext(Ext::Duration) => Value::Duration(parse_duration(v.as_str()?)?),
        Ty::Set(elem) => {
            let start = cx.items.len();
            let read = v.each_item(|i| {
                cx.budget.take(1, 0)?;
                let item = value(cx, i, elem, depth + 1)?;
                cx.items.push(item);
                Some(())
            });
            if read.is_none() {
                cx.items.truncate(start);
                return None;
            }
            Value::Set(cx.items.drain(start..).collect())
        }
        Ty::Record(r) => {
            let start = cx.attrs.len();
            let outer = std::mem::replace(&mut cx.required, 0);
            let read = v.each_attr(|k, item| {
                // An escape (`__extn`, `__entity`) is Cedar's to interpret.
                if k == "__extn" || k == "__entity" {
                    return None;
                }
                attribute(cx, r, k, item, depth + 1)
            });
            let required = std::mem::replace(&mut cx.required, outer);
            if read.is_none() {
                cx.attrs.truncate(start);
                return None;
            }
            return unique_record(cx, start, required, r.required);
        }
        _ => return None,
    })
}
