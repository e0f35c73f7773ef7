"""The pages admins use: designers for object types and workflows, users and
roles, the audit trail browser, configuration bundles and change requests.

Every page calls the same services as the JSON API, so an edit made here is
validated and audited exactly as one made through the API.
"""

from __future__ import annotations

from labledger.web.admin.audit import AuditPagesController
from labledger.web.admin.change_approval import ChangeApprovalController
from labledger.web.admin.changes import ChangeRequestPagesController
from labledger.web.admin.config import ConfigPagesController
from labledger.web.admin.types import TypeDesignerController
from labledger.web.admin.users import UsersPagesController
from labledger.web.admin.workflows import WorkflowDesignerController

CONTROLLERS = [
    TypeDesignerController,
    WorkflowDesignerController,
    UsersPagesController,
    AuditPagesController,
    ConfigPagesController,
    ChangeRequestPagesController,
    ChangeApprovalController,
]
