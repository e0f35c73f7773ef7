"""labledger: a metadata-driven LIMS/QMS platform.

Object types, fields and workflows are data; from that data the platform
renders forms and lists, validates input, runs workflows and keeps a
tamper-evident audit trail with electronic signatures.
"""

__version__ = "0.1.0"
