#!/usr/bin/env bash
# Starts Debian's dockerd by hand (no systemd here), with a runc wrapper as the
# default runtime: this VM's capability bounding set lacks CAP_SYS_RESOURCE, so
# privileged containers (kind nodes) otherwise fail with "unable to apply caps".
# Idempotent: returns at once when a daemon already answers.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"

if docker info >/dev/null 2>&1; then exit 0; fi
need=()
for p in docker.io containerd runc jq; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
	log "apt-get install ${need[*]}"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
install -m755 "$HERE/runc-nosysresource" /usr/local/sbin/runc-nosysresource
mkdir -p /etc/docker
if [ ! -f /etc/docker/daemon.json ] || ! grep -q runc-nosysresource /etc/docker/daemon.json; then
	echo '{"runtimes":{"nores":{"path":"/usr/local/sbin/runc-nosysresource"}},"default-runtime":"nores"}' > /etc/docker/daemon.json
fi
if ! pgrep -x dockerd >/dev/null; then
	log "starting dockerd (log: /var/log/dockerd.log)"
	# setsid: the daemon must outlive the shell (and CI step) that started it.
	setsid nohup dockerd > /var/log/dockerd.log 2>&1 < /dev/null &
fi
for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
docker info --format 'dockerd {{.ServerVersion}}, runtime {{.DefaultRuntime}}, cgroup v{{.CgroupVersion}}' >&2
