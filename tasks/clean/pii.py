"""Personal data and secrets replaced by typed placeholders, counted per type.

- e-mail addresses -> <EMAIL>, except at the domains reserved for examples (example.com,
  .test, .invalid, .localhost: RFC 2606, 6761), which name nobody;
- public IP addresses, v4 and v6 -> <IP_ADDRESS>. Private, loopback, link-local, shared,
  multicast and documentation ranges stay, as in datatrove's PIIFormatter: they reach no
  one on the internet, and tutorials and configs are full of 127.0.0.1 and 192.168.1.1.
  A dotted quad whose four parts are all 20 or less is a version or a section number
  ("zlib 1.2.3.4", "4.8.3.1. Recap"), as are quads glued to a name ("tix-8.4.3.6",
  "1.0.0.127.in-addr.arpa"). IPv6 only in 2000::/3, the global unicast block, which keeps
  "1::2" (a slice) out; "2002::" ending in "::" is a prefix, not an address;
- phone numbers -> <PHONE>: a "+" country code and 8 to 15 digits; North American
  (NXX) NXX-XXXX; national numbers with a trunk 0 ("01 23 45 67 89", "030 1234 5678",
  "07700 900123"); tel: links. The whole run of digits and single separators must be one
  number, so a number inside a longer run (a sequence, a date and a time, a table row) is
  not; versions, dates, hex constants and UUIDs never form one (bench/pii.py counts what
  matches in Python's docs);
- secrets -> <SECRET>: AWS access key ids, GitHub tokens (ghp_, gho_, ghu_, ghs_, ghr_,
  github_pat_), Slack tokens and webhooks, Google API keys, OpenAI, Stripe and Hugging Face
  keys, JSON Web Tokens, private key PEM blocks (with a base64 body); and the value
  assigned to a secret-sounding name (api_key=, "password":, AWS_SECRET_ACCESS_KEY=) when
  it looks random: 8 characters or more, of two kinds or more (lower, upper, digit, other),
  close to log2(length) bits of entropy per character (3 from 16 characters on), not code,
  not a word, not a placeholder. The name stays: `password: <SECRET>`.

Each kind has its own scan, started only where its anchor is ("@", a digit, a token's
prefix, a secret-sounding word), and the replacements are made in one pass over the text.
One regular expression with an alternative per kind was measured slower (2 MB/s on Python's
docs): Python's engine tries every alternative at every position, where a scan that starts
with a literal or a small character class skips ahead in C. All four kinds together read
about 18 MB/s, as fast as datatrove's PIIFormatter with its two (bench/results/pii.md).
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections import Counter
from typing import NamedTuple

from lmkiln.tasks.config.clean import PiiConfig

PLACEHOLDERS = {
    "email": "<EMAIL>",
    "ip_address": "<IP_ADDRESS>",
    "phone": "<PHONE>",
    "secret": "<SECRET>",
}


class Span(NamedTuple):
    start: int
    end: int
    kind: str  # a key of PLACEHOLDERS


def redact(text: str, config: PiiConfig | None = None) -> tuple[str, Counter[str]]:
    """The text with each kind that config turns on replaced by its placeholder, and the
    number of replacements per kind ("email", "ip_address", "phone", "secret")."""
    parts, counts, last = [], Counter[str](), 0
    for start, end, kind in find(text, config):
        parts += [text[last:start], PLACEHOLDERS[kind]]
        counts[kind] += 1
        last = end
    parts.append(text[last:])
    return "".join(parts), counts


def find(text: str, config: PiiConfig | None = None) -> list[Span]:
    """What redact replaces, in order and without overlaps: where two finds overlap, the
    one that starts first (then the longer) wins."""
    config = config or PiiConfig()
    spans: list[Span] = []
    if config.secret:
        spans += _secrets(text)
    if config.email:
        spans += _emails(text)
    if config.ip_address:
        spans += _ip_addresses(text)
    if config.phone:
        spans += _phones(text)
    spans.sort(key=lambda span: (span.start, -span.end))
    kept: list[Span] = []
    for span in spans:
        if not kept or span.start >= kept[-1].end:
            kept.append(span)
    return kept


# Secrets ------------------------------------------------------------------------------

_TOKEN = re.compile(
    r"""
    -----BEGIN[ A-Z0-9]{0,20}PRIVATE\ KEY(?:\ BLOCK)?-----(?P<pem>[\s\S]{0,20000}?)
        -----END[ A-Z0-9]{0,20}PRIVATE\ KEY(?:\ BLOCK)?-----
  | \b(?:AKIA|ASIA|ABIA|ACCA)[0-9A-Z]{16}\b
  | \bgh[pousr]_[A-Za-z0-9]{36,251}\b
  | \bgithub_pat_[A-Za-z0-9_]{50,255}\b
  | \bxox[abposre]-[A-Za-z0-9-]{10,250}\b
  | https://hooks\.slack\.com/services/[A-Za-z0-9_/]{20,100}
  | \bAIza[0-9A-Za-z_\-]{35}(?![\w\-])
  | \bsk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_\-]{10,200}T3BlbkFJ[A-Za-z0-9_\-]{10,200}
  | \b[rs]k_live_[0-9A-Za-z]{20,250}\b
  | \bhf_[A-Za-z]{34}\b
  | \beyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}
    """,
    re.VERBOSE,
)
# One of these is in every token above; most documents have none, and skip the scan.
_TOKEN_HINTS = (
    "-----BEGIN", "AKIA", "ASIA", "ABIA", "ACCA", "ghp_", "gho_", "ghu_", "ghs_", "ghr_",
    "github_pat_", "xox", "hooks.slack.com", "AIza", "T3BlbkFJ", "k_live_", "hf_", "eyJ",
)  # fmt: skip
_PEM_BODY = re.compile(r"(?:[A-Za-z-]+: [^\n]*\n)*\s*[A-Za-z0-9+/=\s]{40,}")
# Words a secret's name contains, each as a whole part of the name: "db_password",
# "apiKey", "AWS_SECRET_ACCESS_KEY", not "tokenizer" or "author".
_SECRET_WORDS = (
    ("api", "key"), ("api", "secret"), ("access", "key"), ("private", "key"),
    ("client", "secret"), ("secret",), ("password",), ("passwd",), ("pwd",), ("token",),
    ("credentials",), ("credential",),
)  # fmt: skip


def _word_variants(parts: tuple[str, ...]) -> list[str]:
    """lower, camelCase or with _ or -, Title, UPPER: literals first, so the scan skips
    ahead to the letters that can start one (a case-insensitive pattern cannot)."""
    sep = r"[_\-]?"
    rest = [f"[{p[0]}{p[0].upper()}]{p[1:]}" for p in parts[1:]]
    return [
        sep.join([parts[0], *rest]),
        sep.join([parts[0].title(), *rest]),
        sep.join(p.upper() for p in parts),
    ]


_ASSIGNMENT = re.compile(
    "(?:"
    + "|".join(v for parts in _SECRET_WORDS for v in _word_variants(parts))
    + r""")(?P<rest>[\w.\-]{0,30})["']?[ \t]{0,3}(?::=|=>|[:=])[ \t]{0,3}
    (?:"(?P<dq>[^"\s]{8,200})"|'(?P<sq>[^'\s]{8,200})'|(?P<bare>[^\s"',;()\[\]{}<>]{8,200}))
    """,
    re.VERBOSE,
)
# Placeholders, templates, URLs and words that mark a value as an example, not a secret.
_NOT_A_SECRET = re.compile(
    r"xxx|\*\*\*|\.\.\.|://|your|example|sample|changeme|placeholder|redacted|dummy"
    r"|\$\{|^\$\w|%\(\w+\)|\{\{|^<.*>$",
    re.IGNORECASE,
)
# Code and words: a dotted name (os.environ.get, settings.SECRET_KEY), snake_case,
# UPPER_CASE, a word, CamelCase words ("Password", "MySecret").
_CODE_VALUE = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+|[a-z_]+|[A-Z_]+|(?:[A-Z]?[a-z]+)+")


def _secrets(text: str) -> list[Span]:
    spans = []
    if any(hint in text for hint in _TOKEN_HINTS):
        for match in _TOKEN.finditer(text):
            pem = match.group("pem")
            if pem is None or _PEM_BODY.fullmatch(pem.strip() + "\n"):
                spans.append(Span(match.start(), match.end(), "secret"))
    for match in _ASSIGNMENT.finditer(text):
        group = next(g for g in ("dq", "sq", "bare") if match.group(g) is not None)
        if _whole_word(text, match) and _looks_random(match.group(group)):
            spans.append(Span(match.start(group), match.end(group), "secret"))
    return spans


def _whole_word(text: str, match: re.Match[str]) -> bool:
    before = text[match.start() - 1 : match.start()]
    camel = before.islower() and match.group(0)[0].isupper()
    if before and (before.isdigit() or (before.isalpha() and not camel)):
        return False
    rest = match.group("rest")
    return not rest or not (rest[0].islower() or rest[0].isdigit())


def _looks_random(value: str) -> bool:
    if _NOT_A_SECRET.search(value) or _CODE_VALUE.fullmatch(value):
        return False
    kinds = (str.islower, str.isupper, str.isdigit, lambda c: not c.isalnum())
    # Random characters give about log2(length) bits each; a word or a repeated pattern
    # much less. The margin lets short passwords with a repeated letter through.
    floor = min(3.0, math.log2(len(value)) - 0.7)
    return sum(any(map(test, value)) for test in kinds) >= 2 and entropy(value) >= floor


def entropy(value: str) -> float:
    """Shannon entropy in bits per character: about 3 for a password, 4 to 6 for a key."""
    total = len(value)
    return -sum(n / total * math.log2(n / total) for n in Counter(value).values())


# E-mail addresses ---------------------------------------------------------------------

_EMAIL = re.compile(
    r"""(?<![\w.+\-])[A-Za-z0-9_%+\-](?:[A-Za-z0-9_%+.\-]{0,62}[A-Za-z0-9_%+\-])?
    @(?:[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?\.){1,8}[A-Za-z]{2,63}(?![\w\-@])""",
    re.VERBOSE,
)
RESERVED_EMAIL_DOMAINS = ("example.com", "example.net", "example.org")
RESERVED_EMAIL_SUFFIXES = (".example", ".test", ".invalid", ".localhost", ".local")


def _emails(text: str) -> list[Span]:
    spans = []
    at = text.find("@")
    while at != -1:
        # An address is at most 64 characters before its "@" and 254 after.
        for match in _EMAIL.finditer(text, max(0, at - 64), at + 256):
            if match.start() <= at < match.end():
                if _personal(match.group(0).rsplit("@", 1)[1].lower()):
                    spans.append(Span(match.start(), match.end(), "email"))
                break
        at = text.find("@", at + 1)
    return spans


def _personal(domain: str) -> bool:
    if domain.endswith(RESERVED_EMAIL_SUFFIXES):
        return False
    return not any(domain == d or domain.endswith("." + d) for d in RESERVED_EMAIL_DOMAINS)


# IP addresses -------------------------------------------------------------------------

_IPV4 = re.compile(r"\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}")
# Global unicast addresses start with a 4-digit group from 2000 to 3fff.
_IPV6 = re.compile(r"[23][0-9A-Fa-f]{3}(?::[0-9A-Fa-f]{0,4}){2,7}")
_GLUED_AFTER = re.compile(r"[.\-]?\w")
VERSION_PART_MAX = 20  # "3.14.1.0" is SQLite, "4.8.3.1" a section: all four parts small
# 3fff::/20 is IPv6's second documentation block (RFC 9637, 2024), newer than Python 3.11.
_DOCUMENTATION_V6 = ipaddress.ip_network("3fff::/20")


def _ip_addresses(text: str) -> list[Span]:
    spans = []
    for match in _IPV4.finditer(text):
        start, end = match.span()
        before = text[start - 1 : start]
        if (before and (before.isalnum() or before in "._-")) or _GLUED_AFTER.match(text, end):
            continue
        if all(int(part) <= VERSION_PART_MAX for part in match.group(0).split(".")):
            continue
        if _public(match.group(0)):
            spans.append(Span(start, end, "ip_address"))
    if "::" in text or text.count(":") >= 7:
        for match in _IPV6.finditer(text):
            start, end = match.span()
            before, after = text[start - 1 : start], text[end : end + 1]
            if (before and (before.isalnum() or before in ":._")) or (
                after and (after.isalnum() or after in ":_")
            ):
                continue
            if not match.group(0).endswith("::") and _public(match.group(0)):
                spans.append(Span(start, end, "ip_address"))
    return spans


def _public(candidate: str) -> bool:
    try:
        address = ipaddress.ip_address(candidate)
    except ValueError:
        return False
    if address.version == 6 and address in _DOCUMENTATION_V6:
        return False
    return address.is_global and not address.is_multicast


# Phone numbers ------------------------------------------------------------------------

# A run of digit groups joined by single separators: a number, or several side by side.
_DIGIT_RUN = re.compile(r"[+(\d][\d()]*(?:[ .\-/][\d(][\d()]*)*")
_SEP = r"[ .\-]"
# "+44 20 7946 0958", "+1 (415) 555-0132", "+49 (0)30 1234567", "+14155552671"
_INTERNATIONAL = re.compile(rf"\+[1-9]\d{{0,2}}(?:{_SEP}?\(0\))?(?:{_SEP}?\(?\d{{1,5}}\)?){{1,6}}")
# "(212) 555-0182", "212.555.0182", "1-800-555-0199": area code and exchange from 2 to 9
_NANP = re.compile(rf"(?:1{_SEP})?(?:\([2-9]\d\d\) ?|[2-9]\d\d{_SEP})[2-9]\d\d{_SEP}\d{{4}}")
# "01 23 45 67 89", "030 1234 5678", "(030) 1234567", "07700 900123", "06-12345678"
_NATIONAL = re.compile(
    r"(?:\(0[1-9]\d{0,4}\) ?|0[1-9]\d{0,4}[ .\-/])\d{2,8}(?:[ .\-/]\d{2,8}){0,4}"
)
_ZIP_PLUS_4 = re.compile(r"\d{5}-\d{4}")


def _phones(text: str) -> list[Span]:
    spans = []
    for match in _DIGIT_RUN.finditer(text):
        start, end = match.span()
        run = match.group(0)
        if end - start < 8:  # fewer than 7 digits and a separator: no phone number
            continue
        before, after = text[start - 1 : start], text[end : end + 1]
        if (before and (before.isalnum() or before in "._+-/")) or (
            after and (after.isalnum() or after in "_-")
        ):
            continue
        if _is_phone(run, tel=text.endswith("tel:", 0, start)):
            spans.append(Span(start, end, "phone"))
    return spans


def _is_phone(run: str, tel: bool = False) -> bool:
    digits = sum(c.isdigit() for c in run)
    if tel:
        return 7 <= digits <= 15
    if run.startswith("+"):
        return 8 <= digits <= 15 and bool(_INTERNATIONAL.fullmatch(run))
    if _NANP.fullmatch(run):
        return True
    if not 9 <= digits <= 12 or not _NATIONAL.fullmatch(run) or _ZIP_PLUS_4.fullmatch(run):
        return False
    # One separator throughout ("01.02.2023 10" is a date and an hour), and at most three
    # groups unless the rest are pairs ("01 23 45 67 89"): "012 013 023 123" is a list.
    number = run.rsplit(")", 1)[-1].strip()
    groups = re.split(r"[ .\-/]", number)
    pairs = all(len(group) == 2 for group in groups[1:])
    return len(set(re.findall(r"[ .\-/]", number))) <= 1 and (len(groups) <= 3 or pairs)


def placeholder_share(text: str) -> float:
    """The share of whitespace-separated words that hold a placeholder."""
    words = text.split()
    if not words:
        return 0.0
    marks = tuple(PLACEHOLDERS.values())
    return sum(any(mark in word for mark in marks) for word in words) / len(words)
