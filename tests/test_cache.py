# SPDX-License-Identifier: GPL-2.0-or-later
"""The disk cache of message bodies (-o cache_dir, -o cache_size), against a
private Dovecot through real mounts: a remount reads what was read before
from disk, bodies read once stay readable while the server is down, the
cache stays within its bound dropping the least recently used, and nothing
on disk is served unless it is whole and of the listed size."""

import errno
import os
import random
import re
import stat
import time

import pytest

import dovecot
from conftest import bounded


def _read(path):
    with open(path, 'rb') as f:
        return f.read()


def _received(m):
    return int(os.getxattr(m.path, 'user.imapfs.bytes_received'))


def _scan_bodies(cache_dir):
    out = {}
    for root, dirs, files in os.walk(cache_dir):
        if 'listings' in dirs:
            dirs.remove('listings')
        for f in files:
            if f in ('journal', 'journal.damaged'):
                continue  # the offline journal (store/journal.h), beside the bodies
            p = os.path.join(root, f)
            out[os.path.relpath(p, cache_dir)] = os.path.getsize(p)
    return out


def _bodies(cache_dir):
    """{relative path: size} of every body file under cache_dir (not the
    listings kept beside them), once the cache's writer is quiet: imapfs
    writes bodies from a thread of its own, after the read that brought
    them has returned, so a scan meanwhile may see a file come or go
    halfway. Two scans 0.1 s apart that agree, within 10 s."""
    last = None
    for _ in range(100):
        try:
            now = _scan_bodies(cache_dir)
        except FileNotFoundError:
            now = None
        if now is not None and now == last:
            return now
        last = now
        time.sleep(0.1)
    raise AssertionError('the disk cache under %s did not settle within 10 s' % cache_dir)


def _drop_page_cache():
    """So reads reach imapfs again (tests run as root, as CI does)."""
    os.sync()
    with open('/proc/sys/vm/drop_caches', 'w') as f:
        f.write('1\n')


def _corpus(n, seed, box_sizes=(300, 5000, 40000, 200000)):
    rnd = random.Random(seed)
    return [dovecot.make_message('cached %d' % i,
                                 ''.join(rnd.choice('abcdefgh \n')
                                         for _ in range(rnd.choice(box_sizes))),
                                 msgid='<cached-%d-%d@imapfs.test>' % (seed, i))
            for i in range(n)]


def _mount(mount_factory, dv, cache_dir, *extra, **kw):
    return mount_factory(dv.url('imap'), ['tls=none', 'cache_dir=' + cache_dir] + list(extra),
                         password=dv.password, **kw)


def test_remount_reads_bodies_from_disk(dovecot_factory, mount_factory, tmp_path):
    """Every message read on one mount (one by one, and a walk in UID order
    that fetches ahead) is read on the next mount from the disk cache: the
    bytes are the same and almost nothing comes from the server."""
    dv = dovecot_factory()
    raws = _corpus(150, seed=1)
    uids = dovecot.append_many(dv, 'INBOX', [(r, None, None) for r in raws])
    cache = str(tmp_path / 'cache')
    m = _mount(mount_factory, dv, cache)
    for uid, raw in zip(uids[:5], raws[:5]):           # single reads
        assert _read(m.p('INBOX', '%d.eml' % uid)) == raw
    for uid, raw in zip(uids, raws):                   # a walk: fetched ahead
        assert _read(m.p('INBOX', '%d.eml' % uid)) == raw
    m.stop()
    kept = _bodies(cache)
    assert len(kept) == len(raws), '%d bodies kept of %d' % (len(kept), len(raws))
    assert sorted(kept.values()) == sorted(len(r) for r in raws)

    m2 = _mount(mount_factory, dv, cache)
    before = _received(m2)
    for uid, raw in zip(uids, raws):
        assert _read(m2.p('INBOX', '%d.eml' % uid)) == raw
    got = _received(m2) - before
    total = sum(len(r) for r in raws)
    print('second mount: %d bytes from the server to read %d bytes' % (got, total))
    assert got < total // 50, (got, total)


def test_bodies_on_disk_readable_while_server_down(dovecot_factory, mount_factory, tmp_path):
    """With the server stopped, a message read before still reads (from
    disk, not the page cache, which is dropped); one never read fails with
    EIO, and nothing hangs."""
    dv = dovecot_factory()
    raws = _corpus(6, seed=2, box_sizes=(3000,))
    uids = dovecot.append_many(dv, 'INBOX', [(r, None, None) for r in raws])
    m = _mount(mount_factory, dv, str(tmp_path / 'cache'), 'timeout=3')
    # downwards, so nothing is fetched ahead: only these three are on disk
    for uid, raw in reversed(list(zip(uids[:3], raws[:3]))):
        assert _read(m.p('INBOX', '%d.eml' % uid)) == raw
    dv.stop()
    _drop_page_cache()
    # downwards again: reads in UID order would start fetching ahead, and an
    # imap process of the stopping server may still answer for a moment
    for uid, raw in reversed(list(zip(uids[:3], raws[:3]))):
        got, exc, secs = bounded(20, _read, m.p('INBOX', '%d.eml' % uid))
        assert exc is None, 'cached UID %d: %r' % (uid, exc)
        assert got == raw
    got, exc, secs = bounded(20, _read, m.p('INBOX', '%d.eml' % uids[5]))
    assert isinstance(exc, OSError) and exc.errno == 5, (got and len(got), exc)
    # the listing is the last one known
    assert sorted(n for n in os.listdir(m.p('INBOX')) if n.endswith('.eml')) == \
        sorted('%d.eml' % u for u in uids)


def test_cache_stays_within_its_bound(dovecot_factory, mount_factory, tmp_path):
    """-o cache_size=1M while 3 MB of mail is read: the bodies on disk never
    pass 1 MiB, and those read last are the ones kept (the next mount reads
    them without the server; the first ones come from the server again).
    Read downwards, so nothing is fetched ahead."""
    dv = dovecot_factory()
    raws = _corpus(60, seed=3, box_sizes=(50000,))
    uids = dovecot.append_many(dv, 'INBOX', [(r, None, None) for r in raws])
    cache = str(tmp_path / 'cache')
    m = _mount(mount_factory, dv, cache, 'cache_size=1M')
    order = list(reversed(list(zip(uids, raws))))
    for i, (uid, raw) in enumerate(order):
        assert _read(m.p('INBOX', '%d.eml' % uid)) == raw
        total = sum(_bodies(cache).values())
        assert total <= 1 << 20, 'after %d messages the cache holds %d bytes' % (i + 1, total)
    m.stop()
    assert sum(_bodies(cache).values()) >= (1 << 20) // 2   # it is used, not emptied

    m2 = _mount(mount_factory, dv, cache, 'cache_size=1M')
    before = _received(m2)
    last, first = order[-1], order[0]
    # downwards again: going up the UIDs would fetch the next ones ahead
    assert _read(m2.p('INBOX', '%d.eml' % order[-2][0])) == order[-2][1]
    assert _read(m2.p('INBOX', '%d.eml' % last[0])) == last[1]
    assert _received(m2) - before < 20000   # the listing, no body (each is 50 KB)
    assert _read(m2.p('INBOX', '%d.eml' % first[0])) == first[1]
    assert _received(m2) - before > len(first[1])


def test_damaged_or_partial_files_are_never_served(dovecot_factory, mount_factory, tmp_path):
    """A body file cut short or grown (a crash, a full disk, another program)
    is not what the server lists: the read goes to the server and returns
    the right bytes, and the damaged file is replaced. A temporary file left
    by a crash (an old one) is removed; a fresh one, maybe another mount's
    being written, is not."""
    dv = dovecot_factory()
    raws = _corpus(3, seed=4, box_sizes=(20000,))
    uids = dovecot.append_many(dv, 'INBOX', [(r, None, None) for r in raws])
    cache = str(tmp_path / 'cache')
    m = _mount(mount_factory, dv, cache)
    for uid, raw in zip(uids, raws):
        assert _read(m.p('INBOX', '%d.eml' % uid)) == raw
    m.stop()
    kept = sorted(_bodies(cache))
    assert len(kept) == 3
    by_size = {}
    for rel in kept:
        with open(os.path.join(cache, rel), 'rb') as f:
            by_size[f.read()] = rel
    cut, grown = by_size[raws[0]], by_size[raws[1]]
    with open(os.path.join(cache, cut), 'r+b') as f:
        f.truncate(len(raws[0]) // 2)
    with open(os.path.join(cache, grown), 'ab') as f:
        f.write(b'junk')
    stray = os.path.join(cache, os.path.dirname(cut), 'tmp.99999.0')
    with open(stray, 'wb') as f:
        f.write(raws[2][:100])
    hour_ago = time.time() - 3600
    os.utime(stray, (hour_ago, hour_ago))
    # another mount's temporary, being written now: left alone
    busy = os.path.join(cache, os.path.dirname(cut), 'tmp.99998.0')
    with open(busy, 'wb') as f:
        f.write(raws[2][:100])

    m2 = _mount(mount_factory, dv, cache)
    before = _received(m2)
    for uid, raw in zip(uids, raws):
        assert _read(m2.p('INBOX', '%d.eml' % uid)) == raw
    assert _received(m2) - before >= len(raws[0]) + len(raws[1])
    m2.stop()
    after = _bodies(cache)
    assert after.get(cut) == len(raws[0]) and after.get(grown) == len(raws[1]), after
    assert not os.path.exists(stray)
    assert os.path.exists(busy)


def test_cache_files_private_and_named_by_hash(dovecot_factory, mount_factory, tmp_path):
    """Mailbox names from the server never reach the cache's paths (files
    are named by a hash, whatever the name holds); directories are 0700 and
    bodies 0600; -o cache_size=0 writes nothing; a bad size is refused."""
    dv = dovecot_factory()
    c = dovecot.imap_client(dv)
    try:
        typ, data = c.create('"escape ../ %%"')
        assert typ == 'OK', data
    finally:
        c.logout()
    raw = dovecot.make_message('private', 'secret text\n')
    dovecot.append_many(dv, 'escape ../ %%', [(raw, None, None)])
    cache = str(tmp_path / 'cache')
    m = _mount(mount_factory, dv, cache)
    names = os.listdir(m.path)
    box = [n for n in names if 'escape' in n]
    assert box, names
    paths = [os.path.join(dp, f) for dp, _, fs in os.walk(m.p(box[0])) for f in fs]
    emls = [p for p in paths if p.endswith('.eml')]
    assert emls and _read(emls[0]) == raw
    m.stop()
    for root, dirs, files in os.walk(cache):
        for d in dirs:
            assert stat.S_IMODE(os.stat(os.path.join(root, d)).st_mode) == 0o700
        for f in files:
            if root.endswith('listings') and f == 'tree':
                continue   # the mailbox tree: the one fixed name
            if f == 'journal':
                continue   # the offline journal: the other one
            assert len(f) == 64 and all(ch in '0123456789abcdef' for ch in f), f
            assert stat.S_IMODE(os.stat(os.path.join(root, f)).st_mode) == 0o600
    # the body, and the structure of its .parts directory (the walk listed it)
    kept = [os.path.join(cache, f) for f in _bodies(cache)]
    assert len(kept) == 2, kept
    assert sum(_read(f) == raw for f in kept) == 1
    assert not os.path.exists(str(tmp_path / 'escape'))

    off = str(tmp_path / 'off')
    m2 = _mount(mount_factory, dv, off, 'cache_size=0')
    assert _read(emls[0].replace(m.path, m2.path)) == raw
    m2.stop()
    assert not _bodies(off)

    bad = mount_factory(dv.url('imap'), ['tls=none', 'cache_size=lots'], password=dv.password,
                        start=False)
    with pytest.raises(Exception):
        bad.start()
    assert 'cache_size=lots' in bad.stderr()


def test_cache_dir_others_can_write_is_not_used(dovecot_factory, mount_factory, tmp_path):
    """A cache directory another user could write to (where mail could be
    planted under a body's name) is refused with a warning; the mount works
    without a disk cache."""
    dv = dovecot_factory()
    raw = dovecot.make_message('shared', 'text\n')
    uids = dovecot.append_many(dv, 'INBOX', [(raw, None, None)])
    cache = tmp_path / 'shared-cache'
    m = _mount(mount_factory, dv, str(cache))
    assert _read(m.p('INBOX', '%d.eml' % uids[0])) == raw
    m.stop()
    account = [d for d in os.listdir(cache)]
    assert len(account) == 1
    os.chmod(cache / account[0], 0o777)
    m2 = _mount(mount_factory, dv, str(cache))
    assert _read(m2.p('INBOX', '%d.eml' % uids[0])) == raw
    assert 'another user may write there' in m2.stderr()
    assert 'without a disk cache' in m2.stderr()


def _listing_commands(stderr):
    """The listing commands in an imapfs -d trace, as sent."""
    out = []
    for line in stderr.splitlines():
        mt = re.search(r'debug: C[0-9]+: \S+ (UID FETCH \S+ \(UID FLAGS[^)]*\).*|'
                       r'UID SEARCH RETURN.*|STATUS .*)$', line)
        if mt:
            out.append(mt.group(1))
    return out


def _meta_seen(m, box):
    """{uid: (size, mtime, flags)} as ls -l and getfattr see the mailbox."""
    out = {}
    for name in os.listdir(m.p(box)):
        if not name.endswith('.eml'):
            continue
        p = m.p(box, name)
        st = os.stat(p)
        flags = tuple(sorted(os.getxattr(p, 'user.imap.flags').decode().split()))
        out[int(name[:-4])] = (st.st_size, int(st.st_mtime), flags)
    return out


def _meta_server(dv, box):
    c = dovecot.imap_client(dv)
    try:
        meta = dovecot.fetch_meta(c, box)
    finally:
        c.logout()
    return {uid: (size, int(date), tuple(sorted(f for f in flags if f != '\\Recent')))
            for uid, (size, date, flags) in meta.items()}


def test_remount_lists_from_disk_and_asks_only_what_changed(dovecot_factory, mount_factory,
                                                            tmp_path):
    """A listing is kept on disk with its HIGHESTMODSEQ: the next mount shows
    it after asking only what changed meanwhile (RFC 7162 CHANGEDSINCE, the
    new UIDs, ESEARCH of the UIDs still there), never the whole mailbox, and
    what it shows is exactly the server's: messages added, expunged and
    reflagged by another client while unmounted included. Unchanged, a
    remount asks nothing but STATUS."""
    dv = dovecot_factory()
    rnd = random.Random(7)
    raws = [dovecot.make_message('kept %d' % i, 'body %d\n' % i * rnd.randint(1, 40),
                                 msgid='<kept-%d@imapfs.test>' % i) for i in range(400)]
    uids = dovecot.append_many(dv, 'INBOX', [(r, None, ['\\Seen'] if i % 3 == 0 else None)
                                             for i, r in enumerate(raws)])
    cache = str(tmp_path / 'cache')
    m = _mount(mount_factory, dv, cache, debug=True)
    before = _received(m)
    first = _meta_seen(m, 'INBOX')
    full_bytes = _received(m) - before
    assert first == _meta_server(dv, 'INBOX')
    m.stop()

    # Another client changes the mailbox while nothing is mounted.
    c = dovecot.imap_client(dv)
    try:
        added = [dovecot.append(c, 'INBOX', dovecot.make_message('new %d' % i, 'new\n'),
                                flags=['$New'])
                 for i in range(3)]
        dovecot.select(c, 'INBOX', readonly=False)
        gone = [uids[5], uids[100], uids[101], uids[399]]
        typ, _ = c.uid('STORE', ','.join(map(str, gone)), '+FLAGS.SILENT', '(\\Deleted)')
        assert typ == 'OK'
        typ, _ = c.expunge()
        assert typ == 'OK'
        typ, _ = c.uid('STORE', '%d,%d' % (uids[7], uids[200]), 'FLAGS.SILENT',
                       '(\\Flagged $Work)')
        assert typ == 'OK'
    finally:
        c.logout()

    m2 = _mount(mount_factory, dv, cache, debug=True)
    before = _received(m2)
    second = _meta_seen(m2, 'INBOX')
    delta_bytes = _received(m2) - before
    want = _meta_server(dv, 'INBOX')
    assert second == want
    assert set(added) <= set(second) and not set(gone) & set(second)
    assert second[uids[7]][2] == ('$Work', '\\Flagged')
    cmds = _listing_commands(m2.stderr())
    print('listing 400 messages: %d bytes; after changes on a remount: %d bytes; commands %s'
          % (full_bytes, delta_bytes, cmds))
    assert not [x for x in cmds if x.startswith('UID FETCH 1:* ')], cmds
    assert any('CHANGEDSINCE' in x for x in cmds), cmds
    assert any(x.startswith('UID FETCH %d:* ' % (uids[-1] + 1)) for x in cmds), cmds
    assert any(x.startswith('UID SEARCH RETURN (ALL)') for x in cmds), cmds
    assert delta_bytes < full_bytes // 4, (delta_bytes, full_bytes)
    m2.stop()

    m3 = _mount(mount_factory, dv, cache, debug=True)
    assert _meta_seen(m3, 'INBOX') == want
    cmds = [x for x in _listing_commands(m3.stderr()) if not x.startswith('STATUS')]
    assert not cmds, cmds


def test_damaged_or_stale_listing_is_not_used(dovecot_factory, mount_factory, tmp_path):
    """A kept listing that is damaged (a byte changed, cut short) is refused
    whole with a warning, and one of a mailbox since deleted and created
    again (new UIDVALIDITY) is not used: the mailbox is listed afresh and
    shows exactly what the server has."""
    dv = dovecot_factory()
    raws = [dovecot.make_message('d %d' % i, 'text %d\n' % i) for i in range(50)]
    dovecot.append_many(dv, 'INBOX', [(r, None, None) for r in raws])
    cache = str(tmp_path / 'cache')
    m = _mount(mount_factory, dv, cache)
    assert _meta_seen(m, 'INBOX') == _meta_server(dv, 'INBOX')
    m.stop()
    kept = [os.path.join(dp, f) for dp, _, fs in os.walk(cache) if dp.endswith('listings')
            for f in fs if f != 'tree']
    assert len(kept) == 1, kept
    data = _read(kept[0])

    for damaged in (data[:100] + bytes([data[100] ^ 1]) + data[101:], data[:len(data) // 2]):
        with open(kept[0], 'wb') as f:
            f.write(damaged)
        m = _mount(mount_factory, dv, cache, debug=True)
        assert _meta_seen(m, 'INBOX') == _meta_server(dv, 'INBOX')
        assert 'listing of mailbox INBOX kept in the disk cache is damaged' in m.stderr()
        assert any(x.startswith('UID FETCH 1:* ') for x in _listing_commands(m.stderr()))
        m.stop()

    c = dovecot.imap_client(dv)
    try:
        dovecot.create_mailbox(c, 'Box')
    finally:
        c.logout()
    dovecot.append_many(dv, 'Box', [(r, None, None) for r in raws[:10]])
    m = _mount(mount_factory, dv, cache)
    assert len(os.listdir(m.p('Box'))) == 20
    m.stop()
    c = dovecot.imap_client(dv)
    try:
        assert c.delete('Box')[0] == 'OK'
        time.sleep(1.1)   # Dovecot's UIDVALIDITY is a time
        dovecot.create_mailbox(c, 'Box')
    finally:
        c.logout()
    other = [dovecot.make_message('other %d' % i, 'other\n') for i in range(3)]
    dovecot.append_many(dv, 'Box', [(r, None, None) for r in other])
    m = _mount(mount_factory, dv, cache)
    assert _meta_seen(m, 'Box') == _meta_server(dv, 'Box')
    assert [_read(m.p('Box', '%d.eml' % u)) for u in sorted(_meta_seen(m, 'Box'))] == other


def test_mount_while_server_unreachable_shows_what_is_kept(dovecot_factory, mount_factory,
                                                          tmp_path):
    """Mounting while the server cannot be reached (a train, a VPN down)
    works when a cache was kept: the tree and listings as last seen,
    messages read before readable, the rest EIO, a change journaled, and
    once the server answers again everything reads and the change is made. Without anything
    kept, the mount fails with the connection error."""
    dv = dovecot_factory()
    c = dovecot.imap_client(dv)
    try:
        dovecot.create_mailbox(c, 'Work')
    finally:
        c.logout()
    raws = _corpus(8, seed=3, box_sizes=(3000,))
    uids = dovecot.append_many(dv, 'INBOX', [(r, None, None) for r in raws])
    work = [dovecot.make_message('work %d' % i, 'w\n') for i in range(4)]
    work_uids = dovecot.append_many(dv, 'Work', [(r, None, None) for r in work])
    cache = str(tmp_path / 'cache')
    m = _mount(mount_factory, dv, cache, 'timeout=3')
    for uid, raw in reversed(list(zip(uids[:3], raws[:3]))):   # downwards: nothing ahead
        assert _read(m.p('INBOX', '%d.eml' % uid)) == raw
    names = {box: sorted(os.listdir(m.p(box))) for box in ('INBOX', 'Work')}
    top = sorted(os.listdir(m.path))
    m.stop()
    dv.stop()

    with pytest.raises(Exception):
        _mount(mount_factory, dv, str(tmp_path / 'empty'), 'timeout=3')

    m = _mount(mount_factory, dv, cache, 'timeout=3')
    assert 'showing what the disk cache holds' in m.stderr()
    assert sorted(os.listdir(m.path)) == top
    for box in ('INBOX', 'Work'):
        got, exc, _ = bounded(20, lambda: sorted(os.listdir(m.p(box))))
        assert exc is None and got == names[box], (box, exc)
    for uid, raw in zip(uids[:3], raws[:3]):
        got, exc, _ = bounded(20, _read, m.p('INBOX', '%d.eml' % uid))
        assert exc is None and got == raw, (uid, exc)
    got, exc, _ = bounded(20, _read, m.p('INBOX', '%d.eml' % uids[6]))
    assert isinstance(exc, OSError) and exc.errno == errno.EIO, exc
    # A change is journaled (disconnected mode, test_offline.py) and shown at once.
    got, exc, _ = bounded(20, os.mkdir, m.p('New'))
    assert exc is None, exc
    assert 'New' in os.listdir(m.path)

    dv.start()
    deadline = time.monotonic() + 30
    while True:
        got, exc, _ = bounded(20, _read, m.p('INBOX', '%d.eml' % uids[6]))
        if exc is None or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert exc is None and got == raws[6], exc
    assert _read(m.p('Work', '%d.eml' % work_uids[0])) == work[0]
    deadline = time.monotonic() + 30
    while int(os.getxattr(m.path, 'user.imapfs.pending')) and time.monotonic() < deadline:
        time.sleep(0.2)
    c = dovecot.imap_client(dv)
    try:
        assert 'New' in {name for name, _, _ in dovecot.list_mailboxes(c)}
    finally:
        c.logout()


def test_refusals_never_fall_back_to_the_cache(tls_server, test_ca, mount_factory, tmp_path):
    """Only an unreachable server mounts from the cache: a certificate that
    is not trusted, or a wrong password, fails the mount as ever, whatever
    the cache holds."""
    cache = str(tmp_path / 'cache')
    url = 'imaps://%s@localhost:%d' % (tls_server.user, tls_server.imaps_port)
    m = mount_factory(url, ['cafile=' + test_ca.ca_cert, 'cache_dir=' + cache],
                      password=tls_server.password)
    assert 'INBOX' in os.listdir(m.path)
    assert os.listdir(m.p('INBOX'))
    m.stop()
    # what an offline mount would start from is there: only the refusal stops it
    assert [f for dp, _, fs in os.walk(cache) if dp.endswith('listings') for f in fs
            if f == 'tree'], 'no tree kept'
    for opts, password, word in ((['cache_dir=' + cache], tls_server.password, 'certificate'),
                                 (['cafile=' + test_ca.ca_cert, 'cache_dir=' + cache],
                                  'not-' + tls_server.password, 'authentication')):
        bad = mount_factory(url, opts, password=password, start=False)
        rc, _secs, was_mounted = bad.run_to_exit(15.0)
        assert rc not in (None, 0) and not was_mounted, bad.stderr()
        assert word in bad.stderr().lower(), bad.stderr()
        assert 'disk cache holds' not in bad.stderr()
