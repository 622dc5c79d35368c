#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Search directories' figures: `ls <mailbox>/.search/<query>` on a fresh
mount (cold: nothing kept in imapfs, the kernel or the disk cache), beside
the floor, one raw `UID SEARCH` of the same keys through the same private
Dovecot on 127.0.0.1 (on a connection already logged in, with the mailbox
selected), and beside what users do without it: a cold
`grep -rl --include='*.eml' --exclude-dir='*.parts' WORD` over the mount.

    bench/search.py [--messages 10000] [--listing 100000] [--runs 3]
                    [--imapfs build/imapfs]

Two servers hold the same corpus (bench/readonly.py's 10,000 messages and
its 100,000-message folder): a plain Dovecot, which reads every message for
a text search, and one with Dovecot's fts-lucene index (Debian's
dovecot-lucene), which answers from the index (it is built before timing,
by one search). Medians of --runs; prints a table with the ratios.
"""

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'tests'))
sys.path.insert(0, HERE)
import dovecot  # noqa: E402
import readonly  # noqa: E402
from readonly import Mount, corpus, listing_corpus, timed  # noqa: E402

LUCENE = '''
mail_plugins = $mail_plugins fts fts_lucene
plugin {
  fts = lucene
  fts_lucene = whitespace_chars=@.
  fts_autoindex = yes
  fts_enforced = yes
}
'''
WORD = readonly.NEEDLE          # in every 50th message of the corpus
ABSENT = 'nowhere-in-this-corpus'


def raw_search(dv, mailbox, keys):
    """Seconds of one UID SEARCH keys, the mailbox already selected; and the hit count."""
    s = socket.create_connection((dovecot.HOST, dv.port), timeout=600)
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
    s.sendall(b'c UID SEARCH ' + keys.encode() + b'\r\n')
    hits = 0
    for _ in range(1000):
        line = f.readline()
        if line.startswith(b'* SEARCH'):
            hits = len(line.split()) - 2
        if line.startswith(b'c ') or not line:
            break
    elapsed = time.monotonic() - t0
    if not line.startswith(b'c OK'):
        raise RuntimeError('UID SEARCH %s: %r' % (keys, line))
    s.sendall(b'z LOGOUT\r\n')
    s.close()
    return elapsed, hits


def ls_search(args, dv, mnt, cache, mailbox, query):
    """A fresh mount, then `ls` of mailbox/.search/query: seconds and entries."""
    m = Mount(args.imapfs, dv, mnt, cache)
    try:
        path = os.path.join(mnt, mailbox, '.search', query)
        t0 = time.monotonic()
        r = subprocess.run(['ls', path], capture_output=True, text=True)
        elapsed = time.monotonic() - t0
        if r.returncode:
            raise RuntimeError('ls %s: %s' % (path, r.stderr))
        return elapsed, len(r.stdout.split())
    finally:
        m.close()


def cold_grep(args, dv, mnt, cache, mailbox, word):
    m = Mount(args.imapfs, dv, mnt, cache)
    try:
        return timed("grep -rl --include='*.eml' --exclude-dir='*.parts' %s %s/%s" %
                     (word, mnt, mailbox), ok=(0, 1))
    finally:
        m.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--messages', type=int, default=10000)
    ap.add_argument('--listing', type=int, default=100000,
                    help='messages in the big folder (0: leave it out)')
    ap.add_argument('--runs', type=int, default=3)
    ap.add_argument('--imapfs', default=os.path.join(HERE, '..', 'build', 'imapfs'))
    args = ap.parse_args()

    base = dovecot.make_basedir('imapfs-bench-search-')
    mnt = os.path.join(base, 'mnt')
    cache = os.path.join(base, 'cache')
    os.mkdir(mnt)
    servers = {}
    try:
        msgs = corpus(args.messages)
        big = listing_corpus(args.listing) if args.listing else []
        for name, conf in (('plain', ''), ('lucene', LUCENE)):
            dv = dovecot.Dovecot(os.path.join(base, name), extra_conf=conf)
            dv.start()
            servers[name] = dv
            c = dovecot.imap_client(dv)
            c.create('bench')
            if big:
                c.create('big')
            c.logout()
            t0 = time.monotonic()
            dovecot.append_many(dv, 'bench', msgs)
            if big:
                dovecot.append_many(dv, 'big', big)
            # the index is built by the first search, not timed
            raw_search(dv, 'bench', 'TEXT ' + ABSENT)
            if big:
                raw_search(dv, 'big', 'SUBJECT absent')
            print('%s: %d + %d messages appended (and indexed) in %.1f s' %
                  (name, len(msgs), len(big), time.monotonic() - t0), flush=True)

        # (label, server, mailbox, raw keys, query)
        cases = [
            ('word, in 2%', 'plain', 'bench', 'TEXT ' + WORD, WORD),
            ('word, in none', 'plain', 'bench', 'TEXT ' + ABSENT, ABSENT),
            ('from:', 'plain', 'bench', 'FROM nobody@example.org', 'from:nobody@example.org'),
            ('subject:', 'plain', 'bench', 'SUBJECT "message 4242"',
             'subject:"message 4242"'),
            ('word, in 2%, indexed', 'lucene', 'bench', 'TEXT ' + WORD, WORD),
            ('word, in none, indexed', 'lucene', 'bench', 'TEXT ' + ABSENT, ABSENT),
        ]
        if big:
            cases += [
                ('100k: subject:', 'plain', 'big', 'SUBJECT "listing 4242"',
                 'subject:"listing 4242"'),
                ('100k: from:', 'plain', 'big', 'FROM nobody@example.org',
                 'from:nobody@example.org'),
                ('100k: word, indexed', 'lucene', 'big', 'TEXT "message 4242"',
                 '"message 4242"'),
            ]
        rows = []
        for label, name, box, keys, query in cases:
            dv = servers[name]
            raw, ls = [], []
            for _ in range(args.runs):
                t, hits = raw_search(dv, box, keys)
                raw.append(t)
                t, entries = ls_search(args, dv, mnt, cache, box, query)
                ls.append(t)
                if entries != 2 * hits:
                    raise RuntimeError('%s: ls gave %d entries for %d hits' %
                                       (label, entries, hits))
            rows.append((label, statistics.median(raw), statistics.median(ls), hits))
            print('  %-24s raw %.3f s  ls %.3f s  (%d hits)' % rows[-1], flush=True)
        greps = {}
        for name in servers:
            greps[name] = statistics.median(
                cold_grep(args, servers[name], mnt, cache, 'bench', WORD)
                for _ in range(args.runs))

        print()
        print('median of %d runs; %d-message corpus (%d in the big folder)' %
              (args.runs, args.messages, args.listing))
        print('%-24s %9s %9s %7s %9s %6s' % ('query', 'raw s', 'ls s', 'ls/raw', 'grep/ls',
                                             'hits'))
        for label, raw, ls, hits in rows:
            grep = greps['lucene' if 'indexed' in label else 'plain'] \
                if not label.startswith('100k') else float('nan')
            print('%-24s %9.3f %9.3f %7.2f %9.1f %6d' % (label, raw, ls, ls / raw,
                                                          grep / ls, hits))
        print('cold grep -rl of the word over the mount: %.3f s (plain), %.3f s (indexed '
              'server)' % (greps['plain'], greps['lucene']))
    finally:
        for dv in servers.values():
            dv.stop()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == '__main__':
    main()
