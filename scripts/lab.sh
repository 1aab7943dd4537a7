#!/usr/bin/env bash
# Set up the lab (three Nomad-like nodes in containers) and run site.yml against it.
#   ./scripts/lab.sh            # build (first time) + start the lab, then site.yml
#   ./scripts/lab.sh absent     # remove the lab
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
bash scripts/bootstrap-host.sh
export PATH="$top/.venv/bin:$PATH"
state=${1:-present}
ansible-playbook playbooks/lab.yml -e lab_state="$state"
[ "$state" = present ] && ansible-playbook site.yml
exit 0
