"""Conformance tests of the sandbox against the API behaviour in docs/api-notes.md, with the official SDK
as the client."""
