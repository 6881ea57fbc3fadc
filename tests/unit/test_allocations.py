"""Only the allocation service writes allocations (read from the source)."""

from __future__ import annotations

import ast

from tests.support import REPO_ROOT

SRC = REPO_ROOT / "src" / "prorata"


def _writes_allocations(tree: ast.AST) -> bool:
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name | ast.Attribute):
            name = node.func.id if isinstance(node.func, ast.Name) else node.func.attr
            if name in {"insert", "update", "delete"} and any(
                isinstance(arg, ast.Name) and arg.id == "Allocation" for arg in node.args
            ):
                return True
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            text = node.value.lower()
            if any(
                f"{verb} allocations" in text or f"{verb} into allocations" in text
                for verb in ("insert", "update", "delete from", "copy")
            ):
                return True
    return False


def test_only_the_allocation_service_writes_allocations() -> None:
    writers = sorted(
        str(path.relative_to(SRC))
        for path in SRC.rglob("*.py")
        if _writes_allocations(ast.parse(path.read_text()))
    )
    assert writers == ["allocations/service.py"]
    services = [p for p in SRC.rglob("*.py") if "alloc" in p.name and "service" in p.name]
    services += [p for p in SRC.rglob("*service*.py") if "alloc" in str(p.parent.name)]
    assert {str(p.relative_to(SRC)) for p in services} == {"allocations/service.py"}
