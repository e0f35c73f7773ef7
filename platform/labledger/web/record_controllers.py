"""Every record page controller in one list, registered with one line in ``web.setup``."""

from __future__ import annotations

from labledger.web.bulk_steps import CONTROLLERS as BULK_STEPS
from labledger.web.dossier import CONTROLLERS as DOSSIER
from labledger.web.editing import CONTROLLERS as EDITING
from labledger.web.grid import CONTROLLERS as GRID
from labledger.web.records import CONTROLLERS as RECORDS
from labledger.web.signing import CONTROLLERS as SIGNING

CONTROLLERS = [*RECORDS, *EDITING, *SIGNING, *BULK_STEPS, *GRID, *DOSSIER]
