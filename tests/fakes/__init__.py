"""Fakes of the services the bot talks to, for wire-level tests (see each subpackage)."""
