#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""A stand-in for the agent's control socket, for jitctl's own tests: canned
replies of the protocol's shape (one JSON object per line each way), so that
jitctl's handling of refusals, broken replies and lost connections can be
tested without root or a kernel.

    fake-agent.py SOCKET

op        reply
policies  one policy 'jump01' protecting tcp/22 and tcp/3389 for up to 1h
request   granted, except port 3389: refused (source-not-allowed)
alerts    one alert; with follow, one more as a broadcast, then it hangs up
events    one event; with follow, a lost count and one more, then it hangs up
posture   a line that is not JSON
reload    hangs up without a reply
other     refused (permission-denied)
"""
import json
import os
import socketserver
import sys

POLICIES = [{
    "name": "jump01",
    "ports": [
        {"protocol": "tcp", "port_lo": 22, "port_hi": 22,
         "max_duration": "1h", "max_duration_s": 3600},
        {"protocol": "tcp", "port_lo": 3389, "port_hi": 3389,
         "max_duration": "1h", "max_duration_s": 3600},
    ],
}]

ALERT = {"id": 1, "alert_type": "JIT_REPEATED_ATTEMPTS", "severity": "Medium",
         "intent": "PreAttack", "last_seen": "2026-12-01T12:00:00Z",
         "description": "192.0.2.9 tried tcp/22 12 times"}

next_id = 1


class Handler(socketserver.StreamRequestHandler):
    def send(self, obj):
        self.wfile.write(json.dumps(obj).encode() + b"\n")
        self.wfile.flush()

    def handle(self):
        global next_id
        for line in self.rfile:
            req = json.loads(line)
            op = req.get("op")
            if op == "policies":
                self.send({"ok": True, "policies": POLICIES})
            elif op == "request" and str(req.get("port")) == "3389":
                self.send({"ok": False, "error": {
                    "code": "source-not-allowed",
                    "message": "source %s is not allowed for tcp/3389"
                               % req.get("source")}})
            elif op == "request":
                self.send({"ok": True, "request": {
                    "id": next_id, "status": "initiated",
                    "policy": req.get("policy"), "source": req.get("source"),
                    "ports": "tcp/%s" % req.get("port"),
                    "end_ms": 1796126400000}})
                next_id += 1
            elif op == "alerts":
                self.send({"ok": True, "alerts": [ALERT], "denied_seen": 12,
                           "tracked": 1})
                if req.get("follow"):
                    self.send({"alert": dict(ALERT, id=2)})
                    return
            elif op == "events":
                event = {"time": "2026-11-29T04:35:26.156Z",
                         "event": "request", "result": "granted",
                         "request_id": 1, "peer_user": "root"}
                self.send({"ok": True, "events": [event]})
                if req.get("follow"):
                    self.send({"lost": 3})
                    self.send(dict(event, request_id=2))
                    return
            elif op == "posture":
                self.wfile.write(b"this is not JSON\n")
                self.wfile.flush()
            elif op == "reload":
                return
            else:
                self.send({"ok": False, "error": {
                    "code": "permission-denied",
                    "message": "%s: permission denied (fake agent)" % op}})


class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


def main():
    path = sys.argv[1]
    if os.path.exists(path):
        os.unlink(path)
    with Server(path, Handler) as srv:
        srv.serve_forever()


if __name__ == "__main__":
    main()
