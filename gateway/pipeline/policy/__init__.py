"""The policy stage: field classes (``classes``), the decision and its cache (``decide``), the engines
(``engines``), masks, the answer built under the decision (``complete``) and the fields derived from what
the requester may see (``derived``)."""
