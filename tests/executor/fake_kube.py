"""A small in-test Kubernetes API server for the executor (DESIGN §6).

Implements only what the executor uses, over real HTTP on 127.0.0.1, so the real
``kubernetes`` client is exercised end to end:

* apps/v1 deployments get/patch, replicasets list (labelSelector equality terms);
* core/v1 services get/patch;
* argoproj.io/v1alpha1 rollouts get/patch and the ``status`` subresource patch.

JSON patch (RFC 6902), merge patch (RFC 7386) and, for strategic merge, a plain
merge. Every write bumps ``metadata.resourceVersion``; a patch whose result carries
a different resourceVersion than the stored object is refused with 409, like the
API server's optimistic concurrency. ``inject(method, resource, [statuses])`` makes
the next matching requests fail with those statuses; ``requests`` logs everything.
``reconcile_deployment`` plays the deployment controller (ReplicaSet re-use,
revision renumbering, ``revision-history``) so tests can see what a cluster would.
"""

from __future__ import annotations

import copy
import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

from tests.executor.kube_objects import (
    HIST,
    REV,
    Obj,
    add_deployment,
    json_patch,
    labels_match,
    make_rs,
    merge_patch,
    no_hash,
    owned_by,
    pod_template,
    status_body,
)

__all__ = ["REV", "FakeKube", "add_deployment", "json_patch", "make_rs", "pod_template"]

ROUTES = [
    (re.compile(r"^/apis/apps/v1/namespaces/([^/]+)/deployments/([^/]+)$"), "deployments"),
    (re.compile(r"^/apis/apps/v1/namespaces/([^/]+)/replicasets$"), "replicasets"),
    (re.compile(r"^/api/v1/namespaces/([^/]+)/services/([^/]+)$"), "services"),
    (re.compile(r"^/apis/argoproj.io/v1alpha1/namespaces/([^/]+)/rollouts/([^/]+)$"), "rollouts"),
    (
        re.compile(r"^/apis/argoproj.io/v1alpha1/namespaces/([^/]+)/rollouts/([^/]+)/status$"),
        "rollouts/status",
    ),
]


@dataclass
class Request:
    method: str
    path: str
    resource: str
    content_type: str
    body: Any
    at: float = field(default_factory=time.perf_counter)


class FakeKube:
    """Objects, fault injection and a request log behind a threaded HTTP server."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str, str], Obj] = {}
        self.names: dict[tuple[str, str], set[str]] = {}  # (resource, namespace) -> names
        self.faults: list[tuple[str, str, int]] = []
        self.requests: list[Request] = []
        self.lock = threading.Lock()
        self._version = 100
        self._uid = 0
        self.server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None, "use FakeKube as a context manager to serve HTTP"
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> FakeKube:
        """Serve on a free loopback port (state-only use needs no server)."""
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.shutdown()
        self.server.server_close()

    # --- state -------------------------------------------------------------
    def _next_version(self) -> str:
        self._version += 1
        return str(self._version)

    def put(self, resource: str, obj: Obj) -> Obj:
        """Store (create or replace) an object; gives it a uid and a new resourceVersion."""
        with self.lock:
            meta = obj.setdefault("metadata", {})
            if "uid" not in meta:
                self._uid += 1
                meta["uid"] = f"uid-{self._uid}"
            meta["resourceVersion"] = self._next_version()
            key = (resource, meta.get("namespace", "default"), meta["name"])
            self.objects[key] = copy.deepcopy(obj)
            self.names.setdefault(key[:2], set()).add(key[2])
            return copy.deepcopy(obj)

    def get(self, resource: str, name: str, namespace: str = "default") -> Obj:
        with self.lock:
            return copy.deepcopy(self.objects[(resource, namespace, name)])

    def inject(self, method: str, resource: str, statuses: list[int]) -> None:
        """The next ``len(statuses)`` matching requests answer these statuses instead."""
        with self.lock:
            self.faults.extend((method, resource, s) for s in statuses)

    def patches(self, resource: str | None = None) -> list[Request]:
        return [
            r
            for r in self.requests
            if r.method == "PATCH" and (resource is None or r.resource == resource)
        ]

    # --- HTTP ----------------------------------------------------------------
    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # else 40 ms delayed-ACK stalls per response

            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, code: int, body: Obj) -> None:
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _handle(self, method: str) -> None:
                url = urlparse(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                body = json.loads(raw) if raw else None
                found = next(((p.match(url.path), r) for p, r in ROUTES if p.match(url.path)), None)
                if found is None or found[0] is None:
                    self._send(404, status_body(404, "NotFound", f"no route {url.path}"))
                    return
                match, resource = found
                assert match is not None
                ctype = self.headers.get("Content-Type", "")
                with fake.lock:
                    fake.requests.append(Request(method, url.path, resource, ctype, body))
                    fault = next(
                        (f for f in fake.faults if f[0] == method and f[1] == resource), None
                    )
                    if fault is not None:
                        fake.faults.remove(fault)
                if fault is not None:
                    self._send(fault[2], status_body(fault[2], "Injected", "injected fault"))
                    return
                code, answer = fake.serve(
                    method, resource, match.groups(), parse_qs(url.query), ctype, body
                )
                self._send(code, answer)

            def do_GET(self) -> None:
                self._handle("GET")

            def do_PATCH(self) -> None:
                self._handle("PATCH")

        return Handler

    def serve(
        self,
        method: str,
        resource: str,
        groups: tuple[str, ...],
        query: dict[str, list[str]],
        ctype: str,
        body: Any,
    ) -> tuple[int, Obj]:
        ns = groups[0]
        if resource == "replicasets" and method == "GET":
            want = dict(
                t.split("=", 1)
                for t in (query.get("labelSelector") or [""])[0].split(",")
                if "=" in t
            )
            with self.lock:
                objs = [
                    self.objects[("replicasets", ns, n)]
                    for n in sorted(self.names.get(("replicasets", ns), ()))
                ]
                items = [copy.deepcopy(o) for o in objs if labels_match(o, want)]
            return 200, {"kind": "ReplicaSetList", "apiVersion": "apps/v1", "items": items}
        base = "rollouts" if resource == "rollouts/status" else resource
        key = (base, ns, groups[1])
        with self.lock:
            current = self.objects.get(key)
            if current is None:
                return 404, status_body(404, "NotFound", f"{base} {groups[1]} not found")
            if method == "GET":
                return 200, copy.deepcopy(current)
            try:
                if "json-patch" in ctype:
                    patched = json_patch(current, body)
                else:
                    patched = merge_patch(current, body)
            except (ValueError, KeyError, TypeError) as exc:
                return 422, status_body(422, "Invalid", str(exc))
            sent_rv = patched.get("metadata", {}).get("resourceVersion")
            if sent_rv != current["metadata"]["resourceVersion"]:
                return 409, status_body(
                    409,
                    "Conflict",
                    "the object has been modified; please "
                    "apply your changes to the latest version and try again",
                )
            if resource == "rollouts/status":  # status subresource: only status changes
                patched = {**copy.deepcopy(current), "status": patched.get("status", {})}
            elif base == "rollouts":  # main resource ignores status (subresource enabled)
                patched["status"] = copy.deepcopy(current.get("status", {}))
            patched["metadata"]["resourceVersion"] = self._next_version()
            self.objects[key] = patched
            return 200, copy.deepcopy(patched)

    # --- a deployment controller, just enough ---------------------------------
    def reconcile_deployment(self, name: str, namespace: str = "default") -> None:
        """What the controller does after a template change: re-use or create an RS."""
        dep = self.get("deployments", name, namespace)
        template = no_hash(dep["spec"]["template"])
        rss = [
            o
            for (r, n, _), o in self.objects.items()
            if r == "replicasets" and n == namespace and owned_by(o, dep)
        ]
        top = max([int(o["metadata"]["annotations"][REV]) for o in rss] or [0])
        live = next((o for o in rss if no_hash(o["spec"]["template"]) == template), None)
        if live is None:
            new_rev = top + 1
            self.put("replicasets", make_rs(dep, new_rev, template))
        elif int(live["metadata"]["annotations"][REV]) != top:
            new_rev = top + 1
            ann = live["metadata"]["annotations"]
            ann[HIST] = ",".join([h for h in ann.get(HIST, "").split(",") if h] + [ann[REV]])
            ann[REV] = str(new_rev)
            self.put("replicasets", live)
        else:
            new_rev = top
        dep = self.get("deployments", name, namespace)
        dep["metadata"].setdefault("annotations", {})[REV] = str(new_rev)
        self.put("deployments", dep)
