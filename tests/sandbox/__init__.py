"""Conformance tests of the sandbox against the API contract, with the official SDK as the client."""
