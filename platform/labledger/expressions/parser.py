"""Turn expression text into a checked syntax tree, running none of it.

``ast.parse(mode="eval")`` does the parsing; this module adds what the
translator must be able to rely on: the text is within the length limit, the
tree within the node and depth limits (checked without recursion, so a hostile
tree cannot overflow the stack), and no name starts with ``_`` — which is how
every known Python sandbox escape begins.  :class:`Source` turns a node's
line and byte column into the character offset an editor can point at.
"""

from __future__ import annotations

import ast
import warnings
from dataclasses import dataclass

from labledger.expressions.errors import ExpressionError
from labledger.expressions.limits import MAX_DEPTH, MAX_NODES, MAX_SOURCE_LENGTH

# Nodes that only label other nodes; they do not count towards size or depth.
_LABEL_NODES = (ast.expr_context, ast.operator, ast.unaryop, ast.cmpop, ast.boolop)


@dataclass(frozen=True)
class Source:
    """The expression text as parsed (leading blanks removed), and where it
    sits in what the administrator typed, for error offsets."""

    text: str
    indent: int
    line_starts: tuple[int, ...]

    @classmethod
    def of(cls, text: str, indent: int) -> Source:
        starts = [0]
        starts.extend(index + 1 for index, char in enumerate(text) if char == "\n")
        return cls(text, indent, tuple(starts))

    def error(self, message: str, node: ast.AST | None = None) -> ExpressionError:
        """An ExpressionError pointing at ``node`` when it has a position."""
        return ExpressionError(message, self.offset_of(node))

    def offset_of(self, node: ast.AST | None) -> int | None:
        """Absolute character offset of a node (ast gives line + UTF-8 byte column)."""
        if not isinstance(node, ast.expr | ast.keyword):
            return None
        if node.lineno > len(self.line_starts):
            return None
        start = self.line_starts[node.lineno - 1]
        line = self.text[start:].split("\n", 1)[0]
        column = len(line.encode("utf-8")[: node.col_offset].decode("utf-8", errors="ignore"))
        return self.indent + start + column


def parse(source: str) -> tuple[Source, ast.Expression]:
    """Parse and check ``source``; every refusal is an ExpressionError."""
    if len(source) > MAX_SOURCE_LENGTH:
        raise ExpressionError(
            f"expression is too long ({len(source)} characters; the limit is {MAX_SOURCE_LENGTH})"
        )
    text = source.lstrip()
    if not text.strip():
        raise ExpressionError("expression is empty", 0)
    located = Source.of(text, len(source) - len(text))
    tree = _parse_tree(located)
    _check_shape(located, tree)
    return located, tree


def _parse_tree(source: Source) -> ast.Expression:
    """Parse without running anything; parser failures become ExpressionError."""
    text = source.text
    try:
        # Parsing may warn (e.g. about "\d" escapes); the admin sees errors, not warnings.
        with warnings.catch_warnings(action="ignore"):
            return ast.parse(text, mode="eval")
    except SyntaxError as exc:
        offset = None
        starts = source.line_starts
        if exc.lineno and 0 < exc.lineno <= len(starts):
            # offset is 1-based; 0 means "at the end of the input" (e.g. "1 +").
            column = exc.offset - 1 if exc.offset else len(text) - starts[exc.lineno - 1]
            offset = source.indent + starts[exc.lineno - 1] + column
        raise ExpressionError(f"syntax error: {exc.msg}", offset) from None
    except (ValueError, RecursionError, MemoryError) as exc:
        raise ExpressionError(f"syntax error: {exc or 'expression is too complex'}") from None


def _check_shape(source: Source, tree: ast.Expression) -> None:
    """Enforce the node and depth limits without recursion, so that a
    hostile tree cannot overflow the stack of the (recursive) translator."""
    count = 0
    stack: list[tuple[ast.AST, int]] = [(tree.body, 1)]
    while stack:
        node, depth = stack.pop()
        count += 1
        if count > MAX_NODES:
            raise source.error(f"expression is too complex (more than {MAX_NODES} parts)")
        if depth > MAX_DEPTH:
            raise source.error(f"expression is nested too deeply (limit {MAX_DEPTH})", node)
        _refuse_private(source, node)
        for child in ast.iter_child_nodes(node):
            if not isinstance(child, _LABEL_NODES):
                stack.append((child, depth + 1))


def _refuse_private(source: Source, node: ast.AST) -> None:
    """Names starting with '_' are how every known Python escape begins."""
    name = None
    if isinstance(node, ast.Name):
        name = node.id
    elif isinstance(node, ast.Attribute):
        name = node.attr
    elif isinstance(node, ast.keyword):
        name = node.arg
    if name is not None and name.startswith("_"):
        raise source.error(f"'{name}' is not allowed (names starting with '_' are reserved)", node)
