#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Every relative link in the project's Markdown files resolves: the file
# exists and an anchor names one of its headings (GitHub's slugs). Links in
# code blocks and code spans are not links; http(s) and mailto are not
# checked (no network).
set -euo pipefail
SRC_DIR="${SRC_DIR:-$(cd "$(dirname "$0")/.." && pwd)}"
cd "$SRC_DIR"
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	mapfile -t files < <(git ls-files --cached --others --exclude-standard '*.md')
else
	mapfile -t files < <(find . -name '*.md' -not -path './build*' -printf '%P\n' | sort)
fi
exec python3 - "${files[@]}" <<'PY'
import os, re, sys

def prose(path):
    """The lines of a Markdown file outside fenced code blocks."""
    fence = None
    for n, line in enumerate(open(path, encoding="utf-8"), 1):
        m = re.match(r"^\s*(```+|~~~+)", line)
        if m:
            if fence is None:
                fence = m.group(1)[0] * 3
            elif m.group(1).startswith(fence):
                fence = None
            continue
        if fence is None:
            yield n, line.rstrip("\n")

def slug(text):
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)  # links: their text
    text = re.sub(r"[`*_~]|<[^>]*>", "", text)            # emphasis, code, html
    text = re.sub(r"[^\w\- ]", "", text.strip().lower())
    return text.replace(" ", "-")

anchors = {}
def anchors_of(path):
    if path not in anchors:
        seen, found = {}, set()
        for _, line in prose(path):
            m = re.match(r"^ {0,3}#{1,6}\s+(.*?)\s*#*\s*$", line)
            if not m:
                continue
            s = slug(m.group(1))
            k = seen.get(s, 0)
            seen[s] = k + 1
            found.add(s if k == 0 else f"{s}-{k}")
        anchors[path] = found
    return anchors[path]

bad = 0
checked = 0
for md in sys.argv[1:]:
    text = "\n".join(line for _, line in prose(md))
    text = re.sub(r"`[^`]*`", "", text)  # code spans
    for target in re.findall(r"\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)", text):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):
            continue
        path, _, anchor = target.partition("#")
        dest = os.path.normpath(os.path.join(os.path.dirname(md), path)) if path else md
        checked += 1
        if not os.path.exists(dest):
            print(f"{md}: ({target}): no such file {dest}")
            bad += 1
        elif anchor:
            if not dest.endswith(".md"):
                print(f"{md}: ({target}): an anchor into a file that is not Markdown")
                bad += 1
            elif anchor not in anchors_of(dest):
                print(f"{md}: ({target}): no heading in {dest} has the anchor #{anchor}")
                bad += 1
print(f"{checked} relative links in {len(sys.argv) - 1} files, {bad} broken")
sys.exit(1 if bad else 0)
PY
