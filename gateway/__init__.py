"""Wardgate: a live, policy-checked GraphQL gateway over the agencies that hold information about children.

The request pipeline, one module per stage::

    HTTP POST /graphql
      │
      ├─ authenticate   authenticate.py  bearer JWT → Subject (role, agency, two-factor)
      ├─ parse & limit  limits.py        parsed and validated once (cached); depth, alias, token limits
      ├─ plan           plan.py          which agencies the selection (and policy's facts) need
      ├─ fan out        fanout.py        every planned agency at once, each under its deadline
      ├─ resolve & link link.py          records linked to the child, graded, conflicts reported
      ├─ policy         policy.py        one decision over the distinct field classes; applied to the data
      ├─ audit          audit.py         one hash-chained event, paths and reasons only, before the reply
      └─ respond        respond.py       GraphQL-over-HTTP; withheld and failed parts as errors at their paths

``resolvers/child.py`` runs the stages in this order for ``child(id:)``; services (upstream client,
policy engine, audit sink) are built once in ``app.py`` and injected through the context.
"""
