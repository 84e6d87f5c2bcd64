"""``wardgate quality``: the data-quality report a council would want, from a running gateway's counters.

How each agency's records link to the spine (by NHS number, by cross-reference, by name and date of birth
and how sure, or not at all) and where linked records disagree with it, summed over every child request the
gateway has answered since it started. Counts only: the counters never hold a child or a practitioner.

    wardgate quality                                   # the local gateway's operator listener
    wardgate quality --metrics http://gw-1:9464/metrics
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import httpx
from prometheus_client.parser import text_string_to_metric_families

from gateway.errors import ConfigError

FIELDS = ("dateOfBirth", "name", "address.postcode", "deceased")


@dataclass(slots=True)
class AgencyQuality:
    linked: dict[tuple[str, str], int] = field(default_factory=dict)  # (via, grade) -> records
    unmatched: int = 0
    disagreements: dict[str, int] = field(default_factory=dict)  # field -> records

    @property
    def looked_up(self) -> int:
        return sum(self.linked.values()) + self.unmatched

    def by(self, via: str) -> int:
        return sum(n for (v, _), n in self.linked.items() if v == via)


def read(text: str) -> dict[str, AgencyQuality]:
    """The report's figures from a Prometheus exposition."""
    out: dict[str, AgencyQuality] = defaultdict(AgencyQuality)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels, value = sample.labels, int(sample.value)
            if sample.name == "wardgate_link_records_total":
                if labels["via"] == "unmatched":
                    out[labels["agency"]].unmatched += value
                else:
                    out[labels["agency"]].linked[(labels["via"], labels["grade"])] = value
            elif sample.name == "wardgate_link_disagreements_total":
                out[labels["agency"]].disagreements[labels["field"]] = value
    return dict(out)


def fetch(url: str) -> str:
    try:
        response = httpx.get(url, timeout=5)
    except httpx.HTTPError as exc:
        raise ConfigError(f"cannot read the gateway's counters at {url}: {type(exc).__name__}") from None
    if response.status_code != 200:
        raise ConfigError(f"the gateway's counters at {url} answered {response.status_code}")
    return response.text


def report(figures: dict[str, AgencyQuality]) -> list[str]:
    """The report as lines of text: one row per agency."""
    if not figures:
        return ["no child requests counted yet: the report fills as the gateway answers"]
    head = f"{'agency':<15}{'records':>9}{'by NHS no.':>11}{'by x-ref':>9}{'by score':>9}{'probable':>9}"
    head += f"{'possible':>9}{'unmatched':>10}{'% unmatched':>12}" + "".join(f"{f:>17}" for f in FIELDS)
    lines = [head]
    for agency in sorted(figures):
        q = figures[agency]
        scored = q.by("demographics")
        probable = sum(n for (v, g), n in q.linked.items() if v == "demographics" and g == "probable")
        possible = sum(n for (v, g), n in q.linked.items() if v == "demographics" and g == "possible")
        share = 100 * q.unmatched / q.looked_up if q.looked_up else 0.0
        row = f"{agency:<15}{q.looked_up:>9}{q.by('nhs_number'):>11}{q.by('cross_reference'):>9}{scored:>9}"
        row += f"{probable:>9}{possible:>9}{q.unmatched:>10}{share:>11.1f}%"
        row += "".join(f"{q.disagreements.get(f, 0):>17}" for f in FIELDS)
        lines.append(row)
    deceased = sum(q.disagreements.get("deceased", 0) for q in figures.values())
    lines.append(f"alive/deceased disagreements with the spine: {deceased}")
    return lines
