"""LAB TEST HELPER: the objects under a prefix of the lab's S3 (SeaweedFS), read and changed
through its filer HTTP API, as a broken bucket would look to Litestream.
  s3_objects.py FILER BUCKET/PREFIX list            -> {"key": "sha256", ...}
  s3_objects.py FILER BUCKET/PREFIX corrupt-newest  -> the newest LTX file of each level, one byte flipped
  s3_objects.py FILER BUCKET/PREFIX delete          -> every object under the prefix removed
"""
import hashlib
import json
import sys
import urllib.error
import urllib.request


def url(filer, path):
    return '%s/buckets/%s' % (filer.rstrip('/'), path.lstrip('/'))


def keys(filer, prefix):
    request = urllib.request.Request(url(filer, prefix.rstrip('/')) + '/?limit=10000',
                                     headers={'Accept': 'application/json'})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            listing = json.load(response)
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return []
        raise
    out = []
    for entry in listing.get('Entries') or []:
        full = entry['FullPath'][len('/buckets/'):]
        out.extend(keys(filer, full) if entry.get('Mode', 0) & (1 << 31) else [full])
    return sorted(out)


def get(filer, key):
    with urllib.request.urlopen(url(filer, key), timeout=10) as response:
        return response.read()


def main():
    filer, prefix, action = sys.argv[1:4]
    found = keys(filer, prefix)
    if action == 'list':
        print(json.dumps({k: hashlib.sha256(get(filer, k)).hexdigest() for k in found}, sort_keys=True))
    elif action == 'corrupt-newest':
        # The newest files: at every level (incremental, compacted, snapshot) the file that
        # ends at the replica's highest transaction ID, so no restore path avoids them.
        ltx = [k for k in found if k.endswith('.ltx')]
        if not ltx:
            sys.exit('no LTX file under %s: %s' % (prefix, found))
        newest = max(int(k.rsplit('-', 1)[-1][:-len('.ltx')], 16) for k in ltx)
        corrupted = [k for k in ltx if int(k.rsplit('-', 1)[-1][:-len('.ltx')], 16) == newest]
        for key in corrupted:
            body = bytearray(get(filer, key))
            body[len(body) // 2] ^= 0xFF
            urllib.request.urlopen(urllib.request.Request(url(filer, key), data=bytes(body), method='PUT'),
                                   timeout=10).read()
        print(json.dumps({'corrupted': corrupted}))
    elif action == 'delete':
        for k in found:
            urllib.request.urlopen(urllib.request.Request(url(filer, k), method='DELETE'), timeout=10).read()
        print(json.dumps({'deleted': len(found)}))
    else:
        sys.exit('unknown action %s' % action)


if __name__ == '__main__':
    main()
