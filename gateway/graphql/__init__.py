"""The GraphQL surface: the schema and its labels, query limits and trusted documents, selections, and
the executor that passes already-completed answers through."""
