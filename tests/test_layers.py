"""The import direction of docs/architecture.md, checked over every module of harken: a layer
imports only layers below it (at module level or inside a function), and the siblings that
must stay apart do."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "harken"

# Highest layer first; a module's layer is that of its longest matching prefix.
LAYERS: dict[str, int] = {
    "harken.cli": 9,
    "harken.slackapp": 9,
    "harken.web": 9,
    "harken.pipeline": 8,
    "harken.digest": 7,
    "harken.reports": 6,
    "harken.queue": 5,
    "harken.spikes.job": 5,
    "harken.classify.training": 5,
    "harken.routing": 4,
    "harken.spikes": 3,
    "harken.notify": 3,
    "harken.platforms": 2,
    "harken.authors": 2,
    "harken.classify": 2,
    "harken.store": 1,
    "harken.negation": 0,  # pure text: matching (0) reads denials through it
}  # everything else under harken (config, net, errors, text, records, ...) is 0
APART: dict[str, tuple[str, ...]] = {
    # what a package must never import, though it sits at or above it
    "harken.platforms": ("harken.classify", "harken.notify", "harken.routing", "harken.spikes"),
    "harken.classify": ("harken.store", "harken.platforms"),  # pure: texts in, scores out
    "harken.notify": ("harken.platforms", "harken.routing", "harken.spikes", "harken.classify"),
    "harken.spikes.method": ("harken.store",),  # the method needs no database
}


def layer(module: str) -> int:
    matches = [p for p in LAYERS if module == p or module.startswith(p + ".")]
    return LAYERS[max(matches, key=len)] if matches else 0


def modules() -> list[tuple[str, Path]]:
    found = []
    for path in sorted(ROOT.rglob("*.py")):
        parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
        if "migrations" in parts or parts[-1] == "__main__":  # `python -m harken` runs the CLI
            continue
        found.append((".".join(parts[:-1] if parts[-1] == "__init__" else parts), path))
    return found


def imports(path: Path) -> list[tuple[int, str]]:
    names = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("harken"):
            names.append((node.lineno, node.module))
        elif isinstance(node, ast.Import):
            names += [(node.lineno, a.name) for a in node.names if a.name.startswith("harken")]
    return names


@pytest.mark.parametrize("module,path", modules(), ids=[m for m, _ in modules()])
def test_a_module_imports_only_layers_below_it(module: str, path: Path) -> None:
    upward = [f"line {n}: {name}" for n, name in imports(path) if layer(name) > layer(module)]
    forbidden = [
        f"line {n}: {name}"
        for prefix, others in APART.items()
        if module == prefix or module.startswith(prefix + ".")
        if not module.startswith("harken.classify.training")
        for n, name in imports(path)
        if name.startswith(others)
    ]
    assert not upward + forbidden, (
        f"{module} imports above or beside its layer: {upward + forbidden}"
    )


def test_layers_name_packages_that_exist() -> None:
    for prefix in [*LAYERS, *APART]:
        relative = Path(*prefix.split(".")[1:])
        assert (ROOT / relative).is_dir() or (ROOT / relative).with_suffix(".py").is_file(), prefix


def test_the_cli_starts_without_the_heavy_libraries() -> None:
    """`harken --help` and every command's parsing load none of the database, model, HTTP or
    Slack libraries: commands import what they use when they run."""
    import subprocess
    import sys

    heavy = ("sqlalchemy", "numpy", "torch", "transformers", "httpx", "requests", "slack_bolt")
    loaded = subprocess.run(
        [sys.executable, "-c", "import sys, harken.cli; print(' '.join(sys.modules))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert [name for name in heavy if name in loaded] == []
