# SPDX-License-Identifier: GPL-3.0-or-later
"""coexistence_preflight's gather_subset: the facts it returns are setup's for the same
subset (site.yml's validate play relies on them instead of a setup round trip)."""

from __future__ import annotations

import json
import subprocess
import sys

from ansible.modules import setup

from modrun import run_module

SUBSET = ['!all', '!min', 'platform', 'distribution', 'selinux']
# facts that differ between two calls by nature, not by collector
VOLATILE = {'ansible_date_time', 'gather_subset', 'module_setup'}


def _preflight(tmp_path, **extra):
    # nothing of the plan matters here; a reading that needs no Nomad agent
    args = dict(query_nomad=False, fail_on_conflict=False, min_free_memory_mb=0, data_dir=str(tmp_path / 'k3s'))
    args.update(extra)
    return run_module('coexistence_preflight', args, tmp_path)


def test_facts_are_setups_for_the_same_subset(tmp_path):
    rc, result = _preflight(tmp_path, gather_subset=SUBSET)
    assert rc == 0, result
    facts = result['ansible_facts']
    for key in ('ansible_architecture', 'ansible_os_family', 'ansible_nodename', 'ansible_distribution',
                'ansible_selinux'):
        assert key in facts, sorted(facts)
    args = tmp_path / 'setup-args.json'
    args.write_text(json.dumps({'ANSIBLE_MODULE_ARGS': {'gather_subset': SUBSET, '_ansible_tmpdir': str(tmp_path)}}))
    proc = subprocess.run([sys.executable, '-m', setup.__name__, str(args)], capture_output=True, text=True, check=True)
    expected = json.loads(proc.stdout)['ansible_facts']
    assert {k: v for k, v in facts.items() if k not in VOLATILE} == \
        {k: v for k, v in expected.items() if k not in VOLATILE}


def test_no_facts_unless_asked(tmp_path):
    rc, result = _preflight(tmp_path)
    assert rc == 0, result
    assert 'ansible_facts' not in result


def test_an_unknown_subset_fails_naming_it(tmp_path):
    rc, result = _preflight(tmp_path, gather_subset=['platform', 'no_such_subset'])
    assert rc != 0
    assert result['failed'] and 'no_such_subset' in result['msg'], result
