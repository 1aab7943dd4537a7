# -*- coding: utf-8 -*-
# Copyright (c) 2026 brmartin.k3s_migration contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: stage_profile
type: aggregate
short_description: Wall time and tasks run per play (stage) and per host
version_added: 0.2.0
description:
  - At the end of a run, prints one line per play of the playbook (site.yml's plays are its
    stages) with its wall time, then one line per host with the tasks that ran there (ok,
    changed or failed; skipped tasks are counted apart), how many changed and the seconds
    spent in them.
  - A host's seconds are the sum of its task durations, so with several hosts in parallel
    they add up to more than the play's wall time; under C(serial) or C(throttle) they show
    where the wait is.
  - Optionally writes the same numbers as JSON for benchmarks (O(output)).
  - Enable it beside the normal output, for example
    C(ANSIBLE_CALLBACKS_ENABLED=brmartin.k3s_migration.stage_profile ansible-playbook site.yml).
author:
  - brmartin.k3s_migration maintainers (@brmartin)
options:
  output:
    description: A file to write the profile to as JSON; none when empty.
    type: str
    default: ''
    env:
      - name: K3S_MIGRATION_PROFILE_OUTPUT
    ini:
      - section: callback_stage_profile
        key: output
"""

import json
import time
from typing import Any

from ansible.plugins.callback import CallbackBase


def summarize(plays: list[dict[str, Any]]) -> dict[str, Any]:
    """Totals over the plays: wall time, and per host tasks run, changed and seconds."""
    hosts: dict[str, dict[str, float]] = {}
    for play in plays:
        for name, h in play["hosts"].items():
            total = hosts.setdefault(name, {"tasks": 0, "changed": 0, "skipped": 0, "seconds": 0.0})
            for key in total:
                total[key] += h[key]
    for h in hosts.values():
        h["seconds"] = round(h["seconds"], 1)
    return {"seconds": round(sum(p["seconds"] for p in plays), 1), "hosts": hosts}


def _block(title: str, seconds: float, hosts: dict[str, dict[str, Any]]) -> list[str]:
    """A play's (or the total's) line, then one line per host."""
    lines = [f"{seconds:7.1f} s  {title}"]
    for name in sorted(hosts):
        h = hosts[name]
        lines.append(
            f"           {name:<12} {h['tasks']:3d} tasks run, {h['changed']:3d} changed,"
            f" {h['skipped']:3d} skipped, {h['seconds']:6.1f} s in tasks"
        )
    return lines


def render(plays: list[dict[str, Any]]) -> list[str]:
    """The text table: per play its wall time and hosts, then the same for all plays."""
    lines = []
    for play in plays:
        lines += _block(play["name"], play["seconds"], play["hosts"])
    total = summarize(plays)
    return lines + _block("all plays", total["seconds"], total["hosts"])


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "brmartin.k3s_migration.stage_profile"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self) -> None:
        super().__init__()
        self._plays: list[dict[str, Any]] = []
        self._started: dict[tuple[str, str], float] = {}
        self._play_start = 0.0

    def _close_play(self) -> None:
        if self._plays and self._plays[-1]["seconds"] is None:
            self._plays[-1]["seconds"] = round(time.monotonic() - self._play_start, 1)

    def v2_playbook_on_play_start(self, play: Any) -> None:
        self._close_play()
        self._play_start = time.monotonic()
        self._plays.append({"name": play.get_name().strip(), "seconds": None, "hosts": {}})

    def v2_runner_on_start(self, host: Any, task: Any) -> None:
        self._started[(host.get_name(), task._uuid)] = time.monotonic()

    def _record(self, result: Any, outcome: str) -> None:
        if not self._plays:
            return
        name = result._host.get_name()
        start = self._started.pop((name, result._task._uuid), None)
        h = self._plays[-1]["hosts"].setdefault(name, {"tasks": 0, "changed": 0, "skipped": 0, "seconds": 0.0})
        if start is not None:
            h["seconds"] = round(h["seconds"] + time.monotonic() - start, 2)
        if outcome == "skipped":
            h["skipped"] += 1
            return
        h["tasks"] += 1
        if result._result.get("changed", False):
            h["changed"] += 1

    def v2_runner_on_ok(self, result: Any) -> None:
        self._record(result, "ok")

    def v2_runner_on_failed(self, result: Any, ignore_errors: bool = False) -> None:
        self._record(result, "failed")

    def v2_runner_on_skipped(self, result: Any) -> None:
        self._record(result, "skipped")

    def v2_runner_on_unreachable(self, result: Any) -> None:
        self._record(result, "failed")

    def v2_playbook_on_stats(self, stats: Any) -> None:
        self._close_play()
        self._display.display("STAGE PROFILE " + "*" * 60)
        for line in render(self._plays):
            self._display.display(line)
        output = self.get_option("output")
        if output:
            with open(output, "w", encoding="utf-8") as handle:
                json.dump({"plays": self._plays, "total": summarize(self._plays)}, handle, indent=2)
                handle.write("\n")
