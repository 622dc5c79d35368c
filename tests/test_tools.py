# SPDX-License-Identifier: GPL-2.0-or-later
"""Ordinary tools never eat mail (issue 13): rm moves to Trash, rm -r of a
mailbox, editors that unlink and recreate (vim), cp -f onto a message, sed -i
and perl -pi; each result checked on the server, message by message.

Every test has a private Dovecot; the mount is imapfs's default (rm to
Trash) unless the test says otherwise.
"""

import os
import stat
import subprocess
import time

import pytest

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


def rm_r_to_trash(dv, m, raws, keep):
    """rm -r of Box: quiet, exit 0, Box gone from the server and the mount,
    every message of it in Trash once, Keep untouched."""
    r = run(['rm', '-r', m.p('Box')])
    assert r.returncode == 0, 'rm -r exited %d: %s' % (r.returncode, r.stderr.decode())
    assert r.stderr == b'', r.stderr
    assert 'Box' not in server_boxes(dv)
    assert bodies_of(state(dv, 'Trash')) == sorted(raws)
    assert bodies_of(state(dv, 'Keep')) == keep
    assert not os.path.exists(m.p('Box'))


def test_rm_r_of_a_mailbox_moves_everything_to_trash(dovecot_factory, mount_factory):
    dv = make_server(dovecot_factory, ['Box', 'Keep'])
    raws = [msg('rr-%d' % i) for i in range(6)] + [multipart('rr')]
    seed(dv, 'Box', raws)
    keep = [msg('keep')]
    seed(dv, 'Keep', keep)
    m = mount(mount_factory, dv)
    assert len(os.listdir(m.p('Box', '7.parts'))) >= 3
    rm_r_to_trash(dv, m, raws, keep)


def test_rm_r_of_a_big_mailbox_moves_in_batches(dovecot_factory, mount_factory):
    """rm -r of hundreds: after the first few, the removals are journaled and
    go out as UID MOVE over sets; rmdir waits for them, so when rm -r exits
    the server holds everything in Trash, once."""
    n = 240
    dv = make_server(dovecot_factory, ['Box', 'Keep'])
    raws = [msg('big-%d' % i) for i in range(n)]
    seed(dv, 'Box', raws)
    keep = [msg('keep')]
    seed(dv, 'Keep', keep)
    m = mount(mount_factory, dv, '-d')
    assert len([f for f in os.listdir(m.p('Box')) if f.endswith('.eml')]) == n
    rm_r_to_trash(dv, m, raws, keep)
    assert int(os.getxattr(m.path, 'user.imapfs.pending')) == 0
    moves = sum(1 for line in m.stderr().splitlines() if ' UID MOVE ' in line and ': C' in line)
    print('rm -r of %d: %d UID MOVE commands' % (n, moves))
    assert moves < n / 4, moves


def test_rm_of_many_without_rmdir_reaches_the_server(dovecot_factory, mount_factory):
    """rm Box/*.eml: the same batches without an rmdir to wait for: the folder
    reads empty at once, and the server holds the result soon after."""
    n = 60
    dv = make_server(dovecot_factory, ['Box'])
    raws = [msg('many-%d' % i) for i in range(n)]
    seed(dv, 'Box', raws)
    m = mount(mount_factory, dv)
    files = sorted(f for f in os.listdir(m.p('Box')) if f.endswith('.eml'))
    r = run(['rm'] + [m.p('Box', f) for f in files])
    assert r.returncode == 0, r.stderr
    assert [f for f in os.listdir(m.p('Box')) if f.endswith('.eml')] == []
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and int(os.getxattr(m.path, 'user.imapfs.pending')):
        time.sleep(0.05)
    assert int(os.getxattr(m.path, 'user.imapfs.pending')) == 0
    assert state(dv, 'Box') == {}
    assert bodies_of(state(dv, 'Trash')) == sorted(raws)


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


def test_cp_a_out_and_back_in_keeps_the_mail(dovecot_factory, mount_factory, tmp_path):
    """cp -a copies extended attributes: a message copied out carries
    user.mime_type and the flags, and copying it back in with cp -a
    (which then tries to set them) succeeds and files one message."""
    dv = make_server(dovecot_factory, ['Box', 'Other'])
    raw = msg('cp-a round trip')
    seed(dv, 'Box', [raw])
    m = mount(mount_factory, dv)
    out = tmp_path / 'out'
    out.mkdir()
    r = run(['cp', '-a', m.p('Box', '1.eml'), str(out) + '/'])
    assert r.returncode == 0, r.stderr
    assert (out / '1.eml').read_bytes() == raw
    assert os.getxattr(str(out / '1.eml'), 'user.mime_type') == b'message/rfc822'
    r = run(['cp', '-a', str(out / '1.eml'), m.p('Other') + '/'])
    assert r.returncode == 0, r.stderr
    assert bodies_of(state(dv, 'Other')) == [raw]
    assert bodies_of(state(dv, 'Box')) == [raw]


# --------------------------------------------------------------------------
# dot files stay local

def test_dot_files_stay_local(dovecot_factory, mount_factory):
    dv = make_server(dovecot_factory, ['Box'])
    raw = msg('dot-1')
    seed(dv, 'Box', [raw])
    before = state(dv, 'Box')
    boxes_before = server_boxes(dv)
    m = mount(mount_factory, dv)
    # files in a mailbox and at the root: write, read back, append, rename, unlink
    for d in (m.p('Box'), m.path):
        for name in ('.directory', '.DS_Store', '._1.eml', '.1.eml.swp'):
            p = os.path.join(d, name)
            with open(p, 'wb') as f:
                f.write(b'[Desktop Entry]\nIcon=folder\n')
            with open(p, 'ab') as f:
                f.write(b'more\n')
            assert read(p) == b'[Desktop Entry]\nIcon=folder\nmore\n'
            assert os.stat(p).st_size == 33
        assert {'.directory', '.DS_Store', '._1.eml', '.1.eml.swp'} <= set(os.listdir(d))
        os.rename(os.path.join(d, '.1.eml.swp'), os.path.join(d, '.1.eml.swo'))
        os.unlink(os.path.join(d, '.1.eml.swo'))
        assert '.1.eml.swo' not in os.listdir(d)
    # a file manager's trash at the root, as the freedesktop spec lays it out
    trash = m.p('.Trash-0')
    os.mkdir(trash, 0o700)
    os.mkdir(os.path.join(trash, 'files'))
    os.mkdir(os.path.join(trash, 'info'))
    with open(os.path.join(trash, 'info', 'note.txt.trashinfo'), 'w') as f:
        f.write('[Trash Info]\nPath=/x/note.txt\nDeletionDate=2024-01-01T00:00:00\n')
    with open(os.path.join(trash, 'files', 'note.txt'), 'w') as f:
        f.write('a note\n')
    os.rename(os.path.join(trash, 'files', 'note.txt'), os.path.join(trash, 'files', 'n2.txt'))
    assert sorted(os.listdir(trash)) == ['files', 'info']
    assert os.listdir(os.path.join(trash, 'files')) == ['n2.txt']
    r = run(['find', trash, '-type', 'f'])
    assert sorted(r.stdout.decode().split()) == sorted([
        os.path.join(trash, 'files', 'n2.txt'),
        os.path.join(trash, 'info', 'note.txt.trashinfo')])
    r = run(['rm', '-r', trash])
    assert r.returncode == 0, r.stderr
    assert not os.path.exists(trash)
    # nothing of it reached the server
    assert server_boxes(dv) == boxes_before
    assert state(dv, 'Box') == before
    assert eml_names(m.p('Box')) == {'1.eml'}


def test_server_mailboxes_with_a_dot_are_the_servers(dovecot_factory, mount_factory):
    dv = make_server(dovecot_factory, ['.hidden'])
    raw = msg('hidden-1')
    seed(dv, '.hidden', [raw])
    m = mount(mount_factory, dv)
    assert '.hidden' in os.listdir(m.path)
    assert read(m.p('.hidden', '1.eml')) == raw
    # a plain mkdir of a dot name stays local
    os.mkdir(m.p('.local'))
    assert '.local' not in server_boxes(dv)
    # -o dotfiles=server is the way to make a mailbox whose name begins with '.'
    m2 = mount(mount_factory, dv, 'dotfiles=server')
    os.mkdir(m2.p('.server'))
    assert '.server' in server_boxes(dv)
    for _ in range(300):  # the first mount sees it within the live view's second
        if '.server' in os.listdir(m.path):
            break
        time.sleep(0.01)
    assert '.server' in os.listdir(m.path)


def test_local_file_renamed_to_a_plain_name_becomes_a_message(dovecot_factory, mount_factory):
    dv = make_server(dovecot_factory, ['Box'])
    m = mount(mount_factory, dv)
    raw = msg('renamed-in')
    tmp = m.p('Box', '.new.eml.X1b2c3')
    with open(tmp, 'wb') as f:
        f.write(raw)
    os.utime(tmp, (1600000000, 1600000000))
    assert state(dv, 'Box') == {}
    os.rename(tmp, m.p('Box', 'new.eml'))
    st = state(dv, 'Box')
    assert bodies_of(st) == [raw]
    (uid, v), = st.items()
    assert v.date == 1600000000
    assert read(m.p('Box', 'new.eml')) == raw
    assert os.stat(m.p('Box', 'new.eml')).st_mtime == 1600000000
    assert not os.path.exists(tmp)
    # what is no mail stays where it is, refused
    bad = m.p('Box', '.picture')
    with open(bad, 'wb') as f:
        f.write(b'\x89PNG\r\n\x1a\n' + os.urandom(2000))
    expect_errno(errno.EINVAL, os.rename, bad, m.p('Box', 'picture.eml'))
    assert os.path.exists(bad)
    assert bodies_of(state(dv, 'Box')) == [raw]


# --------------------------------------------------------------------------
# only mail becomes mail

def test_what_is_no_mail_is_refused_at_close(dovecot_factory, mount_factory, tmp_path):
    dv = make_server(dovecot_factory, ['Box'])
    m = mount(mount_factory, dv)
    png = tmp_path / 'p.png'
    png.write_bytes(b'\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR' + os.urandom(4000))
    rnd = tmp_path / 'random.bin'
    rnd.write_bytes(os.urandom(1 << 20))
    text = tmp_path / 'notes.txt'
    text.write_bytes(b'just some notes\nwithout any header\n')
    for src in (png, rnd, text):
        r = run(['cp', str(src), m.p('Box') + '/'])
        assert r.returncode != 0, '%s was accepted' % src.name
        assert b'Invalid argument' in r.stderr, r.stderr
        assert not os.path.exists(m.p('Box', src.name))
    assert state(dv, 'Box') == {}
    assert 'is not a mail message' in m.stderr()


def test_lf_only_mail_is_stored_with_crlf(dovecot_factory, mount_factory, tmp_path):
    dv = make_server(dovecot_factory, ['Box'])
    m = mount(mount_factory, dv)
    lf = msg('lf-only').replace(b'\r\n', b'\n')
    src = tmp_path / 'lf.eml'
    src.write_bytes(lf)
    r = run(['cp', str(src), m.p('Box') + '/'])
    assert r.returncode == 0, r.stderr
    assert bodies_of(state(dv, 'Box')) == [lf.replace(b'\n', b'\r\n')]


def test_touch_leaves_an_empty_file_that_becomes_mail_when_written(dovecot_factory,
                                                                     mount_factory):
    dv = make_server(dovecot_factory, ['Box'])
    m = mount(mount_factory, dv)
    p = m.p('Box', 'new.eml')
    r = run(['touch', p])
    assert r.returncode == 0, r.stderr
    assert os.path.exists(p) and os.stat(p).st_size == 0
    assert 'new.eml' in os.listdir(m.p('Box'))
    assert state(dv, 'Box') == {}
    raw = msg('touched')
    with open(p, 'wb') as f:
        f.write(raw)
    assert bodies_of(state(dv, 'Box')) == [raw]
    assert read(p) == raw


def test_two_writers_of_one_new_name_never_mix(dovecot_factory, mount_factory):
    dv = make_server(dovecot_factory, ['Box'])
    m = mount(mount_factory, dv)
    p = m.p('Box', 'same.eml')
    a, b = msg('writer-a', 'A' * 5000 + '\n'), msg('writer-b', 'B' * 5000 + '\n')
    fa = open(p, 'wb')
    fa.write(a[:100])
    fa.flush()
    _, exc, _ = bounded_open_write(p, b)
    fa.write(a[100:])
    fa.close()
    got = bodies_of(state(dv, 'Box'))
    assert a in got
    for body in got:
        assert body in (a, b), 'a message mixing both writers: %r' % body[:200]
    if exc is not None:
        assert isinstance(exc, OSError) and exc.errno == errno.EEXIST, exc


def bounded_open_write(path, data):
    from conftest import bounded

    def w():
        with open(path, 'wb') as f:
            f.write(data)
    return bounded(30, w)


# --------------------------------------------------------------------------
# changes that cannot apply say so

def test_chmod_chown_and_touch_d_of_a_message_are_eperm(dovecot_factory, mount_factory):
    dv = make_server(dovecot_factory, ['Box'])
    seed(dv, 'Box', [msg('attr-1')], dates=[1500000000])
    m = mount(mount_factory, dv)
    p = m.p('Box', '1.eml')
    mode = os.stat(p).st_mode & 0o7777
    expect_errno(errno.EPERM, os.chmod, p, 0o600)
    expect_errno(errno.EPERM, os.chown, p, 12345, -1)
    expect_errno(errno.EPERM, os.utime, p, (1400000000, 1400000000))
    # touch opens for writing first (EACCES, as for every message) and says so
    r = run(['touch', '-d', '2001-01-01', p])
    assert r.returncode != 0, r.stderr
    os.chmod(p, mode)                               # no change: fine
    os.utime(p, (1500000000, 1500000000))           # its own date: fine
    assert os.stat(p).st_mtime == 1500000000
    assert state(dv, 'Box')[1].date == 1500000000


# --------------------------------------------------------------------------
# editors and in-place tools: the original stays recoverable in Trash, and
# what they wrote is a new message

def check_replaced(dv, m, box, old, new, name='1.eml'):
    """box holds new (once) and not old; Trash holds old; ls agrees: the
    edited file keeps its name (the new message was written under it)."""
    st = state(dv, box)
    assert bodies_of(st) == [new], 'Box: %r' % [v.body[:80] for v in st.values()]
    assert bodies_of(state(dv, 'Trash')) == [old]
    assert eml_names(m.p(box)) == {name}
    assert read(m.p(box, name)) == new


def test_vim_wq_bang_of_a_message(dovecot_factory, mount_factory):
    dv = make_server(dovecot_factory, ['Box'])
    old = msg('vim-1')
    seed(dv, 'Box', [old])
    m = mount(mount_factory, dv)
    p = m.p('Box', '1.eml')
    # vim -es with vim's defaults (as a user without a vimrc has them): the
    # write path of :wq!, and its swap file .1.eml.swp beside the message
    r = run(['vim', '-es', '-u', 'DEFAULTS', '-i', 'NONE', '-c', '%s/Message /Edited /',
             '-c', 'wq!', p])
    assert r.returncode == 0, (r.returncode, r.stdout, r.stderr)
    check_replaced(dv, m, 'Box', old, old.replace(b'Message ', b'Edited '))
    assert not [n for n in os.listdir(m.p('Box')) if n.endswith('.swp')]


def test_vim_interactive_wq_bang(dovecot_factory, mount_factory, tmp_path):
    """vim in a terminal (script(1) gives it one): :wq! on a message."""
    dv = make_server(dovecot_factory, ['Box'])
    old = msg('vim-tty')
    seed(dv, 'Box', [old])
    m = mount(mount_factory, dv)
    p = m.p('Box', '1.eml')
    keys = tmp_path / 'keys'
    keys.write_bytes(b':%s/Message /Typed /\r:wq!\r')
    r = subprocess.run(['script', '-qec', 'vim -u DEFAULTS -i NONE %s < %s' % (p, keys), '/dev/null'],
                       stdin=subprocess.DEVNULL, capture_output=True, timeout=60,
                       env=dict(os.environ, TERM='xterm', LC_ALL='C'))
    assert r.returncode == 0, r.stderr
    check_replaced(dv, m, 'Box', old, old.replace(b'Message ', b'Typed '))


@pytest.mark.parametrize('tool', ['sed', 'perl'])
def test_in_place_editing_of_a_message(tool, dovecot_factory, mount_factory):
    """sed -i writes a temporary and renames it over the message; perl -pi
    removes the message and writes the name again."""
    dv = make_server(dovecot_factory, ['Box'])
    old = msg('%s-1' % tool)
    seed(dv, 'Box', [old])
    m = mount(mount_factory, dv)
    argv = {'sed': ['sed', '-i', 's/Message /Edited /'],
            'perl': ['perl', '-pi', '-e', 's/Message /Edited /']}[tool]
    r = run(argv + [m.p('Box', '1.eml')])
    assert r.returncode == 0, r.stderr
    check_replaced(dv, m, 'Box', old, old.replace(b'Message ', b'Edited '))


# --------------------------------------------------------------------------
# rsync

def rsync_source(tmp_path, n=6):
    src = tmp_path / 'export'
    src.mkdir()
    raws = {}
    for i in range(n):
        raw = msg('rsync-%d' % i, 'exported %d\n' % i + 'line\n' * (i * 50))
        f = src / ('mail-%02d.eml' % i)
        f.write_bytes(raw)
        os.chmod(f, 0o600)                        # as mail files in a Maildir are
        os.utime(f, (1650000000 + i * 3600, 1650000000 + i * 3600))
        raws[f.name] = raw
    return src, raws


def rsync(src, dst, *extra):
    r = run(['rsync', '-a', '--itemize-changes'] + list(extra) + [str(src) + '/', dst + '/'])
    assert r.returncode == 0, 'rsync exited %d: %s' % (r.returncode, r.stderr.decode())
    return [line for line in r.stdout.decode().splitlines() if line.strip()]


def check_rsynced(dv, m, box, raws):
    st = state(dv, box)
    assert bodies_of(st) == sorted(raws.values()), 'server holds %d messages' % len(st)
    by_body = {v.body: v for v in st.values()}
    for i, (name, raw) in enumerate(sorted(raws.items())):
        assert by_body[raw].date == 1650000000 + i * 3600, name  # mtime -> INTERNALDATE
        assert read(m.p(box, name)) == raw
        assert os.stat(m.p(box, name)).st_mtime == 1650000000 + i * 3600
    assert sorted(n for n in os.listdir(m.p(box)) if n.endswith('.eml')) == sorted(raws)


@pytest.mark.parametrize('made_by', ['rsync', 'server'])
def test_rsync_a_three_times_transfers_once(made_by, dovecot_factory, mount_factory, tmp_path):
    """rsync -a of rw------- mail files into a mailbox rsync makes itself
    (or one the server has): the second run in the same mount and the
    third after a remount transfer nothing and change nothing."""
    dv = make_server(dovecot_factory, ['Box'] if made_by == 'server' else [])
    src, raws = rsync_source(tmp_path)
    cache = tmp_path / 'cache'
    m = mount(mount_factory, dv, 'cache_dir=%s' % cache)
    first = rsync(src, m.p('Box'))
    assert len([x for x in first if x.startswith('>f')]) == len(raws), first
    check_rsynced(dv, m, 'Box', raws)
    for name in raws:
        assert stat.S_IMODE(os.stat(m.p('Box', name)).st_mode) == 0o600, name
    again = rsync(src, m.p('Box'))
    assert [x for x in again if not x.startswith('.d')] == [], again
    check_rsynced(dv, m, 'Box', raws)
    m.stop()
    m2 = mount(mount_factory, dv, 'cache_dir=%s' % cache)
    third = rsync(src, m2.p('Box'))
    assert [x for x in third if not x.startswith('.d')] == [], third
    check_rsynced(dv, m2, 'Box', raws)
    # nothing but rsync's own temporaries ever went local, and none is left
    assert not [n for n in os.listdir(m2.p('Box')) if n.startswith('.')]


def test_rsync_delete_removes_only_what_the_source_lacks(dovecot_factory, mount_factory,
                                                          tmp_path):
    """--delete with the .parts views excluded (the way the man page gives):
    exit 0, the message the source lacks and a stranger go to Trash, every
    message the source holds stays; run again, nothing to do."""
    dv = make_server(dovecot_factory, ['Box'])
    other = msg('not-in-export')
    seed(dv, 'Box', [other])                      # UID 1, listed as 1.eml
    src, raws = rsync_source(tmp_path)
    m = mount(mount_factory, dv)
    rsync(src, m.p('Box'))
    gone = sorted(raws)[2]
    (src / gone).unlink()
    kept = {k: v for k, v in raws.items() if k != gone}
    out = rsync(src, m.p('Box'), '--delete', '--exclude=*.parts')
    assert sorted(x.split(None, 1)[1] for x in out if x.startswith('*deleting')) == \
        sorted(['1.eml', gone]), out
    assert bodies_of(state(dv, 'Box')) == sorted(kept.values())
    assert bodies_of(state(dv, 'Trash')) == sorted([other, raws[gone]])
    assert [x for x in rsync(src, m.p('Box'), '--delete', '--exclude=*.parts')
            if not x.startswith('.d')] == []


def test_rsync_delete_plain_never_removes_what_the_source_holds(dovecot_factory,
                                                                 mount_factory, tmp_path):
    """Plain --delete also tries to remove the .parts views, which cannot be
    removed (EPERM, rsync exits 23 and says so); every message the source
    holds stays, and what it removes goes to Trash."""
    dv = make_server(dovecot_factory, ['Box'])
    other = msg('stranger')
    seed(dv, 'Box', [other])
    src, raws = rsync_source(tmp_path, n=4)
    m = mount(mount_factory, dv)
    rsync(src, m.p('Box'))
    r = run(['rsync', '-a', '--delete', str(src) + '/', m.p('Box') + '/'])
    assert r.returncode == 23, (r.returncode, r.stderr)
    assert b'Operation not permitted' in r.stderr
    assert bodies_of(state(dv, 'Box')) == sorted(raws.values())
    assert bodies_of(state(dv, 'Trash')) == [other]


# --------------------------------------------------------------------------
# clear errors

def test_append_into_a_mailbox_deleted_meanwhile_is_enoent(dovecot_factory, mount_factory):
    dv = make_server(dovecot_factory, ['Box'])
    m = mount(mount_factory, dv)
    fd = os.open(m.p('Box', 'late.eml'), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    os.write(fd, msg('late'))
    with dovecot.imap_client(dv) as c:
        typ, data = c.delete('Box')
        assert typ == 'OK', data
    expect_errno(errno.ENOENT, os.close, fd, what='close() after the mailbox went')
    assert 'Box' not in server_boxes(dv)


def test_mount_point_that_is_a_file_is_refused(dovecot_factory, mount_factory, imapfs_bin,
                                               tmp_path):
    dv = make_server(dovecot_factory)
    f = tmp_path / 'plain-file'
    f.write_text('not a directory\n')
    r = subprocess.run([imapfs_bin, '-f', dv.url('imap'), str(f), '-o', 'tls=none'],
                       capture_output=True, timeout=30,
                       env=dict(os.environ, IMAPFS_PASSWORD=dv.password))
    assert r.returncode == 1
    assert b'is not a directory' in r.stderr, r.stderr
    assert f.read_text() == 'not a directory\n'
    with open('/proc/self/mountinfo') as mi:
        assert str(f) not in mi.read()


def test_bad_arguments_are_refused_before_connecting(imapfs_bin, tmp_path):
    """Port 1 of 127.0.0.1 refuses connections: a message about that would
    mean imapfs dialled before looking at its arguments."""
    mp = tmp_path / 'mnt'
    mp.mkdir()
    env = dict(os.environ, IMAPFS_PASSWORD='x')
    cases = [
        (['-o', 'tls=none,no_such_option=1'], b'unknown option'),
        (['-o', 'cafile=%s' % (tmp_path / 'missing.pem')], b'No such file or directory'),
        (['-o', 'cafile=%s' % tmp_path], b'is a directory'),
        (['-o', 'tls=none,password_file=%s' % tmp_path], b'is a directory'),
    ]
    for extra, want in cases:
        url = 'imaps://a@127.0.0.1:1' if 'cafile' in extra[1] else 'imap://a@127.0.0.1:1'
        r = subprocess.run([imapfs_bin, '-f', url, str(mp)] + extra, capture_output=True,
                           timeout=30, env=env)
        assert r.returncode == 1, (extra, r.returncode)
        assert want in r.stderr, (extra, r.stderr)
        assert b'cannot connect' not in r.stderr, (extra, r.stderr)


def test_inbox_links_and_long_names(dovecot_factory, mount_factory):
    dv = make_server(dovecot_factory, ['Box'])
    seed(dv, 'INBOX', [msg('in-1')])
    m = mount(mount_factory, dv)
    # INBOX is case-insensitive: mkdir says it exists, and ls agrees
    expect_errno(errno.EEXIST, os.mkdir, m.p('inbox'))
    assert sorted(n for n in os.listdir(m.p('inbox')) if n.endswith('.eml')) == ['1.eml']
    # no links in mail
    r = run(['ln', '-s', 'elsewhere', m.p('Box', 'link')])
    assert r.returncode != 0 and b'Operation not permitted' in r.stderr, r.stderr
    r = run(['ln', m.p('INBOX', '1.eml'), m.p('Box', 'hard.eml')])
    assert r.returncode != 0 and b'Operation not permitted' in r.stderr, r.stderr
    # a name the server finds too long: ENAMETOOLONG, said as such
    long_name = 'é' * 120                          # 240 bytes; longer on the wire
    expect_errno(errno.ENAMETOOLONG, os.mkdir, m.p(long_name))
    assert not [b for b in server_boxes(dv) if b.startswith('é')]


def test_df_is_fresh_after_an_append(dovecot_factory, mount_factory, tmp_path):
    from test_write import QUOTA_CONF
    dv = make_server(dovecot_factory, extra_conf=QUOTA_CONF % 1024)
    m = mount(mount_factory, dv)
    before = os.statvfs(m.path)
    src = tmp_path / 'big.eml'
    src.write_bytes(msg('df', ('y' * 70 + '\n') * 3000))   # about 216 KB
    r = run(['cp', str(src), m.p('INBOX') + '/'])
    assert r.returncode == 0, r.stderr
    after = os.statvfs(m.path)
    used = (before.f_bfree - after.f_bfree) * after.f_frsize
    assert used >= 200 * 1024, 'df: %d bytes more used right after a 216 KB APPEND' % used


def test_a_removed_message_leaves_the_disk_cache(dovecot_factory, mount_factory, tmp_path):
    dv = make_server(dovecot_factory, ['Box'])
    seed(dv, 'Box', [msg('cached', 'body\n' * 2000), msg('other')])
    cache = tmp_path / 'cache'
    m = mount(mount_factory, dv, 'cache_dir=%s' % cache, 'delete=expunge')

    def bodies():
        found = []
        for root, dirs, files in os.walk(cache):
            if 'listings' in root.split(os.sep):
                continue
            found += [f for f in files if len(f) >= 64]
        return found
    def settles(want):
        # bodies are written by imapfs's own thread, just after the read
        for _ in range(100):
            if want(bodies()):
                return True
            time.sleep(0.05)
        return False
    assert bodies() == []
    read(m.p('Box', '1.eml'))
    assert settles(lambda b: len(b) == 1)
    os.unlink(m.p('Box', '1.eml'))
    assert settles(lambda b: b == [])


def test_debug_log_has_one_response_a_line(dovecot_factory, mount_factory):
    dv = make_server(dovecot_factory, ['Box'])
    seed(dv, 'Box', [msg('d-%d' % i) for i in range(5)])
    m = mount_factory(dv.url('imap'), ['tls=none'], password=dv.password, debug=True)
    assert len([n for n in os.listdir(m.p('Box')) if n.endswith('.eml')]) == 5
    log = m.stderr()
    fetches = [line for line in log.splitlines() if ' FETCH (UID ' in line and 'S' in line]
    assert len(fetches) >= 5, log[-3000:]
    # before, a read's worth of responses came as one line: "* 1 FETCH (...)* 2 FETCH (...)A7 OK"
    for line in log.splitlines():
        assert line.count('* ') <= 1, line
        assert not ('FETCH' in line and ' OK ' in line and line.index('FETCH') < line.index(' OK ')), line


def test_a_mailbox_directory_is_dated_by_its_newest_message(dovecot_factory, mount_factory):
    """A file manager sorting folders by date shows the active ones first: a
    listed mailbox's mtime is its newest message's INTERNALDATE, and follows
    a message moved in."""
    dv = make_server(dovecot_factory, ['Old', 'New'])
    seed(dv, 'Old', [msg('old-1'), msg('old-2')], dates=[1500000000, 1600000000])
    seed(dv, 'New', [msg('new-1')], dates=[1700000000])
    m = mount(mount_factory, dv)
    for box in ('Old', 'New'):
        os.listdir(m.p(box))
    assert os.stat(m.p('Old')).st_mtime == 1600000000
    assert os.stat(m.p('New')).st_mtime == 1700000000
    r = run(['mv', m.p('New', '1.eml'), m.p('Old') + '/'])
    assert r.returncode == 0, r.stderr
    assert os.stat(m.p('Old')).st_mtime == 1700000000
