# SPDX-License-Identifier: GPL-2.0-or-later
"""Integration tests of the live view (issue 5, DESIGN.md sections 1 and 3):
a second client (imaplib, TCP_NODELAY) changes the server while imapfs is
mounted, and each change must show through the mount within a second.

Modes (the `mode` parameter):
  notify  default Dovecot (mailbox_list_index = yes): imapfs's watcher uses
          NOTIFY and hears every mailbox.
  idle    Dovecot with NOTIFY hidden (imap_capability lists every other
          capability): imapfs IDLEs on the mailbox in use and polls the
          others' STATUS (-o poll_interval=1). Changes to the mailbox in use
          must still show within 1 s; changes elsewhere (other mailboxes,
          the tree) rely on the 1 s listing expiry or the 1 s poll, so there
          the bound is IDLE_OTHER_LIMIT (1.5 s).
plus one test with -o noidle (no watcher: 1 s expiry, bound 1.5 s), and a
server restart under a mounted watcher.

Every change is timed from the moment the second client's command completed
(its tagged OK) to the first poll of the mount that shows it; the mount is
polled every POLL seconds, for at most POLL_MAX seconds, so that a slow
result is reported with its real figure rather than just "too slow". Each
figure is printed (pytest -s shows them). Everything is on 127.0.0.1; every
loop is bounded.
"""

import errno
import os
import re
import shutil
import subprocess
import time

import pytest

import dovecot

POLL = 0.01              # seconds between two looks at the mount
POLL_MAX = 4.0           # give up looking after this long (then fail)
LIMIT = 1.0              # issue 5: "each within 1 second"
IDLE_OTHER_LIMIT = 1.5   # IDLE-only mode, outside the mailbox in use
NOIDLE_LIMIT = 1.5       # -o noidle: 1 s listing expiry plus slack
RESTART_LIMIT = 5.0      # first change after a server restart
C_ENV = dict(os.environ, LC_ALL='C')
MODES = ['notify', 'idle']
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


@pytest.fixture(scope='module')
def caps_without_notify(_preflight):
    """The post-login capability list of this Dovecot, minus NOTIFY (read
    from a scratch instance: DESIGN.md section 5, imap_capability can only
    hide a capability by listing all the others)."""
    base = dovecot.make_basedir('imapfs-test-caps-')
    dv = dovecot.Dovecot(os.path.join(base, 'dovecot'))
    try:
        dv.start()
        caps = _capabilities(dv)
    finally:
        dv.stop()
        shutil.rmtree(base, ignore_errors=True)
    assert 'NOTIFY' in caps and 'IDLE' in caps, caps
    return ' '.join(c for c in caps if c != 'NOTIFY')


def make_server(dovecot_factory, caps_without_notify, mode):
    """A private Dovecot for `mode` with INBOX and Other holding three
    messages each and an empty Parent. Checks that NOTIFY is (not) offered."""
    extra = ''
    if mode == 'idle':
        extra = 'imap_capability = %s\n' % caps_without_notify
    dv = dovecot_factory(extra_conf=extra)
    caps = _capabilities(dv)
    assert ('NOTIFY' in caps) == (mode != 'idle'), caps
    assert 'IDLE' in caps, caps
    c = dovecot.imap_client(dv)
    try:
        for name in ('Other', 'Parent'):
            dovecot.create_mailbox(c, name)
        for box in ('INBOX', 'Other'):
            for i in range(3):
                dovecot.append(c, box, msg('%s seed %d' % (box, i)), date=1704067200 + i)
    finally:
        c.logout()
    return dv


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
def live(request, dovecot_factory, mount_factory, caps_without_notify):
    """(mode, dv, mount): a seeded server of the mode, mounted, the watcher
    connected in the expected mode."""
    mode = request.param
    dv = make_server(dovecot_factory, caps_without_notify, mode)
    m = mount_factory(dv.url('imap'), mount_opts(mode))
    line = wait_watcher(m)
    expect = 'NOTIFY on every mailbox' if mode == 'notify' else 'IDLE on the mailbox in use'
    assert line == expect, (mode, line)
    return mode, dv, m


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
        self.c = dovecot.imap_client(dv)

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


def wait_visible(what, pred, t0, limit, poll=POLL):
    """Poll pred() every `poll` s (bounded by POLL_MAX from t0) until it is
    true; assert that happened within `limit` s of t0. Returns the seconds."""
    n = 0
    while True:
        now = time.monotonic()
        if pred():
            secs = time.monotonic() - t0
            break
        if now - t0 > POLL_MAX:
            raise AssertionError('%s: not visible through the mount %.1f s after the change '
                                 '(limit %.1f s, %d looks)' % (what, now - t0, limit, n))
        n += 1
        time.sleep(poll)
    print('%-55s %6.0f ms (limit %4.0f ms)' % (what, secs * 1000, limit * 1000))
    assert secs <= limit, '%s: visible after %.3f s, limit %.1f s' % (what, secs, limit)
    return secs


def other_limit(mode):
    """Bound for changes outside the mailbox in use (and for the tree)."""
    return IDLE_OTHER_LIMIT if mode == 'idle' else LIMIT


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


# --------------------------------------------------------------------------
# messages

def test_append_in_mailbox_in_use(live, other_client):
    """Another client's APPEND to the mailbox in use appears in `ls` (and a
    stat of its name, looked up before as missing, succeeds) within 1 s in
    both modes; the file holds the appended bytes."""
    mode, dv, m = live
    o = other_client(dv)
    use(m, 'INBOX')
    for k in range(3):
        raw = msg('new in INBOX %d' % k)
        uid = o.status('INBOX')['UIDNEXT']
        assert gone(m.p('INBOX', eml(uid)))   # may leave a negative entry behind
        assert eml(uid) not in listing(m.p('INBOX'))
        got = o.append('INBOX', raw)
        t0 = time.monotonic()
        assert got == uid
        wait_visible('%s: APPEND #%d in the mailbox in use' % (mode, k),
                     lambda: eml(uid) in (listing(m.p('INBOX')) or ()), t0, LIMIT)
        wait_visible('%s: ...and stat of its name' % mode,
                     lambda: not gone(m.p('INBOX', eml(uid))), t0, LIMIT)
        assert read(m.p('INBOX', eml(uid))) == raw
        assert os.stat(m.p('INBOX', eml(uid))).st_size == len(raw)


def test_append_in_other_mailbox(live, other_client):
    """An APPEND to a mailbox that was listed but is not the one in use
    appears within 1 s with NOTIFY; in IDLE-only mode within
    IDLE_OTHER_LIMIT (1.5 s: that mailbox is only polled or expires)."""
    mode, dv, m = live
    o = other_client(dv)
    assert len([n for n in listing(m.p('Other')) if n.endswith('.eml')]) == 3
    use(m, 'INBOX')
    raw = msg('new in Other')
    uid = o.append('Other', raw)
    t0 = time.monotonic()
    wait_visible('%s: APPEND in another mailbox' % mode,
                 lambda: eml(uid) in (listing(m.p('Other')) or ()), t0, other_limit(mode))
    assert read(m.p('Other', eml(uid))) == raw


def test_expunge(live, other_client):
    """An EXPUNGE by another client in the mailbox in use: the name leaves
    `ls` and stat/open fail with ENOENT within 1 s, although the file was
    looked up and read before (kernel entry and page cache warm)."""
    mode, dv, m = live
    o = other_client(dv)
    names = use(m, 'INBOX')
    uids = sorted(int(n[:-4]) for n in names if n.endswith('.eml'))
    victim = uids[1]
    path = m.p('INBOX', eml(victim))
    assert read(path)
    os.stat(path)
    o.expunge_uid('INBOX', victim)
    t0 = time.monotonic()
    wait_visible('%s: EXPUNGE leaves ls' % mode,
                 lambda: eml(victim) not in (listing(m.p('INBOX')) or ()), t0, LIMIT)
    wait_visible('%s: EXPUNGE: stat gives ENOENT' % mode, lambda: gone(path), t0, LIMIT)
    with pytest.raises(FileNotFoundError):
        open(path, 'rb').close()
    # the others are untouched
    for u in uids:
        if u != victim:
            assert read(m.p('INBOX', eml(u)))


def test_flag_change(live, other_client):
    """Flags set and cleared by another client on a message of the mailbox in
    use show in user.imap.flags (os.getxattr, then getfattr) within 1 s."""
    mode, dv, m = live
    o = other_client(dv)
    names = use(m, 'INBOX')
    uid = min(int(n[:-4]) for n in names if n.endswith('.eml'))
    path = m.p('INBOX', eml(uid))
    before = flags_of(path)
    assert '\\Flagged' not in before and '$Watched' not in before, before
    o.store_flags('INBOX', uid, '+FLAGS', '(\\Flagged $Watched)')
    t0 = time.monotonic()
    wait_visible('%s: flags added' % mode,
                 lambda: {'\\Flagged', '$Watched'} <= flags_of(path), t0, LIMIT)
    r = subprocess.run(['getfattr', '--only-values', '-n', 'user.imap.flags', path],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30, env=C_ENV)
    assert r.returncode == 0, r.stderr
    assert {'\\Flagged', '$Watched'} <= set(r.stdout.decode().split()), r.stdout
    o.store_flags('INBOX', uid, '-FLAGS', '(\\Flagged)')
    t0 = time.monotonic()
    wait_visible('%s: flag removed' % mode,
                 lambda: '\\Flagged' not in flags_of(path), t0, LIMIT)
    assert '$Watched' in flags_of(path)


# --------------------------------------------------------------------------
# the tree

def test_create_mailbox(live, other_client):
    """CREATE by another client: the new mailbox shows in its parent's
    listing (top level and below an existing, listed parent) and can be
    entered (within 1 s with NOTIFY; IDLE_OTHER_LIMIT in IDLE-only mode)."""
    mode, dv, m = live
    o = other_client(dv)
    assert 'Fresh' not in listing(m.path)
    assert gone(m.p('Fresh'))
    assert listing(m.p('Parent')) == set()
    use(m, 'INBOX')
    o.create('Fresh')
    t0 = time.monotonic()
    wait_visible('%s: CREATE at the top' % mode,
                 lambda: 'Fresh' in listing(m.path), t0, other_limit(mode))
    wait_visible('%s: ...and stat of it' % mode, lambda: not gone(m.p('Fresh')), t0,
                 other_limit(mode))
    o.create('Parent/Kid')
    t0 = time.monotonic()
    wait_visible('%s: CREATE below a listed parent' % mode,
                 lambda: 'Kid' in (listing(m.p('Parent')) or ()), t0, other_limit(mode))
    assert listing(m.p('Parent', 'Kid')) == set()
    raw = msg('into Fresh')
    uid = o.append('Fresh', raw)
    assert read(m.p('Fresh', eml(uid))) == raw


def test_delete_mailbox(live, other_client):
    """DELETE by another client: the mailbox leaves the tree and stat gives
    ENOENT, although it was looked up and listed before."""
    mode, dv, m = live
    o = other_client(dv)
    o.create('Doomed')
    raw = msg('in Doomed')
    uid = o.append('Doomed', raw)
    # the kernel knows it (entry, listing) and so does imapfs
    deadline = time.monotonic() + 3
    while 'Doomed' not in listing(m.path) and time.monotonic() < deadline:
        time.sleep(POLL)
    assert read(m.p('Doomed', eml(uid))) == raw
    use(m, 'INBOX')
    os.stat(m.p('Doomed'))
    o.delete('Doomed')
    t0 = time.monotonic()
    wait_visible('%s: DELETE leaves the tree' % mode,
                 lambda: 'Doomed' not in listing(m.path), t0, other_limit(mode))
    wait_visible('%s: DELETE: stat gives ENOENT' % mode, lambda: gone(m.p('Doomed')), t0,
                 other_limit(mode))


def test_rename_mailbox(live, other_client):
    """RENAME by another client: the old name leaves (ENOENT), the new one
    appears with the same messages."""
    mode, dv, m = live
    o = other_client(dv)
    o.create('Before')
    raws = [msg('renamed %d' % i) for i in range(2)]
    uids = [o.append('Before', r) for r in raws]
    deadline = time.monotonic() + 3
    while 'Before' not in listing(m.path) and time.monotonic() < deadline:
        time.sleep(POLL)
    assert {eml(u) for u in uids} <= listing(m.p('Before'))
    use(m, 'INBOX')
    o.rename('Before', 'After')
    t0 = time.monotonic()
    wait_visible('%s: RENAME: new name in the tree' % mode,
                 lambda: 'After' in listing(m.path), t0, other_limit(mode))
    wait_visible('%s: RENAME: old name gone (ENOENT)' % mode,
                 lambda: 'Before' not in listing(m.path) and gone(m.p('Before')), t0,
                 other_limit(mode))
    got = listing(m.p('After'))
    assert {eml(u) for u in uids} <= got, got
    for u, r in zip(uids, raws):
        assert read(m.p('After', eml(u))) == r


# --------------------------------------------------------------------------
# UIDVALIDITY: a mailbox deleted and created again

@pytest.mark.parametrize('b_size', ['same', 'longer'])
@pytest.mark.parametrize('mode', MODES + ['noidle'])
def test_recreated_mailbox_never_serves_old_bytes(mode, b_size, dovecot_factory, mount_factory,
                                                  caps_without_notify, other_client):
    """Box gets message A as UID 1, read through the mount (page cache warm,
    also its part 1.parts/...); another client deletes Box, creates it again
    (new UIDVALIDITY) and appends B, again UID 1 (same size as A, or longer).
    Box/1.eml is then read every POLL s: B must show within 1 s (noidle: 1.5
    s), and once B has been read, A never again. 1.5 s after the change, a
    fresh open, cat, stat and the part file all give B. Reads of A before
    the watcher can have heard of the change (Dovecot pushes 0.3-0.5 s
    late) are reported, not failed: no cache design avoids them."""
    dv = (make_server(dovecot_factory, caps_without_notify, mode) if mode != 'noidle'
          else make_server(dovecot_factory, caps_without_notify, 'notify'))
    m = mount_factory(dv.url('imap'), mount_opts(mode))
    o = other_client(dv)
    o.create('Box')
    a = msg('message A', 'AAAA ' * 40 + '\n', size=900)
    b = msg('message B', 'BBBB ' * 40 + '\n', size=900 if b_size == 'same' else 1400)
    assert a != b
    assert o.append('Box', a) == 1
    v1 = o.status('Box')['UIDVALIDITY']
    deadline = time.monotonic() + 3
    while 'Box' not in listing(m.path) and time.monotonic() < deadline:
        time.sleep(POLL)
    path = m.p('Box', '1.eml')
    assert read(path) == a
    assert read(path) == a            # second read: from the page cache
    parts = sorted(listing(m.p('Box', '1.parts')) or ())
    text = [p for p in parts if p.endswith('.txt') and p != 'header.txt']
    assert text, parts
    part_path = m.p('Box', '1.parts', text[0])
    assert b'AAAA' in read(part_path)
    v1_mount = os.getxattr(m.p('Box'), 'user.imap.uidvalidity').decode()
    assert v1_mount == str(v1), (v1_mount, v1)

    o.delete('Box')
    o.create('Box')
    assert o.append('Box', b) == 1
    t0 = time.monotonic()
    v2 = o.status('Box')['UIDVALIDITY']
    assert v2 != v1, 'the server kept UIDVALIDITY %d: the test proves nothing' % v1

    limit = NOIDLE_LIMIT if mode == 'noidle' else LIMIT
    seen = []                # (seconds, 'A' | 'B' | 'ENOENT' | other)
    first_b = None
    while time.monotonic() - t0 < POLL_MAX:
        try:
            data = read(path)
            what = 'A' if data == a else 'B' if data == b else 'other %d bytes' % len(data)
        except OSError as e:
            what = errno.errorcode.get(e.errno, str(e.errno))
        now = time.monotonic() - t0
        seen.append((now, what))
        if what == 'B' and first_b is None:
            first_b = now
        if first_b is not None and now - first_b > 0.5:
            break
        time.sleep(POLL)
    stale = [s for s, w in seen if w == 'A']
    print('%s/%s: B read after %s ms; A read %d times, last at %s ms'
          % (mode, b_size, None if first_b is None else round(first_b * 1000), len(stale),
             round(stale[-1] * 1000) if stale else '-'))
    odd = [(round(s, 3), w) for s, w in seen if w not in ('A', 'B', 'ENOENT')]
    assert not odd, 'reads that gave neither A nor B nor ENOENT: %r' % odd[:10]
    assert first_b is not None, 'B never read within %.0f s; reads: %r' % (POLL_MAX, seen[-5:])
    assert first_b <= limit, 'B first read after %.3f s (limit %.1f s)' % (first_b, limit)
    after = [(round(s, 3), w) for s, w in seen if s > first_b and w != 'B']
    assert not after, 'after B had been read, other content came back: %r' % after[:10]
    # Well after the change, every way of looking gives B.
    wait = 1.5 - (time.monotonic() - t0)
    if wait > 0:
        time.sleep(wait)
    assert read(path) == b
    assert os.stat(path).st_size == len(b)
    r = subprocess.run(['cat', path], stdout=subprocess.PIPE, timeout=30)
    assert r.stdout == b
    assert os.getxattr(m.p('Box'), 'user.imap.uidvalidity').decode() == str(v2)
    parts = sorted(listing(m.p('Box', '1.parts')) or ())
    text = [p for p in parts if p.endswith('.txt') and p != 'header.txt']
    assert text, parts
    body = read(m.p('Box', '1.parts', text[0]))
    assert b'BBBB' in body and b'AAAA' not in body, body[:200]
    # a file handle opened on A before would be another matter; a new one is B
    with open(path, 'rb') as f:
        assert f.read() == b


# --------------------------------------------------------------------------
# -o noidle

def test_noidle_changes_show_by_expiry(dovecot_factory, mount_factory, caps_without_notify,
                                       other_client):
    """With -o noidle there is no watcher (no watcher line in the log);
    listings expire after 1 s, so APPEND, EXPUNGE, a flag change and a
    CREATE show within NOIDLE_LIMIT (1.5 s)."""
    dv = make_server(dovecot_factory, caps_without_notify, 'notify')
    m = mount_factory(dv.url('imap'), mount_opts('noidle'))
    o = other_client(dv)
    names = use(m, 'INBOX')
    uids = sorted(int(n[:-4]) for n in names if n.endswith('.eml'))
    raw = msg('noidle append')
    uid = o.append('INBOX', raw)
    t0 = time.monotonic()
    wait_visible('noidle: APPEND', lambda: eml(uid) in listing(m.p('INBOX')), t0, NOIDLE_LIMIT)
    assert read(m.p('INBOX', eml(uid))) == raw
    path = m.p('INBOX', eml(uids[0]))
    assert read(path)
    o.expunge_uid('INBOX', uids[0])
    t0 = time.monotonic()
    wait_visible('noidle: EXPUNGE (ls and ENOENT)',
                 lambda: eml(uids[0]) not in listing(m.p('INBOX')) and gone(path), t0,
                 NOIDLE_LIMIT)
    fpath = m.p('INBOX', eml(uids[1]))
    assert '\\Flagged' not in flags_of(fpath)
    o.store_flags('INBOX', uids[1], '+FLAGS', '(\\Flagged)')
    t0 = time.monotonic()
    wait_visible('noidle: flag change', lambda: '\\Flagged' in flags_of(fpath), t0, NOIDLE_LIMIT)
    o.create('NoIdleBox')
    t0 = time.monotonic()
    wait_visible('noidle: CREATE', lambda: 'NoIdleBox' in listing(m.path), t0, NOIDLE_LIMIT)
    assert not WATCHER_LINE.search(m.stderr()), m.stderr()


# --------------------------------------------------------------------------
# the watcher outlives its server

@pytest.mark.parametrize('mode', MODES)
def test_watcher_survives_server_restart(mode, dovecot_factory, mount_factory,
                                         caps_without_notify, other_client):
    """Dovecot is stopped and started again on the same port while mounted:
    the watcher reconnects (its mode shows again in the log within 10 s), a
    new APPEND into the mailbox in use is seen within RESTART_LIMIT (5 s) of
    its completion, and the next one within 1 s again."""
    dv = make_server(dovecot_factory, caps_without_notify, mode)
    m = mount_factory(dv.url('imap'), mount_opts(mode))
    wait_watcher(m, 1)
    use(m, 'INBOX')
    port = dv.port
    dv.stop()
    time.sleep(0.5)
    dv.start()
    assert dv.port == port
    t_restart = time.monotonic()
    o = other_client(dv)
    raw = msg('after restart')
    uid = o.append('INBOX', raw)
    t0 = time.monotonic()
    wait_visible('%s: first APPEND after a server restart' % mode,
                 lambda: eml(uid) in (listing(m.p('INBOX')) or ()), t0, RESTART_LIMIT,
                 poll=0.02)
    assert read(m.p('INBOX', eml(uid))) == raw
    wait_watcher(m, 2, timeout=max(1.0, 10.0 - (time.monotonic() - t_restart)))
    use(m, 'INBOX')
    raw = msg('after restart, steady')
    uid = o.append('INBOX', raw)
    t0 = time.monotonic()
    wait_visible('%s: next APPEND after the restart' % mode,
                 lambda: eml(uid) in (listing(m.p('INBOX')) or ()), t0, LIMIT)
    assert read(m.p('INBOX', eml(uid))) == raw
