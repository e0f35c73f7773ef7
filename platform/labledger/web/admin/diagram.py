"""The state diagram of a workflow, laid out on the server for an inline SVG.

States stand in columns by their distance from the initial state (a
breadth-first walk along the transitions), so the usual path reads from left
to right; states the walk cannot reach follow in columns of their own. Within
a column, states are ordered by the position of the states that lead to
them, which keeps most arrows short and uncrossed. Forward transitions are
curves between neighbouring columns, transitions back to an earlier column
loop underneath, and a transition that stays in its state loops above it.

The layout accepts any draft, valid or not: the designer draws the machine
while it is being edited, so unknown states and missing keys are skipped,
never fatal. The template that draws it escapes every label.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

NODE_HEIGHT = 44
COLUMN_GAP = 150
LABEL_HEIGHT = 18
ROW_GAP = 40
MARGIN = 24
#: Room on the left for the initial-state marker, and on top for loops.
LEFT = 48
TOP = 64
#: Average character widths of the node (13 px) and edge label (12 px) fonts.
NODE_CHAR = 7.4
LABEL_CHAR = 6.6
MAX_LABEL_CHARS = 28


def _clip(text: str) -> str:
    return text if len(text) <= MAX_LABEL_CHARS else text[: MAX_LABEL_CHARS - 1] + "…"


@dataclass(frozen=True)
class Node:
    key: str
    label: str
    x: float
    y: float
    width: float
    initial: bool
    final: bool
    height: float = NODE_HEIGHT

    @property
    def cx(self) -> float:
        return self.x + self.width / 2

    @property
    def cy(self) -> float:
        return self.y + self.height / 2

    @property
    def right(self) -> float:
        return self.x + self.width

    @property
    def bottom(self) -> float:
        return self.y + self.height


@dataclass(frozen=True)
class Edge:
    key: str
    label: str
    source: str
    target: str
    #: SVG path data of the curve.
    path: str
    label_x: float
    label_y: float
    label_width: float
    #: "forward", "back", "same" (within a column) or "self".
    kind: str
    signature: str | None = None
    #: One line per rule of the transition, for the tooltip.
    details: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Diagram:
    width: float
    height: float
    nodes: list[Node]
    edges: list[Edge]


def _states(definition: Any) -> list[dict[str, Any]]:
    """The states that can be drawn: dicts with a key, each key once."""
    seen: set[str] = set()
    result = []
    raw = definition.get("states") if isinstance(definition, dict) else None
    for state in raw if isinstance(raw, list) else []:
        key = state.get("key") if isinstance(state, dict) else None
        if isinstance(key, str) and key and key not in seen:
            seen.add(key)
            result.append(state)
    return result


def _links(definition: dict[str, Any], keys: set[str]) -> list[tuple[str, str, dict[str, Any]]]:
    """(source, target, transition) for every drawable source of every transition."""
    links = []
    transitions = definition.get("transitions")
    for transition in transitions if isinstance(transitions, list) else []:
        if not isinstance(transition, dict) or transition.get("to") not in keys:
            continue
        sources = transition.get("from")
        for source in sources if isinstance(sources, list) else []:
            if source in keys:
                links.append((source, transition["to"], transition))
    return links


def _columns(
    order: list[str], initial: str | None, successors: dict[str, list[str]]
) -> list[list[str]]:
    """States grouped by breadth-first distance from the initial state."""
    column: dict[str, int] = {}
    roots = ([initial] if initial else []) + order
    for root in roots:
        if root in column:
            continue
        start = max(column.values()) + 1 if column else 0
        column[root] = start
        queue = [root]
        while queue:
            current = queue.pop(0)
            for target in successors[current]:
                if target not in column:
                    column[target] = column[current] + 1
                    queue.append(target)
    grouped: list[list[str]] = [[] for _ in range(max(column.values(), default=-1) + 1)]
    for key, index in column.items():  # in the order the walk found them
        grouped[index].append(key)
    return grouped


def _order_by_predecessors(
    columns: list[list[str]], predecessors: dict[str, list[str]]
) -> list[list[str]]:
    """Sort each column by the mean row of the states leading to it (one sweep)."""
    row: dict[str, float] = {}
    result = []
    for states in columns:

        def position(key: str, states: list[str] = states) -> float:
            placed = [row[p] for p in predecessors[key] if p in row]
            return sum(placed) / len(placed) if placed else float(states.index(key))

        ordered = sorted(states, key=position)
        row.update({key: float(index) for index, key in enumerate(ordered)})
        result.append(ordered)
    return result


def _details(transition: dict[str, Any]) -> list[str]:
    lines = [f"transition {transition.get('key', '')}"]
    if transition.get("roles"):
        lines.append("roles: " + ", ".join(map(str, transition["roles"])))
    if isinstance(transition.get("signature"), dict):
        lines.append(f"signature: {transition['signature'].get('meaning', '')}")
    if transition.get("guard"):
        lines.append(f"guard: {transition['guard']}")
    if transition.get("reason_required"):
        lines.append("a reason is required")
    if isinstance(transition.get("confirm"), dict):
        confirm = transition["confirm"]
        lines.append(
            f"asks to confirm when {confirm.get('when', '')}: {confirm.get('message', '')}"
        )
    if isinstance(transition.get("separation"), dict) and transition["separation"]:
        lines.append("separation of duties")
    return lines


def layout(definition: Any) -> Diagram:
    """Where every state and transition of ``definition`` is drawn."""
    states = _states(definition)
    if not states:
        return Diagram(0, 0, [], [])
    keys = [s["key"] for s in states]
    by_key = {s["key"]: s for s in states}
    links = _links(definition, set(keys))
    successors: dict[str, list[str]] = defaultdict(list)
    predecessors: dict[str, list[str]] = defaultdict(list)
    for source, target, _ in links:
        successors[source].append(target)
        predecessors[target].append(source)
    initial = next((s["key"] for s in states if s.get("initial") is True), keys[0])
    columns = _order_by_predecessors(_columns(keys, initial, successors), predecessors)

    top = TOP if any(source == target for source, target, _ in links) else MARGIN
    nodes: dict[str, Node] = {}
    column_of: dict[str, int] = {}
    tallest = max(len(c) for c in columns)
    x = float(LEFT)
    for index, column in enumerate(columns):
        labels = {k: _clip(str(by_key[k].get("label") or k)) for k in column}
        width = max(min(max(len(t) for t in labels.values()) * NODE_CHAR + 28, 220), 96)
        offset = (tallest - len(column)) * (NODE_HEIGHT + ROW_GAP) / 2
        for row, key in enumerate(column):
            nodes[key] = Node(
                key=key,
                label=labels[key],
                x=x,
                y=top + offset + row * (NODE_HEIGHT + ROW_GAP),
                width=width,
                initial=key == initial,
                final=by_key[key].get("final") is True,
            )
            column_of[key] = index
        x += width + COLUMN_GAP

    edges = _edges(links, nodes, column_of)
    right = max([n.right for n in nodes.values()] + [e.label_x + e.label_width / 2 for e in edges])
    bottom = max([n.bottom for n in nodes.values()] + [e.label_y + 10 for e in edges])
    return Diagram(right + MARGIN, bottom + MARGIN, list(nodes.values()), edges)


def _curve(*points: tuple[float, float]) -> str:
    """SVG path data of a cubic Bézier curve through its start, two controls and end."""
    start, *rest = (f"{x:.1f},{y:.1f}" for x, y in points)
    return f"M{start} C{' '.join(rest)}"


def _edges(
    links: list[tuple[str, str, dict[str, Any]]],
    nodes: dict[str, Node],
    column_of: dict[str, int],
) -> list[Edge]:
    pair_total: dict[tuple[str, str], int] = defaultdict(int)
    for source, target, _ in links:
        pair_total[(source, target)] += 1
    pair_seen: dict[tuple[str, str], int] = defaultdict(int)
    loops_below = 0
    taken = [_box(n.cx, n.cy, n.width, n.height) for n in nodes.values()]
    edges = []
    for source, target, transition in links:
        a, b = nodes[source], nodes[target]
        nth = pair_seen[(source, target)]
        pair_seen[(source, target)] += 1
        spread = (nth - (pair_total[(source, target)] - 1) / 2) * 24
        if source == target:
            kind = "self"
            lift = 46 + 16 * nth
            x0 = a.x + a.width * 0.7
            path = _curve(
                (x0 - 12, a.y), (x0 - 34, a.y - lift), (x0 + 34, a.y - lift), (x0 + 12, a.y)
            )
            lx, ly = x0, a.y - lift * 0.75 - 4
        elif column_of[target] > column_of[source]:
            kind = "forward"
            x1, y1, x2, y2 = a.right, a.cy, b.x, b.cy
            dx = max((x2 - x1) / 2, 30)
            path = _curve((x1, y1), (x1 + dx, y1 + spread), (x2 - dx, y2 + spread), (x2, y2))
            lx, ly = (x1 + x2) / 2, (y1 + y2) / 2 + 0.75 * spread
        elif column_of[target] == column_of[source]:
            kind = "same"
            bulge = 56 + 18 * nth
            x1, y1, y2 = a.right, a.cy, b.cy
            path = _curve((x1, y1), (x1 + bulge, y1), (x1 + bulge, y2), (b.right, y2))
            lx, ly = x1 + bulge * 0.75, (y1 + y2) / 2
        else:
            # Back to an earlier column: from the left side of the source to the
            # right side of the target, dipping under the states in between.
            kind = "back"
            x1, y1, x2, y2 = a.x, a.cy + 8, b.right, b.cy + 8
            between = [
                n.bottom
                for key, n in nodes.items()
                if column_of[target] < column_of[key] < column_of[source]
            ]
            dip = max([y1, y2, *between]) + 34 + 16 * loops_below
            loops_below += 1
            path = _curve((x1, y1), (x1 - 40, dip), (x2 + 40, dip), (x2, y2))
            lx, ly = (x1 + x2) / 2, (y1 + y2) / 8 + 0.75 * dip
        signature = transition.get("signature")
        meaning = signature.get("meaning") if isinstance(signature, dict) else None
        label = _clip(str(transition.get("label") or transition.get("key") or ""))
        width = (len(label) + (2 if meaning else 0)) * LABEL_CHAR + 12
        ly = _free_spot(lx, ly, width, taken)
        taken.append(_box(lx, ly, width, LABEL_HEIGHT))
        edges.append(
            Edge(
                key=str(transition.get("key") or ""),
                label=label,
                source=source,
                target=target,
                path=path,
                label_x=lx,
                label_y=ly,
                label_width=width,
                kind=kind,
                signature=str(meaning) if meaning else None,
                details=_details(transition),
            )
        )
    return edges


Box = tuple[float, float, float, float]


def _box(cx: float, cy: float, width: float, height: float) -> Box:
    return (cx - width / 2, cy - height / 2, cx + width / 2, cy + height / 2)


def _free_spot(x: float, y: float, width: float, taken: list[Box]) -> float:
    """The height nearest ``y`` where a label overlaps no state and no other label."""
    for shift in (0, 20, -20, 40, -40, 60, -60, 80):
        box = _box(x, y + shift, width + 4, LABEL_HEIGHT + 2)
        if not any(
            box[0] < t[2] and t[0] < box[2] and box[1] < t[3] and t[1] < box[3] for t in taken
        ):
            return y + shift
    return y
