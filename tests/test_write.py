# SPDX-License-Identifier: GPL-2.0-or-later
"""Integration tests of changing mail through an imapfs mount (DESIGN.md
section 1, "Writes map to IMAP, and none loses mail"): APPEND at close, MOVE,
UID EXPUNGE, CREATE/DELETE/RENAME and the user.imap.flags xattr, driven with
the standard tools (cp, mv, rm, install, rsync, mkdir, rmdir, setfattr) and
with the system calls behind them, and checked against what the server holds
(read through imaplib), not only through the mount.

Each test starts its own Dovecot (dovecot_factory), so what one test changes
never reaches another. Every wait is bounded; nothing is skipped: a missing
tool (rsync, setfattr) fails the test."""

import collections
import contextlib
import ctypes
import errno
import os
import re
import shutil
import stat
import subprocess
import time
import zlib

import pytest

import dovecot
from conftest import bounded

TOOL_TIMEOUT = 120
OP_TIMEOUT = 60
C_ENV = dict(os.environ, LC_ALL='C')
EML = re.compile(r'^(\d+)\.eml$')

# Dovecot 2.3.19's post-login capabilities (DESIGN.md section 5: to hide one,
# imap_capability must list all the others).
DOVECOT_CAPS = ('IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE SORT SORT=DISPLAY '
                'THREAD=REFERENCES THREAD=REFS THREAD=ORDEREDSUBJECT MULTIAPPEND URL-PARTIAL '
                'CATENATE UNSELECT CHILDREN NAMESPACE UIDPLUS LIST-EXTENDED I18NLEVEL=1 '
                'CONDSTORE QRESYNC ESEARCH ESORT SEARCHRES WITHIN CONTEXT=SEARCH LIST-STATUS '
                'BINARY MOVE SNIPPET=FUZZY PREVIEW=FUZZY PREVIEW STATUS=SIZE SAVEDATE LITERAL+ '
                'NOTIFY SPECIAL-USE')

QUOTA_CONF = '''
mail_plugins = $mail_plugins quota
protocol imap {
  mail_plugins = $mail_plugins imap_quota
}
plugin {
  quota = maildir:User quota
  quota_rule = *:storage=%dK
}
'''

FLAGS_SET = '\\Seen \\Flagged $Work'


# --------------------------------------------------------------------------
# the server side

Msg = collections.namedtuple('Msg', 'body flags date')


@contextlib.contextmanager
def imap(dv):
    """A logged-in imaplib client; LOGOUT at the end (never CLOSE, which
    would expunge what a test marked \\Deleted)."""
    c = dovecot.imap_client(dv)
    try:
        yield c
    finally:
        try:
            c.logout()
        except Exception:  # noqa: BLE001 -- best effort at teardown
            pass


def server_caps(dv):
    with imap(dv) as c:
        typ, data = c.capability()
        assert typ == 'OK', data
        return set(b' '.join(data).decode().upper().split())


def server_boxes(dv):
    """{utf8 name: attributes} from LIST "" *."""
    with imap(dv) as c:
        return {name: attrs for name, _, attrs in dovecot.list_mailboxes(c)}


def server_list_raw(dv):
    """The raw LIST "" * lines (names as sent on the wire)."""
    with imap(dv) as c:
        typ, data = c.list('""', '*')
        assert typ == 'OK', data
        out = []
        for item in data:
            if isinstance(item, tuple):
                out.append(item[0] + b'"' + item[1] + b'"')
            elif item:
                out.append(item)
        return out


def _fetch_state(c, box):
    n = dovecot.select(c, box)
    if n == 0:
        return {}
    meta = {}
    typ, data = c.uid('FETCH', '1:*', '(UID INTERNALDATE FLAGS)')
    assert typ == 'OK', data
    for item in data:
        if isinstance(item, tuple):
            item = item[0]
        if not item:
            continue
        uid = int(re.search(rb'UID (\d+)', item).group(1))
        date = dovecot.parse_imap_date(re.search(rb'INTERNALDATE "([^"]+)"', item).group(1))
        flags = frozenset(re.search(rb'FLAGS \(([^)]*)\)', item).group(1).decode().split())
        meta[uid] = (date, flags - {'\\Recent'})
    bodies = dovecot.fetch_bodies(c, sorted(meta))
    assert set(bodies) == set(meta), (box, sorted(meta), sorted(bodies))
    return {uid: Msg(bodies[uid], meta[uid][1], meta[uid][0]) for uid in meta}


def state(dv, box):
    """{uid: Msg(body, flags without \\Recent, internaldate)} of one mailbox."""
    with imap(dv) as c:
        return _fetch_state(c, box)


def snapshot(dv):
    """{selectable mailbox: state} of the whole account."""
    boxes = server_boxes(dv)
    with imap(dv) as c:
        return {name: _fetch_state(c, name) for name, attrs in boxes.items()
                if not ({'\\Noselect', '\\NonExistent'} & attrs)}


def create(dv, *names):
    with imap(dv) as c:
        for name in names:
            dovecot.create_mailbox(c, name)


def seed(dv, box, raws, flags=None, dates=None):
    """APPEND raws to box; flags/dates: one per message or None. UIDs."""
    n = len(raws)
    flags = flags or [None] * n
    dates = dates or [None] * n
    return dovecot.append_many(dv, box, list(zip(raws, dates, flags)))


def mark_deleted(dv, box, uid):
    """Another client marks uid \\Deleted without expunging it."""
    with imap(dv) as c:
        dovecot.select(c, box, readonly=False)
        typ, data = c.uid('STORE', str(uid), '+FLAGS.SILENT', '(\\Deleted)')
        assert typ == 'OK', data


def msg(tag, body=None):
    return dovecot.make_message('Message %s' % tag, body or 'This is %s.\nGrüße!\n' % tag,
                                msgid='<%s@write.imapfs.test>' % tag)


def bodies_of(st):
    return sorted(m.body for m in st.values())


def new_uids(before, after):
    return sorted(set(after) - set(before))


# --------------------------------------------------------------------------
# the mount side

def make_server(dovecot_factory, boxes=(), **kw):
    dv = dovecot_factory(**kw)
    if boxes:
        create(dv, *boxes)
    return dv


WATCHER_WAIT = 10.0


def mount(mount_factory, dv, *opts, debug=False):
    """Mount dv and wait (bounded) until imapfs's watcher has set up its
    NOTIFY: Dovecot 2.3.19 with mailbox_list_index = yes can fail a CREATE
    that runs while another session of the user does NOTIFY SET (the imap
    process panics on a lock deadlock, or answers NO [ALREADYEXISTS] for a
    new name), which is the server's race, not what these tests are about."""
    m = mount_factory(dv.url('imap'), ['tls=none'] + list(opts), password=dv.password,
                      debug=debug)
    deadline = time.monotonic() + WATCHER_WAIT
    while time.monotonic() < deadline and 'watcher:' not in m.stderr():
        time.sleep(0.02)
    return m


def run(argv, **kw):
    exe = shutil.which(argv[0])
    assert exe, '%s is not installed (tests/setup-deps should install it)' % argv[0]
    kw.setdefault('timeout', TOOL_TIMEOUT)
    kw.setdefault('env', C_ENV)
    return subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, **kw)


def ok(fn, *args):
    """fn(*args), bounded; re-raises its exception."""
    result, exc, _ = bounded(OP_TIMEOUT, fn, *args)
    if exc is not None:
        raise exc
    return result


def errno_name(e):
    return errno.errorcode.get(e, str(e))


def expect_errno(want, fn, *args, what=''):
    """fn(*args) must fail with OSError errno in want (an int or a tuple)."""
    wants = want if isinstance(want, tuple) else (want,)
    result, exc, _ = bounded(OP_TIMEOUT, fn, *args)
    assert exc is not None, '%s succeeded (%r); expected %s' % (
        what or fn.__name__, result, '/'.join(map(errno_name, wants)))
    assert isinstance(exc, OSError) and exc.errno in wants, '%s: expected %s, got %r' % (
        what or fn.__name__, '/'.join(map(errno_name, wants)), exc)
    return exc


def eml_names(path):
    return {n for n in ok(os.listdir, path) if EML.match(n)}


def names_of(uids):
    return {'%d.eml' % u for u in uids}


def listed_uids(path):
    """The UIDs of the messages ls shows in mailbox directory path, whatever
    their names (<uid>.eml, or the name a message was written under)."""
    out = []
    for n in ok(os.listdir, path):
        p = os.path.join(path, n)
        if n.endswith('.eml') and not n.startswith('.') and os.path.isfile(p):
            try:
                out.append(int(ok(os.getxattr, p, 'user.imap.uid')))
            except OSError as e:
                if e.errno != errno.ENODATA:  # a file still being written: no UID
                    raise
    assert len(out) == len(set(out)), 'a message listed twice in %s: %r' % (path, out)
    return set(out)


def assert_listing(m, dv, box, rel=None):
    """ls of the mailbox directory shows exactly the server's UIDs, now."""
    st = state(dv, box)
    got = listed_uids(m.p(rel or box))
    assert got == set(st), '%s: ls shows UIDs %r, server has UIDs %r' % (
        box, sorted(got), sorted(st))
    return st


def read(path):
    def rd():
        with open(path, 'rb') as f:
            return f.read()
    return ok(rd)


def write_new(path, data, *, mtime=None, flags=None, close=True):
    """Create path (O_EXCL), write data; set flags (setxattr on the path of
    the open file) and mtime (futimens on the open fd) before close. Returns
    the fd if close is False. close() errors propagate."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        view = memoryview(data)
        for _ in range(len(data) + 1):
            if not view:
                break
            view = view[os.write(fd, view):]
        if flags is not None:
            os.setxattr(path, 'user.imap.flags', flags.encode())
        if mtime is not None:
            os.utime(fd, (mtime, mtime))
    except BaseException:
        os.close(fd)
        raise
    if not close:
        return fd
    os.close(fd)
    return None


def xflags(path):
    return set(os.getxattr(path, 'user.imap.flags').decode().split())


_libc = ctypes.CDLL(None, use_errno=True)
_libc.getxattr.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_void_p, ctypes.c_size_t]
_libc.getxattr.restype = ctypes.c_ssize_t


def getxattr_sized(path, name, size):
    """libc getxattr with a buffer of exactly `size` bytes (0: ask the size)."""
    buf = ctypes.create_string_buffer(max(size, 1))
    n = _libc.getxattr(os.fsencode(path), name.encode(), buf if size else None, size)
    if n < 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e), path)
    return n if size == 0 else buf.raw[:n]


# --------------------------------------------------------------------------
# modes

def test_modes_of_mailboxes_and_messages(dovecot_factory, mount_factory):
    dv = make_server(dovecot_factory, ['A', 'A/B'])
    uid = seed(dv, 'A', [msg('modes')])[0]
    m = mount(mount_factory, dv)
    for d in ('INBOX', 'A', 'A/B'):
        st = ok(os.stat, m.p(d))
        assert stat.S_ISDIR(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o755, (d, oct(st.st_mode))
    # rw: the owner may remove or replace a message (never rewrite it in place)
    st = ok(os.stat, m.p('A', '%d.eml' % uid))
    assert stat.S_ISREG(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o644, oct(st.st_mode)
    for p in os.listdir(m.p('A', '%d.parts' % uid)):
        st = ok(os.stat, m.p('A', '%d.parts' % uid, p))
        assert stat.S_IMODE(st.st_mode) == 0o444, (p, oct(st.st_mode))
    assert m.stop() == 0
    ro = mount(mount_factory, dv, 'ro')
    for d in ('INBOX', 'A', 'A/B'):
        st = ok(os.stat, ro.p(d))
        assert stat.S_ISDIR(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o555, (d, oct(st.st_mode))
    st = ok(os.stat, ro.p('A', '%d.eml' % uid))
    assert stat.S_IMODE(st.st_mode) == 0o444, oct(st.st_mode)


# --------------------------------------------------------------------------
# APPEND at close

def test_append_happens_at_close_and_the_name_refers_to_the_message(dovecot_factory,
                                                                     mount_factory):
    dv = make_server(dovecot_factory, ['A'])
    old = seed(dv, 'A', [msg('old-1'), msg('old-2')])
    before = state(dv, 'A')
    m = mount(mount_factory, dv)
    raw = msg('written', 'line\n' * 3000)
    path = m.p('A', 'written.eml')
    fd = write_new(path, raw, close=False)
    try:
        # written but not closed: nothing was sent yet
        assert state(dv, 'A') == before
    finally:
        os.close(fd)
    after = state(dv, 'A')
    new = new_uids(before, after)
    assert len(new) == 1, 'one file closed, new UIDs %r' % new
    uid = new[0]
    assert after[uid].body == raw
    assert {u: after[u] for u in old} == before
    # ls shows it at once, under the name it was written under (not <newuid>.eml)
    listing = ok(os.listdir, m.p('A'))
    assert listed_uids(m.p('A')) == set(after)
    assert 'written.eml' in listing and '%d.eml' % uid not in listing, listing
    # ...which still refers to the message: lookup, stat, cat, xattr, setattr
    st = ok(os.stat, path)
    assert stat.S_ISREG(st.st_mode)
    assert st.st_size == len(raw)
    assert int(st.st_mtime) == after[uid].date
    assert read(path) == raw
    assert ok(os.getxattr, path, 'user.imap.uid') == str(uid).encode()
    r = run(['cat', path])
    assert r.returncode == 0 and r.stdout == raw, r.stderr
    # its date and mode cannot change (EPERM), setting them as they are is fine
    expect_errno(errno.EPERM, os.utime, path, (1500000000, 1500000000))
    ok(os.utime, path, (after[uid].date, after[uid].date))
    ok(os.chmod, path, 0o644)
    r = run(['touch', path])
    assert r.returncode != 0, 'touch of a message exited 0'
    # none of that sent anything more
    assert state(dv, 'A') == after
    # flags set through that name are the message's
    ok(os.setxattr, path, 'user.imap.flags', b'\\Seen $Written')
    assert ok(xflags, path) == {'\\Seen', '$Written'}
    now = state(dv, 'A')
    assert now[uid].flags == {'\\Seen', '$Written'}
    assert {u: (v.body, v.date) for u, v in now.items()} == \
        {u: (v.body, v.date) for u, v in after.items()}
    assert read(m.p('A', '%d.eml' % uid)) == raw


def test_close_reports_append_failure_over_quota(dovecot_factory, mount_factory, tmp_path):
    dv = make_server(dovecot_factory, extra_conf=QUOTA_CONF % 64)
    m = mount(mount_factory, dv)
    small = msg('small')
    ok(write_new, m.p('INBOX', 'small.eml'), small)
    st = state(dv, 'INBOX')
    assert bodies_of(st) == [small]
    big = msg('big', ('x' * 70 + '\n') * 3000)          # about 216 KB
    # close() returns the APPEND's refusal: NO [OVERQUOTA] -> EDQUOT
    fd = write_new(m.p('INBOX', 'big.eml'), big, close=False)
    expect_errno(errno.EDQUOT, os.close, fd, what='close() of an APPEND over quota')
    # and cp says so (exit status, message)
    src = tmp_path / 'big2.eml'
    src.write_bytes(big.replace(b'Message big', b'Message big2'))
    r = run(['cp', str(src), m.p('INBOX')])
    assert r.returncode != 0, 'cp of a message over quota exited 0'
    assert b'quota' in r.stderr.lower(), r.stderr
    assert state(dv, 'INBOX') == st
    assert_listing(m, dv, 'INBOX')


def test_empty_file_is_not_appended(dovecot_factory, mount_factory, tmp_path):
    dv = make_server(dovecot_factory, ['A'])
    seed(dv, 'A', [msg('e-1')])
    before = snapshot(dv)
    m = mount(mount_factory, dv)

    def create_close():
        os.close(os.open(m.p('A', 'empty.eml'), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
    ok(create_close)
    empty = tmp_path / 'empty.eml'
    empty.write_bytes(b'')
    run(['cp', str(empty), m.p('A', 'empty-cp.eml')])
    run(['touch', m.p('A', 'touched.eml')])
    assert snapshot(dv) == before
    assert_listing(m, dv, 'A')


def test_mtime_set_before_close_becomes_internaldate(dovecot_factory, mount_factory, tmp_path):
    dv = make_server(dovecot_factory, ['A'])
    m = mount(mount_factory, dv)
    # futimens on the open fd (what touch -d / cp -p do)
    t1 = 1400000000          # 2014-05-13
    ok(lambda: write_new(m.p('A', 'dated.eml'), msg('dated'), mtime=t1))
    # cp -p
    t2 = 1615000123          # 2021-03-06
    src = tmp_path / 'cp-p.eml'
    src.write_bytes(msg('cp-p'))
    os.utime(src, (t2, t2))
    r = run(['cp', '-p', str(src), m.p('A')])
    assert r.returncode == 0, r.stderr
    st = state(dv, 'A')
    by_body = {v.body: (u, v.date) for u, v in st.items()}
    assert len(st) == 2
    assert by_body[msg('dated')][1] == t1, 'INTERNALDATE %r, mtime set %r' % (
        by_body[msg('dated')][1], t1)
    assert by_body[msg('cp-p')][1] == t2, 'cp -p: INTERNALDATE %r, source mtime %r' % (
        by_body[msg('cp-p')][1], t2)
    for body, (uid, date) in by_body.items():
        assert int(ok(os.stat, m.p('A', '%d.eml' % uid)).st_mtime) == date
    assert int(ok(os.stat, m.p('A', 'cp-p.eml')).st_mtime) == t2


def test_flags_set_before_close_go_with_the_append(dovecot_factory, mount_factory):
    dv = make_server(dovecot_factory, ['A'])
    m = mount(mount_factory, dv)
    raw = msg('flagged')
    ok(lambda: write_new(m.p('A', 'flagged.eml'), raw, flags='\\Flagged $Work \\Seen'))
    st = state(dv, 'A')
    assert len(st) == 1
    (uid, got), = st.items()
    assert got.body == raw
    assert got.flags == {'\\Flagged', '$Work', '\\Seen'}, got.flags
    assert ok(xflags, m.p('A', '%d.eml' % uid)) == {'\\Flagged', '$Work', '\\Seen'}


# --------------------------------------------------------------------------
# the tools that copy files in

def _sources(d, tag, n=3):
    """n distinct messages (one of 300 KB, one 8bit UTF-8) as files in d,
    with past mtimes. Returns {filename: (bytes, mtime)}."""
    os.makedirs(d, exist_ok=True)
    out = {}
    for i in range(n):
        if i == 0:
            raw = dovecot.make_big_message(300000, seed=zlib.crc32(tag.encode()) % 1000 + 1)
            raw = raw.replace(b'Subject: big message', b'Subject: %s big message' % tag.encode())
        elif i == 1:
            raw = msg('%s-%d' % (tag, i), 'Umlaute: äöüß, 日本語, emoji 📬\n' * 40)
        else:
            raw = msg('%s-%d' % (tag, i))
        name = '%s-%d.eml' % (tag, i)
        path = os.path.join(d, name)
        with open(path, 'wb') as f:
            f.write(raw)
        mtime = 1500000000 + 86400 * (i + 1) + 7
        os.utime(path, (mtime, mtime))
        out[name] = (raw, mtime)
    return out


COPY_TOOLS = {
    'cp': lambda srcs, d, dest: ['cp'] + srcs + [dest + '/'],
    'cp-p': lambda srcs, d, dest: ['cp', '-p'] + srcs + [dest + '/'],
    'mv': lambda srcs, d, dest: ['mv'] + srcs + [dest + '/'],
    'install': lambda srcs, d, dest: ['install', '-m', '644'] + srcs + [dest + '/'],
    'rsync': lambda srcs, d, dest: ['rsync', '-a', d + '/', dest + '/'],
}


@pytest.mark.parametrize('tool', sorted(COPY_TOOLS))
def test_copy_in_with_standard_tools(tool, dovecot_factory, mount_factory, tmp_path):
    dv = make_server(dovecot_factory, ['A'])
    seed(dv, 'A', [msg('already-there')])
    before = state(dv, 'A')
    m = mount(mount_factory, dv)
    srcdir = str(tmp_path / 'src')          # another file system than the mount
    files = _sources(srcdir, tool)
    srcs = [os.path.join(srcdir, n) for n in sorted(files)]
    r = run(COPY_TOOLS[tool](srcs, srcdir, m.p('A')))
    assert r.returncode == 0, '%s exited %d: %s' % (tool, r.returncode, r.stderr.decode())
    after = state(dv, 'A')
    new = new_uids(before, after)
    assert {u: after[u] for u in before} == before
    got = sorted(after[u].body for u in new)
    want = sorted(raw for raw, _ in files.values())
    assert len(got) == len(want), '%d files, %d new messages' % (len(want), len(got))
    assert got == want, 'new messages differ from the files'
    assert listed_uids(m.p('A')) == set(after)
    if tool == 'mv':
        assert not os.listdir(srcdir), 'mv left %r' % os.listdir(srcdir)
    if tool in ('cp-p', 'mv'):
        dates = {after[u].body: after[u].date for u in new}
        for raw, mtime in files.values():
            assert dates[raw] == mtime, '%s: INTERNALDATE %r, source mtime %r' % (
                tool, dates[raw], mtime)
    # the names written are listed and refer to the messages; no temporary name is listed
    for name, (raw, _) in files.items():
        assert read(m.p('A', name)) == raw, name
    listing = ok(os.listdir, m.p('A'))
    stray = [n for n in listing if not EML.match(n) and not n.endswith('.parts')
             and n not in files]
    assert not stray, 'listed besides the messages: %r' % stray


def test_rsync_of_uid_named_files_into_a_new_mailbox(dovecot_factory, mount_factory, tmp_path):
    """A backup made with `rsync -a mnt/Box/ backup/` holds <uid>.eml files;
    restoring it into a new mailbox gives the new messages UIDs 1..n, the
    same names the files have: every file must still become one message."""
    dv = make_server(dovecot_factory)
    m = mount(mount_factory, dv)
    src = tmp_path / 'backup'
    src.mkdir()
    want = []
    for i in range(1, 6):
        raw = msg('restore-%d' % i)
        (src / ('%d.eml' % i)).write_bytes(raw)
        want.append(raw)
    r = run(['rsync', '-a', str(src) + '/', m.p('Restored') + '/'])
    assert r.returncode == 0, 'rsync exited %d: %s' % (r.returncode, r.stderr.decode())
    assert 'Restored' in server_boxes(dv)
    st = state(dv, 'Restored')
    assert bodies_of(st) == sorted(want), '%d files, %d messages' % (len(want), len(st))
    assert_listing(m, dv, 'Restored')


# --------------------------------------------------------------------------
# rename = MOVE

def _move_setup(dovecot_factory, **kw):
    dv = make_server(dovecot_factory, ['A', 'B'], **kw)
    a = seed(dv, 'A', [msg('a-1'), msg('a-2'), msg('a-3')],
             flags=[None, None, ['\\Flagged', '$Work', '\\Answered']])
    b = seed(dv, 'B', [msg('b-1')])
    assert a == [1, 2, 3] and b == [1]
    mark_deleted(dv, 'A', 1)          # another client's, not expunged
    return dv


def _check_moved(dv, m, moved_uid=3):
    a = state(dv, 'A')
    b = state(dv, 'B')
    assert sorted(a) == [1, 2], 'A: %r' % sorted(a)
    assert '\\Deleted' in a[1].flags, "another client's \\Deleted message is gone or changed"
    assert a[1].body == msg('a-1') and a[2].body == msg('a-2')
    assert 1 in b and b[1].body == msg('b-1')
    moved = [u for u in b if b[u].body == msg('a-%d' % moved_uid)]
    assert len(moved) == 1 and len(b) == 2, 'B: %r' % {u: v.body[:60] for u, v in b.items()}
    new = moved[0]
    assert b[new].flags == {'\\Flagged', '$Work', '\\Answered'}, b[new].flags
    # ls shows it at once: gone from A, <newuid>.eml in B
    assert eml_names(m.p('A')) == {'1.eml', '2.eml'}
    assert eml_names(m.p('B')) == names_of(b)
    expect_errno(errno.ENOENT, os.stat, m.p('A', '%d.eml' % moved_uid))
    return new


def test_mv_to_another_mailbox_is_move(dovecot_factory, mount_factory):
    dv = _move_setup(dovecot_factory)
    assert 'MOVE' in server_caps(dv)
    m = mount(mount_factory, dv)
    r = run(['mv', m.p('A', '3.eml'), m.p('B') + '/'])
    assert r.returncode == 0, r.stderr
    # the name it was moved to refers to the moved message, right away
    st = ok(os.stat, m.p('B', '3.eml'))
    assert st.st_size == len(msg('a-3'))
    assert read(m.p('B', '3.eml')) == msg('a-3')
    new = _check_moved(dv, m)
    assert new != 3
    assert ok(os.getxattr, m.p('B', '3.eml'), 'user.imap.uid') == str(new).encode()
    assert read(m.p('B', '%d.eml' % new)) == msg('a-3')


def test_mv_of_several_messages_to_another_mailbox(dovecot_factory, mount_factory):
    dv = _move_setup(dovecot_factory)
    m = mount(mount_factory, dv)
    r = run(['mv', m.p('A', '2.eml'), m.p('A', '3.eml'), m.p('B')])
    assert r.returncode == 0, 'mv exited %d: %s' % (r.returncode, r.stderr.decode())
    a = state(dv, 'A')
    b = state(dv, 'B')
    assert sorted(a) == [1] and '\\Deleted' in a[1].flags
    assert bodies_of(b) == sorted([msg('b-1'), msg('a-2'), msg('a-3')])
    assert eml_names(m.p('A')) == {'1.eml'}
    assert eml_names(m.p('B')) == names_of(b)


def test_mv_onto_a_message_of_the_same_name_destroys_nothing(dovecot_factory, mount_factory):
    dv = make_server(dovecot_factory, ['A', 'B'])
    assert seed(dv, 'A', [msg('a-1')]) == [1]
    assert seed(dv, 'B', [msg('b-1')]) == [1]
    m = mount(mount_factory, dv)
    r = run(['mv', m.p('A', '1.eml'), m.p('B') + '/'])
    assert r.returncode == 0, r.stderr
    assert state(dv, 'A') == {}
    b = state(dv, 'B')
    assert bodies_of(b) == sorted([msg('a-1'), msg('b-1')]), 'B: %r' % sorted(b)
    assert b[1].body == msg('b-1')
    assert eml_names(m.p('A')) == set()
    assert eml_names(m.p('B')) == names_of(b)
    # same with rename(2) itself, onto a name another message has
    assert seed(dv, 'A', [msg('a-2')]) == [2]
    ok(os.rename, m.p('A', '2.eml'), m.p('B', '1.eml'))
    b = state(dv, 'B')
    assert bodies_of(b) == sorted([msg('a-1'), msg('a-2'), msg('b-1')])
    assert b[1].body == msg('b-1')
    assert state(dv, 'A') == {}


def test_rename_within_a_mailbox(dovecot_factory, mount_factory):
    dv = make_server(dovecot_factory, ['A'])
    seed(dv, 'A', [msg('w-1'), msg('w-2')])
    before = state(dv, 'A')
    m = mount(mount_factory, dv)
    # a message of the server's: refused, nothing changes
    expect_errno(errno.EPERM, os.rename, m.p('A', '1.eml'), m.p('A', 'other.eml'))
    expect_errno(errno.EPERM, os.rename, m.p('A', '1.eml'), m.p('A', '2.eml'))
    expect_errno(errno.EPERM, os.rename, m.p('A', '2.eml'), m.p('A', '7.eml'))
    r = run(['mv', m.p('A', '1.eml'), m.p('A', 'x.eml')])
    assert r.returncode != 0
    assert state(dv, 'A') == before
    assert_listing(m, dv, 'A')
    # a name made through the mount: allowed, nothing changes on the server
    raw = msg('made-here')
    ok(write_new, m.p('A', 'made.eml.tmp'), raw)
    after = state(dv, 'A')
    assert len(after) == 3
    ok(os.rename, m.p('A', 'made.eml.tmp'), m.p('A', 'made.eml'))
    assert state(dv, 'A') == after
    assert read(m.p('A', 'made.eml')) == raw
    # a local (dot) file renamed to a plain name: that is when it is sent
    ok(write_new, m.p('A', '.made2.eml.tmp'), msg('made-2'))
    assert state(dv, 'A') == after
    ok(os.rename, m.p('A', '.made2.eml.tmp'), m.p('A', 'made2.eml'))
    after = state(dv, 'A')
    assert len(after) == 4 and read(m.p('A', 'made2.eml')) == msg('made-2')
    expect_errno(errno.ENOENT, os.stat, m.p('A', 'made.eml.tmp'))
    expect_errno(errno.ENOENT, os.stat, m.p('A', '.made2.eml.tmp'))
    assert_listing(m, dv, 'A')
    # renamed while still open: one message, under the final name
    raw2 = msg('renamed-open')
    fd = write_new(m.p('A', 'open.tmp'), raw2, close=False)
    try:
        ok(os.rename, m.p('A', 'open.tmp'), m.p('A', 'open.eml'))
    finally:
        os.close(fd)
    final = state(dv, 'A')
    assert len(final) == 5 and bodies_of(final) == sorted(bodies_of(after) + [raw2])
    assert read(m.p('A', 'open.eml')) == raw2
    assert_listing(m, dv, 'A')


def _caps_without(*hidden):
    caps = [c for c in DOVECOT_CAPS.split() if c not in hidden]
    assert len(caps) == len(DOVECOT_CAPS.split()) - len(hidden)
    return ' '.join(caps)


def test_mv_without_MOVE_is_copy_and_uid_expunge(dovecot_factory, mount_factory):
    dv = _move_setup(dovecot_factory,
                     extra_conf='imap_capability = %s\n' % _caps_without('MOVE'))
    caps = server_caps(dv)
    assert 'MOVE' not in caps and 'UIDPLUS' in caps, caps
    m = mount(mount_factory, dv)
    r = run(['mv', m.p('A', '3.eml'), m.p('B') + '/'])
    assert r.returncode == 0, r.stderr
    assert read(m.p('B', '3.eml')) == msg('a-3')
    new = _check_moved(dv, m)
    assert read(m.p('B', '%d.eml' % new)) == msg('a-3')


def test_without_UNSELECT_what_another_client_marked_deleted_stays(dovecot_factory,
                                                                   mount_factory):
    """A server without UNSELECT: leaving a mailbox opened with SELECT must
    not be CLOSE, which expunges every message marked \\Deleted, another
    client's too. One connection: mv selects A to move a message out, then
    a lookup past A's UIDNEXT asks STATUS of A there, which first leaves it."""
    dv = make_server(dovecot_factory, ['A', 'B'],
                     extra_conf='imap_capability = %s\n' % _caps_without('UNSELECT'))
    assert 'UNSELECT' not in server_caps(dv)
    seed(dv, 'A', [msg('u-1'), msg('u-2'), msg('u-3')])
    with imap(dv) as c:
        dovecot.select(c, 'A', readonly=False)
        typ, data = c.uid('STORE', '2', '+FLAGS.SILENT', '(\\Deleted)')
        assert typ == 'OK', data
    m = mount(mount_factory, dv, 'connections=1', debug=True)
    r = run(['mv', m.p('A', '1.eml'), m.p('B') + '/'])
    assert r.returncode == 0, r.stderr
    fd = os.open(m.p('A'), os.O_RDONLY | os.O_DIRECTORY)
    try:
        expect_errno(errno.ENOENT, lambda: os.stat('99.eml', dir_fd=fd),
                     what='stat of a UID past UIDNEXT')
    finally:
        os.close(fd)
    m.stop()
    log = m.stderr()
    assert re.search(r'C\d+: \S+ SELECT A\b', log), 'mv did not SELECT A'
    left = state(dv, 'A')
    assert sorted(left) == [2, 3], left
    assert '\\Deleted' in left[2].flags
    # Each CLOSE leaves a mailbox opened by EXAMINE (it expunges nothing there).
    opened = {}
    for conn, cmd in re.findall(r'C(\d+): \S+ (SELECT|EXAMINE|CLOSE)\b', log):
        assert not (cmd == 'CLOSE' and opened.get(conn) == 'SELECT'), 'CLOSE of a SELECTed mailbox'
        opened[conn] = None if cmd == 'CLOSE' else cmd


def test_mv_into_a_mailbox_another_client_deleted_loses_nothing(dovecot_factory,
                                                                mount_factory):
    dv = make_server(dovecot_factory, ['A', 'B'])
    seed(dv, 'A', [msg('t-1'), msg('t-2')])
    before = state(dv, 'A')
    m = mount(mount_factory, dv)
    assert eml_names(m.p('B')) == set()
    with imap(dv) as c:
        typ, data = c.delete('B')
        assert typ == 'OK', data
    # ENOENT: [TRYCREATE], or a refusal without a code after which the
    # mailbox is found gone; nothing moved
    expect_errno(errno.ENOENT, os.rename, m.p('A', '1.eml'), m.p('B', '1.eml'),
                 what='rename into a mailbox deleted on the server')
    assert state(dv, 'A') == before
    assert 'B' not in server_boxes(dv)
    assert_listing(m, dv, 'A')


# --------------------------------------------------------------------------
# unlink with -o delete=expunge = STORE \Deleted + UID EXPUNGE (the default,
# a move to Trash, is in test_tools.py)

def test_rm_expunges_only_that_uid(dovecot_factory, mount_factory):
    dv = make_server(dovecot_factory, ['A'])
    seed(dv, 'A', [msg('r-1'), msg('r-2'), msg('r-3'), msg('r-4')])
    mark_deleted(dv, 'A', 2)
    before = state(dv, 'A')
    m = mount(mount_factory, dv, 'delete=expunge')
    assert eml_names(m.p('A')) == names_of([1, 2, 3, 4])
    r = run(['rm', m.p('A', '1.eml')])
    assert r.returncode == 0, r.stderr
    ok(os.unlink, m.p('A', '4.eml'))
    after = state(dv, 'A')
    assert sorted(after) == [2, 3], sorted(after)
    assert after[2] == before[2] and '\\Deleted' in after[2].flags
    assert after[3] == before[3]
    assert eml_names(m.p('A')) == {'2.eml', '3.eml'}
    expect_errno(errno.ENOENT, os.stat, m.p('A', '1.eml'))


def test_parts_cannot_be_removed(dovecot_factory, mount_factory):
    dv = make_server(dovecot_factory, ['A'])
    raw = (b'From: x@example.org\r\nTo: y@example.org\r\nSubject: parts\r\n'
           b'Message-ID: <parts@write.imapfs.test>\r\nMIME-Version: 1.0\r\n'
           b'Content-Type: multipart/mixed; boundary="b1"\r\n\r\n'
           b'--b1\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\nhello\r\n'
           b'--b1\r\nContent-Type: application/octet-stream; name="a.bin"\r\n'
           b'Content-Disposition: attachment; filename="a.bin"\r\n'
           b'Content-Transfer-Encoding: base64\r\n\r\nAAECAwQFBgcICQ==\r\n--b1--\r\n')
    uid = seed(dv, 'A', [raw])[0]
    before = state(dv, 'A')
    m = mount(mount_factory, dv)
    pdir = m.p('A', '%d.parts' % uid)
    parts = ok(os.listdir, pdir)
    assert len(parts) >= 3, parts
    for p in parts:
        expect_errno((errno.EPERM, errno.EACCES), os.unlink, os.path.join(pdir, p),
                     what='unlink %s' % p)
    expect_errno((errno.EPERM, errno.EACCES), os.rmdir, pdir, what='rmdir .parts')
    r = run(['rm', '-rf', pdir])
    assert r.returncode != 0, 'rm -rf of a .parts directory exited 0'
    assert state(dv, 'A') == before
    assert sorted(ok(os.listdir, pdir)) == sorted(parts)
    assert read(m.p('A', '%d.eml' % uid)) == raw


def test_rm_without_UIDPLUS_is_refused(dovecot_factory, mount_factory):
    dv = make_server(dovecot_factory, ['A'],
                     extra_conf='imap_capability = %s\n' % _caps_without('UIDPLUS'))
    assert 'UIDPLUS' not in server_caps(dv)
    seed(dv, 'A', [msg('u-1'), msg('u-2'), msg('u-3')])
    mark_deleted(dv, 'A', 3)
    before = state(dv, 'A')
    m = mount(mount_factory, dv, 'delete=expunge')
    expect_errno(errno.EPERM, os.unlink, m.p('A', '1.eml'), what='unlink without UIDPLUS')
    r = run(['rm', '-f', m.p('A', '2.eml')])
    assert r.returncode != 0, 'rm without UIDPLUS exited 0'
    assert state(dv, 'A') == before, 'the server changed: %r' % state(dv, 'A')
    assert eml_names(m.p('A')) == {'1.eml', '2.eml', '3.eml'}


# --------------------------------------------------------------------------
# mailboxes

@pytest.mark.parametrize('layout', ['fs', 'maildir++'])
def test_mkdir_p_creates_mailboxes(layout, dovecot_factory, mount_factory):
    dv = make_server(dovecot_factory, layout=layout)
    d = dv.delimiter
    m = mount(mount_factory, dv)
    r = run(['mkdir', '-p', m.p('Entwürfe', '2025'), m.p('Projects', 'imapfs', 'deep')])
    assert r.returncode == 0, r.stderr
    boxes = server_boxes(dv)
    for name in ('Entwürfe', 'Entwürfe%s2025' % d, 'Projects', 'Projects%simapfs' % d,
                 'Projects%simapfs%sdeep' % (d, d)):
        assert name in boxes, '%r not in LIST: %r' % (name, sorted(boxes))
    raw_lines = b'\n'.join(server_list_raw(dv))
    assert ('Entw&APw-rfe%s2025' % d).encode() in raw_lines, raw_lines
    assert ok(os.path.isdir, m.p('Entwürfe', '2025'))
    assert eml_names(m.p('Entwürfe', '2025')) == set()
    assert 'Entwürfe' in ok(os.listdir, m.path)
    # it holds mail right away
    raw = msg('draft')
    ok(write_new, m.p('Entwürfe', '2025', 'draft.eml'), raw)
    st = state(dv, 'Entwürfe%s2025' % d)
    assert bodies_of(st) == [raw]
    assert listed_uids(m.p('Entwürfe', '2025')) == set(st)


def test_rmdir_deletes_only_empty_childless_mailboxes(dovecot_factory, mount_factory):
    dv = make_server(dovecot_factory, ['Empty', 'Full', 'Parent', 'Parent/Kid', 'NoSel/Child'])
    seed(dv, 'Full', [msg('full-1')])
    m = mount(mount_factory, dv)
    ok(os.rmdir, m.p('Empty'))
    boxes = server_boxes(dv)
    assert 'Empty' not in boxes
    assert 'Empty' not in ok(os.listdir, m.path)
    before = snapshot(dv)
    expect_errno(errno.ENOTEMPTY, os.rmdir, m.p('Full'), what='rmdir of a mailbox with mail')
    expect_errno(errno.ENOTEMPTY, os.rmdir, m.p('Parent'), what='rmdir of a mailbox with children')
    expect_errno(errno.ENOTEMPTY, os.rmdir, m.p('NoSel'), what='rmdir of a \\Noselect parent')
    r = run(['rmdir', m.p('Full')])
    assert r.returncode != 0
    assert snapshot(dv) == before
    boxes = server_boxes(dv)
    for name in ('Full', 'Parent', 'Parent/Kid', 'NoSel/Child'):
        assert name in boxes, name
    assert bodies_of(state(dv, 'Full')) == [msg('full-1')]
    assert eml_names(m.p('Full')) == {'1.eml'}
    # once empty and childless, it goes
    ok(os.rmdir, m.p('Parent', 'Kid'))
    ok(os.rmdir, m.p('Parent'))
    boxes = server_boxes(dv)
    assert 'Parent' not in boxes and 'Parent/Kid' not in boxes
    assert 'Parent' not in ok(os.listdir, m.path)


def test_mv_dir_renames_mailbox_with_children(dovecot_factory, mount_factory):
    dv = make_server(dovecot_factory, ['Projects', 'Projects/imapfs', 'Projects/imapfs/deep',
                                       'Archive'])
    seed(dv, 'Projects', [msg('p-1'), msg('p-2')])
    seed(dv, 'Projects/imapfs', [msg('pi-1')], flags=[['\\Seen', '$Work']])
    seed(dv, 'Projects/imapfs/deep', [msg('pid-1')])
    before = snapshot(dv)
    m = mount(mount_factory, dv)
    assert eml_names(m.p('Projects', 'imapfs')) == {'1.eml'}   # cached before the rename
    r = run(['mv', m.p('Projects'), m.p('Work')])
    assert r.returncode == 0, r.stderr
    after = snapshot(dv)
    assert not [n for n in after if n.startswith('Projects')], sorted(after)
    for old in ('Projects', 'Projects/imapfs', 'Projects/imapfs/deep'):
        new = 'Work' + old[len('Projects'):]
        assert new in after, new
        assert sorted((v.body, v.flags) for v in after[new].values()) == \
            sorted((v.body, v.flags) for v in before[old].values()), new
    # usable at once under the new name
    r = run(['ls', m.p('Work')])
    assert r.returncode == 0, r.stderr
    assert_listing(m, dv, 'Work')
    assert_listing(m, dv, 'Work/imapfs')
    assert_listing(m, dv, 'Work/imapfs/deep')
    uid = next(iter(after['Work/imapfs']))
    assert read(m.p('Work', 'imapfs', '%d.eml' % uid)) == msg('pi-1')
    expect_errno(errno.ENOENT, os.stat, m.p('Projects'))
    # into another parent
    ok(os.rename, m.p('Work', 'imapfs'), m.p('Archive', 'imapfs'))
    boxes = server_boxes(dv)
    assert 'Archive/imapfs' in boxes and 'Archive/imapfs/deep' in boxes
    assert 'Work/imapfs' not in boxes
    assert_listing(m, dv, 'Archive/imapfs/deep')


def test_mkdir_of_a_name_the_server_has_is_eexist(dovecot_factory, mount_factory):
    dv = make_server(dovecot_factory, ['A'])
    m = mount(mount_factory, dv)
    root = ok(os.listdir, m.path)
    assert 'Late' not in root
    # another client creates it after the mount listed the root
    create(dv, 'Late')
    expect_errno(errno.EEXIST, os.mkdir, m.p('Late'), what='mkdir of a mailbox created meanwhile')
    # another client's new mailbox shows up within a second (DESIGN.md)
    deadline = time.monotonic() + 1.5
    while not ok(os.path.isdir, m.p('Late')) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert ok(os.path.isdir, m.p('Late'))
    assert 'Late' in ok(os.listdir, m.path)
    # INBOX is case-insensitive on the server
    expect_errno(errno.EEXIST, os.mkdir, m.p('inbox'), what='mkdir inbox')
    boxes = server_boxes(dv)
    assert set(boxes) == {'INBOX', 'A', 'Late'}, sorted(boxes)


def test_mkdir_p_of_a_mailbox_another_client_just_created(dovecot_factory, mount_factory):
    """`mkdir -p` succeeds when the directory exists. imapfs learns that it
    exists from the server's refusal of the CREATE ([ALREADYEXISTS]): a
    lookup right after that must find it, or mkdir -p fails."""
    dv = make_server(dovecot_factory)
    m = mount(mount_factory, dv)
    assert ok(os.listdir, m.path) == ['INBOX']
    create(dv, 'Phone', 'Phone/Notes')
    r = run(['mkdir', '-p', m.p('Phone', 'Notes')])
    assert r.returncode == 0, 'mkdir -p exited %d: %s' % (r.returncode, r.stderr.decode())
    assert ok(os.path.isdir, m.p('Phone', 'Notes'))
    assert set(server_boxes(dv)) == {'INBOX', 'Phone', 'Phone/Notes'}


# --------------------------------------------------------------------------
# flags

def test_flags_xattr(dovecot_factory, mount_factory):
    dv = make_server(dovecot_factory, ['A'])
    seed(dv, 'A', [msg('f-1'), msg('f-2')], flags=[['\\Answered'], None])
    m = mount(mount_factory, dv)
    p = m.p('A', '1.eml')
    r = run(['getfattr', '-n', 'user.imap.flags', '--only-values', p])
    assert r.returncode == 0, r.stderr
    assert r.stdout.decode().split() == ['\\Answered'], r.stdout
    r = run(['setfattr', '-n', 'user.imap.flags', '-v', FLAGS_SET, p])
    assert r.returncode == 0, r.stderr
    st = state(dv, 'A')
    assert st[1].flags == {'\\Seen', '\\Flagged', '$Work'}, st[1].flags
    assert st[2].flags == frozenset()
    assert ok(xflags, p) == {'\\Seen', '\\Flagged', '$Work'}
    r = run(['getfattr', '-d', p])
    assert r.returncode == 0 and b'user.imap.flags' in r.stdout, (r.stdout, r.stderr)
    # a message says what it is, as its parts do (file managers pick an application by it)
    assert b'user.mime_type="message/rfc822"' in r.stdout, r.stdout
    # a set replaces all flags
    ok(os.setxattr, p, 'user.imap.flags', b'$Other')
    assert state(dv, 'A')[1].flags == {'$Other'}
    # removing clears them
    r = run(['setfattr', '-x', 'user.imap.flags', p])
    assert r.returncode == 0, r.stderr
    assert state(dv, 'A')[1].flags == frozenset()
    assert ok(os.getxattr, p, 'user.imap.flags').strip() == b''
    # refusals, each leaving the server as it was
    ok(os.setxattr, p, 'user.imap.flags', b'\\Seen')
    before = state(dv, 'A')
    for bad in (b'(Seen', b'\\Recent', b'\\Seen \\Recent', b'a)b', b'\\', b'"q"', b'x{3}'):
        expect_errno(errno.EINVAL, os.setxattr, p, 'user.imap.flags', bad,
                     what='setxattr user.imap.flags %r' % bad)
    for ro in ('user.imap.uid', 'user.imap.subject', 'user.mime_type'):
        expect_errno(errno.EPERM, os.setxattr, p, ro, b'1', what='setxattr ' + ro)
    expect_errno(errno.ENOTSUP, os.setxattr, p, 'user.whatever', b'1', what='setxattr user.whatever')
    assert errno.ENOTSUP == errno.EOPNOTSUPP
    expect_errno(errno.ENODATA, os.getxattr, p, 'user.nothing.here', what='getxattr missing')
    # other namespaces are not supported (so ls -l stops asking for SELinux
    # labels and ACLs after the first file)
    for other in ('security.selinux', 'system.posix_acl_access', 'trusted.x'):
        expect_errno(errno.ENOTSUP, os.getxattr, p, other, what='getxattr ' + other)
    # a too small buffer
    value = ok(os.getxattr, p, 'user.imap.subject')
    assert len(value) > 1
    assert getxattr_sized(p, 'user.imap.subject', 0) == len(value)
    expect_errno(errno.ERANGE, getxattr_sized, p, 'user.imap.subject', 1,
                 what='getxattr with a 1-byte buffer')
    assert getxattr_sized(p, 'user.imap.subject', len(value)) == value
    assert state(dv, 'A') == before
    assert ok(xflags, p) == {'\\Seen'}


# --------------------------------------------------------------------------
# refusals

def test_writing_to_an_existing_message_is_refused(dovecot_factory, mount_factory, tmp_path):
    dv = make_server(dovecot_factory, ['A'])
    seed(dv, 'A', [msg('im-1')])
    m = mount(mount_factory, dv)
    ok(write_new, m.p('A', 'sent.eml'), msg('im-2'))
    before = state(dv, 'A')
    assert len(before) == 2
    for name in ('1.eml', 'sent.eml', '2.eml'):
        p = m.p('A', name)
        for flags in (os.O_WRONLY, os.O_RDWR, os.O_WRONLY | os.O_APPEND,
                      os.O_WRONLY | os.O_TRUNC, os.O_WRONLY | os.O_CREAT | os.O_TRUNC):
            expect_errno(errno.EACCES, lambda: os.close(os.open(p, flags)),
                         what='open(%s, %#o)' % (name, flags))
        expect_errno(errno.EACCES, os.truncate, p, 0, what='truncate ' + name)
    other = tmp_path / 'other.eml'
    other.write_bytes(msg('im-other'))
    r = run(['cp', str(other), m.p('A', '1.eml')])
    assert r.returncode != 0, 'cp over an existing message exited 0'
    assert state(dv, 'A') == before
    assert read(m.p('A', '1.eml')) == msg('im-1')


def test_ro_mount_refuses_every_change(dovecot_factory, mount_factory, tmp_path):
    dv = make_server(dovecot_factory, ['A', 'B', 'Empty'])
    seed(dv, 'A', [msg('ro-1'), msg('ro-2')], flags=[['\\Seen'], None])
    before = snapshot(dv)
    boxes_before = server_boxes(dv)
    m = mount(mount_factory, dv, 'ro')
    src = tmp_path / 'in.eml'
    src.write_bytes(msg('ro-in'))
    p = m.p('A', '1.eml')
    E = errno.EROFS
    expect_errno(E, lambda: os.close(os.open(m.p('A', 'new.eml'), os.O_WRONLY | os.O_CREAT)),
                 what='create')
    expect_errno(E, lambda: os.close(os.open(p, os.O_WRONLY)), what='open for write')
    expect_errno(E, os.rename, p, m.p('B', '1.eml'), what='rename (MOVE)')
    expect_errno(E, os.unlink, p, what='unlink')
    expect_errno(E, os.mkdir, m.p('New'), what='mkdir')
    expect_errno(E, os.rmdir, m.p('Empty'), what='rmdir')
    expect_errno(E, os.rename, m.p('A'), m.p('C'), what='rename a mailbox')
    expect_errno(E, os.setxattr, p, 'user.imap.flags', b'\\Flagged', what='setxattr')
    expect_errno(E, os.removexattr, p, 'user.imap.flags', what='removexattr')
    for argv in (['cp', str(src), m.p('A')], ['mv', p, m.p('B') + '/'], ['rm', '-f', p],
                 ['mkdir', '-p', m.p('X', 'Y')], ['rmdir', m.p('Empty')],
                 ['setfattr', '-n', 'user.imap.flags', '-v', '\\Flagged', p],
                 ['setfattr', '-x', 'user.imap.flags', p]):
        r = run(argv)
        assert r.returncode != 0, '%r exited 0 on a ro mount' % argv
        assert b'read-only file system' in r.stderr.lower(), (argv, r.stderr)
    assert src.exists()
    assert server_boxes(dv) == boxes_before
    assert snapshot(dv) == before


# --------------------------------------------------------------------------
# the user story, end to end

def test_user_story_end_to_end(dovecot_factory, mount_factory, tmp_path):
    dv = make_server(dovecot_factory, ['Archive', 'Archive/2024', 'Old'])
    inbox = [msg('story-%d' % i) for i in range(1, 9)]
    seed(dv, 'INBOX', inbox, flags=[None, ['\\Seen']] * 4)
    expected = {'INBOX': list(inbox), 'Archive/2024': []}
    m = mount(mount_factory, dv)

    def check(box, rel=None):
        st = assert_listing(m, dv, box, rel)
        assert bodies_of(st) == sorted(expected[box]), (
            '%s: server has %d messages, expected %d' % (box, len(st), len(expected[box])))
        return st

    # cp a draft in
    draft = tmp_path / 'draft.eml'
    draft.write_bytes(msg('story-draft', 'A draft written offline.\n'))
    r = run(['cp', str(draft), m.p('INBOX') + '/'])
    assert r.returncode == 0, r.stderr
    expected['INBOX'].append(draft.read_bytes())
    st = check('INBOX')
    draft_uid = [u for u, v in st.items() if v.body == draft.read_bytes()][0]

    # mv some to Archive/2024
    moving = [1, 2, draft_uid]
    r = run(['mv'] + [m.p('INBOX', '%d.eml' % u) for u in moving] + [m.p('Archive', '2024')])
    assert r.returncode == 0, r.stderr
    for u in moving:
        expected['INBOX'].remove(st[u].body)
        expected['Archive/2024'].append(st[u].body)
    archived = check('Archive/2024', 'Archive/2024')
    assert {v.flags for v in archived.values()} == {frozenset(), frozenset({'\\Seen'})}
    check('INBOX')

    # rm several: to Trash
    r = run(['rm', m.p('INBOX', '3.eml'), m.p('INBOX', '5.eml'), m.p('INBOX', '8.eml')])
    assert r.returncode == 0, r.stderr
    expected['Trash'] = []
    for u in (3, 5, 8):
        expected['INBOX'].remove(st[u].body)
        expected['Trash'].append(st[u].body)
    check('INBOX')
    check('Trash')

    # mkdir -p, put mail there, rmdir Old, mv Projects Work
    r = run(['mkdir', '-p', m.p('Projects', 'imapfs')])
    assert r.returncode == 0, r.stderr
    assert {'Projects', 'Projects/imapfs'} <= set(server_boxes(dv))
    note = tmp_path / 'note.eml'
    note.write_bytes(msg('story-note'))
    r = run(['cp', '-p', str(note), m.p('Projects', 'imapfs') + '/'])
    assert r.returncode == 0, r.stderr
    r = run(['rmdir', m.p('Old')])
    assert r.returncode == 0, r.stderr
    assert 'Old' not in server_boxes(dv)
    r = run(['mv', m.p('Projects'), m.p('Work')])
    assert r.returncode == 0, r.stderr
    boxes = server_boxes(dv)
    assert 'Work/imapfs' in boxes and not [b for b in boxes if b.startswith('Projects')]
    expected['Work/imapfs'] = [note.read_bytes()]
    work = check('Work/imapfs', 'Work/imapfs')

    # flags
    (wuid, _), = work.items()
    wp = m.p('Work', 'imapfs', '%d.eml' % wuid)
    r = run(['setfattr', '-n', 'user.imap.flags', '-v', FLAGS_SET, wp])
    assert r.returncode == 0, r.stderr
    r = run(['getfattr', '-n', 'user.imap.flags', '--only-values', wp])
    assert r.returncode == 0, r.stderr
    assert set(r.stdout.decode().split()) == {'\\Seen', '\\Flagged', '$Work'}
    assert state(dv, 'Work/imapfs')[wuid].flags == {'\\Seen', '\\Flagged', '$Work'}

    # rsync -a of a maildir-like directory of 20 .eml files into a new mailbox
    src = tmp_path / 'maildir-export'
    src.mkdir()
    imported = []
    for i in range(20):
        body = 'Imported message %d.\n' % i
        if i % 5 == 0:
            body += 'bulk line\n' * 2000
        raw = msg('story-import-%02d' % i, body)
        f = src / ('17000000%02d.M%dP%d.host.example,S=%d.eml' % (i, i * 7, 4000 + i, len(raw)))
        f.write_bytes(raw)
        os.utime(f, (1700000000 + i * 600, 1700000000 + i * 600))
        imported.append(raw)
    r = run(['rsync', '-a', str(src) + '/', m.p('Imported') + '/'])
    assert r.returncode == 0, 'rsync exited %d: %s' % (r.returncode, r.stderr.decode())
    expected['Imported'] = imported
    check('Imported')
    for f in src.iterdir():
        assert read(m.p('Imported', f.name)) == f.read_bytes(), f.name

    # the whole account: exactly what the story says, nothing lost or doubled
    final = snapshot(dv)
    assert set(final) == {'INBOX', 'Archive', 'Archive/2024', 'Work', 'Work/imapfs',
                          'Imported', 'Trash'}, sorted(final)
    for box, want in expected.items():
        assert bodies_of(final[box]) == sorted(want), box
    assert final['Archive'] == {} and final['Work'] == {}
