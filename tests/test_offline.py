# SPDX-License-Identifier: GPL-2.0-or-later
"""Disconnected mode (RFC 4549), as far as it goes: flag changes made while
the server is down are journaled in the cache directory, show at once, survive
kill -9 and a remount made while the server is still down, and are made on
the server exactly as the user meant once it answers again, by the rules of
the user guide:

- applied as +FLAGS/-FLAGS of what the user changed, so what another client
  changed meanwhile stays;
- dropped, with a log line, for a message expunged meanwhile;
- not applied, with a log line, where the mailbox has another UIDVALIDITY
  (its UIDs may name other mail now).

user.imapfs.pending on the mount root counts what waits; -o
offline_writes=no keeps the old behaviour (EIO). Against a real Dovecot that
the test stops and starts."""

import errno
import os
import re
import subprocess
import time

import pytest

import dovecot
from conftest import bounded

FLAGS = 'user.imap.flags'


def flags_of(path):
    return set(os.getxattr(path, FLAGS).decode().split()) - {'\\Recent'}


def pending(m):
    return int(os.getxattr(m.path, 'user.imapfs.pending'))


def server_flags(dv, box):
    c = dovecot.imap_client(dv)
    try:
        return {uid: set(meta[2]) - {'\\Recent'}
                for uid, meta in dovecot.fetch_meta(c, box).items()}
    finally:
        c.logout()


def seeded_server(dovecot_factory):
    dv = dovecot_factory()
    c = dovecot.imap_client(dv)
    try:
        dovecot.create_mailbox(c, 'Box')
        dovecot.create_mailbox(c, 'Other')
    finally:
        c.logout()
    dovecot.append_many(dv, 'Box', [
        (dovecot.make_message('one', 'first\n'), None, None),
        (dovecot.make_message('two', 'second\n'), None, '\\Seen'),
        (dovecot.make_message('three', 'third\n'), None, '$Work'),
    ])
    dovecot.append_many(dv, 'Other', [(dovecot.make_message('other', 'x\n'), None, None)])
    return dv


def mount(mount_factory, dv, cache, *opts, **kw):
    return mount_factory(dv.url('imap'), ['tls=none', 'timeout=3', 'cache_dir=%s' % cache]
                         + list(opts), password=dv.password, **kw)


def kill_9(m):
    """SIGKILL imapfs, and free its mount (m.stop() forces the unmount)."""
    m.kill()
    assert wait_for(lambda: m.proc.poll() is not None, 10)
    m.stop()


def wait_for(cond, secs):
    deadline = time.monotonic() + secs
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.1)
    return cond()


def test_flags_changed_offline_are_made_once_the_server_answers(dovecot_factory,
                                                                mount_factory, tmp_path):
    dv = seeded_server(dovecot_factory)
    cache = tmp_path / 'cache'
    m = mount(mount_factory, dv, cache)
    box, other = m.p('Box'), m.p('Other')
    assert sorted(os.listdir(other)) == ['1.eml', '1.parts']
    assert flags_of(os.path.join(box, '3.eml')) == {'$Work'}
    assert pending(m) == 0
    dv.stop()
    try:
        # Each is accepted at once and reads back as set; the first with the
        # tool a user types (attr's setfattr).
        r = subprocess.run(['setfattr', '-n', FLAGS, '-v', '\\Seen \\Flagged',
                            os.path.join(box, '1.eml')], capture_output=True, text=True,
                           timeout=30)
        assert r.returncode == 0, r.stderr
        assert flags_of(os.path.join(box, '1.eml')) == {'\\Seen', '\\Flagged'}
        for name, text, want in (('2.eml', '', set()),
                                 ('3.eml', '$Work \\Answered', {'$Work', '\\Answered'})):
            _, exc, _ = bounded(20, os.setxattr, os.path.join(box, name), FLAGS, text.encode())
            assert exc is None, (name, exc)
            assert flags_of(os.path.join(box, name)) == want
        os.setxattr(os.path.join(other, '1.eml'), FLAGS, b'\\Flagged')
        assert pending(m) == 4
        r = subprocess.run(['getfattr', '--only-values', '-n', 'user.imapfs.pending', m.path],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 0 and r.stdout == '4', (r.stdout, r.stderr)

        # kill -9 right after: nothing is lost.
        kill_9(m)
        m2 = mount(mount_factory, dv, cache)
        assert pending(m2) == 4
        assert flags_of(m2.p('Box', '1.eml')) == {'\\Seen', '\\Flagged'}
        assert flags_of(m2.p('Box', '2.eml')) == set()
        assert flags_of(m2.p('Other', '1.eml')) == {'\\Flagged'}
        assert m2.stop() == 0
    finally:
        dv.start()

    # Meanwhile another client: a flag of its own on 3 and $Work taken off,
    # 2 expunged, Other deleted and made again (a new UIDVALIDITY, UID 1 again).
    c = dovecot.imap_client(dv)
    try:
        dovecot.select(c, 'Box', readonly=False)
        assert c.uid('STORE', '3', '+FLAGS', '($Other)')[0] == 'OK'
        assert c.uid('STORE', '3', '-FLAGS', '($Work)')[0] == 'OK'
        assert c.uid('STORE', '2', '+FLAGS', '(\\Deleted)')[0] == 'OK'
        assert c.expunge()[0] == 'OK'
        c.close()
        assert c.delete('Other')[0] == 'OK'
        dovecot.create_mailbox(c, 'Other')
    finally:
        c.logout()
    dovecot.append_many(dv, 'Other', [(dovecot.make_message('new', 'y\n'), None, None)])
    old_other = server_flags(dv, 'Other')

    m3 = mount(mount_factory, dv, cache, debug=True)
    assert wait_for(lambda: pending(m3) == 0, 20), 'still pending: %d' % pending(m3)
    assert server_flags(dv, 'Box') == {1: {'\\Seen', '\\Flagged'},
                                       3: {'$Other', '\\Answered'}}
    assert server_flags(dv, 'Other') == old_other == {1: set()}
    assert wait_for(lambda: flags_of(m3.p('Box', '3.eml')) == {'$Other', '\\Answered'}, 5)
    log = m3.stderr()
    assert 'UID 2 in Box was expunged meanwhile' in log, log[-3000:]
    assert 'Other has another UIDVALIDITY now' in log, log[-3000:]
    assert 'carrying out 3 pending change(s)' in log or \
        'carrying out 4 pending change(s)' in log, log[-3000:]


def test_offline_writes_no_keeps_eio(dovecot_factory, mount_factory, tmp_path):
    dv = seeded_server(dovecot_factory)
    m = mount(mount_factory, dv, tmp_path / 'cache', 'offline_writes=no')
    assert 'user.imapfs.error' not in os.listxattr(m.path)
    path = m.p('Box', '1.eml')
    assert flags_of(path) == set()
    dv.stop()
    try:
        _, exc, _ = bounded(20, os.setxattr, path, FLAGS, b'\\Seen')
        assert isinstance(exc, OSError) and exc.errno == errno.EIO, exc
        assert pending(m) == 0
    finally:
        dv.start()
    assert server_flags(dv, 'Box')[1] == set()


def subjects(dv, box):
    """Sorted subjects of the messages of box on the server (a duplicate shows twice)."""
    c = dovecot.imap_client(dv)
    try:
        if dovecot.select(c, box) == 0:
            return []
        return sorted(re.search(rb'^Subject: (.*?)\r$', raw, re.M).group(1).decode()
                      for raw in dovecot.fetch_bodies(c).values())
    finally:
        c.logout()


def mailboxes(dv):
    c = dovecot.imap_client(dv)
    try:
        return {name for name, _, _ in dovecot.list_mailboxes(c)}
    finally:
        c.logout()


def emls(path):
    return sorted(n for n in os.listdir(path) if n.endswith('.eml'))


def test_rm_and_mv_offline_are_carried_out_once(dovecot_factory, mount_factory, tmp_path):
    """rm (to Trash) and mv between mailboxes with the server down: accepted,
    gone from the listing at once, kept across kill -9 and a remount made
    while it is still down, and carried out once it answers: one moved by
    another client meanwhile (as if imapfs had made it just before a crash)
    is not moved twice, one expunged meanwhile is dropped with a log line, and
    one whose target was deleted goes to Recovered."""
    dv = seeded_server(dovecot_factory)
    c = dovecot.imap_client(dv)
    try:
        for box in ('Trash', 'Archive', 'Doomed'):
            dovecot.create_mailbox(c, box)
    finally:
        c.logout()
    dovecot.append_many(dv, 'Box', [(dovecot.make_message(s, s + '\n'), None, None)
                                     for s in ('four', 'five', 'six')])
    cache = tmp_path / 'cache'
    m = mount(mount_factory, dv, cache, debug=True)
    box = m.p('Box')
    assert emls(box) == ['%d.eml' % u for u in range(1, 7)]
    for b in ('Trash', 'Archive', 'Doomed'):
        assert emls(m.p(b)) == []
    dv.stop()
    try:
        r = subprocess.run(['rm', os.path.join(box, '1.eml')], capture_output=True, text=True,
                           timeout=30)
        assert r.returncode == 0, r.stderr
        for name, to in (('2.eml', 'Archive'), ('3.eml', 'Doomed'), ('4.eml', 'Archive'),
                         ('5.eml', 'Archive')):
            r = subprocess.run(['mv', os.path.join(box, name), m.p(to) + '/'],
                               capture_output=True, text=True, timeout=30)
            assert r.returncode == 0, (name, r.stderr)
        assert emls(box) == ['6.eml']
        assert pending(m) == 5
        kill_9(m)
        m2 = mount(mount_factory, dv, cache)
        assert pending(m2) == 5
        assert emls(m2.p('Box')) == ['6.eml']
        assert m2.stop() == 0
    finally:
        dv.start()

    # Meanwhile another client: 4 expunged, 5 moved to Archive already, Doomed deleted.
    c = dovecot.imap_client(dv)
    try:
        dovecot.select(c, 'Box', readonly=False)
        assert c.uid('MOVE', '5', 'Archive')[0] == 'OK'
        assert c.uid('STORE', '4', '+FLAGS', '(\\Deleted)')[0] == 'OK'
        assert c.expunge()[0] == 'OK'
        c.close()
        assert c.delete('Doomed')[0] == 'OK'
    finally:
        c.logout()

    m3 = mount(mount_factory, dv, cache, debug=True)
    assert wait_for(lambda: pending(m3) == 0, 20), 'still pending: %d' % pending(m3)
    assert subjects(dv, 'Box') == ['six']
    assert subjects(dv, 'Trash') == ['one']
    assert subjects(dv, 'Archive') == ['five', 'two']
    assert subjects(dv, 'Recovered') == ['three']
    assert 'Doomed' not in mailboxes(dv)
    assert wait_for(lambda: emls(m3.p('Archive')) == ['1.eml', '2.eml'], 5), \
        emls(m3.p('Archive'))
    assert emls(m3.p('Box')) == ['6.eml']
    log = m3.stderr()
    assert 'UID 4 in Box was expunged meanwhile' in log, log[-3000:]
    assert 'UID 5 in Box was expunged meanwhile' in log, log[-3000:]
    assert 'Doomed was deleted meanwhile; 1 message(s) moved there from Box go to Recovered' \
        in log, log[-3000:]
    # The last change not made, on the mount root, as the log says it.
    err = os.getxattr(m3.path, 'user.imapfs.error').decode()
    assert 'was expunged meanwhile' in err and 'is dropped' in err, err


def test_kill_during_replay_of_moves_loses_and_doubles_nothing(dovecot_factory, mount_factory,
                                                               tmp_path):
    """60 moves journaled offline, to two mailboxes in turn (so replay makes
    them in many commands, not one); imapfs killed with SIGKILL as soon as
    replay starts, then mounted again: every message is in its target exactly
    once and nothing else moved."""
    dv = seeded_server(dovecot_factory)
    c = dovecot.imap_client(dv)
    try:
        for box in ('Bulk', 'Odd', 'Even'):
            dovecot.create_mailbox(c, box)
    finally:
        c.logout()
    names = ['bulk %02d' % i for i in range(1, 61)]
    dovecot.append_many(dv, 'Bulk', [(dovecot.make_message(s, s + '\n'), None, None)
                                     for s in names + ['stays']])
    cache = tmp_path / 'cache'
    m = mount(mount_factory, dv, cache)
    bulk = m.p('Bulk')
    assert len(emls(bulk)) == 61
    for box in ('Odd', 'Even'):  # listed once: what offline knows of them
        assert emls(m.p(box)) == []
    dv.stop()
    try:
        r = subprocess.run('for i in {1..60}; do mv %s/$i.eml %s/$(((i %% 2)) && echo Odd || '
                           'echo Even)/ || exit 1; done' % (bulk, m.path), shell=True,
                           executable='/bin/bash', capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        assert emls(bulk) == ['61.eml']
        assert pending(m) == 60
    finally:
        dv.start()
    # Replay starts within a few seconds of the server's return: killed then.
    assert wait_for(lambda: 'carrying out' in m.stderr() or pending(m) < 60, 20)
    kill_9(m)
    moved = len(subjects(dv, 'Odd')) + len(subjects(dv, 'Even'))
    m2 = mount(mount_factory, dv, cache)
    assert wait_for(lambda: pending(m2) == 0, 30), 'still pending: %d' % pending(m2)
    print('killed with %d of 60 moves made' % moved)
    assert subjects(dv, 'Odd') == names[0::2]
    assert subjects(dv, 'Even') == names[1::2]
    assert subjects(dv, 'Bulk') == ['stays']
    assert m2.stop() == 0


# --------------------------------------------------------------------------
# cp in while offline: the bytes journaled, the APPEND made exactly once

def mail(subject, body):
    return ('From: a@example.org\r\nTo: b@example.org\r\nSubject: %s\r\n'
            'Message-ID: <%s@offline.imapfs.test>\r\n\r\n%s\r\n'
            % (subject, subject.replace(' ', '-'), body)).encode()


def write_mail(path, raw):
    with open(path, 'wb') as f:
        f.write(raw)


def mounted_box(dovecot_factory, mount_factory, tmp_path, *opts, **kw):
    """A seeded server, mounted with its cache under tmp_path, Box listed
    (what offline knows of it): (dv, cache, mount, Box's path)."""
    dv = seeded_server(dovecot_factory)
    cache = tmp_path / 'cache'
    m = mount(mount_factory, dv, cache, *opts, **kw)
    box = m.p('Box')
    assert len(emls(box)) == 3
    return dv, cache, m, box


def read_file(path):
    with open(path, 'rb') as f:
        return f.read()


def run(*argv):
    return subprocess.run(list(argv), capture_output=True, text=True, timeout=60)


def dates(dv, box):
    """{subject: INTERNALDATE as seconds} of box on the server."""
    c = dovecot.imap_client(dv)
    try:
        metas = dovecot.fetch_meta(c, box)
        bodies = dovecot.fetch_bodies(c)
        out = {}
        for uid, meta in metas.items():
            raw = bodies[uid]
            subject = re.search(rb'^Subject: (.*?)\r$', raw, re.M).group(1).decode()
            out[subject] = meta[1]
        return out
    finally:
        c.logout()


def test_cp_offline_shows_at_once_and_is_appended_once(dovecot_factory, mount_factory,
                                                       tmp_path):
    src = tmp_path / 'src'
    src.mkdir()
    raws = {'draft-%d.eml' % i: mail('draft %d' % i, 'written on a train %d' % i)
            for i in range(3)}
    for name, raw in raws.items():
        (src / name).write_bytes(raw)
    os.utime(src / 'draft-0.eml', (1500000000, 1500000000))
    dv, _, m, box = mounted_box(dovecot_factory, mount_factory, tmp_path)
    dv.stop()
    try:
        r = subprocess.run(['cp', '-p', str(src / 'draft-0.eml'), box + '/'],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        r = subprocess.run(['cp', str(src / 'draft-1.eml'), str(src / 'draft-2.eml'),
                            box + '/'], capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        assert pending(m) == 3
        # Shown at once under the names written, and reading back their bytes.
        names = os.listdir(box)
        for name, raw in raws.items():
            assert name in names, names
            with open(os.path.join(box, name), 'rb') as f:
                assert f.read() == raw
        assert os.stat(os.path.join(box, 'draft-0.eml')).st_mtime == 1500000000
        assert 'is copied into Box when the server answers' in m.stderr()
    finally:
        dv.start()
    assert wait_for(lambda: pending(m) == 0, 30), 'still pending: %d' % pending(m)
    assert subjects(dv, 'Box') == sorted(['one', 'two', 'three', 'draft 0', 'draft 1',
                                          'draft 2'])
    assert dates(dv, 'Box')['draft 0'] == 1500000000
    # The names written still read as the messages, now from the server.
    for name, raw in raws.items():
        assert wait_for(lambda: os.path.exists(os.path.join(box, name)), 5), name
        with open(os.path.join(box, name), 'rb') as f:
            assert f.read() == raw
    assert len(emls(box)) >= 6
    assert m.stop() == 0


def test_what_was_copied_moved_and_removed_shows_after_an_offline_remount(dovecot_factory,
                                                                         mount_factory,
                                                                         tmp_path):
    """Messages copied in with cp (online, and offline then sent), one moved
    and one removed with mv and rm: the listing kept on disk follows them, so
    a remount made while the server is down shows the folder as the last
    mount left it, and every copy read before reads back from the cache.
    (Our own changes do not rewrite the kept listing one by one; it is
    written at unmount.)"""
    src = tmp_path / 'src'
    src.mkdir()
    raws = {'kept-%d.eml' % i: mail('kept %d' % i, 'copied in %d\r\n' % i * 50) for i in range(3)}
    for name, raw in raws.items():
        (src / name).write_bytes(raw)
    dv, cache, m, box = mounted_box(dovecot_factory, mount_factory, tmp_path)
    r = subprocess.run(['cp', str(src / 'kept-0.eml'), str(src / 'kept-1.eml'), box + '/'],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    # The third is copied in while the server is down, and sent when it is back.
    dv.stop()
    try:
        r = subprocess.run(['cp', str(src / 'kept-2.eml'), box + '/'], capture_output=True,
                           text=True, timeout=60)
        assert r.returncode == 0, r.stderr
    finally:
        dv.start()
    assert wait_for(lambda: pending(m) == 0, 30), 'still pending: %d' % pending(m)
    assert subjects(dv, 'Box') == sorted(['one', 'two', 'three', 'kept 0', 'kept 1', 'kept 2'])
    # Read once from the server: kept in the cache.
    for name, raw in raws.items():
        assert read_file(os.path.join(box, name)) == raw, name
    subprocess.run(['mv', os.path.join(box, '2.eml'), m.p('Other') + '/'], check=True,
                   timeout=60)
    subprocess.run(['rm', os.path.join(box, '1.eml')], check=True, timeout=60)
    shown = emls(box)
    assert '1.eml' not in shown and '2.eml' not in shown, shown
    assert m.stop() == 0
    dv.stop()
    m = mount(mount_factory, dv, cache)
    assert emls(m.p('Box')) == shown
    for name, raw in raws.items():
        assert read_file(os.path.join(m.p('Box'), name)) == raw, name
    assert m.stop() == 0


def test_cp_offline_survives_kill_9_and_is_appended_once(dovecot_factory, mount_factory,
                                                          tmp_path):
    dv, cache, m, box = mounted_box(dovecot_factory, mount_factory, tmp_path)
    dv.stop()
    try:
        write_mail(os.path.join(box, 'kept.eml'), mail('kept', 'journaled then killed'))
        assert pending(m) == 1
        kill_9(m)
        # Mounted again with the server still away: shown, and reading back.
        m1 = mount(mount_factory, dv, cache)
        assert pending(m1) == 1
        assert 'kept.eml' in os.listdir(m1.p('Box'))
        assert read_file(m1.p('Box', 'kept.eml')) == mail('kept', 'journaled then killed')
        assert m1.stop() == 0
    finally:
        dv.start()
    m2 = mount(mount_factory, dv, cache)
    assert wait_for(lambda: pending(m2) == 0, 30), 'still pending: %d' % pending(m2)
    assert subjects(dv, 'Box') == sorted(['one', 'two', 'three', 'kept'])
    assert not [f for f in os.listdir(cache) if 'journal-append-' in f] and \
        not [f for d, _, fs in os.walk(cache) for f in fs if f.startswith('journal-append-')]
    assert m2.stop() == 0


@pytest.mark.parametrize('point', ['append-tried', 'append-ok'])
def test_kill_during_replay_of_a_copy_appends_it_once(dovecot_factory, mount_factory,
                                                      tmp_path, point):
    """imapfs dies (SIGKILL, IMAPFS_TEST_KILL_AT) just before the APPEND
    is sent, or just after the server's OK and before the journal records
    it; the next mount sends it, or finds it there, but never twice."""
    dv, cache, m, box = mounted_box(dovecot_factory, mount_factory, tmp_path,
                                    env=dict(os.environ, IMAPFS_TEST_KILL_AT=point))
    dv.stop()
    try:
        write_mail(os.path.join(box, 'copy.eml'), mail('copy', 'killed during its replay'))
        assert pending(m) == 1
    finally:
        dv.start()
    assert wait_for(lambda: m.proc.poll() is not None, 30), 'imapfs was not killed'
    m.stop()
    on_server = subjects(dv, 'Box').count('copy')
    assert on_server == (1 if point == 'append-ok' else 0)
    m2 = mount(mount_factory, dv, cache, debug=True)
    assert wait_for(lambda: pending(m2) == 0, 30), 'still pending: %d' % pending(m2)
    assert subjects(dv, 'Box') == sorted(['one', 'two', 'three', 'copy'])
    if point == 'append-ok':
        assert 'sent before a crash); not sent again' in m2.stderr(), m2.stderr()[-2000:]
    assert m2.stop() == 0


def test_journal_past_its_bound_refuses_with_enospc(dovecot_factory, mount_factory, tmp_path):
    """-o cache_size bounds the journal, bytes of copies included: past it a
    change fails with ENOSPC and a log line, and what was journaled before
    is all carried out once the server answers."""
    dv, cache, m, box = mounted_box(dovecot_factory, mount_factory, tmp_path, 'cache_size=64K')
    small = mail('small', 'fits')
    big = mail('big', 'x' * 100000)
    dv.stop()
    try:
        write_mail(os.path.join(box, 'small.eml'), small)
        assert pending(m) == 1

        _, exc, _ = bounded(30, write_mail, os.path.join(box, 'big.eml'), big)
        assert isinstance(exc, OSError) and exc.errno == errno.ENOSPC, exc
        assert 'the journal is full' in m.stderr()
        assert pending(m) == 1
        assert 'big.eml' not in os.listdir(box)
        os.setxattr(os.path.join(box, '1.eml'), FLAGS, b'\\Flagged')
        assert pending(m) == 2
    finally:
        dv.start()
    assert wait_for(lambda: pending(m) == 0, 30), 'still pending: %d' % pending(m)
    assert subjects(dv, 'Box') == sorted(['one', 'two', 'three', 'small'])
    assert server_flags(dv, 'Box')[1] == {'\\Flagged'}
    assert m.stop() == 0


def test_mv_offline_into_a_folder_never_listed_fails_plainly(dovecot_factory, mount_factory,
                                                            tmp_path):
    """The mailbox tree is known, the target's messages never were: mv looks
    the target name up first, and what is there cannot be told, so it fails
    with EIO (not a made-up "no such file"), and nothing moves or waits."""
    dv = seeded_server(dovecot_factory)
    c = dovecot.imap_client(dv)
    try:
        dovecot.create_mailbox(c, 'Never')
    finally:
        c.logout()
    cache = tmp_path / 'cache'
    m = mount(mount_factory, dv, cache)
    assert 'Never' in os.listdir(m.path)
    assert len(emls(m.p('Box'))) == 3
    dv.stop()
    try:
        r = subprocess.run(['mv', m.p('Box', '1.eml'), m.p('Never') + '/'],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode != 0
        assert 'Input/output error' in r.stderr, r.stderr
        assert emls(m.p('Box')) == ['1.eml', '2.eml', '3.eml']
        assert pending(m) == 0
    finally:
        dv.start()
    assert subjects(dv, 'Box') == ['one', 'three', 'two']
    assert subjects(dv, 'Never') == []
    assert m.stop() == 0


def test_kill_after_the_first_of_two_alike_copies_sends_the_second(dovecot_factory,
                                                                   mount_factory, tmp_path):
    """Two copies of the same size and no Message-ID, replayed in one batch;
    imapfs killed right after the server's OK to the first: the next mount
    finds the first (by its bytes) and must not take it, nor another
    client's message of that size, for the second. A third, removed before
    the server is back, is never sent."""
    dv, cache, m, box = mounted_box(dovecot_factory, mount_factory, tmp_path,
                                    env=dict(os.environ, IMAPFS_TEST_KILL_AT='append-ok'))
    alike = [('From: a@example.org\r\nSubject: alike %d\r\n\r\nsame size\r\n' % i).encode()
             for i in (1, 2)]
    dv.stop()
    try:
        for i, raw in enumerate(alike):
            write_mail(os.path.join(box, 'alike-%d.eml' % i), raw)
        write_mail(os.path.join(box, 'second-thoughts.eml'), mail('dropped', 'never sent'))
        assert pending(m) == 3
        assert len(list(cache.glob('*/journal-append-*'))) == 3
        # Journaled copies are as written: not rewritten meanwhile.
        _, exc, _ = bounded(20, open, os.path.join(box, 'alike-0.eml'), 'r+b')
        assert isinstance(exc, OSError) and exc.errno == errno.EACCES, exc
        # rm of one: taken back from the journal, its bytes with it.
        r = run('rm', os.path.join(box, 'second-thoughts.eml'))
        assert r.returncode == 0, r.stderr
        assert 'second-thoughts.eml' not in os.listdir(box)
        assert pending(m) == 2
        assert len(list(cache.glob('*/journal-append-*'))) == 2
    finally:
        dv.start()
    assert wait_for(lambda: m.proc.poll() is not None, 30), 'imapfs was not killed'
    m.stop()
    assert subjects(dv, 'Box').count('alike 1') == 1
    # Meanwhile another client's message of that size, no Message-ID either:
    # not to be taken for the second copy.
    dovecot.append_many(dv, 'Box', [(alike[0].replace(b'alike 1', b'alike 9'), None, None)])
    m2 = mount(mount_factory, dv, cache)
    assert wait_for(lambda: pending(m2) == 0, 30), 'still pending: %d' % pending(m2)
    assert subjects(dv, 'Box') == sorted(['one', 'two', 'three', 'alike 1', 'alike 2',
                                          'alike 9'])
    assert m2.stop() == 0


def test_mailboxes_made_removed_renamed_offline_and_once_back(dovecot_factory, mount_factory,
                                                              tmp_path):
    """mkdir (and mkdir -p), rmdir and mv of folders with the server down:
    shown at once, kept across kill -9 and a remount made while it is still
    down, a renamed folder's mail still readable, and made on the server
    once it answers, by the user guide's rules: a folder that got mail from
    another client meanwhile is not deleted, a rename whose new name another
    client took is not made; each with a log line, and the folder shows
    again."""
    dv = seeded_server(dovecot_factory)
    c = dovecot.imap_client(dv)
    try:
        for box in ('Empty', 'Old', 'Contested', 'Doomed'):
            dovecot.create_mailbox(c, box)
    finally:
        c.logout()
    dovecot.append_many(dv, 'Old', [(mail('kept', 'filed long ago'), None, None)])
    dovecot.append_many(dv, 'Doomed', [(mail('doomed %d' % i, 'x'), None, None) for i in (1, 2)])
    cache = tmp_path / 'cache'
    m = mount(mount_factory, dv, cache, debug=True)
    for box in ('Box', 'Other', 'Empty', 'Old', 'Contested', 'Doomed'):
        os.listdir(m.p(box))
    assert read_file(m.p('Old', '1.eml')) == mail('kept', 'filed long ago')
    write_mail(m.p('Old', 'letter.eml'), mail('letter', 'named by its writer'))
    # Mounted again, so that the letter is read from the server (and kept), not from our copy.
    assert m.stop() == 0
    m = mount(mount_factory, dv, cache, debug=True)
    assert read_file(m.p('Old', 'letter.eml')) == mail('letter', 'named by its writer')
    dv.stop()
    try:
        # A file manager's "New Folder", named by the user, then filled.
        r = run('mkdir', m.p('New Folder'))
        assert r.returncode == 0, r.stderr
        r = run('mv', m.p('New Folder'), m.p('Projects'))
        assert r.returncode == 0, r.stderr
        write_mail(m.p('Projects', 'plan.eml'), mail('plan', 'written offline'))
        r = run('mkdir', '-p', m.p('Deep', 'Er'))
        assert r.returncode == 0, r.stderr
        for box in ('Empty', 'Contested'):
            r = run('rmdir', m.p(box))
            assert r.returncode == 0, (box, r.stderr)
        # Never a folder of mail, offline or not.
        r = run('rmdir', m.p('Box'))
        assert r.returncode != 0 and 'not empty' in r.stderr, r.stderr
        for old, new in (('Old', 'Renamed'), ('Other', 'Clash')):
            r = run('mv', m.p(old), m.p(new))
            assert r.returncode == 0, (old, r.stderr)
        write_mail(m.p('Clash', 'filed.eml'), mail('filed', 'into the renamed folder'))
        # A folder deleted whole: its mail to Trash (made for it), then the folder.
        r = run('rm', '-r', m.p('Doomed'))
        assert r.returncode == 0, r.stderr
        # A folder whose messages have changes waiting keeps its name meanwhile.
        r = run('mv', m.p('Projects'), m.p('Elsewhere'))
        assert r.returncode != 0, r.stderr
        top = set(os.listdir(m.path))
        assert {'Projects', 'Deep', 'Renamed', 'Clash', 'Box'} <= top, top
        assert not {'New Folder', 'Empty', 'Contested', 'Old', 'Other', 'Elsewhere',
                    'Doomed'} & top, top
        assert len(emls(m.p('Trash'))) == 0  # moved offline: shown there once made
        assert os.listdir(m.p('Deep')) == ['Er']
        assert 'plan.eml' in os.listdir(m.p('Projects'))
        assert read_file(m.p('Renamed', '1.eml')) == mail('kept', 'filed long ago')
        assert read_file(m.p('Renamed', 'letter.eml')) == mail('letter', 'named by its writer')
        assert pending(m) == 14
        assert 'the mailbox Old is renamed to Renamed when the server answers' in m.stderr()

        kill_9(m)
        m2 = mount(mount_factory, dv, cache)
        assert pending(m2) == 14
        top = set(os.listdir(m2.path))
        assert {'Projects', 'Deep', 'Renamed', 'Clash'} <= top, top
        assert not {'New Folder', 'Empty', 'Contested', 'Old', 'Other', 'Doomed'} & top, top
        assert os.listdir(m2.p('Deep', 'Er')) == []
        assert 'plan.eml' in os.listdir(m2.p('Projects'))
        assert read_file(m2.p('Renamed', '1.eml')) == mail('kept', 'filed long ago')
        assert read_file(m2.p('Renamed', 'letter.eml')) == mail('letter', 'named by its writer')
        assert m2.stop() == 0
    finally:
        dv.start()

    # Meanwhile another client: mail into Contested, and a Clash of its own.
    dovecot.append_many(dv, 'Contested', [(mail('theirs', 'not yours to delete'), None, None)])
    c = dovecot.imap_client(dv)
    try:
        dovecot.create_mailbox(c, 'Clash')
    finally:
        c.logout()

    m3 = mount(mount_factory, dv, cache, debug=True)
    assert wait_for(lambda: pending(m3) == 0, 30), 'still pending: %d' % pending(m3)
    boxes = mailboxes(dv)
    assert {'Projects', 'Deep', 'Deep/Er', 'Renamed', 'Contested', 'Other', 'Clash'} <= boxes, \
        boxes
    assert not {'New Folder', 'Empty', 'Old', 'Elsewhere', 'Doomed'} & boxes, boxes
    assert subjects(dv, 'Trash') == ['doomed 1', 'doomed 2']
    assert subjects(dv, 'Projects') == ['plan']
    assert subjects(dv, 'Renamed') == ['kept', 'letter']
    assert subjects(dv, 'Contested') == ['theirs']
    # Other kept its name, and what was filed into it under the new one is in it.
    assert subjects(dv, 'Other') == ['filed', 'other']
    assert subjects(dv, 'Clash') == []
    log = m3.stderr()
    assert 'the mailbox Contested holds mail now' in log, log[-3000:]
    assert 'a mailbox Clash exists now; Other is not renamed' in log, log[-3000:]
    # The mount shows the server's tree, the folders not removed or renamed back.
    assert wait_for(lambda: {'Contested', 'Other', 'Clash', 'Projects', 'Renamed'}
                    <= set(os.listdir(m3.path)), 10), os.listdir(m3.path)
    assert emls(m3.p('Contested')) == ['1.eml']
    assert m3.stop() == 0
