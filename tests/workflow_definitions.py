"""Workflows and types the workflow tests publish: a parent job and its tasks."""

from __future__ import annotations

from typing import Any

TASK_FLOW: dict[str, Any] = {
    "key": "task_flow",
    "label": "Task flow",
    "states": [
        {"key": "pending", "label": "Pending", "initial": True},
        {"key": "entered", "label": "Entered", "editable": ["value", "note"]},
        {"key": "reviewed", "label": "Reviewed", "final": True, "editable": "none"},
        {"key": "retest", "label": "Retest requested", "final": True, "editable": "none"},
    ],
    "transitions": [
        {
            "key": "enter",
            "label": "Enter",
            "from": ["pending"],
            "to": "entered",
            "roles": ["analyst"],
            "requires_fields": ["value"],
        },
        {
            "key": "review",
            "label": "Review",
            "from": ["entered"],
            "to": "reviewed",
            "roles": ["reviewer"],
            "signature": {"meaning": "Reviewed"},
            "separation": {
                "transitions": ["enter"],
                "message": "The reviewer must not be the analyst who entered it.",
            },
            "actions": [
                {"type": "transition_referenced", "reference": "job", "transition": "to_review"}
            ],
        },
        {
            "key": "request_retest",
            "label": "Request retest",
            "from": ["entered"],
            "to": "retest",
            "roles": ["reviewer"],
            "reason_required": True,
        },
    ],
}

JOB_FLOW: dict[str, Any] = {
    "key": "job_flow",
    "label": "Job flow",
    "states": [
        {"key": "open", "label": "Open", "initial": True},
        {"key": "in_progress", "label": "In progress"},
        {"key": "in_review", "label": "In review", "editable": "none"},
        {
            "key": "released",
            "label": "Released",
            "final": True,
            "editable": "none",
            "required": ["released_on"],
        },
        {"key": "cancelled", "label": "Cancelled", "final": True, "editable": "none"},
    ],
    "transitions": [
        {
            "key": "start",
            "label": "Start",
            "from": ["open"],
            "to": "in_progress",
            "roles": ["analyst"],
            "actions": [
                {
                    "type": "create",
                    "record_type": "task",
                    "fields": {"job": "record.id", "name": "title + ' task'"},
                }
            ],
        },
        {
            "key": "to_review",
            "label": "Send to review",
            "from": ["in_progress"],
            "to": "in_review",
            "roles": ["analyst"],
            "guard": "all_referencing_in('task', 'job', 'reviewed')",
            "guard_message": "All tasks must be reviewed first.",
        },
        {
            "key": "release",
            "label": "Release",
            "from": ["in_review"],
            "to": "released",
            "roles": ["qa"],
            "signature": {"meaning": "Approved for release"},
            "separation": {"creator": True},
            "actions": [{"type": "set", "field": "released_on", "expression": "today()"}],
        },
        {
            "key": "cancel",
            "label": "Cancel",
            "from": ["open", "in_progress"],
            "to": "cancelled",
            "roles": ["qa"],
            "reason_required": True,
        },
    ],
}


def job_type() -> dict[str, Any]:
    return {
        "key": "job",
        "label": "Job",
        "plural": "Jobs",
        "numbering": "JOB-{#####}",
        "title": "{title}",
        "workflow": "job_flow",
        "permissions": {"read": ["*"], "create": ["analyst"], "edit": ["analyst"]},
        "fields": [
            {"key": "title", "label": "Title", "type": "text", "required": True},
            {"key": "released_on", "label": "Released on", "type": "date"},
            {"key": "due", "label": "Due", "type": "date"},
        ],
        "due_field": "due",
    }


def task_type() -> dict[str, Any]:
    return {
        "key": "task",
        "label": "Task",
        "plural": "Tasks",
        "numbering": "TSK-{#####}",
        "title": "{name}",
        "workflow": "task_flow",
        "permissions": {"read": ["*"], "create": ["analyst"], "edit": ["analyst"]},
        "fields": [
            {"key": "job", "label": "Job", "type": "reference", "to": "job"},
            {"key": "name", "label": "Name", "type": "text", "required": True},
            {"key": "value", "label": "Value", "type": "decimal"},
            {"key": "note", "label": "Note", "type": "text"},
        ],
    }
