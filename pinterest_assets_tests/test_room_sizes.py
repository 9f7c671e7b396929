"""Rooms you can live in: no product Python file over 500 lines, no function over 80."""

from __future__ import annotations

import ast

from pinterest_assets.settings import project_root

PRODUCT = ("pinterest_assets", "pinterest_ingest", "pinterest_platform", "airflow_bridge")
MAX_FILE_LINES, MAX_FUNCTION_LINES = 500, 80


def product_files():
    root = project_root()
    return sorted(p for package in PRODUCT for p in (root / package).rglob("*.py"))


def test_no_product_file_over_500_lines_and_no_function_over_80():
    root = project_root()
    too_big = []
    for path in product_files():
        source = path.read_text(encoding="utf-8")
        name = path.relative_to(root)
        if len(source.splitlines()) > MAX_FILE_LINES:
            too_big.append(f"{name}: {len(source.splitlines())} lines")
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    too_big.append(f"{name}:{node.lineno} {node.name}(): {length} lines")
    assert too_big == []


def test_the_rule_sees_the_product():
    names = {p.relative_to(project_root()).as_posix() for p in product_files()}
    assert {"pinterest_assets/definitions.py", "pinterest_platform/cli.py", "pinterest_ingest/api/app.py"} <= names
