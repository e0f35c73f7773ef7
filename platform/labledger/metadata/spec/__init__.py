"""The meta-model as typed structs, one module per document kind.

The JSON Schemas in ``metadata/`` are the published contract; these structs
accept and refuse the same documents (a test proves it) and are what the
code reads: a definition is decoded once, when it is published or compiled.
"""

from labledger.metadata.spec.base import Spec, decode, encode
from labledger.metadata.spec.bundle import BundleSpec, DemoSpec
from labledger.metadata.spec.dashboard import DashboardSpec, PanelSpec
from labledger.metadata.spec.fields import FIELD_KINDS, FieldSpec, OptionSpec
from labledger.metadata.spec.mapping import MappingSpec
from labledger.metadata.spec.object_type import ObjectTypeSpec
from labledger.metadata.spec.print_template import PrintTemplateSpec
from labledger.metadata.spec.role import RoleSpec
from labledger.metadata.spec.workflow import ActionSpec, StateSpec, TransitionSpec, WorkflowSpec

#: The struct of each schema in ``metadata/`` by the schema's name.
SPECS: dict[str, type[Spec]] = {
    "bundle": BundleSpec,
    "dashboard": DashboardSpec,
    "mapping": MappingSpec,
    "object_type": ObjectTypeSpec,
    "print_template": PrintTemplateSpec,
    "role": RoleSpec,
    "workflow": WorkflowSpec,
}

__all__ = [
    "FIELD_KINDS",
    "SPECS",
    "ActionSpec",
    "BundleSpec",
    "DashboardSpec",
    "DemoSpec",
    "FieldSpec",
    "MappingSpec",
    "ObjectTypeSpec",
    "OptionSpec",
    "PanelSpec",
    "PrintTemplateSpec",
    "RoleSpec",
    "Spec",
    "StateSpec",
    "TransitionSpec",
    "WorkflowSpec",
    "decode",
    "encode",
]
