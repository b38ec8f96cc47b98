"""redact(): what must never leave the machine, and what ordinary code keeps."""

from __future__ import annotations

import base64
import random
import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zeke.engine.private_keys import starts_inside_private_key
from zeke.engine.redact import redact

# Fake secrets are assembled at run time so that secret scanners do not flag
# this file; they have the real shapes.
rng = random.Random(7)
ALNUM = string.ascii_letters + string.digits


def rand(n: int, alphabet: str = ALNUM) -> str:
    # Always include a digit: real random tokens do, and some rules rely on it.
    return "7" + "".join(rng.choice(alphabet) for _ in range(n - 1))


GH = "gh" + "p_" + rand(36)
GH_PAT = "github" + "_pat_" + rand(40, ALNUM + "_")
OPENAI = "s" + "k-proj-" + rand(40)
ANTHROPIC = "s" + "k-ant-api03-" + rand(60)
SLACK = "xo" + "xb-" + rand(12, string.digits) + "-" + rand(24)
GOOGLE = "AI" + "za" + rand(35)
AKIA = "AK" + "IA" + rand(16, string.ascii_uppercase + string.digits)
AWS_SECRET = rand(40, ALNUM + "/+")
JWT = "eyJ" + rand(20) + ".eyJ" + rand(30) + "." + rand(40)


def pem(kind: str = "RSA ", lines: int = 6, indent: str = "") -> tuple[str, list[str]]:
    body = [base64.b64encode(rng.randbytes(48)).decode() for _ in range(lines)]
    text = "\n".join(
        [f"{indent}-----BEGIN {kind}PRIVATE KEY-----"]
        + [indent + b for b in body]
        + [f"{indent}-----END {kind}PRIVATE KEY-----"]
    )
    return text, body


def case(template: str, secret: str, kept: str) -> tuple[str, str, str]:
    """(text, the secret that must vanish, the text before it that must stay)."""
    return template.format(s=secret), secret, kept


CASES = [
    case('api_key = "{s}"', rand(24), 'api_key = "'),
    case("apiKey: '{s}'", rand(24), "apiKey: '"),
    case("password={s}", rand(12), "password="),
    case('db_password = "{s}"', rand(12), 'db_password = "'),
    case('self.secret = "{s}"', rand(16), 'self.secret = "'),
    case('config = {{"auth_token": "{s}"}}', rand(30), 'config = {"auth_token": "'),
    case('login(user, password="{s}")', rand(10), 'login(user, password="'),
    case("const clientSecret = `{s}`", rand(20), "const clientSecret = `"),
    case('token := "{s}"', rand(20), 'token := "'),
    case("'api_key' => '{s}'", rand(20), "'api_key' => '"),
    case('api_key: str = "{s}"', rand(20), 'api_key: str = "'),
    case('"x-api-key": "{s}"', rand(20), '"x-api-key": "'),
    case("GITHUB_TOKEN={s}", rand(30), "GITHUB_TOKEN="),
    case('export DB_PASSWORD="{s}"', rand(14), 'export DB_PASSWORD="'),
    case("      - POSTGRES_PASSWORD={s}", rand(14), "      - POSTGRES_PASSWORD="),
    case("ENV NPM_TOKEN={s}", rand(30), "ENV NPM_TOKEN="),
    case("SECRET_KEY_BASE={s}  # rails", rand(30), "SECRET_KEY_BASE="),
    case("AWS_SECRET_ACCESS_KEY={s}", AWS_SECRET, "AWS_SECRET_ACCESS_KEY="),
    case("aws_secret_access_key = {s}", AWS_SECRET, "aws_secret_access_key = "),
    case("key_id: {s}", AKIA, "key_id: "),
    case("Authorization: Bearer {s}", rand(8), "Authorization: Bearer "),
    case("curl -H 'Bearer {s}'", rand(40), "curl -H 'Bearer "),
    case('requests.get(u, auth="Bearer {s}")', rand(32), 'requests.get(u, auth="Bearer '),
    case("url = 'postgres://app:{s}@db:5432/app'", rand(12), "url = 'postgres://app:"),
    case('x = "{s}"', GH, 'x = "'),
    case("pat {s} end", GH_PAT, "pat "),
    case("OPENAI = {s}", OPENAI, "OPENAI = "),
    case("anthropic({s})", ANTHROPIC, "anthropic("),
    case("slack: {s}", SLACK, "slack: "),
    case("maps({s})", GOOGLE, "maps("),
    case("jwt {s}", JWT, "jwt "),
]


@pytest.mark.parametrize(("text", "secret", "kept"), CASES)
def test_each_secret_kind_is_replaced_by_a_visible_marker(
    text: str, secret: str, kept: str
) -> None:
    out, n = redact(text)
    assert n == 1, out
    assert secret not in out
    assert out.startswith(kept + "«redacted:")  # the key name stays, the value goes


@pytest.mark.parametrize("kind", ["RSA ", "EC ", "OPENSSH ", "", "ENCRYPTED "])
def test_private_key_blocks_are_hidden_and_lines_keep_their_numbers(kind: str) -> None:
    block, body = pem(kind, indent="    ")
    text = f"def load():\n    KEY = '''\n{block}\n    '''\n    return KEY"
    out, n = redact(text)
    assert n == 1
    assert not any(b in out for b in body)
    assert "PRIVATE KEY" not in out
    assert "«redacted:private-key»" in out
    # Same number of lines, same surrounding code: "line 5" still means line 5.
    assert out.count("\n") == text.count("\n")
    assert out.startswith("def load():\n    KEY = '''\n")
    assert out.endswith("    '''\n    return KEY")


def test_a_key_inside_one_string_literal_is_hidden() -> None:
    body = base64.b64encode(rng.randbytes(60)).decode()
    text = f'k = "-----BEGIN EC PRIVATE KEY-----\\n{body}\\n-----END EC PRIVATE KEY-----\\n"'
    out, n = redact(text)
    assert n == 1 and body not in out and out.startswith('k = "')


def test_a_slice_that_cuts_a_key_in_half_still_hides_the_body() -> None:
    block, body = pem()
    lines = block.split("\n")
    tail = "\n".join([*lines[3:], "after()"])  # END but no BEGIN
    out, n = redact(tail)
    assert n == 1 and not any(b in out for b in body) and out.endswith("\nafter()")
    head = "\n".join(["before()", *lines[:4]])  # BEGIN but no END
    out, n = redact(head)
    assert n == 1 and not any(b in out for b in body) and out.startswith("before()\n")
    middle = "\n".join(lines[2:5])  # neither marker: only the caller knows
    assert redact(middle)[1] == 0
    out, n = redact(middle, starts_in_private_key=True)
    assert n == 1 and not any(b in out for b in body)


def test_starts_inside_private_key_looks_at_the_nearest_marker_above() -> None:
    block, _ = pem()
    lines = ["x = 1", *block.split("\n"), "y = 2"]
    assert not starts_inside_private_key(lines, 0)
    assert not starts_inside_private_key(lines, 1)  # the BEGIN line itself
    assert starts_inside_private_key(lines, 2)
    assert starts_inside_private_key(lines, len(lines) - 2)  # the END line
    assert not starts_inside_private_key(lines, len(lines) - 1)


def test_code_that_only_mentions_the_pem_markers_is_left_alone() -> None:
    text = (
        'BEGIN = "-----BEGIN RSA PRIVATE KEY-----"\n'
        "def is_key(s):\n"
        "    return s.startswith(BEGIN)\n"
        'END = "-----END RSA PRIVATE KEY-----"\n'
    )
    assert redact(text) == (text, 0)
    assert redact(text.split("\n", 1)[1]) == (text.split("\n", 1)[1], 0)


ORDINARY = """\
import getpass, os

def connect(token: str | None = None, *, password=None):
    token = next_token()
    password = getpass()
    api_key = os.environ["API_KEY"]
    API_KEY=os.environ.get("API_KEY")
    secret = load_secret(path)
    headers = {"Authorization": f"Bearer {token}"}
    auth = "Bearer " + token
    client = Client(
        token=token,
        password=password,
    )
    max_tokens = "100"
    token_type = "bearer"
    sort_key = "name"
    tokenizer = "cl100k"
    cache_key = f"user:{uid}"
    url = f"https://{host}/v1"
    task_name = "task-abcdefghijklmnopqrstuvwxyz"
    if password == "":
        return None
    return client.login(token=token, password=password)
"""


def test_ordinary_code_is_untouched() -> None:
    assert redact(ORDINARY) == (ORDINARY, 0)


def test_shell_and_template_references_are_not_secrets() -> None:
    text = (
        'TOKEN=$(cat ~/.token)\ncurl -H "Authorization: Bearer $TOKEN" x\n'
        'const token = `${prefix}-${id}`\npassword: "{{ .Values.password }}"\n'
        'API_TOKEN=""\n'
    )
    assert redact(text) == (text, 0)


def test_count_covers_several_secrets_and_a_secret_is_counted_once() -> None:
    text = f'OPENAI_API_KEY={OPENAI}\nx = "{GH}"\npassword = "{rand(9)}"\n{AKIA}'
    out, n = redact(text)
    assert n == 4
    for secret in (OPENAI, GH, AKIA):
        assert secret not in out
    assert out.count("«redacted:") == 4
    assert redact(out) == (out, 0)  # already redacted text stays as it is


def test_empty_text() -> None:
    assert redact("") == ("", 0)


# No timing here (speed figures live in bench/): the inputs are big enough that a
# quadratic path would run for hours and hit the timeout, while a linear pass takes
# about a second even on a loaded 2-core machine.


@pytest.mark.timeout(60)
def test_two_hundred_thousand_lines_finish() -> None:
    code = (ORDINARY * 8000).split("\n")[:200_000]
    code[100_000] = f'api_key = "{rand(20)}"'
    text = "\n".join(code)
    assert redact(text)[1] == 1


@pytest.mark.parametrize(
    "text",
    [
        "x" * 1_200_000,  # one enormous line with no separators
        ("token" * 240_000),  # trigger words back to back
        ('password = "' + "a" * 400_000),  # unterminated literal
        ("-----BEGIN RSA PRIVATE KEY-----\n" * 20_000),  # markers without bodies
        ("a://" * 200_000),
        ("`" * 400_000),
        ('token="x" ' * 120_000),  # many real hits on one line
        ("password=" * 120_000),
    ],
)
@pytest.mark.timeout(60)
def test_hostile_inputs_do_not_blow_up(text: str) -> None:
    # At a quarter of these sizes a quadratic path took 10-60 s; at these it would
    # take minutes to hours, while the linear one finishes in about a second.
    redacted, _count = redact(text)
    assert isinstance(redacted, str)


code_chars = st.sampled_from(
    [*"abcdefxyzKEY_TOKENpassword =:\"'`\n\t-/+.$(){}#@", "sk-", "ghp_", "Bearer ", "é", "✓"]
)


@given(st.lists(code_chars, max_size=80).map("".join))
@settings(max_examples=150, deadline=None)
def test_redaction_is_stable_and_only_changes_what_it_counts(text: str) -> None:
    out, n = redact(text)
    if n == 0:
        assert out == text
    else:
        assert out.count("«redacted:") >= n
    assert redact(out) == (out, 0)
    assert out.count("\n") == text.count("\n")
