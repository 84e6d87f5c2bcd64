"""Building blocks of the aggregate data-quality report: how each agency's records were linked, as counts.

Only counts, never a name, identifier or record: safe to expose on ``/metrics`` and in ``wardgate
quality``. Usage::

    quality = LinkQuality()
    quality.record("police", matcher.match(child, candidate))
    quality.record("education", None)            # a record linked to no child
    quality.as_rows()   # [{"agency": "police", "by_nhs_number": 0, "certain": 1, ...}, ...]
"""

from __future__ import annotations

from dataclasses import dataclass, field

from gateway.pipeline.linkage.matcher import Match
from gateway.pipeline.linkage.weights import GRADES


@dataclass(slots=True)
class AgencyLinkCounts:
    """One agency's records by how they were linked."""

    by_nhs_number: int = 0  # the same valid NHS number as the child
    certain: int = 0  # by score, per grade
    probable: int = 0
    possible: int = 0
    unmatched: int = 0  # compared and not linked: below every grade, or another child's NHS number

    @property
    def by_score(self) -> int:
        return self.certain + self.probable + self.possible

    @property
    def total(self) -> int:
        return self.by_nhs_number + self.by_score + self.unmatched

    def add(self, match: Match | None) -> None:
        """Count one record's outcome; ``None`` for a record that was not compared with any child."""
        if match is None or match.grade is None:
            self.unmatched += 1
        elif match.via == "nhs_number":
            self.by_nhs_number += 1
        else:
            setattr(self, match.grade, getattr(self, match.grade) + 1)

    def merge(self, other: AgencyLinkCounts) -> AgencyLinkCounts:
        return AgencyLinkCounts(
            self.by_nhs_number + other.by_nhs_number,
            self.certain + other.certain,
            self.probable + other.probable,
            self.possible + other.possible,
            self.unmatched + other.unmatched,
        )

    def as_dict(self) -> dict[str, int]:
        out = {"by_nhs_number": self.by_nhs_number}
        out.update({g: getattr(self, g) for g in GRADES})
        out["unmatched"] = self.unmatched
        return out


@dataclass(slots=True)
class LinkQuality:
    """Link counts for every agency; merge the reports of several workers with :meth:`merge`."""

    agencies: dict[str, AgencyLinkCounts] = field(default_factory=dict)

    def record(self, agency: str, match: Match | None) -> None:
        self.agencies.setdefault(agency, AgencyLinkCounts()).add(match)

    def merge(self, other: LinkQuality) -> LinkQuality:
        merged = {a: AgencyLinkCounts().merge(c) for a, c in self.agencies.items()}
        for agency, counts in other.agencies.items():
            merged[agency] = merged.get(agency, AgencyLinkCounts()).merge(counts)
        return LinkQuality(merged)

    def as_rows(self) -> list[dict[str, str | int]]:
        """One row per agency, sorted by name: the report's table."""
        return [{"agency": a, **self.agencies[a].as_dict()} for a in sorted(self.agencies)]
