#!/usr/bin/env python3
"""Checks the documentation against the repository and the code, so that neither can drift.

    check-docs.py links             every relative link, image and {{#include}} in the book's
                                    sources, README.md, ARCHITECTURE.md and CHANGELOG.md resolves
                                    inside the repository, with its #anchor; none points to
                                    ../shared (not in the repository)
    check-docs.py config BINARY     the configuration chapter's table names exactly the
                                    environment variables `BINARY --help` lists, with the same
                                    defaults

Why the extra rules for the book: a chapter's link works in the built book only if its target is
inside docs/src (mdBook copies nothing else), and files the book {{#include}}s from the root
(ARCHITECTURE.md, CHANGELOG.md) are rendered from docs/src, where their own relative links would
point elsewhere; so those files link to nothing relative at all.
"""

import os
import re
import subprocess
import sys

ROOT = os.path.realpath(os.path.join(os.path.dirname(__file__), ".."))
BOOK_SRC = os.path.join(ROOT, "docs", "src")
ROOT_DOCS = ["README.md", "ARCHITECTURE.md", "CHANGELOG.md"]
# Included into the book from outside docs/src: no relative links (see the module doc).
INCLUDED_FROM_ROOT = {"ARCHITECTURE.md", "CHANGELOG.md"}
CONFIG_CHAPTER = os.path.join(BOOK_SRC, "configuration.md")

LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REF_DEF = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$")
HTML_ATTR = re.compile(r"""\b(?:href|src)\s*=\s*["']([^"']+)["']""")
INCLUDE = re.compile(r"\{\{#(?:include|rustdoc_include)\s+([^}\s]+)\s*\}\}")
INLINE_CODE = re.compile(r"(`+)(?:.+?)\1")


def prose_lines(text):
    """(line number, line) outside fenced code blocks, with inline code blanked out.
    {{#include}} lines are kept even inside fences (that is where the SDL is included)."""
    fence = None
    for number, line in enumerate(text.split("\n"), 1):
        stripped = line.lstrip()
        marker = re.match(r"(`{3,}|~{3,})", stripped)
        if marker:
            if fence is None:
                fence = marker.group(1)
                continue
            if stripped.startswith(fence):
                fence = None
                continue
        if fence is not None:
            if INCLUDE.search(line):
                yield number, line
            continue
        yield number, INLINE_CODE.sub(lambda m: " " * len(m.group(0)), line)


def heading_ids(path, seen_files=()):
    """The anchors mdBook (and, near enough, GitHub) gives the headings of a Markdown file, with
    {{#include}}d files expanded."""
    if path in seen_files:
        return []
    ids = []
    text = open(path, encoding="utf-8").read()
    fence = None
    for line in text.split("\n"):
        stripped = line.lstrip()
        include = INCLUDE.search(line)
        if include:
            target = os.path.normpath(os.path.join(os.path.dirname(path), include.group(1).split(":")[0]))
            if target.endswith(".md") and os.path.isfile(target):
                ids.extend(heading_ids(target, seen_files + (path,)))
            continue
        marker = re.match(r"(`{3,}|~{3,})", stripped)
        if marker:
            if fence is None:
                fence = marker.group(1)
            elif stripped.startswith(fence):
                fence = None
            continue
        if fence is None:
            heading = re.match(r"#{1,6}\s+(.*?)\s*#*\s*$", line)
            if heading:
                ids.append(normalize_id(heading.group(1)))
    # Repeated headings get -1, -2, ... as mdBook and GitHub number them.
    counted, out = {}, []
    for anchor in ids:
        n = counted.get(anchor, 0)
        out.append(anchor if n == 0 else f"{anchor}-{n}")
        counted[anchor] = n + 1
    return out


def normalize_id(heading):
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link's text only
    text = re.sub(r"<[^>]+>", "", text)
    text = text.replace("`", "").replace("*", "")
    out = []
    for ch in text:
        if ch.isalnum() or ch in "_-":
            out.append(ch.lower())
        elif ch.isspace():
            out.append("-")
    return "".join(out)


def summary_chapters():
    summary = os.path.join(BOOK_SRC, "SUMMARY.md")
    text = open(summary, encoding="utf-8").read() if os.path.isfile(summary) else ""
    return {os.path.realpath(os.path.join(BOOK_SRC, m.group(1).split("#")[0]))
            for _, line in prose_lines(text) for m in LINK.finditer(line)}


def documents():
    for name in ROOT_DOCS:
        path = os.path.join(ROOT, name)
        if os.path.isfile(path):
            yield path
    for folder, _, files in os.walk(BOOK_SRC):
        for name in sorted(files):
            if name.endswith(".md"):
                yield os.path.join(folder, name)


def check_links():
    problems, checked, external = [], 0, 0
    anchors_of = {}
    for path in documents():
        rel = os.path.relpath(path, ROOT)
        in_book = path.startswith(BOOK_SRC + os.sep)
        text = open(path, encoding="utf-8").read()
        for number, line in prose_lines(text):
            targets = [(m.group(1), "link") for m in LINK.finditer(line)]
            targets += [(m.group(1), "link") for m in HTML_ATTR.finditer(line)]
            ref = REF_DEF.match(line)
            if ref:
                targets.append((ref.group(1), "link"))
            targets += [(m.group(1).split(":")[0], "include") for m in INCLUDE.finditer(line)]
            for target, kind in targets:
                where = f"{rel}:{number}: {target}"
                if "../shared" in target or target.startswith("shared/"):
                    problems.append(f"{where}: points to shared/, which is not in the repository")
                    continue
                if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # https:, mailto:, ...
                    external += 1
                    continue
                checked += 1
                if os.path.basename(path) in INCLUDED_FROM_ROOT and kind == "link":
                    problems.append(f"{where}: a relative link in a file the book includes"
                                    " (it would resolve from docs/src there); name the file instead")
                    continue
                file_part, _, anchor = target.partition("#")
                resolved = os.path.realpath(os.path.join(os.path.dirname(path), file_part)) if file_part else path
                if not (resolved == ROOT or resolved.startswith(ROOT + os.sep)):
                    problems.append(f"{where}: resolves outside the repository")
                    continue
                if not os.path.exists(resolved):
                    problems.append(f"{where}: no such file")
                    continue
                if in_book and kind == "link" and not resolved.startswith(BOOK_SRC + os.sep):
                    problems.append(f"{where}: outside docs/src, so missing from the built book")
                    continue
                if in_book and kind == "link" and resolved.endswith(".md") and resolved != path \
                        and resolved not in summary_chapters():
                    problems.append(f"{where}: a chapter SUMMARY.md does not list, so never rendered")
                    continue
                if anchor:
                    if not resolved.endswith(".md"):
                        problems.append(f"{where}: an anchor into a file that is not Markdown")
                        continue
                    if resolved not in anchors_of:
                        anchors_of[resolved] = set(heading_ids(resolved))
                    if anchor not in anchors_of[resolved]:
                        problems.append(f"{where}: no heading with anchor #{anchor}")
    for problem in problems:
        print(f"FAIL: {problem}", file=sys.stderr)
    print(f"docs links: {checked} relative links and includes checked, {external} external left alone,"
          f" {len(problems)} problems")
    return not problems


def check_config(binary):
    help_text = subprocess.run([binary, "--help"], check=True, capture_output=True, text=True,
                               env={k: v for k, v in os.environ.items() if k == "PATH"}).stdout
    # One option per block; [env: NAME=value] shows the current value, hence the clean environment.
    options = {}
    for block in re.split(r"\n(?=\s*(?:-\w, )?--[a-z])", help_text):
        env = re.search(r"\[env: ([A-Z0-9_]+)", block)
        if env:
            default = re.search(r"\[default: ([^\]]*)\]", block)
            options[env.group(1)] = default.group(1) if default else None
    if not options:
        print(f"FAIL: `{binary} --help` lists no environment variables", file=sys.stderr)
        return False

    documented = {}
    for line in open(CONFIG_CHAPTER, encoding="utf-8"):
        row = re.match(r"^\|\s*`([A-Z][A-Z0-9_]+)`\s*\|([^|]*)\|", line)
        if row:
            documented[row.group(1)] = row.group(2).strip()

    problems = []
    for name in sorted(set(options) - set(documented)):
        problems.append(f"{name} is a setting (`plans-api --help`) but has no row in docs/src/configuration.md")
    for name in sorted(set(documented) - set(options)):
        problems.append(f"docs/src/configuration.md documents {name}, which `plans-api --help` does not list")
    for name in sorted(set(options) & set(documented)):
        default, cell = options[name], documented[name]
        if default is None:
            continue  # computed or none: the chapter says what happens
        if default.strip('"') == "":
            ok = "empty" in cell
        else:
            ok = f"`{default}`" in cell
        if not ok:
            problems.append(f"{name}: default is {default} in the code, the chapter says {cell!r}")
    for problem in problems:
        print(f"FAIL: {problem}", file=sys.stderr)
    print(f"configuration chapter: {len(options)} variables in `--help`, {len(documented)} documented,"
          f" {len(problems)} problems")
    return not problems


def main():
    if len(sys.argv) >= 2 and sys.argv[1] == "links":
        ok = check_links()
    elif len(sys.argv) == 3 and sys.argv[1] == "config":
        ok = check_config(sys.argv[2])
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
