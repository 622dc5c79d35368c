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
import subprocess
import time

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
        m.kill()
        assert wait_for(lambda: m.proc.poll() is not None, 10)
        m.stop()
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
