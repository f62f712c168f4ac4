"""Secrets: what ``secrets_for`` collects, what ``redact`` hides, and an end-to-end run against a
loopback endpoint that echoes the API key and the URL password back in its error body."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import FAKE_MODELS, fake_experiment
from typer.testing import CliRunner

from ragbench.cli import app
from ragbench.config.experiment import parse_config
from ragbench.config.redact import MIN_SECRET_LEN, REDACTED, redact
from ragbench.config.secrets import secrets_for

KEY = "sk-test-0123456789abcdefKEY"  # what the endpoint must never see stored
PASSWORD = "hunter2-P4ssw0rd"


def config(**overrides: Any) -> Any:
    return parse_config(fake_experiment(name="x", **overrides))


# --- redact --------------------------------------------------------------------------------------


def test_redact_replaces_given_secrets_in_nested_values() -> None:
    value: dict[str, Any] = {
        "error": f"401: bad key {KEY}",
        "list": [KEY, ("tuple", KEY)],
        KEY: 3,
        "n": 1.5,
        "none": None,
    }
    out = redact(value, [KEY])
    assert out == {
        "error": f"401: bad key {REDACTED}",
        "list": [REDACTED, ("tuple", REDACTED)],
        REDACTED: 3,
        "n": 1.5,
        "none": None,
    }
    assert value["error"].endswith(KEY)  # a copy: the input is untouched


def test_redact_hides_url_passwords_even_when_not_configured() -> None:
    text = f"cannot reach http://alice:{PASSWORD}@10.0.0.1:8000/v1 (or postgresql://bob:pw9@db/x)"
    assert redact(text) == (
        "cannot reach http://alice:***@10.0.0.1:8000/v1 (or postgresql://bob:***@db/x)"
    )


def test_redact_hides_a_password_holding_an_at_sign() -> None:
    assert redact("http://u:p@ss@host:1/v1") == "http://u:***@host:1/v1"


def test_redact_leaves_urls_without_password_alone() -> None:
    text = "http://127.0.0.1:8000/v1 and https://user@host/x and mailto:a@b.c"
    assert redact(text) == text


def test_redact_hides_bearer_tokens_and_key_query_parameters() -> None:
    text = "Authorization: Bearer abc.DEF-123_456 / GET /v1?api_key=s3cr3t&q=1&token=t0k"
    assert redact(text) == "Authorization: Bearer *** / GET /v1?api_key=***&q=1&token=***"


def test_redact_hides_basic_auth_values() -> None:
    assert redact("You sent: Basic cmVhZGVyOmh1bnRlcjI=") == "You sent: Basic ***"


def test_redact_leaves_prose_about_auth_tokens_alone() -> None:
    text = "the endpoint wants a bearer token (not basic authentication) in the header"
    assert redact(text) == text


BASE64_USERPASS = base64.b64encode(b"user:secretpass123").decode()  # letters only, no padding


@pytest.mark.parametrize(
    "token",
    [
        BASE64_USERPASS,  # dXNlcjpzZWNyZXRwYXNzMTIz: no digit, no punctuation
        "YWxhZGRpbjpvcGVuc2VzYW1l",  # aladdin:opensesame
        "abcdefghIJKLmnop",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig-nature_x",
        "dXNlcjpzZWNyZXRwYXNzMTIz".lower() + "x" * 10,  # long: a token, whatever its case
    ],
)
def test_redact_hides_every_token_like_auth_value(token: str) -> None:
    for scheme in ("Basic", "Bearer", "basic", "BEARER"):
        assert redact(f"401: You sent: {scheme} {token}.") == f"401: You sent: {scheme} ***."


@pytest.mark.parametrize(
    "prose",
    [
        "open the basic settings page",
        "Basic Settings, Bearer Authentication.",
        "a basic retrieval-augmented pipeline",
        "the BASIC PROGRAMS and a bearer instrument",
        "basic question-answering",
    ],
)
def test_redact_leaves_words_after_basic_and_bearer_alone(prose: str) -> None:
    assert redact(prose) == prose


def test_redact_prefers_the_longest_secret() -> None:
    assert redact("abcdefgh-ijkl", ["abcdefgh", "abcdefgh-ijkl"]) == REDACTED


# --- secrets_for ---------------------------------------------------------------------------------


def test_secrets_for_reads_every_api_key_env_of_base_and_sweep() -> None:
    cfg = config(
        base={
            "embedding": {"provider": "hashing", "api_key_env": "EMB_KEY"},
            "generation": {"llm": {"provider": "fake", "api_key_env": "GEN_KEY"}},
            "judge": {"provider": "fake", "api_key_env": "JUDGE_KEY"},
        },
        sweep={"generation.llm.api_key_env": ["GEN_KEY", "SWEPT_KEY"]},
    )
    env = {
        "EMB_KEY": "emb-secret-1",
        "GEN_KEY": "gen-secret-2",
        "JUDGE_KEY": "judge-secret-3",
        "SWEPT_KEY": "swept-secret-4",
        "OTHER_KEY": "not-named-anywhere",
    }
    found = secrets_for(cfg, environ=env)
    assert set(found) == {"emb-secret-1", "gen-secret-2", "judge-secret-3", "swept-secret-4"}


def test_secrets_for_skips_short_placeholders() -> None:
    cfg = config()
    assert secrets_for(cfg, environ={"OPENAI_API_KEY": "EMPTY"}) == []
    assert secrets_for(cfg, environ={"OPENAI_API_KEY": "x" * MIN_SECRET_LEN}) == ["x" * 8]


def test_secrets_for_collects_url_passwords_in_any_encoding() -> None:
    llm = {
        "provider": "openai",
        "model": "m",
        "base_url": "http://u:p%40ssw0rd-1@127.0.0.1:9/v1",
    }
    cfg = config(base=FAKE_MODELS | {"generation": {"llm": llm}})
    found = secrets_for(cfg, environ={})
    assert "p%40ssw0rd-1" in found and "p@ssw0rd-1" in found  # as written, as sent
    assert redact("server said p@ssw0rd-1 is wrong", found) == "server said *** is wrong"


def test_secrets_for_adds_the_basic_auth_forms_of_url_credentials() -> None:
    llm = {"provider": "openai", "model": "m", "base_url": "http://user:secret%2Fpass1@h:9/v1"}
    cfg = config(base={"generation": {"llm": llm}, "judge": {"provider": "fake"}})
    found = secrets_for(cfg, environ={})
    sent = b"user:secret/pass1"  # what httpx puts in the header: the password decoded
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        encoded = encode(sent).decode()
        assert encoded in found and encoded.rstrip("=") in found
    assert base64.b64encode(b"user:secret%2Fpass1").decode() in found  # as written, too


def test_url_credentials_are_sent_instead_of_the_api_key(monkeypatch: pytest.MonkeyPatch) -> None:
    from ragbench.config.experiment import LLMConfig
    from ragbench.models import make_llm

    monkeypatch.setenv("RAGBENCH_TEST_ECHO_KEY", KEY)
    plain = {"provider": "openai", "model": "m", "api_key_env": "RAGBENCH_TEST_ECHO_KEY"}
    assert make_llm(LLMConfig(**plain, base_url="http://h:9/v1")).api_key == KEY
    with_user = make_llm(LLMConfig(**plain, base_url=f"http://u:{PASSWORD}@h:9/v1"))
    assert with_user.api_key != KEY  # the key is not even handed to the client


def test_secrets_for_covers_swept_urls() -> None:
    url = f"http://u:{PASSWORD}@127.0.0.1:9/v1"
    cfg = config(
        base=FAKE_MODELS
        | {"generation": {"llm": {"provider": "openai", "model": "m", "base_url": "http://h/v1"}}},
        sweep={"generation.llm.base_url": ["http://h/v1", url]},
    )
    assert PASSWORD in secrets_for(cfg, environ={})


# --- end to end: a loopback endpoint that echoes credentials -------------------------------------


class EchoHandler(BaseHTTPRequestHandler):
    """Just enough of the OpenAI chat-completions API to fail like a careless server: a 401 whose
    body repeats the key and any basic-auth credentials it was sent."""

    seen: list[str] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        auth = self.headers.get("Authorization", "")
        self.seen.append(auth)
        scheme, _, value = auth.partition(" ")
        if scheme.lower() == "basic":
            value = base64.b64decode(value).decode()
        body = json.dumps(
            {
                "error": {
                    "message": f"Incorrect API key provided: {value}. You sent: {auth}",
                    "type": "invalid_request_error",
                    "code": "invalid_api_key",
                }
            }
        ).encode()
        self.send_response(401)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:  # keep the test output quiet
        pass


@pytest.fixture
def echo_server() -> Iterator[tuple[str, list[str]]]:
    EchoHandler.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), EchoHandler)  # port 0: a free port
    server.timeout = 5
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True  # never outlives the test process, whatever happens
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}", EchoHandler.seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _strings_in_duckdb(db: Path) -> str:
    """Every value of every column of every table, as text (VARCHAR, JSON, lists...)."""
    import duckdb

    con = duckdb.connect(str(db), read_only=True)
    try:
        tables = [r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()]
        parts = []
        for table in tables:
            for row in con.execute(f'SELECT * FROM "{table}"').fetchall():
                parts.append(repr(row))
        return "\n".join(parts)
    finally:
        con.close()


def test_no_secret_reaches_any_artefact(
    tmp_path: Path, echo_server: tuple[str, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    from ragbench.experiment.orchestrator import run

    host, seen = echo_server
    monkeypatch.setenv("RAGBENCH_TEST_ECHO_KEY", KEY)
    llm = {
        "provider": "openai",
        "model": "echo",
        "base_url": f"http://{host}/v1",
        "api_key_env": "RAGBENCH_TEST_ECHO_KEY",
        "timeout_s": 5,
        "max_retries": 0,
    }
    exp = tmp_path / "echo.yaml"
    exp.write_text(
        yaml.safe_dump(
            {
                "name": "echo",
                "dataset": {"loader": "demo"},
                "base": FAKE_MODELS | {"generation": {"llm": llm}},
                # the second and third trials send a password as URL userinfo (basic auth);
                # the third one's base64 has no digit and no punctuation
                "sweep": {
                    "generation.llm.base_url": [
                        f"http://{host}/v1",
                        f"http://reader:{PASSWORD}@{host}/v1",
                        f"http://user:secretpass123@{host}/v1",
                    ]
                },
                "metrics": ["hit_rate", "faithfulness"],
                "limit": 2,
                "judge_limit": 1,
            }
        )
    )
    db = tmp_path / "results" / "r.duckdb"

    result = run(exp, db=db, progress=False)
    cli_run = CliRunner().invoke(app, ["run", str(exp), "--db", str(db), "--no-progress"])
    cli_report = CliRunner().invoke(
        app, ["report", "echo", "--db", str(db), "--run", result.run_id]
    )

    # The endpoint really was sent both credentials, and really echoed them.
    assert any(KEY in s for s in seen)
    assert any(
        f"Basic {base64.b64encode(f'reader:{PASSWORD}'.encode()).decode()}" == s for s in seen
    )
    stored = _strings_in_duckdb(db)
    assert "Incorrect API key provided: ***" in stored  # recorded and redacted, not dropped

    artefacts = {
        "duckdb columns": stored,
        "duckdb bytes": db.read_bytes().decode("latin-1"),
        "cli run": cli_run.output,
        "cli report": cli_report.output,
    }
    out_dir = db.parent / "echo"
    for path in [out_dir / "report.md", *out_dir.glob("*.csv")]:
        artefacts[path.name] = path.read_text()
    assert "report.md" in artefacts and "summary.csv" in artefacts
    basic = base64.b64encode(f"reader:{PASSWORD}".encode()).decode()
    for name, text in artefacts.items():
        assert KEY not in text, f"API key in {name}"
        assert PASSWORD not in text, f"URL password in {name}"
        assert basic not in text, f"basic-auth credentials in {name}"
        assert "secretpass123" not in text, f"URL password in {name}"
        assert BASE64_USERPASS not in text, f"basic-auth credentials in {name}"
    # URL credentials replace the key: no request that carried them carried the key too.
    assert f"Basic {BASE64_USERPASS}" in seen
    assert all(s == f"Bearer {KEY}" or s.startswith("Basic ") for s in seen)
