# SPDX-License-Identifier: GPL-2.0-or-later
"""Ordinary tools never eat mail (issue 13): rm moves to Trash, rm -r of a
mailbox, editors that unlink and recreate (vim), cp -f onto a message, sed -i
and perl -pi; each result checked on the server, message by message.

Every test has a private Dovecot; the mount is imapfs's default (rm to
Trash) unless the test says otherwise.
"""

import os
import subprocess

import dovecot
from test_write import (bodies_of, expect_errno, make_server, mount, msg, names_of,
                        read, run, seed, server_boxes, state, eml_names)

import errno


def multipart(tag):
    return (b'From: x@example.org\r\nTo: y@example.org\r\nSubject: parts %s\r\n'
            b'Message-ID: <parts-%s@tools.imapfs.test>\r\nMIME-Version: 1.0\r\n'
            b'Content-Type: multipart/mixed; boundary="b1"\r\n\r\n'
            b'--b1\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\nhello\r\n'
            b'--b1\r\nContent-Type: application/octet-stream; name="a.bin"\r\n'
            b'Content-Disposition: attachment; filename="a.bin"\r\n'
            b'Content-Transfer-Encoding: base64\r\n\r\nAAECAwQFBgcICQ==\r\n--b1--\r\n'
            % (tag.encode(), tag.encode()))


# --------------------------------------------------------------------------
# rm: to Trash

def test_rm_moves_to_a_trash_made_when_first_needed(dovecot_factory, mount_factory):
    dv = make_server(dovecot_factory, ['A'])
    raws = [msg('t-1'), msg('t-2'), msg('t-3')]
    seed(dv, 'A', raws)
    m = mount(mount_factory, dv)
    assert 'Trash' not in server_boxes(dv)
    r = run(['rm', m.p('A', '1.eml'), m.p('A', '3.eml')])
    assert r.returncode == 0, r.stderr
    assert r.stderr == b''
    a, trash = state(dv, 'A'), state(dv, 'Trash')
    assert sorted(a) == [2] and a[2].body == raws[1]
    assert bodies_of(trash) == sorted([raws[0], raws[2]])
    assert not any('\\Deleted' in v.flags for v in trash.values())
    assert eml_names(m.p('A')) == {'2.eml'}
    assert eml_names(m.p('Trash')) == names_of(trash)
    # rm in Trash expunges that message, and only it
    first = min(trash)
    r = run(['rm', m.p('Trash', '%d.eml' % first)])
    assert r.returncode == 0, r.stderr
    after = state(dv, 'Trash')
    assert sorted(after) == sorted(set(trash) - {first})
    assert state(dv, 'A') == a
    assert eml_names(m.p('Trash')) == names_of(after)


def test_rm_uses_the_special_use_trash(dovecot_factory, mount_factory):
    dv = make_server(dovecot_factory, ['A', 'Deleted Messages'], trash='Deleted Messages')
    with dovecot.imap_client(dv) as c:
        typ, data = c.list('""', '"Deleted Messages"')
        assert typ == 'OK' and b'\\Trash' in data[0], data
    raw = msg('su-1')
    seed(dv, 'A', [raw])
    m = mount(mount_factory, dv)
    r = run(['rm', m.p('A', '1.eml')])
    assert r.returncode == 0, r.stderr
    assert state(dv, 'A') == {}
    assert bodies_of(state(dv, 'Deleted Messages')) == [raw]
    assert 'Trash' not in server_boxes(dv)


def test_rm_r_of_a_mailbox_moves_everything_to_trash(dovecot_factory, mount_factory):
    dv = make_server(dovecot_factory, ['Box', 'Keep'])
    raws = [msg('rr-%d' % i) for i in range(6)] + [multipart('rr')]
    seed(dv, 'Box', raws)
    keep = [msg('keep')]
    seed(dv, 'Keep', keep)
    m = mount(mount_factory, dv)
    assert len(os.listdir(m.p('Box', '7.parts'))) >= 3
    r = run(['rm', '-r', m.p('Box')])
    assert r.returncode == 0, 'rm -r exited %d: %s' % (r.returncode, r.stderr.decode())
    assert r.stderr == b'', r.stderr
    assert 'Box' not in server_boxes(dv)
    assert bodies_of(state(dv, 'Trash')) == sorted(raws)
    assert bodies_of(state(dv, 'Keep')) == keep
    assert not os.path.exists(m.p('Box'))


def test_rm_of_a_message_still_there_leaves_its_parts_view(dovecot_factory, mount_factory):
    dv = make_server(dovecot_factory, ['A'])
    raw = multipart('view')
    seed(dv, 'A', [raw])
    m = mount(mount_factory, dv)
    expect_errno((errno.EPERM, errno.EACCES), os.rmdir, m.p('A', '1.parts'))
    r = run(['rm', '-r', m.p('A', '1.parts')])
    assert r.returncode != 0
    assert bodies_of(state(dv, 'A')) == [raw]
    assert 'Trash' not in server_boxes(dv)


def test_delete_expunge_option(dovecot_factory, mount_factory):
    dv = make_server(dovecot_factory, ['A'])
    seed(dv, 'A', [msg('x-1'), msg('x-2')])
    m = mount(mount_factory, dv, 'delete=expunge')
    r = run(['rm', m.p('A', '1.eml')])
    assert r.returncode == 0, r.stderr
    assert sorted(state(dv, 'A')) == [2]
    assert 'Trash' not in server_boxes(dv)


def test_unknown_delete_option_is_refused(dovecot_factory, mount_factory, imapfs_bin, tmp_path):
    dv = make_server(dovecot_factory)
    r = subprocess.run([imapfs_bin, '-f', dv.url('imap'), str(tmp_path),
                        '-o', 'tls=none,delete=shred'], capture_output=True, timeout=30,
                       env=dict(os.environ, IMAPFS_PASSWORD=dv.password))
    assert r.returncode == 1
    assert b'delete=shred' in r.stderr


# --------------------------------------------------------------------------
# tools that replace a file: the original stays recoverable in Trash

def test_cp_f_onto_another_message_keeps_it_in_trash(dovecot_factory, mount_factory, tmp_path):
    dv = make_server(dovecot_factory, ['Box'])
    old = msg('cpf-old')
    seed(dv, 'Box', [old])
    backup = tmp_path / '1.eml'
    new = msg('cpf-new', 'an unrelated message from a backup\n')
    backup.write_bytes(new)
    m = mount(mount_factory, dv)
    r = run(['cp', '-f', str(backup), m.p('Box') + '/'])
    assert r.returncode == 0, r.stderr
    assert bodies_of(state(dv, 'Box')) == [new]
    assert bodies_of(state(dv, 'Trash')) == [old]
    assert read(m.p('Box', '1.eml')) == new
