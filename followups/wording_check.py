"""The wording checker: what a message to a client may say, per kind of message.

`check(kind=..., subject=..., body=...)` returns the errors (saving is refused)
and the warnings (doubtful words, for the person editing to look at again), each
naming the words it found and why. It runs on the template as typed, with the
placeholders taken out: what they fill in is ours, not the editor's.

The rules, per kind:
1. Every first message (no-show, late cancel, repeat miss, missed intake):
   no money or terms, no blame, nothing clinical, no session type.
2. Later messages (the second message; reminders before a session): may
   state the terms with amounts, never blame or clinical words.
3. Everywhere, a warning on words that name care ("therapy"), that can read as
   keeping score ("late", "again"), and, in any kind that can reach a client
   before the session's start, on words that say it was missed.
"""

import re
from dataclasses import dataclass
from functools import lru_cache

from . import wordlists
from .models import MessageTemplate

Kind = MessageTemplate.Kind
REMINDER = Kind.REMINDER


def _phrase(entry: str) -> str:
    words = re.split(r"[\s\-]+", entry.strip())
    return r"[\s\-]+".join(re.escape(word).replace("'", "['’]") for word in words)


def _words(entries: tuple[str, ...]) -> re.Pattern:
    # Longest first, so "no show" wins over a shorter entry inside it.
    alternatives = "|".join(_phrase(e) for e in sorted(entries, key=len, reverse=True))
    return re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.IGNORECASE)


@dataclass(frozen=True)
class Rule:
    name: str
    pattern: re.Pattern
    # How a finding reads: "{words}" is replaced by the quoted words found.
    message: str

    def find(self, text: str) -> list[str]:
        found: dict[str, str] = {}
        for match in self.pattern.finditer(text):
            found.setdefault(" ".join(match.group(0).lower().split()), match.group(0))
        return list(found.values())


MONEY = Rule(
    "money",
    re.compile(
        "|".join([_words(wordlists.MONEY).pattern, *wordlists.MONEY_PATTERNS]),
        re.IGNORECASE,
    ),
    "Money in a first message: {words}. A first message is about the client, never a fee, charge, amount "
    "or the policy; leave those to staff or to later messages.",
)
BLAME = Rule(
    "blame",
    _words(wordlists.BLAME),
    "Blame: {words}. We never assume why a session was missed or hold it against the client.",
)
CLINICAL = Rule(
    "clinical",
    _words(wordlists.CLINICAL),
    "Clinical words: {words}. Anyone who sees the screen would learn about the client's health.",
)
SESSION_TYPE = Rule(
    "session_type",
    _words(wordlists.SESSION_TYPES),
    'The kind of session: {words}. It can tell others about the client\'s care; say "session".',
)
SESSION_TYPE_WORD = Rule(
    "session_type_word",
    _words(wordlists.SESSION_TYPE_WORDS),
    "Check {words}: if it names the kind of session, leave it out.",
)
CARE = Rule(
    "care",
    _words(wordlists.CARE),
    'Check {words}: it tells anyone who sees the screen that the client is in care. "Session" says enough.',
)
NOT_YET_TRUE = Rule(
    "not_yet_true",
    _words(wordlists.NOT_YET_TRUE),
    "Check {words}: this message can reach a client who cancelled before the session's start, when "
    "nothing was missed yet.",
)
DOUBTFUL = Rule(
    "doubtful",
    _words(wordlists.DOUBTFUL),
    "Check {words}: it can read as keeping score or as blame.",
)


@dataclass(frozen=True)
class Ruleset:
    block: tuple[Rule, ...]
    warn: tuple[Rule, ...]


_FIRST_BLOCK = (MONEY, BLAME, CLINICAL, SESSION_TYPE)
_LATER_BLOCK = (BLAME, CLINICAL)

RULESETS: dict[str, Ruleset] = {
    # A no-show's message goes after the session's start: "missed" is true there.
    Kind.FIRST: Ruleset(block=_FIRST_BLOCK, warn=(SESSION_TYPE_WORD, CARE, DOUBTFUL)),
    Kind.FIRST_LATE_CANCEL: Ruleset(block=_FIRST_BLOCK, warn=(SESSION_TYPE_WORD, CARE, NOT_YET_TRUE, DOUBTFUL)),
    # Intakes and repeat misses can be late cancels too (services._first_kind).
    Kind.FIRST_REPEAT: Ruleset(block=_FIRST_BLOCK, warn=(SESSION_TYPE_WORD, CARE, NOT_YET_TRUE, DOUBTFUL)),
    Kind.FIRST_INTAKE: Ruleset(block=_FIRST_BLOCK, warn=(SESSION_TYPE_WORD, CARE, NOT_YET_TRUE, DOUBTFUL)),
    Kind.SECOND: Ruleset(block=_LATER_BLOCK, warn=(SESSION_TYPE, SESSION_TYPE_WORD, CARE, NOT_YET_TRUE, DOUBTFUL)),
    REMINDER: Ruleset(block=_LATER_BLOCK, warn=(SESSION_TYPE, SESSION_TYPE_WORD, CARE, NOT_YET_TRUE, DOUBTFUL)),
}

_PLACEHOLDER = re.compile(r"\{[a-z_]*\}")


@dataclass(frozen=True)
class Finding:
    rule: str
    words: tuple[str, ...]
    message: str

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class Report:
    errors: tuple[Finding, ...]
    warnings: tuple[Finding, ...]


def _findings(rules: tuple[Rule, ...], text: str) -> tuple[Finding, ...]:
    findings = []
    for rule in rules:
        words = rule.find(text)
        if words:
            quoted = ", ".join(f"“{word}”" for word in words)
            findings.append(Finding(rule=rule.name, words=tuple(words), message=rule.message.format(words=quoted)))
    return tuple(findings)


# The Policies page checks every saved wording on each view (issue 11: ~1 ms a page). The report is
# immutable and depends only on the wording and the rules in this module, so the last answers are kept.
@lru_cache(maxsize=256)
def check(*, kind: str, subject: str, body: str) -> Report:
    """What in this wording breaks the rules for `kind` (errors) or deserves a second look (warnings).

    An unknown kind gets the strictest rules, those of a first message.
    """
    ruleset = RULESETS.get(kind, RULESETS[Kind.FIRST_LATE_CANCEL])
    text = _PLACEHOLDER.sub(" ", f"{subject}\n{body}")
    return Report(errors=_findings(ruleset.block, text), warnings=_findings(ruleset.warn, text))
