#!/usr/bin/env python3
"""Ports Worker test files written against the old harness (test/worker/support/*, api/waitFor in
test/harness/webhooks.ts, TERAPI/auth in test/harness/connections.ts) to the merged one:

    python3 test/harness/port-old-harness.py test/worker/*.test.ts

Rewrites the imports to test/harness/{api,wait,connections,webhooks,management,sync,actions,crash},
renames call -> api, BASE -> TERAPI, AUTH -> auth, and the results' `.json` -> `.body` where the file
used management's call or the sync helpers' api/records (typed `api<ApiJson>` there). Files that
already use the new harness are left as they are. Run `npx tsc --noEmit` after it: a `.json` the
rewrite could not see (e.g. `toEqual({ status, json })`) shows up there. Delete this script once
every branch is merged.
"""
import re, sys, glob
API = {"TERAPI","SECRET","auth","api","Json","ApiResult"}
RENAME = {"BASE":"TERAPI","AUTH":"auth","call":"api"}
imp_re = re.compile(r'import\s*\{([^}]*)\}\s*from\s*"(\.\./harness|\./support)/(\w[\w-]*)";?\n', re.S)
def port(path):
    s = open(path).read(); orig = s
    groups = {}  # module -> set of (name, typeonly)
    renames = {}
    typed_sync_api = False
    json_to_body = False
    def add(mod, name, typ):
        groups.setdefault(mod, {})
        groups[mod][name] = groups[mod].get(name, True) and typ
    matches = list(imp_re.finditer(s))
    if not matches: return False
    for m in matches:
        folder, mod = m.group(2), m.group(3)
        for raw in m.group(1).split(","):
            raw = raw.strip()
            if not raw: continue
            typ = raw.startswith("type ")
            name = raw[5:].strip() if typ else raw
            alias = None
            if " as " in name: name, alias = [x.strip() for x in name.split(" as ")]
            target = mod
            if folder == "./support" or mod in ("connections","webhooks"):
                if name in RENAME and mod in ("management","webhooks"):
                    new = RENAME[name]; renames[alias or name] = new; name = new; alias=None
                    if new == "api" and mod == "management": json_to_body = True
                if mod == "sync" and name == "records": json_to_body = True
                if mod == "sync" and name == "api":
                    typed_sync_api = True; json_to_body = True
                if name in API: target = "api"
                elif name in ("waitFor", "until"): target = "wait"
                elif name in ("simRequests","SimRequest"): target = "connections"
            if alias: name = f"{name} as {alias}"
            add(target, name, typ)
    if typed_sync_api: add("sync", "ApiJson", True)
    # remove old imports, insert new at first import position
    first = matches[0].start()
    for m in reversed(matches): s = s[:m.start()] + s[m.end():]
    lines = []
    for mod in sorted(groups):
        names = sorted(groups[mod].items(), key=lambda kv: kv[0].lower())
        txt = ", ".join(("type " if t else "") + n for n, t in names)
        lines.append(f'import {{ {txt} }} from "../harness/{mod}";\n')
    s = s[:first] + "".join(lines) + s[first:]
    body_start = first + len("".join(lines))
    head, rest = s[:body_start], s[body_start:]
    for old, new in renames.items():
        if old == "call": rest = re.sub(r'(?<![\w.])call(?=[<(])', new, rest)
        else: rest = re.sub(rf'(?<![\w])(?<![^.]\.){old}\b', new, rest)
    if typed_sync_api: rest = re.sub(r'(?<![\w.])api\(', 'api<ApiJson>(', rest)
    if json_to_body: rest = re.sub(r'(?<=[\w)\]!])\.json\b(?!\s*\()(?![\w"\'`])', '.body', rest)
    s = head + rest
    # Already on the new harness: at most the order of its imports would change; leave it.
    if sorted(s.splitlines()) == sorted(orig.splitlines()): return False
    if s != orig: open(path, "w").write(s); return True
    return False
for p in sys.argv[1:]:
    if port(p): print("ported", p)
