# SPDX-License-Identifier: GPL-2.0-or-later
"""Search directories (issue 16): <mailbox>/.search/<query>/ lists the
messages the server's SEARCH finds, as the mailbox's own files (same inode,
bytes, names); `.search` lists nothing, so walks never search; a query that
does not parse, or that the server refuses, is EINVAL with the reason in
the log; results follow the mailbox; rm and mv of a result act on the
message. Against a private Dovecot and a private Cyrus IMAP 3.6 on
127.0.0.1 through a real mount (the module runs once per server).
"""

import errno
import os
import shutil
import subprocess
import time

import pytest

import cyrus
import dovecot
from conftest import Mount

BOX, OTHER = 'Box', 'Other'
# Nested: only Projects/2024 holds a match for the account-wide tests.
PROJECTS, DEEP, EMPTY = 'Projects', 'Projects/2024', 'Empty'
DAY = 86400
T0 = 1709287200  # 2024-03-01 10:00 UTC


def _messages():
    """(key, raw, INTERNALDATE, flags) of Box, in APPEND order."""
    mk = dovecot.make_message
    return [
        ('invoice', mk('Invoice March', 'The quarterly report is attached.\n',
                       sender='Alice Smith <alice@example.org>', to='Bob <bob@example.org>'),
         T0, ['\\Seen']),
        ('lunch', mk('Lunch', 'See you at noon, quarterly plans later.\n',
                     sender='Carol <carol@example.org>', to='Dave <dave@example.org>',
                     extra_headers=['Cc: Erin <erin@example.org>']),
         T0 + 4 * DAY, ['\\Flagged']),
        ('gruss', mk('=?UTF-8?Q?Gr=C3=BC=C3=9Fe_aus_K=C3=B6ln?=', 'Schöne Grüße vom Rhein.\n',
                     sender='Alice Smith <alice@example.org>',
                     extra_headers=['Bcc: Frank <frank@example.org>']),
         T0 + 40 * DAY, []),
        ('big', mk('big one', 'padding line for the size test\n' * 1000,
                   sender='Bob <bob@example.org>', extra_headers=['X-Mailer: mutt 2.2']),
         T0 + 80 * DAY, ['\\Answered']),
        ('path', mk('path a/b', 'The path is a/b/c.\n', sender='Dave <dave@example.org>'),
         T0 + 100 * DAY, ['\\Draft', '$Label1']),
    ]


@pytest.fixture(scope='module', params=['dovecot', 'cyrus'])
def world(request, tmp_path_factory):
    """A private server with Box (the messages above) and Other (one
    message with the same words), mounted; .uid maps key -> UID in Box."""
    base = dovecot.make_basedir('imapfs-test-search-')
    if request.param == 'cyrus':
        problems = cyrus.missing()
        if problems:
            pytest.fail('Cyrus IMAP is missing:\n  ' + '\n  '.join(problems), pytrace=False)
        dv = cyrus.Cyrus(os.path.join(base, 'cyrus'))
    else:
        dv = dovecot.Dovecot(os.path.join(base, 'dovecot'))
    dv.kind = request.param
    dv.start()
    m = None
    try:
        c = dovecot.imap_client(dv)
        try:
            dovecot.create_mailbox(c, BOX)
            dovecot.create_mailbox(c, OTHER)
            uid = {}
            for key, raw, date, flags in _messages():
                uid[key] = dovecot.append(c, BOX, raw, date=date, flags=flags)
            dovecot.append(c, OTHER, dovecot.make_message('elsewhere', 'quarterly too\n'),
                           date=T0)
            for name in (PROJECTS, DEEP, EMPTY):
                dovecot.create_mailbox(c, name)
            dovecot.append(c, PROJECTS, dovecot.make_message('plan', 'nothing to see\n'),
                           date=T0)
            dovecot.append(c, DEEP, dovecot.make_message('deep', 'a quarterly deep one\n'),
                           date=T0)
            dovecot.append(c, EMPTY, dovecot.make_message('empty', 'no match here\n'),
                           date=T0)
        finally:
            c.logout()
        m = Mount(dv.url('imap'), str(tmp_path_factory.mktemp('search') / 'mnt'),
                  ['tls=none'], password=dv.password)
        m.start()
        m.dv, m.uid = dv, uid
        yield m
    finally:
        if m:
            m.stop()
            m.cleanup()
        dv.stop()
        shutil.rmtree(base, ignore_errors=True)


def results(m, query, box=BOX):
    """The UIDs listed in box/.search/query (the .eml names)."""
    names = os.listdir(m.p(box, '.search', query))
    emls = sorted(int(n[:-4]) for n in names if n.endswith('.eml'))
    parts = sorted(int(n[:-6]) for n in names if n.endswith('.parts'))
    assert emls == parts, names
    return emls


def uids(m, *keys):
    return sorted(m.uid[k] for k in keys)


@pytest.mark.parametrize('query, keys', [
    ('quarterly', ['invoice', 'lunch']),
    ('quarterly report', ['invoice']),
    ('"quarterly report"', ['invoice']),
    ('"report quarterly"', []),
    ('from:alice', ['invoice', 'gruss']),
    ('from:"Alice Smith"', ['invoice', 'gruss']),
    ('to:dave', ['lunch']),
    ('cc:erin', ['lunch']),
    ('bcc:frank', ['gruss']),
    ('subject:invoice', ['invoice']),
    ('body:noon', ['lunch']),
    ('header:X-Mailer:mutt', ['big']),
    ('since:2024-04-10', ['gruss', 'big', 'path']),
    ('before:2024-03-05', ['invoice']),
    ('on:2024-03-05', ['lunch']),
    ('larger:10K', ['big']),
    ('smaller:10K from:bob', []),
    ('is:seen', ['invoice']),
    ('is:unseen subject:lunch', ['lunch']),
    ('is:flagged', ['lunch']),
    ('is:answered', ['big']),
    ('is:draft', ['path']),
    ('keyword:$Label1', ['path']),
    ('-from:alice', ['lunch', 'big', 'path']),
    ('from:carol or from:dave', ['lunch', 'path']),
    ('subject:lunch or subject:invoice -is:seen', ['lunch']),
    ('imap:OR FROM carol SUBJECT path', ['lunch', 'path']),
    ('Grüße', ['gruss']),
    ('subject:Köln', ['gruss']),
    ('a%2Fb%2Fc', ['path']),
    ('nothing-matches-this', []),
])
def test_query_terms(world, query, keys):
    """Each term of the query language finds what the server's SEARCH
    finds for it, only in its own mailbox."""
    assert results(world, query) == uids(world, *keys), query


def test_results_are_the_mailbox_files(world):
    """A result is the mailbox's file: same inode, same bytes, same parts."""
    m = world
    uid = m.uid['invoice']
    q = m.p(BOX, '.search', 'subject:invoice')
    st_r, st_m = os.stat(os.path.join(q, '%d.eml' % uid)), os.stat(m.p(BOX, '%d.eml' % uid))
    assert (st_r.st_ino, st_r.st_size) == (st_m.st_ino, st_m.st_size)
    with open(os.path.join(q, '%d.eml' % uid), 'rb') as f:
        via_search = f.read()
    with open(m.p(BOX, '%d.eml' % uid), 'rb') as f:
        assert f.read() == via_search
    assert os.stat(os.path.join(q, '%d.parts' % uid)).st_ino == \
        os.stat(m.p(BOX, '%d.parts' % uid)).st_ino
    assert sorted(os.listdir(os.path.join(q, '%d.parts' % uid))) == \
        sorted(os.listdir(m.p(BOX, '%d.parts' % uid)))
    with pytest.raises(FileNotFoundError):
        os.stat(os.path.join(q, '%d.eml' % m.uid['lunch']))


def test_walks_never_search(world):
    """`.search` lists nothing and is in no listing: grep -r and find over
    the mount see each message once, and the server saw no SEARCH."""
    m = world
    assert os.listdir(m.p(BOX, '.search')) == []
    assert '.search' not in os.listdir(m.p(BOX))
    out = subprocess.run(['grep', '-rl', '--include=*.eml', 'quarterly', m.path],
                         capture_output=True, text=True, timeout=60)
    found = sorted(os.path.relpath(p, m.path) for p in out.stdout.split())
    assert found == sorted(['%s/%d.eml' % (BOX, m.uid['invoice']),
                            '%s/%d.eml' % (BOX, m.uid['lunch']), '%s/1.eml' % OTHER,
                            '%s/1.eml' % DEEP]), found
    out = subprocess.run(['find', m.path], capture_output=True, text=True, timeout=60)
    assert '.search' not in out.stdout


def test_account_wide_search(world):
    """.search/<query>/ at the root runs the query in every mailbox and
    lists the tree of mailboxes that hold a match (or have one below them),
    each with its results: the same files as in the mailboxes."""
    m = world
    q = m.p('.search', 'quarterly')
    assert os.listdir(m.p('.search')) == []
    assert '.search' not in os.listdir(m.path)
    assert sorted(os.listdir(q)) == sorted([BOX, OTHER, PROJECTS])
    assert sorted(os.listdir(os.path.join(q, BOX))) == sorted(
        ['%d.eml' % u for u in uids(m, 'invoice', 'lunch')] +
        ['%d.parts' % u for u in uids(m, 'invoice', 'lunch')])
    assert sorted(os.listdir(os.path.join(q, OTHER))) == ['1.eml', '1.parts']
    # Projects holds no match itself: only its child that does.
    assert os.listdir(os.path.join(q, PROJECTS)) == ['2024']
    assert sorted(os.listdir(os.path.join(q, DEEP))) == ['1.eml', '1.parts']
    with open(os.path.join(q, DEEP, '1.eml'), 'rb') as f:
        assert b'a quarterly deep one' in f.read()
    a, b = os.stat(os.path.join(q, OTHER, '1.eml')), os.stat(m.p(OTHER, '1.eml'))
    assert (a.st_ino, a.st_size) == (b.st_ino, b.st_size)
    for gone in (EMPTY, 'NoSuchBox', os.path.join(PROJECTS, '1.eml')):
        assert not os.path.exists(os.path.join(q, gone)), gone
    # Walked with the ordinary tools, as a user would.
    out = subprocess.run(['find', q, '-name', '*.eml'], capture_output=True, text=True,
                         timeout=60)
    found = sorted(os.path.relpath(p, q) for p in out.stdout.split())
    assert found == sorted(['%s/%d.eml' % (BOX, u) for u in uids(m, 'invoice', 'lunch')] +
                           ['%s/1.eml' % OTHER, '%s/1.eml' % DEEP]), found
    out = subprocess.run(['grep', '-rl', '--include=*.eml', 'deep one', q],
                         capture_output=True, text=True, timeout=60)
    assert [os.path.relpath(p, q) for p in out.stdout.split()] == ['%s/1.eml' % DEEP]
    assert os.listdir(m.p('.search', 'nothing-matches-this')) == []
    # Nothing is removed here but messages: a mailbox of the tree stays.
    with pytest.raises(OSError) as e:
        os.rmdir(os.path.join(q, PROJECTS))
    assert e.value.errno == errno.EPERM
    assert os.path.isdir(m.p(PROJECTS))


def test_failed_queries_say_why_in_an_xattr(world):
    """The .search directory where a query failed carries the reason in
    user.imapfs.error (the latest failure), at the root as in a mailbox."""
    m = world
    for where in (m.p(BOX, '.search'), m.p('.search')):
        with pytest.raises(OSError) as e:
            os.listdir(os.path.join(where, 'colour:red'))
        assert e.value.errno == errno.EINVAL
        said = os.getxattr(where, 'user.imapfs.error').decode()
        assert said.startswith('colour:red: ') and 'is no search field' in said, said
        assert 'user.imapfs.error' in os.listxattr(where)
        out = subprocess.run(['getfattr', '-d', where], capture_output=True, text=True,
                             timeout=30)
        assert 'is no search field' in out.stdout, out


def test_gmail_queries_need_gmail(world):
    """gmail: is Gmail's own query language (X-GM-RAW): refused with a
    reason on a server that does not offer it."""
    m = world
    with pytest.raises(OSError) as e:
        os.listdir(m.p(BOX, '.search', 'gmail:has:attachment'))
    assert e.value.errno == errno.EINVAL
    assert 'X-GM-EXT-1' in m.stderr()


@pytest.mark.parametrize('query, says', [
    ('since:yesterday', 'is no date'),
    ('colour:red', 'is no search field'),
    ('"open', 'quote is not closed'),
    ('a or', "'or' needs a term"),
    ('imap:NOSUCHKEY x', 'server refused the search'),
])
def test_bad_queries(world, query, says):
    """A query that does not parse, or that the server refuses: EINVAL,
    and the log says why in one line."""
    m = world
    with pytest.raises(OSError) as e:
        os.listdir(m.p(BOX, '.search', query))
    assert e.value.errno == errno.EINVAL, e.value
    assert says in m.stderr(), m.stderr()[-2000:]


def test_search_is_no_place_to_write(world):
    """Nothing is made in .search or a query directory."""
    m = world
    for path in (m.p(BOX, '.search', 'newfile.eml'),
                 m.p(BOX, '.search', 'subject:invoice', 'new.eml')):
        with pytest.raises(OSError):
            with open(path, 'wb') as f:
                f.write(b'x')
    with pytest.raises(OSError) as e:
        os.rmdir(m.p(BOX, '.search'))
    assert e.value.errno == errno.EPERM
    # What file managers look for in any directory is no query.
    for probe in ('.directory', '.hidden', '.DS_Store'):
        assert not os.path.exists(m.p(BOX, '.search', probe)), probe
    assert results(m, '%2Esearch') == []


def test_results_follow_the_mailbox(world):
    """A message another client adds that matches appears in the open
    query directory, and goes when it is expunged, each within 1 s."""
    m = world
    q = m.p(BOX, '.search', 'subject:followme')
    assert results(m, 'subject:followme') == []
    c = dovecot.imap_client(m.dv)
    try:
        uid = dovecot.append(c, BOX, dovecot.make_message('followme', 'live\n'), date=T0)
        t0 = time.monotonic()
        while '%d.eml' % uid not in os.listdir(q):
            assert time.monotonic() - t0 < 1.0, 'new result not shown within 1 s'
            time.sleep(0.02)
        c.select(BOX)
        c.uid('STORE', str(uid), '+FLAGS', '(\\Deleted)')
        c.expunge()
        t0 = time.monotonic()
        while '%d.eml' % uid in os.listdir(q):
            assert time.monotonic() - t0 < 1.0, 'expunged result still shown after 1 s'
            time.sleep(0.02)
    finally:
        c.logout()


def test_a_mailbox_never_listed_is_searched_live(world):
    """A mailbox imapfs never listed is searched without listing it (its
    results' sizes and dates come with the search), and its results follow
    it all the same: a match another client adds shows within 1 s."""
    m = world
    c = dovecot.imap_client(m.dv)
    try:
        dovecot.create_mailbox(c, 'Fresh')
        first = dovecot.append(c, 'Fresh', dovecot.make_message('fresh one', 'x\n'), date=T0)
        dovecot.append(c, 'Fresh', dovecot.make_message('other', 'y\n'), date=T0)
        t0 = time.monotonic()
        while not os.path.isdir(m.p('Fresh')):
            assert time.monotonic() - t0 < 2.0, 'Fresh not shown within 2 s'
            time.sleep(0.05)
        q = m.p('Fresh', '.search', 'subject:fresh')
        assert results(m, 'subject:fresh', box='Fresh') == [first]
        st = os.stat(os.path.join(q, '%d.eml' % first))
        with open(os.path.join(q, '%d.eml' % first), 'rb') as f:
            assert st.st_size == len(f.read())
        assert st.st_mtime == T0
        uid = dovecot.append(c, 'Fresh', dovecot.make_message('fresh two', 'z\n'), date=T0)
        t0 = time.monotonic()
        while '%d.eml' % uid not in os.listdir(q):
            assert time.monotonic() - t0 < 1.0, 'new result not shown within 1 s'
            time.sleep(0.02)
        a, b = os.stat(os.path.join(q, '%d.eml' % uid)), os.stat(m.p('Fresh', '%d.eml' % uid))
        assert (a.st_ino, a.st_size) == (b.st_ino, b.st_size)
    finally:
        c.logout()


def test_rm_of_a_result_acts_on_the_message(world):
    """rm of a result is rm of the message (moved to Trash, as in the
    mailbox); it leaves the results and the mailbox."""
    m = world
    c = dovecot.imap_client(m.dv)
    try:
        uid = dovecot.append(c, BOX, dovecot.make_message('removeme', 'bye\n'), date=T0)
    finally:
        c.logout()
    q = m.p(BOX, '.search', 'subject:removeme')
    assert results(m, 'subject:removeme') == [uid]
    os.unlink(os.path.join(q, '%d.eml' % uid))
    assert '%d.eml' % uid not in os.listdir(m.p(BOX))
    assert results(m, 'subject:removeme') == []
    # rm -r's next step: the result's .parts goes with its message
    os.rmdir(os.path.join(q, '%d.parts' % uid))
    assert any(n.endswith('.eml') for n in os.listdir(m.p('Trash')))


def test_a_mailbox_named_dot_search_stays_reachable(world):
    """A real mailbox named .search shows as %2Esearch, and reads."""
    m = world
    c = dovecot.imap_client(m.dv)
    try:
        dovecot.create_mailbox(c, '.search')
        dovecot.append(c, '.search', dovecot.make_message('hidden', 'in .search\n'), date=T0)
    finally:
        c.logout()
    t0 = time.monotonic()
    while '%2Esearch' not in os.listdir(m.path):
        assert time.monotonic() - t0 < 2.0, os.listdir(m.path)
        time.sleep(0.05)
    with open(m.p('%2Esearch', '1.eml'), 'rb') as f:
        assert b'in .search' in f.read()

