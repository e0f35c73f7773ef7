"""Operational qualification of the configuration as installed: tests generated from the
metadata, run on a scratch copy of the configuration, reported as evidence.

A regulated lab validates the system *as configured*. labledger knows its
configuration as data, so it derives the cases itself (``types``: required
fields, limits, choices, uniqueness, numbering and who may create; more areas
follow the same pattern), runs them against a copy of the configuration in a
temporary database with one user per role (``scratch``), never against
production records, and writes a report (``report``). A case whose inputs
cannot be derived from the metadata is listed as a manual test with the
reason; a failed case never stops the run.
"""
