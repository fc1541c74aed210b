#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Crash-consistency driver for test-crash.sh: "acknowledged means durable".

Speaks the agent's JSON-lines protocol directly over its Unix socket, sends
random request/approve/deny/revoke operations (one at a time, or a pipelined
burst), kills the agent with SIGKILL at random instants (right after an
acknowledged reply, or with operations still in flight), restarts it on the
same directories, and after every restart compares what the agent lists and
what the kernel holds against every reply it ever received:

  grant-lost      an acknowledged grant (not since revoked, replaced or due)
                  is not listed live with the same id/policy/source/ports/end
  grant-kernel    an acknowledged grant's addresses, protocols and ports
                  are not all in kernel elements lasting until its end
  undone          an acknowledged revoke, deny or replacement was undone: the
                  id is listed as pending or initiated again
  pending-lost    an acknowledged pending request vanished or was initiated
                  without an acknowledged approval
  orphan-element  an element of a grant set that no live record covers
  unexplained     a live or pending record (or one adopted from the kernel)
                  that no acknowledged or in-flight operation explains; a
                  refused request that opened something shows up here
  expired         a grant past its end is still listed live
  id-reused       an id that now names another (user, policy, source, ports)
  id-order        a new request's id is not above every id seen before
  restart-failed  the agent did not come back after a kill
  agent-died      the agent died by itself
  protocol        a reply that does not fit its request

Standard library only; the agent and nft run in the test's namespace through
`ip netns exec`. Exit status: 0 no violation, 1 violations, 2 the harness
itself failed (a hung socket, nft failing, a bug of this script).
"""

import argparse
import errno
import ipaddress
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
import traceback

TOL_S = 1.5            # clock/rounding tolerance on ends and expiries
# How long after its end a grant may still be listed: the agent ends it
# at its timer, which a loaded machine delays (the kernel's element ends on
# time whatever the agent does, and that is checked with TOL_S).
LISTED_LAG_S = 5.0
HOST_PORTS_EXPANDED = 16
GRANT_SETS = ("grants_v4", "grants_v6", "grant_nets_v4", "grant_nets_v6")

# Sources: hosts (odd and even last bytes) and nested prefixes, so that
# records overlap and prefix requests sometimes conflict.
HOSTS = ["192.0.2.3", "192.0.2.4", "192.0.2.5", "192.0.2.6", "192.0.2.7",
         "192.0.2.10", "2001:db8:1::3", "2001:db8:1::4", "2001:db8:1::5",
         "2001:db8:1::a"]
PREFIXES = ["192.0.2.16/30", "192.0.2.20/30", "192.0.2.16/28",
            "2001:db8:1::100/126", "2001:db8:1::100/124"]
# Short grants (2-4 s, to be seen expiring) come from sources of their own,
# so that long ones rarely replace them before they end.
SHORT_SOURCES = (["192.0.2.%d/32" % i for i in range(100, 116)] +
                 ["2001:db8:1::1:%x/128" % i for i in range(1, 7)] +
                 ["192.0.2.128/30", "192.0.2.132/30", "192.0.2.128/29"])
# (port, protocol) choices. They partition the protected ports, so two host
# grants either have the same key (the newer replaces the older) or share no
# kernel element. Host grants that overlap only in part would share hash
# elements, and the agent at c5cb0c8 gives a shared element the timeout of
# whichever grant came last and deletes it with either: a real flaw, but
# not a crash-consistency one, and it would drown the findings of this
# test. The last choice is wider than 16 ports: interval sets even for a
# host.
PORT_CHOICES = [("22", "tcp"), ("2222", "udp"), ("2223-2226", "any"),
                ("2227-2230", "tcp"), ("2231-2260", "any")]


def now_ms():
    return int(time.time() * 1000)


class HarnessError(Exception):
    pass


class AgentFailed(Exception):
    """The agent did not come back after a kill, or died by itself: a
    finding, not a harness problem."""

    def __init__(self, kind, msg):
        super().__init__(msg)
        self.kind = kind


# ---- keys and kernel elements -------------------------------------------

class Key:
    """What a record opens: source prefix x protocols x port range."""

    __slots__ = ("net", "protos", "lo", "hi")

    def __init__(self, source, protocols, lo, hi):
        self.net = ipaddress.ip_network(source, strict=True)
        self.protos = ("tcp", "udp") if protocols == "any" else (protocols,)
        self.lo, self.hi = int(lo), int(hi)

    @classmethod
    def of_record(cls, rec):
        return cls(rec["source"], rec.get("protocols", "tcp"),
                   rec["port_lo"], rec["port_hi"])

    def ident(self):
        return (str(self.net), self.protos, self.lo, self.hi)

    def __eq__(self, other):
        return self.ident() == other.ident()

    def __hash__(self):
        return hash(self.ident())

    def is_host(self):
        return self.net.prefixlen == self.net.max_prefixlen

    def is_interval(self):
        return (not self.is_host() or
                self.hi - self.lo + 1 > HOST_PORTS_EXPANDED)

    def boxes(self):
        """What the key opens, one box per protocol."""
        fam = self.net.version
        first = int(self.net.network_address)
        last = int(self.net.broadcast_address)
        return [(fam, first, last, p, self.lo, self.hi) for p in self.protos]

    def __str__(self):
        pr = "any" if len(self.protos) == 2 else self.protos[0]
        ports = str(self.lo) if self.lo == self.hi else "%d-%d" % (self.lo,
                                                                   self.hi)
        return "%s %s/%s" % (self.net, pr, ports)


def _addr_range(v):
    if isinstance(v, str):
        a = ipaddress.ip_address(v)
        return a.version, int(a), int(a)
    if "prefix" in v:
        n = ipaddress.ip_network("%s/%d" % (v["prefix"]["addr"],
                                            v["prefix"]["len"]))
        return (n.version, int(n.network_address),
                int(n.broadcast_address))
    if "range" in v:
        a, b = (ipaddress.ip_address(x) for x in v["range"])
        return a.version, int(a), int(b)
    raise ValueError("unknown address form %r" % (v,))


def _port_range(v):
    if isinstance(v, int):
        return v, v
    if isinstance(v, dict) and "range" in v:
        return int(v["range"][0]), int(v["range"][1])
    raise ValueError("unknown port form %r" % (v,))


def _proto(v):
    return {6: "tcp", 17: "udp"}.get(v, v)


def elem_text(setname, ek):
    if setname.startswith("grant_nets"):
        fam, a, b, p, lo, hi = ek
        mk = ipaddress.IPv4Address if fam == 4 else ipaddress.IPv6Address
        addr = str(mk(a)) if a == b else "%s-%s" % (mk(a), mk(b))
        return "%s: %s . %s . %s" % (setname, addr, p,
                                      lo if lo == hi else "%d-%d" % (lo, hi))
    fam, a, p, port = ek
    mk = ipaddress.IPv4Address if fam == 4 else ipaddress.IPv6Address
    return "%s: %s . %s . %d" % (setname, mk(a), p, port)


def elem_box(setname, ek):
    """A kernel element as a box: (family, addr lo, addr hi, proto, port
    lo, port hi)."""
    if setname.startswith("grant_nets"):
        return ek
    fam, a, p, port = ek
    return (fam, a, a, p, port, port)


def uncovered(box, boxes):
    """None if the union of boxes covers box, else a point it misses (as
    (address, port)). Boxes are (family, addr lo, addr hi, proto, port lo,
    port hi)."""
    fam, a, b, p, lo, hi = box
    rel = [x for x in boxes if x[0] == fam and x[3] == p and x[1] <= b and
           x[2] >= a and x[4] <= hi and x[5] >= lo]
    cuts = sorted({a, b + 1} | {x[1] for x in rel if a < x[1] <= b} |
                  {x[2] + 1 for x in rel if a <= x[2] < b})
    for seg_lo, seg_next in zip(cuts, cuts[1:]):
        # every box either holds the whole segment or none of it
        ports = sorted((x[4], x[5]) for x in rel
                       if x[1] <= seg_lo and x[2] >= seg_next - 1)
        want = lo
        for plo, phi in ports:
            if plo > want:
                break
            want = max(want, phi + 1)
            if want > hi:
                break
        if want <= hi:
            return seg_lo, want
    return None


def point_text(fam, addr, port):
    mk = ipaddress.IPv4Address if fam == 4 else ipaddress.IPv6Address
    return "%s port %d" % (mk(addr), port)


# ---- the agent and its socket --------------------------------------------

class Agent:
    def __init__(self, args):
        self.a = args
        self.proc = None
        self.sock = None
        self.buf = b""
        self.starts = 0
        self.start_s = []

    def cmd(self):
        a = self.a
        return ["ip", "netns", "exec", a.ns, a.enforcer,
                "--policies", a.policies, "--state-dir", a.state_dir,
                "--socket", a.socket, "--table", a.table,
                "--log-dir", a.log_dir, "--no-syslog"]

    def start(self):
        t0 = time.monotonic()
        with open(self.a.agent_log, "ab") as log:
            log.write(b"--- crash-client: start %d\n" % (self.starts + 1))
            log.flush()
            # `ip netns exec` execs: the pid is the agent's. Its own
            # session: a Ctrl-C is ours to handle (we kill it), not a clean
            # exit of the agent that would look like a failed restart.
            self.proc = subprocess.Popen(self.cmd(), stdin=subprocess.DEVNULL,
                                         stdout=log, stderr=log,
                                         start_new_session=True)
        self.starts += 1
        deadline = t0 + 15
        while True:
            if self.proc.poll() is not None:
                raise AgentFailed("restart-failed",
                                  "the agent exited with status %s at start "
                                  "(see the agent log)" % self.proc.returncode)
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                s.connect(self.a.socket)
                break
            except (FileNotFoundError, ConnectionRefusedError):
                s.close()
            if time.monotonic() > deadline:
                raise AgentFailed("restart-failed",
                                  "the agent's socket did not answer "
                                  "within 15 s of its start")
            time.sleep(0.005)
        self.sock = s
        self.buf = b""
        self.start_s.append(time.monotonic() - t0)

    def kill(self, sig=signal.SIGKILL):
        if self.proc and self.proc.poll() is None:
            os.kill(self.proc.pid, sig)
        if self.proc:
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.proc = None

    def stop(self):
        """Clean exit (SIGTERM); the socket is closed afterwards."""
        self.kill(signal.SIGTERM)
        self.close()

    def close(self):
        if self.sock:
            self.sock.close()
        self.sock = None

    def send(self, msgs):
        data = b"".join(json.dumps(m, separators=(",", ":")).encode() + b"\n"
                        for m in msgs)
        self.sock.sendall(data)

    def recv_lines(self, n, timeout):
        """Up to n complete reply lines, waiting at most timeout seconds."""
        out = []
        deadline = time.monotonic() + timeout
        while len(out) < n:
            nl = self.buf.find(b"\n")
            if nl >= 0:
                out.append(json.loads(self.buf[:nl]))
                self.buf = self.buf[nl + 1:]
                continue
            left = deadline - time.monotonic()
            if left <= 0:
                break
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(1 << 20)
            except socket.timeout:
                break
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                break
            self.buf += chunk
        return out

    def drain(self):
        """After a kill: every complete reply the agent sent before dying."""
        out = []
        self.sock.settimeout(5)
        while True:
            try:
                chunk = self.sock.recv(1 << 20)
            except (ConnectionResetError, socket.timeout):
                chunk = b""
            if not chunk:
                break
            self.buf += chunk
        while True:
            nl = self.buf.find(b"\n")
            if nl < 0:
                break
            out.append(json.loads(self.buf[:nl]))
            self.buf = self.buf[nl + 1:]
        self.close()
        return out

    def died(self):
        """An AgentFailed if the agent died by itself (not by our kill)."""
        rc = self.proc.poll() if self.proc else None
        if rc is None:
            return None
        return AgentFailed("agent-died", "the agent died by itself with "
                           "status %s (see the agent log)" % rc)

    def call(self, msg, timeout=10):
        try:
            self.send([msg])
            r = self.recv_lines(1, timeout)
        except OSError as e:
            raise self.died() or HarnessError("%s: %s" % (msg["op"], e))
        if not r:
            time.sleep(0.1)
            raise self.died() or HarnessError(
                "no reply within %ds to %s" % (timeout, msg["op"]))
        return r[0]


def kernel_elements(args):
    """{set name: {element key: expires in s (None if no timeout)}}."""
    out = subprocess.run(["ip", "netns", "exec", args.ns, "nft", "-j", "list",
                          "table", "inet", args.table],
                         capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise HarnessError("nft list table failed: %s" % out.stderr.strip())
    sets = {n: {} for n in GRANT_SETS}
    for obj in json.loads(out.stdout)["nftables"]:
        s = obj.get("set")
        if not s or s.get("name") not in sets:
            continue
        for e in s.get("elem", []):
            expires = None
            if isinstance(e, dict) and "elem" in e:
                expires = e["elem"].get("expires", e["elem"].get("timeout"))
                e = e["elem"]["val"]
            a, p, port = e["concat"]
            fam, first, last = _addr_range(a)
            lo, hi = _port_range(port)
            if s["name"].startswith("grant_nets"):
                ek = (fam, first, last, _proto(p), lo, hi)
            else:
                ek = (fam, first, _proto(p), lo)
            sets[s["name"]][ek] = expires
    return sets


# ---- the model of what was acknowledged ----------------------------------

def rec_tuple(rec):
    """What an id names, forever: (user, policy, source, ports)."""
    return (rec["requestor"]["user"], rec["policy"], rec["source"],
            rec["ports"])


class Grant:
    __slots__ = ("id", "key", "policy", "source", "ports", "end_ms", "user",
                 "tup", "adopted")

    def __init__(self, rec):
        self.id = rec["id"]
        self.key = Key.of_record(rec)
        self.policy = rec["policy"]
        self.source = rec["source"]
        self.ports = rec["ports"]
        self.end_ms = rec.get("end_ms")
        self.user = rec["requestor"]["user"]
        self.tup = rec_tuple(rec)
        self.adopted = self.user == "(unknown)"

    def text(self):
        return "%s %s %s" % (self.policy, self.source, self.ports)


class Checker:
    def __init__(self, args, rng):
        self.a = args
        self.rng = rng
        self.phase = args.phase
        # id -> (user, policy, source, ports): everything any reply named
        self.ids = {}
        self.max_id = 0
        # Acknowledged, and not since acknowledged as ended (id -> Grant).
        self.live = {}
        self.pending = {}
        # Acknowledged ends: id -> (what, Grant).
        self.ended = {}
        # Seen in listings but never acknowledged (results of operations in
        # flight, adopted elements): may be live or pending, need not be.
        self.weak_live = {}
        self.weak_pending = {}
        # Acknowledged grants whose record was lost: the next start may
        # legitimately adopt their elements.
        self.lost = {}
        # Uncertainty from the operations in flight at the last kill.
        self.maybe_gone = set()
        self.maybe_live = set()
        self.inflight = []   # (policy, Key) an in-flight op may have opened
        self.refused = []    # (policy, Key) of refused requests
        self.flagged = set()
        self.violations = {}
        self.printed = {}
        self.count = {"kills": 0, "ops": 0, "acked": 0, "acked_grants": 0,
                      "acked_pending": 0, "acked_revokes": 0,
                      "acked_denies": 0, "refused": 0, "unacked": 0,
                      "checks": 0, "expired_seen": 0, "replaced": 0,
                      "revokes_not_recorded": 0}
        self.codes = {}

    # -- reporting
    def fail(self, cat, rid, msg, once=True):
        if once:
            if (cat, rid) in self.flagged:
                return
            self.flagged.add((cat, rid))
        self.violations[cat] = self.violations.get(cat, 0) + 1
        n = self.printed.get(cat, 0)
        if n < self.a.max_print:
            print("FAIL [%s] %s kill %d: id=%s: %s" % (
                self.phase, cat, self.count["kills"], rid, msg), flush=True)
        elif n == self.a.max_print:
            print("FAIL [%s] %s: more violations of this kind, not shown" %
                  (self.phase, cat), flush=True)
        self.printed[cat] = n + 1

    def nviol(self):
        return sum(self.violations.values())

    # -- ids
    def note_record(self, rec, new_request=False, max_before=None):
        rid = rec["id"]
        tup = rec_tuple(rec)
        old = self.ids.get(rid)
        if new_request and old is not None:
            self.fail("id-reused", rid,
                      "a new request (%s) got id %d, which already named "
                      "user=%s policy=%s source=%s ports=%s" % (
                          " ".join(tup[1:]), rid, *old), once=False)
        elif old is not None and old != tup:
            self.fail("id-reused", rid,
                      "id %d named user=%s policy=%s source=%s ports=%s, "
                      "now user=%s policy=%s source=%s ports=%s" % (
                          rid, *old, *tup))
        elif new_request and max_before is not None and rid <= max_before:
            self.fail("id-order", rid,
                      "a new request got id %d, not above %d, the largest "
                      "id seen before" % (rid, max_before), once=False)
        self.ids[rid] = tup
        self.max_id = max(self.max_id, rid)

    # -- replies to operations
    def forget(self, rid):
        for d in (self.live, self.pending, self.weak_live,
                  self.weak_pending):
            d.pop(rid, None)
        self.maybe_gone.discard(rid)
        self.maybe_live.discard(rid)

    def replace_same_key(self, g):
        """An initiated grant replaces the same user's acknowledged live
        grant with the same key. (Unacknowledged records are left to the
        next listing: whether they are replaced depends on whose they are.)
        """
        for rid, old in list(self.live.items()):
            if rid != g.id and old.key == g.key and old.user == g.user:
                self.forget(rid)
                self.count["replaced"] += 1
                self.ended[rid] = ("replaced by %d" % g.id, old)

    def acked(self, op, reply):
        c = self.count
        c["acked"] += 1
        if not reply.get("ok"):
            c["refused"] += 1
            err = reply.get("error") or {}
            code = err.get("code", "?")
            if code not in self.codes:
                self.codes[code] = [0, err.get("message", "")]
            self.codes[code][0] += 1
            if op["op"] == "request":
                self.refused.append((op["policy"], op["_key"]))
            return
        rec = reply.get("request")
        if not isinstance(rec, dict) or "id" not in rec:
            self.fail("protocol", "-", "ok reply without a request: %r" %
                      (reply,), once=False)
            return
        rid = rec["id"]
        new = op["op"] == "request"
        self.note_record(rec, new_request=new,
                         max_before=op.get("_max_before"))
        if new:
            # Whatever the id named before (a reuse is reported above), it
            # names this request now.
            self.forget(rid)
            self.ended.pop(rid, None)
        elif rid != op["id"]:
            self.fail("protocol", rid, "%s of %d answered for id %d" % (
                op["op"], op["id"], rid), once=False)
        st = rec.get("status")
        g = Grant(rec)
        if op["op"] in ("request", "approve") and st == "initiated":
            c["acked_grants"] += 1
            self.forget(rid)
            self.replace_same_key(g)
            self.live[rid] = g
        elif new and st == "pending":
            c["acked_pending"] += 1
            self.pending[rid] = g
        elif op["op"] == "revoke" and st == "revoked":
            c["acked_revokes"] += 1
            self.forget(rid)
            note = ""
            if reply.get("recorded") is False:
                c["revokes_not_recorded"] += 1
                note = " (the reply said: in force, not yet recorded)"
            self.ended[rid] = ("revoked%s" % note, g)
        elif op["op"] == "deny" and st == "denied":
            c["acked_denies"] += 1
            self.forget(rid)
            self.ended[rid] = ("denied", g)
        else:
            self.fail("protocol", rid, "%s answered ok with status %r" % (
                op["op"], st), once=False)

    def unacked(self, op):
        """An operation in flight at the kill: it may or may not have
        happened, and so may what it implies."""
        self.count["unacked"] += 1
        if op["op"] == "request":
            k = op["_key"]
            self.inflight.append((op["policy"], k))
            for rid, g in list(self.live.items()) + list(
                    self.weak_live.items()):
                if g.key == k:
                    self.maybe_gone.add(rid)
            return
        rid = op["id"]
        if op["op"] == "approve":
            self.maybe_live.add(rid)
            g = self.pending.get(rid) or self.weak_pending.get(rid)
            if g:
                self.inflight.append((g.policy, g.key))
                for lid, lg in list(self.live.items()) + list(
                        self.weak_live.items()):
                    if lg.key == g.key:
                        self.maybe_gone.add(lid)
        else:
            self.maybe_gone.add(rid)

    # -- operations
    def random_key(self, short):
        rng = self.rng
        if short:
            src = rng.choice(SHORT_SOURCES)
        else:
            src = rng.choice(HOSTS) if rng.random() < 0.7 else rng.choice(
                PREFIXES)
        port, proto = rng.choice(PORT_CHOICES)
        if "/" not in src:
            src += "/32" if ":" not in src else "/128"
        lo, _, hi = port.partition("-")
        return src, port, proto, Key(src, proto, lo, hi or lo)

    def edge_op(self, seen_ids):
        """The full disk's edge: re-requests of acknowledged live grants
        (each a new grant's line and the line ending the one it replaces)
        and approvals of pending requests, so that the journal's last page
        takes some lines of a pass and not the rest."""
        rng = self.rng
        soon = now_ms() + 10000
        live = [g for g in self.live.values() if g.end_ms > soon and
                g.policy == self.a.auto_policy]
        pend = list(self.pending) + list(self.weak_pending)
        r = rng.random()
        if r < 0.55 and live:
            g = rng.choice(live)
            k = g.key
            port = str(k.lo) if k.lo == k.hi else "%d-%d" % (k.lo, k.hi)
            proto = "any" if len(k.protos) == 2 else k.protos[0]
            return {"op": "request", "policy": g.policy, "port": port,
                    "protocol": proto, "source": str(k.net),
                    "duration": rng.randint(120, 600),
                    "reason": "crash test", "_key": k}
        if r < 0.85 and pend:
            return {"op": "approve", "id": rng.choice(pend)}
        return self.random_op(seen_ids)

    def random_op(self, seen_ids):
        rng = self.rng
        r = rng.random()
        pend = list(self.pending) + list(self.weak_pending)
        # Records adopted from the kernel are one per element and share
        # elements with the grants of the same host; revoking one would
        # take the element from the others. Leave them to expire.
        # Grants about to end are left alone: they are there to expire.
        soon = now_ms() + 10000
        live = [i for i, g in self.live.items() if g.end_ms > soon] + [
            i for i, g in self.weak_live.items() if not g.adopted]
        if r < 0.12 and pend:
            return {"op": "approve", "id": rng.choice(pend)}
        if r < 0.17 and pend:
            return {"op": "deny", "id": rng.choice(pend),
                    "reason": "crash test"}
        if r < 0.33 and (live or pend):
            return {"op": "revoke", "id": rng.choice(live + pend)}
        if r < 0.36 and seen_ids:
            # an id already finished: refused
            ended = [i for i in seen_ids if i in self.ended]
            if ended:
                return {"op": rng.choice(["revoke", "approve", "deny"]),
                        "id": rng.choice(ended)}
        short = rng.random() < 0.15
        src, port, proto, key = self.random_key(short)
        dur = rng.randint(2, 4) if short else rng.randint(120, 600)
        pol = self.a.manual_policy if rng.random() < 0.25 else \
            self.a.auto_policy
        return {"op": "request", "policy": pol, "port": port,
                "protocol": proto, "source": src, "duration": dur,
                "reason": "crash test", "_key": key}


def wire(op):
    return {k: v for k, v in op.items() if not k.startswith("_")}


# ---- one cycle: burst, kill, restart, check ------------------------------

def run_burst(agent, chk, rng, hooks, after_kill, edge=False):
    """Operations, then SIGKILL. edge: a pipelined burst of re-requests
    and approvals (edge_op), the disk filled just before it."""
    n = rng.randint(5, 30)
    seen = list(chk.ids)
    ops = []
    replies = []
    if not edge and rng.random() < 0.5:
        # One at a time. Sometimes a pause mid-burst (long enough for the
        # agent to write its state), then the kill lands right after the
        # last acknowledged reply, or a little later, or much later.
        pause_at = rng.randrange(n) if rng.random() < 0.3 else -1
        for i in range(n):
            hooks(i, n)
            if i == pause_at:
                time.sleep(rng.uniform(0.06, 0.15))
            op = chk.random_op(seen)
            op["_max_before"] = chk.max_id
            ops.append(op)
            r = agent.call(wire(op))
            replies.append(r)
            chk.acked(op, r)
            if r.get("ok") and isinstance(r.get("request"), dict):
                seen.append(r["request"]["id"])
        x = rng.random()
        if x < 0.3:
            time.sleep(rng.uniform(0, 0.12))
        elif x < 0.45:
            time.sleep(rng.uniform(0.2, 1.2))
        if agent.died():
            raise agent.died()
        agent.kill()
        after_kill()
        rest = agent.drain()
        if rest:
            chk.fail("protocol", "-", "%d unexpected replies" % len(rest),
                     once=False)
    else:
        # Pipelined: operations go out in small chunks without waiting for
        # replies, and the kill lands at a random chunk (or once k replies
        # are in), so that some are in flight: received, half done, or not
        # read yet.
        hooks(None, n)
        for _ in range(n):
            op = chk.edge_op(seen) if edge else chk.random_op(seen)
            op["_max_before"] = chk.max_id
            ops.append(op)
        got = []
        if edge or rng.random() < 0.25:
            # At the edge, mostly every reply is waited for: the pass
            # that crosses the page must have run.
            agent.send([wire(o) for o in ops])
            k = n if edge and rng.random() < 0.7 else rng.randint(0, n - 1)
            got = agent.recv_lines(k, 5) if k else []
        else:
            cuts = sorted(rng.sample(range(1, n), rng.randint(0, min(
                5, n - 1))))
            chunks = [ops[a:b] for a, b in zip([0] + cuts, cuts + [n])]
            last = rng.randrange(len(chunks))
            sent = []
            for i, chunk in enumerate(chunks[:last + 1]):
                agent.send([wire(o) for o in chunk])
                sent += chunk
                time.sleep(rng.uniform(0, 0.003 if i == last else 0.002))
            ops = sent  # the rest never left
        if agent.died():
            raise agent.died()
        agent.kill()
        after_kill()
        replies = got + agent.drain()
        if len(replies) > len(ops):
            chk.fail("protocol", "-", "more replies than requests",
                     once=False)
        for op, r in zip(ops, replies):
            chk.acked(op, r)
    for op in ops[len(replies):]:
        chk.unacked(op)
    chk.count["ops"] += len(ops)
    chk.count["kills"] += 1


def list_all(agent, op, extra):
    """A whole listing: the agent may answer in pages ("next" is the
    "after" of the following page)."""
    key = "grants" if op == "grants" else "requests"
    out = []
    after = None
    for _ in range(10000):
        msg = dict(extra, op=op)
        if after is not None:
            msg["after"] = after
        r = agent.call(msg)
        if not r.get("ok"):
            raise HarnessError("%s failed: %r" % (op, r))
        out.extend(r[key])
        after = r.get("next")
        if not isinstance(after, int):
            return out
    raise HarnessError("%s: endless pages" % op)


def check_after_restart(agent, chk):
    c = chk.count
    max_before = chk.max_id
    live_list = list_all(agent, "grants", {})
    open_list = list_all(agent, "requests", {})
    all_list = list_all(agent, "requests", {"all": True})
    kern = kernel_elements(chk.a)
    t = now_ms()
    listed_live = {r["id"]: r for r in live_list}
    by_id = {r["id"]: r for r in all_list}
    by_id.update({r["id"]: r for r in open_list})
    by_id.update(listed_live)
    open_ids = {r["id"] for r in open_list} | set(listed_live)
    live_records = [(Key.of_record(r), r) for r in listed_live.values()]
    kboxes = [(elem_box(s, ek), exp) for s, elems in kern.items()
              for ek, exp in elems.items()]

    def status(rid, g):
        """The status of g's record, None if its id is not listed or now
        names something else."""
        r = by_id.get(rid)
        if r is None or rec_tuple(r) != g.tup:
            return None
        return "initiated" if rid in listed_live else r["status"]

    def whereabouts(rid, g):
        r = by_id.get(rid)
        if r is None:
            return "not listed at all"
        if rec_tuple(r) != g.tup:
            return "gone: id %d now names user=%s policy=%s source=%s " \
                "ports=%s" % (rid, *rec_tuple(r))
        return "listed as %s (%s)" % (r["status"], r["status_reason"])

    # What a record adopted from the kernel may come from: whatever was, or
    # may have been, live before this start (the records of adopted
    # elements may be lost and adopted again).
    explained = ([g.key for g in chk.live.values()] +
                 [g.key for g in chk.weak_live.values()] +
                 [g.key for g in chk.lost.values()
                  if g.end_ms and g.end_ms > t] +
                 [k for _, k in chk.inflight])
    explained_boxes = [b for k in explained for b in k.boxes()]

    # ids: every id still names what it named; unknown ones are new
    for r in by_id.values():
        rid = r["id"]
        if rid not in chk.ids and rid <= max_before:
            chk.fail("id-order", rid,
                     "a record never seen before (%s %s %s, by %s) has id "
                     "%d, not above %d, the largest id seen before the "
                     "kill" % (r["policy"], r["source"], r["ports"],
                               r["requestor"]["user"], rid, max_before))
        chk.note_record(r)
        c["checks"] += 1

    # 1. acknowledged grants: listed with the same record, in the kernel
    for rid, g in list(chk.live.items()):
        st = status(rid, g)
        if rid in chk.maybe_gone and st not in ("initiated", None):
            chk.forget(rid)  # an operation in flight may have ended it
            continue
        chk.maybe_gone.discard(rid)
        left_s = (g.end_ms - t) / 1000.0
        if left_s < -TOL_S:
            c["checks"] += 1
            c["expired_seen"] += 1
            if st == "initiated" and left_s < -LISTED_LAG_S:
                chk.fail("expired", rid, "grant %s ended %.1fs ago but is "
                         "listed live" % (g.text(), -left_s))
            chk.forget(rid)
            chk.ended[rid] = ("expired", g)
            continue
        if left_s <= TOL_S:
            continue  # ending right now: either answer is right
        c["checks"] += 1
        # Every address, protocol and port it opens is in some element
        # that lasts at least until its end (checked whether or not its
        # record survived: the kernel is what lets the user in).
        good = [b for b, exp in kboxes if exp is None or
                exp >= left_s - TOL_S]
        for box in g.key.boxes():
            c["checks"] += 1
            miss = uncovered(box, good)
            if miss is None:
                continue
            pt = (box[0], miss[0], miss[0], box[3], miss[1], miss[1])
            shorter = [exp for b, exp in kboxes if uncovered(pt, [b]) is None]
            chk.fail("grant-kernel", rid,
                     "acknowledged grant %s (%.0fs left): %s/%s is %s" % (
                         g.text(), left_s, point_text(box[0], miss[0],
                                                      miss[1]), box[3],
                         "in the kernel only for %ss" % max(shorter)
                         if shorter else "not in the kernel"))
            break
        if st != "initiated":
            chk.fail("grant-lost", rid,
                     "acknowledged grant %s (%.0fs left) is %s after the "
                     "restart" % (g.text(), left_s, whereabouts(rid, g)))
            chk.forget(rid)
            chk.lost[rid] = g
            continue
        r = listed_live[rid]
        if r.get("end_ms") != g.end_ms:
            chk.fail("grant-lost", rid,
                     "grant %s is listed with end_ms %s, acknowledged %s" % (
                         g.text(), r.get("end_ms"), g.end_ms))

    # 2. acknowledged revokes, denies and replacements stay done; ended
    # grants are not listed live
    for rid, (what, g) in chk.ended.items():
        st = status(rid, g)
        c["checks"] += 1
        if what == "expired":
            if st == "initiated" and g.end_ms < t - TOL_S * 1000:
                chk.fail("expired", rid, "grant %s ended %.1fs ago but is "
                         "listed live" % (g.text(), (t - g.end_ms) / 1000))
        elif st in ("initiated", "pending"):
            chk.fail("undone", rid, "request %s was acknowledged as %s, "
                     "and is listed as %s after the restart" % (
                         g.text(), what, st))

    # acknowledged pending requests stay pending unless something that
    # could decide them was in flight
    for rid, g in list(chk.pending.items()):
        st = status(rid, g)
        if (rid in chk.maybe_gone or rid in chk.maybe_live) and st:
            # an operation in flight may have decided it (but the record
            # stays)
            chk.forget(rid)
            if st == "pending":
                chk.weak_pending[rid] = g
            elif st == "initiated":
                chk.weak_live[rid] = Grant(listed_live[rid])
            continue
        c["checks"] += 1
        if st != "pending":
            chk.fail("pending-lost", rid,
                     "acknowledged pending request %s is %s after the "
                     "restart, with no decision acknowledged or in "
                     "flight" % (g.text(),
                                 "initiated" if st == "initiated"
                                 else whereabouts(rid, g)))
            chk.forget(rid)
            chk.lost[rid] = g
            if st == "initiated":
                chk.weak_live[rid] = Grant(listed_live[rid])
    for d, want in ((chk.weak_live, "initiated"),
                    (chk.weak_pending, "pending")):
        for rid, g in list(d.items()):
            if status(rid, g) != want:
                d.pop(rid)

    # every open record is explained by an acknowledged or in-flight
    # operation (a refused request that opened something shows up here)
    ended_grants = {i: e[1] for i, e in chk.ended.items()}
    for rid in sorted(open_ids):
        r = by_id[rid]
        st = "initiated" if rid in listed_live else r["status"]
        if st not in ("initiated", "pending"):
            continue
        g = Grant(r)
        known = [d for d in (chk.live, chk.pending, chk.weak_live,
                             chk.weak_pending)
                 if rid in d and d[rid].tup == g.tup]
        if known or any(rid in d and d[rid].tup == g.tup
                        for d in (chk.lost, ended_grants)):
            continue
        c["checks"] += 1
        if g.adopted:
            ok = st == "initiated" and all(
                uncovered(b, explained_boxes) is None for b in g.key.boxes())
        else:
            ok = (g.policy, g.key) in chk.inflight
        if not ok:
            refused = (g.policy, g.key) in chk.refused or any(
                k == g.key for _, k in chk.refused)
            chk.fail("unexplained", rid,
                     "%s record %s (%s) is explained by no acknowledged "
                     "grant and no operation in flight%s" % (
                         "adopted" if g.adopted else "a", g.text(), st,
                         "; a request for exactly this was refused" if
                         refused else ""))
        (chk.weak_live if st == "initiated" else chk.weak_pending)[rid] = g

    # 3. no element without a live record: host elements are points of
    # host records, interval elements lie in the union of the records that
    # go to the interval sets
    host_boxes = [b for k, _ in live_records if not k.is_interval()
                  for b in k.boxes()]
    net_boxes = [b for k, _ in live_records if k.is_interval()
                 for b in k.boxes()]
    for setname, elems in kern.items():
        for ek, exp in elems.items():
            c["checks"] += 1
            if exp is not None and exp <= TOL_S:
                continue  # its record may have just expired
            box = elem_box(setname, ek)
            if uncovered(box, net_boxes if setname.startswith("grant_nets")
                         else host_boxes) is not None:
                chk.fail("orphan-element", elem_text(setname, ek),
                         "element %s (expires in %ss) is covered by no live "
                         "record" % (elem_text(setname, ek), exp))

    # (lost records stay known: one that comes back is not news)
    chk.inflight = []
    chk.refused = []
    chk.maybe_gone.clear()
    chk.maybe_live.clear()


# ---- disk trouble for the tmpfs phases -----------------------------------

class Disk:
    """Trouble for the state directory's tmpfs: full, or read-only."""

    def __init__(self, args):
        self.a = args
        self.filled = False
        self.ro = False
        self.ro_deferred = False

    def fill(self):
        # Never fill anything but a mount of our own (a failed mount would
        # leave the plain directory on the host's disk).
        if not os.path.ismount(self.a.mount):
            raise HarnessError("%s is not a mount point" % self.a.mount)
        path = os.path.join(self.a.mount, "filler")
        try:
            with open(path, "wb") as f:
                block = b"\0" * 4096
                while True:
                    f.write(block)
                    f.flush()
        except OSError as e:
            if e.errno != errno.ENOSPC:
                raise
        self.filled = True

    def free(self):
        try:
            os.unlink(os.path.join(self.a.mount, "filler"))
        except FileNotFoundError:
            pass
        self.filled = False

    def remount(self, mode, tries=200):
        """False if the kernel kept saying busy (a file open for writing:
        a read-only remount must wait until the agent is down)."""
        if not os.path.ismount(self.a.mount):
            raise HarnessError("%s is not a mount point" % self.a.mount)
        for _ in range(tries):
            r = subprocess.run(["mount", "-o", "remount," + mode,
                                self.a.mount], capture_output=True,
                               text=True, check=False)
            if r.returncode == 0:
                self.ro = mode == "ro"
                return True
            time.sleep(0.01)
        if mode == "ro" and "busy" in r.stderr:
            return False
        raise HarnessError("remount,%s of %s failed: %s" % (
            mode, self.a.mount, r.stderr.strip()))


# ---- main -----------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ns", required=True)
    ap.add_argument("--enforcer", required=True)
    ap.add_argument("--policies", required=True)
    ap.add_argument("--state-dir", required=True)
    ap.add_argument("--socket", required=True)
    ap.add_argument("--table", required=True)
    ap.add_argument("--log-dir", required=True)
    ap.add_argument("--agent-log", required=True)
    ap.add_argument("--auto-policy", default="auto")
    ap.add_argument("--manual-policy", default="manual")
    ap.add_argument("--kills", type=int, default=100)
    ap.add_argument("--phase", default="main")
    ap.add_argument("--disk", choices=["none", "full", "ro"], default="none")
    ap.add_argument("--mount", help="the tmpfs holding the state dir")
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--max-print", type=int, default=20,
                    help="FAIL lines shown per kind of violation and phase")
    ap.add_argument("--totals", help="append a key=value totals line here")
    args = ap.parse_args()

    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    rng = random.Random(seed)
    chk = Checker(args, rng)
    agent = Agent(args)
    disk = Disk(args)
    # Disk trouble starts and ends at random points of the middle third.
    trouble_on = args.kills // 3
    trouble_off = 2 * args.kills // 3
    on_at = rng.randint(0, 29)
    status = 0
    t0 = time.monotonic()

    def say(what):
        print("# phase=%s: state tmpfs %s (burst %d)" % (
            args.phase, what, chk.count["kills"] + 1), flush=True)

    def journal_room():
        """Bytes left in the last page of the newest journal file."""
        try:
            names = [x for x in os.listdir(args.state_dir)
                     if x.startswith("journal.") and x[8:].isdigit()]
        except OSError:
            return None
        if not names:
            return None
        size = os.path.getsize(os.path.join(args.state_dir, max(names)))
        return (4096 - size % 4096) % 4096

    def pad_journal():
        """Pending requests, one at a time and acknowledged, until the
        journal's last page has room for a few lines only: the pass of
        the burst that follows then fits in part."""
        target = rng.randint(40, 900)
        if disk.filled:
            disk.free()
        for _ in range(100):
            room = journal_room()
            if room is None or room <= target:
                return room
            src, port, proto, key = chk.random_key(False)
            op = {"op": "request", "policy": args.manual_policy,
                  "port": port, "protocol": proto, "source": src,
                  "duration": rng.randint(120, 600), "reason": "pad",
                  "_key": key, "_max_before": chk.max_id}
            chk.acked(op, agent.call(wire(op)))
            chk.count["ops"] += 1
        return journal_room()

    def edge_burst():
        """In the full-disk phase's trouble, every burst is an edge burst:
        pipelined re-requests and approvals, the disk filled just before
        (hooks)."""
        k = chk.count["kills"]
        return args.disk == "full" and trouble_on <= k < trouble_off

    def hooks(i, n):
        """Disk trouble at its kills; i is None in a pipelined burst."""
        k = chk.count["kills"]
        if args.disk == "none":
            return
        if i is None and edge_burst():
            room = pad_journal()
            disk.fill()
            say("filled up just before a pipelined burst of re-requests "
                "and approvals, %s bytes left in the journal's last page" %
                room)
            return
        if (k == trouble_on and not (disk.filled or disk.ro or
                                     disk.ro_deferred) and
                (i is None or i >= min(on_at, n - 1))):
            if args.disk == "full":
                disk.fill()
                say("filled up with the agent running, op %s of %d" %
                    (i or 0, n))
            elif disk.remount("ro", tries=5):
                say("remounted read-only with the agent running, op %s "
                    "of %d" % (i or 0, n))
            else:
                disk.ro_deferred = True
        if k >= trouble_off and (disk.filled or disk.ro):
            if args.disk == "full":
                disk.free()
                say("freed")
            else:
                disk.remount("rw")
                say("read-write again")

    def after_kill():
        # After an edge burst the agent mostly restarts with room again
        # (its new journal file then has a page to fill in the next one).
        k = chk.count["kills"]
        if (args.disk == "full" and disk.filled and
                trouble_on <= k < trouble_off and rng.random() < 0.7):
            disk.free()
        if disk.ro_deferred:
            disk.ro_deferred = False
            disk.remount("ro")
            say("remounted read-only while the agent was down (busy while "
                "it ran: its journal was open for writing)")

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        agent.start()
        for _ in range(args.kills):
            run_burst(agent, chk, rng, hooks, after_kill,
                      edge=edge_burst())
            agent.start()
            check_after_restart(agent, chk)
        if disk.filled:
            disk.free()
        if disk.ro:
            disk.remount("rw")
        agent.stop()
    except AgentFailed as e:
        chk.fail(e.kind, "-", "%s; the phase ends here" % e, once=False)
        tail = open(args.agent_log, errors="replace").read().splitlines()
        for line in tail[-6:]:
            print("#   agent: %s" % line, flush=True)
    except HarnessError as e:
        print("FAIL [%s] harness: %s (after %d kills, seed %d)" % (
            args.phase, e, chk.count["kills"], seed), flush=True)
        status = 2
    except KeyboardInterrupt:
        status = 130
    except Exception:  # a bug of this script, not of the agent
        traceback.print_exc()
        print("FAIL [%s] harness: crash-client raised (after %d kills, "
              "seed %d)" % (args.phase, chk.count["kills"], seed), flush=True)
        status = 2
    finally:
        agent.kill()
        agent.close()
        try:
            if disk.filled:
                disk.free()
            if disk.ro:
                disk.remount("rw")
        except (OSError, HarnessError):
            pass
    c = chk.count
    starts = agent.start_s or [0]
    print("# phase=%s seed=%d kills=%d ops=%d acked=%d acked_grants=%d "
          "acked_pending=%d acked_revokes=%d (not recorded: %d) "
          "acked_denies=%d replaced=%d "
          "refused=%d in_flight=%d expired_checked=%d checks=%d "
          "violations=%d (%s) time=%.1fs restart_ms(avg/max)=%.0f/%.0f" % (
              args.phase, seed, c["kills"], c["ops"], c["acked"],
              c["acked_grants"], c["acked_pending"], c["acked_revokes"],
              c["revokes_not_recorded"], c["acked_denies"], c["replaced"],
              c["refused"], c["unacked"],
              c["expired_seen"], c["checks"], chk.nviol(),
              ", ".join("%s=%d" % kv for kv in sorted(chk.violations.items()))
              or "none", time.monotonic() - t0,
              1000 * sum(starts) / len(starts), 1000 * max(starts)),
          flush=True)
    if chk.codes:
        print("# phase=%s refusals: %s" % (args.phase, "; ".join(
            "%s x%d (e.g. %s)" % (k, v[0], v[1][:80]) for k, v in sorted(
                chk.codes.items()))), flush=True)
    if args.totals:
        with open(args.totals, "a") as f:
            f.write("kills=%d ops=%d acked_grants=%d acked_revokes=%d "
                    "acked_denies=%d violations=%d harness=%d\n" % (
                        c["kills"], c["ops"], c["acked_grants"],
                        c["acked_revokes"], c["acked_denies"], chk.nviol(),
                        1 if status == 2 else 0))
    if status == 130:
        # Die of SIGINT, so that the shell running us stops too.
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)
    if status:
        return status
    return 1 if chk.nviol() else 0


if __name__ == "__main__":
    sys.exit(main())
