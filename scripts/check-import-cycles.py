#!/usr/bin/env python3
"""Check the workspace for import cycles, between crates and between source files.

Rule: there is no cycle in "who imports whom", at two levels.

1. Crate level. The workspace members (the root Cargo.toml's [workspace] members)
   and their normal dependencies on each other ([dependencies] and
   [target.<cfg>.dependencies] entries that are `path = ...` or `.workspace = true`
   dependencies resolving to a sibling member) must form no cycle.
   [dev-dependencies] and [build-dependencies] are not looked at.

2. File level, per crate. The nodes are the crate's .rs files under src/ (test files
   excluded, see below), each mapped to its module path by the usual layout:
   src/lib.rs or src/main.rs -> crate, src/a.rs or src/a/mod.rs -> crate::a,
   src/a/b.rs -> crate::a::b (a non-test `#[path = "..."] mod x;` overrides this;
   src/bin/ and a main.rs beside a lib.rs are separate crates and are skipped).
   There is an edge A -> B when code in file A names an item that lives in file B:
     - `use` declarations, including `pub use`, grouped `use crate::{a::b, c::{d, e}}`,
       `{self, ..}`, `as` renames and globs `*`;
     - paths in code: `crate::x::y`, `self::x`, `super::x`, `super::super::x`;
     - relative paths through a child module (`use child::Y`, `child::f()`), or
       through a name that a `use` bound to a module (`use crate::worker;
       worker::lane::Lane`).
   A path resolves to the longest prefix of its absolute module path that is a file
   of the crate; the item lives in that file ("the file the path names": a re-export
   through foo/mod.rs is an edge to foo/mod.rs). A path into the file itself (or
   into one of its inline `mod x { .. }` blocks) is not an edge, and neither is a
   bare `mod child;` declaration: containment is not an import. External crates and
   std are not looked at. So a child that `use super::X` where X is defined in the
   parent's mod.rs while the parent uses the child IS a cycle: move X to its own file.

   Test code is left out: files named tests.rs or *_tests.rs or under a tests/
   directory, files whose module is declared `#[cfg(test)] mod x;`, files with
   `#![cfg(test)]`, and any item under `#[cfg(test)]` (or `cfg(all(test, ..))`) or
   `#[test]`, e.g. a `#[cfg(test)] mod tests { .. }` block: it is skipped by bracket
   matching over a tokenizer that knows comments (nested /* */, doc comments, so a
   `use` in a doc example is ignored), strings, raw strings r#".."#, byte/C strings,
   char literals versus lifetimes, and raw identifiers.

How: the files are tokenized and parsed by this script (Python 3.11, standard
library only; no cargo, no rustc). Strongly connected components are found with
Tarjan's algorithm; every component of more than one node is reported with one
concrete (shortest) cycle through it, each edge given as `file:line path -> file`.
Paths inside attributes count too, including a string that is a whole
`crate::`/`self::`/`super::` path (serde's `deserialize_with = "crate::x"`: the derive
calls it). Known approximations: paths in macro bodies are read as if written where
the macro is defined; other string literals are not looked into; `use` bindings are
per module, not per block; names brought in by a glob `use` are not followed.

Exit status: 0 when there is no cycle, 1 when there is one (with a report on
stdout), 2 on a usage error or an unreadable workspace.

Usage:
    scripts/check-import-cycles.py [--root DIR] [--crate NAME] [--graph] [--verbose]
    scripts/check-import-cycles.py --self-test
"""

from __future__ import annotations

import argparse
import glob
import os
import re
import sys
import tempfile
import time
import tomllib
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

# --------------------------------------------------------------------------------------
# Tokenizer
# --------------------------------------------------------------------------------------

# A token is (kind, value, line). Kinds: "id" (identifiers and keywords; `r#x` gives
# `x`, `$crate` gives `crate`), "str" (string literals, value = body), "chr" (char and
# byte literals), "num", "life" (lifetimes and labels), "p" (punctuation: `::` is one
# token, everything else one character).
Token = tuple[str, str, int]

_OPEN = {"(": ")", "[": "]", "{": "}"}
_CLOSE = {")", "]", "}"}


def _is_ident_start(c: str) -> bool:
    return c.isalpha() or c == "_" or ord(c) > 127


def _is_ident_char(c: str) -> bool:
    return c.isalnum() or c == "_" or ord(c) > 127


def tokenize(src: str) -> list[Token]:
    toks: list[Token] = []
    i, n, line = 0, len(src), 1

    def scan_quoted(j: int, quote: str) -> int:
        """Index just after the closing quote of a literal whose opening quote is at j."""
        k = j + 1
        while k < n:
            ch = src[k]
            if ch == "\\":
                k += 2
                continue
            if ch == quote:
                return k + 1
            k += 1
        return n

    while i < n:
        c = src[i]
        if c == "\n":
            line += 1
            i += 1
            continue
        if c.isspace():
            i += 1
            continue
        if c == "/" and i + 1 < n and src[i + 1] == "/":
            j = src.find("\n", i)
            i = n if j < 0 else j
            continue
        if c == "/" and i + 1 < n and src[i + 1] == "*":
            depth, j = 1, i + 2
            while j < n and depth:
                if src.startswith("/*", j):
                    depth += 1
                    j += 2
                elif src.startswith("*/", j):
                    depth -= 1
                    j += 2
                else:
                    if src[j] == "\n":
                        line += 1
                    j += 1
            i = j
            continue
        if _is_ident_start(c):
            j = i + 1
            while j < n and _is_ident_char(src[j]):
                j += 1
            word = src[i:j]
            nxt = src[j] if j < n else ""
            if word in ("r", "br", "cr") and nxt in ('"', "#"):
                k = j
                while k < n and src[k] == "#":
                    k += 1
                hashes = k - j
                if k < n and src[k] == '"':  # raw string
                    end_delim = '"' + "#" * hashes
                    e = src.find(end_delim, k + 1)
                    e = n if e < 0 else e
                    body = src[k + 1 : e]
                    toks.append(("str", body, line))
                    line += body.count("\n")
                    i = min(n, e + len(end_delim))
                    continue
                if word == "r" and hashes == 1 and k < n and _is_ident_start(src[k]):  # r#ident
                    m = k + 1
                    while m < n and _is_ident_char(src[m]):
                        m += 1
                    toks.append(("id", src[k:m], line))
                    i = m
                    continue
            if word in ("b", "c") and nxt == '"':  # byte / C string
                e = scan_quoted(j, '"')
                body = src[j + 1 : e - 1]
                toks.append(("str", body, line))
                line += body.count("\n")
                i = e
                continue
            if word == "b" and nxt == "'":  # byte literal
                e = scan_quoted(j, "'")
                toks.append(("chr", src[j:e], line))
                i = e
                continue
            toks.append(("id", word, line))
            i = j
            continue
        if c == '"':
            e = scan_quoted(i, '"')
            body = src[i + 1 : e - 1]
            toks.append(("str", body, line))
            line += body.count("\n")
            i = e
            continue
        if c == "'":
            if i + 1 < n and src[i + 1] == "\\":  # '\n', '\'', '\u{..}'
                e = src.find("'", i + 3)
                e = n if e < 0 else e + 1
                toks.append(("chr", src[i:e], line))
                i = e
                continue
            if i + 2 < n and src[i + 2] == "'" and src[i + 1] != "\n":  # 'x', '{', '"'
                toks.append(("chr", src[i : i + 3], line))
                i += 3
                continue
            j = i + 1  # lifetime or label: 'a, 'static, '_
            while j < n and _is_ident_char(src[j]):
                j += 1
            toks.append(("life", src[i:j], line))
            i = j
            continue
        if c.isdigit():
            j = i + 1
            while j < n:
                if _is_ident_char(src[j]):
                    j += 1
                elif src[j] == "." and j + 1 < n and src[j + 1].isdigit():
                    j += 1
                else:
                    break
            toks.append(("num", src[i:j], line))
            i = j
            continue
        if c == ":" and i + 1 < n and src[i + 1] == ":":
            toks.append(("p", "::", line))
            i += 2
            continue
        if c == "$" and src.startswith("crate", i + 1) and not (i + 6 < n and _is_ident_char(src[i + 6])):
            toks.append(("id", "crate", line))
            i += 6
            continue
        toks.append(("p", c, line))
        i += 1
    return toks


def match_brackets(toks: list[Token]) -> list[int]:
    """For each opening bracket token, the index of its closing one (-1 elsewhere or if unmatched)."""
    match = [-1] * len(toks)
    stack: list[int] = []
    for idx, (kind, val, _) in enumerate(toks):
        if kind != "p":
            continue
        if val in _OPEN:
            stack.append(idx)
        elif val in _CLOSE:
            # Tolerate stray closers: pop to the nearest opener of the same kind.
            for depth in range(len(stack) - 1, -1, -1):
                if _OPEN[toks[stack[depth]][1]] == val:
                    match[stack[depth]] = idx
                    del stack[depth:]
                    break
    return match


# --------------------------------------------------------------------------------------
# Parser: `use` trees, paths in code, `mod` declarations, test-only items
# --------------------------------------------------------------------------------------


@dataclass
class Ref:
    line: int
    segs: tuple[str, ...]  # as written, e.g. ("super", "lane", "Lane"); globs drop the `*`
    scope: tuple[str, ...]  # inline `mod` blocks around it, within its file
    kind: str  # "use", "pub use" or "code"
    text: str  # for the report, e.g. "use crate::cli::UsageError" or "crate::cli::now_ms"


@dataclass
class ModDecl:
    line: int
    scope: tuple[str, ...]
    name: str
    inline: bool
    test: bool
    path_attr: str | None


@dataclass
class Binding:
    scope: tuple[str, ...]
    name: str
    segs: tuple[str, ...]


@dataclass
class Parsed:
    refs: list[Ref] = field(default_factory=list)
    mods: list[ModDecl] = field(default_factory=list)
    bindings: dict[tuple[tuple[str, ...], str], Binding] = field(default_factory=dict)
    file_is_test: bool = False
    skipped: list[tuple[int, int, str]] = field(default_factory=list)  # (first line, last line, what)


_PATH_IN_STRING = re.compile(r"(crate|self|super)(::\w+)+")


def _split_top(toks: list[Token], match: list[int], lo: int, hi: int) -> list[tuple[int, int]]:
    """Split toks[lo:hi] on top-level commas."""
    parts, start, k = [], lo, lo
    while k < hi:
        kind, val, _ = toks[k]
        if kind == "p" and val in _OPEN and match[k] > 0:
            k = match[k] + 1
            continue
        if kind == "p" and val == ",":
            parts.append((start, k))
            start = k + 1
        k += 1
    if start < hi:
        parts.append((start, hi))
    return parts


def _pred_is_test(toks: list[Token], match: list[int], lo: int, hi: int) -> bool:
    """Is the cfg predicate toks[lo:hi] true only under cfg(test)?"""
    if hi - lo == 1 and toks[lo][:2] == ("id", "test"):
        return True
    if hi - lo >= 3 and toks[lo][0] == "id" and toks[lo + 1][1] == "(" and match[lo + 1] == hi - 1:
        args = _split_top(toks, match, lo + 2, hi - 1)
        if toks[lo][1] == "all":
            return any(_pred_is_test(toks, match, a, b) for a, b in args)
        if toks[lo][1] == "any":
            return bool(args) and all(_pred_is_test(toks, match, a, b) for a, b in args)
    return False


def _attr_is_test(toks: list[Token], match: list[int], lo: int, hi: int) -> bool:
    """Attribute body toks[lo:hi] (inside `#[ ]`): `test` or `cfg(<test-only predicate>)`."""
    if hi - lo == 1 and toks[lo][:2] == ("id", "test"):
        return True
    if hi - lo >= 3 and toks[lo][:2] == ("id", "cfg") and toks[lo + 1][1] == "(" and match[lo + 1] == hi - 1:
        return _pred_is_test(toks, match, lo + 2, hi - 1)
    return False


def _attr_path(toks: list[Token], lo: int, hi: int) -> str | None:
    if hi - lo == 3 and toks[lo][:2] == ("id", "path") and toks[lo + 1][1] == "=" and toks[lo + 2][0] == "str":
        return toks[lo + 2][1]
    return None


def _skip_vis(toks: list[Token], match: list[int], k: int) -> int:
    if k < len(toks) and toks[k][:2] == ("id", "pub"):
        k += 1
        if k < len(toks) and toks[k][:2] == ("p", "(") and match[k] > 0:
            k = match[k] + 1
    return k


def _skip_item(toks: list[Token], match: list[int], i: int) -> int:
    """Index just after the item (or statement, field, match arm) starting at i."""
    n = len(toks)
    k = _skip_vis(toks, match, i)
    first = toks[k][1] if k < n and toks[k][0] == "id" else ""
    second = toks[k + 1][1] if k + 1 < n else ""
    ends_at_semicolon = first in ("use", "static", "let", "type") or (
        first == "const" and second not in ("fn", "unsafe", "async", "extern")
    )
    j = i
    while j < n:
        kind, val, _ = toks[j]
        if kind == "p":
            if val in _OPEN:
                if val == "{" and not ends_at_semicolon and match[j] > 0:
                    return match[j] + 1
                j = match[j] + 1 if match[j] > 0 else j + 1
                continue
            if val in _CLOSE:
                return j  # the enclosing block ends: the item ran to it
            if val in (";", ","):
                return j + 1
        j += 1
    return n


def parse_rust(src: str) -> Parsed:
    toks = tokenize(src)
    match = match_brackets(toks)
    out = Parsed()
    n = len(toks)
    stack: list[tuple[str | None, int]] = []  # per open `{`: (inline module's name or None, index)

    def scope() -> tuple[str, ...]:
        return tuple(name for name, _ in stack if name is not None)

    def tok(k: int) -> Token:
        return toks[k] if k < n else ("eof", "", toks[-1][2] if toks else 0)

    def parse_use(i: int) -> int:
        kind = "use"
        if i > 0 and tok(i - 1)[:2] == ("id", "pub"):
            kind = "pub use"
        elif i > 0 and tok(i - 1)[:2] == ("p", ")"):
            opener = next((o for o in range(i - 2, -1, -1) if match[o] == i - 1), -1)
            if opener > 0 and tok(opener - 1)[:2] == ("id", "pub"):
                kind = "pub use"
        j = i + 1
        is_global = tok(j)[:2] == ("p", "::")
        if is_global:
            j += 1
        leaves: list[tuple[tuple[str, ...], str | None, int, bool]] = []

        def tree(j: int, prefix: tuple[str, ...]) -> int:
            kind_, val, ln = tok(j)
            if kind_ == "p" and val == "{" and match[j] > 0:
                close, k = match[j], j + 1
                while k < close:
                    k2 = tree(k, prefix)
                    if tok(k2)[:2] == ("p", ","):
                        k2 += 1
                    if k2 <= k:
                        break
                    k = k2
                return close + 1
            if kind_ == "p" and val == "*":
                leaves.append((prefix, None, ln, True))
                return j + 1
            if kind_ != "id":
                return j + 1
            segs, k, last_line = [val], j + 1, ln
            while tok(k)[:2] == ("p", "::") and tok(k + 1)[0] == "id":
                segs.append(tok(k + 1)[1])
                last_line = tok(k + 1)[2]
                k += 2
            if tok(k)[:2] == ("p", "::") and tok(k + 1)[:2] in (("p", "{"), ("p", "*")):
                return tree(k + 1, prefix + tuple(segs))
            full = prefix + tuple(segs)
            name: str | None = segs[-1]
            if full and full[-1] == "self" and len(full) > 1:
                full = full[:-1]
                name = full[-1]
            if tok(k)[:2] == ("id", "as") and tok(k + 1)[0] == "id":
                name = tok(k + 1)[1]
                k += 2
            if name in ("self", "super", "crate"):
                name = None
            leaves.append((full, name, last_line, False))
            return k

        j = tree(j, ())
        while j < n and tok(j)[:2] != ("p", ";"):  # to the end of the declaration
            if tok(j)[1] in _OPEN and match[j] > 0:
                j = match[j] + 1
            elif tok(j)[1] in _CLOSE:
                break
            else:
                j += 1
        if not is_global:
            sc = scope()
            for segs, name, ln, is_glob in leaves:
                if not segs:
                    continue
                text = f"{kind} {'::'.join(segs)}{'::*' if is_glob else ''}"
                out.refs.append(Ref(ln, segs, sc, kind, text))
                if name is not None and name != "_" and not is_glob:
                    out.bindings[(sc, name)] = Binding(sc, name, segs)
        return j + 1

    def code_path(i: int) -> int:
        """Records the path `a::b::c` starting at identifier i (unless mid-path); returns the index after it."""
        prev = tok(i - 1) if i > 0 else ("", "", 0)
        if prev[:2] in (("p", "::"), ("p", ".")):
            return i + 1
        segs, k = [toks[i][1]], i + 1
        while tok(k)[:2] == ("p", "::") and tok(k + 1)[0] == "id":
            segs.append(tok(k + 1)[1])
            k += 2
        out.refs.append(Ref(toks[i][2], tuple(segs), scope(), "code", "::".join(segs)))
        return k

    def attr_paths(lo: int, hi: int) -> None:
        """Paths inside an attribute: code paths, and strings that are whole paths such as
        serde's `deserialize_with = "crate::x"` (the derive writes a call to them)."""
        k = lo
        while k < hi:
            kind, val, ln = toks[k]
            if kind == "id" and tok(k + 1)[:2] == ("p", "::") and tok(k + 2)[0] == "id":
                k = code_path(k)
                continue
            if kind == "str" and _PATH_IN_STRING.fullmatch(val):
                out.refs.append(Ref(ln, tuple(val.split("::")), scope(), "attr", f'#[.. "{val}"]'))
            k += 1

    i = 0
    while i < n:
        kind, val, ln = toks[i]
        if kind == "p" and val == "#":
            inner = tok(i + 1)[:2] == ("p", "!")
            j = i + 2 if inner else i + 1
            if tok(j)[:2] != ("p", "[") or match[j] < 0:
                i += 1
                continue
            if inner:
                if _attr_is_test(toks, match, j + 1, match[j]):
                    if not stack:
                        out.file_is_test = True
                        return out
                    # `#![cfg(test)]` inside a block: skip the rest of that block.
                    end = match[stack[-1][1]]
                    end = n if end < 0 else end
                    out.skipped.append((ln, tok(end)[2], "#![cfg(test)] block"))
                    i = end  # the `}` is processed normally, popping the block
                    continue
                attr_paths(j + 1, match[j])
                i = match[j] + 1
                continue
            # Outer attributes: gather all, then look at the item they apply to.
            is_test, path_attr, ranges = False, None, []
            while tok(i)[:2] == ("p", "#") and tok(i + 1)[:2] == ("p", "[") and match[i + 1] > 0:
                lo, hi = i + 2, match[i + 1]
                is_test = is_test or _attr_is_test(toks, match, lo, hi)
                path_attr = _attr_path(toks, lo, hi) or path_attr
                ranges.append((lo, hi))
                i = hi + 1
            if not is_test:
                for lo, hi in ranges:
                    attr_paths(lo, hi)
            k = _skip_vis(toks, match, i)
            is_mod = tok(k)[:2] == ("id", "mod") and tok(k + 1)[0] == "id"
            if is_test:
                end = _skip_item(toks, match, i)
                if is_mod:
                    inline = tok(k + 2)[:2] == ("p", "{")
                    out.mods.append(ModDecl(tok(k)[2], scope(), tok(k + 1)[1], inline, True, path_attr))
                    what = f"#[cfg(test)] mod {tok(k + 1)[1]}" + (" { .. }" if inline else ";")
                else:
                    what = f"test-only item `{' '.join(t[1] for t in toks[k : min(k + 3, end)])} ..`"
                out.skipped.append((ln, tok(end - 1)[2], what))
                i = end
                continue
            if is_mod and path_attr is not None and tok(k + 2)[:2] == ("p", ";"):
                out.mods.append(ModDecl(tok(k)[2], scope(), tok(k + 1)[1], False, False, path_attr))
                i = k + 3
                continue
            continue
        if kind == "p":
            if val == "{":
                stack.append((None, i))
            elif val == "}" and stack:
                stack.pop()
            i += 1
            continue
        if kind == "id":
            if val == "use" and tok(i + 1)[:2] != ("p", "<"):  # not `+ use<'a>` (precise capturing)
                i = parse_use(i)
                continue
            if val == "mod" and tok(i + 1)[0] == "id" and tok(i + 2)[1] in (";", "{"):
                inline = tok(i + 2)[1] == "{"
                out.mods.append(ModDecl(ln, scope(), tok(i + 1)[1], inline, False, None))
                if inline:
                    stack.append((tok(i + 1)[1], i + 2))
                i += 3
                continue
            if val == "pub" and tok(i + 1)[:2] == ("p", "(") and tok(i + 2)[:2] == ("id", "in") and match[i + 1] > 0:
                i = match[i + 1] + 1  # `pub(in crate::a)` names a module but imports nothing
                continue
            if tok(i + 1)[:2] == ("p", "::") and tok(i + 2)[0] == "id":
                i = code_path(i)
                continue
        i += 1
    return out


# --------------------------------------------------------------------------------------
# Workspace model
# --------------------------------------------------------------------------------------


class CheckError(Exception):
    pass


@dataclass
class SrcFile:
    path: Path
    rel: str  # relative to the workspace root, for the report
    modpath: tuple[str, ...]
    parsed: Parsed


@dataclass
class Crate:
    name: str
    dir: Path
    manifest: dict
    manifest_text: str


@dataclass
class Edge:
    src: str
    dst: str
    occurrences: list[tuple[int, str]]  # (line in src, path text), sorted by line


def load_workspace(root: Path) -> list[Crate]:
    manifest_path = root / "Cargo.toml"
    try:
        text = manifest_path.read_text(encoding="utf-8")
        manifest = tomllib.loads(text)
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise CheckError(f"cannot read {manifest_path}: {e}") from e
    ws = manifest.get("workspace", {})
    member_dirs: list[Path] = []
    for pattern in ws.get("members", []):
        for d in sorted(glob.glob(str(root / pattern))) or []:
            if (Path(d) / "Cargo.toml").is_file():
                member_dirs.append(Path(d).resolve())
    if "package" in manifest and root.resolve() not in member_dirs:
        member_dirs.insert(0, root.resolve())
    excluded = {(root / e).resolve() for e in ws.get("exclude", [])}
    crates = []
    for d in member_dirs:
        if d in excluded:
            continue
        mpath = d / "Cargo.toml"
        try:
            mtext = mpath.read_text(encoding="utf-8")
            m = tomllib.loads(mtext)
        except (OSError, tomllib.TOMLDecodeError) as e:
            raise CheckError(f"cannot read {mpath}: {e}") from e
        name = m.get("package", {}).get("name")
        if name:
            crates.append(Crate(name, d, m, mtext))
    return crates


def _dep_line(text: str, key: str) -> int:
    """Line of `key` in a normal-dependencies section of a Cargo.toml text (0 if not found)."""
    section = ""
    key_re = re.compile(r'^\s*"?' + re.escape(key) + r'"?\s*[.=]')
    for no, raw in enumerate(text.splitlines(), 1):
        s = raw.strip()
        if s.startswith("["):
            section = s.strip("[] ")
            if section in (f"dependencies.{key}",) or (
                section.startswith("target.") and section.endswith(f".dependencies.{key}")
            ):
                return no
            continue
        if (section == "dependencies" or (section.startswith("target.") and section.endswith(".dependencies"))) and key_re.match(raw):
            return no
    return 0


def crate_edges(root: Path, crates: list[Crate]) -> list[Edge]:
    by_dir = {c.dir: c for c in crates}
    ws_deps = {}
    try:
        ws_deps = tomllib.loads((root / "Cargo.toml").read_text(encoding="utf-8")).get("workspace", {}).get("dependencies", {})
    except (OSError, tomllib.TOMLDecodeError):
        pass
    edges: dict[tuple[str, str], Edge] = {}
    for c in crates:
        tables = [c.manifest.get("dependencies", {})]
        for tgt in c.manifest.get("target", {}).values():
            if isinstance(tgt, dict):
                tables.append(tgt.get("dependencies", {}))
        for table in tables:
            for key, spec in table.items():
                path = None
                if isinstance(spec, dict) and spec.get("workspace") is True:
                    wspec = ws_deps.get(key)
                    if isinstance(wspec, dict) and "path" in wspec:
                        path = (root / wspec["path"]).resolve()
                elif isinstance(spec, dict) and "path" in spec:
                    path = (c.dir / spec["path"]).resolve()
                if path is None or path not in by_dir:
                    continue
                dst = by_dir[path].name
                line = _dep_line(c.manifest_text, key)
                rel = os.path.relpath(c.dir / "Cargo.toml", root)
                desc = f"{key}.workspace = true" if isinstance(spec, dict) and spec.get("workspace") else f"{key} = {{ path = ... }}"
                e = edges.setdefault((c.name, dst), Edge(c.name, dst, []))
                e.occurrences.append((line, f"{rel}:{line} {desc}"))
    return sorted(edges.values(), key=lambda e: (e.src, e.dst))


def _is_test_file(rel_to_src: Path) -> bool:
    stem = rel_to_src.stem
    return stem == "tests" or stem.endswith("_tests") or "tests" in rel_to_src.parts[:-1]


def load_crate_files(root: Path, crate: Crate, notes: list[str]) -> dict[str, SrcFile]:
    src = crate.dir / "src"
    files: dict[str, SrcFile] = {}
    if not src.is_dir():
        return files
    has_lib = (src / "lib.rs").is_file()
    for path in sorted(src.rglob("*.rs")):
        r = path.relative_to(src)
        rel = os.path.relpath(path, root)
        if r.parts[0] == "bin":
            notes.append(f"{rel}: skipped (src/bin/ holds separate binary crates)")
            continue
        if has_lib and r == Path("main.rs"):
            notes.append(f"{rel}: skipped (a separate binary crate beside lib.rs)")
            continue
        if _is_test_file(r):
            notes.append(f"{rel}: skipped (test file)")
            continue
        parts = list(r.with_suffix("").parts)
        if parts == ["lib"] or parts == ["main"]:
            parts = []
        elif parts[-1] == "mod":
            parts = parts[:-1]
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError as e:
            raise CheckError(f"cannot read {path}: {e}") from e
        parsed = parse_rust(text)
        if parsed.file_is_test:
            notes.append(f"{rel}: skipped (#![cfg(test)])")
            continue
        files[rel] = SrcFile(path, rel, ("crate", *parts), parsed)

    # `#[path]` module declarations: a non-test one moves the file to its declared module,
    # a test-only one (like `#[cfg(test)] mod tests;`) removes its file from the graph.
    test_mods: set[tuple[str, ...]] = set()
    by_path = {f.path.resolve(): f for f in files.values()}
    for f in list(files.values()):
        for d in f.parsed.mods:
            declared = f.modpath + d.scope + (d.name,)
            if d.test:
                test_mods.add(declared)
            if d.path_attr is None:
                continue
            if d.scope:
                notes.append(f"{f.rel}:{d.line}: #[path] inside an inline module is not followed")
                continue
            target = (f.path.parent / d.path_attr).resolve()
            tf = by_path.get(target)
            if tf is None:
                continue
            if d.test:
                notes.append(f"{tf.rel}: skipped (declared #[cfg(test)] at {f.rel}:{d.line})")
                files.pop(tf.rel, None)
            else:
                tf.modpath = declared
    for rel, f in list(files.items()):
        if any(f.modpath[: len(t)] == t for t in test_mods):
            notes.append(f"{rel}: skipped (its module is declared #[cfg(test)])")
            del files[rel]
    return files


def file_edges(files: dict[str, SrcFile]) -> list[Edge]:
    modmap: dict[tuple[str, ...], str] = {}
    for f in files.values():
        modmap.setdefault(f.modpath, f.rel)
    children: dict[tuple[str, ...], set[str]] = {}
    for mp in modmap:
        if len(mp) > 1:
            children.setdefault(mp[:-1], set()).add(mp[-1])

    def absolute(f: SrcFile, segs: tuple[str, ...], sc: tuple[str, ...], depth: int = 0) -> tuple[str, ...] | None:
        here = f.modpath + sc
        first = segs[0]
        if first == "crate":
            return ("crate",) + segs[1:]
        if first == "self":
            return here + segs[1:]
        if first == "super":
            cur, k = list(here), 0
            while k < len(segs) and segs[k] == "super":
                if len(cur) <= 1:
                    return None
                cur.pop()
                k += 1
            return tuple(cur) + segs[k:]
        local = set(children.get(here, ())) | {d.name for d in f.parsed.mods if d.scope == sc}
        if first in local:
            return here + segs
        b = f.parsed.bindings.get((sc, first))
        if b is not None and depth < 8 and b.segs != segs:
            base = absolute(f, b.segs, sc, depth + 1)
            if base is not None and base in modmap:  # only names bound to a module file
                return base + segs[1:]
        return None

    edges: dict[tuple[str, str], Edge] = {}
    for f in files.values():
        for ref in f.parsed.refs:
            abs_path = absolute(f, ref.segs, ref.scope)
            if abs_path is None:
                continue
            dst = None
            for cut in range(len(abs_path), 0, -1):
                dst = modmap.get(abs_path[:cut])
                if dst is not None:
                    break
            if dst is None or dst == f.rel:
                continue
            e = edges.setdefault((f.rel, dst), Edge(f.rel, dst, []))
            e.occurrences.append((ref.line, ref.text))
    for e in edges.values():
        e.occurrences.sort()
    return sorted(edges.values(), key=lambda e: (e.src, e.dst))


# --------------------------------------------------------------------------------------
# Graph algorithms
# --------------------------------------------------------------------------------------


def tarjan(nodes: list[str], succ: dict[str, list[str]]) -> list[list[str]]:
    """Strongly connected components (iterative Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    sccs: list[list[str]] = []
    counter = 0
    for v in nodes:
        if v in index:
            continue
        index[v] = low[v] = counter
        counter += 1
        stack.append(v)
        on_stack.add(v)
        work = [(v, iter(succ.get(v, [])))]
        while work:
            node, it = work[-1]
            pushed = False
            for w in it:
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(succ.get(w, []))))
                    pushed = True
                    break
                if w in on_stack:
                    low[node] = min(low[node], index[w])
            if pushed:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                comp = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    comp.append(w)
                    if w == node:
                        break
                sccs.append(sorted(comp))
    return sccs


def shortest_cycle(comp: list[str], succ: dict[str, list[str]]) -> list[str]:
    """A shortest cycle within a strongly connected component, as [a, b, ..., a]."""
    members = set(comp)
    best: list[str] | None = None
    for s in sorted(comp):
        prev: dict[str, str | None] = {s: None}
        queue, last = deque([s]), None
        while queue and last is None:
            u = queue.popleft()
            for w in succ.get(u, []):
                if w not in members:
                    continue
                if w == s:
                    last = u
                    break
                if w not in prev:
                    prev[w] = u
                    queue.append(w)
        if last is None:
            continue
        path, node = [], last
        while node is not None:
            path.append(node)
            node = prev[node]
        path.reverse()
        cycle = path + [s]
        if best is None or len(cycle) < len(best):
            best = cycle
    assert best is not None
    return best


@dataclass
class Cycle:
    component: list[str]
    path: list[Edge]
    inner_edges: list[Edge]


def find_cycles(nodes: list[str], edges: list[Edge]) -> list[Cycle]:
    succ: dict[str, list[str]] = {v: [] for v in nodes}
    by_pair = {}
    for e in edges:
        succ.setdefault(e.src, []).append(e.dst)
        succ.setdefault(e.dst, [])
        by_pair[(e.src, e.dst)] = e
    for v in succ:
        succ[v].sort()
    cycles = []
    for comp in tarjan(sorted(succ), succ):
        if len(comp) < 2:
            continue
        cyc = shortest_cycle(comp, succ)
        path = [by_pair[(a, b)] for a, b in zip(cyc, cyc[1:])]
        members = set(comp)
        inner = [e for e in edges if e.src in members and e.dst in members]
        cycles.append(Cycle(comp, path, inner))
    cycles.sort(key=lambda c: c.component)
    return cycles


# --------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------


def _edge_lines(e: Edge, all_occurrences: bool) -> list[str]:
    occ = e.occurrences if all_occurrences else e.occurrences[:1]
    lines = [f"{e.src}:{line}  {text}  -> {e.dst}" for line, text in occ]
    if not all_occurrences and len(e.occurrences) > 1:
        lines[-1] += f"   (+{len(e.occurrences) - 1} more)"
    return lines


def run_check(root: Path, only: str | None, graph: bool, verbose: bool, out=sys.stdout) -> int:
    def say(s: str = "") -> None:
        print(s, file=out)

    crates = load_workspace(root)
    if not crates:
        raise CheckError(f"no workspace crates found under {root}")
    selected = crates
    if only is not None:
        selected = [c for c in crates if c.name == only or os.path.relpath(c.dir, root) == only]
        if not selected:
            names = ", ".join(c.name for c in crates)
            raise CheckError(f"no crate named {only!r} in the workspace (crates: {names})")
    total = 0

    # 1. Crate level.
    cedges = crate_edges(root, crates)
    ccycles = find_cycles([c.name for c in crates], cedges)
    if only is not None:
        ccycles = [c for c in ccycles if selected[0].name in c.component]
    if graph:
        say(f"== crate graph ({len(crates)} crates, normal dependencies between members)")
        for e in cedges:
            say(f"  {e.src} -> {e.dst}   ({e.occurrences[0][1]})")
        say()
    if ccycles:
        say(f"crate level: {len(ccycles)} cycle(s) among the workspace crates' [dependencies]")
        for k, cyc in enumerate(ccycles, 1):
            say(f"  cycle {k}: crates {', '.join(cyc.component)}")
            for e in cyc.path:
                say(f"    {e.occurrences[0][1]}  -> {e.dst}")
        say()
    elif verbose:
        say(f"crate level: no cycle among {len(crates)} crates ({', '.join(c.name for c in crates)})")
        say()
    total += len(ccycles)

    # 2. File level, per crate.
    for crate in selected:
        notes: list[str] = []
        files = load_crate_files(root, crate, notes)
        edges = file_edges(files)
        cycles = find_cycles(sorted(files), edges)
        src_rel = os.path.relpath(crate.dir / "src", root)
        if verbose:
            say(f"== crate {crate.name} ({src_rel}/): {len(files)} files, {len(edges)} edges")
            for rel in sorted(files):
                f = files[rel]
                say(f"  {rel} = {'::'.join(f.modpath)}")
                for first, last, what in f.parsed.skipped:
                    say(f"      skipped lines {first}-{last}: {what}")
            for note in notes:
                say(f"  note: {note}")
        if graph:
            if not verbose:
                say(f"== crate {crate.name} ({src_rel}/): {len(files)} files, {len(edges)} edges")
            for e in edges:
                for ln in _edge_lines(e, verbose):
                    say(f"  {ln}")
            say()
        if not cycles:
            if verbose:
                say(f"crate {crate.name}: no cycle")
                say()
            continue
        say(f"crate {crate.name} ({src_rel}/): {len(cycles)} import cycle(s)")
        for k, cyc in enumerate(cycles, 1):
            say(f"  cycle {k} of {len(cycles)}: {len(cyc.component)} files import each other (one strongly connected component):")
            for rel in cyc.component:
                say(f"      {rel}  ({'::'.join(files[rel].modpath)})")
            say("    a shortest cycle through them (file:line, the path written there, the file it names):")
            for e in cyc.path:
                for ln in _edge_lines(e, False):
                    say(f"      {ln}")
            if verbose or len(cyc.component) > 2:
                what = "every reference" if verbose else "first reference of each; --verbose for all"
                say(f"    all {len(cyc.inner_edges)} edges between these files ({what}):")
                for e in cyc.inner_edges:
                    for ln in _edge_lines(e, verbose):
                        say(f"      {ln}")
        say()
        total += len(cycles)

    if total:
        say(
            f"check-import-cycles: FAILED, {total} import cycle(s) (strongly connected components). Break each by "
            "moving what one side uses into a file of its own (or into the side that uses it), so that imports "
            "go one way; a path through a re-export (`crate::X` where lib.rs or mod.rs `pub use`s X) names the "
            "re-exporting file, so naming the defining module instead may be enough."
        )
        return 1
    say("check-import-cycles: OK, no import cycles" + (f" in crate {only}" if only else ""))
    return 0


# --------------------------------------------------------------------------------------
# Self-test
# --------------------------------------------------------------------------------------

_SELF_TEST_TREE = {
    "Cargo.toml": """
[workspace]
members = [".", "b", "c"]
[workspace.dependencies]
b = { path = "b" }
c = { path = "c" }
[package]
name = "a"
version = "0.1.0"
[dependencies]
b.workspace = true
[dev-dependencies]
""",
    "b/Cargo.toml": """
[package]
name = "b"
version = "0.1.0"
[dependencies]
c = { path = "../c" }
[dev-dependencies]
a = { path = ".." }
""",
    "c/Cargo.toml": """
[package]
name = "c"
version = "0.1.0"
[target.'cfg(unix)'.dependencies]
b.workspace = true
""",
    # Crate a: a parent/child cycle, and a three-file cycle through a grouped use,
    # a fully-qualified path in code and `super::super`.
    "src/lib.rs": """\
mod m1;
mod m2;
mod m3;
mod p;
mod solo;
pub use p::Thing;
""",
    "src/p/mod.rs": """\
mod child;
use child::Helper;
pub struct Thing;
pub struct X;
""",
    "src/p/child.rs": """\
use super::X;
pub struct Helper(X);
#[derive(serde::Deserialize)]
pub struct Conf {
    #[serde(deserialize_with = "crate::p::parse_thing")]
    thing: u8,
}
""",
    "src/p/tests.rs": """\
use super::*;
use crate::m1::ONE;
""",
    "src/m1.rs": """\
use crate::{m2::{self, Two}, p::X as _X};
pub const ONE: u8 = 1;
""",
    "src/m2.rs": """\
pub struct Two;
pub fn f() -> u8 {
    crate::m3::inner::deep()
}
""",
    "src/m3/mod.rs": "pub mod inner;\n",
    "src/m3/inner.rs": """\
pub fn deep() -> u8 {
    super::super::m1::ONE
}
""",
    # Tokenizer traps: nothing here may produce an edge to m1, and the last line must
    # still be seen (an edge solo -> m2 at line 24).
    "src/solo.rs": """\
//! Docs: `use crate::m1::ONE;`
/// ```
/// use crate::m1::ONE;
/// ```
/* outer /* nested crate::m1::ONE } */ still a comment { */
const RAW: &str = r#"crate::m1::ONE "quoted" }"#;
const S: &str = "} crate::m1::ONE \\" {";
const C: char = '{';
const Q: char = '\\'';
const B: u8 = b'}';
fn lt<'a>(x: &'a str) -> impl Iterator<Item = char> + use<'a> { x.chars() }
pub(in crate::m1) struct Vis;
#[cfg(test)]
fn helper() -> u8 { crate::m1::ONE }
#[cfg(all(test, unix))]
use crate::m1::ONE;
#[cfg(not(test))]
const N: u8 = 0;
#[doc = "crate::m1::ONE is prose here"]
struct D;
#[cfg(test)]
#[serde(with = "crate::m1")]
struct T;
use crate::m2::Two;
""",
    # Crate b: no cycle. The child uses its parent only inside #[cfg(test)] mod tests,
    # whose braces-in-strings must not end the skipped block early.
    "b/src/lib.rs": """\
mod x;
pub struct Root;
pub use x::Y;
""",
    "b/src/x.rs": """\
pub struct Y;
#[cfg(test)]
mod tests {
    use super::super::Root;
    use crate::Root as R2;
    #[test]
    fn t() {
        let _ = "}";
        let _ = '}';
        let _ = crate::Root;
    }
}
pub fn after() {}
""",
    "c/src/lib.rs": "pub fn c() {}\n",
}


def self_test() -> int:
    started = time.monotonic()
    # Tokenizer.
    toks = tokenize("let c = '{'; let s = r##\"a \"# }\"##; fn f<'a>(x: &'a u8) {} /* /* */ } */ b'\"' r#type")
    braces = [t for t in toks if t[:2] in (("p", "{"), ("p", "}"))]
    assert len(braces) == 2, braces
    assert ("life", "'a", 1) in toks and ("id", "type", 1) in toks, toks
    assert [t[1] for t in toks if t[0] == "str"] == ['a "# }'], toks
    parsed = parse_rust("use crate::{a::b, c::{self, d as e, f::*}};\nfn g() { super::super::h::i(); }\n")
    assert [r.text for r in parsed.refs] == [
        "use crate::a::b",
        "use crate::c",
        "use crate::c::d",
        "use crate::c::f::*",
        "super::super::h::i",
    ], [r.text for r in parsed.refs]
    assert parsed.bindings[((), "e")].segs == ("crate", "c", "d")

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for rel, text in _SELF_TEST_TREE.items():
            p = root / rel
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(text, encoding="utf-8")
        crates = {c.name: c for c in load_workspace(root)}
        assert set(crates) == {"a", "b", "c"}, crates

        # Crate level: a -> b -> c -> b (target dependency) is a cycle; b's dev-dependency on a is not.
        cedges = crate_edges(root, list(crates.values()))
        assert {(e.src, e.dst) for e in cedges} == {("a", "b"), ("b", "c"), ("c", "b")}, cedges
        ccycles = find_cycles(list(crates), cedges)
        assert [c.component for c in ccycles] == [["b", "c"]], ccycles

        # Crate a.
        notes: list[str] = []
        files = load_crate_files(root, crates["a"], notes)
        assert "src/p/tests.rs" not in files and any("src/p/tests.rs" in n for n in notes), notes
        assert files["src/m3/inner.rs"].modpath == ("crate", "m3", "inner")
        edges = {(e.src, e.dst): e for e in file_edges(files)}
        assert ("src/solo.rs", "src/m1.rs") not in edges, edges[("src/solo.rs", "src/m1.rs")]
        assert edges[("src/solo.rs", "src/m2.rs")].occurrences == [(24, "use crate::m2::Two")]
        assert ("src/lib.rs", "src/m1.rs") not in edges  # `mod m1;` is containment, not an import
        assert edges[("src/lib.rs", "src/p/mod.rs")].occurrences == [(6, "pub use p::Thing")]
        cycles = find_cycles(sorted(files), list(edges.values()))
        comps = [c.component for c in cycles]
        assert comps == [
            ["src/m1.rs", "src/m2.rs", "src/m3/inner.rs"],
            ["src/p/child.rs", "src/p/mod.rs"],
        ], comps
        got = [(e.src, e.occurrences[0], e.dst) for e in cycles[0].path]
        assert got == [
            ("src/m1.rs", (1, "use crate::m2"), "src/m2.rs"),
            ("src/m2.rs", (3, "crate::m3::inner::deep"), "src/m3/inner.rs"),
            ("src/m3/inner.rs", (2, "super::super::m1::ONE"), "src/m1.rs"),
        ], got
        assert edges[("src/p/child.rs", "src/p/mod.rs")].occurrences == [
            (1, "use super::X"),
            (5, '#[.. "crate::p::parse_thing"]'),
        ], edges[("src/p/child.rs", "src/p/mod.rs")]
        got = [(e.src, e.occurrences[0], e.dst) for e in cycles[1].path]
        assert got == [
            ("src/p/child.rs", (1, "use super::X"), "src/p/mod.rs"),
            ("src/p/mod.rs", (2, "use child::Helper"), "src/p/child.rs"),
        ], got

        # Crate b: the child's uses of its parent are all inside #[cfg(test)] mod tests.
        bfiles = load_crate_files(root, crates["b"], [])
        bedges = file_edges(bfiles)
        assert [(e.src, e.dst) for e in bedges] == [("b/src/lib.rs", "b/src/x.rs")], bedges
        assert find_cycles(sorted(bfiles), bedges) == []
        assert bfiles["b/src/x.rs"].parsed.skipped[0][:2] == (2, 12), bfiles["b/src/x.rs"].parsed.skipped

        # The whole run: exit 1 with the report; once the crate cycle is gone, exit 0 for
        # crate b (clean) and still 1 for crate a (its file cycles).
        import io

        buf = io.StringIO()
        assert run_check(root, None, graph=True, verbose=True, out=buf) == 1, buf.getvalue()
        report = buf.getvalue()
        assert "src/m3/inner.rs:2  super::super::m1::ONE  -> src/m1.rs" in report, report
        (root / "c/Cargo.toml").write_text('[package]\nname = "c"\nversion = "0.1.0"\n', encoding="utf-8")
        assert run_check(root, "b", graph=False, verbose=False, out=io.StringIO()) == 0
        assert run_check(root, "a", graph=False, verbose=False, out=io.StringIO()) == 1

    elapsed = time.monotonic() - started
    print(f"check-import-cycles self-test: OK ({elapsed * 1000:.0f} ms)")
    return 0


# --------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description="Fail (exit 1) on import cycles between workspace crates or between a crate's source files.",
    )
    ap.add_argument("--root", type=Path, default=Path(__file__).resolve().parent.parent, help="workspace root (default: the parent of scripts/)")
    ap.add_argument("--crate", dest="only", metavar="NAME", help="check one crate (package name or directory)")
    ap.add_argument("--graph", action="store_true", help="print the edges (crate graph and file graphs)")
    ap.add_argument("--verbose", "-v", action="store_true", help="print files, module paths, skipped test code, every edge of each cycle")
    ap.add_argument("--self-test", action="store_true", help="run the built-in self-test on a temporary tree")
    args = ap.parse_args(argv)
    if args.self_test:
        return self_test()
    try:
        return run_check(args.root, args.only, args.graph, args.verbose)
    except CheckError as e:
        print(f"check-import-cycles: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
