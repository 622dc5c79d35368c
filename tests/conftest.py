# SPDX-License-Identifier: GPL-2.0-or-later
"""pytest fixtures for imapfs's integration tests.

Run:  /usr/bin/python3 -m pytest tests            (from the repository root)
      IMAPFS_BIN=/path/to/imapfs /usr/bin/python3 -m pytest tests

The tests FAIL (never skip) when imapfs, /dev/fuse, fusermount3, dovecot or
the mail corpus is missing. Nothing here talks to anything but 127.0.0.1.

Fixtures:
  imapfs_bin    path of the binary ($IMAPFS_BIN, default <repo>/build/imapfs)
  server        session-wide plaintext Dovecot, seeded (see seed_server);
                server.seed describes what was put there
  test_ca       session-wide TestCA (CA, good, wrong-host, expired, self-signed)
  tls_server    session-wide Dovecot with STARTTLS + imaps, CA-signed cert
  dovecot_factory  make(**Dovecot kwargs) -> started private Dovecot, stopped
                at teardown (for tests that stop/restart/mutate a server)
  mount_factory make(url, opts=[...], **Mount kwargs) -> started Mount,
                stopped at teardown
  mounted       the default mount of `server`: imap://alice@127.0.0.1:PORT
                with -o tls=none
Helpers importable by test modules: Mount, MountError, is_mounted, bounded.
"""

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import corpus  # noqa: E402
import dovecot  # noqa: E402
from dovecot import Dovecot, TestCA  # noqa: E402

REPO = os.path.dirname(HERE)
IMAPFS_BIN = os.environ.get('IMAPFS_BIN') or os.path.join(REPO, 'build', 'imapfs')
FUSERMOUNT = shutil.which('fusermount3') or '/usr/bin/fusermount3'

# Every test is bounded: after this many seconds the watchdog kills the
# test's imapfs processes (unblocking anything stuck in the mount) and the
# test fails.
TEST_TIMEOUT = float(os.environ.get('IMAPFS_TEST_TIMEOUT', '300'))
MOUNT_TIMEOUT = 10.0

SA_COUNT = 1200          # SpamAssassin messages in corpus-sa (>= 1000)
BIG_SIZES = (1 << 20, 5 << 20, 3000001)
NEEDLE = 'imapfs-needle-5f2c9a17'
NEEDLE_BOXES = ('Archive/2024', 'Entwürfe', '日本語/子供', 'a b')


# --------------------------------------------------------------------------
# helpers

def _unescape_mountinfo(s):
    return re.sub(r'\\([0-7]{3})', lambda m: chr(int(m.group(1), 8)), s)


def is_mounted(path):
    """True if path is a mount point, from /proc/self/mountinfo: this never
    touches the file system itself, so it cannot hang on a stuck daemon (only
    the parent is resolved: realpath() of a hung mount point would hang)."""
    path = os.path.join(os.path.realpath(os.path.dirname(os.path.abspath(path))),
                        os.path.basename(os.path.abspath(path)))
    with open('/proc/self/mountinfo') as f:
        for line in f:
            fields = line.split(' ')
            if len(fields) > 4 and _unescape_mountinfo(fields[4]) == path:
                return True
    return False


def bounded(timeout, fn, *args, **kwargs):
    """Run fn in a daemon thread; return (result, exception, seconds).
    Raises AssertionError if it does not finish within timeout seconds (the
    thread is left behind; the mount's teardown kills imapfs, freeing it)."""
    box = {}

    def run():
        t0 = time.monotonic()
        try:
            box['result'] = fn(*args, **kwargs)
        except BaseException as e:  # noqa: B902 -- reported to the caller
            box['exc'] = e
        box['secs'] = time.monotonic() - t0

    th = threading.Thread(target=run, daemon=True)
    th.start()
    th.join(timeout)
    if th.is_alive():
        raise AssertionError('%s did not return within %.0f s (hang)'
                             % (getattr(fn, '__name__', fn), timeout))
    return box.get('result'), box.get('exc'), box['secs']


class MountError(RuntimeError):
    def __init__(self, msg, returncode=None, stderr=''):
        super().__init__(msg)
        self.returncode = returncode
        self.stderr = stderr


_LIVE = set()          # Mount objects with a process, for the watchdog
_LIVE_LOCK = threading.Lock()
_TEST_MOUNTS = []      # Mount objects made during the current test (reports)


class Mount:
    """`imapfs -f URL MOUNTPOINT -o OPTS` as a subprocess.

    The password goes in $IMAPFS_PASSWORD (password_via='env'), or in a 0600
    file passed as -o password_file (password_via='file'), or not at all
    (password_via=None). stderr and stdout go to a file: .stderr() reads it.
    Use as a context manager, or start()/stop()."""

    def __init__(self, url, mountpoint, opts=(), env=None, *, password=None,
                 password_via='env', binary=None, foreground=True, debug=False,
                 args=()):
        self.url = url
        self.path = os.path.realpath(mountpoint)
        self.opts = list(opts)
        self.binary = binary or IMAPFS_BIN
        self.password = password
        self.proc = None
        self.returncode = None
        os.makedirs(self.path, exist_ok=True)
        self.env = dict(os.environ if env is None else env)
        self.env.pop('IMAPFS_PASSWORD', None)
        self._workdir = tempfile.mkdtemp(prefix='imapfs-mount-')
        self.log_path = os.path.join(self._workdir, 'stderr')
        # Each mount its own disk cache (-o cache_dir overrides): what one
        # test read is never another's, nor left in the user's ~/.cache.
        if env is None or 'XDG_CACHE_HOME' not in env:
            self.env['XDG_CACHE_HOME'] = os.path.join(self._workdir, 'cache')
        if password is not None and password_via == 'env':
            self.env['IMAPFS_PASSWORD'] = password
        elif password is not None and password_via == 'file':
            pf = os.path.join(self._workdir, 'password')
            fd = os.open(pf, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, 'w') as f:
                f.write(password)
            self.opts.append('password_file=' + pf)
        elif password_via not in ('env', 'file', None):
            raise ValueError(password_via)
        _TEST_MOUNTS.append(self)
        self.argv = [self.binary]
        if foreground:
            self.argv.append('-f')
        if debug:
            self.argv.append('-d')
        self.argv += list(args) + [url, self.path]
        if self.opts:
            self.argv += ['-o', ','.join(self.opts)]

    def stderr(self):
        try:
            with open(self.log_path, 'rb') as f:
                return f.read().decode('utf-8', 'replace')
        except FileNotFoundError:
            return ''

    def _spawn(self):
        with open(self.log_path, 'ab') as log:
            self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL,
                                         stdout=log, stderr=log, env=self.env)
        with _LIVE_LOCK:
            _LIVE.add(self)

    def start(self, timeout=MOUNT_TIMEOUT):
        """Spawn and wait (bounded) until mounted; MountError with the
        captured stderr if the process exits or the time runs out."""
        if is_mounted(self.path):
            raise MountError('%s is already a mount point' % self.path)
        self._spawn()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if is_mounted(self.path):
                return self
            rc = self.proc.poll()
            if rc is not None:
                self.returncode = rc
                self._forget()
                raise MountError('imapfs exited with %d before mounting:\n%s'
                                 % (rc, self.stderr()), rc, self.stderr())
            time.sleep(0.02)
        self.stop()
        raise MountError('not mounted within %.0f s:\n%s' % (timeout, self.stderr()),
                         None, self.stderr())

    def run_to_exit(self, timeout=15.0):
        """For refusals: spawn, wait (bounded) for the process to exit.
        Returns (returncode or None if still running, seconds, was_mounted).
        A process still running after timeout is stopped."""
        self._spawn()
        t0 = time.monotonic()
        was_mounted = False
        while time.monotonic() - t0 < timeout:
            was_mounted = was_mounted or is_mounted(self.path)
            rc = self.proc.poll()
            if rc is not None:
                self.returncode = rc
                self._forget()
                return rc, time.monotonic() - t0, was_mounted
            time.sleep(0.02)
        self.stop()
        return None, time.monotonic() - t0, was_mounted

    def _forget(self):
        with _LIVE_LOCK:
            _LIVE.discard(self)

    def print_stacks(self):
        """Print every thread's backtrace of the running daemon (gdb, by
        pid), so that a hang found by a test says where it is."""
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            r = subprocess.run(['gdb', '-p', str(self.proc.pid), '-batch', '-nx',
                                '-ex', 'thread apply all bt'],
                               capture_output=True, text=True, timeout=60)
            print('--- imapfs pid %d threads ---\n%s' % (self.proc.pid, r.stdout))
        except (OSError, subprocess.TimeoutExpired) as e:
            print('--- no backtrace of imapfs: %s' % e)

    def kill(self):
        """SIGKILL the daemon by pid (watchdog, crash tests)."""
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.kill(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def stop(self, timeout=10.0):
        """fusermount3 -u, wait (bounded) for the process to exit, then
        SIGTERM/SIGKILL by pid if needed and lazily unmount what is left.
        Returns the exit status (negative for a signal)."""
        if self.proc is None:
            if is_mounted(self.path):
                subprocess.run([FUSERMOUNT, '-u', '-z', self.path], timeout=timeout,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            return self.returncode
        if is_mounted(self.path):
            try:
                subprocess.run([FUSERMOUNT, '-u', self.path], timeout=timeout,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            except subprocess.TimeoutExpired:
                pass
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            for sig, wait in ((signal.SIGTERM, 5), (signal.SIGKILL, 5)):
                try:
                    os.kill(self.proc.pid, sig)
                except ProcessLookupError:
                    pass
                try:
                    self.proc.wait(wait)
                    break
                except subprocess.TimeoutExpired:
                    continue
        if is_mounted(self.path):
            subprocess.run([FUSERMOUNT, '-u', '-z', self.path], timeout=timeout,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.returncode = self.proc.returncode
        self.proc = None
        self._forget()
        return self.returncode

    def cleanup(self):
        self.stop()
        shutil.rmtree(self._workdir, ignore_errors=True)

    def __enter__(self):
        if self.proc is None:
            self.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    def p(self, *parts):
        """Path inside the mount."""
        return os.path.join(self.path, *parts)


def _kill_live_mounts():
    with _LIVE_LOCK:
        live = list(_LIVE)
    for m in live:
        m.kill()


# --------------------------------------------------------------------------
# preflight: fail, never skip

def _preflight_problems():
    problems = []
    if not (os.path.isfile(IMAPFS_BIN) and os.access(IMAPFS_BIN, os.X_OK)):
        problems.append('imapfs binary %s is missing or not executable '
                        '(build it: meson setup build && ninja -C build; '
                        'or set IMAPFS_BIN)' % IMAPFS_BIN)
    if not os.path.exists('/dev/fuse'):
        problems.append('/dev/fuse is missing')
    if not (os.path.isfile(FUSERMOUNT) and os.access(FUSERMOUNT, os.X_OK)):
        problems.append('fusermount3 is missing (apt-get install fuse3)')
    if not os.path.isfile(dovecot.DOVECOT):
        problems.append('dovecot is missing (apt-get install dovecot-imapd)')
    if not os.path.isfile(dovecot.OPENSSL):
        problems.append('openssl CLI is missing')
    return problems


@pytest.fixture(scope='session', autouse=True)
def _preflight():
    problems = _preflight_problems()
    if problems:
        pytest.fail('integration test prerequisites missing:\n  ' + '\n  '.join(problems),
                    pytrace=False)


def pytest_runtest_setup(item):
    del _TEST_MOUNTS[:]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """On a failure, show each imapfs of the test: command, state, stderr."""
    outcome = yield
    rep = outcome.get_result()
    if not rep.failed:
        return
    for i, m in enumerate(list(_TEST_MOUNTS)):
        if m.proc is not None:
            rc = m.proc.poll()
            state = 'running' if rc is None else 'exited with %d' % rc
        else:
            state = 'exited with %r' % (m.returncode,)
        err = m.stderr()
        if len(err) > 6000:
            err = '[...]\n' + err[-6000:]
        rep.sections.append(('imapfs #%d (%s)' % (i, state),
                             '$ %s\n%s' % (' '.join(m.argv), err)))


@pytest.fixture(autouse=True)
def _watchdog(request):
    fired = []

    def fire():
        fired.append(time.monotonic())
        _kill_live_mounts()

    t = threading.Timer(TEST_TIMEOUT, fire)
    t.daemon = True
    t.start()
    yield
    t.cancel()
    if fired:
        pytest.fail('%s exceeded %.0f s: imapfs was killed to unblock it'
                    % (request.node.nodeid, TEST_TIMEOUT), pytrace=False)


@pytest.fixture(scope='session', autouse=True)
def _unmount_leftovers():
    yield
    with _LIVE_LOCK:
        live = list(_LIVE)
    for m in live:
        m.stop()


@pytest.fixture(scope='session')
def imapfs_bin():
    return IMAPFS_BIN


# --------------------------------------------------------------------------
# servers

class Seed:
    """What seed_server() put on a server (for the tests' expectations)."""

    def __init__(self):
        self.created = []      # mailboxes CREATEd (UTF-8), in order
        self.uids = {}         # mailbox -> [uid] appended
        self.needles = []      # (mailbox, uid) of messages containing NEEDLE
        self.big = {}          # uid -> size in mailbox 'big'
        self.seconds = 0.0


class _Clock:
    """Distinct INTERNALDATEs, in a few time zones."""
    ZONES = (0, 120, -480, 330, -210, 60)

    def __init__(self, start=1262304000):  # 2010-01-01
        self.t = start
        self.n = 0

    def next(self):
        self.t += 3607
        self.n += 1
        return dovecot.imap_date(self.t, self.ZONES[self.n % len(self.ZONES)])


def seed_server(dv):
    """Seed a plain Dovecot: the SAMPLE_TREE mailboxes (a few messages each,
    NEEDLE in some), corpus-python (all CPython test messages), corpus-sa
    (SA_COUNT SpamAssassin messages), big (BIG_SIZES). Returns a Seed."""
    t0 = time.monotonic()
    seed = Seed()
    clock = _Clock()
    py = corpus.python_messages()
    sa = corpus.spamassassin_messages(SA_COUNT)
    c = dovecot.imap_client(dv)
    try:
        for name in dovecot.SAMPLE_TREE + ['corpus-python', 'corpus-sa', 'big']:
            if name != 'INBOX':
                dovecot.create_mailbox(c, name)
                seed.created.append(name)
        k = 0
        for name in dovecot.SAMPLE_TREE:
            msgs = []
            for j in range(3):
                k += 1
                body = 'Hello from %s, message %d.\nGrüße, こんにちは.\n' % (name, j + 1)
                if name in NEEDLE_BOXES and j == 1:
                    body += 'The word is %s.\n' % NEEDLE
                flags = [None, ['\\Seen'], ['\\Flagged', '$Work']][j]
                msgs.append((dovecot.make_message(
                    'Message %d in %s' % (j + 1, name), body,
                    msgid='<seed-%d@imapfs.test>' % k), clock.next(), flags))
            uids = dovecot.append_many(dv, name, msgs)
            seed.uids[name] = uids
            if name in NEEDLE_BOXES:
                seed.needles.append((name, uids[1]))
        # INBOX also gets old dates in odd zones. (Dovecot 2.3 replaces a
        # future date by the time of the APPEND, and later reports a date
        # before 1970 wrapped to 32 bits: neither is usable here.)
        extra = [(dovecot.make_message('Old', 'from 1980\n', msgid='<old@imapfs.test>'),
                  '01-Feb-1980 00:00:00 +0000', None),
                 (dovecot.make_message('Y2K', 'from 1999\n', msgid='<y2k@imapfs.test>'),
                  '31-Dec-1999 23:59:59 -1100', None)]
        seed.uids['INBOX'] += dovecot.append_many(dv, 'INBOX', extra)
        seed.uids['corpus-python'] = dovecot.append_many(
            dv, 'corpus-python', [(m, clock.next(), None) for m in py])
        seed.uids['corpus-sa'] = dovecot.append_many(
            dv, 'corpus-sa', [(m, clock.next(), None) for m in sa])
        bigs = [dovecot.make_big_message(size, seed=i + 1) for i, size in enumerate(BIG_SIZES)]
        seed.uids['big'] = dovecot.append_many(dv, 'big', [(m, clock.next(), None) for m in bigs])
        seed.big = dict(zip(seed.uids['big'], BIG_SIZES))
    finally:
        c.logout()
    seed.seconds = time.monotonic() - t0
    return seed


@contextlib.contextmanager
def _server(**kw):
    base = dovecot.make_basedir('imapfs-test-')
    dv = Dovecot(os.path.join(base, 'dovecot'), **kw)
    try:
        dv.start()
        yield dv
    finally:
        dv.stop()
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope='session')
def server(_preflight):
    """The session-wide plaintext Dovecot (ssl = no), seeded; do not change
    its mail (tests that write use dovecot_factory)."""
    with _server() as dv:
        dv.seed = seed_server(dv)
        yield dv


@pytest.fixture(scope='session')
def test_ca(_preflight):
    base = dovecot.make_basedir('imapfs-ca-')
    try:
        yield TestCA(os.path.join(base, 'ca'))
    finally:
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope='session')
def tls_server(test_ca):
    """Dovecot with STARTTLS on .port and implicit TLS on .imaps_port, its
    certificate for localhost/127.0.0.1 signed by test_ca; INBOX holds three
    messages (seed.uids['INBOX'])."""
    with _server(tls=True, ca=test_ca) as dv:
        seed = Seed()
        clock = _Clock()
        seed.uids['INBOX'] = dovecot.append_many(dv, 'INBOX', [
            (dovecot.make_message('TLS %d' % i, 'over TLS %d\n' % i,
                                  msgid='<tls-%d@imapfs.test>' % i), clock.next(), None)
            for i in range(3)])
        dv.seed = seed
        yield dv


@pytest.fixture
def dovecot_factory(_preflight):
    """make(**Dovecot kwargs) -> a started private Dovecot, stopped after the
    test."""
    made = []

    def make(**kw):
        base = dovecot.make_basedir('imapfs-test-')
        dv = Dovecot(os.path.join(base, 'dovecot'), **kw)
        made.append((dv, base))
        dv.start()
        return dv

    yield make
    for dv, base in made:
        dv.stop()
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope='session')
def caps_without_notify(_preflight):
    """The post-login capability list of this Dovecot, minus NOTIFY (read
    from a scratch instance: DESIGN.md section 5, imap_capability can only
    hide a capability by listing all the others). extra_conf='imap_capability
    = ...' with it makes an IDLE-only server."""
    base = dovecot.make_basedir('imapfs-test-caps-')
    dv = Dovecot(os.path.join(base, 'dovecot'))
    try:
        dv.start()
        c = dovecot.imap_client(dv)
        try:
            typ, data = c.capability()
            assert typ == 'OK', data
            caps = data[-1].decode().split()
        finally:
            c.logout()
    finally:
        dv.stop()
        shutil.rmtree(base, ignore_errors=True)
    assert 'NOTIFY' in caps and 'IDLE' in caps, caps
    return ' '.join(c for c in caps if c != 'NOTIFY')


# --------------------------------------------------------------------------
# mounts

@pytest.fixture
def mount_factory(tmp_path, _preflight):
    """make(url, opts=(), password=..., mountpoint=None, start=True, **kw)
    -> Mount (started unless start=False); all stopped after the test."""
    made = []

    def make(url, opts=(), *, password=dovecot.DEFAULT_PASSWORD, mountpoint=None,
             start=True, **kw):
        mp = mountpoint or str(tmp_path / ('mnt%d' % len(made)))
        m = Mount(url, mp, opts, password=password, **kw)
        made.append(m)
        if start:
            m.start()
        return m

    yield make
    for m in made:
        m.cleanup()


@pytest.fixture
def mounted(server, tmp_path):
    """The default mount of `server`: imap://alice@127.0.0.1:PORT -o tls=none,
    password in $IMAPFS_PASSWORD."""
    m = Mount(server.url('imap'), str(tmp_path / 'mnt'), ['tls=none'],
              password=server.password)
    try:
        with m:
            yield m
    finally:
        m.cleanup()
