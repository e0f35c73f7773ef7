"""The integration pages: webhook subscriptions and their delivery monitor,
import mappings and their editor, and running an import.

Every page calls the same services as the JSON API (``labledger.integration``),
so what is allowed, validated and audited is the same in both.
"""

from __future__ import annotations

from labledger.web.integration.imports import ImportPagesController
from labledger.web.integration.mappings import MappingPagesController
from labledger.web.integration.monitor import DeliveryMonitorController
from labledger.web.integration.subscriptions import WebhookPagesController

CONTROLLERS = [
    WebhookPagesController,
    DeliveryMonitorController,
    MappingPagesController,
    ImportPagesController,
]
