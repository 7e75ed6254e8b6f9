"""The package's structure: every import points down a layer (the import-linter
contract in pyproject.toml), no module reaches into another's private names, and no
import inside a function stands in for one at the top of the module."""
import ast
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CHECKED = ("fpmd_mjx", "scripts", "validation", "benchmarks", "studies", "tests")


def _sources(*dirs):
    for d in dirs:
        for base, _, files in os.walk(os.path.join(ROOT, d)):
            for name in sorted(files):
                if name.endswith(".py"):
                    path = os.path.join(base, name)
                    with open(path) as f:
                        yield os.path.relpath(path, ROOT), ast.parse(f.read())


def _module_of(rel: str) -> str:
    return rel[:-3].replace(os.sep, ".").removesuffix(".__init__")


def test_the_layer_contract_holds():
    code = "import sys; from importlinter.cli import lint_imports; sys.exit(lint_imports(no_cache=True, no_logo=True))"
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-2000:]
    assert "1 kept, 0 broken" in p.stdout, p.stdout[-3000:]


def test_no_module_uses_another_modules_private_names():
    """``from fpmd_mjx.x import _name`` and ``x._name`` on a project module are both refused
    (what two modules share is public in the module that owns it)."""
    offences = []
    for rel, tree in _sources(*CHECKED):
        aliases = {}  # local name -> project module it names
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("fpmd_mjx"):
                for a in node.names:
                    if a.name.startswith("_"):
                        offences.append(f"{rel}:{node.lineno} imports {node.module}.{a.name}")
                    aliases[a.asname or a.name] = f"{node.module}.{a.name}"
            elif isinstance(node, ast.Import):
                for a in node.names:
                    if a.name.startswith("fpmd_mjx"):
                        aliases[a.asname or a.name.split(".")[0]] = a.name
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__")
                    and isinstance(node.value, ast.Name) and node.value.id in aliases):
                offences.append(f"{rel}:{node.lineno} uses {aliases[node.value.id]}.{node.attr}")
    assert not offences, "\n".join(offences)


def test_the_package_imports_its_own_modules_at_the_top():
    """An import of a project module inside a function would hide a cycle from the contract's readers."""
    offences = []
    for rel, tree in _sources("fpmd_mjx"):
        for fn in ast.walk(tree):
            if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for node in ast.walk(fn):
                    names = ([node.module or ""] if isinstance(node, ast.ImportFrom) else
                             [a.name for a in node.names] if isinstance(node, ast.Import) else [])
                    if any(n.startswith("fpmd_mjx") for n in names) or getattr(node, "level", 0):
                        offences.append(f"{rel}:{node.lineno} ({_module_of(rel)}.{fn.name})")
    assert not offences, "\n".join(offences)
