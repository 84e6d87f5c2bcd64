"""Adapters for agencies whose wire format the connector mapping cannot read directly.

An adapter module has one function, ``decode(body: bytes) -> Any``, that turns the agency's response
body into plain dicts and lists; the connector file then maps those as it would JSON. Name the
module in the connector's ``adapter:`` key.
"""
