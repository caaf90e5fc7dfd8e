#!/usr/bin/env python3
"""Checks the Kubernetes manifests in deploy/k8s against Sluice's deployment rules.

    python tests/deploy/check_manifests.py [deploy/k8s] [--renderer auto|python|kubectl|kustomize]
                                           [--monitoring-namespace monitoring] [--require-schema]

Renders the kustomization and asserts:
  * the namespace enforces the "restricted" Pod Security Standard;
  * every pod: automountServiceAccountToken false (and its ServiceAccount too), runAsNonRoot with
    a fixed non-root uid, RuntimeDefault seccomp, no host namespaces or hostPath;
  * every container: allowPrivilegeEscalation false, readOnlyRootFilesystem true, capabilities
    drop ALL (adds none), not privileged, CPU/memory requests and a memory limit; every path the
    binary writes (control-plane data dir, data-plane cache dir, /tmp) is a writable volume,
    the control plane's data dir being its PersistentVolumeClaim;
  * secrets: every value in a Secret is a placeholder the binary refuses (< 16 bytes, not valid
    base64 of 32 bytes, not PEM) and the tokens reach the pods only through secretKeyRef/secretRef;
  * services: nothing exposes the admin (8001), gRPC (8002) or ops (9090) ports outside the
    cluster (no LoadBalancer/NodePort/externalIPs, no Ingress to them);
  * NetworkPolicies, evaluated (not just looked at): a default-deny for sluice pods, and a
    matrix of (source, destination pod, port) connections that must be allowed or denied;
  * gRPC over TLS: the data plane's control-plane URL is https:// to the control-plane Service
    and its CA comes from a Secret without the server key; the control plane serves gRPC with a
    kubernetes.io/tls Secret;
  * with `kubernetes-validate` installed: every object validates against the Kubernetes schema.

The renderer is `kubectl kustomize` or `kustomize build` when either is installed (`auto`
uses both the minimal built-in renderer and the real one, and checks they agree); without
them the built-in renderer handles the kustomize features these manifests use and refuses
any other. Needs PyYAML; `kubernetes-validate` is optional (`--require-schema` makes it
mandatory). Exits non-zero on any failure.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import copy
import ipaddress
import os
import re
import shutil
import subprocess
import sys
from typing import Any, Callable

import yaml

WORKLOAD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob", "Pod"}
CLUSTER_SCOPED = {
    "Namespace", "ClusterRole", "ClusterRoleBinding", "PersistentVolume", "StorageClass",
    "CustomResourceDefinition", "PriorityClass", "IngressClass", "RuntimeClass",
    "ValidatingWebhookConfiguration", "MutatingWebhookConfiguration", "APIService",
}
ADMIN_PORT, GRPC_PORT, OPS_PORT, PROXY_PORT = 8001, 8002, 9090, 8000
TOKEN_VARS = ("SLUICE_ADMIN_TOKEN", "SLUICE_DATAPLANE_TOKEN", "SLUICE_MASTER_KEY")
MIN_TOKEN_BYTES = 16


# --------------------------------------------------------------------------------------------
# Minimal kustomize renderer
# --------------------------------------------------------------------------------------------

class RenderError(Exception):
    pass


KNOWN_KUSTOMIZATION_KEYS = {
    "apiVersion", "kind", "namespace", "resources", "configMapGenerator", "secretGenerator",
    "images", "patches", "generatorOptions",
}


def _load_docs(path: str) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


def _kustomization_file(directory: str) -> str:
    for name in ("kustomization.yaml", "kustomization.yml", "Kustomization"):
        p = os.path.join(directory, name)
        if os.path.isfile(p):
            return p
    raise RenderError(f"no kustomization file in {directory}")


def _generated(gen: dict, base: str, kind: str) -> dict:
    data: dict[str, str] = {}
    for lit in gen.get("literals", []) or []:
        k, _, v = lit.partition("=")
        data[k] = v
    for entry in gen.get("files", []) or []:
        key, sep, rel = entry.partition("=")
        if not sep:
            key, rel = os.path.basename(entry), entry
        full = os.path.normpath(os.path.join(base, rel))
        if not full.startswith(os.path.normpath(base) + os.sep):
            raise RenderError(f"{entry}: kustomize refuses files outside {base}")
        with open(full, encoding="utf-8") as f:
            data[key] = f.read()
    for env in gen.get("envs", []) or []:
        with open(os.path.join(base, env), encoding="utf-8") as f:
            for line in f:
                line = line.strip()
                if line and not line.startswith("#"):
                    k, _, v = line.partition("=")
                    data[k] = v
    obj: dict[str, Any] = {"apiVersion": "v1", "kind": kind, "metadata": {"name": gen["name"]}}
    if kind == "Secret":
        obj["type"] = gen.get("type", "Opaque")
        obj["data"] = {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}
    else:
        obj["data"] = data
    return obj


def _pointer(path: str) -> list[str]:
    if not path.startswith("/"):
        raise RenderError(f"bad JSON pointer {path!r}")
    return [p.replace("~1", "/").replace("~0", "~") for p in path.split("/")[1:]]


def _json6902(doc: dict, ops: list[dict]) -> None:
    for op in ops:
        parts = _pointer(op["path"])
        parent: Any = doc
        for p in parts[:-1]:
            parent = parent[int(p)] if isinstance(parent, list) else parent[p]
        last = parts[-1]
        kind = op["op"]
        if isinstance(parent, list):
            idx = len(parent) if last == "-" else int(last)
            if kind == "add":
                parent.insert(idx, copy.deepcopy(op["value"]))
            elif kind == "replace":
                parent[idx] = copy.deepcopy(op["value"])
            elif kind == "remove":
                del parent[idx]
            elif kind == "test":
                if parent[idx] != op["value"]:
                    raise RenderError(f"patch test failed at {op['path']}")
            else:
                raise RenderError(f"unsupported patch op {kind}")
        else:
            if kind in ("add", "replace"):
                if kind == "replace" and last not in parent:
                    raise RenderError(f"replace: {op['path']} does not exist")
                parent[last] = copy.deepcopy(op["value"])
            elif kind == "remove":
                del parent[last]
            elif kind == "test":
                if parent.get(last) != op["value"]:
                    raise RenderError(f"patch test failed at {op['path']}")
            else:
                raise RenderError(f"unsupported patch op {kind}")


def _label_selector_matches(selector: str, labels: dict) -> bool:
    for term in filter(None, (t.strip() for t in selector.split(","))):
        if "!=" in term:
            k, v = term.split("!=", 1)
            if labels.get(k.strip()) == v.strip():
                return False
        elif "=" in term:
            k, v = term.split("==", 1) if "==" in term else term.split("=", 1)
            if labels.get(k.strip()) != v.strip():
                return False
        elif labels.get(term) is None:
            return False
    return True


def _target_matches(target: dict, obj: dict) -> bool:
    meta = obj.get("metadata", {})
    if "kind" in target and not re.fullmatch(target["kind"], obj.get("kind", "")):
        return False
    if "name" in target and not re.fullmatch(target["name"], meta.get("name", "")):
        return False
    if "labelSelector" in target and not _label_selector_matches(
            target["labelSelector"], meta.get("labels", {}) or {}):
        return False
    if "annotationSelector" in target:
        raise RenderError("patches: annotationSelector is not supported by the minimal renderer")
    return True


def _set_images(obj: dict, images: list[dict]) -> None:
    spec = _pod_spec(obj)
    if spec is None:
        return
    for c in spec.get("containers", []) + spec.get("initContainers", []):
        img = c.get("image", "")
        name, tag = img, None
        if "@" in img:
            name = img.split("@", 1)[0]
        elif ":" in img.rsplit("/", 1)[-1]:
            name, tag = img.rsplit(":", 1)
        for rule in images:
            if rule["name"] != name:
                continue
            new = rule.get("newName", name)
            if "digest" in rule:
                c["image"] = f"{new}@{rule['digest']}"
            elif "newTag" in rule:
                c["image"] = f"{new}:{rule['newTag']}"
            else:
                c["image"] = new + (f":{tag}" if tag else "")


def render_python(directory: str) -> list[dict]:
    """Renders a kustomization with the features these manifests use (and refuses others)."""
    kfile = _kustomization_file(directory)
    with open(kfile, encoding="utf-8") as f:
        k = yaml.safe_load(f) or {}
    unknown = set(k) - KNOWN_KUSTOMIZATION_KEYS
    if unknown:
        raise RenderError(f"{kfile}: {sorted(unknown)} not supported by the minimal renderer; "
                          "install kubectl or kustomize")
    objs: list[dict] = []
    for res in k.get("resources", []) or []:
        path = os.path.join(directory, res)
        if os.path.isdir(path):
            objs.extend(render_python(path))
        else:
            objs.extend(_load_docs(path))
    for gen in k.get("configMapGenerator", []) or []:
        objs.append(_generated(gen, directory, "ConfigMap"))
    for gen in k.get("secretGenerator", []) or []:
        objs.append(_generated(gen, directory, "Secret"))
    for patch in k.get("patches", []) or []:
        if "path" in patch:
            with open(os.path.join(directory, patch["path"]), encoding="utf-8") as f:
                body = yaml.safe_load(f)
        else:
            body = yaml.safe_load(patch["patch"])
        if not isinstance(body, list):
            raise RenderError("patches: only JSON6902 patches are supported by the minimal renderer")
        target = patch.get("target") or {}
        hits = [o for o in objs if _target_matches(target, o)]
        if not hits:
            raise RenderError(f"patch target {target} matches nothing")
        for o in hits:
            _json6902(o, body)
    for o in objs:
        _set_images(o, k.get("images", []) or [])
    ns = k.get("namespace")
    if ns:
        for o in objs:
            if o.get("kind") == "Namespace":
                o["metadata"]["name"] = ns
            elif o.get("kind") not in CLUSTER_SCOPED:
                o.setdefault("metadata", {})["namespace"] = ns
    return objs


def render_external(directory: str, tool: str) -> list[dict]:
    cmd = ["kubectl", "kustomize", directory] if tool == "kubectl" else ["kustomize", "build", directory]
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        raise RenderError(f"{' '.join(cmd)} failed:\n{out.stderr}")
    return [d for d in yaml.safe_load_all(out.stdout) if d is not None]


def strip_generated_hashes(objs: list[dict], directory: str) -> list[dict]:
    """Drops kustomize's content-hash suffix from generated names so renders compare equal."""
    with open(_kustomization_file(directory), encoding="utf-8") as f:
        k = yaml.safe_load(f) or {}
    names = [g["name"] for g in (k.get("configMapGenerator") or []) + (k.get("secretGenerator") or [])]
    if not names:
        return objs
    pattern = re.compile(r"^(" + "|".join(map(re.escape, names)) + r")-[a-z0-9]{10}$")

    def walk(v: Any) -> Any:
        if isinstance(v, dict):
            return {kk: walk(vv) for kk, vv in v.items()}
        if isinstance(v, list):
            return [walk(x) for x in v]
        if isinstance(v, str):
            m = pattern.match(v)
            return m.group(1) if m else v
        return v

    return [walk(o) for o in objs]


# --------------------------------------------------------------------------------------------
# Helpers over rendered objects
# --------------------------------------------------------------------------------------------

def _pod_spec(obj: dict) -> dict | None:
    kind = obj.get("kind")
    if kind == "Pod":
        return obj.get("spec")
    if kind == "CronJob":
        return obj["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    if kind in WORKLOAD_KINDS:
        return obj["spec"]["template"]["spec"]
    return None


def _pod_labels(obj: dict) -> dict:
    if obj.get("kind") == "Pod":
        return obj["metadata"].get("labels", {}) or {}
    if obj.get("kind") == "CronJob":
        return obj["spec"]["jobTemplate"]["spec"]["template"]["metadata"].get("labels", {}) or {}
    return obj["spec"]["template"]["metadata"].get("labels", {}) or {}


def kn(obj: dict) -> str:
    return f"{obj.get('kind')}/{obj.get('metadata', {}).get('name')}"


def find(objs: list[dict], kind: str, name: str | None = None) -> list[dict]:
    return [o for o in objs if o.get("kind") == kind
            and (name is None or o.get("metadata", {}).get("name") == name)]


def arg_value(container: dict, flag: str, env: str | None = None) -> str | None:
    """A flag's value from args/command (`--f=v` or `--f v`), else a literal env value."""
    argv = list(container.get("command", []) or []) + list(container.get("args", []) or [])
    for i, a in enumerate(argv):
        if a == flag and i + 1 < len(argv):
            return argv[i + 1]
        if a.startswith(flag + "="):
            return a[len(flag) + 1:]
    for e in container.get("env", []) or []:
        if env and e.get("name") == env and "value" in e:
            return e["value"]
    return None


def volume_for_path(spec: dict, container: dict, path: str) -> tuple[dict | None, dict | None]:
    """The (volumeMount, volume) holding `path` (longest mountPath prefix)."""
    best = None
    for m in container.get("volumeMounts", []) or []:
        mp = m["mountPath"].rstrip("/") or "/"
        if path == mp or path.startswith(mp + "/"):
            if best is None or len(mp) > len(best["mountPath"]):
                best = m
    if best is None:
        return None, None
    for v in spec.get("volumes", []) or []:
        if v["name"] == best["name"]:
            return best, v
    return best, {"name": best["name"], "_claimTemplate": True}


# --------------------------------------------------------------------------------------------
# NetworkPolicy evaluation
# --------------------------------------------------------------------------------------------

def _selector_matches(sel: dict | None, labels: dict) -> bool:
    """A metav1.LabelSelector; an empty selector matches everything."""
    if sel is None:
        return True
    for k, v in (sel.get("matchLabels") or {}).items():
        if labels.get(k) != v:
            return False
    for expr in sel.get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], expr.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and key in labels and labels[key] in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


class Source:
    """A connection's origin: a pod (namespace + labels) or an address outside the cluster."""

    def __init__(self, desc: str, namespace: str | None = None, ns_labels: dict | None = None,
                 pod_labels: dict | None = None, ip: str = "10.0.0.1"):
        self.desc, self.namespace = desc, namespace
        self.ns_labels = ns_labels or {}
        self.pod_labels = pod_labels or {}
        self.ip = ipaddress.ip_address(ip)


def _peer_matches(peer: dict, policy_ns: str, src: Source) -> bool:
    if "ipBlock" in peer:
        block = peer["ipBlock"]
        if src.ip not in ipaddress.ip_network(block["cidr"]):
            return False
        return not any(src.ip in ipaddress.ip_network(e) for e in block.get("except", []) or [])
    if src.namespace is None:  # outside the cluster: only ipBlock peers match
        return False
    if "namespaceSelector" in peer:
        if not _selector_matches(peer["namespaceSelector"], src.ns_labels):
            return False
    elif src.namespace != policy_ns:
        return False
    return _selector_matches(peer.get("podSelector"), src.pod_labels)


def _port_matches(rule_port: dict, port: int, named: dict[str, int]) -> bool:
    if (rule_port.get("protocol") or "TCP") != "TCP":
        return False
    p = rule_port.get("port")
    if p is None:
        return True
    if isinstance(p, str):
        p = named.get(p, -1)
    return p <= port <= rule_port.get("endPort", p)


def connection_allowed(policies: list[dict], dest_ns: str, dest_labels: dict,
                       named_ports: dict[str, int], port: int, src: Source) -> bool:
    selecting = [p for p in policies
                 if p["metadata"].get("namespace") == dest_ns
                 and _selector_matches(p["spec"].get("podSelector") or {}, dest_labels)
                 and "Ingress" in (p["spec"].get("policyTypes") or ["Ingress"])]
    if not selecting:
        return True
    for pol in selecting:
        for rule in pol["spec"].get("ingress") or []:
            peers = rule.get("from")
            ports = rule.get("ports")
            peer_ok = not peers or any(_peer_matches(pe, dest_ns, src) for pe in peers)
            port_ok = not ports or any(_port_matches(rp, port, named_ports) for rp in ports)
            if peer_ok and port_ok:
                return True
    return False


# --------------------------------------------------------------------------------------------
# Checks
# --------------------------------------------------------------------------------------------

class Report:
    def __init__(self, label: str):
        self.label = label
        self.passed = 0
        self.failures: list[str] = []

    def check(self, ok: bool, what: str) -> bool:
        if ok:
            self.passed += 1
        else:
            self.failures.append(what)
        return ok


def _sc(container: dict, pod_sc: dict, key: str) -> Any:
    c = container.get("securityContext") or {}
    return c[key] if key in c else pod_sc.get(key)


def check_workloads(objs: list[dict], r: Report) -> None:
    for ns in find(objs, "Namespace"):
        labels = ns["metadata"].get("labels") or {}
        r.check(labels.get("pod-security.kubernetes.io/enforce") == "restricted",
                f"{kn(ns)}: must enforce the restricted Pod Security Standard")
    workloads = [o for o in objs if o.get("kind") in WORKLOAD_KINDS]
    r.check(len(workloads) >= 2, f"expected the control plane and data plane workloads, found {len(workloads)}")
    sas = {o["metadata"]["name"]: o for o in find(objs, "ServiceAccount")}
    for w in workloads:
        spec = _pod_spec(w)
        name = kn(w)
        psc = spec.get("securityContext") or {}
        r.check(spec.get("automountServiceAccountToken") is False,
                f"{name}: pod automountServiceAccountToken must be false")
        sa = spec.get("serviceAccountName")
        if sa and sa != "default":
            r.check(sa in sas, f"{name}: ServiceAccount {sa} is not in the manifests")
            if sa in sas:
                r.check(sas[sa].get("automountServiceAccountToken") is False,
                        f"ServiceAccount/{sa}: automountServiceAccountToken must be false")
        for host in ("hostNetwork", "hostPID", "hostIPC"):
            r.check(not spec.get(host), f"{name}: {host} must not be set")
        for v in spec.get("volumes", []) or []:
            r.check("hostPath" not in v, f"{name}: hostPath volume {v['name']}")
        r.check(psc.get("runAsNonRoot") is True, f"{name}: pod securityContext.runAsNonRoot must be true")
        containers = (spec.get("initContainers") or []) + (spec.get("containers") or [])
        for c in containers:
            cn = f"{name} container {c['name']}"
            csc = c.get("securityContext") or {}
            r.check(csc.get("allowPrivilegeEscalation") is False, f"{cn}: allowPrivilegeEscalation must be false")
            r.check(csc.get("readOnlyRootFilesystem") is True, f"{cn}: readOnlyRootFilesystem must be true")
            r.check(not csc.get("privileged"), f"{cn}: privileged must not be true")
            caps = csc.get("capabilities") or {}
            r.check("ALL" in (caps.get("drop") or []), f"{cn}: capabilities.drop must contain ALL")
            r.check(not caps.get("add"), f"{cn}: capabilities.add must be empty")
            r.check(_sc(c, psc, "runAsNonRoot") is True, f"{cn}: runAsNonRoot must be true")
            uid = _sc(c, psc, "runAsUser")
            r.check(isinstance(uid, int) and uid > 0, f"{cn}: runAsUser must be a fixed non-root uid (got {uid})")
            gid = _sc(c, psc, "runAsGroup")
            r.check(gid is None or (isinstance(gid, int) and gid > 0), f"{cn}: runAsGroup must not be root")
            seccomp = (_sc(c, psc, "seccompProfile") or {}).get("type")
            r.check(seccomp == "RuntimeDefault", f"{cn}: seccompProfile must be RuntimeDefault (got {seccomp})")
            res = c.get("resources") or {}
            req, lim = res.get("requests") or {}, res.get("limits") or {}
            r.check("cpu" in req and "memory" in req, f"{cn}: needs cpu and memory requests")
            r.check("memory" in lim, f"{cn}: needs a memory limit")
            img = c.get("image", "")
            r.check(bool(img) and not img.endswith(":latest") and (":" in img.rsplit("/", 1)[-1] or "@" in img),
                    f"{cn}: image must be pinned (got {img!r})")
            # Every writable path the binary uses is a volume (the root filesystem is read-only).
            for path in ["/tmp"] + [p for p in (arg_value(c, "--data-dir", "SLUICE_DATA_DIR"),
                                                 arg_value(c, "--cache-dir", "SLUICE_CACHE_DIR")) if p]:
                m, v = volume_for_path(spec, c, path)
                r.check(m is not None and not m.get("readOnly"), f"{cn}: {path} must be on a writable volume")
                if v is not None:
                    writable = "emptyDir" in v or "persistentVolumeClaim" in v or v.get("_claimTemplate")
                    r.check(bool(writable), f"{cn}: {path} is on volume {v['name']}, not emptyDir/PVC")


def _sluice_containers(objs: list[dict], component: str) -> list[tuple[dict, dict, dict]]:
    out = []
    for w in objs:
        if w.get("kind") in WORKLOAD_KINDS and _pod_labels(w).get("app.kubernetes.io/component") == component:
            spec = _pod_spec(w)
            for c in spec.get("containers", []):
                out.append((w, spec, c))
    return out


def check_controlplane_storage(objs: list[dict], r: Report) -> None:
    cps = _sluice_containers(objs, "controlplane")
    r.check(len(cps) == 1, f"expected one control-plane container, found {len(cps)}")
    for w, spec, c in cps:
        data_dir = arg_value(c, "--data-dir", "SLUICE_DATA_DIR") or "/var/lib/sluice"
        m, _ = volume_for_path(spec, c, data_dir)
        claims = {t["metadata"]["name"] for t in (w["spec"].get("volumeClaimTemplates") or [])}
        pvcs = {v["name"] for v in spec.get("volumes", []) or [] if "persistentVolumeClaim" in v}
        r.check(m is not None and m["name"] in claims | pvcs,
                f"{kn(w)}: the data dir {data_dir} must be on a PersistentVolumeClaim")


def _secret_values(secret: dict) -> dict[str, bytes]:
    vals = {k: str(v).encode() for k, v in (secret.get("stringData") or {}).items()}
    for k, v in (secret.get("data") or {}).items():
        vals[k] = base64.b64decode(v)
    return vals


def check_secrets(objs: list[dict], r: Report) -> None:
    secrets = {s["metadata"]["name"]: s for s in find(objs, "Secret")}
    for name, s in secrets.items():
        for key, val in _secret_values(s).items():
            r.check(len(val) < MIN_TOKEN_BYTES,
                    f"Secret/{name}: {key} is {len(val)} bytes: shipped values must be placeholders "
                    f"shorter than {MIN_TOKEN_BYTES} bytes, which the binary refuses")
            r.check(b"-----BEGIN" not in val, f"Secret/{name}: {key} must not be a real PEM")
            if key == "SLUICE_MASTER_KEY":
                try:
                    decoded = base64.b64decode(val, validate=True)
                    r.check(len(decoded) != 32, f"Secret/{name}: SLUICE_MASTER_KEY decodes to a usable 32-byte key")
                except (binascii.Error, ValueError):
                    r.passed += 1
    main = secrets.get("sluice-secrets")
    if r.check(main is not None, "Secret/sluice-secrets (placeholders) is missing"):
        keys = set(_secret_values(main))
        for var in TOKEN_VARS:
            r.check(var in keys, f"Secret/sluice-secrets: missing {var}")
    # Tokens reach containers only from Secrets; every reference resolves.
    for w in (o for o in objs if o.get("kind") in WORKLOAD_KINDS):
        spec = _pod_spec(w)
        for c in spec.get("containers", []) + (spec.get("initContainers") or []):
            for e in c.get("env", []) or []:
                if e["name"] in TOKEN_VARS:
                    r.check("value" not in e, f"{kn(w)}: {e['name']} must come from a Secret, not a literal")
                ref = (e.get("valueFrom") or {}).get("secretKeyRef")
                if ref:
                    s = secrets.get(ref["name"])
                    r.check(s is not None and ref["key"] in _secret_values(s),
                            f"{kn(w)}: env {e['name']} references missing {ref['name']}/{ref['key']}")
            for ef in c.get("envFrom", []) or []:
                if "secretRef" in ef:
                    r.check(ef["secretRef"]["name"] in secrets,
                            f"{kn(w)}: envFrom references missing Secret {ef['secretRef']['name']}")
        for v in spec.get("volumes", []) or []:
            if "secret" in v:
                r.check(v["secret"]["secretName"] in secrets,
                        f"{kn(w)}: volume {v['name']} references missing Secret {v['secret']['secretName']}")


def check_services(objs: list[dict], r: Report) -> None:
    internal_ports = {ADMIN_PORT, GRPC_PORT, OPS_PORT}
    internal_names = {"admin", "grpc", "ops"}
    cp_services = set()
    for svc in find(objs, "Service"):
        spec = svc["spec"]
        typ = spec.get("type", "ClusterIP")
        if (spec.get("selector") or {}).get("app.kubernetes.io/component") == "controlplane":
            cp_services.add(svc["metadata"]["name"])
        for p in spec.get("ports", []) or []:
            internal = p.get("port") in internal_ports or p.get("targetPort") in internal_ports \
                or p.get("targetPort") in internal_names
            if internal:
                r.check(typ == "ClusterIP" and not spec.get("externalIPs"),
                        f"{kn(svc)}: port {p.get('name')} ({p.get('port')}) exposed as {typ} "
                        f"{'with externalIPs' if spec.get('externalIPs') else ''}")
            if p.get("port") == ADMIN_PORT or p.get("targetPort") in (ADMIN_PORT, "admin"):
                r.check(typ not in ("LoadBalancer", "NodePort"), f"{kn(svc)}: admin port must not be {typ}")
    for ing in find(objs, "Ingress"):
        text = yaml.safe_dump(ing)
        for name in cp_services:
            r.check(f"name: {name}\n" not in text, f"{kn(ing)}: routes to the control plane")
        r.check(str(ADMIN_PORT) not in text, f"{kn(ing)}: routes to the admin port")
    for kind in ("HTTPRoute", "GRPCRoute", "TCPRoute"):
        r.check(not find(objs, kind), f"{kind} objects must not expose the planes by default")


def check_network_policies(objs: list[dict], r: Report, monitoring_ns: str) -> None:
    policies = find(objs, "NetworkPolicy")
    r.check(len(policies) > 0, "no NetworkPolicy objects")
    workloads = {}
    for comp in ("controlplane", "dataplane"):
        found = _sluice_containers(objs, comp)
        if not r.check(bool(found), f"no {comp} workload"):
            return
        w, spec, c = found[0]
        named = {p["name"]: p["containerPort"] for p in c.get("ports", []) or [] if "name" in p}
        workloads[comp] = (w["metadata"].get("namespace", "default"), _pod_labels(w), named)
    ns = workloads["dataplane"][0]

    # A default deny: a policy selecting every sluice pod with no ingress rule at all.
    deny = [p for p in policies
            if not (p["spec"].get("ingress"))
            and "Ingress" in (p["spec"].get("policyTypes") or ["Ingress"])
            and all(_selector_matches(p["spec"].get("podSelector") or {}, labels)
                    for _, labels, _ in workloads.values())]
    r.check(bool(deny), "no default-deny ingress NetworkPolicy selecting every sluice pod")
    for p in policies:
        for rule in p["spec"].get("ingress") or []:
            r.check(bool(rule.get("ports")), f"{kn(p)}: every ingress rule must name its ports")

    def ns_labels(name: str, extra: dict | None = None) -> dict:
        return {"kubernetes.io/metadata.name": name, **(extra or {})}

    dp_labels, cp_labels = workloads["dataplane"][1], workloads["controlplane"][1]
    sources = {
        "internet": Source("a client outside the cluster", ip="203.0.113.7"),
        "other-ns": Source("a pod in another namespace", "apps", ns_labels("apps"), {"app": "web"}),
        "other-ns-dp": Source("a pod in another namespace with data-plane labels", "apps",
                              ns_labels("apps"), dict(dp_labels)),
        "other-ns-admin": Source("a pod in another namespace labelled sluice-admin-client", "apps",
                                 ns_labels("apps"), {"sluice-admin-client": "true"}),
        "same-ns": Source("an unlabelled pod in the sluice namespace", ns, ns_labels(ns), {"app": "debug"}),
        "dataplane": Source("a data-plane pod", ns, ns_labels(ns), dict(dp_labels)),
        "admin-client": Source("a sluice-admin-client pod in the sluice namespace", ns, ns_labels(ns),
                               {"sluice-admin-client": "true"}),
        "monitoring": Source(f"a pod in the {monitoring_ns} namespace", monitoring_ns,
                             ns_labels(monitoring_ns), {"app.kubernetes.io/name": "prometheus"}),
    }
    everyone = set(sources)
    # (component, port) -> the sources allowed; everyone else must be denied.
    matrix = {
        ("dataplane", PROXY_PORT): everyone,
        ("dataplane", OPS_PORT): {"monitoring"},
        ("dataplane", ADMIN_PORT): set(),
        ("dataplane", GRPC_PORT): set(),
        ("dataplane", 22): set(),
        ("controlplane", GRPC_PORT): {"dataplane"},
        # /metrics is served on the admin port: the monitoring namespace needs it.
        ("controlplane", ADMIN_PORT): {"admin-client", "monitoring"},
        ("controlplane", OPS_PORT): set(),
        ("controlplane", PROXY_PORT): set(),
        ("controlplane", 22): set(),
    }
    for (comp, port), allowed in matrix.items():
        dest_ns, labels, named = workloads[comp]
        for key, src in sources.items():
            got = connection_allowed(policies, dest_ns, labels, named, port, src)
            want = key in allowed
            r.check(got == want, f"NetworkPolicy: {src.desc} -> {comp}:{port} is "
                                 f"{'allowed' if got else 'denied'}, must be {'allowed' if want else 'denied'}")


def check_grpc_tls(objs: list[dict], r: Report) -> None:
    secrets = {s["metadata"]["name"]: s for s in find(objs, "Secret")}
    services = find(objs, "Service")
    cp_svcs = [s for s in services
               if (s["spec"].get("selector") or {}).get("app.kubernetes.io/component") == "controlplane"]
    for w, spec, c in _sluice_containers(objs, "controlplane"):
        cert = arg_value(c, "--grpc-tls-cert", "SLUICE_GRPC_TLS_CERT")
        key = arg_value(c, "--grpc-tls-key", "SLUICE_GRPC_TLS_KEY")
        if not r.check(bool(cert and key), f"{kn(w)}: --grpc-tls-cert and --grpc-tls-key must be set"):
            continue
        for path, want_key in ((cert, "tls.crt"), (key, "tls.key")):
            m, v = volume_for_path(spec, c, path)
            secret_name = (v or {}).get("secret", {}).get("secretName")
            ok = r.check(secret_name in secrets, f"{kn(w)}: {path} must come from a mounted Secret")
            if ok:
                s = secrets[secret_name]
                r.check(s.get("type") == "kubernetes.io/tls",
                        f"Secret/{secret_name}: must be of type kubernetes.io/tls")
                r.check(os.path.basename(path) == want_key and want_key in _secret_values(s),
                        f"{kn(w)}: {path} must be the Secret's {want_key}")
    for w, spec, c in _sluice_containers(objs, "dataplane"):
        url = arg_value(c, "--control-plane", "SLUICE_CONTROL_PLANE")
        if not r.check(bool(url), f"{kn(w)}: --control-plane must be set (managed mode)"):
            continue
        r.check(url.startswith("https://"), f"{kn(w)}: control-plane URL {url} must be https://")
        m = re.match(r"^https?://([^/:]+):(\d+)", url)
        if r.check(bool(m), f"{kn(w)}: control-plane URL {url} needs host and port"):
            host, port = m.group(1), int(m.group(2))
            svc = [s for s in cp_svcs if host.split(".")[0] == s["metadata"]["name"]]
            if r.check(bool(svc), f"{kn(w)}: {host} is not the control-plane Service"):
                r.check(any(p.get("port") == port and p.get("targetPort") in ("grpc", GRPC_PORT)
                            for p in svc[0]["spec"]["ports"]),
                        f"{kn(w)}: port {port} is not the control-plane Service's gRPC port")
        ca = arg_value(c, "--control-plane-ca", "SLUICE_CONTROL_PLANE_CA")
        if r.check(bool(ca), f"{kn(w)}: --control-plane-ca must be set"):
            _, v = volume_for_path(spec, c, ca)
            secret_name = (v or {}).get("secret", {}).get("secretName")
            if r.check(secret_name in secrets, f"{kn(w)}: {ca} must come from a mounted Secret"):
                vals = _secret_values(secrets[secret_name])
                items = [i["key"] for i in (v["secret"].get("items") or [])] or list(vals)
                r.check(os.path.basename(ca) in items and os.path.basename(ca) in vals,
                        f"{kn(w)}: {ca} is not a key of Secret/{secret_name}")
                r.check("tls.key" not in items, f"{kn(w)}: data planes must not mount the server's tls.key")


def check_schema(objs: list[dict], r: Report, require: bool) -> str:
    try:
        import kubernetes_validate  # type: ignore
    except ImportError:
        r.check(not require, "kubernetes-validate is not installed (--require-schema)")
        return "skipped (pip install kubernetes-validate)"
    version = kubernetes_validate.latest_version()
    for o in objs:
        try:
            kubernetes_validate.validate(o, version, strict=True)
            r.passed += 1
        except kubernetes_validate.ValidationError as e:
            path = ".".join(str(p) for p in e.path)
            r.check(False, f"{kn(o)}: schema {version}: {path}: {e.message}")
        except (kubernetes_validate.SchemaNotFoundError, kubernetes_validate.InvalidSchemaError) as e:
            r.check(False, f"{kn(o)}: no schema: {e}")
    return f"kubernetes-validate {version} (strict)"


def check_seed_copy(directory: str, r: Report) -> None:
    """deploy/k8s/seed.toml is a copy of config/sluice.toml (kustomize loads no file outside
    its directory): when both are in this checkout, they must not drift apart."""
    seed = os.path.join(directory, "seed.toml")
    canonical = os.path.join(directory, "..", "..", "config", "sluice.toml")
    if os.path.isfile(seed) and os.path.isfile(canonical):
        with open(seed, encoding="utf-8") as a, open(canonical, encoding="utf-8") as b:
            r.check(a.read() == b.read(), f"{seed} differs from config/sluice.toml: copy it again "
                                          f"(cp config/sluice.toml {seed})")


def run_checks(objs: list[dict], label: str, args: argparse.Namespace) -> Report:
    r = Report(label)
    checks: list[tuple[str, Callable[[], Any]]] = [
        ("pod and container security", lambda: check_workloads(objs, r)),
        ("control-plane storage", lambda: check_controlplane_storage(objs, r)),
        ("secrets", lambda: check_secrets(objs, r)),
        ("services", lambda: check_services(objs, r)),
        ("network policies", lambda: check_network_policies(objs, r, args.monitoring_namespace)),
        ("gRPC TLS", lambda: check_grpc_tls(objs, r)),
        ("seed config copy", lambda: check_seed_copy(os.path.normpath(args.dir), r)),
    ]
    for name, fn in checks:
        before_p, before_f = r.passed, len(r.failures)
        try:
            fn()
        except Exception as e:  # a malformed manifest is a failure, not a crash
            r.failures.append(f"{name}: {type(e).__name__}: {e}")
        print(f"  {'ok  ' if len(r.failures) == before_f else 'FAIL'} {name}: "
              f"{r.passed - before_p} passed, {len(r.failures) - before_f} failed")
    before_p, before_f = r.passed, len(r.failures)
    how = check_schema(objs, r, args.require_schema)
    print(f"  {'ok  ' if len(r.failures) == before_f else 'FAIL'} schema: {how}: "
          f"{r.passed - before_p} passed, {len(r.failures) - before_f} failed")
    return r


def main() -> int:
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dir", nargs="?", default=os.path.join(here, "..", "..", "deploy", "k8s"))
    ap.add_argument("--renderer", choices=("auto", "python", "kubectl", "kustomize"), default="auto")
    ap.add_argument("--monitoring-namespace", default="monitoring",
                    help="the namespace whose pods must reach ops/metrics (default: monitoring)")
    ap.add_argument("--require-schema", action="store_true",
                    help="fail when kubernetes-validate is not installed")
    args = ap.parse_args()
    directory = os.path.normpath(args.dir)

    renders: list[tuple[str, list[dict]]] = []
    failures: list[str] = []
    tools = [t for t in ("kubectl", "kustomize") if shutil.which(t)]
    if args.renderer in ("auto", "python"):
        try:
            renders.append(("built-in renderer", render_python(directory)))
        except (RenderError, OSError, KeyError) as e:
            failures.append(f"built-in renderer: {e}")
    if args.renderer in ("kubectl", "kustomize") or (args.renderer == "auto" and tools):
        tool = args.renderer if args.renderer in ("kubectl", "kustomize") else tools[0]
        try:
            renders.append((f"{tool} kustomize", render_external(directory, tool)))
        except (RenderError, OSError) as e:
            failures.append(str(e))
    elif args.renderer == "auto":
        print("note: neither kubectl nor kustomize found; using the built-in renderer only")

    total_passed = 0
    for label, objs in renders:
        print(f"== {directory} rendered by {label}: {len(objs)} objects")
        r = run_checks(objs, label, args)
        total_passed += r.passed
        failures.extend(f"[{label}] {f}" for f in r.failures)
    if len(renders) == 2:
        a, b = (sorted(strip_generated_hashes(o, directory),
                       key=lambda x: (x["kind"], x["metadata"].get("namespace", ""), x["metadata"]["name"]))
                for _, o in renders)
        same = a == b
        if not same:
            for x, y in zip(a, b):
                if x != y:
                    failures.append(f"renderers disagree on {kn(x)} / {kn(y)}")
                    break
            else:
                failures.append(f"renderers disagree: {len(a)} vs {len(b)} objects")
        else:
            total_passed += 1
        print(f"== renderers agree: {'yes' if same else 'NO'}")

    print()
    for f in failures:
        print(f"FAIL {f}")
    failed = len(failures)
    print(f"check_manifests: {total_passed} passed, {failed} failed")
    return 1 if failed or not renders else 0


if __name__ == "__main__":
    sys.exit(main())
