#!/usr/bin/env python3
"""The house rules for src/, checked in CI:

1. No two sibling modules import each other (a module and its own child are one room: the child
   may use its parent's items). A path is followed through `pub use` re-exports to the module
   that defines the item, so `use super::PlanKey` counts as an import of `plans::key`.
2. No file has over 400 lines, unless its module doc says why ("Over 400 lines because ...").

Usage: python3 .ci/check-layout.py [src]   (prints the import cycles and long files; exit 1 on any)
"""
import os
import re
import sys

MAX_LINES = 400
root = sys.argv[1] if len(sys.argv) > 1 else "src"

modules = {}  # module path (tuple) -> file
for directory, _, files in os.walk(root):
    for name in files:
        if not name.endswith(".rs"):
            continue
        path = os.path.join(directory, name)
        parts = os.path.relpath(path, root)[:-3].split(os.sep)
        if parts[0] == "bin" or parts == ["main"]:
            continue
        if parts[-1] in ("lib", "mod"):
            parts = parts[:-1]
        modules[tuple(parts)] = path


def code_of(path):
    """The file without comments and without its inline modules' bodies (tests, defaults)."""
    text = re.sub(r"//[^\n]*", "", open(path).read())
    out, i = [], 0
    for match in re.finditer(r"\bmod\s+\w+\s*\{", text):
        if match.start() < i:
            continue
        depth, j = 1, match.end()
        while j < len(text) and depth:
            depth += {"{": 1, "}": -1}.get(text[j], 0)
            j += 1
        out.append(text[i:match.start()])
        i = j
    out.append(text[i:])
    return "".join(out)


def expand(tree):
    """`a::{b, c::{d, e}}` -> [`a::b`, `a::c::d`, `a::c::e`]."""
    tree = re.sub(r"\s+", "", tree)
    match = re.match(r"^(.*?)::\{(.*)\}$", tree)
    if not match:
        return [re.sub(r"as\w+$", "", tree) if "as" in tree.split("::")[-1][1:] else tree]
    prefix, inner, items, depth, current = match.group(1), match.group(2), [], 0, ""
    for char in inner:
        depth += char == "{"
        depth -= char == "}"
        if char == "," and depth == 0:
            items.append(current)
            current = ""
        else:
            current += char
    items.append(current)
    return [
        prefix if item == "self" else prefix + "::" + sub
        for item in items if item
        for sub in expand(item)
        if sub != "self" or item == "self"
    ]


def absolute(module, segments, text):
    """The path `segments`, written in `module`, from the crate root; None for other crates."""
    if segments[0] == "crate":
        return segments[1:]
    if segments[0] in ("super", "self"):
        current = list(module)
        while segments and segments[0] in ("super", "self"):
            if segments[0] == "super":
                current = current[:-1]
            segments = segments[1:]
        return current + segments
    if re.fullmatch(r"\w+", segments[0]) and re.search(r"\bmod\s+" + segments[0] + r"\s*;", text):
        return list(module) + segments
    return None


codes = {module: code_of(path) for module, path in modules.items()}
reexports = {}  # (module, name) -> absolute path of what it re-exports
for module, code in codes.items():
    for tree in re.findall(r"\bpub(?:\([^)]*\))?\s+use\s+([^;]+);", code):
        for path in expand(tree):
            segments = [s for s in path.split("::") if s]
            if segments and segments[-1] != "*":
                target = absolute(module, segments, code)
                if target:
                    reexports[(module, segments[-1])] = target


def resolve(path, depth=0):
    """The module that defines what `path` names."""
    for n in range(len(path), -1, -1):
        module = tuple(path[:n])
        if module in modules:
            if n < len(path) and depth < 10 and (module, path[n]) in reexports:
                return resolve(reexports[(module, path[n])], depth + 1)
            return module
    return None


imports = {}
for module, code in codes.items():
    paths = [p for tree in re.findall(r"\buse\s+([^;]+);", code) for p in expand(tree)]
    paths += re.findall(r"\b(?:crate|super|self)(?:::\w+)+", code)
    for path in paths:
        segments = [s for s in path.split("::") if s]
        if not segments or segments[-1] == "*":
            continue
        target = absolute(module, segments, code)
        target = resolve(target) if target is not None else None
        if target is not None and target != module:
            imports.setdefault(module, set()).add(target)

failures = []
for a, targets in sorted(imports.items()):
    for b in sorted(targets):
        related = a[: len(b)] == b or b[: len(a)] == a  # parent and child
        if a < b and not related and a in imports.get(b, ()):
            failures.append(f"import cycle: {modules[a]} <-> {modules[b]}")
for module, path in sorted(modules.items()):
    text = open(path).read()
    lines = text.count("\n")
    doc = "\n".join(l for l in text.splitlines() if l.startswith("//!"))
    if lines > MAX_LINES and not re.search(r"over\s+400\s+lines\s+because", doc, re.I):
        failures.append(f"{path}: {lines} lines (over {MAX_LINES}, and its module doc says not why)")
for failure in failures:
    print(failure)
print(f"layout: {len(modules)} modules, {len(failures)} problem(s)")
sys.exit(1 if failures else 0)
