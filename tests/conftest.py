# SPDX-License-Identifier: GPL-3.0-or-later
"""Make ``ansible_collections.brmartin.k3s_migration`` importable from the checkout."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COLLECTIONS = ROOT / 'collections'
if str(COLLECTIONS) not in sys.path:
    sys.path.insert(0, str(COLLECTIONS))
TESTS = ROOT / 'tests'
if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))  # tests/modrun.py and tests/standins
