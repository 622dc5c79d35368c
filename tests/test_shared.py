# SPDX-License-Identifier: GPL-2.0-or-later
"""Shared and public folders, access rights, subscriptions (issue 17),
against a real Dovecot with the acl plugin (vfile), a shared namespace
(shared/<user>/, with its shared-mailboxes dictionary) and a public one
(Public/). bob shares three folders with alice, the mount's user:

    shared/bob/Team     lr            read only
    shared/bob/Project  lrwsi         read and write, no expunge
    shared/bob/Full     lrwstipekxa   everything

Every refusal is checked to be EACCES with nothing changed on the server,
and every change through the xattrs is checked with a direct GETACL, LSUB.
"""

import errno
import os
import subprocess
import time

import pytest

import dovecot
from test_write import mount, run

RIGHTS = {'Team': 'lr', 'Project': 'lrwsi', 'Full': 'lrwstipekxa'}


def box_msg(tag):
    return dovecot.make_message('%s message' % tag, 'Shared by bob: %s.\n' % tag,
                                sender='Bob Owner <bob@example.org>',
                                msgid='<%s@shared.imapfs.test>' % tag)


@pytest.fixture
def shared(dovecot_factory):
    dv = dovecot_factory(users={'bob': 'bob-secret', 'carol': 'carol-secret'}, acl=True)
    b = dovecot.imap_client(dv, user='bob')
    try:
        for box, rights in RIGHTS.items():
            dovecot.create_mailbox(b, box)
            for i in range(2):
                dovecot.append(b, box, box_msg('%s-%d' % (box, i)))
            typ, data = b.setacl(box, dv.user, rights)
            assert typ == 'OK', data
    finally:
        b.logout()
    a = dovecot.imap_client(dv)
    try:
        dovecot.create_mailbox(a, 'Public/News')
        dovecot.append(a, 'Public/News', box_msg('news'))
        dovecot.create_mailbox(a, 'Archive')
    finally:
        a.logout()
    return dv


def as_user(dv, user, fn):
    c = dovecot.imap_client(dv, user=None if user == dv.user else user)
    try:
        return fn(c)
    finally:
        c.logout()


def uids_flags(dv, user, box):
    """{uid: flags} of box as user sees it (EXAMINE: nothing changes)."""
    def get(c):
        typ, _ = c.select(dovecot.wire_mailbox(box), readonly=True)
        assert typ == 'OK'
        typ, data = c.uid('FETCH', '1:*', '(FLAGS)')
        out = {}
        for d in data:
            if not d:
                continue
            text = d.decode() if isinstance(d, bytes) else d[0].decode()
            uid = int(text.split('UID ')[1].split()[0].rstrip(')'))
            out[uid] = set(text.split('FLAGS (')[1].split(')')[0].split()) - {'\\Recent'}
        return out
    return as_user(dv, user, get)


def getacl(dv, user, box):
    def get(c):
        typ, data = c.getacl(dovecot.wire_mailbox(box))
        assert typ == 'OK', data
        words = data[0].decode().split()[1:]
        return dict(zip(words[::2], words[1::2]))
    return as_user(dv, user, get)


def expect(err, fn, *args):
    try:
        fn(*args)
    except OSError as e:
        assert e.errno == err, (fn, args, e)
        return
    raise AssertionError('%s%r succeeded, expected %s' % (fn.__name__, args, errno.errorcode[err]))


def xattr(path, name):
    return os.getxattr(path, name).decode()


def test_every_namespace_is_in_the_tree(shared, mount_factory):
    m = mount(mount_factory, shared)
    assert {'INBOX', 'shared', 'Public', 'Archive'} <= set(os.listdir(m.path))
    assert sorted(os.listdir(m.p('shared'))) == ['bob']
    assert sorted(os.listdir(m.p('shared', 'bob'))) == ['Full', 'Project', 'Team']
    assert 'News' in os.listdir(m.p('Public'))
    for box in RIGHTS:
        emls = [n for n in os.listdir(m.p('shared', 'bob', box)) if n.endswith('.eml')]
        assert len(emls) == 2
    # A namespace root that is no mailbox is a plain directory with no rights of its own.
    assert not os.path.exists(m.p('shared', '1.eml'))
    expect(errno.ENODATA, os.getxattr, m.p('shared'), 'user.imap.myrights')


def test_mode_bits_follow_myrights(shared, mount_factory):
    m = mount(mount_factory, shared)
    for box, rights in RIGHTS.items():
        d = m.p('shared', 'bob', box)
        got = xattr(d, 'user.imap.myrights')
        assert set(rights) <= set(got), (box, got)
        mode = os.stat(d).st_mode & 0o777
        assert mode == (0o755 if 'i' in rights else 0o555), (box, oct(mode))
        f = os.path.join(d, sorted(n for n in os.listdir(d) if n.endswith('.eml'))[0])
        fmode = os.stat(f).st_mode & 0o777
        assert fmode == (0o444 if box == 'Team' else 0o644), (box, oct(fmode))
    assert os.stat(m.p('INBOX')).st_mode & 0o777 == 0o755


def test_read_only_folder_refuses_every_change(shared, mount_factory, tmp_path):
    dv = shared
    m = mount(mount_factory, dv)
    team = m.p('shared', 'bob', 'Team')
    before = uids_flags(dv, 'bob', 'Team')
    first = os.path.join(team, '%d.eml' % min(before))
    # Reading works and marks nothing \Seen, for alice or for bob.
    with open(first, 'rb') as f:
        assert b'Shared by bob' in f.read()
    src = tmp_path / 'new.eml'
    src.write_bytes(box_msg('copied'))
    r = run(['cp', str(src), team + '/'])
    assert r.returncode != 0 and b'Permission denied' in r.stderr, r.stderr
    expect(errno.EACCES, os.unlink, first)
    expect(errno.EACCES, os.setxattr, first, 'user.imap.flags', b'\\Flagged')
    expect(errno.EACCES, os.mkdir, os.path.join(team, 'Sub'))
    expect(errno.EACCES, os.rename, first, m.p('INBOX', 'x.eml'))
    expect(errno.EACCES, os.rmdir, team)
    # The same with the tools people use: each says why, and exits 1.
    for argv in (['rm', '-f', first], ['mv', first, m.p('INBOX') + '/'],
                 ['setfattr', '-n', 'user.imap.flags', '-v', '\\Seen', first],
                 ['mkdir', os.path.join(team, 'Sub')], ['rm', '-rf', team]):
        r = run(argv)
        assert r.returncode != 0 and b'Permission denied' in r.stderr, (argv, r.stderr)
    # Nothing changed on the server, nor was a Trash made for a refused rm.
    assert uids_flags(dv, 'bob', 'Team') == before
    assert uids_flags(dv, dv.user, 'shared/bob/Team') == {u: set() for u in before}
    assert 'Trash' not in os.listdir(m.path)
    assert as_user(dv, 'bob', lambda c: c.list('""', 'Team/*')[1]) == [None]


def test_write_without_expunge(shared, mount_factory, tmp_path):
    dv = shared
    m = mount(mount_factory, dv)
    proj = m.p('shared', 'bob', 'Project')
    before = uids_flags(dv, 'bob', 'Project')
    first = os.path.join(proj, '%d.eml' % min(before))
    # Flags (w, s) and copying in (i) work ...
    os.setxattr(first, 'user.imap.flags', b'\\Seen $Work')
    assert xattr(first, 'user.imap.flags') == '\\Seen $Work'
    src = tmp_path / 'new.eml'
    src.write_bytes(box_msg('into-project'))
    r = run(['cp', str(src), proj + '/'])
    assert r.returncode == 0, r.stderr
    after = uids_flags(dv, 'bob', 'Project')
    assert len(after) == 3
    # ... removing (t, e) does not, and leaves the message where it was.
    expect(errno.EACCES, os.unlink, first)
    expect(errno.EACCES, os.rename, first, m.p('INBOX', 'moved.eml'))
    r = run(['mv', first, m.p('INBOX') + '/'])
    assert r.returncode != 0 and b'Permission denied' in r.stderr, r.stderr
    assert set(uids_flags(dv, 'bob', 'Project')) == set(after)
    assert uids_flags(dv, dv.user, 'INBOX') == {}


def test_full_rights_allow_everything(shared, mount_factory, tmp_path):
    dv = shared
    m = mount(mount_factory, dv)
    full = m.p('shared', 'bob', 'Full')
    before = uids_flags(dv, 'bob', 'Full')
    first = os.path.join(full, '%d.eml' % min(before))
    os.setxattr(first, 'user.imap.flags', b'\\Flagged')
    os.mkdir(os.path.join(full, 'Sub'))
    assert 'Full/Sub' in str(as_user(dv, 'bob', lambda c: c.list('""', 'Full/*')[1]))
    os.rmdir(os.path.join(full, 'Sub'))
    os.unlink(first)
    assert set(uids_flags(dv, 'bob', 'Full')) == set(before) - {min(before)}


def test_acl_as_extended_attributes(shared, mount_factory):
    dv = shared
    m = mount(mount_factory, dv)
    full = m.p('shared', 'bob', 'Full')
    lines = xattr(full, 'user.imap.acl').splitlines()
    acl = dict(line.split(' ', 1) for line in lines)
    assert set('lrwstipekxa') <= set(acl[dv.user]), acl
    # setfattr is SETACL, getfattr -d lists one attribute an identifier, -x is DELETEACL.
    r = run(['setfattr', '-n', 'user.imap.acl.carol', '-v', 'lr', full])
    assert r.returncode == 0, r.stderr
    assert getacl(dv, 'bob', 'Full').get('carol') == 'lr'
    assert xattr(full, 'user.imap.acl.carol') == 'lr'
    r = subprocess.run(['getfattr', '-d', '-m', 'user.imap.acl', full], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=30)
    assert r.returncode == 0 and b'user.imap.acl.carol="lr"' in r.stdout, r.stdout
    r = run(['setfattr', '-x', 'user.imap.acl.carol', full])
    assert r.returncode == 0, r.stderr
    assert 'carol' not in getacl(dv, 'bob', 'Full')
    expect(errno.ENODATA, os.getxattr, full, 'user.imap.acl.carol')
    # Rights the server does not know: EINVAL, and the server's words in the log.
    expect(errno.EINVAL, os.setxattr, full, 'user.imap.acl.carol', b'l r')
    # Where alice may not administer (no "a"), the ACL is not hers to change.
    team = m.p('shared', 'bob', 'Team')
    expect(errno.EACCES, os.setxattr, team, 'user.imap.acl.carol', b'lr')
    assert 'carol' not in getacl(dv, 'bob', 'Team')


def test_subscriptions(shared, mount_factory):
    dv = shared
    m = mount(mount_factory, dv)
    assert xattr(m.p('Archive'), 'user.imap.subscribed') == 'no'
    os.setxattr(m.p('Archive'), 'user.imap.subscribed', b'yes')
    assert xattr(m.p('Archive'), 'user.imap.subscribed') == 'yes'
    lsub = as_user(dv, dv.user, lambda c: c.lsub('""', '*')[1])
    assert any(b'Archive' in l for l in lsub if l), lsub
    os.setxattr(m.p('shared', 'bob', 'Team'), 'user.imap.subscribed', b'yes')
    expect(errno.EINVAL, os.setxattr, m.p('Archive'), 'user.imap.subscribed', b'maybe')
    m.stop()
    # -o subscribed: only those, and the levels above them as plain directories.
    m = mount(mount_factory, dv, 'subscribed')
    assert sorted(os.listdir(m.path)) == ['Archive', 'INBOX', 'shared']
    assert os.listdir(m.p('shared', 'bob')) == ['Team']
    # What is made there is subscribed, so it shows; rm still finds a Trash.
    os.mkdir(m.p('Made'))
    assert 'Made' in os.listdir(m.path)
    assert xattr(m.p('Made'), 'user.imap.subscribed') == 'yes'
    uid = dovecot.append_many(dv, 'INBOX', [(box_msg('to-trash'), None, None)])[0]
    os.unlink(m.p('INBOX', '%d.eml' % uid))
    assert len(uids_flags(dv, dv.user, 'Trash')) == 1
    assert 'Trash' in os.listdir(m.path)
    os.removexattr(m.p('Archive'), 'user.imap.subscribed')
    assert xattr(m.p('Archive'), 'user.imap.subscribed') == 'no'


def test_special_use_and_quota(shared, mount_factory):
    m = mount(mount_factory, shared)
    assert xattr(m.p('Archive'), 'user.imap.special_use') == '\\Archive'
    expect(errno.ENODATA, os.getxattr, m.p('INBOX'), 'user.imap.special_use')
    quota = xattr(m.p('INBOX'), 'user.imap.quota')
    assert quota.startswith('User quota: STORAGE ') and quota.endswith(' 102400\n'), quota
    names = os.listxattr(m.p('Archive'))
    assert 'user.imap.special_use' in names and 'user.imap.myrights' in names
    expect(errno.EPERM, os.setxattr, m.p('Archive'), 'user.imap.myrights', b'lr')
    # Dovecot 2.3 here has no METADATA: the use cannot be set through it.
    expect(errno.ENOTSUP, os.setxattr, m.p('Archive'), 'user.imap.special_use', b'\\Sent')


def test_owner_changes_show_within_a_second(shared, mount_factory):
    dv = shared
    m = mount(mount_factory, dv)
    team = m.p('shared', 'bob', 'Team')
    before = set(os.listdir(team))
    t0 = time.monotonic()
    uid = as_user(dv, 'bob', lambda c: dovecot.append(c, 'Team', box_msg('late news')))
    deadline = t0 + 10
    while time.monotonic() < deadline and '%d.eml' % uid not in os.listdir(team):
        time.sleep(0.05)
    took = time.monotonic() - t0
    assert '%d.eml' % uid in set(os.listdir(team)) - before
    assert took < 1.5, 'seen after %.2f s' % took


def test_refusal_the_server_still_sends_is_eacces(shared, mount_factory):
    """Where the rights are not known (a level of the shared namespace that
    is no mailbox) the server decides, and its [NOPERM] is EACCES."""
    dv = shared
    m = mount(mount_factory, dv)
    expect(errno.EACCES, os.mkdir, m.p('shared', 'bob', 'New'))
    assert 'New' not in os.listdir(m.p('shared', 'bob'))
    assert as_user(dv, 'bob', lambda c: c.list('""', 'New')[1]) == [None]


def test_cyrus_other_users_folders(mount_factory, _preflight):
    """Cyrus (altnamespace, '/' separator): bob's folders under
    'Other Users/bob/', rights shaping modes and refusals the same way."""
    import shutil
    import cyrus
    problems = cyrus.missing()
    if problems:
        pytest.fail('Cyrus IMAP is missing:\n  ' + '\n  '.join(problems), pytrace=False)
    base = dovecot.make_basedir('imapfs-test-shared-cyrus-')
    cy = cyrus.Cyrus(os.path.join(base, 'cyrus'), users={'bob': 'bob-secret'})
    cy.start()
    try:
        b = cy.client(user='bob')
        try:
            for box, rights in (('Team', 'lr'), ('Full', 'lrswipkxtea')):
                dovecot.create_mailbox(b, box)
                dovecot.append(b, box, box_msg('cyrus-' + box))
                typ, data = b.setacl(box, cy.user, rights)
                assert typ == 'OK', data
        finally:
            b.logout()
        m = mount_factory(cy.url('imap'), ['tls=none'], password=cy.password)
        other = m.p('Other Users', 'bob')
        assert sorted(os.listdir(other)) == ['Full', 'Team']
        team, full = os.path.join(other, 'Team'), os.path.join(other, 'Full')
        assert xattr(team, 'user.imap.myrights') == 'lr'
        assert os.stat(team).st_mode & 0o777 == 0o555
        assert os.stat(full).st_mode & 0o777 == 0o755
        first = os.path.join(team, [n for n in os.listdir(team) if n.endswith('.eml')][0])
        with open(first, 'rb') as f:
            assert b'cyrus-Team' in f.read()
        expect(errno.EACCES, os.unlink, first)
        expect(errno.EACCES, os.setxattr, first, 'user.imap.flags', b'\\Flagged')
        os.setxattr(full, 'user.imap.acl.anyone', b'lr')
        assert 'anyone lr' in xattr(full, 'user.imap.acl').splitlines()
        # Special use: mkdir, then setfattr (SETMETADATA /private/specialuse).
        os.mkdir(m.p('Sent Mail'))
        os.setxattr(m.p('Sent Mail'), 'user.imap.special_use', b'\\Sent')
        assert xattr(m.p('Sent Mail'), 'user.imap.special_use') == '\\Sent'
        lst = cy.client().list('""', '*')[1]
        assert any(b'\\Sent' in l and b'Sent Mail' in l for l in lst), lst
        expect(errno.EINVAL, os.setxattr, m.p('Sent Mail'), 'user.imap.special_use', b'\\Bogus')
        os.removexattr(m.p('Sent Mail'), 'user.imap.special_use')
        expect(errno.ENODATA, os.getxattr, m.p('Sent Mail'), 'user.imap.special_use')
    finally:
        cy.stop()
        shutil.rmtree(base, ignore_errors=True)
