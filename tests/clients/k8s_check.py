"""Checks the Kubernetes manifests of assets/k8s (tests/k8s.rs): each resource against the
Kubernetes API's own schemas (PyPI's kubernetes-validate, which carries them offline), and the
numbers against each other, with gunicorn-rs's settings read by gunicorn-rs itself
(`--print-config` on the ConfigMap's gunicorn.conf.py), not by this script:

- the container runs `--config MOUNT/gunicorn.conf.py`, MOUNT a volume of that ConfigMap;
- terminationGracePeriodSeconds > shutdown_delay + graceful_timeout, and no preStop hook;
- liveness and startup probe /healthz, readiness /readyz, on metrics_bind's port; the
  prometheus.io annotations scrape /metrics on that port;
- the Service's targetPort is bind's port; selectors match the pod labels;
- the memory limit holds (workers + 1) x max_worker_memory plus the master;
- the HPA scales this Deployment, on CPU, which the container requests.

One JSON line on stdout: {"resources": [...], "problems": [...]}; exit 1 if any problem.

    k8s_check.py MANIFEST_DIR GUNICORN_RS APPS_DIR
"""
import json
import os
import re
import subprocess
import sys
import tempfile

import kubernetes_validate
import yaml

KUBERNETES = "1.37.0"
# The master's own RSS is far below this (tests/metrics.rs reads it: tens of MiB).
MASTER_MIB = 256


def load(directory):
    docs = []
    for name in sorted(os.listdir(directory)):
        if name.endswith((".yaml", ".yml")):
            with open(os.path.join(directory, name)) as f:
                docs += [(name, d) for d in yaml.safe_load_all(f) if d]
    return docs


def mebibytes(quantity):
    """A Kubernetes memory quantity in MiB."""
    m = re.fullmatch(r"(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|k|M|G|T)?", str(quantity))
    if not m:
        raise ValueError("not a memory quantity: %r" % quantity)
    scale = {None: 1, "Ki": 1024, "Mi": 1024 ** 2, "Gi": 1024 ** 3, "Ti": 1024 ** 4,
             "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12}[m.group(2)]
    return float(m.group(1)) * scale / 1024 ** 2


def settings(binary, conf_text, apps):
    """gunicorn-rs's resolved settings for the config file, `name = value` per line."""
    with tempfile.TemporaryDirectory() as tmp:
        conf = os.path.join(tmp, "gunicorn.conf.py")
        with open(conf, "w") as f:
            f.write(conf_text)
        out = subprocess.run([binary, "--print-config", "--config", conf, "--chdir", apps, "hello:app"],
                             capture_output=True, text=True, timeout=60)
    if out.returncode != 0:
        raise SystemExit("gunicorn-rs refused the ConfigMap's config file:\n" + out.stderr)
    values = {}
    for line in out.stdout.splitlines():
        name, _, value = line.partition("=")
        values[name.strip()] = value.strip()
    return values


def port_of(address):
    return int(address.strip("[]'\"").rsplit(":", 1)[1])


def container_port(container, port):
    """A probe's or Service's port, by name or number, as a number."""
    if isinstance(port, int):
        return port
    for p in container.get("ports", []):
        if p.get("name") == port:
            return p["containerPort"]
    return None


def check(docs, binary, apps):
    problems = []
    by_kind = {}
    for name, doc in docs:
        try:
            kubernetes_validate.validate(doc, KUBERNETES, strict=True)
        except kubernetes_validate.ValidationError as e:
            problems.append("%s: %s %s: %s" % (name, doc.get("kind"), "/".join(str(p) for p in e.path), e.message))
        by_kind.setdefault(doc.get("kind"), []).append(doc)
    [deployment] = by_kind.get("Deployment", [None])
    [service] = by_kind.get("Service", [None])
    [hpa] = by_kind.get("HorizontalPodAutoscaler", [None])
    if not (deployment and service and hpa and by_kind.get("ConfigMap")):
        return problems + ["need one Deployment, Service, HorizontalPodAutoscaler and a ConfigMap"]
    pod = deployment["spec"]["template"]
    [container] = pod["spec"]["containers"]

    # The config file: which ConfigMap the --config path is mounted from.
    args = container.get("args", [])
    conf_path = args[args.index("--config") + 1] if "--config" in args else None
    mount = next((m for m in container.get("volumeMounts", []) if conf_path and conf_path.startswith(m["mountPath"] + "/")), None)
    volume = mount and next((v for v in pod["spec"].get("volumes", []) if v["name"] == mount["name"]), None)
    cm_name = volume and volume.get("configMap", {}).get("name")
    configmap = next((c for c in by_kind["ConfigMap"] if c["metadata"]["name"] == cm_name), None)
    key = conf_path and os.path.basename(conf_path)
    if not configmap or key not in configmap.get("data", {}):
        return problems + ["the container's --config %r is not a key of a mounted ConfigMap" % conf_path]
    cfg = settings(binary, configmap["data"][key], apps)

    delay, graceful = int(cfg["shutdown_delay"]), int(cfg["graceful_timeout"])
    grace = pod["spec"].get("terminationGracePeriodSeconds", 30)
    if grace <= delay + graceful:
        problems.append("terminationGracePeriodSeconds %d <= shutdown_delay %d + graceful_timeout %d: "
                        "the kubelet would SIGKILL a draining server" % (grace, delay, graceful))
    if container.get("lifecycle", {}).get("preStop"):
        problems.append("a preStop hook: shutdown_delay does its work")

    metrics = port_of(cfg["metrics_bind"]) if cfg.get("metrics_bind") not in (None, "None", "") else None
    if metrics is None:
        problems.append("metrics_bind is off: the probes and Prometheus have nothing to ask")
    for probe, path in [("livenessProbe", "/healthz"), ("readinessProbe", "/readyz"), ("startupProbe", "/healthz")]:
        get = container.get(probe, {}).get("httpGet")
        if not get:
            problems.append("no %s httpGet" % probe)
            continue
        if get.get("path") != path or container_port(container, get.get("port")) != metrics:
            problems.append("%s asks %s on port %s, not %s on metrics_bind's %s"
                            % (probe, get.get("path"), get.get("port"), path, metrics))
    notes = pod["metadata"].get("annotations", {})
    if notes.get("prometheus.io/scrape") != "true" or notes.get("prometheus.io/path") != "/metrics" \
            or notes.get("prometheus.io/port") != str(metrics):
        problems.append("prometheus.io annotations %r do not scrape /metrics on %s" % (notes, metrics))

    bind = json.loads(cfg["bind"].replace("'", '"'))
    target = service["spec"]["ports"][0]["targetPort"]
    if container_port(container, target) not in [port_of(b) for b in bind]:
        problems.append("the Service's targetPort %r is not a bound port %r" % (target, bind))
    labels = pod["metadata"]["labels"]
    for what, selector in [("Service", service["spec"]["selector"]),
                           ("Deployment", deployment["spec"]["selector"]["matchLabels"])]:
        if any(labels.get(k) != v for k, v in selector.items()):
            problems.append("the %s selector %r does not match the pod labels %r" % (what, selector, labels))

    workers, per_worker = int(cfg["workers"]), int(cfg["max_worker_memory"])
    limit = container.get("resources", {}).get("limits", {}).get("memory")
    needed = (workers + 1) * per_worker + MASTER_MIB
    if per_worker == 0:
        problems.append("max_worker_memory is 0: nothing keeps the workers under the pod's limit")
    elif limit is None or mebibytes(limit) < needed:
        problems.append("memory limit %s < (workers %d + 1) x max_worker_memory %d MiB + %d MiB"
                        % (limit, workers, per_worker, MASTER_MIB))

    ref = hpa["spec"]["scaleTargetRef"]
    if (ref.get("kind"), ref.get("name")) != ("Deployment", deployment["metadata"]["name"]):
        problems.append("the HPA scales %r, not the Deployment" % ref)
    cpu = [m for m in hpa["spec"].get("metrics", []) if m.get("resource", {}).get("name") == "cpu"]
    if cpu and not container.get("resources", {}).get("requests", {}).get("cpu"):
        problems.append("the HPA targets CPU utilisation, but the container requests no CPU")
    return problems


def main():
    directory, binary, apps = sys.argv[1:4]
    docs = load(directory)
    problems = check(docs, binary, apps)
    resources = ["%s/%s" % (d.get("kind"), d.get("metadata", {}).get("name")) for _, d in docs]
    print(json.dumps({"resources": resources, "problems": problems}))
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
