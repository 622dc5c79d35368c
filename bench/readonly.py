#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Read-only mount figures: `ls -l`, `cat` and `grep -r` of every message
of an N-message mailbox through imapfs, beside the floor, one raw pipelined
`UID FETCH 1:* BODY.PEEK[]` (and `UID FETCH 1:* (UID FLAGS RFC822.SIZE
INTERNALDATE)` for the listing) through the same private Dovecot on
127.0.0.1, and beside what users do instead: grep over a local copy of the
same messages, and mbsync (Debian's isync, if installed) syncing the mailbox
to a fresh local Maildir, then grep.

    bench/readonly.py [--messages 10000] [--runs 3] [--imapfs build/imapfs]

Each cold imapfs figure is on a fresh mount (nothing cached in imapfs or the
kernel), warm ones on the same mount right after; median of --runs. The
grep is `grep -rl --include='*.eml' NEEDLE` (it still walks every
<uid>.parts directory, as a user's grep -r does). Prints a table with the
ratios to the floor.
"""

import argparse
import os
import random
import shutil
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
        if i % 50 == 0:
            lines.insert(len(lines) // 2, 'the %s is here' % NEEDLE)
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


NEEDLE = 'zebra-needle'   # in every 50th message


def timed(cmd, ok=(0,)):
    t0 = time.monotonic()
    r = subprocess.run(cmd, shell=True, stdout=subprocess.DEVNULL)
    if r.returncode not in ok:
        raise RuntimeError('%s: exit %d' % (cmd, r.returncode))
    return time.monotonic() - t0


def grep_cmd(path):
    return "grep -rl --include='*.eml' %s %s" % (NEEDLE, path)


MBSYNCRC = """IMAPAccount bench
Host 127.0.0.1
Port {port}
User "{user}"
Pass "{password}"
SSLType None
AuthMechs LOGIN

IMAPStore remote
Account bench

MaildirStore local
Path {path}/
Inbox {path}/INBOX
SubFolders Verbatim

Channel bench
Far :remote:
Near :local:
Patterns bench
Create Near
SyncState *
"""


def mbsync_then_grep(dv, base):
    """mbsync of the mailbox into a fresh Maildir, then grep over it: seconds."""
    work = os.path.join(base, 'mbsync')
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(os.path.join(work, 'mail'))
    rc = os.path.join(work, 'mbsyncrc')
    with open(rc, 'w') as f:
        q = lambda v: v.replace('\\', '\\\\').replace('"', '\\"')
        f.write(MBSYNCRC.format(port=dv.port, user=q(dv.user), password=q(dv.password),
                                path=os.path.join(work, 'mail')))
    os.chmod(rc, 0o600)
    t0 = time.monotonic()
    subprocess.run(["mbsync", "-q", "-c", rc, "-a", "--pull"], check=True, stderr=subprocess.DEVNULL)
    subprocess.run("grep -rl %s %s" % (NEEDLE, os.path.join(work, 'mail')), shell=True,
                   stdout=subprocess.DEVNULL)
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
        local = os.path.join(base, 'local')
        os.mkdir(local)
        for i, (raw, _, _) in enumerate(msgs):
            with open(os.path.join(local, '%d.eml' % (i + 1)), 'wb') as f:
                f.write(raw)
        have_mbsync = shutil.which('mbsync') is not None
        keys = ['floor_list', 'floor_body', 'ls', 'cat', 'cat_warm', 'grep', 'grep_warm',
                'grep_local'] + (['mbsync'] if have_mbsync else [])
        rows = {k: [] for k in keys}
        eml = 'find %s/bench -maxdepth 1 -name "*.eml" -print0 | xargs -0 cat'
        for _ in range(args.runs):
            rows['floor_list'].append(raw_fetch(dv, 'bench', b'(UID FLAGS RFC822.SIZE INTERNALDATE)')[0])
            rows['floor_body'].append(raw_fetch(dv, 'bench', b'BODY.PEEK[]')[0])
            m = Mount(args.imapfs, dv, mnt)
            try:
                rows['ls'].append(timed('ls -l %s/bench' % mnt))
                rows['cat'].append(timed(eml % mnt))
                rows['cat_warm'].append(timed(eml % mnt))
            finally:
                m.close()
            m = Mount(args.imapfs, dv, mnt)
            try:
                rows['grep'].append(timed(grep_cmd(mnt + '/bench'), ok=(0, 1)))
                rows['grep_warm'].append(timed(grep_cmd(mnt + '/bench'), ok=(0, 1)))
            finally:
                m.close()
            subprocess.run(['sync'])
            rows['grep_local'].append(timed(grep_cmd(local), ok=(0, 1)))
            if have_mbsync:
                rows['mbsync'].append(mbsync_then_grep(dv, base))
        med = {k: statistics.median(v) for k, v in rows.items()}
        print('\n%-58s %9s %9s' % ('median of %d runs, %d messages' % (args.runs, len(msgs)), 'seconds', 'ratio'))
        print('%-58s %9.3f %9s' % ('floor: UID FETCH 1:* (UID FLAGS RFC822.SIZE INTERNALDATE)', med['floor_list'], '1.00'))
        print('%-58s %9.3f %9.2f' % ('imapfs cold: ls -l', med['ls'], med['ls'] / med['floor_list']))
        print('%-58s %9.3f %9s' % ('floor: UID FETCH 1:* BODY.PEEK[]', med['floor_body'], '1.00'))
        print('%-58s %9.3f %9.2f' % ('imapfs cold: cat of every message', med['cat'], med['cat'] / med['floor_body']))
        print('%-58s %9.3f %9.2f' % ('imapfs warm (page cache): cat of every message', med['cat_warm'], med['cat_warm'] / med['floor_body']))
        print('%-58s %9.3f %9.2f' % ('imapfs cold: grep -rl --include=*.eml', med['grep'], med['grep'] / med['floor_body']))
        print('%-58s %9.3f %9.2f' % ('imapfs warm: the same grep again', med['grep_warm'], med['grep_warm'] / med['floor_body']))
        print('%-58s %9.3f %9.2f' % ('local copy (page cache): the same grep', med['grep_local'], med['grep_local'] / med['floor_body']))
        if have_mbsync:
            print('%-58s %9.3f %9.2f' % ('mbsync to an empty Maildir, then grep', med['mbsync'], med['mbsync'] / med['floor_body']))
            print('imapfs cold grep is %.1fx faster than mbsync + grep' % (med['mbsync'] / med['grep']))
        else:
            print('(mbsync not installed: apt-get install isync for its row)')
        print('imapfs warm grep is %.1fx the local grep' % (med['grep_warm'] / med['grep_local']))
    finally:
        dv.stop()


if __name__ == '__main__':
    main()
