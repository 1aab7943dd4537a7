#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026 brmartin.k3s_migration contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: litestream_verify
short_description: Prove a Litestream replica restores to what the live SQLite database holds
version_added: 0.2.0
description:
  - Restores the latest state of a Litestream 0.5 replica into a private temporary
    directory, checks it like M(brmartin.k3s_migration.sqlite_integrity), and compares its
    content checksum and row counts with a consistent read-only read of the live database.
  - Does not trust Litestream's exit code (a restore exits 0 with an older database when
    the newest replica files are missing) - the replica's position is listed first and the
    restore must reach it.
  - When the content differs, positions decide. The live database's position is read from
    Litestream's own state beside it (O(state_dir)) - its LTX files carry transaction IDs and
    the time each was captured. Live ahead of the replica - the lag is the age of the oldest
    transaction the replica lacks (RV(evidence=ltx-position)), so a database quiet for an
    hour that takes one write is seconds behind, not an hour. The same position - changes
    Litestream has not captured yet; it gets O(capture_seconds) to capture them, else the lag
    is counted from its last capture (RV(evidence=uncaptured)).
  - Fails, loudly (C(DANGER)), when the live database's position is behind the replica's, it
    has no position while the replica has data, or it holds no rows over a replica that has
    some - a service that started on an empty or stale database after a failed restore,
    about to replicate it over the good backup. Fewer rows alone is not DANGER - a
    legitimate delete not yet replicated is behind, within O(max_lag_seconds) or not.
  - Fails when the replica is missing, cannot be restored, restores a corrupt database,
    or is behind beyond the allowed lag. Leaves no temporary files.
  - Litestream runs with an explicit environment (C(PATH), C(HOME), the credentials and
    O(environment)); nothing else is inherited, so an C(AWS_CA_BUNDLE) set for other
    tools cannot break Litestream 0.5's S3 client.
author:
  - brmartin.k3s_migration maintainers (@brmartin)
attributes:
  check_mode:
    support: full
    description: The module only reads the replica and the live database.
  diff_mode:
    support: none
    description: Nothing is changed, so there is no diff.
options:
  db_path:
    description:
      - The live database. With O(config), also the name of the database in that file.
    type: path
    required: true
  config:
    description:
      - A Litestream configuration file whose C(dbs) entry for O(db_path) names the replica.
      - Variables it expands (for example C(${MINIO_ACCESS_KEY})) must be given in O(environment).
      - Exactly one of O(config) and O(replica_url) is required.
    type: path
  replica_url:
    description:
      - The replica as a Litestream URL, for example V(s3://overseerr-litestream/overseerr).
      - O(endpoint), O(region) and O(force_path_style) are added as its query parameters.
    type: str
  endpoint:
    description: S3 endpoint of the replica (MinIO, for example V(http://minio-s3.service.consul:9000)).
    type: str
  region:
    description: S3 region of the replica.
    type: str
  force_path_style:
    description: Address the bucket in the path, as MinIO needs.
    type: bool
  access_key_id:
    description:
      - S3 access key, given to Litestream as E(LITESTREAM_ACCESS_KEY_ID).
    type: str
  secret_access_key:
    description:
      - S3 secret key, given to Litestream as E(LITESTREAM_SECRET_ACCESS_KEY).
    type: str
  environment:
    description:
      - More environment variables for Litestream (values are not logged).
    type: dict
    default: {}
  litestream_bin:
    description:
      - The Litestream 0.5 executable (a name on E(PATH) or a path). Use the version that
        replicates - 0.5 (LTX) and 0.3 (generations) replicas are not compatible.
    type: str
    default: litestream
  max_lag_seconds:
    description:
      - How far the replica may be behind the live database, in seconds, when their content
        differs, counted from the oldest change the replica lacks. Set it above Litestream's
        C(sync-interval).
      - V(0) fails on any difference.
    type: int
    default: 600
  state_dir:
    description:
      - Litestream's local state for O(db_path) (its C(meta-path)), read for the live
        database's position. Litestream 0.5's default, C(.<name>-litestream) beside the
        database, otherwise.
    type: path
  capture_seconds:
    description:
      - How long to wait for Litestream to capture live changes its state does not hold yet
        (it reads the WAL every second) before counting the lag from its last capture.
    type: int
    default: 5
  check:
    description: Integrity check run on both databases (see M(brmartin.k3s_migration.sqlite_integrity)).
    type: str
    choices: [quick, full]
    default: full
  tmp_dir:
    description:
      - Directory for the temporary restore (removed afterwards). The system default otherwise.
    type: path
notes:
  - The replica and the live database are read a moment apart, restore first; a live
    database that changes in between can only be ahead of the replica.
  - Run it where Litestream's local state is readable - on the node that holds the
    database's volume, not on a copy of the database alone.
seealso:
  - module: brmartin.k3s_migration.sqlite_integrity
"""

EXAMPLES = r"""
- name: Overseerr's replica in MinIO restores to what the live database holds
  brmartin.k3s_migration.litestream_verify:
    db_path: /var/lib/overseerr/db/db.sqlite3
    replica_url: s3://overseerr-k8s-litestream/overseerr
    endpoint: http://192.168.1.5:9000
    region: us-east-1
    force_path_style: true
    access_key_id: "{{ lookup('ansible.builtin.env', 'MINIO_ACCESS_KEY') }}"
    secret_access_key: "{{ lookup('ansible.builtin.env', 'MINIO_SECRET_KEY') }}"
    max_lag_seconds: 600

- name: The same, reading the replica from the sidecar's configuration
  brmartin.k3s_migration.litestream_verify:
    db_path: /var/lib/overseerr/db/db.sqlite3
    config: /etc/litestream.yml
    environment:
      MINIO_ACCESS_KEY: "{{ minio_access_key }}"
      MINIO_SECRET_KEY: "{{ minio_secret_key }}"
"""

RETURN = r"""
match:
  description: Whether the restored content equals the live content.
  returned: success
  type: bool
  sample: true
restored_checksum:
  description: Content checksum of the restored database.
  returned: success
  type: str
  sample: 5f7a1c0e9b0d4a3c8e2f6b1d7a9c3e5f0b2d4f6a8c0e2a4c6e8f0a2c4e6f8a0b
live_checksum:
  description: Content checksum of the live database.
  returned: success
  type: str
  sample: 5f7a1c0e9b0d4a3c8e2f6b1d7a9c3e5f0b2d4f6a8c0e2a4c6e8f0a2c4e6f8a0b
restored_tables:
  description: Row count per table in the restored database.
  returned: success
  type: dict
  sample: {"user": 3}
live_tables:
  description: Row count per table in the live database.
  returned: success
  type: dict
  sample: {"user": 3}
replica_txid:
  description: Highest transaction ID in the replica (hex).
  returned: when the replica was listed
  type: str
  sample: "0000000000000004"
replica_timestamp:
  description: When the replica's newest transaction was written (UTC).
  returned: when the replica was listed
  type: str
  sample: "2026-11-26T08:39:56Z"
replica_files:
  description: LTX files in the replica, all levels.
  returned: when the replica was listed
  type: int
  sample: 7
restored_txid:
  description: Transaction ID the restore reached (hex).
  returned: when the replica was restored
  type: str
  sample: "0000000000000004"
lag_seconds:
  description:
    - 0 when the content matches, otherwise the seconds since RV(lag_since), rounded up.
  returned: success, and on failure when measured
  type: int
  sample: 0
evidence:
  description:
    - What the verdict rests on. V(content) - the checksums are equal. V(ltx-position) - the
      live database's Litestream position is ahead of the replica's; the lag is the age of the
      oldest transaction the replica lacks. V(uncaptured) - the same position but different
      content; Litestream did not capture the changes within O(capture_seconds), the lag is
      counted from its last capture.
  returned: success, and on failure when measured
  type: str
  sample: ltx-position
live_txid:
  description: The live database's Litestream position (hex), from its local LTX files.
  returned: when the content differs
  type: str
  sample: "0000000000000005"
oldest_unreplicated_txid:
  description: The first transaction of the live database the replica lacks (hex).
  returned: when RV(evidence=ltx-position)
  type: str
  sample: "0000000000000005"
lag_since:
  description: When the lag started - the capture time of RV(oldest_unreplicated_txid), or of
    Litestream's last capture with RV(evidence=uncaptured) (UTC, milliseconds).
  returned: when the content differs and the positions were compared
  type: str
  sample: "2026-11-26T08:39:56.491Z"
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.brmartin.k3s_migration.plugins.module_utils import _litestream as litestream


def _runner(module):
    """run_command with exactly the environment given (run_command starts from os.environ)."""
    def run(argv, env):
        saved = dict(os.environ)
        os.environ.clear()
        os.environ.update(env)
        try:
            return module.run_command(argv, check_rc=False)
        finally:
            os.environ.clear()
            os.environ.update(saved)
    return run


def main():
    module = AnsibleModule(
        argument_spec=dict(
            db_path=dict(type='path', required=True),
            config=dict(type='path'),
            replica_url=dict(type='str'),
            endpoint=dict(type='str'),
            region=dict(type='str'),
            force_path_style=dict(type='bool'),
            access_key_id=dict(type='str', no_log=True),
            secret_access_key=dict(type='str', no_log=True),
            environment=dict(type='dict', default={}, no_log=True),
            litestream_bin=dict(type='str', default='litestream'),
            max_lag_seconds=dict(type='int', default=600),
            check=dict(type='str', choices=['quick', 'full'], default='full'),
            tmp_dir=dict(type='path'),
            state_dir=dict(type='path'),
            capture_seconds=dict(type='int', default=5),
        ),
        required_one_of=[('config', 'replica_url')],
        mutually_exclusive=[('config', 'replica_url')],
        supports_check_mode=True,
    )
    p = module.params
    if p['max_lag_seconds'] < 0:
        module.fail_json(msg='max_lag_seconds must be 0 or more, got %d' % p['max_lag_seconds'])
    if p['capture_seconds'] < 0:
        module.fail_json(msg='capture_seconds must be 0 or more, got %d' % p['capture_seconds'])
    if p['config'] and not os.path.isfile(p['config']):
        module.fail_json(msg='Litestream configuration %s does not exist' % p['config'])
    if p['tmp_dir'] and not os.path.isdir(p['tmp_dir']):
        module.fail_json(msg='tmp_dir %s is not a directory' % p['tmp_dir'])
    binary = p['litestream_bin']
    if os.sep not in binary:
        binary = module.get_bin_path(binary)
    if not binary or not os.access(binary, os.X_OK):
        module.fail_json(msg='Litestream executable %r not found; install Litestream 0.5 or set litestream_bin'
                         % p['litestream_bin'])
    url = None
    if p['replica_url']:
        try:
            url = litestream.replica_url(p['replica_url'], p['endpoint'], p['region'], p['force_path_style'])
        except ValueError as exc:
            module.fail_json(msg=str(exc))
    env = litestream.environment(p['access_key_id'], p['secret_access_key'], p['environment'])
    src = litestream.source(p['config'], p['db_path'], url)
    try:
        result = litestream.verify(_runner(module), binary, src, env, p['db_path'], p['max_lag_seconds'],
                                   p['check'], p['tmp_dir'], state=p['state_dir'],
                                   capture_seconds=p['capture_seconds'])
    except (litestream.ReplicaMissing, litestream.ReplicaCorrupt) as exc:
        module.fail_json(msg='replica of %s: %s' % (p['db_path'], exc), **exc.details)
    except litestream.LitestreamError as exc:  # live missing or DANGER, replica behind, command failed
        module.fail_json(msg=str(exc), **exc.details)
    module.exit_json(changed=False, **result)


if __name__ == '__main__':
    main()
