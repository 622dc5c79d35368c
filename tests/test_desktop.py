# SPDX-License-Identifier: GPL-2.0-or-later
"""Browsing mail as a person does (issue 20): -o names=readable lists each
message as '<date> <sender> - <subject> [<UID>].eml' with its parts
directory beside it. Names are safe, unique and stable (remounts, flag
changes, other clients' mail); <UID>.eml still resolves; mv, rm, cp in,
xattrs and search results work with them; the default stays <UID>.eml.
"""

import os
import subprocess
import time

import dovecot
from test_write import (bodies_of, make_server, mount, msg, read, run, seed, state)

DATE = 'Fri, 01 Mar 2024 11:12:00 +0100'  # 10.12 UTC


def raw(subject=None, sender='Alice Example <alice@example.org>', date=DATE, body='hello\n',
        extra=()):
    h = []
    if sender is not None:
        h.append(b'From: ' + (sender.encode() if isinstance(sender, str) else sender))
    h.append(b'To: bob@example.org')
    if subject is not None:
        h.append(b'Subject: ' + (subject.encode() if isinstance(subject, str) else subject))
    if date is not None:
        h.append(b'Date: ' + date.encode())
    h.extend(extra)
    h.append(b'Message-ID: <%d.%s@desktop.imapfs.test>' % (
        abs(hash((subject, sender, date, body))), body.strip().encode()))
    return b'\r\n'.join(h) + b'\r\n\r\n' + body.replace('\n', '\r\n').encode()


# (raw message, the name it must have without ' [<UID>].eml'), in UID order.
ODD = [
    (raw('Invoice March'), '2024-03-01 10.12 Alice Example - Invoice March'),
    (raw(''), '2024-03-01 10.12 Alice Example - (no subject)'),
    (raw('    '), '2024-03-01 10.12 Alice Example - (no subject)'),
    (raw('=?UTF-8?B?w4ljaGFuZ2Ugw6l0w6k=?=', sender='=?ISO-8859-1?Q?J=F6rg?= <j@x.de>'),
     '2024-03-01 10.12 Jörg - Échange été'),
    (raw('=?KOI8-R?B?8NLJ18XU?=', sender='"=?utf-8?q?Zo=C3=AB?=" <z@x.org>'),
     '2024-03-01 10.12 Zoë - Привет'),
    (raw('=?ISO-2022-JP?B?GyRCRnxLXDhsGyhC?='), '2024-03-01 10.12 Alice Example - 日本語'),
    (raw(b'a/b\\c \x01\x7f tab\there'), '2024-03-01 10.12 Alice Example - a_b\\c tab here'),
    (raw('same'), '2024-03-01 10.12 Alice Example - same'),
    (raw('same', body='another\n'), '2024-03-01 10.12 Alice Example - same'),
    (raw('no date or from', sender=None, date=None), None),  # INTERNALDATE, (no sender)
    (raw('x' * 1000), None),
]


def names_in(path):
    return sorted(os.listdir(path))


def safe(name):
    b = name.encode()
    return (0 < len(b) <= 255 and '/' not in name and not name.startswith('.') and
            not any(ord(c) < 0x20 or ord(c) == 0x7f for c in name))


def mount_readable(mount_factory, dv, *opts):
    return mount(mount_factory, dv, 'names=readable', *opts)


def test_readable_names_of_odd_messages(dovecot_factory, mount_factory):
    dv = make_server(dovecot_factory, ['Box'])
    uids = seed(dv, 'Box', [r for r, _ in ODD],
                dates=[None] * 9 + ['05-Jun-2023 08:09:10 +0200', None])
    m = mount_readable(mount_factory, dv)
    names = names_in(m.p('Box'))
    emls = [n for n in names if n.endswith('.eml')]
    assert len(emls) == len(ODD) and len(names) == 2 * len(ODD)
    assert all(safe(n) for n in names), [n for n in names if not safe(n)]
    by_uid = {int(n.rsplit('[', 1)[1].split(']')[0]): n for n in emls}
    assert sorted(by_uid) == sorted(uids)
    for uid, (r, want) in zip(uids, ODD):
        name = by_uid[uid]
        if want is not None:
            assert name == '%s [%d].eml' % (want, uid)
        # Each reads as its message, and its parts directory sits beside it.
        assert read(m.p('Box', name)) == r
        parts = name[:-len('.eml')] + '.parts'
        assert names.index(parts) == names.index(name) + 1
        assert 'header.txt' in os.listdir(m.p('Box', parts))
    # No Date, no From: the INTERNALDATE (in UTC) and a placeholder.
    assert by_uid[uids[9]] == '2023-06-05 06.09 (no sender) - no date or from [%d].eml' % uids[9]
    # 1,000 characters of subject: cut, the UID kept, and still within 255 bytes.
    long = by_uid[uids[10]]
    assert long.startswith('2024-03-01 10.12 Alice Example - xxxx')
    assert long.endswith(' [%d].eml' % uids[10]) and len(long.encode()) <= 255
    # The two alike differ by UID only.
    assert by_uid[uids[7]] != by_uid[uids[8]]


def test_uid_names_still_resolve(dovecot_factory, mount_factory):
    dv = make_server(dovecot_factory, ['Box'])
    uids = seed(dv, 'Box', [r for r, _ in ODD[:3]])
    m = mount_readable(mount_factory, dv)
    for uid, (r, _) in zip(uids, ODD):
        # Typed before any listing, and again after one.
        assert read(m.p('Box', '%d.eml' % uid)) == r
        assert 'header.txt' in os.listdir(m.p('Box', '%d.parts' % uid))
    names = names_in(m.p('Box'))
    assert not any(n == '%d.eml' % uids[0] for n in names)
    assert os.stat(m.p('Box', '%d.eml' % uids[0])).st_ino == \
        os.stat(m.p('Box', [n for n in names if n.endswith('[%d].eml' % uids[0])][0])).st_ino
    # A readable name typed in a fresh mount (nothing listed yet) resolves too,
    # and one with the wrong headline or UID does not.
    want = '2024-03-01 10.12 Alice Example - Invoice March [%d].eml' % uids[0]
    m.stop()
    m = mount_readable(mount_factory, dv)
    assert read(m.p('Box', want)) == ODD[0][0]
    for wrong in ('2024-03-01 10.12 Alice Example - Invoice April [%d].eml' % uids[0],
                  '2024-03-01 10.12 Alice Example - Invoice March [%d].eml' % uids[1],
                  'Invoice March [%d].eml' % uids[0]):
        assert not os.path.exists(m.p('Box', wrong)), wrong


def test_names_never_change(dovecot_factory, mount_factory):
    dv = make_server(dovecot_factory, ['Box'])
    seed(dv, 'Box', [r for r, _ in ODD])
    m = mount_readable(mount_factory, dv)
    before = names_in(m.p('Box'))
    first = os.path.join(m.p('Box'), before[0])
    # Flags change: the name does not.
    r = run(['setfattr', '-n', 'user.imap.flags', '-v', '\\Seen \\Flagged', first])
    assert r.returncode == 0, r.stderr
    assert os.getxattr(first, 'user.imap.flags') == b'\\Seen \\Flagged'
    assert names_in(m.p('Box')) == before
    # Another client's new mail adds a name and changes none.
    new_uid = seed(dv, 'Box', [raw('from elsewhere')])[0]
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and len(names_in(m.p('Box'))) == len(before):
        time.sleep(0.1)
    after = names_in(m.p('Box'))
    assert sorted(set(after) - set(before)) == [
        '2024-03-01 10.12 Alice Example - from elsewhere [%d].eml' % new_uid,
        '2024-03-01 10.12 Alice Example - from elsewhere [%d].parts' % new_uid]
    # A remount, with its listing kept on disk, and one in another time zone.
    m.stop()
    m = mount_readable(mount_factory, dv)
    assert names_in(m.p('Box')) == after
    m.stop()
    m = mount_factory(dv.url('imap'), ['tls=none', 'names=readable'], password=dv.password,
                      env=dict(os.environ, TZ='Asia/Kolkata'))
    assert names_in(m.p('Box')) == after


def test_default_names_stay_uids(dovecot_factory, mount_factory):
    dv = make_server(dovecot_factory, ['Box'])
    uids = seed(dv, 'Box', [r for r, _ in ODD[:2]])
    m = mount(mount_factory, dv)
    assert names_in(m.p('Box')) == sorted(['%d.eml' % u for u in uids] +
                                          ['%d.parts' % u for u in uids])
    # message/rfc822 for every .eml, as for parts: what a file manager reads.
    assert os.getxattr(m.p('Box', '%d.eml' % uids[0]), 'user.mime_type') == b'message/rfc822'


def test_mv_rm_cp_and_xattrs_with_readable_names(dovecot_factory, mount_factory, tmp_path):
    dv = make_server(dovecot_factory, ['A', 'B'])
    raws = [raw('filing %d' % i, body='body %d\n' % i) for i in range(6)]
    uids = seed(dv, 'A', raws)
    m = mount_readable(mount_factory, dv)
    files = sorted(n for n in os.listdir(m.p('A')) if n.endswith('.eml'))
    assert len(files) == 6
    # mv of two to B: moved on the server, listed there under their new UIDs.
    r = run(['mv', m.p('A', files[0]), m.p('A', files[1]), m.p('B') + '/'])
    assert r.returncode == 0, r.stderr
    b_state = state(dv, 'B')
    assert bodies_of(b_state) == sorted(raws[:2])
    b_names = sorted(n for n in os.listdir(m.p('B')) if n.endswith('.eml'))
    assert b_names == sorted('2024-03-01 10.12 Alice Example - filing %d [%d].eml' % (i, u)
                             for i, u in zip((0, 1), sorted(b_state)))
    for n in b_names:
        assert read(m.p('B', n)) in raws[:2]
    # rm goes to Trash, as everywhere.
    r = run(['rm', m.p('A', files[2])])
    assert r.returncode == 0, r.stderr
    assert bodies_of(state(dv, 'Trash')) == [raws[2]]
    # Flags through the readable name.
    r = run(['setfattr', '-n', 'user.imap.flags', '-v', '$Work', m.p('A', files[3])])
    assert r.returncode == 0, r.stderr
    assert state(dv, 'A')[uids[3]].flags == {'$Work'}
    # cp in: the file keeps the name it was written as (rsync and cp -n find it again).
    src = tmp_path / 'note.eml'
    src.write_bytes(raw('copied in'))
    r = run(['cp', str(src), m.p('B') + '/'])
    assert r.returncode == 0, r.stderr
    assert raw('copied in') in bodies_of(state(dv, 'B'))
    assert read(m.p('B', 'note.eml')) == raw('copied in')
    # cp of a readable-named file out and back in as a copy: a new message.
    out = tmp_path / 'out'
    out.mkdir()
    r = run(['cp', m.p('A', files[4]), str(out) + '/'])
    assert r.returncode == 0, r.stderr
    assert (out / files[4]).read_bytes() == raws[4]
    r = run(['cp', str(out / files[4]), m.p('B') + '/'])
    assert r.returncode == 0, r.stderr
    assert bodies_of(state(dv, 'B')).count(raws[4]) == 1
    # rm -r of a mailbox listed with readable names: quiet, exit 0, all in Trash.
    r = run(['rm', '-r', m.p('A')])
    assert r.returncode == 0 and r.stderr == b'', r.stderr
    assert not os.path.exists(m.p('A'))
    assert sorted(bodies_of(state(dv, 'Trash'))) == sorted(raws[2:])


def test_search_results_have_readable_names(dovecot_factory, mount_factory):
    dv = make_server(dovecot_factory, ['Box'])
    uids = seed(dv, 'Box', [raw('apples'), raw('pears'), raw('apples again')])
    m = mount_readable(mount_factory, dv)
    d = m.p('Box', '.search', 'subject:apples')
    names = names_in(d)
    assert names == sorted([
        '2024-03-01 10.12 Alice Example - apples [%d].eml' % uids[0],
        '2024-03-01 10.12 Alice Example - apples [%d].parts' % uids[0],
        '2024-03-01 10.12 Alice Example - apples again [%d].eml' % uids[2],
        '2024-03-01 10.12 Alice Example - apples again [%d].parts' % uids[2]])
    assert read(os.path.join(d, names[0])) == raw('apples')
    assert 'header.txt' in os.listdir(os.path.join(d, names[1]))


def test_find_and_grep_walk_readable_names(dovecot_factory, mount_factory):
    dv = make_server(dovecot_factory, ['Box'])
    seed(dv, 'Box', [raw('walk %d' % i, body='needle %d\n' % i) for i in range(20)])
    m = mount_readable(mount_factory, dv)
    r = subprocess.run(['grep', '-rl', '--include=*.eml', 'needle 7', m.p('Box')],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    assert r.returncode == 0, r.stderr
    hit = r.stdout.decode().strip()
    assert hit.endswith('Alice Example - walk 7 [8].eml'), hit
    r = subprocess.run(['find', m.p('Box'), '-name', '*.txt'], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=60)
    assert r.returncode == 0 and r.stderr == b'', r.stderr
    assert len([l for l in r.stdout.decode().splitlines() if l.endswith('header.txt')]) == 20


def test_same_names_offline_from_the_disk_cache(dovecot_factory, mount_factory, tmp_path):
    """Readable names are kept beside the listing: a mount made while the
    server is down lists the very same names, and reads what was read."""
    dv = make_server(dovecot_factory, ['Box'])
    seed(dv, 'Box', [r for r, _ in ODD[:5]])
    cache = str(tmp_path / 'cache')
    m = mount_readable(mount_factory, dv, 'cache_dir=' + cache, 'timeout=3')
    names = names_in(m.p('Box'))
    first = [n for n in names if n.endswith('.eml')][0]
    body = read(m.p('Box', first))
    m.stop()
    dv.stop()
    m = mount_factory(dv.url('imap'), ['tls=none', 'names=readable', 'cache_dir=' + cache,
                                       'timeout=3'], password=dv.password)
    assert 'showing what the disk cache holds' in m.stderr()
    assert names_in(m.p('Box')) == names
    assert read(m.p('Box', first)) == body
