//! Differential test of the compiled evaluator against plain Cedar on random
//! policies: random `when` / `unless` expressions over the supported subset
//! (arithmetic near the i64 limits, datetimes and durations, sets, records,
//! `like`, `has`, tags, `is`, the entity hierarchy, if-then-else), some
//! ill-typed or erroring on purpose, some outside the subset (`decimal`),
//! against random entities and contexts.
//!
//! For every request:
//! - the engine in `ErrorMode::Cedar` (compiled evaluator on) must give
//!   `cedar_policy::Authorizer`'s decision, satisfied policies, and erroring
//!   policies with their messages;
//! - in the default fail-closed mode the compiled evaluator on and off must
//!   give the same decision (outcome, reasons, ask owners, errors).
//!
//! Seeded (reproducible): a failure prints the seed, the policies and the request.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::str::FromStr;
use std::time::{Duration, UNIX_EPOCH};

use agentauthz::cedar_policy::{
    AuthorizationError, Authorizer, Context, Decision as CedarDecision, Entities, EntityUid, PolicySet,
    Request as CedarRequest, Schema,
};
use agentauthz::{format_rfc3339_millis, Engine, ErrorMode, EvaluatorStats, PolicySources, Request};
use serde_json::{json, Value};

const SEEDS: u64 = 160;
const POLICIES_PER_SET: usize = 10;
const REQUESTS_PER_SET: usize = 25;

const SCHEMA: &str = r#"
entity Group in [Group];
entity User in [Group] {
  name: String, level: Long, active: Bool, roles: Set<String>, created: datetime,
  manager?: User, nick?: String, limits: { max: Long, window: duration },
} tags String;
entity Doc in [Group] { owner: User, public: Bool, size: Long, labels: Set<String> };
action all;
action view, edit in [Action::"all"] appliesTo {
  principal: [User], resource: [Doc, User],
  context: {
    now: datetime, n: Long, s: String, flag: Bool, ts: datetime, d: duration,
    tags: Set<String>, nums: Set<Long>, rec: { a: Long, b: String, inner?: { c: Long } }, opt?: String,
  },
};
action other appliesTo { principal: [User], resource: [Doc], context: { now: datetime, n: Long } };
"#;

/// xorshift64*: small, seeded, reproducible.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick(&mut self, items: &[&'static str]) -> &'static str {
        items[self.below(items.len())]
    }
    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
}

const USERS: &[&str] = &["alice", "bob", "carol", "dave", "eve"];
const GROUPS: &[&str] = &["eng", "ops", "all", "sec"];
const DOCS: &[&str] = &["d1", "d2", "d3", "d4"];
const LONGS: &[&str] = &[
    "0",
    "1",
    "-1",
    "2",
    "7",
    "1000",
    "9223372036854775807",
    "-9223372036854775807",
    "4611686018427387904",
    "3037000500",
    "-4611686018427387904",
];
const STRINGS: &[&str] = &["", "a", "ab", "abc", "a*c", "héllo", "x y", "*", "main", "rm -rf /"];
const PATTERNS: &[&str] =
    &["*", "", "a*", "*c", "a*c", "a\\*c", "*b*", "h*o", "héllo", "**", "a*b*c", "x y", "*rm -rf /*", "\\**"];
const DATETIMES: &[&str] = &[
    "2024-01-01",
    "2024-02-29T12:00:00Z",
    "2024-06-15T08:30:00.250Z",
    "2024-06-15T10:30:00+0200",
    "1969-12-31T23:59:59Z",
    "2026-11-25T10:00:00-0130",
    "0000-01-01",
    "9999-12-31T23:59:59.999Z",
    // invalid: Cedar errors when evaluating these
    "2023-02-29",
    "2024-13-01",
    "2024-01-01T24:00:00Z",
    "2024-01-01T00:00:00",
    "2024-1-1",
];
const DURATIONS: &[&str] = &[
    "1h",
    "-1h",
    "90m",
    "1d2h3m4s5ms",
    "0ms",
    "17h",
    "9h",
    "-3d",
    "5ms",
    "1m5ms",
    "106751991167d",
    // invalid or overflowing
    "1h1d",
    "",
    "-",
    "1x",
    "9223372036854775808ms",
    "999999999999999d",
];

fn quoted(s: &str) -> String {
    serde_json::to_string(s).unwrap()
}

fn entity_lit(r: &mut Rng) -> String {
    match r.below(5) {
        0 => format!("User::{}", quoted(r.pick(USERS))),
        1 => format!("Group::{}", quoted(r.pick(GROUPS))),
        2 => format!("Doc::{}", quoted(r.pick(DOCS))),
        3 => "User::\"ghost\"".into(),
        _ => "Group::\"nowhere\"".into(),
    }
}

struct Gen<'a> {
    r: &'a mut Rng,
}

impl Gen<'_> {
    fn bool_e(&mut self, d: usize) -> String {
        let leaf = d == 0 || self.r.chance(20);
        if leaf {
            return match self.r.below(8) {
                0 => self.r.pick(&["true", "false"]).to_string(),
                1 => "context.flag".into(),
                2 => "principal.active".into(),
                3 => "resource.public".into(),
                4 => format!("context has {}", self.r.pick(&["opt", "rec", "nope", "flag"])),
                5 => format!("principal has {}", self.r.pick(&["nick", "manager", "name", "zzz"])),
                6 => "context.rec has inner.c".into(),
                _ => format!("principal.hasTag({})", quoted(self.r.pick(&["team", "tier", "x"]))),
            };
        }
        let d = d - 1;
        match self.r.below(24) {
            0 | 1 => format!("({} && {})", self.bool_e(d), self.bool_e(d)),
            2 | 3 => format!("({} || {})", self.bool_e(d), self.bool_e(d)),
            4 => format!("!{}", self.bool_e(d)),
            5 => format!("(if {} then {} else {})", self.bool_e(d), self.bool_e(d), self.bool_e(d)),
            6 | 7 => {
                let op = self.r.pick(&["<", "<=", ">", ">=", "==", "!="]);
                format!("({} {op} {})", self.long_e(d), self.long_e(d))
            }
            8 => {
                let op = self.r.pick(&["<", "<=", ">", ">=", "==", "!="]);
                format!("({} {op} {})", self.dt_e(d), self.dt_e(d))
            }
            9 => {
                let op = self.r.pick(&["<", "<=", ">", ">=", "==", "!="]);
                format!("({} {op} {})", self.dur_e(d), self.dur_e(d))
            }
            10 => format!("({} == {})", self.str_e(d), self.str_e(d)),
            11 => format!("({} like {})", self.str_e(d), self.pattern()),
            12 => format!("({} in {})", self.ent_e(d), self.ent_target(d)),
            13 => format!("({} is {})", self.ent_e(d), self.r.pick(&["User", "Doc", "Group"])),
            14 => {
                format!("({} is {} in {})", self.ent_e(d), self.r.pick(&["User", "Doc", "Group"]), self.ent_target(d))
            }
            15 => format!("{}.contains({})", self.set_e(d), self.elem_e(d)),
            16 => format!("{}.{}({})", self.set_e(d), self.r.pick(&["containsAll", "containsAny"]), self.set_e(d)),
            17 => format!("{}.isEmpty()", self.set_e(d)),
            18 => format!("({} == {})", self.set_e(d), self.set_e(d)),
            19 => format!("({} == {})", self.rec_e(d), self.rec_e(d)),
            20 => format!("({} == {})", self.ent_e(d), self.ent_e(d)),
            21 => format!("(principal.getTag({}) == {})", quoted(self.r.pick(&["team", "tier", "x"])), self.str_e(d)),
            // Ill-typed on purpose: Cedar raises type errors.
            22 => {
                let bad = self.r.pick(&[
                    "(\"a\" < \"b\")",
                    "(1 < \"b\")",
                    "(context.s && true)",
                    "(context.n || false)",
                    "!context.s",
                    "(principal in context.s)",
                    "(context.s like \"*\" && context.rec.b)",
                    "context.rec.nope == 1",
                    "principal.zzz == 1",
                    "(if context.n then true else false)",
                    "(datetime(\"2024-01-01\") < duration(\"1h\"))",
                    "(context.ts < 5)",
                ]);
                bad.to_string()
            }
            // Outside the compiled subset: the policy is Cedar-only.
            _ => format!("decimal(\"1.5\").lessThan(decimal({}))", quoted(self.r.pick(&["2.0", "1.0", "x"]))),
        }
    }

    fn long_e(&mut self, d: usize) -> String {
        if d == 0 || self.r.chance(30) {
            return match self.r.below(6) {
                0 | 1 => self.r.pick(LONGS).to_string(),
                2 => "context.n".into(),
                3 => "principal.level".into(),
                4 => "resource.size".into(),
                _ => "context.rec.a".into(),
            };
        }
        let d = d - 1;
        match self.r.below(8) {
            0..=2 => {
                let op = self.r.pick(&["+", "-", "*"]);
                format!("({} {op} {})", self.long_e(d), self.long_e(d))
            }
            3 => format!("(-{})", self.long_e(d)),
            4 => format!("(if {} then {} else {})", self.bool_e(d), self.long_e(d), self.long_e(d)),
            5 => format!(
                "{}.{}()",
                self.dur_e(d),
                self.r.pick(&["toMilliseconds", "toSeconds", "toMinutes", "toHours", "toDays"])
            ),
            6 => "principal.limits.max".into(),
            _ => "context.rec.inner.c".into(),
        }
    }

    fn str_e(&mut self, d: usize) -> String {
        match self.r.below(7) {
            0 | 1 => quoted(self.r.pick(STRINGS)),
            2 => "context.s".into(),
            3 => "principal.name".into(),
            4 => "context.rec.b".into(),
            5 if d > 0 => format!("{}.name", self.ent_e(d - 1)),
            _ => "context.opt".into(),
        }
    }

    fn dt_e(&mut self, d: usize) -> String {
        if d == 0 || self.r.chance(30) {
            return match self.r.below(5) {
                0 | 1 => format!("datetime({})", quoted(self.r.pick(DATETIMES))),
                2 => "context.now".into(),
                3 => "context.ts".into(),
                _ => "principal.created".into(),
            };
        }
        let d = d - 1;
        match self.r.below(3) {
            0 => format!("{}.offset({})", self.dt_e(d), self.dur_e(d)),
            1 => format!("{}.toDate()", self.dt_e(d)),
            _ => format!("(if {} then {} else {})", self.bool_e(d), self.dt_e(d), self.dt_e(d)),
        }
    }

    fn dur_e(&mut self, d: usize) -> String {
        if d == 0 || self.r.chance(30) {
            return match self.r.below(4) {
                0 | 1 => format!("duration({})", quoted(self.r.pick(DURATIONS))),
                2 => "context.d".into(),
                _ => "principal.limits.window".into(),
            };
        }
        let d = d - 1;
        match self.r.below(2) {
            0 => format!("{}.durationSince({})", self.dt_e(d), self.dt_e(d)),
            _ => format!("{}.toTime()", self.dt_e(d)),
        }
    }

    fn ent_e(&mut self, d: usize) -> String {
        match self.r.below(7) {
            0 | 1 => "principal".into(),
            2 => "resource".into(),
            3 => entity_lit(self.r),
            4 => "principal.manager".into(),
            5 => "resource.owner".into(),
            _ if d > 0 => format!("(if {} then principal else resource)", self.bool_e(d - 1)),
            _ => "action".into(),
        }
    }

    fn ent_target(&mut self, d: usize) -> String {
        match self.r.below(4) {
            0 => format!("[{}, {}]", entity_lit(self.r), entity_lit(self.r)),
            1 => "[]".into(),
            2 => "[principal, 1]".into(),
            _ => self.ent_e(d),
        }
    }

    fn set_e(&mut self, d: usize) -> String {
        match self.r.below(8) {
            0 => "context.tags".into(),
            1 => "context.nums".into(),
            2 => "principal.roles".into(),
            3 => "resource.labels".into(),
            4 => format!("[{}, {}]", quoted(self.r.pick(STRINGS)), quoted(self.r.pick(STRINGS))),
            5 => format!("[{}, {}, {}]", self.r.pick(LONGS), self.r.pick(LONGS), self.r.pick(LONGS)),
            6 if d > 0 => format!("[{}, {}]", self.elem_e(d - 1), self.elem_e(d - 1)),
            _ => "[]".into(),
        }
    }

    fn elem_e(&mut self, d: usize) -> String {
        match self.r.below(4) {
            0 => self.str_e(d),
            1 => self.long_e(d.min(1)),
            2 => self.ent_e(d),
            _ => self.dt_e(d.min(1)),
        }
    }

    fn rec_e(&mut self, d: usize) -> String {
        match self.r.below(5) {
            0 => "context.rec".into(),
            1 => format!("{{a: {}, b: {}}}", self.long_e(d.min(1)), self.str_e(d)),
            2 => "principal.limits".into(),
            // Equal to `context.rec` when it has no `inner` (its keys come in either order).
            3 => "{b: context.rec.b, a: context.rec.a}".into(),
            _ => format!("{{max: {}, window: {}}}", self.long_e(d.min(1)), self.dur_e(d.min(1))),
        }
    }

    fn pattern(&mut self) -> String {
        // Cedar pattern literal: `\*` is a literal star.
        format!("\"{}\"", self.r.pick(PATTERNS))
    }
}

fn scope(r: &mut Rng, var: &str) -> String {
    let (ty, ids): (&str, &[&str]) = if var == "principal" { ("User", USERS) } else { ("Doc", DOCS) };
    match r.below(7) {
        0 | 1 => var.to_string(),
        2 => format!("{var} == {ty}::{}", quoted(r.pick(ids))),
        3 => format!("{var} in Group::{}", quoted(r.pick(GROUPS))),
        4 => format!("{var} is {ty}"),
        5 => format!("{var} is {ty} in Group::{}", quoted(r.pick(GROUPS))),
        _ => format!("{var} in {ty}::{}", quoted(r.pick(ids))),
    }
}

fn policies(r: &mut Rng) -> String {
    let mut out = String::new();
    for _ in 0..POLICIES_PER_SET {
        let forbid = r.chance(45);
        if forbid && r.chance(50) {
            let _ = write!(out, "@ask({}) ", quoted(r.pick(&["security", "platform"])));
        }
        let action = match r.below(5) {
            0 => "action".to_string(),
            1 => "action == Action::\"view\"".into(),
            2 => "action in [Action::\"view\", Action::\"edit\"]".into(),
            3 => "action in Action::\"all\"".into(),
            _ => "action == Action::\"edit\"".into(),
        };
        let _ = write!(
            out,
            "{} ({}, {action}, {})",
            if forbid { "forbid" } else { "permit" },
            scope(r, "principal"),
            scope(r, "resource")
        );
        for _ in 0..r.below(3) {
            let kind = if r.chance(70) { "when" } else { "unless" };
            let body = Gen { r }.bool_e(3);
            let _ = write!(out, " {kind} {{ {body} }}");
        }
        out.push_str(";\n");
    }
    out
}

fn entities(r: &mut Rng) -> String {
    let mut list = Vec::new();
    for (i, g) in GROUPS.iter().enumerate() {
        // A chain eng -> ops -> all, and sec alone (transitive closure matters).
        let parents: Vec<Value> = match i {
            0 => vec![json!({"type": "Group", "id": "ops"})],
            1 => vec![json!({"type": "Group", "id": "all"})],
            _ => vec![],
        };
        list.push(json!({"uid": {"type": "Group", "id": g}, "attrs": {}, "parents": parents}));
    }
    for u in USERS {
        let mut attrs = serde_json::Map::new();
        attrs.insert("name".into(), json!(r.pick(STRINGS)));
        attrs.insert("level".into(), json!(i64::from_str(r.pick(LONGS)).unwrap()));
        attrs.insert("active".into(), json!(r.chance(60)));
        attrs.insert("roles".into(), json!([r.pick(STRINGS), r.pick(STRINGS)]));
        attrs.insert("created".into(), json!(r.pick(&DATETIMES[..8])));
        attrs.insert(
            "limits".into(),
            json!({"max": i64::from_str(r.pick(LONGS)).unwrap(), "window": r.pick(&DURATIONS[..11])}),
        );
        if r.chance(60) {
            let m = if r.chance(20) { "ghost" } else { r.pick(USERS) };
            attrs.insert("manager".into(), json!({"__entity": {"type": "User", "id": m}}));
        }
        if r.chance(50) {
            attrs.insert("nick".into(), json!(r.pick(STRINGS)));
        }
        let mut tags = serde_json::Map::new();
        for t in ["team", "tier"] {
            if r.chance(50) {
                tags.insert(t.into(), json!(r.pick(STRINGS)));
            }
        }
        let parents: Vec<Value> = (0..r.below(3)).map(|_| json!({"type": "Group", "id": r.pick(GROUPS)})).collect();
        list.push(json!({"uid": {"type": "User", "id": u}, "attrs": attrs, "parents": parents, "tags": tags}));
    }
    for doc in DOCS {
        let owner = if r.chance(15) { "ghost" } else { r.pick(USERS) };
        let parents: Vec<Value> = (0..r.below(2)).map(|_| json!({"type": "Group", "id": r.pick(GROUPS)})).collect();
        list.push(json!({"uid": {"type": "Doc", "id": doc}, "attrs": {
            "owner": {"__entity": {"type": "User", "id": owner}}, "public": r.chance(50),
            "size": i64::from_str(r.pick(LONGS)).unwrap(), "labels": [r.pick(STRINGS)]}, "parents": parents}));
    }
    Value::Array(list).to_string()
}

struct Case {
    principal: String,
    action: &'static str,
    resource: String,
    context: Value,
}

fn request(r: &mut Rng) -> Case {
    let principal = if r.chance(10) { "nobody".to_string() } else { r.pick(USERS).to_string() };
    let action = r.pick(&["view", "edit", "view", "other"]);
    let resource = if action != "other" && r.chance(25) {
        format!("User::{}", quoted(r.pick(USERS)))
    } else if r.chance(8) {
        "Doc::\"missing\"".into()
    } else {
        format!("Doc::{}", quoted(r.pick(DOCS)))
    };
    let context = if action == "other" {
        json!({"n": i64::from_str(r.pick(LONGS)).unwrap()})
    } else {
        // Mostly valid datetimes/durations; sometimes invalid ones (a request error).
        let ts = if r.chance(95) { r.pick(&DATETIMES[..8]) } else { r.pick(DATETIMES) };
        let d = if r.chance(95) { r.pick(&DURATIONS[..11]) } else { r.pick(DURATIONS) };
        let (a, b) = (i64::from_str(r.pick(LONGS)).unwrap(), r.pick(STRINGS));
        // Keys in either order (JSON objects keep theirs): a record's value
        // must not depend on the order a host gives its attributes in.
        let mut rec = if r.chance(50) { json!({"a": a, "b": b}) } else { json!({"b": b, "a": a}) };
        if r.chance(50) {
            rec["inner"] = json!({"c": i64::from_str(r.pick(LONGS)).unwrap()});
        }
        let mut c = json!({
            "n": i64::from_str(r.pick(LONGS)).unwrap(), "s": r.pick(STRINGS), "flag": r.chance(50), "ts": ts, "d": d,
            "tags": [r.pick(STRINGS), r.pick(STRINGS)], "nums": [i64::from_str(r.pick(LONGS)).unwrap()], "rec": rec,
        });
        if r.chance(50) {
            c["opt"] = json!(r.pick(STRINGS));
        }
        c
    };
    Case { principal: format!("User::{}", quoted(&principal)), action, resource, context }
}

type Answer = (bool, BTreeSet<String>, BTreeSet<(String, String)>);

fn cedar_answer(schema: &Schema, set: &PolicySet, ents: &Entities, c: &Case, now: &str) -> Option<Answer> {
    let action = EntityUid::from_str(&format!("Action::\"{}\"", c.action)).unwrap();
    let mut ctx = c.context.clone();
    ctx["now"] = json!({"__extn": {"fn": "datetime", "arg": now}});
    let context = Context::from_json_value(ctx, Some((schema, &action))).ok()?;
    let req = CedarRequest::new(
        EntityUid::from_str(&c.principal).unwrap(),
        action,
        EntityUid::from_str(&c.resource).unwrap(),
        context,
        Some(schema),
    )
    .ok()?;
    let resp = Authorizer::new().is_authorized(&req, set, ents);
    let reasons = resp.diagnostics().reason().map(ToString::to_string).collect();
    let errors = resp
        .diagnostics()
        .errors()
        .map(|e| match e {
            AuthorizationError::PolicyEvaluationError(pe) => (pe.policy_id().to_string(), pe.inner().to_string()),
        })
        .collect();
    Some((resp.decision() == CedarDecision::Allow, reasons, errors))
}

fn engine_request(c: &Case) -> Request {
    Request::from_json(&json!({"principal": c.principal, "action": c.action, "resource": c.resource,
        "context": c.context}))
    .unwrap()
}

fn sum(a: EvaluatorStats, b: EvaluatorStats) -> EvaluatorStats {
    EvaluatorStats {
        compiled: a.compiled + b.compiled,
        unsupported_policy: a.unsupported_policy + b.unsupported_policy,
        unconverted_request: a.unconverted_request + b.unconverted_request,
        after_error: a.after_error + b.after_error,
    }
}

#[test]
fn compiled_evaluator_matches_cedar_on_random_policies() {
    let (schema, _) = Schema::from_cedarschema_str(SCHEMA).unwrap();
    let mut total = EvaluatorStats::default();
    let (mut requests, mut allowed, mut with_errors, mut request_errors) = (0, 0, 0, 0);
    for seed in 1..=SEEDS {
        let r = &mut Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
        let text = policies(r);
        let ents_text = entities(r);
        let sources = PolicySources::from_strings(SCHEMA, &text, Some(&ents_text));
        let build = |mode: ErrorMode, compiled: bool| {
            Engine::builder(sources.clone())
                .error_mode(mode)
                .accept_invalid_policies(true)
                .compiled_evaluator(compiled)
                .count_evaluations(true)
                .build()
                .unwrap_or_else(|e| panic!("seed {seed}: engine did not load: {e}\n{text}"))
        };
        let cedar_mode = build(ErrorMode::Cedar, true);
        let fail_closed = build(ErrorMode::FailClosed, true);
        let fail_closed_plain = build(ErrorMode::FailClosed, false);
        let set = PolicySet::from_str(&text).unwrap();
        let ents = Entities::from_json_str(&ents_text, Some(&schema)).unwrap();
        for _ in 0..REQUESTS_PER_SET {
            let c = request(r);
            let now = UNIX_EPOCH + Duration::from_millis(1_700_000_000_000 + (r.next() % 100_000_000_000));
            let stamp = format_rfc3339_millis(now);
            let req = engine_request(&c);
            let ctx = || {
                format!(
                    "seed {seed}\npolicies:\n{text}\nrequest: {} {} {} {} now={stamp}",
                    c.principal, c.action, c.resource, c.context
                )
            };
            requests += 1;

            let d = cedar_mode.authorize_at(&req, now);
            match cedar_answer(&schema, &set, &ents, &c, &stamp) {
                None => {
                    request_errors += 1;
                    assert!(
                        d.errors.iter().any(|e| e.policy.is_none()),
                        "Cedar rejects the request, the engine did not: {d:?}\n{}",
                        ctx()
                    );
                }
                Some((allow, reasons, errors)) => {
                    allowed += usize::from(allow);
                    with_errors += usize::from(!errors.is_empty());
                    let got_reasons: BTreeSet<String> = d.reason_ids().into_iter().map(String::from).collect();
                    let got_errors: BTreeSet<(String, String)> =
                        d.errors.iter().map(|e| (e.policy.clone().unwrap_or_default(), e.message.clone())).collect();
                    assert_eq!(d.outcome == agentauthz::Outcome::Allow, allow, "decision\n{}", ctx());
                    assert_eq!(got_reasons, reasons, "satisfied policies\n{}", ctx());
                    assert_eq!(got_errors, errors, "errors\n{}", ctx());
                }
            }

            let a = fail_closed.authorize_at(&req, now);
            let b = fail_closed_plain.authorize_at(&req, now);
            assert_eq!(a.outcome, b.outcome, "fail-closed outcome\n{}", ctx());
            assert_eq!(a.reason_ids(), b.reason_ids(), "fail-closed reasons\n{}", ctx());
            assert_eq!(a.ask_owners, b.ask_owners, "fail-closed ask owners\n{}", ctx());
            // Cedar reports a bucket's errors in its policy set's hash order: compare as sets.
            let errors = |d: &agentauthz::Decision| -> BTreeSet<(Option<String>, String)> {
                d.errors.iter().map(|e| (e.policy.clone(), e.message.clone())).collect()
            };
            assert_eq!(errors(&a), errors(&b), "fail-closed errors\n{}", ctx());
        }
        total = sum(total, sum(cedar_mode.evaluator_stats(), fail_closed.evaluator_stats()));
        assert_eq!(fail_closed_plain.evaluator_stats().compiled, 0, "the compiled evaluator can be turned off");
    }
    println!(
        "{requests} requests: {allowed} allowed, {with_errors} with policy errors, {request_errors} invalid; \
         policy evaluations: {total:?}"
    );
    // The generator must reach every path, or the comparison proves little.
    let all = total.compiled + total.unsupported_policy + total.unconverted_request + total.after_error;
    assert!(total.compiled * 2 > all, "the compiled evaluator decided too little: {total:?}");
    assert!(total.after_error > 0 && total.unsupported_policy > 0, "{total:?}");
    assert!(allowed * 10 > requests && with_errors * 20 > requests && request_errors > 0);
}

/// A record's attributes may come in any order (JSON objects, Python dicts
/// and JavaScript objects keep the order they were written in): the
/// compiled evaluator compares records as Cedar does, whichever order the
/// context gave, through every way a context reaches it.
#[test]
fn records_compare_equal_whatever_order_their_attributes_came_in() {
    // Not valid for the schema (`rec` may have `inner`), as some random policies above.
    let policies = r#"permit (principal, action == Action::"view", resource) when { context.rec == {a: 1, b: "x"} };"#;
    let ents = r#"[{"uid": {"type": "User", "id": "ann"}, "parents": [], "attrs": {"name": "ann", "level": 1,
        "active": true, "roles": [], "created": {"__extn": {"fn": "datetime", "arg": "2024-01-01"}},
        "limits": {"max": 1, "window": {"__extn": {"fn": "duration", "arg": "1h"}}}}},
        {"uid": {"type": "Doc", "id": "d"}, "parents": [], "attrs": {"owner": {"__entity": {"type": "User", "id": "ann"}},
        "public": true, "size": 1, "labels": []}}]"#;
    let sources = PolicySources::from_strings(SCHEMA, policies, Some(ents));
    let engine = Engine::builder(sources).accept_invalid_policies(true).build().unwrap();
    let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    for rec in [json!({"a": 1, "b": "x"}), json!({"b": "x", "a": 1})] {
        let context = json!({"n": 1, "s": "s", "flag": true, "ts": "2024-01-01", "d": "1h", "tags": [], "nums": [],
            "rec": rec, "now": "2024-01-01"});
        let req = Request::from_json(&json!({"principal": "User::\"ann\"", "action": "view",
            "resource": "Doc::\"d\"", "context": context}))
        .unwrap();
        let d = engine.authorize_at(&req, now);
        assert!(d.allowed(), "JSON context, rec = {rec}: {d:?}");
        let bare = Request::from_json(&json!({"principal": "User::\"ann\"", "action": "view",
            "resource": "Doc::\"d\""}))
        .unwrap();
        let prepared = engine.prepare(&bare, &context, Some(now)).expect("the context converts in place");
        let d = engine.decide_prepared(&bare, &prepared).expect("decided in place");
        assert!(d.allowed(), "context read in place, rec = {rec}: {d:?}");
    }
}
