#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Read-only mount figures: `ls -l` and `cat` of every message of an
N-message mailbox through imapfs, beside the floor, one raw pipelined
`UID FETCH 1:* BODY.PEEK[]` (and `UID FETCH 1:* (UID FLAGS RFC822.SIZE
INTERNALDATE)` for the listing) through the same private Dovecot on 127.0.0.1.

    bench/readonly.py [--messages 10000] [--runs 3] [--imapfs build/imapfs]

Each imapfs figure is on a fresh mount (cold: nothing cached in imapfs or the
kernel), median of --runs. Prints a table with the ratios to the floor.
"""

import argparse
import os
import random
import socket
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'tests'))
import dovecot  # noqa: E402


def corpus(n, seed=1):
    """Deterministic mail of realistic sizes: mostly 2-20 KB text, some 100 KB."""
    rnd = random.Random(seed)
    words = ('invoice meeting report project budget travel lunch review draft '
             'schedule contract release server backup deadline').split()
    out = []
    for i in range(n):
        size = rnd.choice([2000] * 6 + [8000] * 3 + [20000] * 2 + [100000])
        lines, total = [], 0
        while total < size:
            line = ' '.join(rnd.choice(words) for _ in range(12))
            lines.append(line)
            total += len(line) + 2
        raw = dovecot.make_message('bench message %d' % i, '\n'.join(lines),
                                   msgid='<bench-%d@imapfs.test>' % i)
        out.append((raw, 1700000000 + i * 60, None))
    return out


def raw_fetch(dv, mailbox, items):
    """Time one pipelined UID FETCH 1:* of items, reading every literal."""
    s = socket.create_connection((dovecot.HOST, dv.port), timeout=120)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    f = s.makefile('rb', buffering=1 << 20)
    f.readline()
    s.sendall(b'a LOGIN ' + dovecot.imap_quote(dv.user).encode() + b' ' +
              dovecot.imap_quote(dv.password).encode() + b'\r\nb EXAMINE ' +
              dovecot.imap_quote(mailbox).encode() + b'\r\n')
    for _ in range(100):
        if f.readline().startswith(b'b '):
            break
    t0 = time.monotonic()
    s.sendall(b'c UID FETCH 1:* ' + items + b'\r\n')
    nbytes = 0
    for _ in range(10_000_000):
        line = f.readline()
        nbytes += len(line)
        if line.startswith(b'c '):
            break
        while line.endswith(b'}\r\n'):
            n = int(line[line.rindex(b'{') + 1:-3])
            nbytes += len(f.read(n))
            line = f.readline()
            nbytes += len(line)
    elapsed = time.monotonic() - t0
    s.sendall(b'z LOGOUT\r\n')
    s.close()
    return elapsed, nbytes


def timed(cmd):
    t0 = time.monotonic()
    subprocess.run(cmd, shell=True, check=True, stdout=subprocess.DEVNULL)
    return time.monotonic() - t0


class Mount:
    def __init__(self, binary, dv, mnt):
        self.mnt = mnt
        env = dict(os.environ, IMAPFS_PASSWORD=dv.password)
        self.proc = subprocess.Popen([binary, '-f', dv.url('imap'), mnt, '-o', 'tls=none'],
                                     env=env, stderr=open(os.path.join(os.path.dirname(mnt), 'imapfs.log'), 'w'))
        for _ in range(200):
            if os.path.ismount(mnt):
                return
            if self.proc.poll() is not None:
                raise RuntimeError('imapfs exited: see %s' % os.path.join(os.path.dirname(mnt), 'imapfs.log'))
            time.sleep(0.05)
        raise RuntimeError('mount timed out')

    def close(self):
        subprocess.run(['fusermount3', '-u', self.mnt], check=False)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--messages', type=int, default=10000)
    ap.add_argument('--runs', type=int, default=3)
    ap.add_argument('--imapfs', default=os.path.join(HERE, '..', 'build', 'imapfs'))
    args = ap.parse_args()

    base = dovecot.make_basedir('imapfs-bench-')
    mnt = os.path.join(base, 'mnt')
    os.mkdir(mnt)
    dv = dovecot.Dovecot(os.path.join(base, 'server'))
    dv.start()
    try:
        c = dovecot.imap_client(dv)
        c.create('bench')
        c.logout()
        msgs = corpus(args.messages)
        total = sum(len(m[0]) for m in msgs)
        t0 = time.monotonic()
        dovecot.append_many(dv, 'bench', msgs)
        print('corpus: %d messages, %.1f MB, appended in %.1f s' %
              (len(msgs), total / 1e6, time.monotonic() - t0))
        rows = {k: [] for k in ('floor_list', 'floor_body', 'ls', 'cat', 'cat_warm')}
        for _ in range(args.runs):
            rows['floor_list'].append(raw_fetch(dv, 'bench', b'(UID FLAGS RFC822.SIZE INTERNALDATE)')[0])
            rows['floor_body'].append(raw_fetch(dv, 'bench', b'BODY.PEEK[]')[0])
            m = Mount(args.imapfs, dv, mnt)
            try:
                rows['ls'].append(timed('ls -l %s/bench' % mnt))
                rows['cat'].append(timed('find %s/bench -maxdepth 1 -name "*.eml" -print0 | xargs -0 cat' % mnt))
                rows['cat_warm'].append(timed('find %s/bench -maxdepth 1 -name "*.eml" -print0 | xargs -0 cat' % mnt))
            finally:
                m.close()
        med = {k: statistics.median(v) for k, v in rows.items()}
        print('\n%-58s %9s %9s' % ('median of %d runs, %d messages' % (args.runs, len(msgs)), 'seconds', 'ratio'))
        print('%-58s %9.3f %9s' % ('floor: UID FETCH 1:* (UID FLAGS RFC822.SIZE INTERNALDATE)', med['floor_list'], '1.00'))
        print('%-58s %9.3f %9.2f' % ('imapfs cold: ls -l', med['ls'], med['ls'] / med['floor_list']))
        print('%-58s %9.3f %9s' % ('floor: UID FETCH 1:* BODY.PEEK[]', med['floor_body'], '1.00'))
        print('%-58s %9.3f %9.2f' % ('imapfs cold: cat of every message', med['cat'], med['cat'] / med['floor_body']))
        print('%-58s %9.3f %9.2f' % ('imapfs warm (page cache): cat of every message', med['cat_warm'], med['cat_warm'] / med['floor_body']))
    finally:
        dv.stop()


if __name__ == '__main__':
    main()
