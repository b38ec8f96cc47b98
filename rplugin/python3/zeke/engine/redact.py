"""Replace obvious secrets with a visible marker before anything leaves the machine.

The goal is to catch what people really paste by accident (private keys, cloud
and API tokens, ``password = "..."`` literals, ``.env`` lines, bearer tokens,
passwords in URLs) while leaving ordinary code alone: an assignment whose value
is a call or a name (``token = next_token()``) is never touched, only literal
values are.  The key name stays, so the code still reads right.

Speed: the text is scanned once with ``str.find`` for a few trigger words; only
around those hits do small anchored regexes run.  Token shapes (``ghp_``,
``sk-``, ...) start with a literal, which the regex engine searches for quickly.
No pattern can backtrack badly (anchored starts, bounded repeats).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from zeke.engine import private_keys

MARK = "«redacted:{}»"
_MARK_PREFIX = "«redacted:"


def _mark(kind: str) -> str:
    return MARK.format(kind)


# --------------------------------------------------------------------------- names

# Words that make a key name secret when they are its last word
# (``db_password``, ``clientSecret``, ``GITHUB_TOKEN``).  Checked on words, not
# substrings, so ``max_tokens``, ``tokenizer`` or ``token_type`` stay untouched.
_SECRET_LAST = frozenset(
    {
        "password",
        "passwd",
        "passphrase",
        "secret",
        "secrets",
        "token",
        "apikey",
        "credential",
        "credentials",
        "authorization",
    }
)
# ``<qualifier>_key`` is secret (``api_key``, ``secretKey``, ``x-api-key``), a
# plain ``key`` / ``sort_key`` / ``primary_key`` is not.
_KEY_QUALIFIERS = frozenset(
    {"api", "access", "secret", "private", "client", "signing", "encryption", "master", "auth"}
)
# ``.env`` lines are configuration, so any of these words anywhere in the name
# counts (``SECRET_KEY_BASE``, ``GITHUB_TOKEN_FILE``), as docs/design.md §6 asks.
_ENV_WORDS = frozenset(
    {"secret", "token", "key", "apikey", "password", "passwd", "passphrase", "credentials"}
)

_WORD_RE = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+")


def _words(name: str) -> list[str]:
    """``AWS_SECRET_ACCESS_KEY`` / ``apiKey`` / ``x-api-key`` -> lower-case words."""
    return [w.lower() for w in _WORD_RE.findall(name)]


def _is_secret_name(name: str) -> bool:
    words = _words(name)
    if not words:
        return False
    last = words[-1]
    if last in _SECRET_LAST:
        return True
    return last == "key" and len(words) > 1 and words[-2] in _KEY_QUALIFIERS


def _is_env_secret_name(name: str) -> bool:
    return any(w in _ENV_WORDS for w in _words(name))


# ----------------------------------------------------------------------- patterns

# A quoted literal on one line: "..." / '...' (with escapes) / `...`.
_QUOTED = (
    r"""(?:"(?:[^"\\\n]|\\.){0,4096}"|'(?:[^'\\\n]|\\.){0,4096}'|`(?:[^`\\\n]|\\.){0,4096}`)"""
)

# What follows a secret name for it to be an assignment of a literal:
# ``= "..."``, ``: '...'``, ``:= "..."``, ``=> '...'``, also with a short type
# annotation (``api_key: str = "..."``).  A value that is a call or a name does
# not start with a quote, so it does not match.
_ASSIGN_TAIL_RE = re.compile(
    r"""(?:[ \t]*:[ \t]*[A-Za-z_][\w\[\]., |]{0,40}?(?=[ \t]*=))?"""
    r"""[ \t]*(?::=|=>|[:=])[ \t]*"""
    r"""(?P<prefix>[rRbBuUfF]{0,2})(?P<val>""" + _QUOTED + r")"
)

# NAME=value (.env files, shell).  No spaces around ``=``; an unquoted value may
# not contain call/expansion syntax (``TOKEN=$(cat f)``, ``KEY=os.environ[...]``)
# and must end the line (an optional ``# comment`` aside).
_ENV_TAIL_RE = re.compile(
    r"""=(?P<val>"(?:[^"\\\n]|\\.){0,4096}"|'[^'\n]{0,4096}'|[^\s'"`$(){}\[\]<>;,|&]{1,4096})"""
    r"""(?=[ \t]*(?:\#[^\n]*)?(?:\n|\Z))"""
)
# What may precede NAME=value on its line: shell ``export``, Dockerfile
# ``ENV``/``ARG``, a YAML list item (docker-compose ``- DB_PASSWORD=...``).
_ENV_LEAD_RE = re.compile(r"[ \t]*(?:export[ \t]+|ENV[ \t]+|ARG[ \t]+|-[ \t]+)")
# Names are short; a longer run of name characters is data, not a name.
_MAX_NAME = 128
_NAME_CHARS_RE = re.compile(rf"[\w$.\-]{{0,{_MAX_NAME}}}")

_AWS_TAIL_RE = re.compile(r"""["']?[ \t]*[:=][ \t]*["']?(?P<val>[A-Za-z0-9/+=]{16,4096})""")

_AUTH_TAIL_RE = re.compile(
    r"""["']?[ \t]*[:=][ \t]*["']?(?:bearer|basic|token|digest)[ \t]+(?P<val>[^\s"'`,;]{1,4096})""",
    re.IGNORECASE,
)

_BEARER_TAIL_RE = re.compile(r"[ \t]+(?P<val>[A-Za-z0-9\-._~+/]{16,4096}={0,3})")

# After ``scheme://``: ``user:password@``.
_URL_TAIL_RE = re.compile(r"""[^\s:/@'"`]{0,200}:(?P<val>[^\s/@'"`]{1,200})@""")

# Token shapes: (pattern, label).  Each starts with a literal so the engine's
# prefix search does the scanning; the word-boundary check is done in Python.
_TOKEN_RULES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"gh[pousr]_[A-Za-z0-9]{36,255}"), "github-token"),
    (re.compile(r"github_pat_[A-Za-z0-9_]{22,255}"), "github-token"),
    (re.compile(r"sk-[A-Za-z0-9_\-]{20,255}"), "api-key"),
    (re.compile(r"xox[abposr]-[A-Za-z0-9\-]{10,255}"), "slack-token"),
    (re.compile(r"AIza[0-9A-Za-z_\-]{35}"), "google-api-key"),
    (re.compile(r"(?:AKIA|ASIA)[0-9A-Z]{16}"), "aws-access-key"),
    (
        re.compile(r"eyJ[\w\-]{8,4096}\.eyJ[\w\-]{8,4096}\.[\w\-]{8,4096}", re.ASCII),
        "jwt",
    ),
]

# Words (lower case) around which the key-name rules run.
_NAME_TRIGGERS = ("pass", "secret", "token", "key", "cred", "auth")
_OTHER_TRIGGERS = ("aws_secret_access_key", "aws_session_token", "authorization", "bearer", "://")


# ----------------------------------------------------------------------- helpers


def _is_word_char(ch: str) -> bool:
    return ch.isalnum() or ch == "_"


def _is_name_char(ch: str) -> bool:
    return ch.isalnum() or ch in "_$.-"


def _has_digit(val: str) -> bool:
    return any(c.isdigit() for c in val)


def _skip_value(val: str, prefix: str = "") -> bool:
    """Values that are not secrets: empty, already redacted, or a template
    (``f"Bearer {tok}"``, a JS template with ``${token}``, ``"{{ .Values.key }}"``)."""
    if not val or val.startswith(_MARK_PREFIX) or val[0] in "${<%":
        return True
    if "${" in val or "{{" in val:
        return True
    return "{" in val and "f" in prefix.lower()


class _Counter:
    __slots__ = ("n",)

    def __init__(self) -> None:
        self.n = 0


# A pending replacement: (start, end, new text) in the text being scanned.
_Edit = tuple[int, int, str]


def _find_all(low: str, words: Sequence[str]) -> list[tuple[int, str]]:
    hits: list[tuple[int, str]] = []
    for word in words:
        i = low.find(word)
        while i >= 0:
            hits.append((i, word))
            i = low.find(word, i + len(word))
    return hits


# ------------------------------------------------------------------- hit handlers


def _name_edit(text: str, pos: int, seen: set[int]) -> _Edit | None:
    """A trigger word at ``pos``: is it part of a secret name assigned a literal?

    The cheap test comes first (does a literal or ``=`` follow the name?), since
    most hits are ordinary code like ``def f(token):``.
    """
    e = _NAME_CHARS_RE.match(text, pos).end()  # type: ignore[union-attr]
    if e in seen:
        return None  # another trigger word of the same name
    seen.add(e)
    if e - pos >= _MAX_NAME:
        return None  # bounded scans keep a 300 kB "tokentoken..." line linear
    nxt = text[e : e + 1]
    quoted_key = nxt in ("'", '"')
    assign = _ASSIGN_TAIL_RE.match(text, e + 1 if quoted_key else e)
    if not assign and nxt != "=":
        return None

    # Look back a bounded distance only: on a 300 kB line, an unbounded rfind
    # per hit would make the scan quadratic.
    lo = max(0, pos - 2 * _MAX_NAME)
    nl = text.rfind("\n", lo, pos)
    ls = nl + 1 if nl >= 0 else lo
    line_start_known = nl >= 0 or lo == 0
    s = pos
    while s > ls and _is_name_char(text[s - 1]):
        s -= 1
        if pos - s > _MAX_NAME:
            return None
    # Names start with a letter, ``_`` or ``$`` (``--api-key=...`` -> ``api-key``).
    while s < pos and not (text[s].isalpha() or text[s] in "_$"):
        s += 1
    name = text[s:e]

    # .env / shell line: NAME=value at the start of a line (or after ``export``...).
    lead = text[ls:s]
    at_line_start = line_start_known and (not lead or _ENV_LEAD_RE.fullmatch(lead))
    # Only then try the env pattern: it may scan a long value, once per line.
    env = nxt == "=" and at_line_start and _ENV_TAIL_RE.match(text, e)
    if env and _is_env_secret_name(name):
        val = env.group("val")
        quoted = val[0] in "\"'"
        inner = val[1:-1] if quoted else val
        if not _skip_value(inner):
            vs, ve = env.span("val")
            return (vs + 1, ve - 1, _mark("secret")) if quoted else (vs, ve, _mark("secret"))

    if not assign or not _is_secret_name(name):
        return None
    if quoted_key and not (s > ls and text[s - 1] == nxt):
        return None  # a closing quote without its opening one: not a key
    vs, ve = assign.span("val")
    if _skip_value(text[vs + 1 : ve - 1], assign.group("prefix")):
        return None
    return (vs + 1, ve - 1, _mark("secret"))


def _tail_edit(
    text: str,
    end: int,
    rx: re.Pattern[str],
    label: str,
    check: Callable[[str], bool] | None = None,
) -> _Edit | None:
    m = rx.match(text, end)
    if m is None:
        return None
    val = m.group("val")
    if _skip_value(val) or (check is not None and not check(val)):
        return None
    return (m.start("val"), m.end("val"), _mark(label))


def _other_edit(text: str, pos: int, word: str) -> _Edit | None:
    if pos > 0 and _is_word_char(text[pos - 1]) and word != "://":
        return None  # ``xauthorization``, ``mybearer``: not the word we want
    end = pos + len(word)
    if word.startswith("aws_"):
        return _tail_edit(text, end, _AWS_TAIL_RE, "aws-secret")
    if word == "authorization":
        return _tail_edit(text, end, _AUTH_TAIL_RE, "authorization")
    if word == "bearer":
        return _tail_edit(text, end, _BEARER_TAIL_RE, "bearer-token", _has_digit)
    # ``://``: a password inside a URL, only after a real scheme.
    if pos == 0 or not text[pos - 1].isalnum():
        return None
    return _tail_edit(text, end, _URL_TAIL_RE, "password")


def _key_name_rules(text: str, count: _Counter) -> str:
    # U+0130 is the one character whose lower case is longer; keep offsets aligned.
    low = text.replace("\u0130", "i").lower()
    edits: list[_Edit] = []
    seen: set[int] = set()
    for pos, _word in sorted(_find_all(low, _NAME_TRIGGERS)):
        edit = _name_edit(text, pos, seen)
        if edit is not None:
            edits.append(edit)
    for pos, word in _find_all(low, _OTHER_TRIGGERS):
        edit = _other_edit(text, pos, word)
        if edit is not None:
            edits.append(edit)
    if not edits:
        return text
    edits.sort()
    out: list[str] = []
    done = 0
    for s, e, new in edits:
        if s < done:
            continue  # the same value found by two rules
        out.append(text[done:s])
        out.append(new)
        done = e
        count.n += 1
    out.append(text[done:])
    return "".join(out)


def _token_repl(count: _Counter, label: str) -> Callable[[re.Match[str]], str]:
    def repl(m: re.Match[str]) -> str:
        text = m.string
        s, e = m.start(), m.end()
        # Must be a whole token: ``task-...`` is not ``sk-...``.
        if (s > 0 and (_is_word_char(text[s - 1]) or text[s - 1] == "-")) or (
            e < len(text) and _is_word_char(text[e])
        ):
            return m.group(0)
        tok = m.group(0)
        kind = label
        if label == "api-key":
            if not _has_digit(tok):
                # ``sk-`` is a short prefix: a random key has digits, a slug does not.
                return tok
            kind = "anthropic-key" if tok.startswith("sk-ant-") else "openai-key"
        count.n += 1
        return _mark(kind)

    return repl


# ----------------------------------------------------------------------------- API


def redact(text: str, *, starts_in_private_key: bool = False) -> tuple[str, int]:
    """Return ``text`` with obvious secrets replaced by ``«redacted:<kind>»`` and
    how many were replaced.

    Key names stay (``api_key = "«redacted:secret»"``).  ``starts_in_private_key``
    says the text is a slice that begins inside a PEM private key block (see
    ``private_keys.starts_inside_private_key``).
    """
    if not text:
        return text, 0
    count = _Counter()
    text, count.n = private_keys.hide(text, inside=starts_in_private_key, mark=_mark("private-key"))
    text = _key_name_rules(text, count)
    for rx, label in _TOKEN_RULES:
        text = rx.sub(_token_repl(count, label), text)
    return text, count.n
