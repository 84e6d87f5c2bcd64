"""Data-quality counts per agency: how records were linked, and nothing about whose they were."""

from __future__ import annotations

from datetime import date

from gateway.pipeline.linkage import FellegiSunterMatcher, LinkQuality, NameAliases, Person, load_weights

CHILD = Person("Amelia", "Hughes", date(2014, 3, 2), "WG5 3AB", nhs_number="9434765919")


def test_each_agency_counts_records_by_nhs_number_by_grade_and_unmatched() -> None:
    matcher = FellegiSunterMatcher(load_weights(), NameAliases.load(), children=100_000)
    quality = LinkQuality()
    quality.record("education", matcher.match(CHILD, Person("Amelia", "Hughes", nhs_number="9434765919")))
    quality.record("police", matcher.match(CHILD, Person("Amelia", "Hughes", date(2014, 3, 2), "WG5 3AB")))
    quality.record("police", matcher.match(CHILD, Person("Millie", "Hughes", date(2014, 3, 2), "WG5 3AB")))
    quality.record("police", matcher.match(CHILD, Person("Olivia", "Hughes", date(2014, 3, 2), "WG5 3AB")))
    quality.record("housing", None)
    rows = {row["agency"]: row for row in quality.as_rows()}
    assert rows["education"] == {"agency": "education", "by_nhs_number": 1, "certain": 0, "probable": 0,
                                 "possible": 0, "unmatched": 0}  # fmt: skip
    assert (rows["police"]["certain"], rows["police"]["probable"], rows["police"]["unmatched"]) == (1, 1, 1)
    assert rows["housing"]["unmatched"] == 1
    # counts only: no name, date or identifier reaches the report
    assert all(isinstance(v, int) for row in rows.values() for k, v in row.items() if k != "agency")


def test_workers_reports_merge_into_one() -> None:
    a, b = LinkQuality(), LinkQuality()
    a.record("police", None)
    b.record("police", None)
    b.record("camhs", None)
    merged = a.merge(b)
    assert merged.agencies["police"].unmatched == 2 and merged.agencies["camhs"].total == 1
    assert a.agencies["police"].unmatched == 1  # the parts are left as they were
