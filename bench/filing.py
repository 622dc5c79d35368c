#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Filing mail in bulk (issue 22): mv, cp and rm of many messages through a
mount, beside the same work done by a bare client on the same private Dovecot
on 127.0.0.1, in the same run.

    bench/filing.py [--sizes 500,2000,5000] [--imapfs build/imapfs] [--rows mv,mv8,cp,rm,churn]
                    [--runs R]

For each size N, on fresh mailboxes of N messages of about 3 KB:
  mv        `mv A/*.eml B/`                 floor: UID MOVE one a message; one UID MOVE of the set
  mv -P8    `xargs -P8 -n50 mv -t B/`       floors as above
  cp in     `cp export/*.eml C/`             floor: APPEND one a message (synchronising literal)
  rm        `rm D/*.eml` (to Trash)          floor: UID MOVE one a message
  mv churn  `mv` while another client appends to both mailboxes and sets and
            clears a flag on all their messages in a loop; compared with the quiet mv,
            and the raw UID MOVE loop under the same churn (what the server takes)
  wb        with `-o writeback`: `mv A/*.eml B/`, `rm -r D`, `xargs -P8 mv`, `mv`
            under churn and `cp` in, the time until they return and until the
            server holds the result (user.imapfs.pending is 0); floor: one UID MOVE
            of the set (mv, rm), the quiet writeback mv (churn), APPEND each (cp)
Every row is checked on the server afterwards (counts); every figure is measured here.
With --runs R each size is measured R times over, floors included, on fresh
mailboxes: each row then shows the medians of its time, its floor and the ratio
of each run (how long the server takes drifts from run to run on a loaded machine,
and a ratio taken within one run drifts less), and the lowest and highest ratio.
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'tests'))
sys.path.insert(0, HERE)
import dovecot  # noqa: E402
from tools import Mount, Raw, count, fill, message, timed  # noqa: E402


def raw_floors(dv, n, tag):
    """Seconds for: UID MOVE one a message, one UID MOVE of the set, APPEND one a message."""
    for box in ('F1' + tag, 'F2' + tag):
        fill(dv, box, n)
    raw = Raw(dv)
    raw.cmd(b'CREATE FT' + tag.encode())
    raw.cmd(b'SELECT F1' + tag.encode())
    t0 = time.monotonic()
    for uid in range(1, n + 1):
        raw.cmd(b'UID MOVE %d FT%s' % (uid, tag.encode()))
    move_each = time.monotonic() - t0
    raw.cmd(b'SELECT F2' + tag.encode())
    t0 = time.monotonic()
    raw.cmd(b'UID MOVE 1:* FT' + tag.encode())
    move_set = time.monotonic() - t0
    raw.cmd(b'CREATE FA' + tag.encode())
    t0 = time.monotonic()
    for i in range(n):
        raw.append('FA' + tag, message(i))
    append_each = time.monotonic() - t0
    raw.s.close()
    return move_each, move_set, append_each


def raw_move_under_churn(dv, n, tag):
    """Seconds for the raw one-at-a-time UID MOVE loop while Churn runs on
    both mailboxes: what the server itself takes under that load."""
    src, dst = 'RC1' + tag, 'RC2' + tag
    fill(dv, src, n)
    raw = Raw(dv)
    raw.cmd(b'CREATE ' + dst.encode())
    churn = Churn(dv, [src, dst])
    try:
        raw.cmd(b'SELECT ' + src.encode())
        t0 = time.monotonic()
        for uid in range(1, n + 1):
            raw.cmd(b'UID MOVE %d %s' % (uid, dst.encode()))
        took = time.monotonic() - t0
    finally:
        churn.close()
        raw.s.close()
    return took


class Churn:
    """Another client: appends to both mailboxes, sets and clears \\Flagged on all their messages."""

    def __init__(self, dv, boxes):
        self.dv, self.boxes = dv, boxes
        self.stop = threading.Event()
        self.rounds = 0
        self.appended = dict((b, 0) for b in boxes)
        self.t = threading.Thread(target=self.run)
        self.t.start()

    def run(self):
        c = dovecot.imap_client(self.dv)
        try:
            for i in range(100000):
                if self.stop.is_set():
                    break
                for box in self.boxes:
                    c.append(box, None, None, message(900000 + i))
                    self.appended[box] += 1
                    c.select(box)
                    c.uid('STORE', '1:*', '+FLAGS.SILENT' if i % 2 == 0 else '-FLAGS.SILENT',
                          '(\\Flagged)')
                    c.close()
                self.rounds += 1
        finally:
            c.logout()

    def close(self):
        self.stop.set()
        self.t.join(120)


def eml(mnt, box):
    d = os.path.join(mnt, box)
    return sorted((os.path.join(d, f) for f in os.listdir(d) if f.endswith('.eml')),
                  key=lambda p: int(os.path.basename(p).split('.')[0]))


def bench_size(a, dv, base, n, rows, run=0):
    tag = 'n%d' % n + ('r%d' % run if run else '')
    move_each, move_set, append_each = raw_floors(dv, n, tag)
    want = set(a.rows.split(','))
    boxes = {}
    for key in ('mv', 'mv8', 'rm', 'churn', 'wb', 'wbrm', 'wb8', 'wbchurn'):
        if key in want or (key.startswith('wb') and 'wb' in want):
            fill(dv, key + 'A' + tag, n)
            c = dovecot.imap_client(dv)
            dovecot.create_mailbox(c, key + 'B' + tag)
            c.logout()
            boxes[key] = (key + 'A' + tag, key + 'B' + tag)
    export = os.path.join(base, 'export-' + tag)
    os.makedirs(export)
    for i in range(n):
        with open(os.path.join(export, 'mail-%05d.eml' % i), 'wb') as f:
            f.write(message(i))
    m = Mount(a.imapfs, dv, os.path.join(base, 'mnt'), os.path.join(base, 'cache-' + tag))
    got = {}
    try:
        if 'mv' in want:
            src, dst = boxes['mv']
            got['mv'] = timed(['mv'] + eml(m.mnt, src) + [os.path.join(m.mnt, dst) + '/'])
            assert count(dv, src) == 0 and count(dv, dst) == n, 'mv: counts'
        if 'mv8' in want:
            src, dst = boxes['mv8']
            files = '\0'.join(eml(m.mnt, src)).encode()
            t0 = time.monotonic()
            subprocess.run(['xargs', '-0', '-P8', '-n50', 'mv', '-t', os.path.join(m.mnt, dst)],
                           input=files, check=True)
            got['mv8'] = time.monotonic() - t0
            assert count(dv, src) == 0 and count(dv, dst) == n, 'mv -P8: counts'
        if 'cp' in want:
            os.mkdir(os.path.join(m.mnt, 'C' + tag))
            got['cp'] = timed(['sh', '-c', 'cp "$1"/*.eml "$2"/', 'cp', export,
                               os.path.join(m.mnt, 'C' + tag)])
            assert count(dv, 'C' + tag) == n, 'cp: count'
        if 'rm' in want:
            src, _ = boxes['rm']
            trash0 = count(dv, 'Trash')
            files = eml(m.mnt, src)
            t0 = time.monotonic()
            got['rm'] = timed(['rm'] + files)
            # Past the first removals rm's go to the journal (sent in sets): until it drains.
            drained(m.mnt)
            got['rmdone'] = time.monotonic() - t0
            assert count(dv, src) == 0 and count(dv, 'Trash') == max(trash0, 0) + n, 'rm: counts'
        if 'churn' in want:
            got['churnraw'] = raw_move_under_churn(dv, n, tag)
            src, dst = boxes['churn']
            files = eml(m.mnt, src)
            churn = Churn(dv, [src, dst])
            try:
                got['churn'] = timed(['mv'] + files + [os.path.join(m.mnt, dst) + '/'])
            finally:
                churn.close()
            assert count(dv, src) == churn.appended[src], 'churn: source count'
            assert count(dv, dst) == n + churn.appended[dst], 'churn: target count'
    finally:
        m.close()
    if 'wb' in want:
        bench_writeback(a, dv, base, n, tag, boxes, got, export)
    label = {'mv': 'mv', 'mv8': 'xargs -P8 mv', 'cp': 'cp in', 'rm': 'rm (to Trash)',
             'rmdone': '  on the server',
             'churn': 'mv, churn', 'churnraw': 'raw loop, churn',
             'wb': 'mv, writeback', 'wbdone': '  on the server',
             'wbrm': 'rm -r, writeback', 'wbrmdone': '  on the server',
             'wb8': 'xargs -P8 mv, wb', 'wb8done': '  on the server',
             'wbchurn': 'mv, churn, wb', 'wbchurndone': '  on the server',
             'wbcp': 'cp in, wb', 'wbcpdone': '  on the server'}
    floor = {'mv': move_each, 'mv8': move_each, 'cp': append_each, 'rm': move_each,
             'rmdone': move_each,
             'churn': got.get('mv', move_each), 'churnraw': move_each}
    fname = {'mv': 'UID MOVE each', 'mv8': 'UID MOVE each', 'cp': 'APPEND each',
             'rm': 'UID MOVE each', 'rmdone': 'UID MOVE each',
             'churn': 'quiet mv' if 'mv' in got else 'UID MOVE each',
             'churnraw': 'UID MOVE each'}
    wb_keys = ('wb', 'wbdone', 'wbrm', 'wbrmdone', 'wb8', 'wb8done', 'wbchurn', 'wbchurndone',
               'wbcp', 'wbcpdone')
    for key in wb_keys:
        floor[key], fname[key] = move_set, 'one UID MOVE'
    floor['wbcp'] = floor['wbcpdone'] = append_each
    fname['wbcp'] = fname['wbcpdone'] = 'APPEND each'
    if 'wb' in got:
        floor['wbchurn'], fname['wbchurn'] = got['wb'], 'quiet mv, wb'
        floor['wbchurndone'], fname['wbchurndone'] = got['wbdone'], 'quiet, server'
    for key in ('mv', 'mv8', 'cp', 'rm', 'rmdone', 'churnraw', 'churn') + wb_keys:
        if key in got:
            rows.append((n, label[key], got[key], fname[key], floor[key],
                         move_set if key in ('mv', 'mv8', 'rm', 'rmdone', 'churn', 'churnraw')
                         else None))


def drained(mnt, limit=120.0):
    """Waits (bounded) until the mount's journal is empty."""
    deadline = time.monotonic() + limit
    while int(os.getxattr(mnt, 'user.imapfs.pending')) > 0:
        if time.monotonic() > deadline:
            raise RuntimeError('the journal did not drain in %.0f s' % limit)
        time.sleep(0.005)


def bench_writeback(a, dv, base, n, tag, boxes, got, export):
    """mv and rm -r under -o writeback: until they return, and until the server has it all."""
    m = Mount(a.imapfs, dv, os.path.join(base, 'mnt'), os.path.join(base, 'cache-wb' + tag),
              'writeback')
    try:
        src, dst = boxes['wb']
        files = eml(m.mnt, src)
        os.listdir(os.path.join(m.mnt, dst))
        t0 = time.monotonic()
        got['wb'] = timed(['mv'] + files + [os.path.join(m.mnt, dst) + '/'])
        drained(m.mnt)
        got['wbdone'] = time.monotonic() - t0
        assert count(dv, src) == 0 and count(dv, dst) == n, 'mv, writeback: counts'
        src, _ = boxes['wbrm']
        trash0 = count(dv, 'Trash')
        eml(m.mnt, src)
        t0 = time.monotonic()
        got['wbrm'] = timed(['rm', '-r', os.path.join(m.mnt, src)])
        drained(m.mnt)
        got['wbrmdone'] = time.monotonic() - t0
        assert count(dv, 'Trash') == max(trash0, 0) + n, 'rm -r, writeback: Trash count'
        assert src not in os.listdir(m.mnt), 'rm -r, writeback: the mailbox is still there'
        src, dst = boxes['wb8']
        files = '\0'.join(eml(m.mnt, src)).encode()
        os.listdir(os.path.join(m.mnt, dst))
        t0 = time.monotonic()
        subprocess.run(['xargs', '-0', '-P8', '-n50', 'mv', '-t', os.path.join(m.mnt, dst)],
                       input=files, check=True)
        got['wb8'] = time.monotonic() - t0
        drained(m.mnt)
        got['wb8done'] = time.monotonic() - t0
        assert count(dv, src) == 0 and count(dv, dst) == n, 'xargs -P8 mv, writeback: counts'
        src, dst = boxes['wbchurn']
        files = eml(m.mnt, src)
        os.listdir(os.path.join(m.mnt, dst))
        churn = Churn(dv, [src, dst])
        try:
            t0 = time.monotonic()
            got['wbchurn'] = timed(['mv'] + files + [os.path.join(m.mnt, dst) + '/'])
            drained(m.mnt)
            got['wbchurndone'] = time.monotonic() - t0
        finally:
            churn.close()
        assert count(dv, src) == churn.appended[src], 'mv, churn, wb: source count'
        assert count(dv, dst) == n + churn.appended[dst], 'mv, churn, wb: target count'
        os.mkdir(os.path.join(m.mnt, 'WC' + tag))
        t0 = time.monotonic()
        got['wbcp'] = timed(['sh', '-c', 'cp "$1"/*.eml "$2"/', 'cp', export,
                             os.path.join(m.mnt, 'WC' + tag)])
        drained(m.mnt)
        got['wbcpdone'] = time.monotonic() - t0
        assert count(dv, 'WC' + tag) == n, 'cp in, writeback: count'
    finally:
        m.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--sizes', default='500,2000,5000')
    ap.add_argument('--rows', default='mv,mv8,cp,rm,churn,wb')
    ap.add_argument('--imapfs', default=os.path.join(HERE, '..', 'build', 'imapfs'))
    ap.add_argument('--runs', type=int, default=1)
    a = ap.parse_args()
    base = dovecot.make_basedir('imapfs-bench-filing-')
    dv = dovecot.Dovecot(os.path.join(base, 'dovecot'))
    dv.start()
    runs = {}  # (n, work) -> [(time, floor name, floor, one set)], in the order first met
    try:
        for n in (int(s) for s in a.sizes.split(',')):
            for run in range(max(a.runs, 1)):
                rows = []
                bench_size(a, dv, base, n, rows, run)
                for n_, name, t, fname, f, one in rows:
                    runs.setdefault((n_, name), []).append((t, fname, f, one))
    finally:
        dv.stop()
        shutil.rmtree(base, ignore_errors=True)
    med = statistics.median
    print('%6s %-15s %9s %8s  %-14s %9s %7s  %9s%s' % (
        'N', 'work', 'imapfs', 'per msg', 'floor', 'floor', 'ratio', 'one set',
        '  ratios (min-max of %d runs)' % a.runs if a.runs > 1 else ''))
    for (n, name), got in runs.items():
        ratios = [t / f for t, _, f, _ in got if f]
        t, f = med(g[0] for g in got), med(g[2] for g in got)
        ones = [g[3] for g in got if g[3] is not None]
        print('%6d %-15s %8.2fs %6.2fms  %-14s %8.2fs %6.2fx  %s%s' % (
            n, name, t, t * 1000 / n, got[0][1], f, med(ratios) if ratios else float('nan'),
            '%8.3fs' % med(ones) if ones else '       -',
            '  %.2f-%.2fx' % (min(ratios), max(ratios)) if a.runs > 1 and ratios else ''))


if __name__ == '__main__':
    main()
