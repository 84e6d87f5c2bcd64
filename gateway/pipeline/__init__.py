"""The request pipeline, one module per stage (authenticate, quota, plan, fan out, link, policy, audit,
notify, respond), sequenced for ``child`` by :mod:`gateway.pipeline.child` and for ``searchChildren`` by
:mod:`gateway.pipeline.search`."""
