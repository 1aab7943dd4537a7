# SPDX-License-Identifier: GPL-3.0-or-later
"""The collection's metadata says what the code does: the collections it depends on are
exactly those its roles, modules and playbooks call, requirements.yml lists the same, no
module was added in a version newer than galaxy.yml's, and the licence file the headers
name is there."""

from __future__ import annotations

import pathlib
import re

import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
_FQCN = re.compile(r'\b([a-z][a-z0-9_]*)\.([a-z][a-z0-9_]*)\.[a-z][a-z0-9_]*\b')
_OURS = ('ansible.builtin', 'brmartin.k3s_migration')


def _used():
    found = set()
    for top in ('roles', 'playbooks', 'plugins'):
        for path in (ROOT / top).rglob('*'):
            if path.suffix in ('.yml', '.yaml', '.j2') or (path.suffix == '.py' and 'module_utils' not in path.parts):
                for namespace, name in _FQCN.findall(path.read_text(errors='replace')):
                    found.add('%s.%s' % (namespace, name))
    for path in (ROOT / 'site.yml',):
        found.update('%s.%s' % m for m in _FQCN.findall(path.read_text()))
    installed = {p.parent.name + '.' + p.name
                 for p in ROOT.glob('.venv/lib/python3*/site-packages/ansible_collections/*/*')}
    known = installed or {'ansible.posix', 'community.crypto', 'kubernetes.core', 'containers.podman'}
    return {c for c in found if c in known and c not in _OURS}


def _version(text):
    return tuple(int(x) for x in text.split('.'))


def test_dependencies_are_exactly_what_the_code_uses():
    galaxy = yaml.safe_load((ROOT / 'galaxy.yml').read_text())
    requirements = yaml.safe_load((ROOT / 'requirements.yml').read_text())
    used = _used()
    assert {'kubernetes.core', 'community.crypto', 'ansible.posix'} <= used, used
    assert set(galaxy['dependencies']) == used
    assert {c['name'] for c in requirements['collections']} == used


def test_version_added_is_not_newer_than_the_collection():
    version = _version(yaml.safe_load((ROOT / 'galaxy.yml').read_text())['version'])
    added = {}
    for path in (ROOT / 'plugins' / 'modules').glob('*.py'):
        match = re.search(r'^version_added:\s*"?([0-9.]+)"?', path.read_text(), re.M)
        assert match, '%s has no version_added' % path.name
        added[path.name] = _version(match.group(1))
    assert added and all(v <= version for v in added.values()), added


def test_the_licence_the_headers_name_is_there():
    licence = ROOT / 'LICENSES' / 'GPL-3.0-or-later.txt'
    assert 'GNU GENERAL PUBLIC LICENSE' in licence.read_text() and 'Version 3' in licence.read_text()
    assert yaml.safe_load((ROOT / 'galaxy.yml').read_text())['license'] == ['GPL-3.0-or-later']
    headers = [p for p in (ROOT / 'plugins').rglob('*.py') if 'LICENSES/GPL-3.0-or-later.txt' in p.read_text()]
    assert headers
