#!/usr/bin/env bash
# Validates the docker-compose deployment without a Docker engine:
#   1. `docker-compose config -q` accepts docker-compose.yml (Debian's
#      docker-compose 1.29), and the resolved file has the six nodes, each
#      with its own config file and volume, and the balancer on 6379;
#   2. conf/docker/n1..n6.toml parse (python3's tomllib) and agree on
#      everything that must be cluster-wide: members, N/W/R, partitions,
#      peer port, secret, request timeout.
# Exits non-zero on any failure. Skips (exit 0, with a message) only when
# docker-compose is not installed.
set -euo pipefail
cd "$(dirname "$0")/../.."

if ! command -v docker-compose >/dev/null; then
  echo "compose_config_test: SKIP: docker-compose is not installed"
  exit 0
fi

# Debian's python3 has tomllib (3.11) and, as a docker-compose dependency,
# PyYAML; a python3 earlier on PATH may have neither.
python=python3
[ -x /usr/bin/python3 ] && python=/usr/bin/python3

resolved=$(mktemp)
trap 'rm -f "$resolved"' EXIT

echo "compose_config_test: docker-compose config -q"
docker-compose -f docker-compose.yml config -q
docker-compose -f docker-compose.yml config >"$resolved"

"$python" - "$resolved" <<'PY'
import sys
import tomllib

failures = []

def check(condition, message):
    if not condition:
        failures.append(message)

# ---- The node configs ------------------------------------------------------
nodes = {}
for i in range(1, 7):
    path = f"conf/docker/n{i}.toml"
    try:
        with open(path, "rb") as f:
            nodes[i] = tomllib.load(f)
    except (OSError, tomllib.TOMLDecodeError) as e:
        failures.append(f"{path}: {e}")

expected_sections = {"node", "cluster", "storage"}
expected_node_keys = {"name", "bind", "port", "data_dir", "advertise_host"}
expected_cluster_keys = {"peer_port", "secret", "n", "w", "r", "request_timeout_ms", "members"}
expected_member_keys = {"name", "host", "port", "peer_port", "weight"}

for i, config in nodes.items():
    where = f"conf/docker/n{i}.toml"
    check(set(config) == expected_sections, f"{where}: sections {sorted(config)}")
    node = config.get("node", {})
    check(set(node) == expected_node_keys, f"{where}: [node] keys {sorted(node)}")
    check(node.get("name") == f"n{i}", f"{where}: node.name is {node.get('name')!r}")
    check(node.get("bind") == "0.0.0.0", f"{where}: node.bind must be 0.0.0.0")
    check(node.get("port") == 6379, f"{where}: node.port must be 6379")
    check(node.get("data_dir") == "/var/lib/ringkv", f"{where}: node.data_dir")
    check(node.get("advertise_host") == f"ringkv-n{i}", f"{where}: node.advertise_host")
    cluster = config.get("cluster", {})
    check(set(cluster) == expected_cluster_keys, f"{where}: [cluster] keys {sorted(cluster)}")
    check(config.get("storage") == {"partitions": 24}, f"{where}: [storage] must be partitions = 24")
    members = cluster.get("members", [])
    for m in members:
        check(set(m) == expected_member_keys, f"{where}: member keys {sorted(m)}")
    names = [m.get("name") for m in members]
    check(names == [f"n{j}" for j in range(1, 7)], f"{where}: members {names}")
    check([m.get("host") for m in members] == [f"ringkv-n{j}" for j in range(1, 7)],
          f"{where}: member hosts")
    check(all(m.get("port") == 6379 and m.get("peer_port") == cluster.get("peer_port")
              and m.get("weight") == 1 for m in members), f"{where}: member ports and weights")
    n, w, r = cluster.get("n"), cluster.get("w"), cluster.get("r")
    check((n, w, r) == (3, 2, 2), f"{where}: N/W/R is {n}/{w}/{r}, want 3/2/2")
    check(isinstance(n, int) and 1 <= w <= n and 1 <= r <= n <= len(members),
          f"{where}: need 1 <= R, W <= N <= members")
    check(cluster.get("peer_port") == 7379, f"{where}: cluster.peer_port")
    check(isinstance(cluster.get("secret"), str) and len(cluster.get("secret", "")) >= 16,
          f"{where}: cluster.secret must be a string of at least 16 bytes")
    check(node.get("name") in names, f"{where}: the node is not among the members")

# Everything but [node] must be identical on every node.
if len(nodes) == 6:
    reference = {k: v for k, v in nodes[1].items() if k != "node"}
    for i, config in nodes.items():
        shared = {k: v for k, v in config.items() if k != "node"}
        check(shared == reference, f"conf/docker/n{i}.toml: [cluster]/[storage] differ from n1.toml")

# ---- The resolved compose file -----------------------------------------------
try:
    import yaml
except ImportError:
    yaml = None
    print("compose_config_test: note: no PyYAML, compose structure not checked")

if yaml is not None:
    with open(sys.argv[1]) as f:
        compose = yaml.safe_load(f)
    services = compose.get("services", {})
    check(set(services) == {f"ringkv-n{i}" for i in range(1, 7)} | {"lb"},
          f"compose services {sorted(services)}")
    for i in range(1, 7):
        service = services.get(f"ringkv-n{i}", {})
        volumes = [str(v) for v in service.get("volumes", [])]
        check(any(f"conf/docker/n{i}.toml:/etc/ringkv/ringkv.toml" in v for v in volumes),
              f"ringkv-n{i} must mount conf/docker/n{i}.toml")
        check(any(v.startswith(f"ringkv-n{i}-data:/var/lib/ringkv") for v in volumes),
              f"ringkv-n{i} must keep its data in volume ringkv-n{i}-data")
        check("healthcheck" in service, f"ringkv-n{i} needs a healthcheck")
        check(not service.get("ports"), f"ringkv-n{i} must not publish ports")
    ports = services.get("lb", {}).get("ports", [])
    check(any(str(p.get("published")) == "6379" and str(p.get("target")) == "6379"
              for p in ports if isinstance(p, dict)) or "6379:6379" in map(str, ports),
          "lb must publish 6379:6379")
    check(set(compose.get("volumes", {})) == {f"ringkv-n{i}-data" for i in range(1, 7)},
          "compose volumes")

if failures:
    for failure in failures:
        print(f"compose_config_test: FAIL: {failure}")
    sys.exit(1)
print("compose_config_test: 6 node configs agree (6 members, Q=24, N=3, W=2, R=2)")
PY

# The balancer's upstream list names exactly the six nodes.
upstreams=$(grep -oE '^server ringkv-n[1-6]:6379' conf/nginx/upstream-docker.conf | sort -u | wc -l)
if [ "$upstreams" -ne 6 ]; then
  echo "compose_config_test: FAIL: conf/nginx/upstream-docker.conf lists $upstreams of 6 nodes"
  exit 1
fi
echo "compose_config_test: PASS"
