#!/usr/bin/env bash
# ansible-test sanity for the collection: ansible-test needs the tree at
# ansible_collections/<namespace>/<name>, so the checkout's files are copied there.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
venv=${VENV:-$top/.venv}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
dest="$work/ansible_collections/brmartin/k3s_migration"
mkdir -p "$dest"
(cd "$top" && git ls-files -co --exclude-standard | grep -v '^collections/' | rsync -a --files-from=- . "$dest/")

# ansible-test bootstraps pip into its venvs with a script from a host we cannot reach.
pip_version=$("$venv/bin/python" - <<'PY'
from ansible_test._internal.python_requirements import get_venv_packages
from ansible_test._internal.host_configs import NativePythonConfig
print(get_venv_packages(NativePythonConfig(version='3.12', path='/usr/bin/python3'))['pip'])
PY
)
cache="$HOME/.ansible/test/cache/get_pip_${pip_version//./_}.py"
mkdir -p "$(dirname "$cache")"
cp "$top/tests/sanity/get_pip_bootstrap.py" "$cache"

cd "$dest"
"$venv/bin/ansible-test" sanity --python 3.12 --requirements --color no "$@" 2>&1 \
  | grep -v "^WARNING: Location .* is ignored"
