#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026 brmartin.k3s_migration contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: sqlite_integrity
short_description: Check a SQLite database read-only and return its row counts and a content checksum
version_added: 0.2.0
description:
  - Opens the database strictly read-only (never creates a missing file, never writes
    the database or leaves C(-wal)/C(-shm) files that were not there) and runs
    C(PRAGMA integrity_check) or C(PRAGMA quick_check).
  - Reads the schema and every row in one read transaction and returns the row count per
    table and RV(checksum), a SHA-256 over a canonical encoding of the content - the
    schema without page numbers, tables in name order, rows ordered by primary key and
    then every column, each value with its storage class. Databases with the same content
    have the same checksum whatever their page layout, VACUUM history or insert order;
    any changed value changes it. Committed data still in the C(-wal) file counts.
  - Fails on a missing file, a file that is not a SQLite database, a corrupt database, or
    a difference from O(expected_checksum) or O(expected_tables).
author:
  - brmartin.k3s_migration maintainers (@brmartin)
attributes:
  check_mode:
    support: full
    description: The module only reads; check mode changes nothing in what it does.
  diff_mode:
    support: none
    description: Nothing is changed, so there is no diff.
options:
  path:
    description: The database file.
    type: path
    required: true
  check:
    description:
      - V(full) runs C(PRAGMA integrity_check) (every page, index and constraint);
        V(quick) runs C(PRAGMA quick_check) (faster, skips index content).
    type: str
    choices: [quick, full]
    default: full
  expected_checksum:
    description: Fail unless RV(checksum) equals this value (for example one recorded before a migration).
    type: str
  exclude_tables:
    description:
      - Tables left out of RV(checksum) and RV(tables), with their indexes and triggers -
        another tool's bookkeeping that changes without the application writing, such as
        Litestream's C(_litestream_seq) and C(_litestream_lock), which a Litestream
        sidecar rewrites each time it starts.
    type: list
    elements: str
    default: []
  expected_tables:
    description:
      - Table name to the minimum number of rows it must hold. A missing table fails.
    type: dict
    default: {}
notes:
  - A WAL database whose C(-wal) file exists without its C(-shm) file (left by a crash) is
    copied with its C(-wal) to a private temporary directory and read there.
seealso:
  - module: brmartin.k3s_migration.litestream_verify
  - module: brmartin.k3s_migration.tree_checksum
"""

EXAMPLES = r"""
- name: Check Overseerr's database and that its main tables are there
  brmartin.k3s_migration.sqlite_integrity:
    path: /var/lib/overseerr/db/db.sqlite3
    expected_tables:
      user: 1
      media_request: 0
  register: overseerr_db

- name: After the move, the content is what it was before
  brmartin.k3s_migration.sqlite_integrity:
    path: /var/lib/overseerr/db/db.sqlite3
    check: quick
    expected_checksum: "{{ overseerr_db.checksum }}"

- name: The same for a database a Litestream sidecar replicates (its bookkeeping left out)
  brmartin.k3s_migration.sqlite_integrity:
    path: /var/lib/overseerr/db/db.sqlite3
    exclude_tables: [_litestream_seq, _litestream_lock]
"""

RETURN = r"""
ok:
  description: Whether the integrity check passed (the module fails otherwise).
  returned: success
  type: bool
  sample: true
integrity:
  description: What the integrity check returned (V(["ok"]) when sound).
  returned: success
  type: list
  elements: str
  sample: ["ok"]
checksum:
  description: SHA-256 of the canonical encoding of the schema and every row.
  returned: success
  type: str
  sample: 5f7a1c0e9b0d4a3c8e2f6b1d7a9c3e5f0b2d4f6a8c0e2a4c6e8f0a2c4e6f8a0b
tables:
  description: Row count per table, including tables of other tools (for example Litestream's C(_litestream_seq)).
  returned: success
  type: dict
  sample: {"user": 3, "media_request": 42}
journal_mode:
  description: The database's journal mode (C(wal) for a WAL database).
  returned: success
  type: str
  sample: wal
page_count:
  description: Pages in the database file.
  returned: success
  type: int
  sample: 312
page_size:
  description: Bytes per page.
  returned: success
  type: int
  sample: 4096
size_bytes:
  description: Size of the database file (without C(-wal)).
  returned: success
  type: int
  sample: 1277952
check:
  description: The check that ran.
  returned: success
  type: str
  sample: full
path:
  description: The database checked.
  returned: always
  type: str
  sample: /var/lib/overseerr/db/db.sqlite3
problems:
  description: What did not match O(expected_checksum) or O(expected_tables), or the integrity errors.
  returned: failure
  type: list
  elements: str
  sample: ["table user has 0 rows, expected at least 1"]
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.brmartin.k3s_migration.plugins.module_utils import _sqlite as sqlite_utils


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type='path', required=True),
            check=dict(type='str', choices=list(sqlite_utils.CHECKS), default='full'),
            expected_checksum=dict(type='str'),
            expected_tables=dict(type='dict', default={}),
            exclude_tables=dict(type='list', elements='str', default=[]),
        ),
        supports_check_mode=True,
    )
    path = module.params['path']
    expected_tables = module.params['expected_tables']
    for table, minimum in expected_tables.items():
        try:
            if int(minimum) < 0:
                raise ValueError()
        except (TypeError, ValueError):
            module.fail_json(msg='expected_tables.%s must be a row count (integer >= 0), got %r'
                             % (table, minimum), path=path)
    try:
        result = sqlite_utils.inspect(path, module.params['check'], module.params['exclude_tables'])
    except (sqlite_utils.MissingDatabase, sqlite_utils.NotADatabase) as exc:
        module.fail_json(msg=str(exc), path=path)
    except sqlite_utils.CorruptDatabase as exc:
        module.fail_json(msg=str(exc), path=path, ok=False, problems=exc.problems)
    problems = sqlite_utils.expectation_problems(result, module.params['expected_checksum'], expected_tables)
    if problems:
        module.fail_json(msg='database %s is intact but not as expected: %s' % (path, '; '.join(problems)),
                         problems=problems, changed=False, **result)
    module.exit_json(changed=False, **result)


if __name__ == '__main__':
    main()
