#!/usr/bin/env python3
"""Fills fuzz/corpus/<target>/ with seed inputs (the directory is not committed).

Sources: policies-examples/ (schemas, policies, entities, trace.jsonl requests),
the committed fuzz/regressions/ inputs, and, when present, the Cedar conformance
corpus (../shared/conformance/cedar-integration-tests, or $CONFORMANCE_DIR):
its handwritten tests and the first $SEED_LIMIT (default 150) generated tests.

Usage: python3 fuzz/seed.py        (idempotent; file names are content hashes)
"""
import hashlib
import json
import os
import pathlib
import sys

FUZZ = pathlib.Path(__file__).resolve().parent
ROOT = FUZZ.parent
EXAMPLES = ROOT / "policies-examples"
LIMIT = int(os.environ.get("SEED_LIMIT", "150"))
MAX_SEED = 64 * 1024
TARGETS = ["load_policies", "load_schema", "entities_json", "request_json", "audit_verify", "differential"]


def conformance_dir():
    env = os.environ.get("CONFORMANCE_DIR")
    for d in [env, ROOT / "../shared/conformance/cedar-integration-tests", ROOT / "../../shared/conformance/cedar-integration-tests"]:
        if d and pathlib.Path(d).is_dir():
            return pathlib.Path(d).resolve()
    return None


counts = {t: 0 for t in TARGETS}


def add(target, data):
    if isinstance(data, str):
        data = data.encode()
    if not data or len(data) > MAX_SEED:
        return
    d = FUZZ / "corpus" / target
    d.mkdir(parents=True, exist_ok=True)
    f = d / hashlib.sha1(data).hexdigest()
    if not f.exists():
        f.write_bytes(data)
        counts[target] += 1


def uid(v):
    """A conformance {"type","id"} uid in the engine's text form."""
    if isinstance(v, dict) and "type" in v and "id" in v:
        return "%s::%s" % (v["type"], json.dumps(v["id"]))
    return v


def request_seeds(obj):
    keep = {k: obj[k] for k in ("principal", "action", "resource", "context") if k in obj}
    add("request_json", json.dumps(keep))
    add("request_json", json.dumps(keep, indent=1))


# The examples.
for f in sorted(EXAMPLES.rglob("*")):
    if f.suffix == ".cedar":
        add("load_policies", f.read_bytes())
    elif f.suffix == ".cedarschema":
        add("load_schema", f.read_bytes())
    elif f.name.endswith("entities.json"):
        add("entities_json", f.read_bytes())
    elif f.suffix == ".jsonl":
        for line in f.read_text().splitlines():
            try:
                request_seeds(json.loads(line))
            except (ValueError, AttributeError):
                pass

# Structured targets read their input through `arbitrary`: libFuzzer starts
# from 4-byte inputs, which yield only trivial cases, so give them full-size
# pseudo-random seeds (deterministic).
state = 0x9E3779B97F4A7C15
for i in range(32):
    out = bytearray()
    for _ in range(512):
        state ^= (state << 13) & 0xFFFFFFFFFFFFFFFF
        state ^= state >> 7
        state ^= (state << 17) & 0xFFFFFFFFFFFFFFFF
        out.append((state >> 24) & 0xFF)
    add("differential", bytes(out))
    add("audit_verify", bytes([1]) + bytes(out[:64]))

# Committed regressions and curated seeds.
for t in TARGETS:
    d = FUZZ / "regressions" / t
    if d.is_dir():
        for f in sorted(d.iterdir()):
            add(t, f.read_bytes())

# The conformance corpus.
conf = conformance_dir()
if conf is None:
    print("conformance corpus not found; seeding from the examples only", file=sys.stderr)
else:
    tests = sorted((conf / "tests").rglob("*.json")) + sorted((conf / "corpus-tests").glob("*.json"))[: LIMIT * 2]
    generated = 0
    for t in tests:
        if t.name.endswith(".entities.json"):
            continue
        if "corpus-tests" in t.parts:
            generated += 1
            if generated > LIMIT:
                break
        try:
            test = json.loads(t.read_text())
        except ValueError:
            continue
        for key, target in (("policies", "load_policies"), ("schema", "load_schema"), ("entities", "entities_json")):
            p = conf / test.get(key, "")
            if p.is_file():
                add(target, p.read_bytes())
        for r in test.get("requests", [])[:4]:
            r = dict(r)
            r["principal"], r["resource"] = uid(r.get("principal")), uid(r.get("resource"))
            action = r.get("action")
            if isinstance(action, dict):
                r["action"] = action.get("id")
            request_seeds(r)

print("seeded: " + ", ".join("%s +%d" % (t, n) for t, n in counts.items()))
