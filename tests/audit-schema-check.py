#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Check JSON lines against docs/audit-schema.json.

    audit-schema-check.py SCHEMA FILE...   ("-" reads stdin)
    audit-schema-check.py SCHEMA --examples DOC.md

With --examples, the lines are the audit lines quoted in DOC.md's code
blocks (those that start with {"time"), and DOC.md must quote one of each
event its table of fields names and one of each channel the schema allows.

Python's standard library has no JSON Schema validator; this one knows the
keywords the schema uses (type, required, properties, enum, pattern,
minLength, minimum) with their JSON Schema meaning, and refuses a schema
that uses any other, so it cannot pass a line by ignoring a rule. One rule
across fields is checked besides: peer_uid and peer_user, where a line has
them, are its actor's. Prints
each bad line with why; exits 1 if any, 0 if all are good.
"""
import json
import re
import sys

KNOWN = {"$schema", "$id", "title", "description", "type", "required",
         "properties", "enum", "pattern", "minLength", "minimum"}
TYPES = {
    "object": lambda v: isinstance(v, dict),
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
    "array": lambda v: isinstance(v, list),
}


def check_schema(s, where="schema"):
    unknown = set(s) - KNOWN
    if unknown:
        raise SystemExit(f"{where}: keywords this checker does not know: {sorted(unknown)}")
    for name, sub in s.get("properties", {}).items():
        check_schema(sub, f"{where}.properties.{name}")


def errors(v, s, path="$"):
    t = s.get("type")
    if t is not None:
        types = t if isinstance(t, list) else [t]
        if not any(TYPES[x](v) for x in types):
            yield f"{path}: {json.dumps(v)} is not of type {t}"
            return
    if "enum" in s and v not in s["enum"]:
        yield f"{path}: {json.dumps(v)} is not one of {s['enum']}"
    if isinstance(v, str):
        if "pattern" in s and not re.search(s["pattern"], v):
            yield f"{path}: {json.dumps(v)} does not match {s['pattern']}"
        if len(v) < s.get("minLength", 0):
            yield f"{path}: {json.dumps(v)} is shorter than {s['minLength']}"
    if TYPES["number"](v) and "minimum" in s and v < s["minimum"]:
        yield f"{path}: {v} is less than {s['minimum']}"
    if isinstance(v, dict):
        for k in s.get("required", []):
            if k not in v:
                yield f"{path}: required field '{k}' is missing"
        for k, sub in s.get("properties", {}).items():
            if k in v:
                yield from errors(v[k], sub, f"{path}.{k}")


def same_person(v):
    """docs/operations.md: lines of a person keep peer_uid and peer_user,
    the same as actor (a rule across fields, which the schema cannot say)."""
    actor = v.get("actor") if isinstance(v, dict) else None
    if not isinstance(actor, dict) or ("peer_uid" not in v and "peer_user" not in v):
        return
    if v.get("peer_uid") != actor.get("uid") or v.get("peer_user") != actor.get("user"):
        yield (f"$: peer_uid/peer_user {json.dumps(v.get('peer_uid'))}/{json.dumps(v.get('peer_user'))}"
               f" are not the actor's {json.dumps(actor.get('uid'))}/{json.dumps(actor.get('user'))}")


def doc_examples(path):
    """(line number, text) of the audit lines quoted in path's code blocks,
    and the events its table of fields names."""
    examples, events, fenced = [], [], False
    with open(path) as f:
        for n, line in enumerate(f, 1):
            if line.startswith("```"):
                fenced = not fenced
            elif fenced and line.startswith('{"time"'):
                examples.append((n, line))
            elif line.startswith("| `event` |"):
                events = re.findall(r"`([a-z_-]+)`", line.split("|")[2])
    return examples, events


def check_coverage(path, schema, examples, events):
    """The example lines cover every event and channel; errors as text."""
    seen_events, seen_channels = set(), set()
    for _, line in examples:
        try:
            v = json.loads(line)
        except ValueError:
            continue
        seen_events.add(v.get("event"))
        seen_channels.add(v.get("channel"))
    errs = []
    if not events:
        errs.append(f"{path}: no table row names the events")
    for e in events:
        if e not in seen_events:
            errs.append(f"{path}: no example line of event '{e}'")
    for c in schema["properties"]["channel"]["enum"]:
        if c not in seen_channels:
            errs.append(f"{path}: no example line of channel '{c}'")
    return errs


def main():
    if len(sys.argv) < 3:
        raise SystemExit(__doc__)
    with open(sys.argv[1]) as f:
        schema = json.load(f)
    check_schema(schema)
    bad = lines = 0
    if sys.argv[2] == "--examples":
        if len(sys.argv) != 4:
            raise SystemExit(__doc__)
        examples, events = doc_examples(sys.argv[3])
        sources = [(sys.argv[3], examples)]
        for e in check_coverage(sys.argv[3], schema, examples, events):
            print(e)
            bad += 1
    else:
        sources = [(name, None) for name in sys.argv[2:]]
    for name, given in sources:
        if given is None:
            f = sys.stdin if name == "-" else open(name, errors="replace")
            given = enumerate(f, 1)
        for n, line in given:
            if not line.strip():
                continue
            lines += 1
            try:
                v = json.loads(line)
            except ValueError as e:
                errs = [f"not JSON: {e}"]
            else:
                errs = list(errors(v, schema)) + list(same_person(v))
            if errs:
                bad += 1
                print(f"{name}:{n}: {'; '.join(errs)}\n    {line.rstrip()[:400]}")
    print(f"# {lines} line(s) checked, {bad} bad", file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
