#!/usr/bin/env bash
# Checks deployment/ without a Docker engine or a cluster: the Kubernetes manifests against
# Kubernetes' schemas (kubernetes-validate, from PyPI, strict: an unknown field fails), every
# command line in the manifests, compose.yaml and the Dockerfile against the options the
# built `eventicket` has (each --option must be one its subcommand's --help lists), and the
# Prometheus alerting rules with promtool (checked, and their unit tests run).
set -euo pipefail
cd "$(dirname "$0")/.."

python3 -m pip install -q --disable-pip-version-check "kubernetes-validate==1.37.0" pyyaml 2>&1 | grep -v "WARNING: Running pip as the 'root' user" || true
python3 -m kubernetes_validate --strict --quiet deployment/kubernetes/*.yaml
echo "Kubernetes manifests: valid for Kubernetes 1.37 (strict)"

bin="$(swift build --show-bin-path)/eventicket"
python3 - "$bin" <<'PY'
import glob, json, re, subprocess, sys, yaml

binary = sys.argv[1]
commands = []  # (where, argv)
for path in sorted(glob.glob("deployment/kubernetes/*.yaml")):
    for doc in yaml.safe_load_all(open(path)):
        if not doc or doc.get("kind") not in ("Deployment", "Job", "StatefulSet"):
            continue
        pod = doc["spec"]["template"]["spec"]
        for container in pod.get("initContainers", []) + pod["containers"]:
            commands.append((f"{path}: {doc['metadata']['name']}", container["args"]))
compose = yaml.safe_load(open("deployment/compose.yaml"))
for name, service in compose["services"].items():
    if "build" in service or service.get("image") == "eventicket:local":
        commands.append((f"compose.yaml: {name}", service["command"]))
for line in open("deployment/Dockerfile"):
    if line.startswith("CMD "):
        commands.append(("Dockerfile: CMD", json.loads(line[4:])))

failures = 0
helps = {}
for where, argv in commands:
    command = argv[0]
    if command not in helps:
        helps[command] = subprocess.run([binary, command, "--help"], capture_output=True, text=True).stdout
    known = set(re.findall(r"(--[a-z][a-z0-9-]*)", helps[command]))
    if not known:
        print(f"{where}: `eventicket {command}` is not a command"); failures += 1; continue
    for option in (a.split("=")[0] for a in argv[1:] if a.startswith("--")):
        if option not in known:
            print(f"{where}: `eventicket {command}` has no option {option}"); failures += 1
print(f"command lines: {len(commands)} checked against the CLI, {failures} bad")
sys.exit(1 if failures else 0)
PY

# promtool: from PATH, or from Debian's prometheus package, unpacked (not installed).
promtool=$(command -v promtool || true)
if [ -z "$promtool" ]; then
    dir=$(mktemp -d)
    trap 'rm -rf "$dir"' EXIT
    (cd "$dir" && { apt-get download -qq prometheus 2>/dev/null || { apt-get update -qq && apt-get download -qq prometheus; }; } >/dev/null 2>&1) \
        || { echo "cannot get promtool (apt-get download prometheus failed)" >&2; exit 1; }
    dpkg-deb -x "$dir"/prometheus_*.deb "$dir/x"
    promtool="$dir/x/usr/bin/promtool"
fi
"$promtool" check config deployment/prometheus/prometheus.yml
(cd deployment/prometheus && "$promtool" test rules alerts.test.yaml)
