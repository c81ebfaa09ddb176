"""Registries of known datasets and published weights."""
