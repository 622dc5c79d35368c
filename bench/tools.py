#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""What ordinary tools cost on a mount (issue 13), beside the floor: the
same IMAP work done by a bare client (raw socket, TCP_NODELAY) on the same
private Dovecot on 127.0.0.1.

    bench/tools.py [--messages 500] [--imapfs build/imapfs]

Rows (each on a fresh mailbox of --messages messages of about 3 KB):
  rm       `rm Box/*.eml` (each a UID MOVE to Trash)     floor: UID MOVE one a message
  rm -r    `rm -r Box` (messages to Trash, then DELETE)  floor: one UID MOVE of all
  cp in    `cp export/*.eml Box/` (an APPEND a file)     floor: APPEND one a message
  rsync    `rsync -a export/ Box/` first run               floor: APPEND one a message
  rsync 2  the same again (nothing to transfer)            floor: none (local rsync -a)
Every figure is measured here; nothing is assumed.
"""

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'tests'))
import dovecot  # noqa: E402


def message(i):
    body = 'Message %d of the bench.\n' % i + ('filler line for a typical size\n' * 90)
    return dovecot.make_message('bench %d' % i, body, msgid='<tools-%d@bench.imapfs>' % i)


class Raw:
    """A bare pipelining client: the floor."""

    def __init__(self, dv):
        self.s = socket.create_connection(('127.0.0.1', dv.port), timeout=120)
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.f = self.s.makefile('rb')
        self.n = 0
        self.f.readline()
        self.cmd(b'LOGIN ' + dovecot.imap_quote(dv.user).encode() + b' '
                 + dovecot.imap_quote(dv.password).encode())

    def send(self, text):
        self.n += 1
        tag = b'R%d' % self.n
        self.s.sendall(tag + b' ' + text + b'\r\n')
        return tag

    def wait(self, tag):
        for _ in range(10000000):
            line = self.f.readline()
            if not line:
                raise RuntimeError('connection closed')
            if line.startswith(tag + b' '):
                if not line.split()[1] == b'OK':
                    raise RuntimeError(line)
                return

    def cmd(self, text):
        self.wait(self.send(text))

    def append(self, box, raw):
        tag = self.send(b'APPEND %s {%d+}\r\n' % (box.encode(), len(raw)) + raw)
        self.wait(tag)


def fill(dv, box, n):
    c = dovecot.imap_client(dv)
    try:
        dovecot.create_mailbox(c, box)
    finally:
        c.logout()
    dovecot.append_many(dv, box, [(message(i), None, None) for i in range(n)])


def count(dv, box):
    c = dovecot.imap_client(dv)
    try:
        typ, data = c.status(box, '(MESSAGES)')
        return int(data[0].split(b'MESSAGES ')[1].rstrip(b')')) if typ == 'OK' else -1
    finally:
        c.logout()


class Mount:
    def __init__(self, binary, dv, mnt, cache, opts=''):
        self.mnt = mnt
        os.makedirs(mnt, exist_ok=True)
        env = dict(os.environ, IMAPFS_PASSWORD=dv.password)
        self.proc = subprocess.Popen([binary, '-f'] + (['-d'] if os.environ.get('BENCH_DEBUG') else []) + [dv.url('imap'), mnt, '-o',
                                      'tls=none,cache_dir=%s' % cache + (',' + opts if opts else '')],
                                     env=env, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=open(os.environ['BENCH_DEBUG'], 'w') if os.environ.get('BENCH_DEBUG') else subprocess.DEVNULL)
        for _ in range(200):
            if os.path.ismount(mnt):
                return
            if self.proc.poll() is not None:
                raise RuntimeError('imapfs exited')
            time.sleep(0.05)
        raise RuntimeError('mount timed out')

    def close(self):
        subprocess.run(['fusermount3', '-u', self.mnt], check=False)
        self.proc.wait(30)


def timed(argv, **kw):
    t0 = time.monotonic()
    r = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, **kw)
    secs = time.monotonic() - t0
    if r.returncode != 0:
        raise RuntimeError('%s: %s' % (argv[:2], r.stderr[-500:]))
    return secs


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--messages', type=int, default=500)
    ap.add_argument('--imapfs', default=os.path.join(HERE, '..', 'build', 'imapfs'))
    a = ap.parse_args()
    n = a.messages
    base = dovecot.make_basedir('imapfs-bench-tools-')
    dv = dovecot.Dovecot(os.path.join(base, 'dovecot'))
    dv.start()
    rows = []
    try:
        export = os.path.join(base, 'export')
        os.makedirs(export)
        for i in range(n):
            p = os.path.join(export, 'mail-%05d.eml' % i)
            with open(p, 'wb') as f:
                f.write(message(i))
            os.utime(p, (1600000000 + i, 1600000000 + i))
        for box in ('Floor1', 'Floor2', 'Rm', 'RmR'):
            fill(dv, box, n)
        raw = Raw(dv)
        raw.cmd(b'CREATE FloorTrash')
        raw.cmd(b'SELECT Floor1')
        t0 = time.monotonic()
        for uid in range(1, n + 1):
            raw.cmd(b'UID MOVE %d FloorTrash' % uid)
        one_each = time.monotonic() - t0
        raw.cmd(b'SELECT Floor2')
        t0 = time.monotonic()
        raw.cmd(b'UID MOVE 1:* FloorTrash')
        one_set = time.monotonic() - t0
        raw.cmd(b'CREATE FloorAppend')
        t0 = time.monotonic()
        for i in range(n):
            raw.append('FloorAppend', message(i))
        append_each = time.monotonic() - t0

        m = Mount(a.imapfs, dv, os.path.join(base, 'mnt'), os.path.join(base, 'cache'))
        try:
            files = sorted(os.path.join(m.mnt, 'Rm', f) for f in os.listdir(os.path.join(m.mnt, 'Rm'))
                           if f.endswith('.eml'))
            rm = timed(['rm'] + files)
            rmr = timed(['rm', '-r', os.path.join(m.mnt, 'RmR')])
            os.mkdir(os.path.join(m.mnt, 'Cp'))
            cp = timed(['sh', '-c', 'cp "$1"/*.eml "$2"/', 'cp', export, os.path.join(m.mnt, 'Cp')])
            rs1 = timed(['rsync', '-a', export + '/', os.path.join(m.mnt, 'Rsync') + '/'])
            rs2 = timed(['rsync', '-a', export + '/', os.path.join(m.mnt, 'Rsync') + '/'])
        finally:
            m.close()
        local = os.path.join(base, 'local-copy')
        shutil.copytree(export, local)
        rs_local = timed(['rsync', '-a', export + '/', local + '/'])
        assert count(dv, 'Trash') == 2 * n and count(dv, 'Cp') == n and count(dv, 'Rsync') == n
        rows = [
            ('rm (%d, to Trash)' % n, rm, 'UID MOVE one a message', one_each),
            ('rm -r (%d)' % n, rmr, 'one UID MOVE of the set', one_set),
            ('cp in (%d)' % n, cp, 'APPEND one a message', append_each),
            ('rsync -a first run', rs1, 'APPEND one a message', append_each),
            ('rsync -a again', rs2, 'local rsync -a again', rs_local),
        ]
    finally:
        dv.stop()
        shutil.rmtree(base, ignore_errors=True)
    print('%-22s %9s %9s  %-26s %9s %8s' % ('work', 'imapfs', 'per msg', 'floor', 'floor', 'ratio'))
    for name, t, fname, f in rows:
        print('%-22s %8.2fs %7.2fms  %-26s %8.3fs %7.1fx' % (name, t, t * 1000 / n, fname, f,
                                                            t / f if f else float('nan')))


if __name__ == '__main__':
    main()
