"""``wardgate policy check | test | explain``: the security team's tools for the policy files and their case
tables."""
