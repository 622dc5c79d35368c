#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""A private Cyrus IMAP 3.6 for imapfs's integration tests, beside Dovecot
(DESIGN.md section 4), and a seed that fills any test server alike.

Debian 12's cyrus-imapd conflicts with dovecot-imapd (both provide the IMAP
server role), so tests/setup-deps installs cyrus-common and sasl2-bin (the
master process, the Cyrus libraries and tools, saslpasswd2) and unpacks the
cyrus-imapd .deb of the same version with `dpkg-deb -x` into CYRUS_ROOT
(/opt/imapfs-test/cyrus-imapd; $IMAPFS_CYRUS_ROOT overrides): imapd and
idled run from there, Dovecot stays installed.

Module use (no pytest needed):

    cy = Cyrus('/tmp/x/cy')       # writes imapd.conf, cyrus.conf, a sasldb
    cy.start()                    # `master -D` in the foreground, waits
    c = dovecot.imap_client(cy)   # the helpers of tests/dovecot.py work as is
    seed = seed_core(cy)          # the same content on any server
    cy.stop()

CLI:

    python3 tests/cyrus.py demo --dir DIR   # a seeded server left running
    python3 tests/cyrus.py stop --dir DIR

The configuration (Cyrus.config_text): everything below the base directory
(configdirectory, partition, sockets, proc, lock, sieve dir), a listener on
127.0.0.1 only, no TLS (so no STARTTLS), `allowplaintext: yes` with
`sasl_pwcheck_method: auxprop`, `sasl_auxprop_plugin: sasldb` and a private
sasldb (saslpasswd2 -f) holding the user and an admin; `unixhierarchysep:
yes` and `altnamespace: yes`, so the user sees a personal namespace with
INBOX and its siblings at the top and '/' as the delimiter. The admin
creates `user/<name>` at the first start. Without idled (Debian's default)
Cyrus tells an IDLE client of changes by polling every `imapidlepoll`
seconds (default 60): the tests set 1, so a change reaches imapfs's IDLE in
about 0.5 s; idled=True runs idled instead (changes pushed at once). (With
the default 60 s the live-view test passes too: imapfs checks a listing
older than 0.5 s again on use, so the watcher only saves that STATUS.)

Cyrus logs to syslog only. Cyrus.log() returns master's stdout/stderr;
telemetry=True (or $IMAPFS_CYRUS_TELEMETRY=1) makes imapd write every
session of the user, both directions, to <base>/config/log/<user>/<pid>
(Cyrus's own telemetry), which telemetry_text() returns.

Cyrus facts (DESIGN.md section 6, and measured here with 3.6.1-4+deb12u5):
no NOTIFY, no STARTTLS; every mailbox created in the same second gets the
same UIDVALIDITY (one re-created after a DELETE gets a greater one; RENAME
keeps it); 8-bit bytes in an APPENDed header are stored as 'X' (its
default munge8bit: yes; the tests keep it), and a header line it cannot
parse is refused ("NO Message contains invalid header": two of CPython's
test messages); names with '%', '"', '\\' or a
bare '&' are refused ("Invalid mailbox name"); the levels above a new
mailbox are created as real mailboxes (Dovecot shows them \\Noselect). The
issue notes that Cyrus omits the BINARY[n] item for an empty part; this
build answers BINARY[n] "" to every empty or blank part asked here (and
imapfs does not ask for a part its BODYSTRUCTURE gives as empty).

Everything listens on 127.0.0.1 only. Every wait is bounded; processes are
stopped by pid (the master, then any child that outlives it).
"""

import argparse
import base64
import imaplib
import os
import pwd
import random
import secrets
import shutil
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import corpus  # noqa: E402
import dovecot  # noqa: E402
from dovecot import HOST, DEFAULT_USER, DEFAULT_PASSWORD  # noqa: E402

CYRUS_ROOT = os.environ.get('IMAPFS_CYRUS_ROOT') or '/opt/imapfs-test/cyrus-imapd'
CYRUS_BIN = os.path.join(CYRUS_ROOT, 'usr', 'lib', 'cyrus', 'bin')
IMAPD = os.path.join(CYRUS_BIN, 'imapd')
IDLED = os.path.join(CYRUS_BIN, 'idled')
# from cyrus-common
MASTER = '/usr/lib/cyrus/bin/master'
CTL_CYRUSDB = '/usr/lib/cyrus/bin/ctl_cyrusdb'
SASLPASSWD2 = shutil.which('saslpasswd2') or '/usr/sbin/saslpasswd2'
CYRUS_USER = 'cyrus'
CYRUS_GROUP = 'mail'
SERVERNAME = 'imapfs-test-cyrus'   # also the SASL realm of the sasldb entries
ADMIN = 'cyrus-admin'


class CyrusError(RuntimeError):
    pass


def missing():
    """What is missing to run a private Cyrus (empty if nothing): the tests
    fail, never skip, with these lines."""
    out = []
    for path, what in ((MASTER, 'cyrus-common'), (CTL_CYRUSDB, 'cyrus-common'),
                       (SASLPASSWD2, 'sasl2-bin'),
                       (IMAPD, 'the private cyrus-imapd (unpacked by tests/setup-deps)'),
                       (IDLED, 'the private cyrus-imapd (unpacked by tests/setup-deps)')):
        if not (os.path.isfile(path) and os.access(path, os.X_OK)):
            out.append('%s is missing: %s (run tests/setup-deps as root)' % (path, what))
    try:
        with open(os.path.join(CYRUS_ROOT, '.version')) as f:
            unpacked = f.read().strip()
    except OSError:
        unpacked = None
    p = subprocess.run(['dpkg-query', '-W', '-f=${Version}', 'cyrus-common'],
                       stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, timeout=30)
    common = p.stdout.decode().strip() if p.returncode == 0 else None
    if unpacked and common and unpacked != common:
        out.append('%s holds cyrus-imapd %s, cyrus-common is %s (run tests/setup-deps)'
                   % (CYRUS_ROOT, unpacked, common))
    try:
        pwd.getpwnam(CYRUS_USER)
    except KeyError:
        out.append('no user %r (cyrus-common creates it; run tests/setup-deps)' % CYRUS_USER)
    return out


def _chown_tree(path, uid, gid):
    os.chown(path, uid, gid)
    for root, dirs, files in os.walk(path):
        for n in dirs + files:
            os.chown(os.path.join(root, n), uid, gid, follow_symlinks=False)


class Cyrus:
    """A private Cyrus IMAP instance below basedir (which must be searchable
    by the cyrus user: use dovecot.make_basedir()). Same shape as
    dovecot.Dovecot where the tests use it: .port, .user, .password,
    .delimiter, .url(), .client(), start(), stop(), restart(), running()."""

    kind = 'cyrus'
    delimiter = '/'
    tls = False

    def __init__(self, basedir, *, user=DEFAULT_USER, password=DEFAULT_PASSWORD, port=None,
                 idle_poll=1, idled=False, telemetry=None, extra_conf='', users=None):
        self.basedir = os.path.abspath(basedir)
        self.user = user
        self.password = password
        self.users = dict(users or {})  # other users of the server: {name: password}
        self.port = port or dovecot.free_ports(1)[0]
        self.idle_poll = idle_poll
        self.idled = idled
        if telemetry is None:
            telemetry = bool(os.environ.get('IMAPFS_CYRUS_TELEMETRY'))
        self.telemetry = telemetry
        self.extra_conf = extra_conf
        self.admin = ADMIN
        self.admin_password = secrets.token_urlsafe(12)
        self.config_dir = os.path.join(self.basedir, 'config')
        self.partition = os.path.join(self.basedir, 'partition')
        self.conf_path = os.path.join(self.basedir, 'imapd.conf')
        self.cyrus_conf_path = os.path.join(self.basedir, 'cyrus.conf')
        self.sasldb_path = os.path.join(self.basedir, 'sasldb2')
        self.pidfile = os.path.join(self.basedir, 'master.pid')
        self.log_path = os.path.join(self.basedir, 'master.log')
        self.proc = None
        self.pid = None
        self._user_created = False
        problems = missing()
        if problems:
            raise CyrusError('cannot run Cyrus:\n  ' + '\n  '.join(problems))
        self._prepare()

    # -- setup

    def _prepare(self):
        os.makedirs(self.basedir, exist_ok=True)
        os.chmod(self.basedir, 0o755)
        subs = ['config', 'config/socket', 'config/proc', 'config/lock', 'config/db',
                'config/sieve', 'config/log', 'partition']
        for sub in subs:
            os.makedirs(os.path.join(self.basedir, sub), exist_ok=True)
        if self.telemetry:
            os.makedirs(os.path.join(self.config_dir, 'log', self.user), exist_ok=True)
        with open(self.conf_path, 'w') as f:
            f.write(self.config_text())
        with open(self.cyrus_conf_path, 'w') as f:
            f.write(self.cyrus_conf_text())
        for who, pw in [(self.user, self.password), (self.admin, self.admin_password)] + \
                list(self.users.items()):
            p = subprocess.run([SASLPASSWD2, '-f', self.sasldb_path, '-u', SERVERNAME,
                                '-p', '-c', who], input=pw.encode(),
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=30)
            if p.returncode != 0:
                raise CyrusError('saslpasswd2 for %s failed (%d): %s'
                                 % (who, p.returncode, p.stdout.decode(errors='replace')))
        cy = pwd.getpwnam(CYRUS_USER)
        gid = cy.pw_gid
        for sub in ('config', 'partition'):
            _chown_tree(os.path.join(self.basedir, sub), cy.pw_uid, gid)
            os.chmod(os.path.join(self.basedir, sub), 0o750)
        os.chown(self.sasldb_path, 0, gid)
        os.chmod(self.sasldb_path, 0o640)

    def config_text(self):
        c = self.config_dir
        return f'''# written by imapfs tests/cyrus.py -- a private test instance
configdirectory: {c}
defaultpartition: default
partition-default: {self.partition}
proc_path: {c}/proc
mboxname_lockpath: {c}/lock
idlesocket: {c}/socket/idle
lmtpsocket: {c}/socket/lmtp
notifysocket: {c}/socket/notify
sievedir: {c}/sieve
servername: {SERVERNAME}
syslog_prefix: imapfs-test-cyrus-{self.port}

# the personal namespace looks like Dovecot's: INBOX and its siblings at
# the top, '/' between levels
unixhierarchysep: yes
altnamespace: yes

# plaintext LOGIN without TLS, checked against the private sasldb
allowplaintext: yes
sasl_pwcheck_method: auxprop
sasl_auxprop_plugin: sasldb
sasl_sasldb_path: {self.sasldb_path}
sasl_mech_list: PLAIN LOGIN
admins: {self.admin}

# without idled, IDLE polls the mailbox this often (Cyrus's default is 60 s)
imapidlepoll: {self.idle_poll}
{self.extra_conf}
'''

    def cyrus_conf_text(self):
        conf = '-C ' + self.conf_path
        daemon = ''
        if self.idled:
            daemon = 'DAEMON {\n  idled cmd="%s %s"\n}\n' % (IDLED, conf)
        return f'''# written by imapfs tests/cyrus.py -- a private test instance
START {{
  recover cmd="{CTL_CYRUSDB} {conf} -r"
}}
SERVICES {{
  imap cmd="{IMAPD} {conf}" listen="{HOST}:{self.port}" prefork=1 maxchild=200
}}
EVENTS {{
}}
{daemon}'''

    # -- life

    def running(self):
        return self.pid is not None and dovecot._pid_alive(self.pid)

    def log(self):
        try:
            with open(self.log_path, errors='replace') as f:
                return f.read()
        except FileNotFoundError:
            return ''

    def telemetry_text(self):
        """Every telemetry log of the user (telemetry=True), concatenated."""
        d = os.path.join(self.config_dir, 'log', self.user)
        out = []
        if os.path.isdir(d):
            for n in sorted(os.listdir(d)):
                with open(os.path.join(d, n), 'rb') as f:
                    out.append('--- %s\n%s' % (n, f.read().decode('utf-8', 'replace')))
        return '\n'.join(out)

    def start(self, timeout=15.0, detach=False):
        """Start `master -D` with the private configuration and wait (bounded)
        until the port greets; create the user's mailboxes at the first start.
        detach=True: its own session, so it outlives this process (the CLI)."""
        if self.running():
            raise CyrusError('already running (pid %d)' % self.pid)
        out = open(self.log_path, 'ab')
        try:
            self.proc = subprocess.Popen(
                [MASTER, '-C', self.conf_path, '-M', self.cyrus_conf_path,
                 '-p', self.pidfile, '-D'],
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=detach)
        finally:
            out.close()
        self.pid = self.proc.pid
        try:
            self._wait_greeting(timeout)
            if not self._user_created:
                self._create_user()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_greeting(self, timeout):
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise CyrusError('cyrus master exited with %d:\n%s'
                                 % (self.proc.returncode, self.log()))
            try:
                with socket.create_connection((HOST, self.port), timeout=2) as s:
                    s.settimeout(5)
                    greeting = s.recv(512)
                if greeting.startswith(b'* OK'):
                    return
                last = greeting
            except OSError as e:
                last = e
            time.sleep(0.05)
        raise CyrusError('cyrus did not greet on %s:%d within %.0f s (%r):\n%s'
                         % (HOST, self.port, timeout, last, self.log()))

    def _create_user(self):
        """As the admin: CREATE user/<user> (the user's INBOX)."""
        c = imaplib.IMAP4(HOST, self.port, timeout=30)
        try:
            c.login(self.admin, self.admin_password)
            for who in [self.user] + list(self.users):
                typ, data = c.create('user/' + who)
                if typ != 'OK' and b'exists' not in b' '.join(data).lower():
                    raise CyrusError('CREATE user/%s failed: %r' % (who, data))
        finally:
            try:
                c.logout()
            except Exception:  # noqa: BLE001 -- best effort
                pass
        self._user_created = True

    def stop(self, timeout=10.0):
        """SIGTERM the master by pid (it ends its children), wait (bounded),
        SIGKILL if needed; then end by pid any child that outlived it; wait
        (bounded) until the port is closed."""
        pid, self.pid = self.pid, None
        if pid is None:
            return
        dovecot._stop_tree(pid, self.proc, timeout)
        self.proc = None
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                socket.create_connection((HOST, self.port), timeout=0.5).close()
            except OSError:
                break
            time.sleep(0.05)

    def restart(self, timeout=15.0):
        self.stop()
        return self.start(timeout)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # -- convenience

    def url(self, scheme='imap', host=None, user=True):
        if scheme != 'imap':
            raise CyrusError('this Cyrus has no TLS: only imap:// with -o tls=none')
        who = (self.user + '@') if user else ''
        return '%s://%s%s:%d' % (scheme, who, host or HOST, self.port)

    def client(self, user=None):
        return dovecot.imap_client(self, user=user)


# --------------------------------------------------------------------------
# the same content on any test server (Dovecot or Cyrus), through APPEND

# Names both servers accept ('%', '"', '\\' are refused by Cyrus), parents
# first. 'Lists/dev/deep/deeper' has levels that were never CREATEd: Dovecot
# shows them \Noselect, Cyrus creates them as mailboxes.
CORE_TREE = [
    'INBOX',
    'Archive',
    'Archive/2024',
    'Archive/2024/Q1',
    'Archive/2023',
    'Entwürfe',
    '日本語',
    '日本語/子供',
    'a b',
    'a.b',
    'Dots.',
    'Q&A',
    '*star',
    'Lists/dev/deep/deeper',
]
CORE_SA_COUNT = 200                              # SpamAssassin messages in corpus-sa
CORE_BIG_SIZES = (1 << 20, 3 << 20, 2000001)     # messages in 'big'
PDF_NAME = 'Rechnung März.pdf'


class CoreSeed:
    """What seed_core() put on a server."""

    def __init__(self):
        self.created = []      # mailboxes CREATEd, in order
        self.uids = {}         # mailbox -> [uid] appended, in order
        self.raw = {}          # (mailbox, uid) -> bytes appended
        self.big = {}          # uid in 'big' -> size
        self.parts = {}        # uid in 'parts' -> {part file name: decoded bytes}
        self.refused = []      # (mailbox, raw) the server refused to APPEND
        self.seconds = 0.0


def _dates(start=1262304000):
    """Distinct INTERNALDATEs (one an hour and a bit), in a few time zones."""
    zones = (0, 120, -480, 330, -210, 60)
    t, n = start, 0
    while True:
        t += 3607
        n += 1
        yield dovecot.imap_date(t, zones[n % len(zones)])


def _b64(data):
    enc = base64.b64encode(data)
    return b'\r\n'.join(enc[i:i + 76] for i in range(0, len(enc), 76)) + b'\r\n'


def parts_messages():
    """[(raw message, {part file name: decoded bytes})] for the 'parts'
    mailbox (every file of its .parts directory but header.txt): attachments
    in base64 and quoted-printable, an empty text part and an empty base64
    attachment (the issue notes Cyrus omits BINARY[n] for those), a
    message/rfc822 inside, and encoded parts that decode to nothing."""
    rnd = random.Random(15)
    pdf = b'%PDF-1.4\n%\xe2\xe3\xcf\xd3\n' + rnd.randbytes(300000)
    png = (b'\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06'
           b'\x00\x00\x00\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01'
           b'\x00\x05\x18\xd8N\x00\x00\x00\x00IEND\xaeB`\x82')
    text = 'Grüße aus dem Test, こんにちは.\r\nZeile zwei.\r\n'.encode('utf-8')
    qp_text = b'Gr=C3=BC=C3=9Fe =3D quoted-printable, a long line that is soft-=\r\nbroken.\r\n'
    qp_dec = 'Grüße = quoted-printable, a long line that is soft-broken.\r\n'.encode('utf-8')
    fname = "=?utf-8?q?Rechnung_M=C3=A4rz=2Epdf?="

    def message(subject, boundary, parts):
        """parts: [(header lines, content)]; each content is exactly the
        part's body (BODY[n]): the CRLF before a delimiter belongs to it."""
        b = boundary.encode()
        out = [('From: Parts Sender <parts@example.org>\r\nTo: alice@example.org\r\n'
                'Subject: %s\r\nDate: Wed, 03 Jan 2024 12:00:00 +0100\r\n'
                'Message-ID: <%s@servers.imapfs.test>\r\nMIME-Version: 1.0\r\n'
                'Content-Type: multipart/mixed; boundary="%s"\r\n\r\n'
                % (subject, boundary, boundary)).encode(), b'--' + b + b'\r\n']
        for i, (headers, content) in enumerate(parts):
            if i:
                out.append(b'\r\n--' + b + b'\r\n')
            out.append(b''.join(h.encode() + b'\r\n' for h in headers) + b'\r\n' + content)
        out.append(b'\r\n--' + b + b'--\r\n')
        return b''.join(out)

    m1 = message('attachments', '=_core1', [
        (['Content-Type: text/plain; charset=utf-8', 'Content-Transfer-Encoding: 8bit'], text),
        (['Content-Type: application/pdf; name="%s"' % fname,
          'Content-Disposition: attachment; filename="%s"' % fname,
          'Content-Transfer-Encoding: base64'], _b64(pdf)),
        (['Content-Type: image/png; name="pixel.png"', 'Content-Transfer-Encoding: base64'],
         _b64(png)),
        (['Content-Type: text/plain; charset=utf-8',
          'Content-Transfer-Encoding: quoted-printable'], qp_text)])
    want1 = {'1.txt': text, '2-' + PDF_NAME: pdf, '3-pixel.png': png, '4.txt': qp_dec}

    inner = dovecot.make_message('inner message', 'I am attached.\n',
                                 msgid='<inner@servers.imapfs.test>')
    m2 = message('empty parts', '=_core2', [
        (['Content-Type: text/plain; charset=us-ascii'], b'the next part is empty\r\n'),
        (['Content-Type: text/plain; charset=us-ascii'], b''),
        (['Content-Type: application/octet-stream; name="empty.bin"',
          'Content-Disposition: attachment; filename="empty.bin"',
          'Content-Transfer-Encoding: base64'], b''),
        (['Content-Type: message/rfc822'], inner)])
    want2 = {'1.txt': b'the next part is empty\r\n', '2.txt': b'', '3-empty.bin': b'',
             '4.eml': inner, '4.1.txt': b'I am attached.\r\n'}
    # parts whose encoded bodies decode to nothing: a base64 body of blank
    # lines, a quoted-printable body of one soft line break (their size is
    # known only once decoded: imapfs asks BINARY.SIZE or fetches them)
    m3 = message('blank parts', '=_core3', [
        (['Content-Type: text/plain; charset=us-ascii'], b'two blank parts follow\r\n'),
        (['Content-Type: application/octet-stream; name="blank.bin"',
          'Content-Disposition: attachment; filename="blank.bin"',
          'Content-Transfer-Encoding: base64'], b'\r\n\r\n'),
        (['Content-Type: text/plain; charset=us-ascii',
          'Content-Transfer-Encoding: quoted-printable'], b'=\r\n')])
    want3 = {'1.txt': b'two blank parts follow\r\n', '2-blank.bin': b'', '3.txt': b''}
    return [(m1, want1), (m2, want2), (m3, want3)]


def seed_core(server, *, sa_count=CORE_SA_COUNT):
    """Fill server (a started Dovecot or Cyrus; anything imap_client takes)
    through IMAP, the same on every server: CORE_TREE with three messages
    each (flags none, \\Seen, \\Flagged $Work; UTF-8 bodies), two old dates
    in INBOX, corpus-python (CPython's email test messages), corpus-sa
    (sa_count SpamAssassin messages), big (CORE_BIG_SIZES) and parts
    (parts_messages()). Returns a CoreSeed."""
    import corpus
    t0 = time.monotonic()
    seed = CoreSeed()
    dates = _dates()
    c = dovecot.imap_client(server)
    try:
        for name in CORE_TREE + ['corpus-python', 'corpus-sa', 'big', 'parts']:
            if name != 'INBOX':
                dovecot.create_mailbox(c, name)
                seed.created.append(name)
    finally:
        c.logout()

    def put(box, msgs):
        uids = dovecot.append_many(server, box, msgs)
        seed.uids.setdefault(box, []).extend(uids)
        for uid, (raw, _, _) in zip(uids, msgs):
            seed.raw[(box, uid)] = raw
        return uids

    k = 0
    for name in CORE_TREE:
        msgs = []
        for j in range(3):
            k += 1
            body = 'Hello from %s, message %d.\nGrüße, こんにちは.\n' % (name, j + 1)
            flags = [None, ['\\Seen'], ['\\Flagged', '$Work']][j]
            msgs.append((dovecot.make_message('Message %d in %s' % (j + 1, name), body,
                                              msgid='<core-%d@servers.imapfs.test>' % k),
                         next(dates), flags))
        put(name, msgs)
    put('INBOX', [(dovecot.make_message('Old', 'from 1980\n', msgid='<old@servers.imapfs.test>'),
                   '01-Feb-1980 00:00:00 +0000', None),
                  (dovecot.make_message('Y2K', 'from 1999\n', msgid='<y2k@servers.imapfs.test>'),
                   '31-Dec-1999 23:59:59 -1100', None)])
    # one APPEND a message, so that one the server refuses (Cyrus: "NO
    # Message contains invalid header", two of CPython's) is only left out
    c = dovecot.imap_client(server)
    try:
        for box, msgs in (('corpus-python', corpus.python_messages()),
                          ('corpus-sa', corpus.spamassassin_messages(sa_count))):
            seed.uids[box] = []
            for raw in msgs:
                try:
                    uid = dovecot.append(c, box, raw, date=next(dates))
                except dovecot.DovecotError:
                    seed.refused.append((box, raw))
                    continue
                seed.uids[box].append(uid)
                seed.raw[(box, uid)] = raw
    finally:
        c.logout()
    bigs = [dovecot.make_big_message(size, seed=i + 1) for i, size in enumerate(CORE_BIG_SIZES)]
    seed.big = dict(zip(put('big', [(m, next(dates), None) for m in bigs]), CORE_BIG_SIZES))
    pm = parts_messages()
    for uid, (_, want) in zip(put('parts', [(m, next(dates), None) for m, _ in pm]), pm):
        seed.parts[uid] = want
    seed.seconds = time.monotonic() - t0
    return seed


# --------------------------------------------------------------------------
# CLI

def _cli_demo(args):
    d = os.path.abspath(args.dir)
    os.makedirs(d, exist_ok=True)
    os.chmod(d, 0o755)
    pidfile = os.path.join(d, 'cyrus.pid')
    if os.path.exists(pidfile):
        with open(pidfile) as f:
            pid = int(f.read().strip() or 0)
        if pid and dovecot._pid_alive(pid):
            print('already running: pid %d (stop it with: %s stop --dir %s)'
                  % (pid, sys.argv[0], d), file=sys.stderr)
            return 1
    cy = Cyrus(os.path.join(d, 'server'), user=args.user,
               password=args.password or DEFAULT_PASSWORD, idled=args.idled,
               telemetry=args.telemetry)
    cy.start(detach=True)
    try:
        seed = seed_core(cy)
    except BaseException:
        cy.stop()
        raise
    with open(pidfile, 'w') as f:
        f.write('%d\n' % cy.pid)
    print('host: %s' % HOST)
    print('port: %d' % cy.port)
    print('user: %s' % cy.user)
    print('password: %s' % cy.password)
    print('messages: %d in %d mailboxes' % (sum(len(v) for v in seed.uids.values()),
                                            len(seed.uids)))
    print('pid: %d' % cy.pid)
    print('url: %s' % cy.url())
    return 0


def _cli_stop(args):
    pidfile = os.path.join(os.path.abspath(args.dir), 'cyrus.pid')
    try:
        with open(pidfile) as f:
            pid = int(f.read().strip())
    except (FileNotFoundError, ValueError):
        print('no pid in %s' % pidfile, file=sys.stderr)
        return 1
    if dovecot._pid_alive(pid):
        dovecot._stop_tree(pid)
    os.unlink(pidfile)
    print('stopped pid %d' % pid)
    return 0


def main(argv=None):
    ap = argparse.ArgumentParser(description='a private Cyrus IMAP for imapfs tests')
    sub = ap.add_subparsers(dest='cmd', required=True)
    p = sub.add_parser('demo', help='start a seeded server and leave it running')
    p.add_argument('--dir', required=True)
    p.add_argument('--user', default=DEFAULT_USER)
    p.add_argument('--password')
    p.add_argument('--idled', action='store_true', help='run idled (IDLE pushed at once)')
    p.add_argument('--telemetry', action='store_true', help="log the user's sessions")
    p.set_defaults(func=_cli_demo)
    p = sub.add_parser('stop', help='stop the server started by demo')
    p.add_argument('--dir', required=True)
    p.set_defaults(func=_cli_stop)
    args = ap.parse_args(argv)
    return args.func(args)


if __name__ == '__main__':
    sys.exit(main())
