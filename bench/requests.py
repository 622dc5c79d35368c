#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""FUSE requests a message that a recursive grep makes imapfs serve, counted
per opcode, beside the bound on this machine: the same grep through a minimal
passthrough FUSE filesystem (bench/passthrough_fs.c, with imapfs's cache
settings) over a local copy of the very tree the mount shows, and grep of
that copy directly.

    bench/requests.py [--messages 2000] [--runs 3] [--imapfs build/imapfs]
                      [--drop-caches]

Two scenarios, each `grep -rl NEEDLE <mnt>/bench`:
  parts     --include='*.eml' (it still opens and lists every <uid>.parts)
  noparts   --include='*.eml' --exclude-dir='*.parts'
Rows: imapfs cold (a fresh mount, its cache_dir empty), imapfs warm (the same
grep again on that mount), passthrough cold (a fresh mount), passthrough warm,
the passthrough again with -o no_open (cold, warm) and with -o
no_open,no_opendir (cold, warm), and local grep (the copy, in the page
cache). The no_open rows are the bound FUSE_CAP_NO_OPEN_SUPPORT and
FUSE_CAP_NO_OPENDIR_SUPPORT would give (the speed issue), which imapfs cannot
take itself (they hold for the whole connection; its writes and uploads need
OPEN): the passthrough answers OPEN (OPENDIR) once with ENOSYS and the kernel
sends no OPEN and RELEASE (OPENDIR and RELEASEDIR) after, opening files with
FOPEN_KEEP_CACHE and directories with FOPEN_KEEP_CACHE | FOPEN_CACHE_DIR: the
listing of every directory is cached then, a mailbox's too, which imapfs does
not do (see passthrough_fs.c; a cached listing renews no entries, so a warm
grep looks each expired name up again). READ/msg is the READ requests alone, a
message: about 0 in a warm row when the kernel kept the files' page cache from
the cold grep (keep_cache), which no_open must keep too; a line after each
table says whether it did. The mailbox is readonly.py's
deterministic corpus in a private Dovecot on 127.0.0.1; the local copy is
taken once with `cp -r` out of an imapfs mount, so its shape (<uid>.eml
files, <uid>.parts directories and their files) is the mount's.

Seconds are the median of --runs, from mounts without -d. Requests come from
other mounts of the same kind run with -d: libfuse then prints one line
`unique: N, opcode: NAME (n), nodeid: ...` a request on stderr; those between
the start of a grep and the moment stderr is quiet after it (RELEASE and
FORGET come after close()) are counted per opcode, divided by --messages, the
median over --runs. -d slows a daemon down, and imapfs's entries expire after
0.5 s, so what expires during a slower walk is looked up again: the seconds
of the counted greps are printed too.

Cold is a fresh mount: the kernel has nothing of it, while the backing store
(Dovecot's files, the local copy, both on the same disk) stays in the page
cache for both filesystems alike. With --drop-caches (root only) the page,
dentry and inode caches are also dropped before every cold grep of either
filesystem, so that cold includes reading the disk.
"""

import argparse
import collections
import ctypes
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, '..', 'tests'))
import dovecot  # noqa: E402
import readonly  # noqa: E402

MAILBOX = 'bench'
SCENARIOS = (('parts', ['--include=*.eml']),
             ('noparts', ['--include=*.eml', '--exclude-dir=*.parts']))
REQUEST = re.compile(rb'unique: \d+, opcode: ([A-Z_0-9]+) \(\d+\), nodeid: (\d+), insize')
MNT_FORCE = 1
_libc = ctypes.CDLL(None, use_errno=True)


def mounted(path):
    """Whether path is a mount point, from /proc/self/mounts: never a stat of
    it, which would hang or fail on a mount whose daemon is gone."""
    with open('/proc/self/mounts', 'rb') as f:
        for line in f:
            where = line.split()[1].decode()
            where = re.sub(r'\\([0-7]{3})', lambda m: chr(int(m.group(1), 8)), where)
            if where == path:
                return True
    return False


class Fuse:
    """A FUSE daemon run in the foreground on mnt (imapfs or passthrough_fs),
    its stdout and stderr in log; stopped by pid. As readonly.Mount, with -d
    and a forced unmount when `fusermount3 -u` is not enough."""

    def __init__(self, argv, mnt, log, env=None):
        # The parent resolved, not mnt itself: no stat of a mount point.
        self.mnt = os.path.join(os.path.realpath(os.path.dirname(mnt)), os.path.basename(mnt))
        self.log_path = log
        if mounted(self.mnt):
            raise RuntimeError('%s is already a mount point' % self.mnt)
        self.log = open(log, 'wb')
        self.proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL,
                                     stdout=self.log, stderr=self.log)
        for _ in range(400):  # 20 s
            if mounted(self.mnt):
                return
            if self.proc.poll() is not None:
                self.close()
                raise RuntimeError('%s exited with %d: see %s' % (argv[0], self.proc.returncode, log))
            time.sleep(0.05)
        self.close()
        raise RuntimeError('%s: not mounted within 20 s: see %s' % (argv[0], log))

    def log_size(self):
        return os.path.getsize(self.log_path)

    def quiet(self, still=0.5, limit=20.0):
        """Wait (bounded) until the log has not grown for `still` seconds:
        RELEASE, RELEASEDIR and FORGET arrive after the grep has exited."""
        size, since = self.log_size(), time.monotonic()
        for _ in range(int(limit / 0.05)):
            time.sleep(0.05)
            now = self.log_size()
            if now != size:
                size, since = now, time.monotonic()
            elif time.monotonic() - since >= still:
                break
        return size

    def requests(self, start, end):
        """(Counter of opcodes, Counter of (opcode, nodeid)) of the requests
        logged between byte offsets start and end."""
        with open(self.log_path, 'rb') as f:
            f.seek(start)
            text = f.read(end - start)
        ops, nodes = collections.Counter(), collections.Counter()
        for m in REQUEST.finditer(text):
            ops[m.group(1).decode()] += 1
            nodes[(m.group(1).decode(), int(m.group(2)))] += 1
        return ops, nodes

    def close(self):
        if self.proc.poll() is None and mounted(self.mnt):
            try:
                subprocess.run(['fusermount3', '-u', self.mnt], timeout=30,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            except subprocess.TimeoutExpired:
                pass
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            for sig in (signal.SIGTERM, signal.SIGKILL):
                try:
                    os.kill(self.proc.pid, sig)
                except ProcessLookupError:
                    pass
                try:
                    self.proc.wait(5)
                    break
                except subprocess.TimeoutExpired:
                    continue
        if mounted(self.mnt):
            # The daemon is gone: abort the connection, then detach, without
            # looking anything up through it.
            if _libc.umount2(self.mnt.encode(), MNT_FORCE) != 0:
                print('umount2(%s, MNT_FORCE): %s' % (self.mnt, os.strerror(ctypes.get_errno())),
                      file=sys.stderr)
            if mounted(self.mnt):
                subprocess.run(['umount', '-l', self.mnt], timeout=30, check=False)
        self.log.close()


def imapfs(args, dv, mnt, cache, log, debug):
    shutil.rmtree(cache, ignore_errors=True)
    env = dict(os.environ, IMAPFS_PASSWORD=dv.password)
    return Fuse([args.imapfs, '-f'] + (['-d'] if debug else []) +
                [dv.url('imap'), mnt, '-o', 'tls=none,cache_dir=' + cache], mnt, log, env=env)


def passthrough(binary, source, mnt, log, debug, options=None):
    """options: passthrough_fs's -o (no_open, no_open,no_opendir) or None."""
    return Fuse([binary, '-f'] + (['-d'] if debug else []) +
                (['-o', options] if options else []) + [source, mnt], mnt, log)


def build_passthrough(workdir):
    """cc the passthrough into workdir: its path, or exit with why not."""
    out = os.path.join(workdir, 'passthrough_fs')
    try:
        flags = subprocess.run(['pkg-config', '--cflags', '--libs', 'fuse3'], check=True,
                               capture_output=True, text=True).stdout.split()
    except (OSError, subprocess.CalledProcessError) as e:
        sys.exit('bench/requests.py: pkg-config --cflags --libs fuse3 failed (%s): '
                 'apt-get install libfuse3-dev pkg-config' % e)
    cmd = ['cc', '-O2', '-Wall', '-Wextra', '-Werror', os.path.join(HERE, 'passthrough_fs.c'),
           '-o', out] + flags
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit('bench/requests.py: cannot build the passthrough filesystem:\n$ %s\n%s'
                 % (' '.join(cmd), r.stderr))
    return out


def drop_caches():
    subprocess.run(['sync'], check=True)
    with open('/proc/sys/vm/drop_caches', 'w') as f:
        f.write('3\n')


def grep_argv(opts, path):
    return ['grep', '-rl'] + opts + [readonly.NEEDLE, path]


def shown(opts, path):
    return ' '.join(a if '*' not in a else "%s='%s'" % tuple(a.split('=', 1))
                    for a in grep_argv(opts, path))


def grep(opts, path, expect):
    """Run the scenario's grep on path: seconds. It must name exactly the
    expect messages holding NEEDLE."""
    t0 = time.monotonic()
    r = subprocess.run(grep_argv(opts, path), capture_output=True, timeout=1800)
    elapsed = time.monotonic() - t0
    found = r.stdout.split()
    if r.returncode != 0 or len(found) != expect:
        raise RuntimeError('%s: exit %d, %d files named, %d expected: %s' % (
            shown(opts, path), r.returncode, len(found), expect, r.stderr[-300:]))
    return elapsed


def cold_warm(make, cmd, path, expect, debug, drop):
    """A fresh mount, the grep twice: {'cold': (seconds, ops, nodes), 'warm': ...},
    ops and nodes None without debug."""
    if drop:
        drop_caches()
    fs = make(debug)
    try:
        out = {}
        for which in ('cold', 'warm'):
            # Both kinds wait for the requests of the mount or the cold grep
            # to end: the timed runs a fixed second.
            start = fs.quiet() if debug else time.sleep(1.0)
            seconds = grep(cmd, path, expect)
            if debug:
                out[which] = (seconds,) + fs.requests(start, fs.quiet())
            else:
                out[which] = (seconds, None, None)
        return out
    finally:
        fs.close()


def per_message(counters, n):
    """The median over runs of each opcode's count, per message."""
    keys = set().union(*counters)
    return {k: statistics.median(c.get(k, 0) for c in counters) / n for k in keys}


def repeats(nodes):
    """Opcodes sent more than once for one nodeid (LOOKUP's is the parent, so
    left out): {opcode: (requests, distinct nodeids)}."""
    total, distinct = collections.Counter(), collections.Counter()
    for (op, _), count in nodes.items():
        total[op] += count
        distinct[op] += 1
    return {op: (total[op], distinct[op]) for op in total
            if op not in ('LOOKUP', 'FORGET', 'BATCH_FORGET') and total[op] > distinct[op]}


def table(name, cmd, n, runs, rows):
    print('\n### %s: `%s` (%d messages, median of %d runs)\n'
          % (name, shown(cmd, '<mnt>/' + MAILBOX), n, runs))
    print('| | seconds | requests/msg | READ/msg | top opcodes per message |')
    print('|---|---:|---:|---:|---|')
    for label, seconds, ops in rows:
        if ops is None:
            print('| %s | %.3f | - | - | - |' % (label, seconds))
            continue
        top = sorted(((v, k) for k, v in ops.items() if v > 0), reverse=True)
        tops = ', '.join('%s %.2f' % (k, v) for v, k in top[:8] if v >= 0.005)
        rest = sum(v for v, _ in top[8:])
        if rest >= 0.005:
            tops += ', others %.2f' % rest
        print('| %s | %.3f | %.2f | %.2f | %s |' % (label, seconds, sum(ops.values()),
                                                   ops.get('READ', 0), tops))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--messages', type=int, default=2000)
    ap.add_argument('--runs', type=int, default=3)
    ap.add_argument('--imapfs', default=os.path.join(HERE, '..', 'build', 'imapfs'))
    ap.add_argument('--drop-caches', action='store_true',
                    help='drop the page, dentry and inode caches before every cold grep (root)')
    args = ap.parse_args()
    args.imapfs = os.path.abspath(args.imapfs)
    if not os.access(args.imapfs, os.X_OK):
        sys.exit('bench/requests.py: no imapfs at %s (--imapfs)' % args.imapfs)
    if args.drop_caches and os.geteuid() != 0:
        sys.exit('bench/requests.py: --drop-caches needs root')

    base = dovecot.make_basedir('imapfs-requests-')
    mnt = os.path.join(base, 'mnt')
    os.mkdir(mnt)
    cache = os.path.join(base, 'cache')
    local = os.path.join(base, 'local')
    binary = build_passthrough(base)
    dv = dovecot.Dovecot(os.path.join(base, 'server'))
    dv.start()
    try:
        c = dovecot.imap_client(dv)
        c.create(MAILBOX)
        c.logout()
        msgs = readonly.corpus(args.messages)
        n = len(msgs)
        expect = sum(1 for raw, _, _ in msgs if readonly.NEEDLE.encode() in raw)
        t0 = time.monotonic()
        dovecot.append_many(dv, MAILBOX, msgs)
        print('corpus: %d messages, %.1f MB, appended in %.1f s'
              % (n, sum(len(m[0]) for m in msgs) / 1e6, time.monotonic() - t0))

        # The local copy, out of the mount itself: the same names, sizes and
        # directories (and Dovecot's caches warmed alike for every run after).
        os.mkdir(local)
        fs = imapfs(args, dv, mnt, cache, os.path.join(base, 'copy.log'), False)
        try:
            t0 = time.monotonic()
            subprocess.run(['cp', '-r', os.path.join(mnt, MAILBOX), local], check=True,
                           timeout=1800)
        finally:
            fs.close()
        src = os.path.join(local, MAILBOX)
        names = os.listdir(src)
        emls = sum(1 for x in names if x.endswith('.eml'))
        parts = [x for x in names if x.endswith('.parts')]
        part_files = sum(len(os.listdir(os.path.join(src, p))) for p in parts)
        if emls != n or len(parts) != n:
            raise RuntimeError('copy: %d .eml and %d .parts for %d messages' % (emls, len(parts), n))
        print('local copy (cp -r out of the mount, %.1f s): %d .eml, %d .parts directories '
              'holding %d files' % (time.monotonic() - t0, emls, len(parts), part_files))

        def make_imapfs(debug):
            return imapfs(args, dv, mnt, cache, os.path.join(base, 'imapfs.log'), debug)

        def make_passthrough(options):
            def make(debug):
                return passthrough(binary, local, mnt, os.path.join(base, 'passthrough.log'),
                                   debug, options)
            return make

        # (row name, how to mount it): imapfs, the passthrough as imapfs, and
        # the passthrough with the open-less connection of the speed issue.
        kinds = (('imapfs', make_imapfs), ('passthrough', make_passthrough(None)),
                 ('passthrough no_open', make_passthrough('no_open')),
                 ('passthrough no_open,no_opendir', make_passthrough('no_open,no_opendir')))
        keys = ['%s %s' % (kind, which) for kind, _ in kinds for which in ('cold', 'warm')]
        target = os.path.join(mnt, MAILBOX)
        results = {}
        for name, cmd in SCENARIOS:
            r = collections.defaultdict(list)
            grep(cmd, src, expect)  # the local copy into the page cache
            for _ in range(args.runs):
                for fsname, make in kinds:
                    for debug in (False, True):
                        out = cold_warm(make, cmd, target, expect, debug, args.drop_caches)
                        for which, (seconds, ops, nodes) in out.items():
                            key = '%s %s' % (fsname, which)
                            if debug:
                                r[key + ' ops'].append(ops)
                                r[key + ' nodes'].append(nodes)
                                r[key + ' debug'].append(seconds)
                            else:
                                r[key].append(seconds)
                r['local'].append(grep(cmd, src, expect))
            results[name] = r

        print('\nmachine: %d CPUs, kernel %s; imapfs %s; grep %s'
              % (os.cpu_count(), os.uname().release, args.imapfs,
                 subprocess.run(['grep', '--version'], capture_output=True,
                                text=True).stdout.split('\n')[0]))
        print('cold: a fresh mount%s' % (', after sync and drop_caches' if args.drop_caches
                                        else ' (the backing files stay in the page cache)'))
        for name, cmd in SCENARIOS:
            r = results[name]
            rows = []
            for key in keys:
                rows.append((key, statistics.median(r[key]), per_message(r[key + ' ops'], n)))
            rows.append(('local grep', statistics.median(r['local']), None))
            table(name, cmd, n, args.runs, rows)
            # The page cache with no_open: the kernel's default open flags
            # must keep it, as keep_cache does, so a warm grep reads nothing.
            for kind in ('passthrough', 'passthrough no_open', 'passthrough no_open,no_opendir'):
                cold = per_message(r[kind + ' cold ops'], n).get('READ', 0)
                warm = per_message(r[kind + ' warm ops'], n).get('READ', 0)
                print('%s%s: READ a message %.2f cold, %.2f warm: page cache %s' % (
                    '\n' if kind == 'passthrough' else '', kind, cold, warm,
                    'kept' if warm < 0.05 else 'NOT kept'))
            print('\nseconds of the counted (-d) greps: ' + ', '.join(
                '%s %.3f' % (key, statistics.median(r[key + ' debug']))
                for key in keys))
            for key in keys:
                totals = [sum(c.values()) for c in r[key + ' ops']]
                rep = repeats(r[key + ' nodes'][0])
                print('%s: requests a run %s%s' % (
                    key, '/'.join(str(t) for t in totals),
                    ('; more than once a node (first run): ' + ', '.join(
                        '%s %d on %d' % (op, t, d) for op, (t, d) in sorted(rep.items())))
                    if rep else ''))
    finally:
        dv.stop()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == '__main__':
    main()
