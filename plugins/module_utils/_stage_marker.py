# -*- coding: utf-8 -*-
# Copyright (c) 2026 brmartin.k3s_migration contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What a stage applied to a cluster, and whether it still stands: pure functions.

A record is ``{'digest', 'renew_by', 'objects': {key: uid}, 'workloads': {key: uid}}`` where
a key is ``Kind/namespace/name`` (``Kind//name`` when cluster-scoped). ``compare`` takes the
record, the live reading (same shape, plus ``unready``) and the digest of this run's inputs,
and returns the reasons the stage must be applied again - empty when it need not.
"""

from __future__ import annotations

import datetime

WORKLOAD_KINDS = ('Deployment', 'DaemonSet', 'StatefulSet')


def key(kind: str, namespace: str, name: str) -> str:
    return '%s/%s/%s' % (kind, namespace or '', name)


def workload_unready(kind: str, obj: dict) -> str:
    """Why a Deployment/DaemonSet/StatefulSet (as a dict from the API) is not rolled out and Ready; '' when it is."""
    meta, spec, status = obj.get('metadata') or {}, obj.get('spec') or {}, obj.get('status') or {}
    if (status.get('observedGeneration') or 0) < (meta.get('generation') or 0):
        return 'its controller has not seen generation %s yet' % meta.get('generation')
    if kind == 'DaemonSet':
        want = status.get('desiredNumberScheduled') or 0
        have = {'updated': status.get('updatedNumberScheduled') or 0, 'available': status.get('numberAvailable') or 0}
    else:
        want = spec.get('replicas', 1)
        have = {'updated': status.get('updatedReplicas') or 0,
                'available': status.get('availableReplicas' if kind == 'Deployment' else 'readyReplicas') or 0}
    short = ['%s %d/%d' % (what, n, want) for what, n in sorted(have.items()) if n < want]
    return ', '.join(short)


def renew_by(not_after: list, renew_days: int) -> str:
    """The moment a re-run must re-check the certificates: renew_days before the earliest expiry (ISO 8601, UTC)."""
    if not not_after:
        return ''
    earliest = min(not_after)
    return (earliest - datetime.timedelta(days=renew_days)).strftime('%Y-%m-%dT%H:%M:%SZ')


def _differences(what: str, recorded: dict, live: dict) -> list:
    reasons = []
    for k in sorted(recorded):
        if k not in live:
            reasons.append('%s %s is gone' % (what, k))
        elif live[k] != recorded[k]:
            reasons.append('%s %s was made again (uid %s, recorded %s)' % (what, k, live[k], recorded[k]))
    for k in sorted(set(live) - set(recorded)):
        reasons.append('%s %s is new' % (what, k))
    return reasons


def compare(record: dict | None, live: dict, digest: str, now: datetime.datetime) -> list:
    """The reasons the stage must run again; [] when its inputs and what it applied are as recorded."""
    if not record:
        return ['no record of an earlier run in this cluster']
    reasons = []
    if record.get('digest') != digest:
        reasons.append('the inputs changed (digest %s, recorded %s)' % (digest[:12], str(record.get('digest'))[:12]))
    due = record.get('renew_by') or ''
    if due and now.strftime('%Y-%m-%dT%H:%M:%SZ') >= due:
        reasons.append('a certificate is due for renewal (from %s)' % due)
    reasons += _differences('object', record.get('objects') or {}, live.get('objects') or {})
    reasons += _differences('workload', record.get('workloads') or {}, live.get('workloads') or {})
    for k, why in sorted((live.get('unready') or {}).items()):
        reasons.append('workload %s is not Ready: %s' % (k, why))
    return reasons
