#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""MIME part figures: what opening one attachment costs through imapfs.

A private Dovecot on 127.0.0.1 gets one message of --size bytes (6 MiB)
whose base64 attachment is --b64 characters (5 MiB, so 3.75 MiB decoded)
next to a text part. For each mode (BINARY, and -o nobinary: BODY.PEEK
ranges decoded by imapfs), each on fresh mounts (nothing cached):

  cat        `cat` of MOUNT/bench/<uid>.parts/<attachment>
  head       `head -c 4096` of it

it prints the bytes imapfs received from the server (its root's
user.imapfs.bytes_received, read before and after), with the listing of the
mailbox and of the .parts directory and without it (counted from just after
`ls -l` of the .parts directory), and the wall time of the read, beside the
targets. Median of --runs.

    bench/parts.py [--runs 3] [--imapfs build/imapfs] [--size N] [--b64 N]
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'tests'))
import dovecot  # noqa: E402

TARGETS = {('cat', 'binary'): ('ratio', 1.05), ('cat', 'nobinary'): ('ratio', 1.4),
           ('head', 'binary'): ('bytes', 128 << 10), ('head', 'nobinary'): ('bytes', 128 << 10)}


class Mount:
    """imapfs -f on a fresh mount point; stopped by pid and fusermount3."""

    def __init__(self, binary, dv, mnt, opts, log):
        self.mnt = mnt
        env = dict(os.environ, IMAPFS_PASSWORD=dv.password)
        self.log = open(log, 'ab')
        self.proc = subprocess.Popen([binary, '-f', dv.url('imap'), mnt, '-o', ','.join(opts)],
                                     env=env, stdin=subprocess.DEVNULL, stdout=self.log,
                                     stderr=self.log)
        for _ in range(200):  # 10 s
            if os.path.ismount(mnt):
                return
            if self.proc.poll() is not None:
                raise RuntimeError('imapfs exited with %d: see %s' % (self.proc.returncode, log))
            time.sleep(0.05)
        self.close()
        raise RuntimeError('not mounted within 10 s: see %s' % log)

    def received(self):
        return int(os.getxattr(self.mnt, 'user.imapfs.bytes_received'))

    def close(self):
        subprocess.run(['fusermount3', '-u', self.mnt], check=False, timeout=30,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
        self.log.close()


def measure(args, dv, base, uid, att, mode, what):
    """One fresh mount: (bytes with listing, bytes of the read alone, seconds)."""
    mnt = os.path.join(base, 'mnt')
    os.makedirs(mnt, exist_ok=True)
    opts = ['tls=none'] + (['nobinary'] if mode == 'nobinary' else [])
    m = Mount(args.imapfs, dv, mnt, opts, os.path.join(base, 'imapfs.log'))
    try:
        start = m.received()
        pdir = os.path.join(mnt, 'bench', '%d.parts' % uid)
        subprocess.run(['ls', '-l', os.path.join(mnt, 'bench')], check=True, timeout=60,
                       stdout=subprocess.DEVNULL)
        subprocess.run(['ls', '-l', pdir], check=True, timeout=60, stdout=subprocess.DEVNULL)
        names = [n for n in os.listdir(pdir) if n.endswith(args.filename)]
        if len(names) != 1:
            raise RuntimeError('no single *%s in %s: %r' % (args.filename, pdir, os.listdir(pdir)))
        path = os.path.join(pdir, names[0])
        after_ls = m.received()
        cmd = ['cat', path] if what == 'cat' else ['head', '-c', '4096', path]
        t0 = time.monotonic()
        out = subprocess.run(cmd, check=True, timeout=300, stdout=subprocess.PIPE).stdout
        secs = time.monotonic() - t0
        end = m.received()
        want = att if what == 'cat' else att[:4096]
        if out != want:
            raise RuntimeError('%s of %s (%s): wrong bytes (%d, expected %d)'
                               % (what, path, mode, len(out), len(want)))
        return end - start, end - after_ls, secs
    finally:
        m.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--runs', type=int, default=3)
    ap.add_argument('--imapfs', default=os.path.join(HERE, '..', 'build', 'imapfs'))
    ap.add_argument('--size', type=int, default=6 << 20, help='message bytes (6 MiB)')
    ap.add_argument('--b64', type=int, default=5 << 20,
                    help='base64 characters of the attachment (5 MiB)')
    args = ap.parse_args()
    args.filename = 'attachment.pdf'
    args.imapfs = os.path.abspath(args.imapfs)

    base = dovecot.make_basedir('imapfs-bench-parts-')
    dv = dovecot.Dovecot(os.path.join(base, 'server'))
    dv.start()
    try:
        c = dovecot.imap_client(dv)
        dovecot.create_mailbox(c, 'bench')
        c.logout()
        raw, att = dovecot.make_attachment_message(args.size, args.b64, seed=1,
                                                   filename=args.filename)
        uid = dovecot.append_many(dv, 'bench', [(raw, None, None)])[0]
        print('message: %d bytes; attachment: %d bytes decoded, %d bytes of base64 lines'
              % (len(raw), len(att), raw.index(b'--', raw.rindex(b'base64\r\n\r\n'))
                 - raw.rindex(b'base64\r\n\r\n') - len(b'base64\r\n\r\n')))
        rows = []
        for what in ('cat', 'head'):
            for mode in ('binary', 'nobinary'):
                runs = [measure(args, dv, base, uid, att, mode, what) for _ in range(args.runs)]
                total = statistics.median(r[0] for r in runs)
                alone = statistics.median(r[1] for r in runs)
                secs = statistics.median(r[2] for r in runs)
                rows.append((what, mode, total, alone, secs))
        print('\nmedian of %d runs, each on a fresh mount' % args.runs)
        print('%-22s %-9s %12s %12s %9s %9s  %s' % ('read', 'mode', 'received', 'read alone',
                                                   'figure', 'seconds', 'target'))
        for what, mode, total, alone, secs in rows:
            kind, target = TARGETS[(what, mode)]
            label = 'cat attachment' if what == 'cat' else 'head -c 4096'
            if kind == 'ratio':
                fig = '%.3f' % (total / len(att))
                tgt = 'received / attachment <= %.2f (read alone: %.3f)' % (
                    target, alone / len(att))
            else:
                fig = '%.0f KiB' % (total / 1024)
                tgt = 'received < %d KiB (read alone: %.1f KiB)' % (target >> 10, alone / 1024)
            ok = total / len(att) <= target if kind == 'ratio' else total < target
            print('%-22s %-9s %12d %12d %9s %9.3f  %s %s' % (
                label, mode, total, alone, fig, secs, tgt, 'met' if ok else 'MISSED'))
    finally:
        dv.stop()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == '__main__':
    main()
