"""How an agency's URL is written: every value percent-encoded, so a name is never read as syntax."""

from __future__ import annotations

import datetime as dt
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

from hypothesis import given
from hypothesis import strategies as st

from gateway.agencies.templates import fill as _fill
from gateway.agencies.templates import query_template as _query_template

PARAMS = (("family", "{family}"), ("birthdate", "{dob:%Y-%m-%d}"), ("q name", "eq:{given}"))
# Any text, and text made mostly of what URLs treat as syntax (so values that look "safe" are tried too).
texts = st.one_of(st.text(min_size=1), st.text(alphabet="ab1/?#&=%+ .~-_'é", min_size=1))


@given(family=texts, given_name=texts, dob=st.dates())
def test_query_values_reach_the_agency_exactly_as_given(family: str, given_name: str, dob: dt.date) -> None:
    values = {"family": family, "given": given_name, "dob": dob}
    query = _fill(_query_template(PARAMS), values)
    assert parse_qsl(query, keep_blank_values=True) == [
        ("family", family),
        ("birthdate", dob.strftime("%Y-%m-%d")),
        ("q name", f"eq:{given_name}"),
    ]
    # the same bytes urllib's own encoder writes
    expected = {"family": family, "birthdate": dob.strftime("%Y-%m-%d"), "q name": f"eq:{given_name}"}
    assert query == urlencode(expected, quote_via=quote)


@given(key=texts)
def test_a_path_value_stays_one_path_segment(key: str) -> None:
    path = _fill("/v1/pupils/{key}", {"key": key})
    segments = urlsplit("http://agency" + path).path.split("/")
    assert segments[:3] == ["", "v1", "pupils"] and len(segments) == 4
    assert unquote(segments[3]) == key
