# SPDX-License-Identifier: GPL-2.0-or-later
"""Filing mail in bulk (issue 22): mv, cp, rm and xargs -P8 mv of hundreds of
messages with the real tools, and the restore of a folder exported through
the mount; each result checked on the server, message by message: every
message once, where it was sent.

bench/filing.py measures the same work against raw IMAP loops.
"""

import filecmp
import os
import re
import subprocess
import threading
import time

import dovecot
from test_write import (bodies_of, make_server, mount, msg, read, run, seed, state)

N = 240


def raws_of(tag, n=N):
    return [msg('%s-%d' % (tag, i)) for i in range(n)]


def emls(path):
    return sorted((os.path.join(path, f) for f in os.listdir(path) if f.endswith('.eml')),
                  key=lambda p: int(os.path.basename(p).split('.')[0]))


def test_mv_of_many_messages_files_each_once(dovecot_factory, mount_factory):
    dv = make_server(dovecot_factory, ['A', 'B'])
    raws = raws_of('mv')
    seed(dv, 'A', raws)
    seed(dv, 'B', [msg('already-there')])
    m = mount(mount_factory, dv)
    files = emls(m.p('A'))
    assert len(files) == N
    r = run(['mv'] + files + [m.p('B') + '/'])
    assert r.returncode == 0, r.stderr
    assert r.stderr == b''
    assert state(dv, 'A') == {}
    assert bodies_of(state(dv, 'B')) == sorted(raws + [msg('already-there')])
    # The mount agrees at once, and every moved file reads as its message.
    assert emls(m.p('A')) == []
    moved = emls(m.p('B'))
    assert len(moved) == N + 1
    assert sorted(read(p) for p in moved) == sorted(raws + [msg('already-there')])


def test_xargs_P8_mv_files_each_once(dovecot_factory, mount_factory):
    dv = make_server(dovecot_factory, ['A', 'B'])
    raws = raws_of('p8')
    seed(dv, 'A', raws)
    m = mount(mount_factory, dv)
    files = '\0'.join(emls(m.p('A'))).encode()
    r = subprocess.run(['xargs', '-0', '-P8', '-n10', 'mv', '-t', m.p('B')], input=files,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=300)
    assert r.returncode == 0, r.stderr
    assert state(dv, 'A') == {}
    assert bodies_of(state(dv, 'B')) == sorted(raws)
    assert len(emls(m.p('B'))) == N


def test_cp_in_then_rm_of_many(dovecot_factory, mount_factory, tmp_path):
    dv = make_server(dovecot_factory, ['C'])
    raws = raws_of('cp')
    src = tmp_path / 'src'
    src.mkdir()
    for i, raw in enumerate(raws):
        (src / ('mail-%04d.eml' % i)).write_bytes(raw)
    m = mount(mount_factory, dv)
    r = run(['sh', '-c', 'cp "$1"/*.eml "$2"/', 'cp', str(src), m.p('C')])
    assert r.returncode == 0, r.stderr
    assert bodies_of(state(dv, 'C')) == sorted(raws)
    # Listed under the names they were written as, each reading as its file.
    assert sorted(f for f in os.listdir(m.p('C')) if f.endswith('.eml')) == \
        sorted(os.listdir(str(src)))
    for name in os.listdir(str(src)):
        assert read(m.p('C', name)) == (src / name).read_bytes()
    r = run(['sh', '-c', 'rm "$1"/*.eml', 'rm', m.p('C')])
    assert r.returncode == 0, r.stderr
    assert state(dv, 'C') == {}
    assert bodies_of(state(dv, 'Trash')) == sorted(raws)
    assert [f for f in os.listdir(m.p('C')) if f.endswith('.eml')] == []


def test_mv_while_another_client_appends_and_flags(dovecot_factory, mount_factory):
    dv = make_server(dovecot_factory, ['A', 'B'])
    raws = raws_of('churn', 300)
    seed(dv, 'A', raws)
    # Three connections: the tree, listed on a new one every half second
    # (Dovecot), soon has to close an idle one to make room.
    m = mount(mount_factory, dv, 'connections=3', debug=True)
    files = emls(m.p('A'))
    stop = threading.Event()
    added = {'A': [], 'B': []}

    def churn():
        c = dovecot.imap_client(dv)
        try:
            for i in range(2000):
                if stop.is_set():
                    break
                for box in ('A', 'B'):
                    raw = msg('other-%s-%d' % (box, i))
                    c.append(box, None, None, raw)
                    added[box].append(raw)
                    c.select(box)
                    c.uid('STORE', '1:*', '+FLAGS.SILENT' if i % 2 else '-FLAGS.SILENT',
                          '(\\Flagged)')
                    c.close()
        finally:
            c.logout()

    t = threading.Thread(target=churn)
    t.start()
    try:
        r = run(['mv'] + files + [m.p('B') + '/'])
    finally:
        stop.set()
        t.join(60)
    assert r.returncode == 0, r.stderr
    assert added['A'], 'the other client never ran'
    assert bodies_of(state(dv, 'A')) == sorted(added['A'])
    assert bodies_of(state(dv, 'B')) == sorted(raws + added['B'])
    # One mv is one run of moves out of A: they stay on a connection that
    # has A selected. Each time A is selected again (its connection taken
    # for other work, or closed to make room) that connection first
    # receives every flag the other client changed since its last command.
    m.stop()
    with open(m.log_path, 'rb') as f:
        log = f.read()
    moves = re.findall(rb'C(\d+): \S+ UID MOVE ', log)
    during = log[log.index(b' UID MOVE '):log.rindex(b' UID MOVE ')]
    selects = len(re.findall(rb'C\d+: \S+ SELECT A\r?$', during, re.M))
    print('%d UID MOVEs over connections %s; A selected again %d times meanwhile' % (
        len(moves), sorted(set(int(c) for c in moves)), selects))
    assert len(moves) == len(raws)
    assert selects <= 4


def make_used_empty(dv, box, n):
    """A mailbox whose next UID is n + 1 and which holds nothing."""
    seed(dv, box, raws_of('gone-' + box, n))
    with dovecot.imap_client(dv) as c:
        dovecot.select(c, box, readonly=False)
        c.uid('STORE', '1:*', '+FLAGS.SILENT', '(\\Deleted)')
        c.expunge()


def test_a_folder_exported_through_the_mount_copies_back_in_whole(dovecot_factory,
                                                                   mount_factory, tmp_path):
    dv = make_server(dovecot_factory, ['Box', 'Empty'])
    raws = raws_of('export', 30)
    seed(dv, 'Box', raws)
    make_used_empty(dv, 'Empty', 5)
    cache = 'cache_dir=%s' % (tmp_path / 'cache')
    m = mount(mount_factory, dv, cache)
    export = str(tmp_path / 'export')
    r = run(['cp', '-r', m.p('Box'), export])
    assert r.returncode == 0, r.stderr
    names = sorted(f for f in os.listdir(export) if f.endswith('.eml'))
    assert len(names) == 30
    # 1.eml .. 30.eml come in as UIDs 6 .. 35: 6.eml, 7.eml ... of the export
    # must not find the messages made from 1.eml, 2.eml ... in their way.
    r = run(['sh', '-c', 'cp "$1"/*.eml "$2"/', 'cp', export, m.p('Empty')])
    assert r.returncode == 0, r.stderr
    assert bodies_of(state(dv, 'Empty')) == sorted(raws)
    listed = sorted(f for f in os.listdir(m.p('Empty')) if f.endswith('.eml'))
    assert listed == names
    for name in names:
        assert filecmp.cmp(os.path.join(export, name), m.p('Empty', name), shallow=False), name
    # Copying again overwrites nothing and adds nothing: every name is taken.
    r = run(['sh', '-c', 'cp "$1"/*.eml "$2"/', 'cp', export, m.p('Empty')])
    assert r.returncode != 0
    assert bodies_of(state(dv, 'Empty')) == sorted(raws)
    m.stop()
    m = mount(mount_factory, dv, cache)
    assert sorted(f for f in os.listdir(m.p('Empty')) if f.endswith('.eml')) == names
    for name in names:
        assert filecmp.cmp(os.path.join(export, name), m.p('Empty', name), shallow=False), name


def test_a_message_whose_number_another_was_written_as_stays_visible(dovecot_factory,
                                                                     mount_factory, tmp_path):
    """Written as 3.eml while the next UID is 1, a message is 3.eml; when
    another client's message later takes UID 3, it is listed as 3~.eml and
    reads as itself: no mail hidden behind a name."""
    dv = make_server(dovecot_factory, ['Box'])
    m = mount(mount_factory, dv)
    written = msg('written-as-3')
    (tmp_path / '3.eml').write_bytes(written)
    r = run(['cp', str(tmp_path / '3.eml'), m.p('Box') + '/'])
    assert r.returncode == 0, r.stderr
    others = raws_of('other', 3)
    seed(dv, 'Box', others)  # UIDs 2, 3, 4
    deadline = time.monotonic() + 10  # the watcher's news
    while True:
        listed = sorted(f for f in os.listdir(m.p('Box')) if f.endswith('.eml'))
        if len(listed) == 4 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert listed == ['2.eml', '3.eml', '3~.eml', '4.eml']
    assert read(m.p('Box', '3.eml')) == written
    assert read(m.p('Box', '3~.eml')) == others[1]
    assert int(os.getxattr(m.p('Box', '3~.eml'), 'user.imap.uid')) == 3
    # Only a displaced message has such a name: 2~.eml is nothing, and
    # writing it is a new message, never UID 2 replaced.
    assert not os.path.exists(m.p('Box', '2~.eml'))
    (tmp_path / '2~.eml').write_bytes(msg('written-as-2~'))
    r = run(['cp', str(tmp_path / '2~.eml'), m.p('Box') + '/'])
    assert r.returncode == 0, r.stderr
    assert sorted(v.body for v in state(dv, 'Box').values()) == sorted(
        [written, msg('written-as-2~')] + others)


def test_flag_changes_arriving_together_share_commands(dovecot_factory, mount_factory):
    """xargs -P8 setfattr on 200 messages: every message has exactly the
    flags it was given (two different values, interleaved), and the -d
    trace shows fewer UID STOREs than messages: changes waiting together
    went out as one command over their set."""
    dv = make_server(dovecot_factory, ['A'])
    raws = raws_of('flags', 200)
    seed(dv, 'A', raws, flags=['$Other'] * 200)
    m = mount_factory(dv.url('imap'), ['tls=none'], password=dv.password, debug=True)
    files = emls(m.p('A'))
    assert len(files) == 200
    want = {}
    jobs = []
    for i, p in enumerate(files):
        value = '\\Seen' if i % 3 else '\\Flagged $Work'
        want[int(os.path.basename(p).split('.')[0])] = frozenset(value.split())
        jobs.append(value + '\0' + p)
    r = subprocess.run(['xargs', '-0', '-P8', '-n2', 'sh', '-c',
                        'setfattr -n user.imap.flags -v "$1" "$2"', 'set'],
                       input=('\0'.join(jobs)).encode(), stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=300)
    assert r.returncode == 0, r.stderr
    got = {uid: v.flags for uid, v in state(dv, 'A').items()}
    assert got == want
    for p in files[:20]:
        uid = int(os.path.basename(p).split('.')[0])
        assert frozenset(os.getxattr(p, 'user.imap.flags').decode().split()) == want[uid]
    m.stop()
    with open(m.log_path, 'rb') as f:
        stores = len(re.findall(rb'C\d+: \S+ UID STORE \S+ FLAGS\.SILENT', f.read()))
    print('200 flag changes, 8 at a time: %d UID STORE commands' % stores)
    assert 0 < stores < 200
