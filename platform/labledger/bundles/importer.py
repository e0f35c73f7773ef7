"""Previewing and applying a bundle: the entry points, gathered from their rooms.

- ``resolve``: what the bundle names and what of it exists here (stored items,
  the three-way check, records created before, whether a record can be made);
- ``dryrun``: the import in a transaction that is rolled back;
- ``apply``: the import's transaction (items, records, manifest, audit event);
- ``publish``: one item through the service of its kind;
- ``impact`` and ``report``: what the report says, and what changes mean for
  existing records;
- ``access``: the permissions an import or export needs.
"""

from __future__ import annotations

from labledger.bundles.access import require_configure
from labledger.bundles.apply import IMPORT_ACTION, ImportConflict, apply_bundle, import_bundle
from labledger.bundles.dryrun import preview_bundle
from labledger.bundles.resolve import BUNDLE_KIND

__all__ = [
    "BUNDLE_KIND",
    "IMPORT_ACTION",
    "ImportConflict",
    "apply_bundle",
    "import_bundle",
    "preview_bundle",
    "require_configure",
]
