"""Sensitive-word matching: a rule's pattern checked and compiled, and whether it watches a chat.

Regular expressions use Python's `re`, which has no time limit, so a pattern that could backtrack for
ever is refused when it is saved instead: one that repeats, without a small bound, something that itself
repeats or offers alternatives (`(a+)+`, `(a|aa)*`) — the shapes that make backtracking exponential. With
those gone a match is at worst polynomial in the text, and the text is cut to MATCHED_TEXT characters."""

from __future__ import annotations

import re
import re._constants as sre  # the parsed form of a pattern (the stdlib's own parser)
import re._parser as sre_parse
import warnings
from functools import lru_cache

from siyu.community.archive.errors import RuleError

ALL_TYPES = "all"
GROUP_TYPES = ("welfare", "vip", "product", "city", "other")
MAX_PATTERN = 200
MATCHED_TEXT = 2000  # characters of a message a rule reads
SMALL_BOUND = 10  # x{1,10} repeated is still fast enough
_REPEATS = (sre.MAX_REPEAT, sre.MIN_REPEAT, getattr(sre, "POSSESSIVE_REPEAT", sre.MAX_REPEAT))


def _risky(items, inside_repeat: bool) -> bool:
    """Whether a parsed pattern repeats (unboundedly) something that can match in several ways."""
    for op, arg in items:
        if op in _REPEATS:
            low, high, body = arg
            unbounded = high == sre.MAXREPEAT or high > SMALL_BOUND
            if inside_repeat and high > 1:
                return True
            if _risky(body, inside_repeat or unbounded):
                return True
        elif op == sre.BRANCH:
            if inside_repeat:
                return True
            if any(_risky(branch, inside_repeat) for branch in arg[1]):
                return True
        elif op == sre.SUBPATTERN:
            if _risky(arg[-1], inside_repeat):
                return True
        elif op in (sre.ASSERT, sre.ASSERT_NOT):
            if _risky(arg[1], inside_repeat):
                return True
        elif op == sre.IN and inside_repeat:
            continue  # a character class is one character: harmless
    return False


def checked_pattern(kind: str, pattern: str) -> str:
    """The pattern as it is stored, or RuleError saying what is wrong with it."""
    pattern = (pattern or "").strip()
    if not pattern:
        raise RuleError("the pattern is empty", "empty")
    if len(pattern) > MAX_PATTERN:
        raise RuleError(f"the pattern is longer than {MAX_PATTERN} characters", "too_long")
    if kind == "keyword":
        return pattern
    if kind != "regex":
        raise RuleError("a rule is a keyword or a regular expression", "kind")
    try:
        with warnings.catch_warnings():  # "possible nested set" and the like: a pattern is checked, not run
            warnings.simplefilter("ignore", FutureWarning)
            parsed = sre_parse.parse(pattern)
            re.compile(pattern)
    except re.error as exc:
        raise RuleError(f"not a valid regular expression: {exc}", "invalid_regex") from exc
    except RecursionError as exc:
        raise RuleError("the regular expression is nested too deeply", "slow_regex") from exc
    if _risky(list(parsed), False):
        raise RuleError(
            "the regular expression repeats a part that itself repeats or has alternatives, which can take "
            "too long to match; write it without the nested repetition",
            "slow_regex",
        )
    if re.compile(pattern).match("") is not None:
        raise RuleError("the regular expression matches an empty message; it would flag every message", "matches_empty")
    return pattern


def checked_group_types(codes) -> list[str]:
    codes = sorted({str(c).strip() for c in codes or [] if str(c).strip()})
    unknown = [c for c in codes if c not in (*GROUP_TYPES, ALL_TYPES)]
    if unknown:
        raise RuleError(f"unknown group type {unknown[0]!r}; choose from {', '.join((*GROUP_TYPES, ALL_TYPES))}", "group_type")
    return [ALL_TYPES] if ALL_TYPES in codes else codes


@lru_cache(maxsize=512)
def _compiled(kind: str, pattern: str) -> re.Pattern:
    if kind == "keyword":
        return re.compile(re.escape(pattern), re.IGNORECASE)
    return re.compile(pattern, re.IGNORECASE)


def find(kind: str, pattern: str, text: str) -> re.Match | None:
    return _compiled(kind, pattern).search((text or "")[:MATCHED_TEXT])


def watches(group_types: list[str], one_on_one: bool, room_id: str, room_type: str | None) -> bool:
    """Whether a rule with this scope reads a message of this chat ("" room: 1-on-1; the room's type code,
    None when unknown: only an "all" rule reads it)."""
    if not room_id:
        return one_on_one
    return ALL_TYPES in group_types or (room_type is not None and room_type in group_types)


def excerpt(text: str, match: re.Match, width: int = 60) -> str:
    """The matched words with some text either side."""
    start, end = max(match.start() - width, 0), min(match.end() + width, len(text))
    return ("…" if start else "") + text[start:end] + ("…" if end < len(text) else "")
