"""Reads Go source (with "@package <proto package>" separator lines) on stdin
and writes the field table described in generate.sh on stdout: for every
struct field with a protobuf tag, how encoding/json marshals it."""
import re
import sys

TAG = re.compile(r'(?:^|\s)(json|protobuf):"([^"]*)"')
STRUCT = re.compile(r'^type\s+(\w+)\s+struct\s*\{')
SLICE = re.compile(r'^type\s+(\w+)\s+\[\]\S+')

pkg, struct, out, seen = None, None, [], set()
for line in sys.stdin:
    line = line.rstrip("\n")
    if line.startswith("@package "):
        pkg, struct = line.split()[1], None
        continue
    m = SLICE.match(line)
    if m and pkg:
        out.append(f"{pkg}.{m.group(1)} ! array")
        continue
    m = STRUCT.match(line)
    if m:
        struct = m.group(1)
        continue
    if line.startswith("}"):
        struct = None
        continue
    if not struct or "`" not in line or line.lstrip().startswith("//"):
        continue
    decl, tag = line.split("`")[0].split(), line.split("`")[1]
    tags = dict(TAG.findall(tag))
    if "protobuf" not in tags or not decl:
        continue
    name = [p[5:] for p in tags["protobuf"].split(",") if p.startswith("name=")]
    gotype = decl[-1]
    if not name:  # go-to-protobuf names an unnamed field after its type
        base = gotype.lstrip("*").split(".")[-1]
        name = [base[:1].lower() + base[1:]]
    jparts = tags.get("json", "").split(",")
    jname, opts = jparts[0], jparts[1:]
    flags = ["skip"] if jname == "-" else []
    if len(decl) == 1 and not jname:  # an embedded struct: fields promoted
        flags.append("inline")
    if gotype.startswith("*"):
        flags.append("ptr")
    flags += [o for o in ("omitempty", "omitzero") if o in opts]
    key = (pkg, struct, name[0])
    if key in seen:
        continue
    seen.add(key)
    out.append(f"{pkg}.{struct} {name[0]} {jname or '-'} {','.join(flags) or '-'}")

print("\n".join(sorted(set(out))))
