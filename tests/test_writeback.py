# SPDX-License-Identifier: GPL-2.0-or-later
"""Write-behind (-o writeback, issue 22): mv, rm, rm -r and flag changes
return once the change is in the journal (the one disconnected mode keeps),
and the journal drains in batched UID commands. With the real tools; each
result checked on the server, message by message: every message once, where
it was sent, and nothing else touched."""

import os
import subprocess
import time

from test_write import bodies_of, make_server, mount, msg, read, run, seed, state

N = 300


def emls(path):
    return sorted((os.path.join(path, f) for f in os.listdir(path) if f.endswith('.eml')),
                  key=lambda p: int(os.path.basename(p).split('.')[0]))


def pending(m):
    return int(os.getxattr(m.path, 'user.imapfs.pending'))


def wait_for(cond, secs):
    deadline = time.monotonic() + secs
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.05)
    return cond()


def commands(log, verb):
    """How many UID <verb> commands imapfs sent (its -d log)."""
    return sum(1 for line in log.splitlines() if ' UID %s ' % verb in line and ': C' in line)


def test_mv_returns_at_once_and_the_server_holds_it_soon(dovecot_factory, mount_factory,
                                                          tmp_path):
    dv = make_server(dovecot_factory, ['A', 'B'])
    raws = [msg('wb-%d' % i) for i in range(N)]
    seed(dv, 'A', raws)
    seed(dv, 'B', [msg('already-there')])
    m = mount(mount_factory, dv, 'writeback', 'cache_dir=%s' % (tmp_path / 'cache'), '-d')
    files = emls(m.p('A'))
    assert len(files) == N
    assert emls(m.p('B')) and True
    t0 = time.monotonic()
    r = run(['mv'] + files + [m.p('B') + '/'])
    returned = time.monotonic() - t0
    assert r.returncode == 0, r.stderr
    assert r.stderr == b''
    assert emls(m.p('A')) == []
    assert wait_for(lambda: pending(m) == 0, 10), pending(m)
    drained = time.monotonic() - t0
    assert state(dv, 'A') == {}
    assert bodies_of(state(dv, 'B')) == sorted(raws + [msg('already-there')])
    moved = emls(m.p('B'))
    assert len(moved) == N + 1
    assert sorted(read(p) for p in moved) == sorted(raws + [msg('already-there')])
    moves = commands(m.stderr(), 'MOVE')
    print('mv of %d: returned in %.2f s, on the server after %.2f s, %d UID MOVE commands'
          % (N, returned, drained, moves))
    assert moves < N / 4, moves


def test_rm_r_of_a_mailbox_goes_to_trash_in_batches(dovecot_factory, mount_factory, tmp_path):
    dv = make_server(dovecot_factory, ['Box', 'Trash', 'Keep'])
    raws = [msg('rmr-%d' % i) for i in range(N)]
    seed(dv, 'Box', raws)
    seed(dv, 'Keep', [msg('kept')])
    m = mount(mount_factory, dv, 'writeback', 'cache_dir=%s' % (tmp_path / 'cache'), '-d')
    assert len(emls(m.p('Box'))) == N
    r = run(['rm', '-r', m.p('Box')])
    assert r.returncode == 0, r.stderr
    assert r.stderr == b''
    assert not os.path.exists(m.p('Box'))
    assert pending(m) == 0
    assert 'Box' not in os.listdir(m.path)
    assert bodies_of(state(dv, 'Trash')) == sorted(raws)
    assert bodies_of(state(dv, 'Keep')) == [msg('kept')]
    moves = commands(m.stderr(), 'MOVE')
    print('rm -r of %d: %d UID MOVE commands' % (N, moves))
    assert moves < N / 4, moves


def test_flag_changes_are_made_in_sets(dovecot_factory, mount_factory, tmp_path):
    dv = make_server(dovecot_factory, ['Box'])
    seed(dv, 'Box', [msg('fl-%d' % i) for i in range(100)])
    m = mount(mount_factory, dv, 'writeback', 'cache_dir=%s' % (tmp_path / 'cache'), '-d')
    files = emls(m.p('Box'))
    r = subprocess.run(['xargs', '-0', '-P8', '-n5', 'setfattr', '-n', 'user.imap.flags', '-v',
                        '\\Seen $Done'], input='\0'.join(files).encode(),
                       capture_output=True, timeout=120)
    assert r.returncode == 0, r.stderr
    for p in files:
        assert set(os.getxattr(p, 'user.imap.flags').decode().split()) >= {'\\Seen', '$Done'}
    assert wait_for(lambda: pending(m) == 0, 10), pending(m)
    assert all({'\\Seen', '$Done'} <= set(v.flags) for v in state(dv, 'Box').values())
    stores = commands(m.stderr(), 'STORE')
    print('100 flag changes: %d UID STORE commands' % stores)
    assert stores < 100, stores


def test_unmount_right_after_carries_everything_out(dovecot_factory, mount_factory, tmp_path):
    """mv and rm, then an unmount at once: the server holds all of it when
    fusermount returns and imapfs has exited, nothing pending for the next mount."""
    dv = make_server(dovecot_factory, ['A', 'B', 'Trash'])
    raws = [msg('um-%d' % i) for i in range(N)]
    seed(dv, 'A', raws)
    cache = tmp_path / 'cache'
    m = mount(mount_factory, dv, 'writeback', 'cache_dir=%s' % cache)
    files = emls(m.p('A'))
    r = run(['mv'] + files[:200] + [m.p('B') + '/'])
    assert r.returncode == 0, r.stderr
    r = run(['rm'] + files[200:])
    assert r.returncode == 0, r.stderr
    assert m.stop() == 0
    assert state(dv, 'A') == {}
    assert bodies_of(state(dv, 'B')) == sorted(raws[:200])
    assert bodies_of(state(dv, 'Trash')) == sorted(raws[200:])
    assert 'still pending' not in m.stderr()
    m2 = mount(mount_factory, dv, 'writeback', 'cache_dir=%s' % cache)
    assert pending(m2) == 0
    assert m2.stop() == 0


def test_cp_in_returns_once_journaled_and_lands_once(dovecot_factory, mount_factory, tmp_path):
    """cp of 100 files in: each returns once its bytes are in the journal,
    reads back under its name at once, and is on the server exactly once
    soon after, dated by its mtime (cp -p)."""
    dv = make_server(dovecot_factory, ['Box'])
    src = tmp_path / 'src'
    src.mkdir()
    raws = [msg('cp-%d' % i) for i in range(100)]
    for i, raw in enumerate(raws):
        (src / ('mail-%03d.eml' % i)).write_bytes(raw)
        os.utime(src / ('mail-%03d.eml' % i), (1600000000 + i, 1600000000 + i))
    m = mount(mount_factory, dv, 'writeback', 'cache_dir=%s' % (tmp_path / 'cache'))
    r = run(['sh', '-c', 'cp -p "$1"/*.eml "$2"/', 'cp', str(src), m.p('Box')])
    assert r.returncode == 0, r.stderr
    assert read(m.p('Box', 'mail-007.eml')) == raws[7]
    assert wait_for(lambda: pending(m) == 0, 30), pending(m)
    got = state(dv, 'Box')
    assert bodies_of(got) == sorted(raws)
    assert sorted(v.date for v in got.values()) == [1600000000 + i for i in range(100)]
    assert wait_for(lambda: len([f for f in os.listdir(m.p('Box')) if f.endswith('.eml')]) == 100,
                    5)
    assert read(m.p('Box', 'mail-042.eml')) == raws[42]
    assert m.stop() == 0
