# SPDX-License-Identifier: GPL-2.0-or-later
"""The core of imapfs against two real servers (issue 15, item 5): Dovecot
2.3 and Cyrus IMAP 3.6, each private on 127.0.0.1 and seeded alike through
APPEND (cyrus.seed_core). Every test runs once per server:

  listing       the directory tree is the server's LIST; ls -l shows each
                UID with RFC822.SIZE and INTERNALDATE
  reads         cat of every message is BODY.PEEK[] (and sets no \\Seen);
                messages of a few MB whole and at odd offsets
  parts         <UID>.parts/ holds the decoded attachments, empty parts
                and parts that decode to nothing included (the issue notes
                Cyrus omits BINARY[n] for an empty part), with BINARY and
                with -o nobinary
  writes        cp in is APPEND, mv between mailboxes is MOVE, rm moves to
                Trash and rm in Trash expunges, mkdir/rmdir/mv of
                directories are CREATE/DELETE/RENAME
  flags         user.imap.flags with getfattr/setfattr
  live view     another client's APPEND, EXPUNGE and STORE show within
                LIVE_LIMIT (Dovecot: imapfs's watcher uses NOTIFY; Cyrus
                has none: IDLE on the mailbox in use, which Cyrus without
                idled answers by polling every second, imapidlepoll: 1)
  disk cache    a remount reads from disk what was read before, also with
                the server stopped; two mailboxes with the same UIDVALIDITY
                (Cyrus gives one to every mailbox created in the same
                second) each keep their own bytes

One server of each kind is shared by the module (module-scoped fixture
`real_server`, params 'dovecot' and 'cyrus'); a test that changes mail works
in mailboxes of its own (named w-<test>), each test has fresh mounts. A
missing Cyrus fails the Cyrus half (never skips). IMAPFS_SERVERS_DEBUG=1
mounts with -d (the IMAP trace shows in failure reports); with
IMAPFS_CYRUS_TELEMETRY=1 Cyrus also logs its sessions (cyrus.py).
"""

import errno
import hashlib
import os
import random
import re
import shutil
import stat
import time

import pytest

import cyrus
import dovecot
from conftest import bounded
from test_mount import first_difference, mailbox_path, mount_dirs, selectable, server_list
from test_write import (bodies_of, expect_errno, imap, listed_uids, ok, read, run,
                        server_boxes, server_caps, state, write_new, xflags)

SERVERS = ['dovecot', 'cyrus']
DEBUG = bool(os.environ.get('IMAPFS_SERVERS_DEBUG'))
WATCHER = re.compile(r'watcher: (NOTIFY on every mailbox|IDLE on the mailbox in use)')
WATCHER_MODE = {'dovecot': 'NOTIFY on every mailbox', 'cyrus': 'IDLE on the mailbox in use'}
LIVE_LIMIT = 1.0          # README: "Another client's changes show within a second"
POLL = 0.01
EML = re.compile(r'^(\d+)\.eml$')


# --------------------------------------------------------------------------
# servers and mounts

def _start(kind, base):
    if kind == 'dovecot':
        srv = dovecot.Dovecot(os.path.join(base, 'dovecot'))
    else:
        problems = cyrus.missing()
        if problems:
            pytest.fail('Cyrus IMAP is missing:\n  ' + '\n  '.join(problems), pytrace=False)
        srv = cyrus.Cyrus(os.path.join(base, 'cyrus'))
    srv.kind = kind
    srv.start()
    return srv


@pytest.fixture(scope='module', params=SERVERS)
def real_server(request, _preflight):
    """A private, seeded server of the kind (.kind 'dovecot' or 'cyrus'),
    shared by this module's tests; .seed is the CoreSeed."""
    base = dovecot.make_basedir('imapfs-test-servers-')
    srv = None
    try:
        srv = _start(request.param, base)
        srv.seed = cyrus.seed_core(srv)
        print('%s seeded in %.1f s (%d refused)' % (request.param, srv.seed.seconds,
                                                    len(srv.seed.refused)))
        yield srv
    finally:
        if srv is not None:
            srv.stop()
        shutil.rmtree(base, ignore_errors=True)


def wait_watcher(m, timeout=10.0):
    """imapfs's watcher line ('NOTIFY on every mailbox' or 'IDLE on the
    mailbox in use'), waited for (bounded): only then is the mount settled
    (Dovecot can fail a CREATE racing another session's NOTIFY SET)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = WATCHER.findall(m.stderr())
        if found:
            return found[-1]
        time.sleep(0.02)
    raise AssertionError('imapfs reported no watcher within %.0f s:\n%s'
                         % (timeout, m.stderr()))


def mount(mount_factory, srv, *opts, cache=None, watcher=True, **kw):
    o = ['tls=none'] + list(opts)
    if cache is not None:
        o.append('cache_dir=' + cache)
    m = mount_factory(srv.url('imap'), o, password=srv.password, debug=DEBUG, **kw)
    if watcher:
        m.watcher = wait_watcher(m)
    return m


_TAG = [0]


def boxes_for(srv, test, *suffixes):
    """Fresh mailboxes for one test (w-<test>-<n>-<suffix>), created on the
    server; returns their names."""
    _TAG[0] += 1
    names = ['w-%s-%d-%s' % (test, _TAG[0], s) for s in suffixes]
    with imap(srv) as c:
        for n in names:
            dovecot.create_mailbox(c, n)
    return names


_MSG = [0]


def msg(tag, body=None, size=None):
    """A distinct small message, its header ASCII (Cyrus turns 8-bit bytes
    in a header into 'X' on APPEND), its body UTF-8; with size, padded to
    exactly size bytes."""
    _MSG[0] += 1
    raw = dovecot.make_message('Message %s' % tag, body or 'This is %s.\nGrüße!\n' % tag,
                               msgid='<%s-%d-%d@servers.imapfs.test>'
                               % (re.sub(r'[^A-Za-z0-9-]', '_', tag), os.getpid(), _MSG[0]))
    if size is not None:
        pad = size - len(raw)
        assert pad >= 2, (size, len(raw))
        raw += b'p' * (pad - 2) + b'\r\n'
    return raw


def put(srv, box, raws, flags=None):
    """APPEND raws to box (one connection); their UIDs."""
    with imap(srv) as c:
        return [dovecot.append(c, box, r, flags=(flags[i] if flags else None))
                for i, r in enumerate(raws)]


def meta_of(srv, boxes):
    """{mailbox: {uid: (RFC822.SIZE, INTERNALDATE, flags)}}."""
    with imap(srv) as c:
        return {b: dovecot.fetch_meta(c, b) for b in boxes}


def bodies(srv, box, uids=None):
    with imap(srv) as c:
        dovecot.select(c, box)
        return dovecot.fetch_bodies(c, uids)


def received(m):
    return int(os.getxattr(m.path, 'user.imapfs.bytes_received'))


def drop_page_cache():
    """So reads reach imapfs again (the tests run as root, as CI does)."""
    os.sync()
    with open('/proc/sys/vm/drop_caches', 'w') as f:
        f.write('1\n')


def wait_for(what, pred, limit, t0=None):
    """Poll pred() every POLL s from t0 (default now) until true; the
    seconds it took. Fails after max(3, 2 x limit) s or when it took longer
    than limit, saying how long it took."""
    t0 = time.monotonic() if t0 is None else t0
    cap = max(3.0, 2 * limit)
    for _ in range(int(cap / POLL) + 10):
        if pred():
            secs = time.monotonic() - t0
            print('%-50s %6.0f ms' % (what, secs * 1000))
            assert secs <= limit, '%s: visible after %.3f s, limit %.1f s' % (what, secs, limit)
            return secs
        if time.monotonic() - t0 > cap:
            break
        time.sleep(POLL)
    raise AssertionError('%s: not visible within %.0f s' % (what, cap))


def listing(path):
    try:
        return set(os.listdir(path))
    except FileNotFoundError:
        return None


def gone(path):
    try:
        os.stat(path)
    except FileNotFoundError:
        return True
    return False


# --------------------------------------------------------------------------
# listing

def test_tree_is_the_servers_list(real_server, mount_factory):
    """The mount's directories are the server's LIST, names in UTF-8, the
    levels above a deep mailbox included (Dovecot: \\Noselect levels; Cyrus
    made them mailboxes); ls of the root shows the top level."""
    srv = real_server
    m = mount(mount_factory, srv)
    assert m.watcher == WATCHER_MODE[srv.kind], m.watcher
    boxes = server_list(srv)
    assert {d for d, _ in boxes.values()} == {'/'}, boxes
    expected = {mailbox_path(name, '/') for name in boxes}
    got = mount_dirs(m.path)
    assert got == expected, ('missing: %r, unexpected: %r'
                             % (sorted(expected - got), sorted(got - expected)))
    for p in cyrus.CORE_TREE + ['Lists', 'Lists/dev', 'Lists/dev/deep', 'corpus-python',
                                'corpus-sa', 'big', 'parts']:
        assert p in got, p
        assert stat.S_ISDIR(os.stat(m.p(p)).st_mode), p
    r = run(['ls', '-1a', m.path])
    assert r.returncode == 0, r.stderr
    assert set(r.stdout.decode('utf-8').splitlines()) - {'.', '..'} == \
        {p for p in expected if '/' not in p}


def test_ls_l_shows_uids_sizes_and_dates(real_server, mount_factory):
    """ls -l of every mailbox: one <UID>.eml per message the server has,
    size = RFC822.SIZE, mtime = INTERNALDATE (1980 and 1999 included),
    mode rw-r--r--."""
    srv = real_server
    m = mount(mount_factory, srv)
    names = [n for n, (_, a) in server_list(srv).items() if selectable(a)]
    meta = meta_of(srv, names)
    for box in cyrus.CORE_TREE + ['corpus-python', 'corpus-sa', 'big', 'parts']:
        assert sorted(meta[box]) == sorted(srv.seed.uids[box]), box
    problems = []
    for box in names:
        r = run(['ls', '-l', '--time-style=+%s', '--', m.p(mailbox_path(box, '/'))])
        assert r.returncode == 0, (box, r.stderr)
        seen = {}
        for line in r.stdout.decode('utf-8').splitlines():
            f = line.split(None, 6)
            if len(f) == 7 and EML.match(f[6]):
                seen[f[6]] = (f[0][:10], int(f[4]), int(f[5]))
        want = {'%d.eml' % uid: ('-rw-r--r--', size, date)
                for uid, (size, date, _) in meta[box].items()}
        if seen != want:
            diff = sorted((k, seen.get(k), want.get(k)) for k in set(seen) | set(want)
                          if seen.get(k) != want.get(k))
            problems.append('%s: (name, ls, server) %r' % (box, diff[:5]))
    assert not problems, '\n'.join(problems[:20])
    dates = {date for _, date, _ in meta['INBOX'].values()}
    assert dovecot.parse_imap_date('01-Feb-1980 00:00:00 +0000') in dates
    assert dovecot.parse_imap_date('31-Dec-1999 23:59:59 -1100') in dates


# --------------------------------------------------------------------------
# reads

def test_cat_is_byte_exact_and_sets_no_seen(real_server, mount_factory):
    """cat of each message of the small mailboxes (one cat a mailbox, files
    in UID order) and a read of every corpus message give the server's
    BODY.PEEK[]; afterwards no message has gained \\Seen."""
    srv = real_server
    m = mount(mount_factory, srv)
    boxes = cyrus.CORE_TREE + ['corpus-python', 'corpus-sa']
    before = meta_of(srv, boxes)
    assert len(srv.seed.uids['corpus-sa']) >= cyrus.CORE_SA_COUNT - 5
    problems = []
    for box in boxes:
        want = bodies(srv, box)
        uids = sorted(want)
        assert uids == sorted(before[box]), box
        d = m.p(mailbox_path(box, '/'))
        if box in cyrus.CORE_TREE:
            r = run(['cat'] + [os.path.join(d, '%d.eml' % u) for u in uids])
            assert r.returncode == 0, (box, r.stderr)
            if r.stdout != b''.join(want[u] for u in uids):
                problems.append('%s: cat differs' % box)
            continue
        for uid in uids:
            got = read(os.path.join(d, '%d.eml' % uid))
            if hashlib.sha256(got).digest() != hashlib.sha256(want[uid]).digest():
                problems.append('%s UID %d: %d bytes read, %d on the server, first '
                                'difference at %d' % (box, uid, len(got), len(want[uid]),
                                                      first_difference(got, want[uid])))
    assert not problems, '%d problems:\n%s' % (len(problems), '\n'.join(problems[:20]))
    after = meta_of(srv, boxes)
    seen = [(box, uid) for box in boxes for uid, (_, _, flags) in after[box].items()
            if '\\Seen' in flags and '\\Seen' not in before[box][uid][2]]
    assert not seen, 'reading through the mount set \\Seen on %r' % seen[:10]


def test_big_messages_whole_and_at_offsets(real_server, mount_factory):
    """Messages of 1 to 3 MB: pread at odd offsets and lengths (first, on a
    fresh mount, so each goes to the server as a partial fetch), then cat of
    the whole message, all equal to the server's bytes."""
    srv = real_server
    m = mount(mount_factory, srv)
    want_all = bodies(srv, 'big')
    assert sorted(len(b) for b in want_all.values()) == sorted(cyrus.CORE_BIG_SIZES)
    rnd = random.Random(15)
    for uid, size in sorted(srv.seed.big.items()):
        want = want_all[uid]
        p = m.p('big', '%d.eml' % uid)
        assert os.stat(p).st_size == size
        fd = os.open(p, os.O_RDONLY)
        try:
            cases = [(off, n) for off in (size - 1, 1, 4095, 65535, 1 << 20, size, size + 7)
                     for n in (1, 4097, 200000)]
            cases += [(rnd.randrange(size), rnd.choice((1, 511, 4096, 70000)))
                      for _ in range(20)]
            for off, n in cases:
                got = os.pread(fd, n, off)
                assert got == want[off:off + n], (
                    'UID %d: pread(%d, off=%d) gave %d bytes, first difference at %d'
                    % (uid, n, off, len(got), first_difference(got, want[off:off + n])))
        finally:
            os.close(fd)
        r = run(['cat', p])
        assert r.returncode == 0, r.stderr
        assert hashlib.sha256(r.stdout).digest() == hashlib.sha256(want).digest(), (
            'UID %d: cat gave %d bytes of %d, first difference at %d'
            % (uid, len(r.stdout), size, first_difference(r.stdout, want)))


STALL = 0.030             # a read slower than this waited for something


def test_messages_read_one_process_each_do_not_stall(real_server, mount_factory):
    """cat of 100 messages, one process each (as a file manager or a shell
    loop opens them): no read-ahead, each is one FETCH, which takes a
    millisecond or two on loopback. At most 10 of them may take longer than
    STALL. (A server that writes a FETCH answer in pieces with Nagle on --
    Cyrus -- holds the last piece until the client ACKs the first, and
    Linux delays that ACK up to 40 ms unless the client asks for quick ACKs
    after each read: a bare client sees 80 of 200 such fetches take 44 ms.)"""
    srv = real_server
    m = mount(mount_factory, srv)
    uids = srv.seed.uids['corpus-sa'][:100]
    want = bodies(srv, 'corpus-sa', uids)
    times = []
    for uid in uids:
        t = time.monotonic()
        r = run(['cat', m.p('corpus-sa', '%d.eml' % uid)])
        times.append(time.monotonic() - t)
        assert r.returncode == 0, r.stderr
        assert r.stdout == want[uid], uid
    slow = sorted(t for t in times if t > STALL)
    print('%s: %d of %d reads over %.0f ms (median %.1f ms)'
          % (srv.kind, len(slow), len(times), STALL * 1000, sorted(times)[50] * 1000))
    assert len(slow) <= 10, '%d of %d reads took over %.0f ms: %s' % (
        len(slow), len(times), STALL * 1000, ', '.join('%.0f ms' % (t * 1000) for t in slow[:20]))


# --------------------------------------------------------------------------
# parts

@pytest.mark.parametrize('mode', ['binary', 'nobinary'])
def test_parts_hold_the_decoded_attachments(real_server, mount_factory, mode):
    """<UID>.parts/ of the 'parts' messages: header.txt, each leaf decoded
    (a PDF named by RFC 2047, a PNG, quoted-printable text), the attached
    message raw, and the empty parts as empty files; st_size is exact before
    anything is read; with the server's BINARY and with -o nobinary."""
    srv = real_server
    m = mount(mount_factory, srv, *(['nobinary'] if mode == 'nobinary' else []))
    assert 'BINARY' in server_caps(srv)
    problems = []
    for uid, want in sorted(srv.seed.parts.items()):
        pdir = m.p('parts', '%d.parts' % uid)
        names = set(ok(os.listdir, pdir))
        assert names == set(want) | {'header.txt'}, (uid, sorted(names))
        sizes = {n: os.stat(os.path.join(pdir, n)).st_size for n in want}
        for name, data in sorted(want.items()):
            if sizes[name] != len(data):
                problems.append('UID %d %s: st_size %d before reading, %d decoded'
                                % (uid, name, sizes[name], len(data)))
            got = read(os.path.join(pdir, name))
            if got != data:
                problems.append('UID %d %s: %d bytes read, %d expected, first difference at %d'
                                % (uid, name, len(got), len(data), first_difference(got, data)))
        head = read(os.path.join(pdir, 'header.txt'))
        raw = bodies(srv, 'parts', [uid])[uid]
        if not raw.startswith(head) or not head.endswith(b'\r\n\r\n'):
            problems.append('UID %d header.txt is not the header block: %r' % (uid, head[-40:]))
    assert not problems, '\n'.join(problems)
    # the PDF's type, from the message
    uid = min(srv.seed.parts)
    p = m.p('parts', '%d.parts' % uid, '2-' + cyrus.PDF_NAME)
    assert ok(os.getxattr, p, 'user.mime_type') == b'application/pdf'


# --------------------------------------------------------------------------
# writes

def test_cp_in_is_append(real_server, mount_factory, tmp_path):
    """cp of three files into a mailbox APPENDs each at close: the server
    holds the same bytes (a 300 KB multipart one, an 8-bit body), ls shows
    them under the names written, and each reads as the server has it --
    also one whose 8-bit header Cyrus rewrote on APPEND."""
    srv = real_server
    box, = boxes_for(srv, 'cp', 'in')
    m = mount(mount_factory, srv)
    src = tmp_path / 'src'
    src.mkdir()
    raws = {'big.eml': dovecot.make_big_message(300000, seed=77),
            'utf8.eml': msg('cp-utf8', 'Umlaute: äöüß, 日本語, emoji 📬\n' * 40),
            'small.eml': msg('cp-small')}
    for name, raw in raws.items():
        (src / name).write_bytes(raw)
    r = run(['cp'] + [str(src / n) for n in sorted(raws)] + [m.p(box) + '/'])
    assert r.returncode == 0, r.stderr
    st = state(srv, box)
    assert bodies_of(st) == sorted(raws.values())
    assert listed_uids(m.p(box)) == set(st)
    for name, raw in raws.items():
        assert read(m.p(box, name)) == raw, name
        uid = int(ok(os.getxattr, m.p(box, name), 'user.imap.uid'))
        assert read(m.p(box, '%d.eml' % uid)) == raw, name
    # a header with 8-bit bytes: what the mount shows is what the server keeps
    hdr = dovecot.make_message('Grüße aus Köln', 'body\n', msgid='<cp-8bit@servers.imapfs.test>')
    ok(write_new, m.p(box, 'eightbit.eml'), hdr)
    uid = int(ok(os.getxattr, m.p(box, 'eightbit.eml'), 'user.imap.uid'))
    kept = state(srv, box)[uid].body
    if srv.kind == 'cyrus':      # each 8-bit byte of the header became an 'X'
        assert kept == hdr.replace('Grüße aus Köln'.encode(), b'GrXXXXe aus KXXln'), kept
    else:
        assert kept == hdr
    assert read(m.p(box, 'eightbit.eml')) == kept, (
        'the mount shows the bytes written, the server keeps %r' % kept[:120])
    assert read(m.p(box, '%d.eml' % uid)) == kept


def test_mv_between_mailboxes_is_move(real_server, mount_factory):
    """mv A/<uid>.eml B/ moves the message on the server (UID MOVE: gone from
    A, not merely \\Deleted); the name it went to reads as the message."""
    srv = real_server
    assert 'MOVE' in server_caps(srv)
    a, b = boxes_for(srv, 'mv', 'a', 'b')
    raws = [msg('mv-a-%d' % i) for i in range(3)]
    ua = put(srv, a, raws)
    braw = msg('mv-b')
    put(srv, b, [braw])
    m = mount(mount_factory, srv)
    r = run(['mv', m.p(a, '%d.eml' % ua[1]), m.p(b) + '/'])
    assert r.returncode == 0, r.stderr
    sa, sb = state(srv, a), state(srv, b)
    assert sorted(sa) == [ua[0], ua[2]], 'A holds %r' % sorted(sa)
    assert bodies_of(sb) == sorted([raws[1], braw])
    assert read(m.p(b, '%d.eml' % ua[1])) == raws[1]
    new = int(ok(os.getxattr, m.p(b, '%d.eml' % ua[1]), 'user.imap.uid'))
    assert sb[new].body == raws[1]
    assert listed_uids(m.p(a)) == set(sa)
    assert listed_uids(m.p(b)) == set(sb)


def test_rm_moves_to_trash_and_rm_in_trash_expunges(real_server, mount_factory):
    """rm of a message moves it to Trash (created when first needed); rm of
    it in Trash expunges it, and nothing else."""
    srv = real_server
    box, = boxes_for(srv, 'rm', 'box')
    raws = [msg('rm-%d' % i) for i in range(3)]
    uids = put(srv, box, raws)
    trash_before = state(srv, 'Trash') if 'Trash' in server_boxes(srv) else {}
    m = mount(mount_factory, srv)
    r = run(['rm', m.p(box, '%d.eml' % uids[0]), m.p(box, '%d.eml' % uids[2])])
    assert r.returncode == 0, r.stderr
    assert sorted(state(srv, box)) == [uids[1]]
    trash = state(srv, 'Trash')
    moved = {u: v for u, v in trash.items() if u not in trash_before}
    assert bodies_of(moved) == sorted([raws[0], raws[2]])
    assert not any('\\Deleted' in v.flags for v in moved.values())
    assert listed_uids(m.p(box)) == {uids[1]}
    assert listed_uids(m.p('Trash')) == set(trash)
    victim = min(moved)
    r = run(['rm', m.p('Trash', '%d.eml' % victim)])
    assert r.returncode == 0, r.stderr
    after = state(srv, 'Trash')
    assert sorted(after) == sorted(set(trash) - {victim})
    assert listed_uids(m.p('Trash')) == set(after)
    assert sorted(state(srv, box)) == [uids[1]]


def test_mkdir_rmdir_and_mv_of_mailboxes(real_server, mount_factory):
    """mkdir -p makes the mailboxes (CREATE), a message written into the
    deepest is there; rmdir refuses a mailbox with mail or children
    (ENOTEMPTY) and deletes an empty one; mv of the top directory renames
    the whole hierarchy (RENAME), its mail with it."""
    srv = real_server
    _TAG[0] += 1
    top = 'w-dirs-%d' % _TAG[0]
    m = mount(mount_factory, srv)
    r = run(['mkdir', '-p', m.p(top, 'Sub', 'Deep'), m.p(top, 'Empty')])
    assert r.returncode == 0, r.stderr
    boxes = server_boxes(srv)
    for name in (top, top + '/Sub', top + '/Sub/Deep', top + '/Empty'):
        assert name in boxes, '%r not in LIST %r' % (name, sorted(boxes))
    raw = msg('deep')
    ok(write_new, m.p(top, 'Sub', 'Deep', 'deep.eml'), raw)
    assert bodies_of(state(srv, top + '/Sub/Deep')) == [raw]
    expect_errno(errno.ENOTEMPTY, os.rmdir, m.p(top, 'Sub', 'Deep'), what='rmdir with mail')
    expect_errno(errno.ENOTEMPTY, os.rmdir, m.p(top, 'Sub'), what='rmdir with children')
    ok(os.rmdir, m.p(top, 'Empty'))
    assert top + '/Empty' not in server_boxes(srv)
    assert 'Empty' not in ok(os.listdir, m.p(top))
    r = run(['mv', m.p(top), m.p(top + '-renamed')])
    assert r.returncode == 0, r.stderr
    boxes = server_boxes(srv)
    assert not [n for n in boxes if n == top or n.startswith(top + '/')], sorted(boxes)
    new = top + '-renamed/Sub/Deep'
    assert new in boxes, sorted(boxes)
    st = state(srv, new)
    assert bodies_of(st) == [raw]
    assert listed_uids(m.p(top + '-renamed', 'Sub', 'Deep')) == set(st)
    assert read(m.p(top + '-renamed', 'Sub', 'Deep', '%d.eml' % min(st))) == raw
    expect_errno(errno.ENOENT, os.stat, m.p(top))


# --------------------------------------------------------------------------
# flags

def test_flags_xattr(real_server, mount_factory):
    """getfattr shows the seeded flags (none; \\Seen; \\Flagged $Work);
    setfattr -n user.imap.flags replaces them on the server, setfattr -x
    clears them."""
    srv = real_server
    box, = boxes_for(srv, 'flags', 'box')
    u1, u2 = put(srv, box, [msg('f-1'), msg('f-2')], flags=[['\\Answered'], None])
    m = mount(mount_factory, srv)
    uids = srv.seed.uids['Archive']
    for uid, want in zip(uids, [set(), {'\\Seen'}, {'\\Flagged', '$Work'}]):
        r = run(['getfattr', '-n', 'user.imap.flags', '--only-values',
                 m.p('Archive', '%d.eml' % uid)])
        assert r.returncode == 0, r.stderr
        assert set(r.stdout.decode().split()) == want, (uid, r.stdout)
    p = m.p(box, '%d.eml' % u1)
    assert ok(xflags, p) == {'\\Answered'}
    r = run(['setfattr', '-n', 'user.imap.flags', '-v', '\\Seen \\Flagged $Work', p])
    assert r.returncode == 0, r.stderr
    st = state(srv, box)
    assert st[u1].flags == {'\\Seen', '\\Flagged', '$Work'}, st[u1].flags
    assert st[u2].flags == frozenset()
    assert ok(xflags, p) == {'\\Seen', '\\Flagged', '$Work'}
    ok(os.setxattr, p, 'user.imap.flags', b'$Other')
    assert state(srv, box)[u1].flags == {'$Other'}
    r = run(['setfattr', '-x', 'user.imap.flags', p])
    assert r.returncode == 0, r.stderr
    assert state(srv, box)[u1].flags == frozenset()
    assert ok(xflags, p) == set()
    expect_errno(errno.EINVAL, os.setxattr, p, 'user.imap.flags', b'\\Recent',
                 what='setxattr \\Recent')


# --------------------------------------------------------------------------
# the live view

def test_another_clients_changes_show(real_server, mount_factory):
    """With the mount up and a mailbox in use, another client (imaplib)
    APPENDs to it, APPENDs to another mailbox, EXPUNGEs a message and sets
    and clears flags: each shows in ls / stat / getxattr within LIVE_LIMIT.
    The watcher uses NOTIFY on Dovecot and IDLE on Cyrus (no NOTIFY)."""
    srv = real_server
    box, other = boxes_for(srv, 'live', 'box', 'other')
    put(srv, box, [msg('live-box-%d' % i) for i in range(3)])
    put(srv, other, [msg('live-other-%d' % i) for i in range(3)])
    m = mount(mount_factory, srv)
    assert m.watcher == WATCHER_MODE[srv.kind], m.watcher
    assert len(listing(m.p(other))) >= 3
    assert len(listing(m.p(box))) >= 3
    time.sleep(0.5)          # the watcher follows the mailbox in use
    assert listing(m.p(box)) is not None
    c = dovecot.imap_client(srv)
    try:
        raw = msg('live-new')
        uid = dovecot.append(c, box, raw)
        t0 = time.monotonic()
        wait_for('%s: APPEND in the mailbox in use' % srv.kind,
                 lambda: '%d.eml' % uid in (listing(m.p(box)) or ()), LIVE_LIMIT, t0)
        assert read(m.p(box, '%d.eml' % uid)) == raw

        raw2 = msg('live-other-new')
        uid2 = dovecot.append(c, other, raw2)
        t0 = time.monotonic()
        wait_for('%s: APPEND in another mailbox' % srv.kind,
                 lambda: '%d.eml' % uid2 in (listing(m.p(other)) or ()), LIVE_LIMIT, t0)
        assert read(m.p(other, '%d.eml' % uid2)) == raw2

        listing(m.p(box))    # back to the mailbox in use
        time.sleep(0.5)
        victim = min(int(n[:-4]) for n in listing(m.p(box)) if EML.match(n))
        vpath = m.p(box, '%d.eml' % victim)
        assert read(vpath)
        dovecot.select(c, box, readonly=False)
        typ, data = c.uid('STORE', str(victim), '+FLAGS.SILENT', '(\\Deleted)')
        assert typ == 'OK', data
        typ, data = c.uid('EXPUNGE', str(victim))
        assert typ == 'OK', data
        t0 = time.monotonic()
        wait_for('%s: EXPUNGE: the name leaves ls' % srv.kind,
                 lambda: '%d.eml' % victim not in (listing(m.p(box)) or ()), LIVE_LIMIT, t0)
        wait_for('%s: EXPUNGE: stat gives ENOENT' % srv.kind, lambda: gone(vpath),
                 LIVE_LIMIT, t0)

        fpath = m.p(box, '%d.eml' % uid)
        assert '\\Flagged' not in xflags(fpath)
        typ, data = c.uid('STORE', str(uid), '+FLAGS.SILENT', '(\\Flagged $Watched)')
        assert typ == 'OK', data
        t0 = time.monotonic()
        wait_for('%s: flags set' % srv.kind,
                 lambda: {'\\Flagged', '$Watched'} <= xflags(fpath), LIVE_LIMIT, t0)
        typ, data = c.uid('STORE', str(uid), '-FLAGS.SILENT', '(\\Flagged)')
        assert typ == 'OK', data
        t0 = time.monotonic()
        wait_for('%s: flag cleared' % srv.kind,
                 lambda: '\\Flagged' not in xflags(fpath), LIVE_LIMIT, t0)
        assert '$Watched' in xflags(fpath)
    finally:
        c.logout()


# --------------------------------------------------------------------------
# the disk cache

def test_remount_reads_from_the_disk_cache(real_server, mount_factory, tmp_path):
    """Every corpus-sa message read on one mount (a walk in UID order) reads
    the same on the next mount with the same cache_dir, and almost nothing
    comes from the server."""
    srv = real_server
    cache = str(tmp_path / 'cache')
    want = bodies(srv, 'corpus-sa')
    m = mount(mount_factory, srv, cache=cache)
    for uid in sorted(want):
        assert read(m.p('corpus-sa', '%d.eml' % uid)) == want[uid], uid
    assert m.stop() == 0
    m2 = mount(mount_factory, srv, cache=cache)
    before = received(m2)
    for uid in sorted(want):
        assert read(m2.p('corpus-sa', '%d.eml' % uid)) == want[uid], uid
    got = received(m2) - before
    total = sum(map(len, want.values()))
    print('%s: second mount read %d bytes from the server for %d bytes of mail'
          % (srv.kind, got, total))
    assert got < total // 50, (got, total)


def test_cached_bodies_read_while_the_server_is_down(real_server, mount_factory, tmp_path):
    """Messages read once stay readable from disk with the server stopped
    (page cache dropped), on the same mount and on a new one made while the
    server is down (the tree and listing as kept); one never read fails with
    EIO; nothing hangs. The server is started again afterwards."""
    srv = real_server
    cache = str(tmp_path / 'cache')
    box = 'Archive/2024'
    want = bodies(srv, box)
    uids = sorted(want)
    m = mount(mount_factory, srv, 'timeout=3', cache=cache)
    # downwards, so nothing is fetched ahead: only these two are on disk
    for uid in reversed(uids[:2]):
        assert read(m.p(box, '%d.eml' % uid)) == want[uid]
    srv.stop()
    try:
        drop_page_cache()
        for uid in uids[:2]:
            got, exc, _ = bounded(20, read, m.p(box, '%d.eml' % uid))
            assert exc is None, 'cached UID %d: %r' % (uid, exc)
            assert got == want[uid]
        got, exc, _ = bounded(20, read, m.p(box, '%d.eml' % uids[2]))
        assert isinstance(exc, OSError) and exc.errno == errno.EIO, (got and len(got), exc)
        assert m.stop() == 0
        m2 = mount(mount_factory, srv, 'timeout=3', cache=cache, watcher=False)
        got, exc, _ = bounded(20, lambda: sorted(n for n in os.listdir(m2.p(box))
                                                 if EML.match(n)))
        assert exc is None, exc
        assert got == sorted('%d.eml' % u for u in uids)
        for uid in uids[:2]:
            got, exc, _ = bounded(20, read, m2.p(box, '%d.eml' % uid))
            assert exc is None, 'cached UID %d after a remount: %r' % (uid, exc)
            assert got == want[uid]
    finally:
        if not srv.running():
            srv.start()


def _same_uidvalidity_pair(srv, tries=5):
    """Two new mailboxes created back to back in one second: on Cyrus they
    share their UIDVALIDITY (checked; a try that straddles a second is
    repeated). Returns (names, uidvalidities)."""
    for _ in range(tries):
        # start early in a second
        time.sleep(1.0 - time.time() % 1.0 + 0.01)
        names = boxes_for(srv, 'uv', 'a', 'b')
        with imap(srv) as c:
            uv = []
            for n in names:
                typ, data = c.status(dovecot.wire_mailbox(n), '(UIDVALIDITY)')
                assert typ == 'OK', data
                uv.append(int(re.search(rb'UIDVALIDITY (\d+)', data[0]).group(1)))
        if srv.kind != 'cyrus' or uv[0] == uv[1]:
            return names, uv
    raise AssertionError('Cyrus gave two mailboxes created in one second different '
                         'UIDVALIDITYs %d times: %r' % (tries, uv))


def test_same_uidvalidity_mailboxes_keep_their_own_bytes(real_server, mount_factory, tmp_path):
    """Two mailboxes with the same UIDVALIDITY (Cyrus: created in the same
    second), each holding UID 1 of the same size but other bytes: read
    through the mount, after a remount (from the disk cache) and after a
    remount with the server down, each shows its own bytes."""
    srv = real_server
    (a, b), uv = _same_uidvalidity_pair(srv)
    if srv.kind == 'cyrus':
        assert uv[0] == uv[1], uv
    # Big enough that the tree and listings relisted meanwhile weigh little beside them.
    ra = msg('uv-A', 'This one is in mailbox A.\n', size=100000)
    rb = msg('uv-B', 'This one is in mailbox B.\n', size=100000)
    assert len(ra) == len(rb) and ra != rb
    ua, = put(srv, a, [ra])
    ub, = put(srv, b, [rb])
    assert ua == ub
    cache = str(tmp_path / 'cache')
    m = mount(mount_factory, srv, 'timeout=3', cache=cache)
    assert read(m.p(a, '%d.eml' % ua)) == ra
    assert read(m.p(b, '%d.eml' % ub)) == rb
    assert m.stop() == 0
    m2 = mount(mount_factory, srv, cache=cache)
    before = received(m2)
    assert read(m2.p(b, '%d.eml' % ub)) == rb
    assert read(m2.p(a, '%d.eml' % ua)) == ra
    assert received(m2) - before < len(ra) // 4, 'the bodies came from the server, not the disk'
    assert m2.stop() == 0
    srv.stop()
    try:
        m3 = mount(mount_factory, srv, 'timeout=3', cache=cache, watcher=False)
        for box, uid, raw in ((a, ua, ra), (b, ub, rb)):
            got, exc, _ = bounded(20, read, m3.p(box, '%d.eml' % uid))
            assert exc is None, (box, exc)
            assert got == raw, box
    finally:
        srv.start()
