"""The checker behind ``test_status_writers``: every write of a guarded column of
``collections`` in a module's AST (SQLAlchemy statements, ORM assignments, SQL text)."""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

GUARDED = frozenset(
    {"status", "previous_status", "status_updated_at", "current_run_id", "version", "last_seq"}
)
COLLECTION_TABLES = frozenset({"collections_t", "Collection"})

_SQL_UPDATE = re.compile(
    r"\b(?:UPDATE|INSERT\s+INTO)\s+[\"`]?collections[\"`]?\s+(?P<rest>.*)",
    re.IGNORECASE | re.DOTALL,
)
_SQL_SET_END = re.compile(r"\b(?:WHERE|RETURNING|FROM)\b|;", re.IGNORECASE)
_SQL_COLUMN = re.compile(r"(?<![\w.])(?:\w+\.)?[\"`]?(\w+)[\"`]?\s*(?==|,|\))", re.IGNORECASE)


@dataclass(frozen=True)
class Finding:
    """One write of a guarded column outside the transition module."""

    path: str
    line: int
    what: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.what}"


def _name_of(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


class _Checker(ast.NodeVisitor):
    def __init__(self, path: str, tree: ast.Module) -> None:
        self.path = path
        self.findings: list[Finding] = []
        self.imports_orm_collection = any(
            isinstance(node, ast.ImportFrom)
            and (node.module or "").startswith("fileintel.models")
            and any(alias.name == "Collection" for alias in node.names)
            for node in ast.walk(tree)
        )
        # Assignments per enclosing scope, to follow local variables one level back.
        self.scopes: list[ast.AST] = [tree]

    # -- helpers ---------------------------------------------------------------------------

    def _flag(self, node: ast.AST, what: str) -> None:
        self.findings.append(Finding(self.path, getattr(node, "lineno", 0), what))

    def _assigned(self, name: str) -> list[ast.expr]:
        """Values assigned to local ``name`` in the innermost scope."""
        values: list[ast.expr] = []
        for node in ast.walk(self.scopes[-1]):
            if isinstance(node, ast.Assign):
                if any(isinstance(t, ast.Name) and t.id == name for t in node.targets):
                    values.append(node.value)
            elif (
                isinstance(node, ast.AnnAssign)
                and isinstance(node.target, ast.Name)
                and node.target.id == name
                and node.value is not None
            ):
                values.append(node.value)
        return values

    def _targets_collections(self, node: ast.expr, depth: int = 0) -> bool:
        """True when ``node`` is (a chain built on) an UPDATE or INSERT of collections."""
        if depth > 5:
            return False
        if isinstance(node, ast.Call):
            func = node.func
            if _name_of(func) in ("update", "insert"):
                # update(collections_t) / sa.update(Collection)
                if node.args and _name_of(node.args[0]) in COLLECTION_TABLES:
                    return True
                # collections_t.update()
                if isinstance(func, ast.Attribute) and _name_of(func.value) in COLLECTION_TABLES:
                    return True
            if isinstance(func, ast.Attribute):  # .where(...).values(...) chains
                return self._targets_collections(func.value, depth + 1)
            return False
        if isinstance(node, ast.Name):
            return any(self._targets_collections(v, depth + 1) for v in self._assigned(node.id))
        return False

    def _keys_of(self, node: ast.expr, depth: int = 0) -> set[str]:
        """Column names a ``.values()`` argument or execute parameter provably sets."""
        keys: set[str] = set()
        if isinstance(node, ast.Dict):
            keys |= {
                k.value
                for k in node.keys
                if isinstance(k, ast.Constant) and isinstance(k.value, str)
            }
            for k, v in zip(node.keys, node.values, strict=True):
                if k is None:  # {**other}
                    keys |= self._keys_of(v, depth + 1)
        elif isinstance(node, ast.List | ast.Tuple):
            for element in node.elts:
                keys |= self._keys_of(element, depth + 1)
        elif isinstance(node, ast.Call) and _name_of(node.func) == "dict":
            keys |= {kw.arg for kw in node.keywords if kw.arg}
        elif isinstance(node, ast.Name) and depth < 3:
            for value in self._assigned(node.id):
                keys |= self._keys_of(value, depth + 1)
            for sub in ast.walk(self.scopes[-1]):  # values["status"] = ...; values.update(...)
                if isinstance(sub, ast.Assign):
                    for t in sub.targets:
                        if (
                            isinstance(t, ast.Subscript)
                            and isinstance(t.value, ast.Name)
                            and t.value.id == node.id
                            and isinstance(t.slice, ast.Constant)
                            and isinstance(t.slice.value, str)
                        ):
                            keys.add(t.slice.value)
                elif (
                    isinstance(sub, ast.Call)
                    and isinstance(sub.func, ast.Attribute)
                    and sub.func.attr == "update"
                    and isinstance(sub.func.value, ast.Name)
                    and sub.func.value.id == node.id
                ):
                    keys |= {kw.arg for kw in sub.keywords if kw.arg}
                    for arg in sub.args:
                        keys |= self._keys_of(arg, depth + 1)
        return keys

    # -- visitors --------------------------------------------------------------------------

    def _scoped(self, node: ast.AST) -> None:
        self.scopes.append(node)
        self.generic_visit(node)
        self.scopes.pop()

    visit_FunctionDef = _scoped
    visit_AsyncFunctionDef = _scoped

    def _values_keys(self, node: ast.Call) -> set[str]:
        keys = {kw.arg for kw in node.keywords if kw.arg}
        for arg in node.args:
            keys |= self._keys_of(arg)
            if isinstance(arg, ast.Tuple | ast.List):  # ordered_values((col, v), ...)
                for pair in arg.elts:
                    if isinstance(pair, ast.Tuple) and pair.elts:
                        keys.add(_name_of(pair.elts[0]) or "")
        return keys

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        method = func.attr if isinstance(func, ast.Attribute) else None
        if (
            isinstance(func, ast.Attribute)
            and method in ("values", "ordered_values")
            and self._targets_collections(func.value)
        ):
            hit = sorted(self._values_keys(node) & GUARDED)
            if hit:
                self._flag(node, f"sets {', '.join(hit)} on collections")
        if (
            method in ("execute", "exec_driver_sql")
            and len(node.args) >= 2
            and self._targets_collections(node.args[0])
        ):
            hit = sorted(self._keys_of(node.args[1]) & GUARDED)
            if hit:
                self._flag(node, f"executes an update of collections with {', '.join(hit)}")
        if (
            isinstance(func, ast.Name)
            and func.id == "setattr"
            and self.imports_orm_collection
            and len(node.args) >= 2
            and isinstance(node.args[1], ast.Constant)
            and node.args[1].value in GUARDED
        ):
            self._flag(node, f"setattr of {node.args[1].value} on an ORM object")
        self.generic_visit(node)

    def _check_targets(self, node: ast.AST, targets: list[ast.expr]) -> None:
        if not self.imports_orm_collection:
            return
        for target in targets:
            for t in ast.walk(target):
                if (
                    isinstance(t, ast.Attribute)
                    and t.attr in GUARDED
                    and isinstance(t.ctx, ast.Store)
                ):
                    self._flag(node, f"assigns .{t.attr} on an ORM object")

    def visit_Assign(self, node: ast.Assign) -> None:
        self._check_targets(node, node.targets)
        self.generic_visit(node)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        self._check_targets(node, [node.target])
        self.generic_visit(node)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        self._check_targets(node, [node.target])
        self.generic_visit(node)

    def _check_sql(self, node: ast.AST, sql: str) -> None:
        for match in _SQL_UPDATE.finditer(sql):
            rest = match.group("rest")
            end = _SQL_SET_END.search(rest)
            clause = rest[: end.start()] if end else rest
            columns = {m.group(1).lower() for m in _SQL_COLUMN.finditer(clause)}
            hit = sorted(columns & GUARDED)
            if hit:
                self._flag(node, f"SQL writes {', '.join(hit)} of collections")

    def visit_Constant(self, node: ast.Constant) -> None:
        if isinstance(node.value, str):
            self._check_sql(node, node.value)

    def visit_JoinedStr(self, node: ast.JoinedStr) -> None:
        parts = [
            v.value if isinstance(v, ast.Constant) and isinstance(v.value, str) else "_x_"
            for v in node.values
        ]
        self._check_sql(node, "".join(parts))


def status_writes(source: str, path: str = "<snippet>") -> list[Finding]:
    """Every write of a guarded collections column found in ``source``."""
    tree = ast.parse(source, filename=path)
    checker = _Checker(path, tree)
    checker.visit(tree)
    return checker.findings
