# SPDX-License-Identifier: GPL-3.0-or-later
"""Replacement for the get-pip bootstrap script ansible-test downloads from its CI host.

ansible-test (tests/run-sanity.sh) creates empty virtualenvs and runs
``~/.ansible/test/cache/get_pip_<version>.py <pip options> pip==X ...`` to put pip in
them. That host is unreachable on the project's machines (only package registries
are), so this script does the same job from the interpreter's own ensurepip, then
installs the requested packages from the package index.
"""

import subprocess
import sys

subprocess.check_call([sys.executable, '-m', 'ensurepip', '--default-pip'], stdout=subprocess.DEVNULL)
args = [a for a in sys.argv[1:] if a not in ('--no-setuptools', '--no-wheel')]
subprocess.check_call([sys.executable, '-m', 'pip', 'install'] + args)
