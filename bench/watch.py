#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Live-view latency: how long after another client's APPEND the new message
shows in `ls` of an imapfs mount, beside the floor, a bare IDLE client on the
same private Dovecot on 127.0.0.1 (Dovecot pushes its notifications 0.3-0.5 s
late: no client can see a change sooner by listening).

    bench/watch.py [--changes 100] [--messages 1000] [--rows floor,notify,idle,noidle]
                   [--imapfs build/imapfs]

Rows:
  floor    a bare client (raw socket, TCP_NODELAY) in IDLE on the mailbox:
           from the APPEND's tagged OK to the `* N EXISTS` push (no mount)
  notify   imapfs, default options, Dovecot with NOTIFY (its watcher uses it)
  idle     imapfs -o poll_interval=1, Dovecot with NOTIFY hidden
           (imap_capability): its watcher IDLEs on the mailbox in use
  noidle   imapfs -o noidle (no watcher: listings expire, 1 s or less)

For each row, --changes APPENDs go one at a time into the mailbox in use
(a mailbox of --messages messages, listed through the mount first); each is
timed from the APPEND's completion (tagged OK at the appending client) to
the first listing of the mount's directory that holds the new UID: a thread
lists it every 5 ms for the whole run, between changes too, like a user
watching it (so no row gains from when the listings happen to start).
Once both the mount and a bare IDLE client have shown a change, the next
starts after a random pause of 50-250 ms (so no phase of a server timer is
favoured). In the imapfs rows a bare IDLE client runs alongside, so each
change is also measured against the floor of that very change ("paired").
p95 is the nearest-rank 95th percentile. Only measured figures are printed.

    bench/watch.py --tree [--changes 100] [--rows notify,idle,noidle]

Tree changes instead: --changes CREATE, RENAME and DELETE (in turn) by the
other client at the mount's root, each timed from its tagged OK to the
first listing of the root (every 5 ms, as above) that shows it done: the new
name there, the old one gone. The floor row is a new connection's LIST
after the change (Dovecot 2.3's NOTIFY tells of renames and deletions late
or never, and its long-lived connections list stale trees, so no listener
is a floor here). Target: every change visible within 1 s.
"""

import argparse
import math
import os
import random
import re
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'tests'))
import dovecot  # noqa: E402

BOX = 'bench'
POLL = 0.005
CHANGE_TIMEOUT = 10.0


def pct(values, p):
    """Nearest-rank percentile of a non-empty list."""
    v = sorted(values)
    return v[max(0, math.ceil(p / 100 * len(v)) - 1)]


def message(i, size=2000):
    body = ('bench change %d. ' % i) * (size // 20)
    return dovecot.make_message('bench change %d' % i, body,
                                msgid='<bench-watch-%d-%d@imapfs.test>' % (os.getpid(), i))


class IdleClient:
    """A bare client: LOGIN, EXAMINE box, IDLE; a thread time-stamps every
    `* N EXISTS` push. wait_exists(n, t0) -> seconds from t0 until the
    server said it holds at least n messages."""

    def __init__(self, dv, box):
        self.sock = socket.create_connection((dovecot.HOST, dv.port), timeout=30)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.f = self.sock.makefile('rb')
        self.f.readline()
        self._cmd(b'a LOGIN ' + dovecot.imap_quote(dv.user).encode() + b' '
                  + dovecot.imap_quote(dv.password).encode())
        lines = self._cmd(b'b EXAMINE ' + dovecot.wire_mailbox(box).encode())
        self.exists = 0
        for line in lines:
            m = re.match(rb'\* (\d+) EXISTS', line)
            if m:
                self.exists = int(m.group(1))
        self.events = []          # (monotonic, exists)
        self.cond = threading.Condition()
        self.sock.sendall(b'c IDLE\r\n')
        for _ in range(100):
            if self.f.readline().startswith(b'+'):
                break
        self.sock.settimeout(None)
        self.th = threading.Thread(target=self._read, daemon=True)
        self.th.start()

    def _cmd(self, text):
        tag = text.split(b' ', 1)[0]
        self.sock.sendall(text + b'\r\n')
        lines = []
        for _ in range(100000):
            line = self.f.readline()
            if not line:
                raise RuntimeError('connection closed after %r' % text[:20])
            lines.append(line)
            if line.startswith(tag + b' '):
                if line.split(b' ')[1] != b'OK':
                    raise RuntimeError('%r: %r' % (text[:20], line))
                return lines
        raise RuntimeError('no reply')

    def _read(self):
        for _ in range(100000000):
            try:
                line = self.f.readline()
            except (OSError, ValueError):
                return
            if not line:
                return
            t = time.monotonic()
            m = re.match(rb'\* (\d+) EXISTS', line)
            if m:
                with self.cond:
                    self.events.append((t, int(m.group(1))))
                    self.cond.notify_all()

    def wait_exists(self, n, t0, timeout=CHANGE_TIMEOUT):
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for t, count in self.events:
                    if count >= n and t >= t0:
                        return t - t0
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.cond.wait(left)

    def close(self):
        try:
            self.sock.sendall(b'DONE\r\nd LOGOUT\r\n')
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.th.join(5)
        self.f.close()
        self.sock.close()


class Appender:
    """The other client: APPENDs over its own TCP_NODELAY connection."""

    def __init__(self, dv):
        self.c = dovecot.imap_client(dv)
        self.durations = []      # seconds from sending APPEND to its tagged OK

    def append(self, raw):
        t = time.monotonic()
        uid = dovecot.append(self.c, BOX, raw)
        done = time.monotonic()
        self.durations.append(done - t)
        return uid, done

    def close(self):
        try:
            self.c.logout()
        except Exception:  # noqa: BLE001
            pass


class Mount:
    def __init__(self, binary, dv, mnt, opts):
        self.mnt = mnt
        self.log = os.path.join(os.path.dirname(mnt), 'imapfs-%s.log' % os.path.basename(mnt))
        env = dict(os.environ, IMAPFS_PASSWORD=dv.password)
        with open(self.log, 'w') as log:
            self.proc = subprocess.Popen([binary, '-f', dv.url('imap'), mnt, '-o', ','.join(opts)],
                                         env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        for _ in range(200):
            if os.path.ismount(mnt):
                return
            if self.proc.poll() is not None:
                raise RuntimeError('imapfs exited: see %s' % self.log)
            time.sleep(0.05)
        self.close()
        raise RuntimeError('mount timed out: see %s' % self.log)

    def close(self):
        subprocess.run(['fusermount3', '-u', self.mnt], check=False,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)


def server(base, name, messages, extra_conf=''):
    dv = dovecot.Dovecot(os.path.join(base, name), extra_conf=extra_conf)
    dv.start()
    c = dovecot.imap_client(dv)
    try:
        dovecot.create_mailbox(c, BOX)
    finally:
        c.logout()
    if messages:
        dovecot.append_many(dv, BOX, [(message(-1 - i), 1700000000 + i * 60, None)
                                      for i in range(messages)])
    return dv


def capabilities(dv):
    c = dovecot.imap_client(dv)
    try:
        typ, data = c.capability()
        return data[-1].decode().split()
    finally:
        c.logout()


def run_floor(dv, n, rnd):
    """n APPENDs; the time until a bare IDLE client hears each."""
    idle = IdleClient(dv, BOX)
    app = Appender(dv)
    out = []
    try:
        count = idle.exists
        for i in range(n):
            _, t0 = app.append(message(i))
            count += 1
            out.append(idle.wait_exists(count, t0))
            time.sleep(rnd.uniform(0.05, 0.25))
    finally:
        app.close()
        idle.close()
    return out, None, app.durations


class Poller:
    """Lists a directory every POLL s, from start to stop, like a user
    watching the mount; records when each name was first seen."""

    def __init__(self, path):
        self.path = path
        self.first_seen = {}
        self.errors = 0
        self.stop_flag = threading.Event()
        self.cond = threading.Condition()
        self.th = threading.Thread(target=self._run, daemon=True)
        self.th.start()

    def _run(self):
        while not self.stop_flag.is_set():
            try:
                names = os.listdir(self.path)
            except OSError:
                self.errors += 1
                names = []
            t = time.monotonic()
            with self.cond:
                for n in names:
                    if n not in self.first_seen:
                        self.first_seen[n] = t
                self.cond.notify_all()
            time.sleep(POLL)

    def wait_seen(self, name, t0, timeout=CHANGE_TIMEOUT):
        deadline = time.monotonic() + timeout
        with self.cond:
            while name not in self.first_seen:
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.cond.wait(left)
            return self.first_seen[name] - t0

    def stop(self):
        self.stop_flag.set()
        self.th.join(10)


def run_mount(binary, dv, mnt, opts, n, rnd):
    """n APPENDs into the mailbox in use, its directory listed every POLL s
    throughout; the time until a listing shows each, and (paired) until a
    bare IDLE client heard it."""
    os.makedirs(mnt, exist_ok=True)
    m = Mount(binary, dv, mnt, opts)
    idle = app = poller = None
    out, paired = [], []
    try:
        d = os.path.join(mnt, BOX)
        os.listdir(d)
        time.sleep(1.0)            # the watcher connects and follows the mailbox in use
        poller = Poller(d)
        time.sleep(0.5)
        idle = IdleClient(dv, BOX)
        app = Appender(dv)
        count = idle.exists
        for i in range(n):
            uid, t0 = app.append(message(i))
            count += 1
            out.append(poller.wait_seen('%d.eml' % uid, t0))
            paired.append(idle.wait_exists(count, t0))
            time.sleep(rnd.uniform(0.05, 0.25))
    finally:
        if poller:
            poller.stop()
        if app:
            app.close()
        if idle:
            idle.close()
        m.close()
    if poller and poller.errors:
        print('  (%d listings of %s failed)' % (poller.errors, d))
    return out, paired, app.durations if app else []


class TreePoller:
    """Lists a directory every POLL s from start to stop and keeps each
    listing with its time; wait(pred, t0) -> seconds from t0 to the first
    listing taken after t0 for which pred(names) holds, or None."""

    def __init__(self, path):
        self.path = path
        self.listings = []
        self.errors = 0
        self.stop_flag = threading.Event()
        self.cond = threading.Condition()
        self.th = threading.Thread(target=self._run, daemon=True)
        self.th.start()

    def _run(self):
        while not self.stop_flag.is_set():
            try:
                names = set(os.listdir(self.path))
            except OSError:
                self.errors += 1
                names = None
            t = time.monotonic()
            with self.cond:
                if names is not None:
                    self.listings.append((t, names))
                    del self.listings[:-50]
                self.cond.notify_all()
            time.sleep(POLL)

    def wait(self, pred, t0, timeout=CHANGE_TIMEOUT):
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for t, names in self.listings:
                    if t > t0 and pred(names):
                        return t - t0
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.cond.wait(left)

    def stop(self):
        self.stop_flag.set()
        self.th.join(10)


def tree_changes(c, n, rnd, wait, prefix):
    """n changes in turn CREATE, RENAME, DELETE of a mailbox at the root by
    client c; wait(kind, gone, there, t0) measures each. Returns
    {kind: [seconds or None]}."""
    out = {'create': [], 'rename': [], 'delete': []}
    name = None
    for i in range(n):
        kind = ('create', 'rename', 'delete')[i % 3]
        if kind == 'create':
            name = '%s-%d' % (prefix, i)
            gone, there = None, name
            typ, _ = c.create(name)
        elif kind == 'rename':
            gone, there = name, name + '-renamed'
            typ, _ = c.rename(name, there)
            name = there
        else:
            gone, there = name, None
            typ, _ = c.delete(name)
        t0 = time.monotonic()
        if typ != 'OK':
            raise RuntimeError('%s refused' % kind.upper())
        out[kind].append(wait(kind, gone, there, t0))
        time.sleep(rnd.uniform(0.05, 0.25))
    return out


def run_tree_floor(dv, n, rnd):
    c = dovecot.imap_client(dv)

    def wait(kind, gone, there, t0):
        deadline = t0 + CHANGE_TIMEOUT
        while time.monotonic() < deadline:
            fresh = dovecot.imap_client(dv)
            try:
                names = {m for m, _d, _a in dovecot.list_mailboxes(fresh)}
            finally:
                fresh.logout()
            if (gone is None or gone not in names) and (there is None or there in names):
                return time.monotonic() - t0
        return None

    try:
        return tree_changes(c, n, rnd, wait, 'floor')
    finally:
        c.logout()


def run_tree_mount(binary, dv, mnt, opts, n, rnd):
    os.makedirs(mnt, exist_ok=True)
    m = Mount(binary, dv, mnt, opts)
    c = poller = None
    try:
        os.listdir(mnt)
        os.listdir(os.path.join(mnt, 'INBOX'))   # a mailbox in use, as a user's
        time.sleep(1.0)
        poller = TreePoller(mnt)
        c = dovecot.imap_client(dv)

        def wait(kind, gone, there, t0):
            return poller.wait(lambda names: (gone is None or gone not in names) and
                               (there is None or there in names), t0)

        return tree_changes(c, n, rnd, wait, os.path.basename(mnt))
    finally:
        if poller:
            poller.stop()
            if poller.errors:
                print('  (%d listings of %s failed)' % (poller.errors, mnt))
        if c:
            c.logout()
        m.close()


def main_tree(args, rows, binary):
    base = dovecot.make_basedir('imapfs-bench-tree-')
    servers = []
    results = {}
    try:
        dv = server(base, 'server', 0)
        servers.append(dv)
        dv_idle = None
        if 'idle' in rows:
            no_notify = ' '.join(c for c in capabilities(dv) if c != 'NOTIFY')
            dv_idle = server(base, 'server-idle', 0, 'imap_capability = %s\n' % no_notify)
            servers.append(dv_idle)
        print('Dovecot on 127.0.0.1, %d tree changes (CREATE, RENAME, DELETE in turn) per row'
              % args.changes)
        for row in rows:
            rnd = random.Random(args.seed)
            t = time.monotonic()
            if row == 'floor':
                results[row] = run_tree_floor(dv, args.changes, rnd)
            elif row == 'notify':
                results[row] = run_tree_mount(binary, dv, os.path.join(base, 'mnt-notify'),
                                              ['tls=none'], args.changes, rnd)
            elif row == 'idle':
                results[row] = run_tree_mount(binary, dv_idle, os.path.join(base, 'mnt-idle'),
                                              ['tls=none', 'poll_interval=1'], args.changes, rnd)
            else:
                results[row] = run_tree_mount(binary, dv, os.path.join(base, 'mnt-noidle'),
                                              ['tls=none', 'noidle'], args.changes, rnd)
            print('  %-7s done in %.0f s' % (row, time.monotonic() - t))
    finally:
        for s in servers:
            s.stop()
        shutil.rmtree(base, ignore_errors=True)
    labels = {
        'floor': "floor: a new connection's LIST",
        'notify': 'imapfs, NOTIFY watcher',
        'idle': 'imapfs, IDLE-only watcher (no NOTIFY)',
        'noidle': 'imapfs -o noidle',
    }
    print()
    print('%-40s %-7s %7s %7s %7s %7s' % ('time until visible, ms', 'change', 'median', 'p95',
                                          'max', 'missed'))
    verdict = []
    for row in rows:
        every = []
        for kind in ('create', 'rename', 'delete'):
            s = summary(results[row][kind])
            every += results[row][kind]
            print('%-40s %-7s %7s %7s %7s %7d' % (labels[row], kind, ms(s['median']),
                                                   ms(s['p95']), ms(s['max']), s['missed']))
        s = summary(every)
        print('%-40s %-7s %7s %7s %7s %7d' % ('', 'all', ms(s['median']), ms(s['p95']),
                                               ms(s['max']), s['missed']))
        if row != 'floor':
            verdict.append('%s: %d of %d changes visible within 1 s (max %s ms): %s' % (
                row, sum(1 for v in every if v is not None and v <= 1.0), len(every),
                ms(s['max']).strip(), 'met' if s['max'] is not None and s['max'] <= 1.0
                and not s['missed'] else 'NOT met'))
    print()
    for line in verdict:
        print(line)


def summary(values):
    got = [v for v in values if v is not None]
    return {'n': len(values), 'missed': len(values) - len(got),
            'median': statistics.median(got) if got else None,
            'p95': pct(got, 95) if got else None,
            'max': max(got) if got else None}


def ms(v):
    return '%7.0f' % (v * 1000) if v is not None else '      -'


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--changes', type=int, default=100)
    ap.add_argument('--messages', type=int, default=1000,
                    help='messages in the mailbox before the changes')
    ap.add_argument('--rows', default='floor,notify,idle,noidle')
    ap.add_argument('--seed', type=int, default=1)
    ap.add_argument('--imapfs', default=os.path.join(HERE, '..', 'build', 'imapfs'))
    ap.add_argument('--tree', action='store_true',
                    help='mailbox CREATE/RENAME/DELETE at the root instead of APPENDs')
    args = ap.parse_args()
    rows = [r for r in args.rows.split(',') if r]
    for r in rows:
        if r not in ('floor', 'notify', 'idle', 'noidle'):
            ap.error('unknown row %r' % r)
    binary = os.path.abspath(args.imapfs)
    if args.tree:
        return main_tree(args, rows, binary)

    base = dovecot.make_basedir('imapfs-bench-watch-')
    servers = []
    results = {}
    try:
        dv = server(base, 'server', args.messages)
        servers.append(dv)
        caps = capabilities(dv)
        dv_idle = None
        if 'idle' in rows:
            no_notify = ' '.join(c for c in caps if c != 'NOTIFY')
            dv_idle = server(base, 'server-idle', args.messages,
                             'imap_capability = %s\n' % no_notify)
            servers.append(dv_idle)
            if 'NOTIFY' in capabilities(dv_idle):
                raise RuntimeError('NOTIFY still offered by the IDLE-only server')
        print('Dovecot on 127.0.0.1, mailbox of %d messages, %d APPENDs of %d bytes per row'
              % (args.messages, args.changes, len(message(0))))
        print('server capabilities include NOTIFY: %s; imapfs: %s' % ('NOTIFY' in caps, binary))
        for row in rows:
            rnd = random.Random(args.seed)
            t = time.monotonic()
            if row == 'floor':
                results[row] = run_floor(dv, args.changes, rnd)
            elif row == 'notify':
                results[row] = run_mount(binary, dv, os.path.join(base, 'mnt-notify'),
                                         ['tls=none'], args.changes, rnd)
            elif row == 'idle':
                results[row] = run_mount(binary, dv_idle, os.path.join(base, 'mnt-idle'),
                                         ['tls=none', 'poll_interval=1'], args.changes, rnd)
            else:
                results[row] = run_mount(binary, dv, os.path.join(base, 'mnt-noidle'),
                                         ['tls=none', 'noidle'], args.changes, rnd)
            print('  %-7s done in %.0f s' % (row, time.monotonic() - t))
    finally:
        for s in servers:
            s.stop()
        shutil.rmtree(base, ignore_errors=True)

    labels = {
        'floor': 'floor: bare IDLE client (EXISTS push)',
        'notify': 'imapfs, NOTIFY watcher',
        'idle': 'imapfs, IDLE-only watcher (no NOTIFY)',
        'noidle': 'imapfs -o noidle (listings expire)',
    }
    floor = summary(results['floor'][0]) if 'floor' in results else None
    print()
    print('%-40s %7s %7s %7s %9s %9s %7s %11s %11s' % (
        'time until visible, ms', 'median', 'p95', 'max', 'med-floor', 'p95-floor', 'missed',
        'paired med', 'APPEND med'))
    for row in rows:
        vals, paired, durations = results[row]
        s = summary(vals)
        dmed = dp95 = None
        if floor and floor['median'] is not None and s['median'] is not None:
            dmed = s['median'] - floor['median']
            dp95 = s['p95'] - floor['p95']
        pd = None
        if paired:
            diffs = [v - p for v, p in zip(vals, paired) if v is not None and p is not None]
            pd = statistics.median(diffs) if diffs else None
        print('%-40s %7s %7s %7s %9s %9s %7d %11s %11s' % (
            labels[row], ms(s['median']), ms(s['p95']), ms(s['max']),
            ms(dmed) if row != 'floor' else '', ms(dp95) if row != 'floor' else '',
            s['missed'], ms(pd) if row != 'floor' else '',
            ms(statistics.median(durations)) if durations else ''))
    print('\n(med-floor, p95-floor: against the floor row; paired med: median over the '
          'changes of imapfs minus a bare IDLE client running alongside; missed: not '
          'visible within %.0f s; APPEND med: the other client\'s APPEND round trip, '
          'command to tagged OK, which precedes every figure)' % CHANGE_TIMEOUT)
    if floor and floor['median'] is not None:
        for row in ('notify', 'idle'):
            if row in results:
                s = summary(results[row][0])
                if s['median'] is None:
                    continue
                print('%s: median %+.0f ms from the floor (target within 100 ms): %s; '
                      'p95 %.0f ms (target under 1000 ms): %s' % (
                          row, (s['median'] - floor['median']) * 1000,
                          'met' if s['median'] - floor['median'] <= 0.1 and not s['missed']
                          else 'NOT met',
                          s['p95'] * 1000, 'met' if s['p95'] < 1.0 and not s['missed']
                          else 'NOT met'))


if __name__ == '__main__':
    main()
