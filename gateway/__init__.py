"""Wardgate: a live, policy-checked GraphQL gateway over the agencies that hold information about children.

The request pipeline for ``child(id:)``, one module of :mod:`gateway.pipeline` per stage, sequenced in one
place, :meth:`gateway.pipeline.child.ChildPipeline.run`::

    POST /graphql                       (gateway.server: HTTP, body limit, GraphQL-over-HTTP)
      │
      ├─ authenticate   authenticate.py  bearer JWT → Subject (role, agency, two-factor)
      ├─ parse & limit  graphql/limits   parsed and validated once (cached); size, depth, alias, cost limits
      ├─ quota          quota.py         child look-ups and searches per practitioner
      ├─ pre-flight     child.py         may this requester ask about any child for this purpose?
      ├─ plan           plan.py          which agencies the selection (and policy's facts) need
      ├─ fan out        fanout.py        every lookup as soon as its input exists, under its deadline
      ├─ link           link.py          records linked to the child and graded (linkage/), facts gathered
      ├─ policy         policy/          one decision over the distinct field classes; the answer built
      ├─ audit          audit.py         one hash-chained record, paths and reasons only, before the reply
      ├─ notify         notify.py        owning agencies told of restricted data actually returned
      └─ respond        respond.py       withheld and failed parts as errors at their paths

``searchChildren`` runs :class:`gateway.pipeline.search.SearchPipeline`. The resolvers (``resolvers/``) only
hand requests to the pipelines; services (agency clients, policy engine, audit sink) are built once in
:mod:`gateway.server.app` and reach them through the request context. The layers, and what each may import,
are in docs/architecture.md.
"""
