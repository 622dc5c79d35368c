#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Read-only mount figures: `ls -l`, `cat` and `grep -r` of every message
of an N-message mailbox through imapfs, beside the floor, one raw pipelined
`UID FETCH 1:* BODY.PEEK[]` (and `UID FETCH 1:* (UID FLAGS RFC822.SIZE
INTERNALDATE)` for the listing) through the same private Dovecot on
127.0.0.1, and beside what users do instead: grep over a local copy of the
same messages, and mbsync (Debian's isync, if installed) syncing the mailbox
to a fresh local Maildir, then grep.

    bench/readonly.py [--messages 10000] [--listing 100000] [--runs 3] [--tls]
                      [--imapfs build/imapfs]

The corpus is deterministic: plain text mail, text + HTML alternatives, and
mail with PDF-like base64 attachments (see corpus()). Each cold imapfs figure
is on a fresh mount (nothing cached in imapfs or the kernel), warm ones on
the same mount right after; median of --runs. The grep is
`grep -rl --include='*.eml' NEEDLE` (it still walks every <uid>.parts
directory, as a user's grep -r does). Parallel readers hash every message
with `find -print0 | xargs -0 -P8 sha256sum`, beside -P1. A second mailbox of
--listing small messages measures `ls -l` of a big folder (cold, and after a
remount, which starts from the listing kept on disk) beside its raw listing
FETCH and beside `ls -l` of a local directory of the same shape, and
imapfs's peak RSS after it (VmHWM). With --tls, the body FETCH is also timed
through `openssl s_client` (a reader in C, as imapfs's own), less the same
session without it. Prints a table with the ratios to the floors.
"""

import argparse
import base64
import os
import random
import shutil
import socket
import ssl
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'tests'))
import dovecot  # noqa: E402


WORDS = ('invoice meeting report project budget travel lunch review draft '
         'schedule contract release server backup deadline').split()


def _text(rnd, size):
    lines, total = [], 0
    while total < size:
        line = ' '.join(rnd.choice(WORDS) for _ in range(12))
        lines.append(line)
        total += len(line) + 2
    return lines


def _multipart(i, rnd, lines, attach):
    """text/plain + text/html alternatives, and with attach a base64 PDF-like
    attachment of that many bytes."""
    b = '=_bench_%d' % i
    text = '\r\n'.join(lines)
    html = '<html><body>%s</body></html>' % ''.join('<p>%s</p>\r\n' % l for l in lines)
    alt = ('Content-Type: multipart/alternative; boundary="%s-alt"\r\n\r\n'
           '--%s-alt\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n%s\r\n'
           '--%s-alt\r\nContent-Type: text/html; charset=utf-8\r\n\r\n%s\r\n'
           '--%s-alt--\r\n' % (b, b, text, b, html, b))
    head = ('From: Bob Example <bob@example.org>\r\nTo: Alice <alice@example.org>\r\n'
            'Subject: bench message %d\r\nDate: Mon, 01 Jan 2024 10:00:00 +0000\r\n'
            'Message-ID: <bench-%d@imapfs.test>\r\nMIME-Version: 1.0\r\n' % (i, i))
    if not attach:
        return (head + alt).encode()
    pdf = b'%PDF-1.4\n' + rnd.randbytes(attach)
    b64 = base64.encodebytes(pdf).decode().replace('\n', '\r\n')
    return (head + 'Content-Type: multipart/mixed; boundary="%s"\r\n\r\n--%s\r\n%s\r\n'
            '--%s\r\nContent-Type: application/pdf; name="report-%d.pdf"\r\n'
            'Content-Disposition: attachment; filename="report-%d.pdf"\r\n'
            'Content-Transfer-Encoding: base64\r\n\r\n%s--%s--\r\n'
            % (b, b, alt, b, i, i, b64, b)).encode()


def corpus(n, seed=1):
    """Deterministic mail of realistic sizes and shapes: 60% plain text
    (2-20 KB, some 100 KB), 25% text + HTML alternatives, 15% with a PDF
    attachment of 20-300 KB. Every 50th holds NEEDLE."""
    rnd = random.Random(seed)
    out = []
    for i in range(n):
        size = rnd.choice([2000] * 6 + [8000] * 3 + [20000] * 2 + [100000])
        lines = _text(rnd, size if size < 100000 or i % 3 else size // 10)
        if i % 50 == 0:
            lines.insert(len(lines) // 2, 'the %s is here' % NEEDLE)
        shape = rnd.random()
        if shape < 0.60:
            raw = dovecot.make_message('bench message %d' % i, '\n'.join(lines),
                                       msgid='<bench-%d@imapfs.test>' % i)
        elif shape < 0.85:
            raw = _multipart(i, rnd, lines[:len(lines) // 2 + 1], 0)
        else:
            raw = _multipart(i, rnd, lines[:20], rnd.choice([20000, 60000, 150000, 300000]))
        out.append((raw, 1700000000 + i * 60, None))
    return out


def listing_corpus(n):
    """n small messages for the big-folder listing."""
    return [(dovecot.make_message('listing %d' % i, 'message %d\n' % i,
                                  msgid='<listing-%d@imapfs.test>' % i), 1700000000 + i, None)
            for i in range(n)]


def raw_fetch(dv, mailbox, items):
    """Time one pipelined UID FETCH 1:* of items, reading every literal."""
    s = socket.create_connection((dovecot.HOST, dv.imaps_port if TLS else dv.port), timeout=120)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if TLS:
        ctx = ssl.create_default_context(cafile=TLS.ca_cert)
        s = ctx.wrap_socket(s, server_hostname=dovecot.HOST)
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


def openssl_fetch(dv, mailbox, items):
    """The same FETCH through `openssl s_client` (C, OpenSSL, as fast as
    imapfs's own TLS reads): its time less that of the same session
    without the FETCH, so the handshake and login are not counted. Python's
    ssl reads flatter imapfs; this floor does not."""
    login = ('a LOGIN %s %s\r\nb EXAMINE %s\r\n' % (
        dovecot.imap_quote(dv.user), dovecot.imap_quote(dv.password),
        dovecot.imap_quote(mailbox))).encode()

    def session(fetch):
        script = login + (b'c UID FETCH 1:* ' + items + b'\r\n' if fetch else b'') + b'z LOGOUT\r\n'
        t0 = time.monotonic()
        r = subprocess.run(['openssl', 's_client', '-quiet', '-ign_eof', '-connect',
                            '%s:%d' % (dovecot.HOST, dv.imaps_port), '-CAfile', TLS.ca_cert,
                            '-servername', 'localhost', '-verify_return_error'],
                           input=script, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                           timeout=600)
        if r.returncode != 0:
            raise RuntimeError('openssl s_client: %s' % r.stderr[-300:])
        return time.monotonic() - t0
    return max(0.0, session(True) - min(session(False) for _ in range(3)))


NEEDLE = 'zebra-needle'   # in every 50th message
TLS = None                # the test CA (dovecot.TestCA) with --tls


def timed(cmd, ok=(0,)):
    t0 = time.monotonic()
    r = subprocess.run(cmd, shell=True, stdout=subprocess.DEVNULL)
    if r.returncode not in ok:
        raise RuntimeError('%s: exit %d' % (cmd, r.returncode))
    return time.monotonic() - t0


def grep_cmd(path):
    return "grep -rl --include='*.eml' %s %s" % (NEEDLE, path)


MBSYNCRC = """IMAPAccount bench
Host {host}
Port {port}
User "{user}"
Pass "{password}"
{ssl}
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
        ssl_lines = ('SSLType IMAPS\nCertificateFile %s' % TLS.ca_cert) if TLS else 'SSLType None'
        # isync checks a certificate's DNS names only: localhost (which the test CA signs)
        f.write(MBSYNCRC.format(host='localhost' if TLS else dovecot.HOST,
                                port=dv.imaps_port if TLS else dv.port, user=q(dv.user),
                                password=q(dv.password), path=os.path.join(work, 'mail'),
                                ssl=ssl_lines))
    os.chmod(rc, 0o600)
    t0 = time.monotonic()
    subprocess.run(["mbsync", "-q", "-c", rc, "-a", "--pull"], check=True, stderr=subprocess.DEVNULL)
    subprocess.run("grep -rl %s %s" % (NEEDLE, os.path.join(work, 'mail')), shell=True,
                   stdout=subprocess.DEVNULL)
    return time.monotonic() - t0


class Mount:
    """imapfs on mnt, its disk cache in cache (emptied first unless keep)."""

    def __init__(self, binary, dv, mnt, cache, keep=False):
        self.mnt = mnt
        if not keep:
            shutil.rmtree(cache, ignore_errors=True)
        env = dict(os.environ, IMAPFS_PASSWORD=dv.password)
        if TLS:
            url, opts = dv.url('imaps'), 'cafile=%s,' % TLS.ca_cert
        else:
            url, opts = dv.url('imap'), 'tls=none,'
        self.proc = subprocess.Popen([binary, '-f', url, mnt, '-o', opts + 'cache_dir=' + cache],
                                     env=env, stderr=open(os.path.join(os.path.dirname(mnt), 'imapfs.log'), 'w'))
        for _ in range(200):
            if os.path.ismount(mnt):
                return
            if self.proc.poll() is not None:
                raise RuntimeError('imapfs exited: see %s' % os.path.join(os.path.dirname(mnt), 'imapfs.log'))
            time.sleep(0.05)
        raise RuntimeError('mount timed out')

    def bytes_received(self):
        return int(os.getxattr(self.mnt, 'user.imapfs.bytes_received'))

    def peak_rss_mb(self):
        with open('/proc/%d/status' % self.proc.pid) as f:
            for line in f:
                if line.startswith('VmHWM:'):
                    return int(line.split()[1]) / 1024
        return float('nan')

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
    ap.add_argument('--listing', type=int, default=100000,
                    help='messages in the big folder for ls -l (0: leave it out)')
    ap.add_argument('--runs', type=int, default=3)
    ap.add_argument('--imapfs', default=os.path.join(HERE, '..', 'build', 'imapfs'))
    ap.add_argument('--tls', action='store_true',
                    help='everything over implicit TLS (imaps://, a private CA)')
    args = ap.parse_args()
    global TLS

    base = dovecot.make_basedir('imapfs-bench-')
    mnt = os.path.join(base, 'mnt')
    os.mkdir(mnt)
    if args.tls:
        TLS = dovecot.TestCA(os.path.join(base, 'ca'))
        dv = dovecot.Dovecot(os.path.join(base, 'server'), tls=True, ca=TLS)
    else:
        dv = dovecot.Dovecot(os.path.join(base, 'server'))
    dv.start()
    try:
        c = dovecot.imap_client(dv)
        c.create('bench')
        if args.listing:
            c.create('big')
        c.logout()
        msgs = corpus(args.messages)
        total = sum(len(m[0]) for m in msgs)
        t0 = time.monotonic()
        dovecot.append_many(dv, 'bench', msgs)
        print('corpus: %d messages, %.1f MB, appended in %.1f s' %
              (len(msgs), total / 1e6, time.monotonic() - t0))
        if args.listing:
            t0 = time.monotonic()
            dovecot.append_many(dv, 'big', listing_corpus(args.listing))
            print('big folder: %d messages, appended in %.1f s' %
                  (args.listing, time.monotonic() - t0))
        local = os.path.join(base, 'local')
        os.mkdir(local)
        if args.listing:
            # What ls -l costs on a local disk for a directory of the same
            # shape (a <uid>.eml file and a <uid>.parts directory a message).
            local_big = os.path.join(base, 'local_big')
            os.mkdir(local_big)
            for uid in range(1, args.listing + 1):
                open(os.path.join(local_big, '%d.eml' % uid), 'wb').close()
                os.mkdir(os.path.join(local_big, '%d.parts' % uid))
        for i, (raw, _, _) in enumerate(msgs):
            with open(os.path.join(local, '%d.eml' % (i + 1)), 'wb') as f:
                f.write(raw)
        have_mbsync = shutil.which('mbsync') is not None
        cache = os.path.join(base, 'cache')
        keys = ['floor_list', 'floor_body', 'ls', 'cat', 'cat_warm', 'grep', 'grep_warm',
                'grep_remount',
                'grep_local', 'hash1', 'hash8'] + (['mbsync'] if have_mbsync else []) + \
            (['floor_body_c'] if TLS else [])
        if args.listing:
            keys += ['big_floor', 'big_ls', 'big_ls_remount', 'big_ls_local', 'big_rss',
                     'big_bytes', 'big_bytes_remount']
        rows = {k: [] for k in keys}
        eml = 'find %s/bench -maxdepth 1 -name "*.eml" -print0 | xargs -0 cat'
        for _ in range(args.runs):
            rows['floor_list'].append(raw_fetch(dv, 'bench', b'(UID FLAGS RFC822.SIZE INTERNALDATE)')[0])
            rows['floor_body'].append(raw_fetch(dv, 'bench', b'BODY.PEEK[]')[0])
            if TLS:
                rows['floor_body_c'].append(openssl_fetch(dv, 'bench', b'BODY.PEEK[]'))
            m = Mount(args.imapfs, dv, mnt, cache)
            try:
                rows['ls'].append(timed('ls -l %s/bench' % mnt))
                rows['cat'].append(timed(eml % mnt))
                rows['cat_warm'].append(timed(eml % mnt))
            finally:
                m.close()
            m = Mount(args.imapfs, dv, mnt, cache)
            try:
                rows['grep'].append(timed(grep_cmd(mnt + '/bench'), ok=(0, 1)))
                rows['grep_warm'].append(timed(grep_cmd(mnt + '/bench'), ok=(0, 1)))
            finally:
                m.close()
            m = Mount(args.imapfs, dv, mnt, cache, keep=True)
            try:
                rows['grep_remount'].append(timed(grep_cmd(mnt + '/bench'), ok=(0, 1)))
            finally:
                m.close()
            hashes = 'find %s/bench -maxdepth 1 -name "*.eml" -print0 | xargs -0 -P%d sha256sum'
            for k, par in (('hash1', 1), ('hash8', 8)):
                m = Mount(args.imapfs, dv, mnt, cache)
                try:
                    rows[k].append(timed(hashes % (mnt, par)))
                finally:
                    m.close()
            if args.listing:
                rows['big_floor'].append(raw_fetch(dv, 'big', b'(UID FLAGS RFC822.SIZE INTERNALDATE)')[0])
                m = Mount(args.imapfs, dv, mnt, cache)
                try:
                    b0 = m.bytes_received()
                    rows['big_ls'].append(timed('ls -l %s/big' % mnt))
                    rows['big_bytes'].append(m.bytes_received() - b0)
                    rows['big_rss'].append(m.peak_rss_mb())
                finally:
                    m.close()
                m = Mount(args.imapfs, dv, mnt, cache, keep=True)
                try:
                    b0 = m.bytes_received()
                    rows['big_ls_remount'].append(timed('ls -l %s/big' % mnt))
                    rows['big_bytes_remount'].append(m.bytes_received() - b0)
                finally:
                    m.close()
                timed('ls -l %s' % local_big)
                rows['big_ls_local'].append(timed('ls -l %s' % local_big))
            subprocess.run(['sync'])
            rows['grep_local'].append(timed(grep_cmd(local), ok=(0, 1)))
            if have_mbsync:
                rows['mbsync'].append(mbsync_then_grep(dv, base))
        med = {k: statistics.median(v) for k, v in rows.items()}
        print('\n%-58s %9s %9s' % ('median of %d runs, %d messages%s' % (args.runs, len(msgs), ', TLS' if TLS else ''), 'seconds', 'ratio'))
        print('%-58s %9.3f %9s' % ('floor: UID FETCH 1:* (UID FLAGS RFC822.SIZE INTERNALDATE)', med['floor_list'], '1.00'))
        print('%-58s %9.3f %9.2f' % ('imapfs cold: ls -l', med['ls'], med['ls'] / med['floor_list']))
        print('%-58s %9.3f %9s' % ('floor: UID FETCH 1:* BODY.PEEK[]', med['floor_body'], '1.00'))
        print('%-58s %9.3f %9.2f' % ('imapfs cold: cat of every message', med['cat'], med['cat'] / med['floor_body']))
        print('%-58s %9.3f %9.2f' % ('imapfs warm (page cache): cat of every message', med['cat_warm'], med['cat_warm'] / med['floor_body']))
        print('%-58s %9.3f %9.2f' % ('imapfs cold: grep -rl --include=*.eml', med['grep'], med['grep'] / med['floor_body']))
        if TLS:
            print('%-58s %9.3f %9s' % ('floor in C: the same FETCH by openssl s_client', med['floor_body_c'], ''))
            print('imapfs cold grep against that floor: %.2fx; cat: %.2fx'
                  % (med['grep'] / med['floor_body_c'], med['cat'] / med['floor_body_c']))
        print('%-58s %9.3f %9.2f' % ('imapfs warm: the same grep again', med['grep_warm'], med['grep_warm'] / med['floor_body']))
        print('%-58s %9.3f %9.2f' % ('imapfs after a remount (disk cache): the same grep', med['grep_remount'], med['grep_remount'] / med['floor_body']))
        print('%-58s %9.3f %9.2f' % ('local copy (page cache): the same grep', med['grep_local'], med['grep_local'] / med['floor_body']))
        if have_mbsync:
            print('%-58s %9.3f %9.2f' % ('mbsync to an empty Maildir, then grep', med['mbsync'], med['mbsync'] / med['floor_body']))
            print('imapfs cold grep is %.1fx faster than mbsync + grep' % (med['mbsync'] / med['grep']))
        else:
            print('(mbsync not installed: apt-get install isync for its row)')
        print('imapfs warm grep is %.1fx the local grep; after a remount %.1fx'
              % (med['grep_warm'] / med['grep_local'], med['grep_remount'] / med['grep_local']))
        print('%-58s %9.3f %9s' % ('imapfs cold: 1 reader, sha256sum of every message', med['hash1'], ''))
        print('%-58s %9.3f %9.2f' % ('imapfs cold: 8 parallel readers (xargs -P8)', med['hash8'], med['hash8'] / med['hash1']))
        if args.listing:
            print('%-58s %9.3f %9s' % ('floor: listing FETCH of %d messages' % args.listing, med['big_floor'], '1.00'))
            print('%-58s %9.3f %9.2f' % ('imapfs cold: ls -l of them', med['big_ls'], med['big_ls'] / med['big_floor']))
            print('%-58s %9.3f %9.2f' % ('imapfs after a remount (listing kept): ls -l of them', med['big_ls_remount'], med['big_ls_remount'] / med['big_floor']))
            print('%-58s %9.3f %9.2f' % ('local disk (dentry cache): ls -l of as many entries', med['big_ls_local'], med['big_ls_local'] / med['big_floor']))
            print('bytes from the server for that ls -l: %d cold, %d after a remount'
                  % (med['big_bytes'], med['big_bytes_remount']))
            print('imapfs peak RSS after listing %d messages: %.1f MB' % (args.listing, med['big_rss']))
    finally:
        dv.stop()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == '__main__':
    main()
