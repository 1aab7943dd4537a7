# SPDX-License-Identifier: GPL-3.0-or-later
"""The collection's metadata says what the code does: the collections it depends on are
exactly those its roles, modules and playbooks call, requirements.yml lists the same, no
module was added in a version newer than galaxy.yml's, the licence file the headers name
is there, and the two ends of a contract between roles say the same."""

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


def test_the_edge_checks_the_hop_the_entry_point_serves():
    """The edge stage asks for the path and header the platform's entry point answers."""
    edge = yaml.safe_load((ROOT / 'roles/edge_routes/defaults/main.yml').read_text())
    platform = yaml.safe_load((ROOT / 'roles/platform/vars/main.yml').read_text())
    assert edge['edge_routes_verify_path'] == platform['_platform_entrypoint_hop_path']
    assert edge['edge_routes_verify_header'] == platform['_platform_entrypoint_hop_header']
    server = yaml.safe_load((ROOT / 'roles/platform/defaults/main.yml').read_text())['platform_entrypoint_server_name']
    assert edge['edge_routes_server_name'] == server
    template = (ROOT / 'roles/platform/templates/entrypoint.yaml.j2').read_text()
    assert '{{ _platform_entrypoint_hop_header }}: "{{ platform_entrypoint_server_name }}"' in template


def test_the_interface_list_is_written_once():
    # The module documents its default; the role passes none, so the cleanup's list is the one.
    from ansible_collections.brmartin.k3s_migration.plugins.module_utils._k3s_cleanup import K3S_INTERFACES
    from ansible_collections.brmartin.k3s_migration.plugins.modules import k3s_network_cleanup
    doc = yaml.safe_load(k3s_network_cleanup.DOCUMENTATION)
    assert doc['options']['interfaces']['default'] == list(K3S_INTERFACES)
    role = '\n'.join(p.read_text() for d in ('tasks', 'vars') for p in (ROOT / 'roles').glob('*/%s/*.yml' % d))
    assert 'flannel.1' not in role and 'kube-ipvs0' not in role


def test_the_architecture_map_is_written_once():
    role = '\n'.join(p.read_text() for d in ('tasks', 'vars') for p in (ROOT / 'roles').glob('*/%s/*.yml' % d))
    assert 'aarch64' not in role and 'k3s-armhf' not in role
    assert 'brmartin.k3s_migration.k3s_arch' in (ROOT / 'roles/k3s/vars/main.yml').read_text()


def test_the_role_variables_molecule_overrides_exist():
    # A molecule case that overrides a role's internal variable (_k3s_*, _platform_*) to
    # plant bad input does nothing once the role renames it, and the case then fails for
    # the wrong reason (or passes without testing anything): each name must still be defined.
    defined = set()
    for path in (ROOT / 'roles').glob('*/vars/main.yml'):
        defined.update((yaml.safe_load(path.read_text()) or {}).keys())
    overridden = set()
    for path in (ROOT / 'molecule').rglob('*.yml'):
        text = path.read_text()
        overridden.update(re.findall(r'\\?"(_(?:k3s|platform)_[a-z0-9_]+)\\?"\s*:', text))
        overridden.update(re.findall(r'[{,]\s*(_(?:k3s|platform)_[a-z0-9_]+)\s*:', text))
    assert overridden, 'the scan found no override: its patterns no longer match the scenarios'
    assert sorted(overridden - defined) == []


def _lab_hosts(tree):
    """Every host entry (name -> vars) of an inventory file's tree."""
    found = {}
    for key, value in (tree or {}).items():
        if key == 'hosts' and isinstance(value, dict):
            found.update({name: hostvars or {} for name, hostvars in value.items()})
        elif isinstance(value, dict):
            found.update(_lab_hosts(value))
    return found


def test_the_lab_firewalld_node_sources_are_every_layouts_node_addresses():
    # group_vars cannot reach hostvars everywhere they are read (playbooks/lab.yml), so the
    # lab lists its node addresses; each layout's lab_address values must be exactly those.
    sources = yaml.safe_load((ROOT / 'inventory/lab/group_vars/all/k3s.yml').read_text())['k3s_firewalld_node_sources']
    layouts = sorted((ROOT / 'inventory/lab').glob('hosts*.yml'))
    assert layouts
    for layout in layouts:
        hosts = _lab_hosts(yaml.safe_load(layout.read_text()))
        assert sorted(h['lab_address'] for h in hosts.values()) == sorted(sources), layout.name
