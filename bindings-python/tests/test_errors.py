"""Every exception path: loading, requests, cases files."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import agentauthz
from conftest import EXAMPLE, NOW, ctx

SCHEMA = "entity U; action go appliesTo { principal: [U], resource: [U] };"


def test_hierarchy() -> None:
    for cls in [
        agentauthz.SchemaError,
        agentauthz.PolicyError,
        agentauthz.EntityError,
        agentauthz.RequestError,
        agentauthz.Denied,
        agentauthz.ApprovalRequired,
    ]:
        assert issubclass(cls, agentauthz.AuthzError)
    assert issubclass(agentauthz.ApprovalRequired, agentauthz.Denied)
    assert issubclass(agentauthz.AuthzError, Exception)


def test_schema_syntax_error_has_location() -> None:
    with pytest.raises(agentauthz.SchemaError) as e:
        agentauthz.Engine("entity U;\nentity V in [U\n", "")
    assert e.value.file == "<schema>"
    assert e.value.line == 2
    assert "<schema>:2: schema error" in str(e.value)


def test_policy_syntax_error_has_location() -> None:
    policies = 'permit(principal, action, resource);\n\npermit(principal action, resource);\n'
    with pytest.raises(agentauthz.PolicyError) as e:
        agentauthz.Engine(SCHEMA, policies)
    assert e.value.file == "<policies>"
    assert e.value.line == 3
    assert "policy syntax error" in str(e.value)


def test_policy_validation_error_lists_issues() -> None:
    policies = (
        '@id("ok")\npermit(principal, action, resource);\n'
        '@id("bad")\npermit(principal, action, resource) when { principal.nope == 1 };\n'
    )
    with pytest.raises(agentauthz.PolicyError) as e:
        agentauthz.Engine(SCHEMA, policies)
    err = e.value
    assert err.file == "<policies>" and err.line == 4
    assert err.policy_id == "bad"
    assert len(err.issues) == 1
    assert err.issues[0]["policy_id"] == "bad" and err.issues[0]["line"] == 4
    assert "nope" in err.issues[0]["message"]
    assert "validation error" in str(err)


def test_duplicate_policy_id() -> None:
    policies = '@id("p")\npermit(principal, action, resource);\n@id("p")\nforbid(principal, action, resource);\n'
    with pytest.raises(agentauthz.PolicyError, match="duplicate policy id `p`") as e:
        agentauthz.Engine(SCHEMA, policies)
    assert e.value.policy_id == "p" and e.value.file == "<policies>"


def test_unsupported_feature() -> None:
    with pytest.raises(agentauthz.PolicyError, match="@ask applies to forbid policies only"):
        agentauthz.Engine(SCHEMA, '@ask("sec")\npermit(principal, action, resource);')
    with pytest.raises(agentauthz.PolicyError, match="templates"):
        agentauthz.Engine(SCHEMA, "permit(principal == ?principal, action, resource);")


def test_entity_error() -> None:
    with pytest.raises(agentauthz.EntityError, match="entity error") as e:
        agentauthz.Engine(SCHEMA, "permit(principal, action, resource);", "[{not json")
    assert e.value.file == "<entities>"
    with pytest.raises(agentauthz.EntityError):
        agentauthz.Engine(
            SCHEMA,
            "permit(principal, action, resource);",
            [{"uid": {"type": "Nope", "id": "x"}, "attrs": {}, "parents": []}],
        )
    with pytest.raises(agentauthz.AuthzError, match=r"entities\[0\]"):
        agentauthz.Engine(SCHEMA, "permit(principal, action, resource);", [1.5])


def test_folder_errors(tmp_path: Path) -> None:
    with pytest.raises(agentauthz.AuthzError, match="cannot read"):
        agentauthz.Engine.from_dir(tmp_path / "missing")
    with pytest.raises(agentauthz.AuthzError, match=r"no \*\.cedarschema file"):
        agentauthz.Engine.from_dir(tmp_path)
    # A broken policy file in a folder names the file and line.
    folder = tmp_path / "copy"
    shutil.copytree(EXAMPLE, folder)
    (folder / "99-broken.cedar").write_text("// comment\npermit(principal, action resource);\n")
    with pytest.raises(agentauthz.PolicyError) as e:
        agentauthz.Engine.from_dir(folder)
    assert e.value.file is not None and e.value.file.endswith("99-broken.cedar")
    assert e.value.line == 2


def test_bad_error_mode() -> None:
    with pytest.raises(ValueError, match="unknown error mode `lenient`"):
        agentauthz.Engine.from_dir(EXAMPLE, error_mode="lenient")  # type: ignore[arg-type]


def test_argument_types() -> None:
    with pytest.raises(TypeError):
        agentauthz.Engine(1, "")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "principal, message",
    [
        ("ci-bot", "principal: `ci-bot` is not an entity reference"),
        (("Agent",), "principal: a tuple entity reference must be"),
        (("Agent", 1), "principal: a tuple entity reference must be"),
        ({"type": "Agent"}, "principal: a dict entity reference needs"),
        (42, "principal: expected 'Type::\"id\"'"),
        (("not a type!", "x"), "is not a valid entity type name"),
        # Cedar reads only the normalized text form: a raw control character in
        # the id is refused (it is written `\\n` there), as by Cedar itself.
        ('Agent::"ci\nbot"', "needs to be normalized"),
        ('Agent::"ci\tbot"', "needs to be normalized"),
    ],
)
def test_bad_entity_references_raise(engine: agentauthz.Engine, principal: object, message: str) -> None:
    with pytest.raises(agentauthz.RequestError) as e:
        engine.authorize(principal, "open_pr", 'Repository::"acme/api"', ctx())  # type: ignore[arg-type]
    assert message in str(e.value)


def test_bad_action_and_context_type(engine: agentauthz.Engine) -> None:
    with pytest.raises(agentauthz.RequestError, match="action"):
        engine.authorize('Agent::"ci-bot"', "", 'Repository::"acme/api"')
    with pytest.raises(agentauthz.RequestError, match="action"):
        engine.authorize('Agent::"ci-bot"', 'Action::"x', 'Repository::"acme/api"')
    with pytest.raises(agentauthz.RequestError, match="context must be a dict, got list"):
        engine.authorize('Agent::"ci-bot"', "open_pr", 'Repository::"acme/api"', [1])  # type: ignore[arg-type]


def test_bad_now(engine: agentauthz.Engine) -> None:
    from datetime import datetime

    with pytest.raises(agentauthz.RequestError, match="now: .*not an RFC 3339 instant"):
        engine.authorize_at('Agent::"ci-bot"', "open_pr", 'Repository::"acme/api"', ctx(), now="yesterday")
    with pytest.raises(agentauthz.RequestError, match="now: naive datetime"):
        engine.authorize_at('Agent::"ci-bot"', "open_pr", 'Repository::"acme/api"', ctx(), now=datetime(2026, 1, 1))
    with pytest.raises(agentauthz.RequestError, match="now: expected an aware datetime"):
        engine.authorize_at('Agent::"ci-bot"', "open_pr", 'Repository::"acme/api"', ctx(), now=1.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        engine.authorize_at('Agent::"ci-bot"', "open_pr", 'Repository::"acme/api"', ctx())  # type: ignore[call-arg]


def test_schema_mismatch_is_a_deny_not_an_exception(engine: agentauthz.Engine) -> None:
    # Unknown entity type, unknown action, wrong context: denied with the error.
    cases = [
        ('Robot::"x"', "open_pr", 'Repository::"acme/api"', ctx()),
        ('Agent::"ci-bot"', "fly", 'Repository::"acme/api"', ctx()),
        ('Agent::"ci-bot"', "open_pr", 'Repository::"acme/api"', ctx(diff_lines="many")),
        ('Agent::"ci-bot"', "open_pr", 'Repository::"acme/api"', ctx(colour="red")),
        ('Agent::"ci-bot"', "open_pr", 'Repository::"acme/api"', {}),
    ]
    for p, a, r, c in cases:
        d = engine.authorize_at(p, a, r, c, now=NOW)
        assert d.outcome == "deny" and d.reasons == []
        assert len(d.errors) == 1 and d.errors[0][0] is None and d.errors[0][1], (p, a, c)


def test_load_cases_errors(tmp_path: Path) -> None:
    with pytest.raises(agentauthz.AuthzError, match="cannot read"):
        agentauthz.load_cases(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text('[[case]]\nname = "x"\nprincipal = "a"\n')
    with pytest.raises(agentauthz.AuthzError, match="x: missing `action`"):
        agentauthz.load_cases(bad)
    bad.write_text("not toml = = =")
    with pytest.raises(agentauthz.AuthzError, match="bad.toml"):
        agentauthz.load_cases(str(bad))


def test_exceptions_are_constructible_from_python() -> None:
    e = agentauthz.PolicyError("m", file="f.cedar", line=3)
    assert (str(e), e.file, e.line, e.issues, e.policy_id) == ("m", "f.cedar", 3, [], None)
    s = agentauthz.SchemaError("m")
    assert s.file is None and s.line is None
