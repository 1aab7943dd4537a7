# SPDX-License-Identifier: GPL-3.0-or-later
"""litestream_verify's pure parts: replica URL, explicit environment, replica position."""

from __future__ import annotations

import datetime

import pytest

from ansible_collections.brmartin.k3s_migration.plugins.module_utils import _litestream as ls


def test_replica_url_gets_s3_options_as_query_parameters():
    url = ls.replica_url('s3://overseerr-litestream/overseerr', 'http://192.168.1.5:9000', 'us-east-1', True)
    assert url == ('s3://overseerr-litestream/overseerr?endpoint=http%3A%2F%2F192.168.1.5%3A9000'
                   '&forcePathStyle=true&region=us-east-1')
    assert ls.replica_url('s3://b/p?region=eu-west-2', region='us-east-1') == 's3://b/p?region=eu-west-2'
    with pytest.raises(ValueError, match='not a Litestream replica URL'):
        ls.replica_url('minio://b/p')


def test_environment_is_explicit():
    base = {'PATH': '/venv/bin:/usr/bin', 'HOME': '/home/op', 'AWS_CA_BUNDLE': '/etc/ssl/ca.pem',
            'AWS_PROFILE': 'prod', 'LITESTREAM_CONFIG': '/etc/other.yml'}
    env = ls.environment('AK', 'SK', {'MINIO_SECRET_KEY': 'x'}, base=base)
    assert env == {'PATH': '/venv/bin:/usr/bin', 'HOME': '/home/op', 'LITESTREAM_ACCESS_KEY_ID': 'AK',
                   'LITESTREAM_SECRET_ACCESS_KEY': 'SK', 'MINIO_SECRET_KEY': 'x'}
    assert ls.environment(base={})['PATH'] == ls.DEFAULT_PATH


def test_source_arguments():
    assert ls.source('/etc/litestream.yml', '/db', None) == ['-config', '/etc/litestream.yml', '/db']
    assert ls.source(None, '/db', 's3://b/p') == ['s3://b/p']


def test_position_is_the_first_write_of_the_highest_transaction():
    files = [
        {'level': 0, 'min_txid': '0000000000000001', 'max_txid': '0000000000000003', 'timestamp': '2026-11-26T08:39:54Z'},
        {'level': 0, 'min_txid': '0000000000000004', 'max_txid': '000000000000000a', 'timestamp': '2026-11-26T08:39:56Z'},
        {'level': 1, 'min_txid': '0000000000000001', 'max_txid': '000000000000000a', 'timestamp': '2026-11-26T08:40:30Z'},
        {'level': 9, 'min_txid': '0000000000000001', 'max_txid': '0000000000000001', 'timestamp': '2026-11-26T08:39:50Z'},
    ]
    assert ls.position(files) == {'txid': '000000000000000a', 'timestamp': '2026-11-26T08:39:56Z',
                                  'files': 4, 'levels': [0, 1, 9]}
    assert ls.position([]) == {}


@pytest.mark.parametrize('text', ['2026-11-26T08:39:56Z', '2026-11-26T08:39:56.123456789Z',
                                  '2026-11-26T08:39:56+00:00', '2026-11-26T08:39:56.5'])
def test_parse_time(text):
    parsed = ls.parse_time(text)
    assert parsed.tzinfo is not None
    assert parsed.replace(microsecond=0) == datetime.datetime(2026, 11, 26, 8, 39, 56, tzinfo=datetime.timezone.utc)
