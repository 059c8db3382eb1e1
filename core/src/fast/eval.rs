//! Evaluation of compiled policies, following `cedar-policy-core` 4.14's
//! `evaluator.rs` and `extensions/datetime.rs`. Wherever Cedar would return an
//! error this returns [`Fallback`] (the caller re-evaluates with Cedar).

use std::borrow::Cow;
use std::sync::Arc;

use super::time::{parse_datetime, parse_duration, to_date, to_time};
use super::{
    lookup, lookup_name, ActionScope, BinOp, EntRef, Env, Expr, ExtFn, Fallback, FastPolicy, Pat, Scope, Store, Value,
    Var,
};

type R<T> = Result<T, Fallback>;

/// Whether the policy is satisfied: its scope, then each `when` / `unless` in order.
pub(crate) fn eval_policy(p: &FastPolicy, env: &Env<'_>) -> R<bool> {
    let store = env.store;
    if !scope(store, env.principal, p.principal) || !scope(store, env.resource, p.resource) {
        return Ok(false);
    }
    let action_ok = match &p.action {
        ActionScope::Any => true,
        ActionScope::Eq(a) => env.action.id == *a,
        ActionScope::In(groups) => groups.iter().any(|g| store.is_in(env.action, *g)),
    };
    if !action_ok {
        return Ok(false);
    }
    match &p.condition {
        Some(body) => test(body, env),
        None => Ok(true),
    }
}

fn scope(store: &Store, e: EntRef, s: Scope) -> bool {
    match s {
        Scope::Any => true,
        Scope::Eq(t) => e.id == t,
        Scope::In(t) => store.is_in(e, t),
        Scope::Is(ty) => e.ty == ty,
        Scope::IsIn(ty, t) => e.ty == ty && store.is_in(e, t),
    }
}

fn as_bool(v: &Value) -> R<bool> {
    match v {
        Value::Bool(b) => Ok(*b),
        _ => Err(Fallback),
    }
}

fn as_long(v: &Value) -> R<i64> {
    match v {
        Value::Long(i) => Ok(*i),
        _ => Err(Fallback),
    }
}

fn as_set(v: &Value) -> R<&[Value]> {
    match v {
        Value::Set(s) => Ok(s),
        _ => Err(Fallback),
    }
}

fn as_entity(v: &Value) -> R<EntRef> {
    match v {
        Value::Entity(e) => Ok(*e),
        _ => Err(Fallback),
    }
}

/// Borrowed where the value already exists (constants, context, entity data).
type V<'a> = Cow<'a, Value>;

fn attr<'a>(base: V<'a>, name: &Arc<str>, store: &'a Store) -> R<V<'a>> {
    match base {
        Cow::Borrowed(base) => attr_of(base, name, store).map(Cow::Borrowed),
        Cow::Owned(Value::Record(attrs)) => lookup_name(&attrs, name).cloned().map(Cow::Owned).ok_or(Fallback),
        Cow::Owned(Value::Entity(ent)) => entity_attr(store, ent, name).map(Cow::Borrowed).ok_or(Fallback),
        Cow::Owned(_) => Err(Fallback),
    }
}

/// The attribute `name` of an entity in the store (`None`: no such
/// attribute, or an entity the store does not hold).
fn entity_attr<'a>(store: &'a Store, ent: EntRef, name: &Arc<str>) -> Option<&'a Value> {
    store.data(ent).and_then(|d| lookup_name(&d.attrs, name))
}

/// The attribute `name` of a borrowed value (a record or an entity).
fn attr_of<'a>(base: &'a Value, name: &Arc<str>, store: &'a Store) -> R<&'a Value> {
    match base {
        Value::Record(attrs) => lookup_name(attrs, name).ok_or(Fallback),
        Value::Entity(ent) => entity_attr(store, *ent, name).ok_or(Fallback),
        _ => Err(Fallback),
    }
}

/// `var.a.b...`, read in place: the nested `GetAttr`s' value and fallbacks.
fn path<'a>(var: Var, names: &'a [Arc<str>], env: &'a Env<'a>) -> R<&'a Value> {
    let Some((first, rest)) = names.split_first() else { return Err(Fallback) };
    let store = env.store;
    let mut current = match var {
        Var::Context => attr_of(&env.context, first, store)?,
        Var::Principal => entity_attr(store, env.principal, first).ok_or(Fallback)?,
        Var::Action => entity_attr(store, env.action, first).ok_or(Fallback)?,
        Var::Resource => entity_attr(store, env.resource, first).ok_or(Fallback)?,
    };
    for name in rest {
        current = attr_of(current, name, store)?;
    }
    Ok(current)
}

/// A condition's truth: exactly `as_bool(&*eval(e, env)?)` (the same order of
/// evaluation, the same fallbacks), without building a [`Value`] for the
/// boolean operators.
fn test(e: &Expr, env: &Env<'_>) -> R<bool> {
    match e {
        Expr::Not(a) => Ok(!test(a, env)?),
        Expr::And(a, b) => Ok(test(a, env)? && test(b, env)?),
        Expr::Or(a, b) => Ok(test(a, env)? || test(b, env)?),
        Expr::If(c, t, f) => {
            if test(c, env)? {
                test(t, env)
            } else {
                test(f, env)
            }
        }
        Expr::IsEmpty(a) => Ok(as_set(&*eval(a, env)?)?.is_empty()),
        Expr::Bin(op, a, b) if op.is_test() => {
            let a = eval(a, env)?;
            let b = eval(b, env)?;
            compare(*op, &a, &b, env.store)
        }
        Expr::Path(var, names) => as_bool(path(*var, names, env)?),
        Expr::Has(a, names) => {
            let mut current = eval(a, env)?;
            let mut names = names.iter().peekable();
            while let Some(name) = names.next() {
                let present = match &*current {
                    Value::Record(attrs) => lookup_name(attrs, name).is_some(),
                    Value::Entity(ent) => entity_attr(env.store, *ent, name).is_some(),
                    _ => return Err(Fallback),
                };
                if !present {
                    return Ok(false);
                }
                if names.peek().is_some() {
                    current = attr(current, name, env.store)?;
                }
            }
            Ok(true)
        }
        Expr::Like(a, pattern) => match &*eval(a, env)? {
            Value::Str(s) => Ok(like(s, pattern)),
            _ => Err(Fallback),
        },
        Expr::Is(a, ty) => Ok(as_entity(&*eval(a, env)?)?.ty == *ty),
        _ => as_bool(&*eval(e, env)?),
    }
}

fn eval<'a>(e: &'a Expr, env: &'a Env<'a>) -> R<V<'a>> {
    let owned = |v: Value| -> R<V<'a>> { Ok(Cow::Owned(v)) };
    match e {
        Expr::Const(v) => Ok(Cow::Borrowed(v)),
        Expr::Var(Var::Principal) => owned(Value::Entity(env.principal)),
        Expr::Var(Var::Action) => owned(Value::Entity(env.action)),
        Expr::Var(Var::Resource) => owned(Value::Entity(env.resource)),
        Expr::Var(Var::Context) => Ok(Cow::Borrowed(&env.context)),
        Expr::Path(var, names) => path(*var, names, env).map(Cow::Borrowed),
        // Boolean operators (`test` handles exactly these).
        Expr::Not(_)
        | Expr::And(..)
        | Expr::Or(..)
        | Expr::IsEmpty(_)
        | Expr::Has(..)
        | Expr::Like(..)
        | Expr::Is(..) => owned(Value::Bool(test(e, env)?)),
        Expr::Bin(op, _, _) if op.is_test() => owned(Value::Bool(test(e, env)?)),
        Expr::Neg(a) => owned(Value::Long(as_long(&*eval(a, env)?)?.checked_neg().ok_or(Fallback)?)),
        Expr::If(c, t, f) => {
            if test(c, env)? {
                eval(t, env)
            } else {
                eval(f, env)
            }
        }
        Expr::Bin(op, a, b) => {
            let a = eval(a, env)?;
            let b = eval(b, env)?;
            arithmetic(*op, &a, &b, env.store)
        }
        Expr::GetAttr(a, name) => attr(eval(a, env)?, name, env.store),
        Expr::Set(items) => {
            owned(Value::Set(items.iter().map(|i| eval(i, env).map(Cow::into_owned)).collect::<R<Vec<_>>>()?.into()))
        }
        Expr::Record(items) => owned(Value::Record(
            items.iter().map(|(k, i)| Ok((k.clone(), eval(i, env)?.into_owned()))).collect::<R<Vec<_>>>()?.into(),
        )),
        Expr::Ext(f, args) => match args.as_slice() {
            [a] => apply_ext(*f, &[eval(a, env)?.into_owned()]).map(Cow::Owned),
            [a, b] => apply_ext(*f, &[eval(a, env)?.into_owned(), eval(b, env)?.into_owned()]).map(Cow::Owned),
            _ => Err(Fallback),
        },
    }
}

/// Cedar value equality; [`Fallback`] when an unmodelled value takes part.
pub(crate) fn equal(a: &Value, b: &Value) -> R<bool> {
    Ok(match (a, b) {
        (Value::Opaque, _) | (_, Value::Opaque) => return Err(Fallback),
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::Long(x), Value::Long(y)) => x == y,
        (Value::Str(x), Value::Str(y)) => x == y,
        (Value::Entity(x), Value::Entity(y)) => x.id == y.id,
        (Value::Datetime(x), Value::Datetime(y)) => x == y,
        (Value::Duration(x), Value::Duration(y)) => x == y,
        // Only the cheap case is decided here: the same elements in the same
        // order. Anything else goes to Cedar, whose sets are hashed: a
        // two-way subset test here would cost 2^depth on nested sets and
        // n*m on large ones.
        (Value::Set(x), Value::Set(y)) => {
            if x.len() != y.len() {
                return Err(Fallback);
            }
            for (a, b) in x.iter().zip(y.iter()) {
                if !equal(a, b)? {
                    return Err(Fallback);
                }
            }
            true
        }
        (Value::Record(x), Value::Record(y)) => {
            if x.len() != y.len() {
                return Ok(false);
            }
            for ((kx, vx), (ky, vy)) in x.iter().zip(y.iter()) {
                if kx != ky || !equal(vx, vy)? {
                    return Ok(false);
                }
            }
            true
        }
        _ => false,
    })
}

fn contains(set: &[Value], v: &Value) -> R<bool> {
    for item in set {
        if equal(item, v)? {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Every element of `a` is in `b`. Large pairs go to Cedar (hashed sets)
/// rather than cost `a.len() * b.len()` comparisons here.
fn subset(a: &[Value], b: &[Value]) -> R<bool> {
    if a.len().saturating_mul(b.len()) > 4096 {
        return Err(Fallback);
    }
    for item in a {
        if !contains(b, item)? {
            return Ok(false);
        }
    }
    Ok(true)
}

/// The binary operators whose value is a boolean ([`BinOp::is_test`]).
fn compare(op: BinOp, a: &Value, b: &Value, store: &Store) -> R<bool> {
    use std::cmp::Ordering;
    let order = |a: &Value, b: &Value| -> R<Ordering> {
        match (a, b) {
            (Value::Long(x), Value::Long(y)) | (Value::Datetime(x), Value::Datetime(y)) => Ok(x.cmp(y)),
            (Value::Duration(x), Value::Duration(y)) => Ok(x.cmp(y)),
            _ => Err(Fallback),
        }
    };
    Ok(match op {
        BinOp::Eq => equal(a, b)?,
        BinOp::NotEq => !equal(a, b)?,
        BinOp::Less => order(a, b)? == Ordering::Less,
        BinOp::LessEq => order(a, b)? != Ordering::Greater,
        BinOp::Greater => order(a, b)? == Ordering::Greater,
        BinOp::GreaterEq => order(a, b)? != Ordering::Less,
        BinOp::In => {
            let ent = as_entity(a)?;
            match b {
                Value::Entity(t) => store.is_in(ent, t.id),
                Value::Set(items) => {
                    // Cedar first requires every element to be an entity.
                    for item in items.iter() {
                        as_entity(item)?;
                    }
                    items.iter().any(|t| matches!(t, Value::Entity(t) if store.is_in(ent, t.id)))
                }
                _ => return Err(Fallback),
            }
        }
        BinOp::Contains => contains(as_set(a)?, b)?,
        BinOp::ContainsAll => {
            let (x, y) = (as_set(a)?, as_set(b)?);
            subset(y, x)?
        }
        BinOp::ContainsAny => {
            let (x, y) = (as_set(a)?, as_set(b)?);
            if x.len().saturating_mul(y.len()) > 4096 {
                return Err(Fallback);
            }
            let mut any = false;
            for item in y {
                if contains(x, item)? {
                    any = true;
                    break;
                }
            }
            any
        }
        BinOp::HasTag => {
            let ent = as_entity(a)?;
            let Value::Str(tag) = b else { return Err(Fallback) };
            store.data(ent).and_then(|d| lookup(&d.tags, tag)).is_some()
        }
        BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::GetTag => return Err(Fallback),
    })
}

/// The binary operators whose value is not a boolean.
fn arithmetic<'a>(op: BinOp, a: &Value, b: &Value, store: &'a Store) -> R<V<'a>> {
    Ok(Cow::Owned(match op {
        BinOp::Add => Value::Long(as_long(a)?.checked_add(as_long(b)?).ok_or(Fallback)?),
        BinOp::Sub => Value::Long(as_long(a)?.checked_sub(as_long(b)?).ok_or(Fallback)?),
        BinOp::Mul => Value::Long(as_long(a)?.checked_mul(as_long(b)?).ok_or(Fallback)?),
        BinOp::GetTag => {
            let ent = as_entity(a)?;
            let Value::Str(tag) = b else { return Err(Fallback) };
            return store.data(ent).and_then(|d| lookup(&d.tags, tag)).map(Cow::Borrowed).ok_or(Fallback);
        }
        _ => Value::Bool(compare(op, a, b, store)?),
    }))
}

/// Cedar's `like`: `*` matches any sequence of characters.
fn like(text: &str, pattern: &[Pat]) -> bool {
    let (mut ti, mut pi) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    loop {
        let next_char = text.get(ti..).and_then(|t| t.chars().next());
        match pattern.get(pi) {
            Some(Pat::Star) => {
                star = Some((pi + 1, ti));
                pi += 1;
                continue;
            }
            Some(Pat::Char(c)) if next_char == Some(*c) => {
                ti += c.len_utf8();
                pi += 1;
                continue;
            }
            None if next_char.is_none() => return true,
            _ => {}
        }
        let Some((after_star, from)) = star else { return false };
        let Some(skipped) = text.get(from..).and_then(|t| t.chars().next()) else { return false };
        let from = from + skipped.len_utf8();
        star = Some((after_star, from));
        pi = after_star;
        ti = from;
    }
}

/// Applies a `datetime` / `duration` constructor or method.
pub(crate) fn apply_ext(f: ExtFn, args: &[Value]) -> R<Value> {
    const SECOND: i64 = 1000;
    let duration_method = |div: fn(i64) -> i64| match args {
        [Value::Duration(ms)] => Ok(Value::Long(div(*ms))),
        _ => Err(Fallback),
    };
    match (f, args) {
        (ExtFn::Datetime, [Value::Str(s)]) => parse_datetime(s).map(Value::Datetime).ok_or(Fallback),
        (ExtFn::Duration, [Value::Str(s)]) => parse_duration(s).map(Value::Duration).ok_or(Fallback),
        (ExtFn::Offset, [Value::Datetime(d), Value::Duration(x)]) => {
            d.checked_add(*x).map(Value::Datetime).ok_or(Fallback)
        }
        (ExtFn::DurationSince, [Value::Datetime(a), Value::Datetime(b)]) => {
            a.checked_sub(*b).map(Value::Duration).ok_or(Fallback)
        }
        (ExtFn::ToDate, [Value::Datetime(d)]) => to_date(*d).map(Value::Datetime).ok_or(Fallback),
        (ExtFn::ToTime, [Value::Datetime(d)]) => Ok(Value::Duration(to_time(*d))),
        (ExtFn::ToMilliseconds, _) => duration_method(|ms| ms),
        (ExtFn::ToSeconds, _) => duration_method(|ms| ms / SECOND),
        (ExtFn::ToMinutes, _) => duration_method(|ms| ms / SECOND / 60),
        (ExtFn::ToHours, _) => duration_method(|ms| ms / SECOND / 60 / 60),
        (ExtFn::ToDays, _) => duration_method(|ms| ms / SECOND / 60 / 60 / 24),
        _ => Err(Fallback),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pat(s: &str) -> Vec<Pat> {
        s.chars().map(|c| if c == '*' { Pat::Star } else { Pat::Char(c) }).collect()
    }

    #[test]
    fn like_matches_cedar_wildcards() {
        for (text, p, want) in [
            ("", "", true),
            ("", "*", true),
            ("a", "", false),
            ("abc", "a*c", true),
            ("abc", "*b*", true),
            ("abc", "*d*", false),
            ("aaa", "a*a*a", true),
            ("aa", "a*a*a", false),
            ("mississippi", "*sip*", true),
            ("héllo wörld", "h*ö*d", true),
            ("rm -rf /", "*rm -rf /*", true),
            ("ab", "a**b", true),
            ("abcabd", "*abd", true),
        ] {
            assert_eq!(like(text, &pat(p)), want, "{text:?} like {p:?}");
        }
    }
}
