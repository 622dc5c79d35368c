#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""What readable names cost (issue 20): `ls -l` of a big folder with
-o names=uid and -o names=readable, cold (nothing kept), after a remount
(listing and names kept on disk), and what the daemon holds (RSS), beside
the floors: the raw listing FETCH, and the same with the header fields
readable names need, by a bare pipelining client on the same private
Dovecot on 127.0.0.1.

    bench/desktop.py [--messages 20000] [--runs 3] [--imapfs build/imapfs]
"""

import argparse
import os
import shutil
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'tests'))
sys.path.insert(0, HERE)
import dovecot  # noqa: E402
from tools import Mount, Raw, timed  # noqa: E402

SENDERS = ['Alice Example <alice@example.org>', '=?UTF-8?Q?J=C3=B6rg_M=C3=BCller?= <j@x.de>',
           '"Support Team" <support@example.com>', 'bob@example.net (Bob Builder)']


def message(i):
    return dovecot.make_message(
        'Re: [list] thread number %d about the quarterly figures' % (i // 3),
        'Message %d.\n' % i + 'a line of text of a usual length for mail\n' * 60,
        sender=SENDERS[i % len(SENDERS)],
        date='Mon, %02d Jan 2024 %02d:%02d:00 +0100' % (1 + i % 28, i % 24, i % 60),
        msgid='<desk-%d@bench.imapfs>' % i)


def rss_kib(pid):
    with open('/proc/%d/status' % pid) as f:
        for line in f:
            if line.startswith('VmRSS:'):
                return int(line.split()[1])
    return 0


def floor(dv, items):
    raw = Raw(dv)
    raw.cmd(b'EXAMINE big')
    t0 = time.monotonic()
    raw.cmd(b'UID FETCH 1:* (' + items + b')')
    return time.monotonic() - t0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--messages', type=int, default=20000)
    ap.add_argument('--runs', type=int, default=3)
    ap.add_argument('--imapfs', default=os.path.join(HERE, '..', 'build', 'imapfs'))
    a = ap.parse_args()
    base = dovecot.make_basedir('imapfs-bench-desktop-')
    dv = dovecot.Dovecot(os.path.join(base, 'dovecot'))
    dv.start()
    try:
        c = dovecot.imap_client(dv)
        dovecot.create_mailbox(c, 'big')
        c.logout()
        dovecot.append_many(dv, 'big', [(message(i), None, None) for i in range(a.messages)])
        floor(dv, b'UID')  # warm the server's index
        rows = {}
        for _ in range(a.runs):
            rows.setdefault('floor listing', []).append(
                floor(dv, b'UID FLAGS RFC822.SIZE INTERNALDATE'))
            rows.setdefault('floor + header fields', []).append(floor(
                dv, b'UID FLAGS RFC822.SIZE INTERNALDATE BODY.PEEK[HEADER.FIELDS (DATE FROM SUBJECT)]'))
        rss = {}
        for mode in ('uid', 'readable'):
            for run in range(a.runs):
                cache = os.path.join(base, 'cache-%s-%d' % (mode, run))
                mnt = os.path.join(base, 'mnt')
                m = Mount(a.imapfs, dv, mnt, cache, 'names=' + mode)
                try:
                    rows.setdefault('ls -l cold, names=' + mode, []).append(
                        timed(['ls', '-l', os.path.join(mnt, 'big')]))
                    rss.setdefault(mode, []).append(rss_kib(m.proc.pid))
                finally:
                    m.close()
                m = Mount(a.imapfs, dv, mnt, cache, 'names=' + mode)
                try:
                    rows.setdefault('ls -l after remount, names=' + mode, []).append(
                        timed(['ls', '-l', os.path.join(mnt, 'big')]))
                finally:
                    m.close()
                shutil.rmtree(cache, ignore_errors=True)
        base_floor = min(rows['floor listing'])
        print('ls -l of %d messages (a private Dovecot on 127.0.0.1), best of %d:' %
              (a.messages, a.runs))
        print('%-36s %8s %8s' % ('', 'seconds', 'x floor'))
        for k, v in rows.items():
            print('%-36s %8.3f %8.2f' % (k, min(v), min(v) / base_floor))
        for mode, v in rss.items():
            print('RSS after ls -l, names=%-9s %6.1f MB' % (mode, max(v) / 1024))
    finally:
        dv.stop()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == '__main__':
    main()
