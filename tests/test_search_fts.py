# SPDX-License-Identifier: GPL-2.0-or-later
"""Search directories on a server with a full-text index (issue 16): a
private Dovecot with a full-text search plugin (Debian's dovecot-lucene
and dovecot-fts-xapian, installed by tests/setup-deps) and one without
any index, both seeded with the same corpus, each mounted: every query
lists the same results on both, and the indexed one really searched its
index.

fts-xapian 1.5.5 (Debian 12) answers every NOT of a text key with no
message at all (`UID SEARCH NOT TEXT x`: 0 of 240, where the unindexed
server and lucene find 60): a server bug, which the man page names; its
NOT queries are expected to fail here (strict xfail, so a fixed plugin
shows).
"""

import os
import random
import shutil

import pytest

import dovecot
from conftest import Mount

BOX = 'Corpus'
PLUGINS = {'lucene': '/usr/lib/dovecot/modules/lib21_fts_lucene_plugin.so',
           'xapian': '/usr/lib/dovecot/modules/lib21_fts_xapian_plugin.so'}
FTS_CONF = {
    'lucene': 'fts = lucene\n  fts_lucene = whitespace_chars=@.\n',
    'xapian': 'fts = xapian\n  fts_xapian = partial=3 full=20 verbose=0\n',
}
CONF = '''
mail_plugins = $mail_plugins fts fts_%s
plugin {
  %s  fts_autoindex = yes
  # a search that cannot use the index fails instead of reading every mail:
  # the results below are the index's
  fts_enforced = yes
}
'''
WORDS = ('invoice quarterly report meeting lunch budget holiday contract '
         'deadline project release server backup migration kernel').split()
NAMES = ['Alice Smith', 'Bob Jones', 'Carol White', 'Dave Brown', 'Erin Black']
T0 = 1709287200  # 2024-03-01 10:00 UTC


def _corpus(n=240):
    """n messages of a few words each, the same on every run."""
    rnd = random.Random(16)
    out = []
    for i in range(n):
        subject = ' '.join(rnd.sample(WORDS, 2)).capitalize()
        body = ''.join('%s\n' % ' '.join(rnd.sample(WORDS, 4)) for _ in range(rnd.randint(2, 8)))
        sender = rnd.choice(NAMES)
        raw = dovecot.make_message(subject, body,
                                   sender='%s <%s@example.org>' % (
                                       sender, sender.split()[0].lower()))
        out.append((raw, T0 + i * 3600, None))
    return out


@pytest.fixture(scope='module', params=['lucene', 'xapian'])
def pair(request, tmp_path_factory):
    """(plain mount, indexed mount, indexed Dovecot) of the same corpus."""
    plugin = request.param
    if not os.path.exists(PLUGINS[plugin]):
        pytest.fail('dovecot-%s is missing (%s): run tests/setup-deps' % (
            'lucene' if plugin == 'lucene' else 'fts-xapian', PLUGINS[plugin]), pytrace=False)
    fts_conf = CONF % (plugin, FTS_CONF[plugin])
    base = dovecot.make_basedir('imapfs-test-fts-')
    servers, mounts = [], []
    try:
        corpus = _corpus()
        for name, conf in (('plain', ''), (plugin, fts_conf)):
            dv = dovecot.Dovecot(os.path.join(base, name), extra_conf=conf)
            servers.append(dv)
            dv.start()
            c = dovecot.imap_client(dv)
            try:
                dovecot.create_mailbox(c, BOX)
            finally:
                c.logout()
            dovecot.append_many(dv, BOX, corpus)
            m = Mount(dv.url('imap'), str(tmp_path_factory.mktemp(name) / 'mnt'),
                      ['tls=none'], password=dv.password)
            mounts.append(m)
            m.start()
        servers[1].plugin = plugin
        yield mounts[0], mounts[1], servers[1]
    finally:
        for m in mounts:
            m.stop()
            m.cleanup()
        for dv in servers:
            dv.stop()
        shutil.rmtree(base, ignore_errors=True)


def listing(m, query):
    return sorted(os.listdir(m.p(BOX, '.search', query)))


@pytest.mark.parametrize('query', [
    'invoice', 'quarterly report', 'subject:budget', 'body:kernel', 'from:carol',
    'from:alice subject:meeting', 'holiday -contract', 'subject:lunch or subject:release',
    'nothingmatchesthis',
])
def test_indexed_results_are_the_unindexed_ones(pair, query):
    plain, fts, dv = pair
    want = listing(plain, query)
    if dv.plugin == 'xapian' and '-' in query:
        assert listing(fts, query) != want, 'fts-xapian NOT works now: drop this exception'
        pytest.xfail('fts-xapian 1.5.5 answers NOT of a text key with nothing')
    assert listing(fts, query) == want
    if query != 'nothingmatchesthis':
        assert want, 'a query that finds nothing proves little: %s' % query
    # account-wide too
    assert sorted(os.listdir(fts.p('.search', query))) == sorted(
        os.listdir(plain.p('.search', query)))


def test_the_index_was_used(pair):
    """The indexed server answered from its Xapian index (it exists and
    holds the mailbox), not by reading every message."""
    _, fts, dv = pair
    listing(fts, 'migration')
    found = []
    for root, dirs, files in os.walk(dv.basedir):
        found += [os.path.join(root, d) for d in dirs if dv.plugin in d.lower()]
    assert found, 'no %s index under %s' % (dv.plugin, dv.basedir)
