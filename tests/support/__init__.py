"""Helpers shared by the test levels (tools, live servers, Redis)."""
