# SPDX-License-Identifier: GPL-3.0-or-later
"""No Kubernetes Secret with a value is kept in the repository: every Secret manifest in
a tracked file (YAML, Jinja templates, Terraform) carries no data/stringData, or only
values that are templated at run time. Values come from Vault (External Secrets) or are
made by the roles in memory (certificates)."""

from __future__ import annotations

import pathlib
import re
import subprocess

ROOT = pathlib.Path(__file__).resolve().parents[2]
SUFFIXES = ('.yml', '.yaml', '.j2', '.tf')
# A data/stringData key at document level, then its indented entries.
_DATA = re.compile(r'^(?P<indent>[ \t]*)(?:data|stringData|string_data):[ \t]*(?P<inline>.*)$')


def _tracked():
    out = subprocess.run(['git', 'ls-files'], cwd=ROOT, check=True, capture_output=True, text=True).stdout
    return [ROOT / name for name in out.splitlines() if name.endswith(SUFFIXES)]


def _secret_documents(text):
    """Chunks of a file that declare a Secret (YAML documents; Terraform resource blocks)."""
    for chunk in re.split(r'^---[ \t]*$|^resource[ \t]', text, flags=re.M):
        if re.search(r'^[ \t]*kind:[ \t]*[\'"]?Secret[\'"]?[ \t]*$', chunk, re.M) or \
                re.search(r'"kubernetes_secret(_v1)?"', chunk):
            yield chunk


def _literal_values(chunk):
    """Values under data/stringData that are not templated ({{ }}, ${ }), as (key, value)."""
    lines = chunk.splitlines()
    found = []
    for index, line in enumerate(lines):
        match = _DATA.match(line)
        if not match:
            continue
        inline = match.group('inline').strip()
        if inline not in ('', '{}', '{', '= {', '>-', '|'):
            if '{{' not in inline and '${' not in inline:
                found.append(('inline', inline))
            continue
        indent = len(match.group('indent'))
        for entry in lines[index + 1:]:
            if entry.strip() and len(entry) - len(entry.lstrip()) <= indent:
                break
            key, sep, value = entry.strip().partition(':') if ':' in entry else entry.strip().partition('=')
            value = value.strip().strip('"\'')
            if sep and value and '{{' not in value and '${' not in value and not value.startswith('{%'):
                found.append((key.strip(), value))
    return found


def test_the_scan_finds_a_planted_secret():
    planted = 'apiVersion: v1\nkind: Secret\nmetadata:\n  name: x\nstringData:\n  password: hunter2\n'
    assert [_literal_values(c) for c in _secret_documents(planted)] == [[('password', 'hunter2')]]
    templated = 'kind: Secret\ndata:\n  token: "{{ value | b64encode }}"\n---\nkind: Secret\ndata: "{{ item.data }}"\n'
    assert [_literal_values(c) for c in _secret_documents(templated)] == [[], []]
    inline = 'kind: Secret\nstringData: {password: hunter2}\n'
    assert [_literal_values(c) for c in _secret_documents(inline)] == [[('inline', '{password: hunter2}')]]


def test_no_secret_manifest_in_the_repository_holds_a_value():
    files = _tracked()
    assert len(files) > 50
    offenders, seen = {}, set()
    for path in files:
        for chunk in _secret_documents(path.read_text(errors='replace')):
            seen.add(str(path.relative_to(ROOT)))
            values = _literal_values(chunk)
            if values:
                offenders[str(path.relative_to(ROOT))] = [key for key, _value in values]
    assert not offenders, offenders
    # the scan saw the Secrets the roles make (token reviewer, certificates)
    assert {'roles/vault_kubernetes_auth/templates/token-reviewer.yaml.j2', 'roles/platform/tasks/tls.yml'} <= seen, seen
