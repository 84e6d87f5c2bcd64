"""Names as linkage compares them: folded to plain words, placeholders recognised, short forms known.

Agencies write the same name differently: ``O'Brien-Smith`` and ``OBRIEN SMITH``, ``Zoë`` and ``Zoe``,
``Liz`` for ``Elizabeth``, ``Baby`` before a child is named. :func:`fold` and :func:`words` make the
spelling comparable; :func:`is_placeholder_forename` says when a forename is no evidence at all;
:class:`NameAliases` says when two forenames are forms of one name.

The alias list is the ``nicknames`` package's hand-curated table (Apache-2.0, shipped inside the
package, read at start-up; nothing is fetched), with ``aliases.yaml`` beside this module adding the
UK short forms it lacks and unlinking pairs that in UK use are two different names.
"""

from __future__ import annotations

import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Mapping
from pathlib import Path

import nicknames
import yaml

from gateway.errors import ConfigError

ALIASES_FILE = Path(__file__).with_name("aliases.yaml")

# Apostrophes join (O'Brien is OBrien); every other non-letter separates words (hyphens, spaces, dots).
_JOINERS = frozenset("'’‘`´")

# Forenames recorded before a child is named, or when it is not known: no evidence either way. Matched
# on the words run together, so "N.K.", "NK" and "Not Known" are one placeholder.
_PLACEHOLDER_FORENAMES = frozenset(
    "baby babyboy babygirl boy girl infant newborn twin triplet male female child unknown notknown nk "
    "unnamed tbc tba unk none x xx xxx".split()
)
# A forename starting with one of these is a placeholder even when more follows ("Baby of Sarah", "Twin 1").
_PLACEHOLDER_LEADS = frozenset({"baby", "infant", "newborn", "twin", "triplet", "unnamed"})
_PLACEHOLDER_SURNAMES = frozenset("unknown notknown nk unk tbc tba none x xx xxx".split())


def fold(text: str | None) -> str:
    """Lower case, accents removed, words of letters separated by single spaces.

    >>> fold("  Zoë O'Brien-Smith ")
    'zoe obrien smith'
    """
    if not text:
        return ""
    out: list[str] = []
    for ch in unicodedata.normalize("NFKD", text):
        if unicodedata.combining(ch) or ch in _JOINERS:
            continue
        out.append(ch.casefold() if ch.isalpha() else " ")
    return " ".join("".join(out).split())


def words(text: str | None) -> tuple[str, ...]:
    """The folded words of a name: ``"Smith-Jones"`` and ``"SMITH JONES"`` both give ``("smith", "jones")``."""
    return tuple(fold(text).split())


def is_placeholder_forename(parts: tuple[str, ...]) -> bool:
    """A forename that says nothing about who the child is: "Baby", "Baby Boy", "Twin 1", "Baby of Sarah"."""
    if not parts:
        return True
    return parts[0] in _PLACEHOLDER_LEADS or "".join(parts) in _PLACEHOLDER_FORENAMES


def is_placeholder_surname(parts: tuple[str, ...]) -> bool:
    """A surname recorded as not known ("Unknown", "NK")."""
    return not parts or "".join(parts) in _PLACEHOLDER_SURNAMES


class NameAliases:
    """Which forenames are forms of one name: a name and its short forms, or two shorter forms of one name.

    Two names that share a short form are *not* aliases of each other (Alfred and Frederick both give
    "Fred"), and neither are pairs listed as distinct::

        aliases = NameAliases.load()
        aliases.related("elizabeth", "liz")   # True
        aliases.related("liz", "beth")        # True: both short for Elizabeth
        aliases.related("amelia", "emily")    # False: two names in UK use
    """

    def __init__(self, forms: Mapping[str, Iterable[str]], distinct: Iterable[tuple[str, str]] = ()) -> None:
        """``forms`` maps a name to its other forms (the list has them both ways round at times);
        ``distinct`` lists pairs never related."""
        direct: dict[str, set[str]] = defaultdict(set)
        for name, others in forms.items():
            for other in others:
                a, b = fold(name), fold(other)
                if a and b and a != b:
                    direct[a].add(b)
                    direct[b].add(a)
        related = {k: set(v) for k, v in direct.items()}
        # Two shorter forms of one longer name (Liz and Beth of Elizabeth) are aliases; two names that
        # share a short form (William and Robert, both "Bill") are not.
        for name, others in direct.items():
            shorter = [o for o in others if len(o) < len(name)]
            for a in shorter:
                related[a].update(b for b in shorter if b != a)
        for a, b in distinct:
            related.get(fold(a), set()).discard(fold(b))
            related.get(fold(b), set()).discard(fold(a))
        self._related: dict[str, frozenset[str]] = {k: frozenset(v) for k, v in related.items() if v}

    def related(self, a: str, b: str) -> bool:
        """Whether two folded forenames are forms of one name (never true of a name and itself)."""
        return b in self._related.get(a, ())

    def __len__(self) -> int:
        return len(self._related)

    @classmethod
    def load(cls, path: Path = ALIASES_FILE) -> NameAliases:
        """The ``nicknames`` package's table with this project's UK additions and distinct pairs."""
        forms: dict[str, set[str]] = defaultdict(set)
        for full, relationship, short in nicknames.name_triplets():
            if relationship == "has_nickname":
                forms[full].add(short)
        try:
            local = yaml.safe_load(path.read_text())
            added: dict[str, list[str]] = local.get("add") or {}
            distinct: list[list[str]] = local.get("distinct") or []
            for full, shorts in added.items():
                forms[str(full)].update(str(s) for s in shorts)
            pairs = [(str(a), str(b)) for a, b in distinct]
        except (OSError, yaml.YAMLError, AttributeError, TypeError, ValueError) as exc:
            raise ConfigError(f"{path} could not be read as a name alias list: {exc}") from exc
        return cls(forms, pairs)
