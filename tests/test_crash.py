# SPDX-License-Identifier: GPL-2.0-or-later
"""A crash of imapfs never leaves a mount that hangs (issue 23).

The load of the report: `mv Src/*.eml Dst/` through the mount (lookups,
renames and the invalidations they cause) while a second IMAP client appends
and flags in both mailboxes, so the watcher hears changes all the time; then
a signal to imapfs at a random moment. After SIGKILL, SIGSEGV or SIGABRT:
  - the process is gone within 3 s (a thread left in uninterruptible sleep
    would keep it, and /dev/fuse, forever);
  - the mount point answers at once (ENOTCONN);
  - the user's `mv` ends (or can be killed) within 3 s;
  - `fusermount3 -u` works.
Both watcher modes (NOTIFY, and IDLE on a server without NOTIFY), the three
signals spread over KILLS kills; each signal comes only once the server shows
that mv is moving. SIGSEGV and SIGABRT dump core (RLIMIT_CORE set small;
core_pattern 'core' puts it in the daemon's working directory, /, and the
test removes it) so the kernel's core dump, which waits for every thread, is
part of what must not hang.

On the first hang the test frees the mount itself with umount2(MNT_FORCE),
before anything touches the mount point (even realpath() of it would hang),
and fails. After all kills the server is checked message by message: each
message seeded or appended by the churning client is in Src or Dst exactly
once; and a new mount with the same cache directory lists what the server
holds. SIGTERM and SIGINT under the same load end imapfs cleanly (exit 0,
unmounted) within 5 s.
"""

import ctypes
import errno
import os
import random
import re
import resource
import signal
import subprocess
import threading
import time

import pytest

import dovecot
import conftest
from conftest import FUSERMOUNT, Mount, bounded, is_mounted

KILLS = int(os.environ.get('IMAPFS_CRASH_KILLS', '24'))
SIGNALS = (signal.SIGKILL, signal.SIGSEGV, signal.SIGABRT)
SEED_PER_BOX = 400
GONE_WITHIN = 3.0
MNT_FORCE = 1

_libc = ctypes.CDLL(None, use_errno=True)


def force_unmount(path):
    """umount2(path, MNT_FORCE): aborts the FUSE connection of a hung
    mount without looking the path's last component up through it."""
    if _libc.umount2(path.encode(), MNT_FORCE) != 0:
        e = ctypes.get_errno()
        return 'umount2(MNT_FORCE) failed: %s' % os.strerror(e)
    subprocess.run([FUSERMOUNT, '-u', '-z', path], stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, timeout=10)
    return 'freed with umount2(MNT_FORCE)'


def proc_state(pid):
    """'R', 'S', 'D', 'Z' ... of a pid, or None when it is gone."""
    try:
        with open('/proc/%d/stat' % pid) as f:
            return f.read().rsplit(')', 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return None


def thread_states(pid):
    """{tid: (state, kernel wait channel)} of every thread of pid."""
    out = {}
    try:
        tids = os.listdir('/proc/%d/task' % pid)
    except FileNotFoundError:
        return out
    for tid in tids:
        try:
            with open('/proc/%d/task/%s/stat' % (pid, tid)) as f:
                state = f.read().rsplit(')', 1)[1].split()[0]
            with open('/proc/%d/task/%s/wchan' % (pid, tid)) as f:
                wchan = f.read()
        except OSError:
            continue
        out[int(tid)] = (state, wchan)
    return out


CORE_FILE = '/core'  # core_pattern 'core' in the daemon's working directory, /


class CrashMount(Mount):
    """A Mount whose process may dump a small core (RLIMIT_CORE 256 KiB: the
    kernel's dump still waits for every thread, as a full one would)."""

    def _spawn(self):
        def limits():
            resource.setrlimit(resource.RLIMIT_CORE, (256 << 10, 256 << 10))

        with open(self.log_path, 'ab') as log:
            self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL,
                                         stdout=log, stderr=log, env=self.env,
                                         preexec_fn=limits)
        with conftest._LIVE_LOCK:
            conftest._LIVE.add(self)


@pytest.fixture
def core_dumps():
    """True if a SIGSEGV of imapfs leaves CORE_FILE here (core_pattern
    'core', no sanitizer disabling dumps); a CORE_FILE the test made is
    removed afterwards."""
    with open('/proc/sys/kernel/core_pattern') as f:
        pattern = f.read().strip()
    existed = os.path.exists(CORE_FILE)
    yield pattern == 'core' and not existed and not os.environ.get('IMAPFS_SANITIZED')
    if not existed and os.path.exists(CORE_FILE):
        os.unlink(CORE_FILE)


class Churner(threading.Thread):
    """A second client: APPENDs to Src and Dst in turn and toggles a keyword
    on random UIDs there, until stopped. .ids: Message-IDs appended."""

    def __init__(self, dv, boxes, tag):
        super().__init__(daemon=True)
        self.dv, self.boxes, self.tag = dv, boxes, tag
        self.stop_event = threading.Event()
        self.ids = []
        self.error = None
        self.n = 0

    def run(self):
        rnd = random.Random(self.tag)
        try:
            c = dovecot.imap_client(self.dv)
            try:
                for _ in range(100000):
                    if self.stop_event.is_set():
                        break
                    box = self.boxes[self.n % 2]
                    self.n += 1
                    mid = '<churn-%s-%d@imapfs.test>' % (self.tag, self.n)
                    dovecot.append(c, box, dovecot.make_message('churn %d' % self.n,
                                                                'churned\n', msgid=mid))
                    self.ids.append(mid)
                    dovecot.select(c, box, readonly=False)
                    op = '+FLAGS' if rnd.random() < 0.5 else '-FLAGS'
                    c.uid('STORE', str(rnd.randint(1, SEED_PER_BOX * 4)), op, '($Churn \\Flagged)')
                    time.sleep(0.02)
            finally:
                c.logout()
        except Exception as e:  # noqa: B902 -- reported by the test
            self.error = e

    def stop(self):
        self.stop_event.set()
        self.join(30)
        assert not self.is_alive(), 'churning client did not stop'
        assert self.error is None, 'churning client failed: %r' % self.error


_MID = re.compile(rb'Message-ID:\s*(<[^>\r\n]+>)', re.I)


def server_ids(dv, box):
    """{uid: Message-ID} of every message in box, from the server."""
    c = dovecot.imap_client(dv)
    try:
        if dovecot.select(c, box) == 0:
            return {}
        typ, data = c.uid('FETCH', '1:*', '(UID BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])')
        assert typ == 'OK', data
        out = {}
        for item in data:
            if not isinstance(item, tuple):
                continue
            uid = int(re.search(rb'UID (\d+)', item[0]).group(1))
            m = _MID.search(item[1])
            out[uid] = m.group(1).decode() if m else None
        return out
    finally:
        c.logout()


def seed(dv, boxes):
    ids = []
    msgs = {b: [] for b in boxes}
    for b in boxes:
        for i in range(SEED_PER_BOX):
            mid = '<crash-seed-%s-%d@imapfs.test>' % (b, i)
            ids.append(mid)
            msgs[b].append((dovecot.make_message('seed %d in %s' % (i, b),
                                                 'seeded %d\n' % i, msgid=mid),
                            1704067200 + i, None))
    c = dovecot.imap_client(dv)
    try:
        for b in boxes:
            dovecot.create_mailbox(c, b)
    finally:
        c.logout()
    for b in boxes:
        dovecot.append_many(dv, b, msgs[b])
    return ids


def start_mv(m, src, dst):
    """`mv src/*.eml dst/` through the mount, as a user types it."""
    return subprocess.Popen(['bash', '-c', 'exec mv -f -- "$1"/*.eml "$2"/ 2>/dev/null',
                             'mv', m.p(src), m.p(dst)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)


def wait_gone(proc, timeout):
    try:
        proc.wait(timeout)
        return True
    except subprocess.TimeoutExpired:
        return False


def count(dv, box):
    c = dovecot.imap_client(dv)
    try:
        typ, data = c.status(box, '(MESSAGES)')
        assert typ == 'OK', data
        return int(re.search(rb'MESSAGES (\d+)', data[0]).group(1))
    finally:
        c.logout()


def crash_once(dv, m, sig, mv_dir, mv_delay):
    """Signal a mount under mv; returns a list of problems (empty: fine).
    Never touches the mount point before imapfs is known gone (or the
    mount was freed by force)."""
    problems = []
    pid = m.proc.pid
    src_before = count(dv, mv_dir[0])
    mv = start_mv(m, *mv_dir)
    time.sleep(mv_delay)
    for _ in range(300):  # the churner only adds: fewer means mv moved
        if count(dv, mv_dir[0]) < src_before or mv.poll() is not None:
            break
        time.sleep(0.01)
    else:
        problems.append('mv moved nothing in %.1f s' % (mv_delay + 3))
    os.kill(pid, sig)
    t0 = time.monotonic()
    if not wait_gone(m.proc, GONE_WITHIN):
        threads = thread_states(pid)
        problems.append('imapfs (pid %d) still there %.0f s after %s; threads: %s'
                        % (pid, GONE_WITHIN, sig.name,
                           ', '.join('%d %s %s' % (t, s, w) for t, (s, w) in sorted(threads.items()))))
        problems.append(force_unmount(m.path))
        os.kill(pid, signal.SIGKILL)
        if not wait_gone(m.proc, 10):
            problems.append('imapfs still there after MNT_FORCE and SIGKILL')
    gone = time.monotonic() - t0
    # The mount point answers at once: ENOTCONN, not a hang. (ls, not stat:
    # the kernel may answer stat from attributes it still holds.)
    _, exc, secs = bounded(5, os.listdir, m.path)
    if not (isinstance(exc, OSError) and exc.errno == errno.ENOTCONN):
        problems.append('ls of the mount point after the crash: %r (want ENOTCONN)' % (exc,))
    elif secs > 1.0:
        problems.append('ls of the mount point took %.2f s' % secs)
    # The user's mv ends by itself (its calls fail), or dies when killed.
    if not wait_gone(mv, GONE_WITHIN):
        st = proc_state(mv.pid)
        os.killpg(mv.pid, signal.SIGKILL)
        if not wait_gone(mv, GONE_WITHIN):
            problems.append('mv (pid %d, state %s) cannot be killed' % (mv.pid, st))
    r = subprocess.run([FUSERMOUNT, '-u', m.path], capture_output=True, text=True, timeout=10)
    if r.returncode != 0 or is_mounted(m.path):
        problems.append('fusermount3 -u: %d %s' % (r.returncode, r.stderr.strip()))
        force_unmount(m.path)
    m.returncode = m.proc.returncode
    m.proc = None
    m._forget()
    print('%s %s: gone after %.2f s (mv ran %.2f s)' % (m.tag, sig.name, gone, mv_delay))
    return problems


def sanitized_env():
    """Under the sanitizer pass, a SIGSEGV sent by the test is not a bug
    report: let the kernel have it."""
    env = dict(os.environ)
    if env.get('ASAN_OPTIONS'):
        env['ASAN_OPTIONS'] += ':handle_segv=0:handle_abort=0'
    if env.get('UBSAN_OPTIONS'):
        env['UBSAN_OPTIONS'] += ':handle_segv=0:handle_abort=0'
    return env


@pytest.mark.parametrize('mode', ['notify', 'idle'])
def test_kill_under_load_never_hangs(mode, dovecot_factory, caps_without_notify, tmp_path,
                                     core_dumps):
    extra = '' if mode == 'notify' else 'imap_capability = %s\n' % caps_without_notify
    dv = dovecot_factory(extra_conf=extra)
    boxes = ('Src', 'Dst')
    expected = seed(dv, boxes)
    env = sanitized_env()
    env['XDG_CACHE_HOME'] = str(tmp_path / 'cache')  # one cache for every mount
    env['TMPDIR'] = str(tmp_path)  # a killed imapfs leaves its local side behind: here
    opts = ['tls=none'] + (['poll_interval=1'] if mode == 'idle' else [])
    rnd = random.Random('crash-%s' % mode)
    kills = KILLS // 2
    churn = Churner(dv, boxes, mode)
    churn.start()
    problems = []
    try:
        for i in range(kills):
            sig = SIGNALS[i % len(SIGNALS)]
            m = CrashMount(dv.url('imap'), str(tmp_path / 'mnt'), opts, env=env,
                           password=dv.password)
            m.tag = '%s #%d' % (mode, i + 1)
            m.start()
            try:
                direction = boxes if i % 2 == 0 else boxes[::-1]
                p = crash_once(dv, m, sig, direction, rnd.uniform(0.3, 1.5))
            finally:
                if m.proc is not None and m.proc.poll() is None:
                    m.kill()
            if p:
                problems.append('%s: %s:\n  %s' % (m.tag, sig.name, '\n  '.join(p)))
                print(m.stderr()[-3000:])
                break
    finally:
        churn.stop()
    assert not problems, '\n'.join(problems)
    if core_dumps:
        assert os.path.exists(CORE_FILE), 'no SIGSEGV or SIGABRT dumped core'
    expected += churn.ids

    # No mail lost or duplicated: every message once, in Src or Dst.
    seen = {}
    for b in boxes:
        for uid, mid in server_ids(dv, b).items():
            seen.setdefault(mid, []).append((b, uid))
    missing = [mid for mid in expected if mid not in seen]
    doubled = {mid: where for mid, where in seen.items() if len(where) > 1}
    strangers = [mid for mid in seen if mid not in set(expected)]
    assert not missing, 'lost: %s' % missing[:20]
    assert not doubled, 'duplicated: %s' % list(doubled.items())[:20]
    assert not strangers, 'unknown messages: %s' % strangers[:20]

    # A new mount with the same cache lists what the server holds.
    m = Mount(dv.url('imap'), str(tmp_path / 'mnt'), opts, env=env, password=dv.password)
    with m:
        for b in boxes:
            want = sorted('%d.eml' % u for u in server_ids(dv, b))
            got = sorted(n for n in os.listdir(m.p(b)) if n.endswith('.eml'))
            assert got == want, (b, len(got), len(want))
    m.cleanup()


@pytest.mark.parametrize('sig', [signal.SIGTERM, signal.SIGINT])
def test_term_under_load_ends_cleanly(sig, dovecot_factory, tmp_path):
    dv = dovecot_factory()
    boxes = ('Src', 'Dst')
    seed(dv, boxes)
    churn = Churner(dv, boxes, sig.name)
    churn.start()
    m = Mount(dv.url('imap'), str(tmp_path / 'mnt'), ['tls=none'], env=sanitized_env(),
              password=dv.password)
    try:
        m.start()
        # a message held open: the kernel sends no release for it once the
        # session ends (the sanitizer pass checks nothing of it leaks)
        held = os.open(m.p('Dst', sorted(os.listdir(m.p('Dst')))[0]), os.O_RDONLY)
        assert os.read(held, 64)
        mv = start_mv(m, *boxes)
        time.sleep(0.8)
        t0 = time.monotonic()
        os.kill(m.proc.pid, sig)
        if not wait_gone(m.proc, 5):
            threads = thread_states(m.proc.pid)
            msg = force_unmount(m.path)
            m.kill()
            pytest.fail('imapfs did not end within 5 s of %s (%s); threads: %s'
                        % (sig.name, msg, threads))
        secs = time.monotonic() - t0
        assert m.proc.returncode == 0, (m.proc.returncode, m.stderr()[-2000:])
        assert not is_mounted(m.path)
        if not wait_gone(mv, 5):
            os.killpg(mv.pid, signal.SIGKILL)
            mv.wait(5)
        print('%s: ended after %.2f s' % (sig.name, secs))
        assert 'Ignoring invalid max threads' not in m.stderr()
        os.close(held)
    finally:
        churn.stop()
        m.cleanup()
