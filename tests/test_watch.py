# SPDX-License-Identifier: GPL-2.0-or-later
"""Integration tests of the live view (issue 5, DESIGN.md sections 1 and 3):
a second client (imaplib, TCP_NODELAY) changes the server while imapfs is
mounted, and each change must show through the mount within a second.

Modes (the `mode` parameter):
  notify  default Dovecot (mailbox_list_index = yes): imapfs's watcher uses
          NOTIFY and hears every mailbox; every change: LIMIT (1 s).
  idle    Dovecot with NOTIFY hidden (imap_capability lists every other
          capability of this Dovecot): imapfs IDLEs on the mailbox in use
          and polls the others' STATUS (-o poll_interval=1); changes
          elsewhere (another mailbox, the tree) show because their listings
          expire after 0.5 s. Every change: LIMIT (1 s).
  noidle  -o noidle, no watcher: 0.5 s expiry, LIMIT (1 s) too; used by
          test_noidle_changes_show_by_expiry and the UIDVALIDITY test.
Mailbox DELETE and RENAME are also bounded by the tree's 0.5 s expiry, not
only by the server's NOTIFY: Dovecot pushes those 1.5 s late.
Also: a mailbox deleted and re-created (new UIDVALIDITY) under a warm page
cache, and a server restart under a mounted watcher.

Every change is timed from the moment the second client's command completed
(its tagged OK) to the first look at the mount (every POLL s) that shows it,
for at most max(POLL_MAX, 2 x limit) s, so a slow result is reported with
its real figure. Where a bare client can hear the same change (IDLE on the
mailbox, or NOTIFY like imapfs's), one runs alongside and its figure, the
floor, is printed beside imapfs's and quoted in failures: Dovecot itself
pushes 0.3-0.5 s late (DESIGN.md section 5). `pytest -s` shows all figures.

One Dovecot per server mode is shared by the module; each test works in
mailboxes of its own (Live) on a fresh mount. IMAPFS_WATCH_DEBUG=1 mounts
with -d (the IMAP trace then shows in failure reports). Everything is on
127.0.0.1; every loop is bounded.
"""

import errno
import glob
import os
import re
import shutil
import socket
import subprocess
import threading
import time

import pytest

import dovecot

POLL = 0.01              # seconds between two looks at the mount
POLL_MAX = 3.0           # give up looking after this long (or 2 x limit; then fail)
LIMIT = 1.0              # issue 5: "each within 1 second", in every mode
RESTART_LIMIT = 5.0      # first change after a server restart
C_ENV = dict(os.environ, LC_ALL='C')
MODES = ['notify', 'idle']
DEBUG = bool(os.environ.get('IMAPFS_WATCH_DEBUG'))  # imapfs -d (IMAP trace in failure reports)
WATCHER_LINE = re.compile(r'watcher: (NOTIFY on every mailbox|IDLE on the mailbox in use)')


# --------------------------------------------------------------------------
# servers, mounts, clients

def _capabilities(dv):
    c = dovecot.imap_client(dv)
    try:
        typ, data = c.capability()
        assert typ == 'OK', data
        return data[-1].decode().split()
    finally:
        c.logout()


def new_server(mode, caps_without_notify):
    """An unstarted private Dovecot for `mode` ('idle': NOTIFY hidden)."""
    extra = ''
    if mode == 'idle':
        extra = 'imap_capability = %s\n' % caps_without_notify
    base = dovecot.make_basedir('imapfs-test-watch-')
    return dovecot.Dovecot(os.path.join(base, 'dovecot'), extra_conf=extra), base


def check_caps(dv, mode):
    caps = _capabilities(dv)
    assert ('NOTIFY' in caps) == (mode != 'idle'), caps
    assert 'IDLE' in caps, caps


@pytest.fixture(scope='module')
def shared_server(caps_without_notify):
    """get(mode) -> a running Dovecot for the server mode ('notify' or
    'idle'), shared by the tests of this module (each test works in
    mailboxes of its own: see Live)."""
    made = {}

    def get(mode):
        if mode not in made:
            dv, base = new_server(mode, caps_without_notify)
            made[mode] = (dv, base)
            dv.start()
            check_caps(dv, mode)
        return made[mode][0]

    yield get
    for dv, base in made.values():
        dv.stop()
        shutil.rmtree(base, ignore_errors=True)


_TAG = [0]


class Live:
    """One test's world: mode, server dv, mount m, and its own mailboxes
    (names start with .tag): .box (three messages; made the mailbox in use
    by the tests), .other (three messages), .parent (empty)."""

    def __init__(self, mode, dv, m, tag):
        self.mode, self.dv, self.m, self.tag = mode, dv, m, tag
        self.box, self.other, self.parent = tag + '-box', tag + '-other', tag + '-parent'

    def name(self, suffix):
        return self.tag + '-' + suffix


def make_live(mode, dv, mount_factory):
    _TAG[0] += 1
    tag = 'w%d' % _TAG[0]
    lv = Live(mode, dv, None, tag)
    c = dovecot.imap_client(dv)
    try:
        for name in (lv.box, lv.other, lv.parent):
            dovecot.create_mailbox(c, name)
        for box in (lv.box, lv.other):
            for i in range(3):
                dovecot.append(c, box, msg('%s seed %d' % (box, i)), date=1704067200 + i)
    finally:
        c.logout()
    lv.m = mount_factory(dv.url('imap'), mount_opts(mode), debug=DEBUG)
    if mode != 'noidle':
        line = wait_watcher(lv.m)
        expect = 'NOTIFY on every mailbox' if mode == 'notify' else 'IDLE on the mailbox in use'
        assert line == expect, (mode, line)
    return lv


def mount_opts(mode):
    opts = ['tls=none']
    if mode == 'idle':
        opts.append('poll_interval=1')
    elif mode == 'noidle':
        opts.append('noidle')
    return opts


def wait_watcher(m, count=1, timeout=10.0):
    """Wait (bounded) until imapfs's stderr reports its watcher's mode
    `count` times; returns the last such line."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        lines = WATCHER_LINE.findall(m.stderr())
        if len(lines) >= count:
            return lines[-1]
        time.sleep(0.02)
    raise AssertionError('imapfs did not report its watcher (%d times) within %.0f s:\n%s'
                         % (count, timeout, m.stderr()))


@pytest.fixture(params=MODES)
def live(request, shared_server, mount_factory):
    """A Live of the mode: its mailboxes on the shared server, a fresh
    mount, the watcher connected in the expected mode."""
    mode = request.param
    return make_live(mode, shared_server(mode), mount_factory)


_MSG_N = [0]


def msg(subject, body=None, size=None):
    """A small distinct message; with size, padded to exactly size bytes."""
    _MSG_N[0] += 1
    raw = dovecot.make_message(subject, body or 'body of %s\n' % subject,
                               msgid='<watch-%d-%d@imapfs.test>' % (os.getpid(), _MSG_N[0]))
    if size is not None:
        pad = size - len(raw)
        assert pad >= 2, (size, len(raw))
        raw += b'p' * (pad - 2) + b'\r\n'
        assert len(raw) == size
    return raw


class Other:
    """The second client: an imaplib connection making changes."""

    def __init__(self, dv):
        self.dv = dv
        self.c = dovecot.imap_client(dv)

    def reconnect(self):
        """A fresh connection: Dovecot 2.3 keeps answering a connection that
        had a mailbox selected '[SERVERBUG]' for it once it was deleted."""
        self.close()
        self.c = dovecot.imap_client(self.dv)

    def append(self, box, raw):
        uid = dovecot.append(self.c, box, raw)
        assert uid, 'no APPENDUID'
        return uid

    def select(self, box):
        typ, data = self.c.select(dovecot.wire_mailbox(box))
        assert typ == 'OK', data

    def status(self, box, items='(MESSAGES UIDNEXT UIDVALIDITY)'):
        typ, data = self.c.status(dovecot.wire_mailbox(box), items)
        assert typ == 'OK', data
        return {k.decode(): int(v) for k, v in re.findall(rb'(\w+) (\d+)', data[0])}

    def expunge_uid(self, box, uid):
        self.select(box)
        typ, data = self.c.uid('STORE', str(uid), '+FLAGS.SILENT', '(\\Deleted)')
        assert typ == 'OK', data
        typ, data = self.c.uid('EXPUNGE', str(uid))
        assert typ == 'OK', data

    def store_flags(self, box, uid, op, flags):
        self.select(box)
        typ, data = self.c.uid('STORE', str(uid), op + '.SILENT', flags)
        assert typ == 'OK', data

    def create(self, box):
        dovecot.create_mailbox(self.c, box)

    def delete(self, box):
        typ, data = self.c.delete(dovecot.wire_mailbox(box))
        assert typ == 'OK', data

    def rename(self, old, new):
        typ, data = self.c.rename(dovecot.wire_mailbox(old), dovecot.wire_mailbox(new))
        assert typ == 'OK', data

    def close(self):
        try:
            self.c.logout()
        except Exception:  # noqa: BLE001 -- the server may be gone already
            pass


@pytest.fixture
def other_client():
    made = []

    def make(dv):
        o = Other(dv)
        made.append(o)
        return o

    yield make
    for o in made:
        o.close()


# --------------------------------------------------------------------------
# looking at the mount

def listing(path):
    """The names in directory path (one readdir), or None if it is gone."""
    try:
        return set(os.listdir(path))
    except FileNotFoundError:
        return None


def gone(path):
    """True if path does not exist (stat says ENOENT)."""
    try:
        os.stat(path)
    except FileNotFoundError:
        return True
    return False


def read(path):
    with open(path, 'rb') as f:
        return f.read()


def flags_of(path):
    return set(os.getxattr(path, 'user.imap.flags').decode().split())


class Timings:
    """Each change of a test is timed with wait(); check() at the end fails
    with every figure over its limit, so one slow step does not hide the
    others."""

    def __init__(self):
        self.rows = []   # (what, seconds or None, limit, floor seconds or None)

    def wait(self, what, pred, t0, limit, poll=POLL, floor=None, cap=None):
        """Poll pred() every `poll` s (at most POLL_MAX s from t0) until it is
        true; record the seconds since t0 (None: never within POLL_MAX).
        floor: a RawWatcher.Expect giving when a bare client heard it."""
        secs = None
        cap = cap or max(POLL_MAX, 2 * limit)
        for _ in range(int(cap / poll) + 10):
            if pred():
                secs = time.monotonic() - t0
                break
            if time.monotonic() - t0 > cap:
                break
            time.sleep(poll)
        # The floor is asked at once only if it was heard already: waiting
        # for it here would delay the next wait(), whose t0 is this one's.
        fl = floor.seconds(t0, timeout=0) if floor is not None else None
        self.rows.append((what, secs, limit, fl if fl is not None else (floor, t0)))
        print('%-58s %s (limit %4.0f ms)%s' % (
            what, '%6.0f ms' % (secs * 1000) if secs is not None else ' never  ',
            limit * 1000, '' if fl is None else '  bare client: %.0f ms' % (fl * 1000)))
        return secs

    def missed(self):
        """Whether a row so far came late or never (before check())."""
        return any(secs is None or secs > limit for (_, secs, limit, _) in self.rows)

    def check(self):
        bad = []
        for i, (what, secs, limit, fl) in enumerate(self.rows):
            if isinstance(fl, tuple):
                floor, t0 = fl
                fl = floor.seconds(t0) if floor is not None else None
                self.rows[i] = (what, secs, limit, fl)
                if fl is not None:
                    print('%-58s bare client: %.0f ms' % (what, fl * 1000))
            if secs is None or secs > limit:
                bad.append('%s: %s, limit %.1f s%s' % (
                    what, 'not visible within %.0f s' % max(POLL_MAX, 2 * limit) if secs is None
                    else 'visible after %.3f s' % secs, limit,
                    '' if fl is None else ' (a bare client heard the server after %.3f s)' % fl))
        assert not bad, 'too slow:\n  ' + '\n  '.join(bad)


class RawWatcher:
    """A bare IMAP client on a socket, for the floor: optionally NOTIFY SET
    (the same events as imapfs) and/or EXAMINE a mailbox, then IDLE; a
    thread time-stamps every line the server pushes."""

    NOTIFY = (b'NOTIFY SET (selected (MessageNew MessageExpunge FlagChange)) '
              b'(personal (MessageNew MessageExpunge MailboxName))')

    class Expect:
        def __init__(self, watcher, pattern):
            self.w = watcher
            self.re = re.compile(pattern)

        def seconds(self, t0, timeout=0.5):
            """Seconds from t0 to the first matching line (waiting at most
            `timeout` more), or None."""
            deadline = time.monotonic() + timeout
            while True:
                with self.w.lock:
                    for t, line in self.w.lines:
                        if t >= t0 and self.re.search(line):
                            return max(0.0, t - t0)
                if time.monotonic() > deadline:
                    return None
                time.sleep(0.005)

    def __init__(self, dv, notify=False, examine=None):
        self.lines = []
        self.lock = threading.Lock()
        self.sock = socket.create_connection((dovecot.HOST, dv.port), timeout=10)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.f = self.sock.makefile('rb')
        self.f.readline()
        self._cmd(b'a LOGIN ' + dovecot.imap_quote(dv.user).encode() + b' '
                  + dovecot.imap_quote(dv.password).encode())
        if notify:
            self._cmd(b'b ' + self.NOTIFY)
        if examine:
            self._cmd(b'c EXAMINE ' + dovecot.wire_mailbox(examine).encode())
        self.sock.sendall(b'd IDLE\r\n')
        for _ in range(100):
            if self.f.readline().startswith(b'+'):
                break
        self.sock.settimeout(None)
        self.th = threading.Thread(target=self._read, daemon=True)
        self.th.start()

    def _cmd(self, text):
        tag = text.split(b' ', 1)[0]
        self.sock.sendall(text + b'\r\n')
        for _ in range(1000):
            line = self.f.readline()
            if not line or line.startswith(tag + b' '):
                assert line.split(b' ')[1:2] == [b'OK'], line
                return
        raise AssertionError('no reply to %r' % text)

    def _read(self):
        for _ in range(1000000):
            try:
                line = self.f.readline()
            except (OSError, ValueError):
                return
            if not line:
                return
            with self.lock:
                self.lines.append((time.monotonic(), line.decode('utf-8', 'replace')))

    def expect(self, pattern):
        return self.Expect(self, pattern)

    def close(self):
        try:
            self.sock.sendall(b'DONE\r\ne LOGOUT\r\n')
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.th.join(5)
        self.f.close()
        self.sock.close()


@pytest.fixture
def raw_watcher():
    made = []

    def make(dv, **kw):
        w = RawWatcher(dv, **kw)
        made.append(w)
        return w

    yield make
    for w in made:
        w.close()


def use(m, box):
    """Make box the mailbox in use: list it through the mount (and give the
    watcher a moment to follow: SELECT happens at its next 200 ms tick)."""
    names = listing(m.p(box))
    assert names is not None, box
    time.sleep(0.5)
    assert listing(m.p(box)) is not None
    return names


def eml(uid):
    return '%d.eml' % uid



def floor_in_use(raw_watcher, dv, box, pattern):
    """A bare IDLE client on box: when the server pushed the change."""
    return raw_watcher(dv, examine=box).expect(pattern)


def floor_notify(raw_watcher, dv, mode, pattern):
    """With NOTIFY, a bare NOTIFY client: when the server pushed the change
    (None in IDLE-only mode: there a poll finds it)."""
    return raw_watcher(dv, notify=True).expect(pattern) if mode == 'notify' else None


def wait_listed(m, name):
    """Wait (bounded, 3 s) until the mount's root lists name."""
    deadline = time.monotonic() + 3
    while name not in listing(m.path):
        assert time.monotonic() < deadline, '%s never appeared in the mount' % name
        time.sleep(POLL)


def server_ghost(dv, name):
    """Whether the server, asked on a new connection, still lists name, and
    as \\Noselect. Dovecot 2.3 (maildir) leaves such a ghost when a client
    reads a mailbox (STATUS, EXAMINE: the mount's own listing, or any other
    client's) while another deletes or renames it: the reader writes its
    dovecot-uidlist into a directory made again, and LIST calls that
    \\Noselect from then on, to every client, until someone deletes it.
    (tests/ reproduce it with two bare imaplib clients, no mount.)"""
    c = dovecot.imap_client(dv)
    try:
        listed = dovecot.list_mailboxes(c)
    finally:
        c.logout()
    return any(n == name and '\\Noselect' in attrs for n, _, attrs in listed)


def check_ghost(m, dv, mode, name):
    """What a user must get where the server kept name as a ghost
    (server_ghost): the mount shows what the server lists, an empty
    directory, within LIMIT; and rmdir through the mount either takes it off
    the server or fails as the server's own DELETE does (Dovecot refuses one
    with a stray file inside: "Mailbox has children"), and says so."""
    print('%s: the server still lists %s \\Noselect (a reader raced the change): '
          'checking that the mount shows it empty' % (mode, name))
    tm = Timings()
    t0 = time.monotonic()
    tm.wait('%s: ghost %s: an empty directory' % (mode, name),
            lambda: listing(m.p(name)) == set(), t0, LIMIT)
    tm.check()
    try:
        os.rmdir(m.p(name))
        refused = None
    except OSError as e:
        refused = e
    c = dovecot.imap_client(dv)
    try:
        if refused is None:
            assert name not in [n for n, _, _ in dovecot.list_mailboxes(c)]
            return
        typ, data = c.delete(dovecot.wire_mailbox(name))
    finally:
        c.logout()
    assert typ != 'OK', ('rmdir failed (%s) where the server deletes it' % refused)
    assert refused.errno == errno.EIO, refused
    assert 'refused to delete the mailbox %s' % name in m.stderr()
    print('%s: the server refuses to DELETE the ghost (%r); rmdir says EIO, and why in the log'
          % (mode, data))


def uids_in(names):
    return sorted(int(n[:-4]) for n in names if n.endswith('.eml'))


# --------------------------------------------------------------------------
# messages

def test_append_in_mailbox_in_use(live, other_client, raw_watcher):
    """Another client's APPEND to the mailbox in use appears in `ls` (and a
    stat of its name, looked up before as missing, succeeds) within 1 s in
    both modes; the file holds the appended bytes."""
    lv = live
    m, box = lv.m, lv.box
    o = other_client(lv.dv)
    floor = floor_in_use(raw_watcher, lv.dv, box, r'^\* \d+ EXISTS')
    use(m, box)
    tm = Timings()
    for k in range(3):
        raw = msg('new in %s %d' % (box, k))
        uid = o.status(box)['UIDNEXT']
        assert gone(m.p(box, eml(uid)))   # may leave a negative entry behind
        assert eml(uid) not in listing(m.p(box))
        got = o.append(box, raw)
        t0 = time.monotonic()
        assert got == uid
        tm.wait('%s: APPEND #%d in the mailbox in use: ls' % (lv.mode, k),
                lambda: eml(uid) in (listing(m.p(box)) or ()), t0, LIMIT, floor=floor)
        tm.wait('%s: APPEND #%d: stat of its name' % (lv.mode, k),
                lambda: not gone(m.p(box, eml(uid))), t0, LIMIT)
        if not gone(m.p(box, eml(uid))):
            assert read(m.p(box, eml(uid))) == raw
            assert os.stat(m.p(box, eml(uid))).st_size == len(raw)
    tm.check()


@pytest.mark.parametrize('look', ['at_once', 'after_0.6s'])
def test_append_in_other_mailbox(live, other_client, raw_watcher, look):
    """An APPEND to a mailbox that was listed but is not the one in use
    appears within 1 s, also in IDLE-only mode (where that mailbox's
    listing is polled, or expires after 0.5 s).

    look='at_once': the mount is polled from the APPEND's completion on, as
    by a user who opens that mailbox right away (which makes it the mailbox
    in use while Dovecot's notification is still on its way, 0.3-0.5 s).
    look='after_0.6s': the first look is 0.6 s after the APPEND, when the
    notification about the other mailbox has normally been handled."""
    lv = live
    m, other = lv.m, lv.other
    o = other_client(lv.dv)
    floor = floor_notify(raw_watcher, lv.dv, lv.mode, r'^\* STATUS "?%s' % re.escape(other))
    assert len(uids_in(listing(m.p(other)))) == 3
    use(m, lv.box)
    raw = msg('new in ' + other)
    uid = o.append(other, raw)
    t0 = time.monotonic()
    if look != 'at_once':
        time.sleep(0.6)
    tm = Timings()
    tm.wait('%s: APPEND in another mailbox, look %s' % (lv.mode, look),
            lambda: eml(uid) in (listing(m.p(other)) or ()), t0, LIMIT,
            floor=floor)
    tm.check()
    assert read(m.p(other, eml(uid))) == raw


def test_expunge(live, other_client, raw_watcher):
    """An EXPUNGE by another client in the mailbox in use: the name leaves
    `ls` and stat/open fail with ENOENT within 1 s, although the file was
    looked up and read before (kernel entry and page cache warm)."""
    lv = live
    m, box = lv.m, lv.box
    o = other_client(lv.dv)
    floor = floor_in_use(raw_watcher, lv.dv, box, r'^\* (\d+ EXPUNGE|VANISHED)')
    uids = uids_in(use(m, box))
    victim = uids[1]
    path = m.p(box, eml(victim))
    assert read(path)
    os.stat(path)
    o.expunge_uid(box, victim)
    t0 = time.monotonic()
    tm = Timings()
    tm.wait('%s: EXPUNGE: name leaves ls' % lv.mode,
            lambda: eml(victim) not in (listing(m.p(box)) or ()), t0, LIMIT, floor=floor)
    tm.wait('%s: EXPUNGE: stat gives ENOENT' % lv.mode, lambda: gone(path), t0, LIMIT)
    tm.check()
    with pytest.raises(FileNotFoundError):
        open(path, 'rb').close()
    for u in uids:
        if u != victim:
            assert read(m.p(box, eml(u)))


def test_flag_change(live, other_client, raw_watcher):
    """Flags set and cleared by another client on a message of the mailbox in
    use show in user.imap.flags (os.getxattr; then getfattr agrees) within
    1 s."""
    lv = live
    m, box = lv.m, lv.box
    o = other_client(lv.dv)
    floor = floor_in_use(raw_watcher, lv.dv, box, r'^\* \d+ FETCH')
    uid = uids_in(use(m, box))[0]
    path = m.p(box, eml(uid))
    before = flags_of(path)
    assert '\\Flagged' not in before and '$Watched' not in before, before
    tm = Timings()
    o.store_flags(box, uid, '+FLAGS', '(\\Flagged $Watched)')
    t0 = time.monotonic()
    tm.wait('%s: flags added' % lv.mode,
            lambda: {'\\Flagged', '$Watched'} <= flags_of(path), t0, LIMIT, floor=floor)
    r = subprocess.run(['getfattr', '--only-values', '-n', 'user.imap.flags', path],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30, env=C_ENV)
    assert r.returncode == 0, r.stderr
    assert set(r.stdout.decode().split()) == flags_of(path), r.stdout
    time.sleep(0.3)
    o.store_flags(box, uid, '-FLAGS', '(\\Flagged)')
    t0 = time.monotonic()
    tm.wait('%s: flag removed' % lv.mode,
            lambda: '\\Flagged' not in flags_of(path), t0, LIMIT, floor=floor)
    tm.check()
    assert '$Watched' in flags_of(path)


# --------------------------------------------------------------------------
# the tree

def test_create_mailbox(live, other_client, raw_watcher):
    """CREATE by another client: the new mailbox shows in its parent's
    listing (top level, and below an existing, listed parent) and can be
    entered: within 1 s, with NOTIFY or IDLE only."""
    lv = live
    m, mode = lv.m, lv.mode
    o = other_client(lv.dv)
    fresh, kid = lv.name('fresh'), lv.parent + '/kid'
    assert fresh not in listing(m.path)
    assert gone(m.p(fresh))
    assert listing(m.p(lv.parent)) == set()
    use(m, lv.box)
    tm = Timings()
    floor = floor_notify(raw_watcher, lv.dv, mode, r'^\* LIST .*%s' % re.escape(fresh))
    o.create(fresh)
    t0 = time.monotonic()
    tm.wait('%s: CREATE at the top: ls' % mode,
            lambda: fresh in listing(m.path), t0, LIMIT, floor=floor)
    tm.wait('%s: CREATE at the top: stat' % mode, lambda: not gone(m.p(fresh)), t0,
            LIMIT)
    floor = floor_notify(raw_watcher, lv.dv, mode, r'^\* LIST .*%s' % re.escape(kid))
    o.create(kid)
    t0 = time.monotonic()
    tm.wait('%s: CREATE below a listed parent: ls' % mode,
            lambda: 'kid' in (listing(m.p(lv.parent)) or ()), t0, LIMIT,
            floor=floor)
    tm.check()
    assert listing(m.p(kid)) == set()
    raw = msg('into ' + fresh)
    uid = o.append(fresh, raw)
    assert read(m.p(fresh, eml(uid))) == raw


def test_delete_mailbox(live, other_client, raw_watcher):
    """DELETE by another client of a mailbox created while mounted: it leaves
    the tree and stat gives ENOENT, although it was looked up and listed
    before: within 1 s in both modes (Dovecot's NOTIFY tells of it after
    1.5 s; the mount's tree expires sooner)."""
    lv = live
    m, mode = lv.m, lv.mode
    o = other_client(lv.dv)
    doomed = lv.name('doomed')
    o.create(doomed)
    raw = msg('in ' + doomed)
    uid = o.append(doomed, raw)
    wait_listed(m, doomed)
    assert read(m.p(doomed, eml(uid))) == raw
    use(m, lv.box)
    os.stat(m.p(doomed))
    floor = floor_notify(raw_watcher, lv.dv, mode, r'^\* LIST .*%s' % re.escape(doomed))
    o.delete(doomed)
    t0 = time.monotonic()
    tm = Timings()
    tm.wait('%s: DELETE: leaves ls' % mode,
            lambda: doomed not in listing(m.path), t0, LIMIT, floor=floor)
    tm.wait('%s: DELETE: stat gives ENOENT' % mode, lambda: gone(m.p(doomed)), t0,
            LIMIT)
    if tm.missed() and server_ghost(lv.dv, doomed):
        check_ghost(m, lv.dv, mode, doomed)
        return
    tm.check()


def test_mailbox_left_noselect(live, other_client):
    """A mailbox in use that another client deletes and the server then keeps
    listing \\Noselect (server_ghost: Dovecot 2.3 does so where a reader raced
    the DELETE; two bare clients make one at random, here it is made
    directly: a directory holding only a dovecot-uidlist): the mount shows an
    empty directory within LIMIT, the watcher does not reconnect over it
    again and again, and rmdir fails as the server's DELETE does (EIO), with
    the reason in the log."""
    lv = live
    m, mode = lv.m, lv.mode
    o = other_client(lv.dv)
    name = lv.name('ghost')
    o.create(name)
    o.append(name, msg('in ' + name))
    wait_listed(m, name)
    use(m, name)
    o.delete(name)
    homes = [os.path.dirname(d) for d in
             glob.glob(os.path.join(lv.dv.basedir, 'mail', '*', lv.box))]
    assert len(homes) == 1, 'no maildir (LAYOUT=fs) for %s under %s' % (lv.box, lv.dv.basedir)
    os.mkdir(os.path.join(homes[0], name))
    with open(os.path.join(homes[0], name, 'dovecot-uidlist'), 'w') as f:
        f.write('3 V1796500000 N1 G0\n')
    assert server_ghost(lv.dv, name)
    t0 = time.monotonic()
    tm = Timings()
    tm.wait('%s: ghost: an empty directory' % mode, lambda: listing(m.p(name)) == set(), t0,
            LIMIT)
    tm.check()
    lost = m.stderr().count('watcher: connection lost')
    time.sleep(3)
    assert m.stderr().count('watcher: connection lost') - lost <= 1, m.stderr()
    with pytest.raises(OSError) as e:
        os.rmdir(m.p(name))
    assert e.value.errno == errno.EIO
    assert 'refused to delete the mailbox %s' % name in m.stderr()
    shutil.rmtree(os.path.join(homes[0], name))


def test_delete_mailbox_seeded(live, other_client, raw_watcher):
    """As test_delete_mailbox, for a mailbox that existed before the mount
    (listed and read through the mount)."""
    lv = live
    m, mode, other = lv.m, lv.mode, lv.other
    o = other_client(lv.dv)
    assert read(m.p(other, eml(uids_in(listing(m.p(other)))[0])))
    use(m, lv.box)
    floor = floor_notify(raw_watcher, lv.dv, mode, r'^\* LIST .*%s' % re.escape(other))
    o.delete(other)
    t0 = time.monotonic()
    tm = Timings()
    tm.wait('%s: DELETE (pre-mount mailbox): leaves ls' % mode,
            lambda: other not in listing(m.path), t0, LIMIT, floor=floor)
    tm.wait('%s: DELETE (pre-mount mailbox): stat gives ENOENT' % mode,
            lambda: gone(m.p(other)), t0, LIMIT)
    if tm.missed() and server_ghost(lv.dv, other):
        check_ghost(m, lv.dv, mode, other)
        return
    tm.check()


def test_rename_mailbox(live, other_client, raw_watcher):
    """RENAME by another client: the old name leaves (ENOENT), the new one
    appears with the same messages, within 1 s in both modes."""
    lv = live
    m, mode = lv.m, lv.mode
    o = other_client(lv.dv)
    before, after = lv.name('before'), lv.name('after')
    o.create(before)
    raws = [msg('renamed %d' % i) for i in range(2)]
    uids = [o.append(before, r) for r in raws]
    wait_listed(m, before)
    assert {eml(u) for u in uids} <= listing(m.p(before))
    use(m, lv.box)
    floor = floor_notify(raw_watcher, lv.dv, mode, r'^\* LIST .*%s' % re.escape(after))
    o.rename(before, after)
    t0 = time.monotonic()
    # The mount sees a renaming by listing the tree again, and Dovecot 2.3's
    # LIST right after a RENAME can itself take seconds: its own lock wait
    # ("List completed (3.066 + 0.000 + 3.065 secs)"), and where a reader's
    # STATUS of the old name raced the RENAME (the mount's, on its `ls`), a
    # dotlock that reader's server process left in the renamed mailbox,
    # which other processes respect for 2 to 3 s after it ends (Dovecot's
    # STALE_PID_CHECK_SECS; for as long as it lives, if the mount kept that
    # connection). A bare client on a new connection sending the mount's
    # LIST (LIST-STATUS checks each name, DESIGN.md 5), timed alongside,
    # says when the server could first show it; imapfs has LIMIT from then.
    server = {}

    def bare_list():
        c = dovecot.imap_client(lv.dv)
        try:
            for _ in range(200):
                typ, data = c.list('""', '"*" RETURN (SPECIAL-USE STATUS (UIDVALIDITY))')
                if after in str(data):
                    server['secs'] = time.monotonic() - t0
                    return
                time.sleep(0.02)
        finally:
            c.logout()
    bare = threading.Thread(target=bare_list, daemon=True)
    bare.start()
    tm = Timings()
    cap = POLL_MAX + 4.0
    tm.wait('%s: RENAME: new name in ls' % mode,
            lambda: after in listing(m.path), t0, LIMIT, floor=floor, cap=cap)
    tm.wait('%s: RENAME: old name gone from ls, stat ENOENT' % mode,
            lambda: before not in listing(m.path) and gone(m.p(before)), t0,
            LIMIT, cap=cap)
    bare.join(15)
    late = max(0.0, server.get('secs', 0.0) - 0.2)
    print('a bare client listed the new name after %.3f s' % server.get('secs', -1))
    tm.rows = [(w, secs, limit + late, fl) for (w, secs, limit, fl) in tm.rows]
    if tm.missed() and server_ghost(lv.dv, before):
        tm.rows = tm.rows[:1]
        check_ghost(m, lv.dv, mode, before)
    try:
        tm.check()
    except AssertionError:
        print(lv.dv.log()[-6000:])
        raise
    got = listing(m.p(after))
    assert {eml(u) for u in uids} <= got, got
    for u, r in zip(uids, raws):
        assert read(m.p(after, eml(u))) == r


@pytest.mark.parametrize('mode', MODES + ['noidle'])
def test_tree_changes_in_a_row(mode, shared_server, mount_factory, other_client):
    """CREATE, RENAME and DELETE of mailboxes by another client, 5 of each in
    turn with short pauses, while a message of another mailbox is being
    read, so imapfs's connections have mailboxes selected: each change is in
    `ls` of the root within LIMIT. On Dovecot 2.3 a long-lived connection
    lists such changes late or never (a renamed-then-deleted mailbox stays
    listed, new ones are missed) and its NOTIFY tells of renames and
    deletions late; imapfs relists the tree on a new connection there."""
    lv = make_live(mode, shared_server('notify' if mode == 'noidle' else mode), mount_factory)
    m = lv.m
    o = other_client(lv.dv)
    uids = uids_in(use(m, lv.box))
    assert read(m.p(lv.box, eml(uids[0])))
    tm = Timings()
    # tests/run's sanitizer pass runs imapfs several times slower, and each
    # relisting here is a new login; the 1 s bound is the plain pass's.
    limit = LIMIT * (1.5 if os.environ.get('IMAPFS_SANITIZED') else 1)
    rnd = __import__('random').Random(5)
    for i in range(5):
        name = lv.name('tree%d' % i)
        renamed = name + '-renamed'
        o.create(name)
        t0 = time.monotonic()
        tm.wait('%s: CREATE %d: in ls' % (mode, i), lambda: name in listing(m.path), t0, limit)
        time.sleep(rnd.uniform(0.05, 0.3))
        o.rename(name, renamed)
        t0 = time.monotonic()
        tm.wait('%s: RENAME %d: new name in ls, old gone' % (mode, i),
                lambda: renamed in listing(m.path) and name not in listing(m.path), t0, limit)
        assert read(m.p(lv.box, eml(uids[1 + i % 2])))
        o.delete(renamed)
        t0 = time.monotonic()
        tm.wait('%s: DELETE %d: leaves ls' % (mode, i),
                lambda: renamed not in listing(m.path), t0, limit)
        time.sleep(rnd.uniform(0.05, 0.3))
    tm.check()


# --------------------------------------------------------------------------
# UIDVALIDITY: a mailbox deleted and created again

def recreate_with(o, box, raw, v_old, tries=12):
    """DELETE box, CREATE it again, APPEND raw as its UID 1 under a new
    UIDVALIDITY; returns (uid, uidvalidity). Dovecot's side of this races
    with the sessions (imapfs's) that still have the old mailbox selected:
    the CREATE may answer ALREADYEXISTS, the APPEND '[TRYCREATE] Mailbox
    was deleted under us' or '[SERVERBUG]' (then on every try on that
    connection: it is made anew). Such a round is simply done again (bounded):
    these are the second client's troubles, nothing the mount is judged on."""
    last = None
    for _ in range(tries):
        o.c.delete(dovecot.wire_mailbox(box))            # may answer NONEXISTENT
        typ, data = o.c.create(dovecot.wire_mailbox(box))
        if typ != 'OK' and b'ALREADYEXISTS' not in b' '.join(data):
            raise AssertionError('CREATE %s: %r' % (box, data))
        try:
            uid = o.append(box, raw)
        except dovecot.DovecotError as e:
            last = e
            o.reconnect()
            time.sleep(0.1)
            continue
        v = o.status(box)['UIDVALIDITY']
        if uid == 1 and v != v_old:
            return uid, v
        last = 'UID %d, UIDVALIDITY %d (old %d)' % (uid, v, v_old)
        time.sleep(0.05)
    raise AssertionError('could not re-create %s with a new UIDVALIDITY: %s' % (box, last))


def _text_part(m, box, uid):
    parts = sorted(listing(m.p(box, '%d.parts' % uid)) or ())
    text = [p for p in parts if p.endswith('.txt') and p != 'header.txt']
    assert text, parts
    return m.p(box, '%d.parts' % uid, text[0])


@pytest.mark.parametrize('b_size', ['same', 'longer'])
@pytest.mark.parametrize('mode', MODES + ['noidle'])
def test_recreated_mailbox_never_serves_old_bytes(mode, b_size, shared_server, mount_factory,
                                                  other_client):
    """A mailbox gets message A as UID 1, read through the mount (page cache
    warm, its text part too), which makes it the mailbox in use; another
    client deletes it, creates it again (new UIDVALIDITY) and appends B,
    again UID 1 (the same size as A, or longer). Its 1.eml is then read every
    POLL s: B must show within 1 s, and once B has
    been read, A never again. 1.5 s after the change a fresh open, cat,
    stat, the mailbox's user.imap.uidvalidity and the text part all give
    B's. Reads of A before the watcher can have heard of the change (Dovecot
    pushes 0.3-0.5 s late) are reported, not failed: no cache design avoids
    them."""
    lv = make_live(mode, shared_server('idle' if mode == 'idle' else 'notify'), mount_factory)
    m, box = lv.m, lv.name('phoenix')
    o = other_client(lv.dv)
    o.create(box)
    a = msg('message A', 'AAAA ' * 40 + '\n', size=900)
    b = msg('message B', 'BBBB ' * 40 + '\n', size=900 if b_size == 'same' else 1400)
    assert a != b
    assert o.append(box, a) == 1
    v1 = o.status(box)['UIDVALIDITY']
    wait_listed(m, box)
    path = m.p(box, '1.eml')
    assert read(path) == a
    assert read(path) == a            # the second read comes from the page cache
    assert b'AAAA' in read(_text_part(m, box, 1))
    assert os.getxattr(m.p(box), 'user.imap.uidvalidity').decode() == str(v1)

    uid, v2 = recreate_with(o, box, b, v1)
    t0 = time.monotonic()
    assert uid == 1 and v2 != v1

    limit = LIMIT
    seen = []                # (seconds, 'A' | 'B' | errno name | other)
    first_b = None
    for _ in range(int(POLL_MAX / POLL) + 10):
        try:
            data = read(path)
            what = 'A' if data == a else 'B' if data == b else 'other %d bytes' % len(data)
        except OSError as e:
            what = errno.errorcode.get(e.errno, str(e.errno))
        now = time.monotonic() - t0
        seen.append((now, what))
        if what == 'B' and first_b is None:
            first_b = now
        if (first_b is not None and now - first_b > 0.5) or now > POLL_MAX:
            break
        time.sleep(POLL)
    stale = [s for s, w in seen if w == 'A']
    print('%s/%s: B first read after %s ms; A read %d times, the last at %s ms'
          % (mode, b_size, None if first_b is None else round(first_b * 1000), len(stale),
             round(stale[-1] * 1000) if stale else '-'))
    odd = [(round(s, 3), w) for s, w in seen if w not in ('A', 'B', 'ENOENT')]
    assert not odd, 'reads that gave neither A nor B nor ENOENT: %r' % odd[:10]
    assert first_b is not None, ('B never read within %.0f s: A (stale bytes under a reused '
                                 'UID) read %d times, the last %.2f s after the change'
                                 % (POLL_MAX, len(stale), stale[-1] if stale else -1))
    after = [(round(s, 3), w) for s, w in seen if s > first_b and w != 'B']
    assert not after, 'after B had been read, other content came back: %r' % after[:10]
    assert first_b <= limit, ('B first read %.3f s after the change (limit %.1f s); A was '
                              'read until %.3f s' % (first_b, limit, stale[-1] if stale else 0))
    # Well after the change, every way of looking gives B.
    wait = 1.5 - (time.monotonic() - t0)
    if wait > 0:
        time.sleep(wait)
    assert read(path) == b
    assert os.stat(path).st_size == len(b)
    r = subprocess.run(['cat', path], stdout=subprocess.PIPE, timeout=30)
    assert r.stdout == b
    assert os.getxattr(m.p(box), 'user.imap.uidvalidity').decode() == str(v2)
    body = read(_text_part(m, box, 1))
    assert b'BBBB' in body and b'AAAA' not in body, body[:200]


# --------------------------------------------------------------------------
# -o noidle

def test_noidle_changes_show_by_expiry(shared_server, mount_factory, other_client):
    """With -o noidle there is no watcher (no watcher line in the log);
    listings expire after 0.5 s, so an APPEND (ls), an EXPUNGE (ls, and stat
    ENOENT), a flag change (getxattr, polled with an `ls` of the mailbox
    beside it) and a CREATE show within LIMIT (1 s)."""
    lv = make_live('noidle', shared_server('notify'), mount_factory)
    m, box = lv.m, lv.box
    o = other_client(lv.dv)
    uids = uids_in(use(m, box))
    tm = Timings()
    raw = msg('noidle append')
    uid = o.append(box, raw)
    t0 = time.monotonic()
    tm.wait('noidle: APPEND: ls', lambda: eml(uid) in listing(m.p(box)), t0, LIMIT)
    assert read(m.p(box, eml(uid))) == raw
    path = m.p(box, eml(uids[0]))
    assert read(path)
    o.expunge_uid(box, uids[0])
    t0 = time.monotonic()
    tm.wait('noidle: EXPUNGE: leaves ls',
            lambda: eml(uids[0]) not in listing(m.p(box)), t0, LIMIT)
    tm.wait('noidle: EXPUNGE: stat gives ENOENT', lambda: gone(path), t0, LIMIT)
    fpath = m.p(box, eml(uids[1]))
    assert '\\Flagged' not in flags_of(fpath)
    o.store_flags(box, uids[1], '+FLAGS', '(\\Flagged)')
    t0 = time.monotonic()
    tm.wait('noidle: flag change (getxattr, with ls)',
            lambda: listing(m.p(box)) is not None and '\\Flagged' in flags_of(fpath), t0,
            LIMIT)
    fresh = lv.name('noidle-new')
    o.create(fresh)
    t0 = time.monotonic()
    tm.wait('noidle: CREATE', lambda: fresh in listing(m.path), t0, LIMIT)
    assert not WATCHER_LINE.search(m.stderr()), m.stderr()
    tm.check()


# --------------------------------------------------------------------------
# the watcher outlives its server

@pytest.mark.parametrize('mode', MODES)
def test_watcher_survives_server_restart(mode, caps_without_notify, mount_factory,
                                         other_client):
    """Dovecot is stopped and started again on the same port while mounted:
    the watcher reconnects (its mode line shows again in the log within
    10 s), a new APPEND into the mailbox in use is seen within
    RESTART_LIMIT (5 s) of its completion, and the next one, once the
    watcher is back, within 1 s again."""
    dv, base = new_server(mode, caps_without_notify)
    try:
        dv.start()
        check_caps(dv, mode)
        lv = make_live(mode, dv, mount_factory)
        m, box = lv.m, lv.box
        use(m, box)
        port = dv.port
        dv.stop()
        time.sleep(0.5)
        dv.start()
        assert dv.port == port
        t_restart = time.monotonic()
        o = other_client(dv)
        tm = Timings()
        raw = msg('after restart')
        uid = o.append(box, raw)
        t0 = time.monotonic()
        tm.wait('%s: first APPEND after a server restart' % mode,
                lambda: eml(uid) in (listing(m.p(box)) or ()), t0, RESTART_LIMIT, poll=0.02)
        assert read(m.p(box, eml(uid))) == raw
        wait_watcher(m, 2, timeout=max(1.0, 10.0 - (time.monotonic() - t_restart)))
        use(m, box)
        raw = msg('after restart, steady')
        uid = o.append(box, raw)
        t0 = time.monotonic()
        tm.wait('%s: next APPEND after the restart' % mode,
                lambda: eml(uid) in (listing(m.p(box)) or ()), t0, LIMIT)
        tm.check()
        assert read(m.p(box, eml(uid))) == raw
    finally:
        dv.stop()
        shutil.rmtree(base, ignore_errors=True)
