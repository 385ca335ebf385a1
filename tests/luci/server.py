#!/usr/bin/env python3
"""The web side of the LuCI browser tests: what uhttpd, LuCI's /ubus endpoint and rpcd are to
the app's views on a router, as stand-ins written from their source.

- GET /view/<path>?sid=S: a page that loads tests/luci/standin.js (the parts of luci-base's
  JS API the views use) and then `view.<path>`; /widget/<path> a status include (Overview).
- GET /luci-static/resources/…: the app's htdocs as they ship (luci.mk installs them there).
- POST /ubus: LuCI's JSON-RPC (rpc.js: `call` with [session, object, method, args]; the reply's
  result is [code, data]). Sessions are rpcd's, with the app's ACL file as rpcd reads it
  (session.c: a login's `read`/`write` lists grant those parts of each ACL group): session
  `rw` has the group's read and write parts, `ro` the read part only. ubus objects and uci
  configs outside what the session has answer UBUS_STATUS_PERMISSION_DENIED (6).
- `ecmp-hotplug status`: the real rpcd plugin, run by the command the test gives
  (`--status`), in the router's namespace; its stdout becomes the reply as plugin.c makes it
  (a JSON object is data, nothing is UBUS_STATUS_NO_DATA).
- `uci`: rpcd's uci.c over the router's config files (get, add, set, delete, apply,
  confirm, changes); `apply` writes the changed files as `uci commit` does and then runs
  `--reload` (procd's config trigger: the init script's reload, `ecmp-hotplug sync`).

Prints `listening <port>` once ready; runs until killed.
"""
import argparse
import http.server
import json
import os
import re
import subprocess
import sys

OK, INVALID_ARGUMENT, NOT_FOUND, NO_DATA, PERMISSION_DENIED = 0, 2, 4, 5, 6

PAGE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>%(title)s</title></head>
<body><div id="notifications"></div><div id="maincontent"><div id="view"></div></div>
<script>window.LUCI_ENV = %(env)s;</script>
<script src="/standin.js"></script>
<script>%(boot)s</script>
</body></html>
"""

VIEW_BOOT = """L.require(%s).catch(function(e) {
  document.getElementById('view').textContent = String(e);
  document.body.setAttribute('data-view-ready', 'error');
});"""
WIDGET_BOOT = """L.require(%s).then(function(w) {
  return Promise.resolve(w.load()).then(function(d) { return w.render(d); }).then(function(n) {
    document.getElementById('view').replaceChildren(E('h3', {}, w.title), n || '');
    document.body.setAttribute('data-view-ready', '1');
  });
}).catch(function(e) {
  document.getElementById('view').textContent = String(e);
  document.body.setAttribute('data-view-ready', 'error');
});"""


# --- uci files, as libuci reads and `uci commit` writes them (the subset these tests write) ---

def tokens(line):
    out, cur, i, quote, have = [], "", 0, None, False
    while i < len(line):
        c = line[i]
        if quote:
            if c == quote:
                quote = None
            elif c == "\\" and quote == '"' and i + 1 < len(line):
                i += 1
                cur += line[i]
            else:
                cur += c
        elif c in "'\"":
            quote, have = c, True
        elif c == "#":
            break
        elif c.isspace():
            if have:
                out.append(cur)
                cur, have = "", False
        else:
            cur += c
            have = True
        i += 1
    if have:
        out.append(cur)
    return out


def read_config(path):
    sections, cur = [], None
    with open(path) as f:
        for line in f:
            t = tokens(line)
            if not t:
                continue
            if t[0] == "config":
                cur = {".type": t[1], ".name": t[2] if len(t) > 2 else None, "options": []}
                sections.append(cur)
            elif t[0] in ("option", "list") and cur is not None and len(t) >= 3:
                cur["options"].append((t[0], t[1], t[2]))
    return sections


def anonymous_name(index, section):
    # libuci names an anonymous section cfg<2 hex digits of its index><4 of a hash>.
    h = 0
    for c in section[".type"]:
        h = (h * 31 + ord(c)) & 0xFFFF
    return "cfg%02x%04x" % (index & 0xFF, h)


class Config:
    """One package: sections in order, each {'.name', '.type', '.anonymous', values}."""

    def __init__(self, path):
        self.path = path
        self.sections = []
        if os.path.exists(path):
            for i, s in enumerate(read_config(path)):
                values = {}
                for kind, k, v in s["options"]:
                    if kind == "list":
                        values.setdefault(k, [])
                        if not isinstance(values[k], list):
                            values[k] = [values[k]]
                        values[k].append(v)
                    else:
                        values[k] = v
                name = s[".name"] or anonymous_name(i, s)
                self.sections.append({".name": name, ".type": s[".type"], ".anonymous": s[".name"] is None,
                                      "values": values})
        self.changed = False

    def get(self):
        out = {}
        for i, s in enumerate(self.sections):
            d = {".anonymous": s[".anonymous"], ".type": s[".type"], ".name": s[".name"], ".index": i}
            d.update(s["values"])
            out[s[".name"]] = d
        return out

    def find(self, name):
        return next((s for s in self.sections if s[".name"] == name), None)

    def write(self):
        def q(v):
            return "'" + str(v).replace("'", "'\\''") + "'"
        out = []
        for s in self.sections:
            out.append("\nconfig %s%s\n" % (s[".type"], "" if s[".anonymous"] else " " + q(s[".name"])))
            for k, v in s["values"].items():
                if isinstance(v, list):
                    out.extend("\tlist %s %s\n" % (k, q(x)) for x in v)
                else:
                    out.append("\toption %s %s\n" % (k, q(v)))
        with open(self.path, "w") as f:
            f.write("".join(out))


class State:
    def __init__(self, args):
        self.args = args
        with open(args.acl) as f:
            self.acl = json.load(f)
        self.configs = {}
        self.applied = []

    def config(self, name):
        if name not in self.configs:
            self.configs[name] = Config(os.path.join(self.args.config_dir, name))
        return self.configs[name]

    def allowed(self, sid, scope, obj, what):
        """rpcd session.c: a session has the ACL groups' read parts (ro) or read and write
        parts (rw); `ubus` scope lists object -> methods, `uci` configs."""
        parts = {"rw": ["read", "write"], "ro": ["read"]}.get(sid, [])
        for group in self.acl.values():
            for part in parts:
                entry = group.get(part, {}).get(scope)
                if scope == "ubus" and isinstance(entry, dict) and what in entry.get(obj, []):
                    return True
                if scope == "uci" and isinstance(entry, list) and obj in entry:
                    return True
        return False

    def call(self, sid, obj, method, args):
        if obj == "ecmp-hotplug":
            if not self.allowed(sid, "ubus", obj, method):
                return [PERMISSION_DENIED]
            if method != "status":
                return [NOT_FOUND]
            out = subprocess.run(self.args.status, shell=True, capture_output=True, text=True)
            try:
                doc = json.loads(out.stdout) if out.stdout.strip() else None
            except ValueError:
                return [INVALID_ARGUMENT]
            return [OK, doc] if isinstance(doc, dict) else [NO_DATA]
        if obj == "uci":
            return self.uci(sid, method, args)
        return [NOT_FOUND]

    def uci(self, sid, method, args):
        conf = args.get("config")
        write = method in ("add", "set", "delete")
        if method in ("get", "add", "set", "delete"):
            if not self.allowed(sid, "uci", conf, None) or (write and not self.writable(sid, conf)):
                return [PERMISSION_DENIED]
            c = self.config(conf)
        if method == "get":
            if not os.path.exists(c.path):
                return [NOT_FOUND]
            return [OK, {"values": c.get()}]
        if method == "add":
            name = args.get("name") or anonymous_name(len(c.sections), {".type": args["type"]})
            c.sections.append({".name": name, ".type": args["type"], ".anonymous": not args.get("name"),
                               "values": dict(args.get("values") or {})})
            c.changed = True
            return [OK, {"section": name}]
        if method == "set":
            s = c.find(args.get("section"))
            if s is None:
                return [NOT_FOUND]
            s["values"].update(args.get("values") or {})
            c.changed = True
            return [OK]
        if method == "delete":
            s = c.find(args.get("section"))
            if s is None:
                return [NOT_FOUND]
            if args.get("options"):
                for k in args["options"]:
                    s["values"].pop(k, None)
            else:
                c.sections.remove(s)
            c.changed = True
            return [OK]
        if method == "apply":
            if not any(self.writable(sid, n) for n in self.configs):
                return [PERMISSION_DENIED]
            for name, c in self.configs.items():
                if c.changed:
                    c.write()
                    c.changed = False
                    self.applied.append(name)
            if self.args.reload:
                subprocess.run(self.args.reload, shell=True)
            return [OK]
        if method in ("confirm", "changes"):
            return [OK]
        return [NOT_FOUND]

    def writable(self, sid, conf):
        return sid == "rw" and any(conf in g.get("write", {}).get("uci", []) for g in self.acl.values())


def handler(state):
    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def send(self, code, body, kind):
            data = body.encode() if isinstance(body, str) else body
            self.send_response(code)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            path, _, query = self.path.partition("?")
            sid = dict(p.split("=", 1) for p in query.split("&") if "=" in p).get("sid", "rw")
            env = json.dumps({"sessionid": sid, "readonly": sid != "rw", "ubus": "/ubus",
                              "pollinterval": state.args.poll})
            m = re.match(r"^/(view|widget)/([a-z0-9/_.-]+)$", path)
            if m:
                name = ("view." if m.group(1) == "view" else "view.") + m.group(2).replace("/", ".")
                boot = (VIEW_BOOT if m.group(1) == "view" else WIDGET_BOOT) % json.dumps(name)
                return self.send(200, PAGE % {"title": m.group(2), "env": env, "boot": boot}, "text/html")
            if path == "/standin.js":
                with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "standin.js"), "rb") as f:
                    return self.send(200, f.read(), "application/javascript")
            if path.startswith("/luci-static/resources/") and ".." not in path:
                file = os.path.join(state.args.htdocs, path.lstrip("/"))
                if os.path.isfile(file):
                    with open(file, "rb") as f:
                        return self.send(200, f.read(), "application/javascript")
            self.send(404, "not found", "text/plain")

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            try:
                msg = json.loads(body)
                sid, obj, method, args = msg["params"]
            except (ValueError, KeyError, TypeError):
                return self.send(400, "bad request", "text/plain")
            result = state.call(sid, obj, method, args or {})
            reply = {"jsonrpc": "2.0", "id": msg.get("id"), "result": result}
            self.send(200, json.dumps(reply), "application/json")

    return Handler


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--htdocs", required=True)
    ap.add_argument("--acl", required=True)
    ap.add_argument("--config-dir", required=True)
    ap.add_argument("--status", required=True, help="shell command: the plugin's `call status`")
    ap.add_argument("--reload", default="", help="shell command run after uci apply")
    ap.add_argument("--poll", type=float, default=5)
    args = ap.parse_args()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler(State(args)))
    print("listening %d" % server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
