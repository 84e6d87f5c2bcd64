"""Quotas: the README's shared-window setting starts from a fresh install, and a Redis outage still limits."""

from __future__ import annotations

import pytest

from gateway.errors import ConfigError, RateLimited
from gateway.pipeline.quota import Quota
from support.processes import free_port_block


def unreachable() -> str:
    return f"async+redis://127.0.0.1:{free_port_block(1)}/0"  # nothing listens there


def test_the_redis_storage_the_readme_names_needs_nothing_more_installed() -> None:
    # `limits` asks for coredis for async+redis:// unless told to use redis-py; coredis is not a dependency.
    quota = Quota("search", "20/minute", "async+redis://127.0.0.1:6379/0", noun="searches")
    assert quota.shared


async def test_with_redis_down_each_practitioner_is_still_limited_and_nothing_fails() -> None:
    quota = Quota("search", "3/minute", unreachable(), noun="searches")
    outcomes = []
    for _ in range(5):
        try:
            await quota.check("P-1")
            outcomes.append("ok")
        except RateLimited:
            outcomes.append("limited")
    assert outcomes == ["ok", "ok", "ok", "limited", "limited"]
    await quota.check("P-2")  # someone else's window is their own
    assert quota.degraded
    assert await quota.ready() == "redis unreachable"


def test_a_storage_that_is_not_async_is_refused_naming_the_setting() -> None:
    with pytest.raises(ConfigError, match="rate_limit_storage"):
        Quota("search", "3/minute", "memory://", noun="searches")
