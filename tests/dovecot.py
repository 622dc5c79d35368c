#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""A private Dovecot for imapfs's integration tests, and a CLI around it.

Module use (no pytest needed):

    ca = TestCA('/tmp/x/ca')                    # openssl CLI: CA + server certs
    dv = Dovecot('/tmp/x/dv', tls=True, ca=ca)  # writes dovecot.conf, passwd
    dv.start()                                  # `dovecot -F -c conf`, waits
    c = imap_client(dv)                         # logged-in imaplib.IMAP4
    append(c, 'Entwürfe', raw_bytes, date=1700000000)
    dv.stop()

CLI:

    python3 tests/dovecot.py demo --dir DIR   # start a seeded server, print
                                              # host/port/user/password, leave
                                              # it running (pid in DIR/dovecot.pid)
    python3 tests/dovecot.py stop --dir DIR

Everything listens on 127.0.0.1 only. Every wait is bounded. The base
directory must be reachable (search permission) by the `dovecot` user, since
the mail processes run as that user: use make_basedir() (a 0755 directory
below /tmp), not a directory below a 0700 one such as pytest's tmp_path.
"""

import argparse
import base64
import datetime
import grp
import os
import pwd
import random
import re
import shutil
import signal
import socket
import ssl
import stat
import subprocess
import sys
import tempfile
import time
import imaplib

HOST = '127.0.0.1'
DEFAULT_USER = 'alice'
# Space, quotes and a backslash: a client must quote the password properly.
# Distinctive, so a test can assert that it never shows up in a log.
DEFAULT_PASSWORD = 'Pw-7gQ2 "k"\\zz'

DOVECOT = shutil.which('dovecot') or '/usr/sbin/dovecot'
OPENSSL = shutil.which('openssl') or '/usr/bin/openssl'
DH_PEM = '/usr/share/dovecot/dh.pem'


# --------------------------------------------------------------------------
# small IMAP helpers (modified UTF-7, quoting, dates)

def mutf7_encode(name):
    """UTF-8 str -> modified UTF-7 (RFC 3501 5.1.3) str."""
    out = []
    run = []

    def flush():
        if run:
            b = ''.join(run).encode('utf-16-be')
            out.append('&' + base64.b64encode(b).decode('ascii')
                       .rstrip('=').replace('/', ',') + '-')
            run.clear()

    for ch in name:
        if 0x20 <= ord(ch) <= 0x7e:
            flush()
            out.append('&-' if ch == '&' else ch)
        else:
            run.append(ch)
    flush()
    return ''.join(out)


def mutf7_decode(name):
    """Modified UTF-7 str (or bytes) -> UTF-8 str. Raises ValueError."""
    if isinstance(name, bytes):
        name = name.decode('ascii')
    out = []
    i = 0
    while i < len(name):
        ch = name[i]
        if ch != '&':
            out.append(ch)
            i += 1
            continue
        j = name.index('-', i + 1)
        if j == i + 1:
            out.append('&')
        else:
            b64 = name[i + 1:j].replace(',', '/')
            b64 += '=' * (-len(b64) % 4)
            out.append(base64.b64decode(b64, validate=True).decode('utf-16-be'))
        i = j + 1
    return ''.join(out)


def imap_quote(s):
    """A str as an IMAP quoted string (caller ensures no CR/LF/NUL)."""
    return '"' + s.replace('\\', '\\\\').replace('"', '\\"') + '"'


def wire_mailbox(name):
    """A UTF-8 mailbox name as the quoted modified UTF-7 argument imaplib needs."""
    return imap_quote(mutf7_encode(name))


_MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun',
           'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec']


def imap_date(when, tz_minutes=0):
    """INTERNALDATE text ("dd-Mon-yyyy hh:mm:ss +zzzz", unquoted) of epoch
    seconds `when` (int) or an aware datetime, shown in zone tz_minutes."""
    if isinstance(when, datetime.datetime):
        when = int(when.timestamp())
    tz = datetime.timezone(datetime.timedelta(minutes=tz_minutes))
    d = datetime.datetime.fromtimestamp(int(when), tz)
    sign = '+' if tz_minutes >= 0 else '-'
    m = abs(tz_minutes)
    return '%02d-%s-%04d %02d:%02d:%02d %s%02d%02d' % (
        d.day, _MONTHS[d.month - 1], d.year, d.hour, d.minute, d.second,
        sign, m // 60, m % 60)


def parse_imap_date(text):
    """INTERNALDATE text -> epoch seconds."""
    if isinstance(text, bytes):
        text = text.decode('ascii')
    text = text.strip().strip('"')
    m = re.fullmatch(r'\s?(\d{1,2})-(\w{3})-(\d{4}) (\d\d):(\d\d):(\d\d) ([+-])(\d\d)(\d\d)',
                     text)
    if not m:
        raise ValueError('bad INTERNALDATE %r' % text)
    day, mon, year, hh, mm, ss, sign, zh, zm = m.groups()
    off = (int(zh) * 60 + int(zm)) * (1 if sign == '+' else -1)
    tz = datetime.timezone(datetime.timedelta(minutes=off))
    d = datetime.datetime(int(year), _MONTHS.index(mon) + 1, int(day),
                          int(hh), int(mm), int(ss), tzinfo=tz)
    return int(d.timestamp())


def free_ports(n):
    """n distinct currently free TCP ports on 127.0.0.1."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind((HOST, 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def make_basedir(prefix='imapfs-dovecot-'):
    """A new directory below /tmp that the dovecot user can search."""
    d = tempfile.mkdtemp(prefix=prefix, dir='/tmp')
    os.chmod(d, 0o755)
    return d


def _run(cmd, cwd=None):
    p = subprocess.run(cmd, cwd=cwd, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=60)
    if p.returncode != 0:
        raise RuntimeError('%s failed (%d):\n%s' % (
            ' '.join(cmd), p.returncode, p.stdout.decode(errors='replace')))
    return p.stdout


def _pid_alive(pid):
    """True while pid exists and is not a zombie."""
    try:
        with open('/proc/%d/stat' % pid) as f:
            st = f.read()
    except FileNotFoundError:
        return False
    # state is the field after the parenthesised command name
    return st[st.rindex(')') + 2] not in 'ZX'


def _proc_stat(pid):
    """(ppid, starttime, state) of pid from /proc, or None."""
    try:
        with open('/proc/%d/stat' % pid) as f:
            st = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    rest = st[st.rindex(')') + 2:].split()
    return int(rest[1]), int(rest[19]), rest[0]


def _descendants(pid):
    """[(pid, starttime)] of all live descendants of pid."""
    parent = {}
    for name in os.listdir('/proc'):
        if name.isdigit():
            s = _proc_stat(int(name))
            if s is not None:
                parent[int(name)] = s
    out = []
    todo = [pid]
    for _ in range(100000):
        if not todo:
            break
        p = todo.pop()
        for child, (ppid, start, _) in parent.items():
            if ppid == p:
                out.append((child, start))
                todo.append(child)
    return out


def _same_process(pid, starttime):
    """True while pid is alive (not a zombie) and still the process that had
    this start time (pids get reused)."""
    s = _proc_stat(pid)
    return s is not None and s[1] == starttime and s[2] not in 'ZX'


def _stop_tree(pid, proc=None, timeout=10.0):
    """SIGTERM pid (a Dovecot master; proc its Popen if ours), wait bounded,
    SIGKILL if needed; then SIGTERM, later SIGKILL, its descendants that
    outlive it -- each by pid, checked against its start time."""
    children = _descendants(pid)
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    if proc is not None:
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.kill(pid, signal.SIGKILL)
            proc.wait(5)
    elif not _wait_pid_gone(pid, timeout):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        _wait_pid_gone(pid, 5)
    for sig, wait in ((signal.SIGTERM, 3), (signal.SIGKILL, 3)):
        alive = [c for c in children if _same_process(*c)]
        if not alive:
            break
        for cpid, _ in alive:
            try:
                os.kill(cpid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline and any(_same_process(*c) for c in alive):
            time.sleep(0.02)


def _wait_pid_gone(pid, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _pid_alive(pid):
            return True
        time.sleep(0.05)
    return not _pid_alive(pid)


# --------------------------------------------------------------------------
# test certificates

class TestCA:
    """A throw-away CA and server certificates, made with the openssl CLI.

    Attributes (paths): ca_cert, ca_key; server_cert/server_key (CA-signed,
    DNS:localhost + IP:127.0.0.1); wrong_host_cert/wrong_host_key (CA-signed,
    DNS:wrong.example only); expired_cert/expired_key (CA-signed, right names,
    valid only in 2020); self_signed_cert/self_signed_key (right names, its
    own issuer). Files are reused if already present in `directory`.
    """

    __test__ = False  # not a pytest test class

    GOOD_SAN = 'DNS:localhost,IP:127.0.0.1'

    def __init__(self, directory):
        self.dir = os.path.abspath(directory)
        os.makedirs(self.dir, exist_ok=True)
        p = lambda n: os.path.join(self.dir, n)
        self.ca_cert, self.ca_key = p('ca.crt'), p('ca.key')
        self.server_cert, self.server_key = p('server.crt'), p('server.key')
        self.wrong_host_cert, self.wrong_host_key = p('wrong-host.crt'), p('wrong-host.key')
        self.expired_cert, self.expired_key = p('expired.crt'), p('expired.key')
        self.self_signed_cert, self.self_signed_key = p('self-signed.crt'), p('self-signed.key')
        if not os.path.exists(p('done')):
            self._generate()
            with open(p('done'), 'w') as f:
                f.write('ok\n')

    def pair(self, which):
        """(cert, key) of 'server', 'wrong_host', 'expired' or 'self_signed'."""
        return getattr(self, which + '_cert'), getattr(self, which + '_key')

    def _newkey(self):
        return ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes']

    def _ext(self, name, san):
        path = os.path.join(self.dir, name + '.ext')
        with open(path, 'w') as f:
            f.write('[v3]\nsubjectAltName = %s\nbasicConstraints = critical,CA:FALSE\n'
                    'keyUsage = critical,digitalSignature,keyEncipherment\n'
                    'extendedKeyUsage = serverAuth\n'
                    'subjectKeyIdentifier = hash\n'
                    'authorityKeyIdentifier = keyid\n' % san)
        return path

    def _csr(self, name, cn):
        key = os.path.join(self.dir, name + '.key')
        csr = os.path.join(self.dir, name + '.csr')
        _run([OPENSSL, 'req', '-new'] + self._newkey() +
             ['-keyout', key, '-out', csr, '-subj', '/CN=' + cn])
        return csr

    def _sign(self, name, cn, san, serial):
        csr = self._csr(name, cn)
        _run([OPENSSL, 'x509', '-req', '-in', csr, '-CA', self.ca_cert,
              '-CAkey', self.ca_key, '-set_serial', str(serial), '-days', '3650',
              '-sha256', '-out', os.path.join(self.dir, name + '.crt'),
              '-extfile', self._ext(name, san), '-extensions', 'v3'])

    def _generate(self):
        d = self.dir
        _run([OPENSSL, 'req', '-x509'] + self._newkey() +
             ['-keyout', self.ca_key, '-out', self.ca_cert, '-days', '3650',
              '-sha256', '-subj', '/CN=imapfs test CA',
              '-addext', 'basicConstraints=critical,CA:TRUE',
              '-addext', 'keyUsage=critical,keyCertSign,cRLSign'])
        self._sign('server', 'localhost', self.GOOD_SAN, 1001)
        self._sign('wrong-host', 'wrong.example', 'DNS:wrong.example', 1002)
        # expired: `openssl ca` is the CLI way to set an arbitrary validity
        csr = self._csr('expired', 'localhost')
        cadir = os.path.join(d, 'ca-db')
        os.makedirs(os.path.join(cadir, 'new'), exist_ok=True)
        open(os.path.join(cadir, 'index.txt'), 'w').close()
        with open(os.path.join(cadir, 'serial'), 'w') as f:
            f.write('1003\n')
        cnf = os.path.join(cadir, 'ca.cnf')
        with open(cnf, 'w') as f:
            f.write('[ca]\ndefault_ca = testca\n[testca]\n'
                    'database = %s/index.txt\nnew_certs_dir = %s/new\n'
                    'serial = %s/serial\ndefault_md = sha256\npolicy = pol\n'
                    'unique_subject = no\n[pol]\ncommonName = supplied\n'
                    % (cadir, cadir, cadir))
        _run([OPENSSL, 'ca', '-batch', '-notext', '-config', cnf,
              '-cert', self.ca_cert, '-keyfile', self.ca_key, '-in', csr,
              '-out', self.expired_cert,
              '-startdate', '20200101000000Z', '-enddate', '20200201000000Z',
              '-extfile', self._ext('expired', self.GOOD_SAN), '-extensions', 'v3'])
        _run([OPENSSL, 'req', '-x509'] + self._newkey() +
             ['-keyout', self.self_signed_key, '-out', self.self_signed_cert,
              '-days', '3650', '-sha256', '-subj', '/CN=localhost',
              '-addext', 'subjectAltName=' + self.GOOD_SAN])
        for f in os.listdir(d):
            if f.endswith('.key'):
                os.chmod(os.path.join(d, f), 0o600)

    def client_context(self):
        """An ssl.SSLContext that trusts only this CA and checks host names."""
        ctx = ssl.create_default_context(cafile=self.ca_cert)
        return ctx


# --------------------------------------------------------------------------
# the server

class DovecotError(RuntimeError):
    pass


class Dovecot:
    """A private Dovecot instance below `basedir`.

    layout='fs' gives hierarchy delimiter '/', layout='maildir++' gives '.'.
    listescape=True loads the listescape plugin, so that names may hold the
    characters the layout reserves ('/' with maildir++).
    tls=True needs `ca` (a TestCA); `cert` picks its server certificate
    ('server', 'wrong_host', 'expired', 'self_signed') or is a (cert, key)
    pair. Ports: .port (imap, STARTTLS offered iff tls) and .imaps_port
    (implicit TLS, only with tls). They are chosen once and kept by restart().
    """

    def __init__(self, basedir, *, tls=False, ca=None, cert='server',
                 user=DEFAULT_USER, password=DEFAULT_PASSWORD, extra_conf='',
                 layout='fs', listescape=False, port=None, imaps_port=None,
                 trash=None, users=None, acl=False):
        self.basedir = os.path.abspath(basedir)
        self.tls = tls
        self.ca = ca
        self.user = user
        self.password = password
        self.extra_conf = extra_conf
        if layout not in ('fs', 'maildir++'):
            raise ValueError('layout must be fs or maildir++')
        self.layout = layout
        self.listescape = listescape
        self.trash = trash  # a mailbox name LIST marks \Trash (RFC 6154), or None
        # Other users of the same server ({name: password}), and ACLs (RFC 4314)
        # with a shared namespace (shared/<user>/) and a public one (Public/).
        self.users = dict(users or {})
        self.acl = acl
        if acl and layout != 'fs':
            raise ValueError('acl=True needs layout fs')
        self.delimiter = '/' if layout == 'fs' else '.'
        if tls and ca is None:
            raise ValueError('tls=True needs ca=TestCA(...)')
        if tls:
            self.cert_file, self.key_file = (ca.pair(cert) if isinstance(cert, str)
                                             else cert)
        else:
            self.cert_file = self.key_file = None
        ports = free_ports(2)
        self.port = port or ports[0]
        self.imaps_port = (imaps_port or ports[1]) if tls else None
        self.host = HOST
        self.proc = None
        self.pid = None
        self.conf_path = os.path.join(self.basedir, 'dovecot.conf')
        self.log_path = os.path.join(self.basedir, 'dovecot.log')
        self.passwd_path = os.path.join(self.basedir, 'passwd')
        self.mail_root = os.path.join(self.basedir, 'mail')
        self._prepare()

    # -- setup

    def _check_reachable(self):
        """The dovecot user must be able to search every directory above."""
        path = self.basedir
        while True:
            st = os.stat(path)
            if not st.st_mode & stat.S_IXOTH:
                raise DovecotError(
                    '%s is not searchable by others (mode %o): the dovecot user '
                    'cannot reach %s; use dovecot.make_basedir() (a 0755 '
                    'directory below /tmp)' % (path, st.st_mode & 0o7777,
                                               self.basedir))
            parent = os.path.dirname(path)
            if parent == path:
                return
            path = parent

    def _prepare(self):
        os.makedirs(self.basedir, exist_ok=True)
        os.chmod(self.basedir, 0o755)
        self._check_reachable()
        uid = pwd.getpwnam('dovecot').pw_uid
        gid = grp.getgrnam('dovecot').gr_gid
        for sub in ('mail', 'home'):
            d = os.path.join(self.basedir, sub)
            os.makedirs(d, exist_ok=True)
            os.chown(d, uid, gid)
            os.chmod(d, 0o700)
        for sub in ('run', 'state'):
            os.makedirs(os.path.join(self.basedir, sub), exist_ok=True)
        with open(self.passwd_path, 'w') as f:
            f.write('%s:{PLAIN}%s::::::\n' % (self.user, self.password))
            for name, password in self.users.items():
                f.write('%s:{PLAIN}%s::::::\n' % (name, password))
        if self.acl:
            # The public namespace's root, where its admin may create folders.
            public = os.path.join(self.basedir, 'public')
            os.makedirs(public, exist_ok=True)
            with open(os.path.join(public, 'dovecot-acl'), 'w') as f:
                f.write('user=%s lrwstipekxa\nanyone lr\n' % self.user)
            for root, dirs, files in os.walk(public):
                for n in [root] + [os.path.join(root, f) for f in files]:
                    os.chown(n, uid, gid)
        os.chmod(self.passwd_path, 0o640)
        os.chown(self.passwd_path, 0, gid)
        with open(self.conf_path, 'w') as f:
            f.write(self.config_text())

    def config_text(self):
        b = self.basedir
        if self.layout == 'fs':
            location = 'maildir:%s/mail/%%u:LAYOUT=fs' % b
        else:
            location = 'maildir:%s/mail/%%u' % b
        if self.tls:
            ssl_conf = ('ssl = yes\nssl_cert = <%s\nssl_key = <%s\n'
                        'ssl_min_protocol = TLSv1.2\n' % (self.cert_file, self.key_file))
            if os.path.exists(DH_PEM):
                ssl_conf += 'ssl_dh = <%s\n' % DH_PEM
            imaps = 'port = %d\n    ssl = yes' % self.imaps_port
        else:
            ssl_conf = 'ssl = no\n'
            imaps = 'port = 0'
        trash = ''
        if self.trash:
            trash = '  mailbox "%s" {\n    special_use = \\Trash\n  }\n' % self.trash
        acl_conf = acl_globals = ''
        imap_plugins = ''
        separator = ''
        if self.acl:
            separator = '  separator = /\n'
            imap_plugins = '  mail_plugins = $mail_plugins imap_acl imap_quota\n'
            acl_globals = 'mail_plugins = $mail_plugins acl quota\n'
            acl_conf = f'''plugin {{
  # rights changed by an owner apply at once (the default stat()s every 30 s)
  acl = vfile:cache_secs=0
  acl_shared_dict = file:{b}/home/shared-mailboxes.db
  quota = count:User quota
  quota_vsizes = yes
  quota_rule = *:storage=100M
}}
namespace shared {{
  type = shared
  separator = /
  prefix = shared/%%u/
  location = maildir:{b}/mail/%%u:LAYOUT=fs:INDEXPVT={b}/home/%u/shared/%%u
  subscriptions = no
  list = children
}}
namespace public {{
  type = public
  separator = /
  prefix = Public/
  location = maildir:{b}/public:LAYOUT=fs:INDEXPVT={b}/home/%u/public
  subscriptions = no
  list = children
}}
'''
        listescape = ''
        if self.listescape:
            listescape = ('mail_plugins = $mail_plugins listescape\n'
                          'plugin {\n  listescape_char = "\\\\"\n}\n')
        return f'''# written by imapfs tests/dovecot.py -- a private test instance
instance_name = imapfs-test-{self.port}
base_dir = {b}/run
state_dir = {b}/state
log_path = {self.log_path}
info_log_path = {self.log_path}
protocols = imap
listen = {HOST}
shutdown_clients = yes

default_login_user = dovenull
default_internal_user = dovecot
first_valid_uid = 0
first_valid_gid = 0
default_process_limit = 200
default_client_limit = 2000

mail_location = {location}
mailbox_list_index = yes
mail_fsync = never
{acl_globals}
auth_mechanisms = plain login
disable_plaintext_auth = no
auth_failure_delay = 0
auth_verbose = yes
login_trusted_networks = 127.0.0.0/8
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {self.passwd_path}
}}
userdb {{
  driver = static
  args = uid=dovecot gid=dovecot home={b}/home/%u
}}

{ssl_conf}
service imap-login {{
  inet_listener imap {{
    address = {HOST}
    port = {self.port}
  }}
  inet_listener imaps {{
    address = {HOST}
    {imaps}
  }}
}}
protocol imap {{
  mail_max_userip_connections = 1000
{imap_plugins}}}
# no auth penalty (growing delays after failed logins from one IP): the
# documented way is to make anvil's penalty socket unusable
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
namespace inbox {{
  inbox = yes
{separator}  mailbox Archive {{
    special_use = \\Archive
  }}
{trash}}}

{listescape}
{acl_conf}
{self.extra_conf}
'''

    # -- life

    def running(self):
        return self.pid is not None and _pid_alive(self.pid)

    def log(self):
        try:
            with open(self.log_path, errors='replace') as f:
                return f.read()
        except FileNotFoundError:
            return ''

    def start(self, timeout=10.0, detach=False):
        """Start `dovecot -F -c conf` and wait until the imap port greets.

        detach=True starts it in its own session, so it outlives this process
        (the demo CLI); it is still stopped by pid."""
        if self.running():
            raise DovecotError('already running (pid %d)' % self.pid)
        out = open(os.path.join(self.basedir, 'dovecot.stdout'), 'ab')
        try:
            self.proc = subprocess.Popen([DOVECOT, '-F', '-c', self.conf_path],
                                         stdin=subprocess.DEVNULL, stdout=out,
                                         stderr=subprocess.STDOUT,
                                         start_new_session=detach)
        finally:
            out.close()
        self.pid = self.proc.pid
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise DovecotError('dovecot exited with %d:\n%s\n%s' % (
                    self.proc.returncode, self._stdout(), self.log()))
            try:
                with socket.create_connection((HOST, self.port), timeout=2) as s:
                    s.settimeout(2)
                    greeting = s.recv(512)
                if greeting.startswith(b'* OK'):
                    if self.tls:
                        socket.create_connection((HOST, self.imaps_port), timeout=2).close()
                    return self
                last = greeting
            except OSError as e:
                last = e
            time.sleep(0.05)
        self.stop()
        raise DovecotError('dovecot did not greet on %s:%d within %.0f s (%r):\n%s'
                           % (HOST, self.port, timeout, last, self.log()))

    def _stdout(self):
        try:
            with open(os.path.join(self.basedir, 'dovecot.stdout'), errors='replace') as f:
                return f.read()
        except FileNotFoundError:
            return ''

    def stop(self, timeout=10.0):
        """SIGTERM the master by pid, wait (bounded), SIGKILL if needed; then
        end its surviving children by pid too (Dovecot 2.3 leaves running
        imap processes, and so open client connections, behind otherwise)."""
        pid, self.pid = self.pid, None
        if pid is None:
            return
        _stop_tree(pid, self.proc, timeout)
        self.proc = None
        # the listeners are closed once the master is gone; wait for the port
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                socket.create_connection((HOST, self.port), timeout=0.5).close()
            except OSError:
                break
            time.sleep(0.05)

    def restart(self, timeout=10.0):
        self.stop()
        return self.start(timeout)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # -- convenience

    def url(self, scheme='imap', host=None, user=True):
        port = self.imaps_port if scheme == 'imaps' else self.port
        who = (self.user + '@') if user else ''
        return '%s://%s%s:%d' % (scheme, who, host or HOST, port)

    def client(self):
        return imap_client(self)


# --------------------------------------------------------------------------
# clients

def _nodelay(sock):
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def imap_client(dv, *, tls=None, starttls=False, timeout=30, user=None):
    """A logged-in imaplib client: plaintext by default, tls='imaps' for
    implicit TLS, or starttls=True; TLS trusts dv.ca and checks the name
    'localhost'. TCP_NODELAY is set (imaplib stalls 40 ms a command without)."""
    if tls == 'imaps':
        ctx = dv.ca.client_context()
        c = imaplib.IMAP4_SSL('localhost', dv.imaps_port, ssl_context=ctx, timeout=timeout)
    else:
        c = imaplib.IMAP4(HOST, dv.port, timeout=timeout)
        _nodelay(c.sock)
        if starttls:
            ctx = dv.ca.client_context()
            # the context checks the name given here, not the address dialled
            c.host = 'localhost'
            c.starttls(ssl_context=ctx)
    _nodelay(c.sock)
    if user is None:
        c.login(dv.user, dv.password)
    else:
        c.login(user, dv.users[user])
    return c


_APPENDUID = re.compile(rb'\[APPENDUID (\d+) ([0-9:,]+)\]')


def _uid_set(text):
    out = []
    for part in text.split(b','):
        if b':' in part:
            a, b = (int(x) for x in part.split(b':'))
            out.extend(range(min(a, b), max(a, b) + 1))
        else:
            out.append(int(part))
    return out


def _flags_text(flags):
    if flags is None:
        return None
    if isinstance(flags, str):
        flags = flags.split()
    return '(' + ' '.join(flags) + ')'


def append(client, mailbox, raw, date=None, flags=None, tz_minutes=0):
    """APPEND raw bytes unchanged (imaplib's own append() rewrites bare CR
    and LF) to mailbox (a UTF-8 name). date: epoch seconds, aware datetime or
    INTERNALDATE text; flags: list or space-separated str. Returns the UID."""
    args = [wire_mailbox(mailbox)]
    ft = _flags_text(flags)
    if ft is not None:
        args.append(ft)
    if date is not None:
        if not isinstance(date, str):
            date = imap_date(date, tz_minutes)
        args.append('"' + date + '"')
    client.literal = raw
    typ, data = client._simple_command('APPEND', *args)
    if typ != 'OK':
        raise DovecotError('APPEND to %r failed: %r' % (mailbox, data))
    m = _APPENDUID.search(b' '.join(d for d in data if isinstance(d, bytes)))
    if m is None:
        # imaplib keeps the response code in untagged_responses
        code = client.untagged_responses.pop('APPENDUID', [None])[-1]
        if code is None:
            return None
        return int(code.split()[1])
    return _uid_set(m.group(2))[-1]


def create_mailbox(client, name):
    typ, data = client.create(wire_mailbox(name))
    if typ != 'OK':
        raise DovecotError('CREATE %r failed: %r' % (name, data))


class _RawConn:
    """A minimal pipelining IMAP connection for bulk APPEND (LITERAL+)."""

    def __init__(self, dv, timeout=120):
        self.sock = socket.create_connection((HOST, dv.port), timeout=timeout)
        _nodelay(self.sock)
        self.rf = self.sock.makefile('rb')
        self.tagn = 0
        greeting = self.rf.readline()
        if not greeting.startswith(b'* OK'):
            raise DovecotError('bad greeting %r' % greeting)
        ok, lines = self.command(b'LOGIN ' + imap_quote(dv.user).encode() + b' '
                                 + imap_quote(dv.password).encode())
        if not ok:
            raise DovecotError('LOGIN failed: %r' % lines)
        self.caps = b' '.join(lines).upper()
        if b'CAPABILITY' not in self.caps:
            ok, lines = self.command(b'CAPABILITY')
            self.caps = b' '.join(lines).upper()

    def tag(self):
        self.tagn += 1
        return b'B%d' % self.tagn

    def command(self, text):
        t = self.tag()
        self.sock.sendall(t + b' ' + text + b'\r\n')
        return self.read_tagged(t)

    def read_tagged(self, t):
        lines = []
        for _ in range(1000000):
            line = self.rf.readline()
            if not line:
                raise DovecotError('connection closed; got %r' % lines[-5:])
            lines.append(line)
            if line.startswith(t + b' '):
                return line.split(b' ', 2)[1] == b'OK', lines
        raise DovecotError('no tagged reply')

    def close(self):
        try:
            self.sock.sendall(b'Z LOGOUT\r\n')
        except OSError:
            pass
        self.rf.close()
        self.sock.close()


def append_many(dv, mailbox, messages, batch_bytes=8 << 20, batch_count=500):
    """Fast bulk APPEND: messages is a list of (raw, date, flags) (date and
    flags as for append(); date may be None). Uses MULTIAPPEND and LITERAL+,
    pipelined, on its own connection. Returns the UIDs in order."""
    conn = _RawConn(dv)
    try:
        if b'LITERAL+' not in conn.caps or b'MULTIAPPEND' not in conn.caps:
            raise DovecotError('server lacks LITERAL+/MULTIAPPEND: %r' % conn.caps)
        box = wire_mailbox(mailbox).encode()
        tags = []
        chunks = []
        i = 0
        while i < len(messages):
            t = conn.tag()
            parts = [t, b' APPEND ', box]
            size = n = 0
            while i < len(messages) and (n == 0 or (size < batch_bytes and n < batch_count)):
                raw, date, flags = messages[i]
                ft = _flags_text(flags)
                if ft is not None:
                    parts.append(b' ' + ft.encode())
                if date is not None:
                    if not isinstance(date, str):
                        date = imap_date(date)
                    parts.append(b' "' + date.encode() + b'"')
                parts.append(b' {%d+}\r\n' % len(raw))
                parts.append(raw)
                size += len(raw)
                n += 1
                i += 1
            parts.append(b'\r\n')
            tags.append((t, n))
            chunks.append(b''.join(parts))
        # replies are one short tagged line per command: sending everything
        # before reading cannot fill the server's output buffer
        conn.sock.sendall(b''.join(chunks))
        uids = []
        for t, n in tags:
            ok, lines = conn.read_tagged(t)
            if not ok:
                raise DovecotError('APPEND to %r failed: %r' % (mailbox, lines[-3:]))
            m = _APPENDUID.search(lines[-1])
            if m is None:
                raise DovecotError('no APPENDUID in %r' % lines[-1])
            got = _uid_set(m.group(2))
            if len(got) != n:
                raise DovecotError('APPENDUID %r for %d messages' % (m.group(2), n))
            uids.extend(got)
        return uids
    finally:
        conn.close()


# --------------------------------------------------------------------------
# server-side views, for comparing with the mount

_LIST_RE = re.compile(rb'\((?P<attrs>[^)]*)\) (?P<delim>NIL|"(?:[^"\\]|\\.)") (?P<name>.*)$')


def _unquote(b):
    if b.startswith(b'"') and b.endswith(b'"'):
        return re.sub(rb'\\(.)', rb'\1', b[1:-1])
    return b


def list_mailboxes(client):
    """[(utf8_name, delimiter or None, attributes set)] from LIST "" *."""
    typ, data = client.list('""', '*')
    if typ != 'OK':
        raise DovecotError('LIST failed: %r' % data)
    out = []
    it = iter(data)
    for item in it:
        if isinstance(item, tuple):  # name sent as a literal
            head, lit = item
            m = _LIST_RE.match(head + b'""')
            name = lit
        else:
            m = _LIST_RE.match(item)
            name = _unquote(m.group('name'))
        d = m.group('delim')
        delim = None if d == b'NIL' else _unquote(d).decode()
        attrs = set(m.group('attrs').decode().split())
        out.append((mutf7_decode(name), delim, attrs))
    return out


def select(client, mailbox, readonly=True):
    typ, data = client.select(wire_mailbox(mailbox), readonly=readonly)
    if typ != 'OK':
        raise DovecotError('SELECT %r failed: %r' % (mailbox, data))
    return int(data[0])


def fetch_meta(client, mailbox):
    """{uid: (rfc822_size, internaldate_epoch, flags tuple)} of a mailbox."""
    n = select(client, mailbox)
    out = {}
    if n == 0:
        return out
    typ, data = client.uid('FETCH', '1:*', '(UID RFC822.SIZE INTERNALDATE FLAGS)')
    if typ != 'OK':
        raise DovecotError('FETCH failed: %r' % data)
    for item in data:
        if isinstance(item, tuple):
            item = item[0]
        if not item:
            continue
        uid = int(re.search(rb'UID (\d+)', item).group(1))
        size = int(re.search(rb'RFC822\.SIZE (\d+)', item).group(1))
        date = parse_imap_date(re.search(rb'INTERNALDATE "([^"]+)"', item).group(1))
        flags = tuple(re.search(rb'FLAGS \(([^)]*)\)', item).group(1).decode().split())
        out[uid] = (size, date, flags)
    return out


def fetch_body(client, uid):
    """BODY.PEEK[] of uid in the selected mailbox, as bytes."""
    typ, data = client.uid('FETCH', str(uid), '(BODY.PEEK[])')
    if typ != 'OK':
        raise DovecotError('FETCH %d failed: %r' % (uid, data))
    for item in data:
        if isinstance(item, tuple):
            return item[1]
    raise DovecotError('no body for UID %d: %r' % (uid, data))


def fetch_bodies(client, uids=None):
    """{uid: bytes} of the selected mailbox in one UID FETCH."""
    spec = '1:*' if uids is None else ','.join(str(u) for u in uids)
    typ, data = client.uid('FETCH', spec, '(UID BODY.PEEK[])')
    if typ != 'OK':
        raise DovecotError('FETCH failed: %r' % data)
    out = {}
    for item in data:
        if isinstance(item, tuple):
            uid = int(re.search(rb'UID (\d+)', item[0]).group(1))
            out[uid] = item[1]
    return out


# --------------------------------------------------------------------------
# sample content

# The mailboxes created for delimiter '/' (UTF-8 names, parents first).
# 'Lists' and 'Lists/dev*' are not created: the server shows them as
# \Noselect levels above 'Lists/dev/deep/deeper'.
SAMPLE_TREE = [
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
    'x\\y',
    '50%',
    'Dots.',
    'Q&A',
    '.hidden',
    '*star',
    'quo"te',
    'Lists/dev/deep/deeper',
]

# The mailboxes for delimiter '.' (Maildir++): hierarchy by '.'; with the
# listescape plugin '/' is a plain character inside a level.
SAMPLE_TREE_DOT = [
    'INBOX',
    'Archive',
    'Archive.2024',
    'Entwürfe',
    '日本語',
    'a b',
    '50%',
    'Deep.er.est',
]
SAMPLE_TREE_DOT_LISTESCAPE = ['a/b', 'x/y.z']


def make_message(subject, body, *, sender='Bob Example <bob@example.org>',
                 to='Alice <alice@example.org>', date='Mon, 01 Jan 2024 10:00:00 +0000',
                 msgid=None, extra_headers=()):
    """A small RFC 5322 text/plain message as CRLF bytes (body: str)."""
    msgid = msgid or '<%s@imapfs.test>' % abs(hash((subject, body)))
    h = ['From: ' + sender, 'To: ' + to, 'Subject: ' + subject, 'Date: ' + date,
         'Message-ID: ' + msgid, 'MIME-Version: 1.0',
         'Content-Type: text/plain; charset=utf-8',
         'Content-Transfer-Encoding: 8bit']
    h.extend(extra_headers)
    text = '\r\n'.join(h) + '\r\n\r\n' + body.replace('\r\n', '\n').replace('\n', '\r\n')
    if not text.endswith('\r\n'):
        text += '\r\n'
    return text.encode('utf-8')


def make_big_message(size, seed, name='payload.bin'):
    """A valid multipart message of exactly `size` bytes: a text part (which
    pads to the size) and a base64 attachment of deterministic random bytes."""
    rnd = random.Random(seed)
    # base64 lines: 57 payload bytes -> 76 characters + CRLF
    payload = rnd.randbytes(max(0, (size - 2048) * 57 // 78 - 57))
    b64 = base64.encodebytes(payload).replace(b'\n', b'\r\n')
    boundary = b'=_imapfs_big_%d' % seed
    head = (b'From: Big Sender <big@example.org>\r\nTo: alice@example.org\r\n'
            b'Subject: big message %d bytes\r\nDate: Tue, 02 Jan 2024 12:00:00 +0100\r\n'
            b'Message-ID: <big-%d@imapfs.test>\r\nMIME-Version: 1.0\r\n'
            b'Content-Type: multipart/mixed; boundary="' + boundary + b'"\r\n\r\n'
            b'--' + boundary + b'\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n') % (size, seed)
    tail = (b'\r\n--' + boundary + b'\r\nContent-Type: application/octet-stream; name="'
            + name.encode() + b'"\r\nContent-Disposition: attachment; filename="'
            + name.encode() + b'"\r\nContent-Transfer-Encoding: base64\r\n\r\n'
            + b64 + b'--' + boundary + b'--\r\n')
    pad = size - len(head) - len(tail)
    if pad < 0:
        raise ValueError('size too small')
    # pad with text lines of at most 72 bytes, each ending in CRLF
    lines = []
    line = b'0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ!#$%&*+-/\r\n'[-72:]
    while pad >= 72 + 72 or pad == 72:
        lines.append(line)
        pad -= 72
    if pad:
        if pad > 72:  # between 73 and 143: two lines
            first = pad // 2
            lines.append(b'x' * (first - 2) + b'\r\n')
            pad -= first
        if pad == 1:  # cannot end a line in one byte: lengthen the last
            lines[-1] = b'y' + lines[-1]
        else:
            lines.append(b'z' * (pad - 2) + b'\r\n')
    msg = head + b''.join(lines) + tail
    assert len(msg) == size, (len(msg), size)
    return msg


def seed_sample(dv, *, python_corpus=True, extra_per_box=2):
    """Create SAMPLE_TREE (or SAMPLE_TREE_DOT) with a few messages each.
    Returns {mailbox: [uids]}."""
    if dv.delimiter == '/':
        tree = SAMPLE_TREE
    else:
        tree = SAMPLE_TREE_DOT + (SAMPLE_TREE_DOT_LISTESCAPE if dv.listescape else [])
    c = imap_client(dv)
    uids = {}
    try:
        for name in tree:
            if name != 'INBOX':
                create_mailbox(c, name)
        t0 = 1704067200  # 2024-01-01
        k = 0
        for name in tree:
            msgs = []
            for j in range(extra_per_box):
                k += 1
                msgs.append((make_message('Message %d in %s' % (j + 1, name),
                                          'Hello from %s, message %d.\nGrüße!\n' % (name, j + 1),
                                          msgid='<sample-%d@imapfs.test>' % k),
                             imap_date(t0 + k * 3600), ['\\Seen'] if j % 2 else None))
            uids[name] = append_many(dv, name, msgs)
        if python_corpus:
            try:
                import corpus
            except ImportError:
                sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
                import corpus
            try:
                msgs = corpus.python_messages()
            except corpus.CorpusError:
                msgs = []
            if msgs:
                create_mailbox(c, 'corpus-python')
                uids['corpus-python'] = append_many(
                    dv, 'corpus-python',
                    [(m, imap_date(t0 - 86400 * (i + 1)), None) for i, m in enumerate(msgs)])
    finally:
        c.logout()
    return uids


def _png(width, height, seed, grain=0):
    """A PNG picture (RGB, deterministic): bands of colour a thumbnail shows,
    with grain (0-255) of noise, which makes it as large as a photo."""
    import struct
    import zlib
    rnd = random.Random(seed)
    bands = [(rnd.randrange(256), rnd.randrange(256), rnd.randrange(256)) for _ in range(6)]
    rows = []
    for y in range(height):
        r, g, b = bands[y * len(bands) // height]
        row = bytearray([0])
        for x in range(width):
            shade = 0.6 + 0.4 * x / width
            row += bytes(min(255, int(c * shade) + (rnd.randrange(grain) if grain else 0))
                         for c in (r, g, b))
        rows.append(bytes(row))

    def chunk(kind, data):
        return (struct.pack('>I', len(data)) + kind + data +
                struct.pack('>I', zlib.crc32(kind + data) & 0xffffffff))
    return (b'\x89PNG\r\n\x1a\n' +
            chunk(b'IHDR', struct.pack('>IIBBBBB', width, height, 8, 2, 0, 0, 0)) +
            chunk(b'IDAT', zlib.compress(b''.join(rows), 9)) + chunk(b'IEND', b''))


def _pdf(text):
    """A one-page PDF showing text."""
    stream = 'BT /F1 24 Tf 72 720 Td (%s) Tj ET' % text
    objs = ['<< /Type /Catalog /Pages 2 0 R >>',
            '<< /Type /Pages /Kids [3 0 R] /Count 1 >>',
            '<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R '
            '/Resources << /Font << /F1 5 0 R >> >> >>',
            '<< /Length %d >>\nstream\n%s\nendstream' % (len(stream), stream),
            '<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>']
    out, offsets = '%PDF-1.4\n', []
    for i, o in enumerate(objs):
        offsets.append(len(out))
        out += '%d 0 obj\n%s\nendobj\n' % (i + 1, o)
    xref = len(out)
    out += 'xref\n0 %d\n0000000000 65535 f \n' % (len(objs) + 1)
    out += ''.join('%010d 00000 n \n' % off for off in offsets)
    out += 'trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n' % (len(objs) + 1, xref)
    return out.encode('ascii')


def _with_attachments(subject, sender, date, text, files):
    """A multipart/mixed message: text, then each (name, type, bytes) in base64."""
    b = '=-=desk=-='
    h = ['From: ' + sender, 'To: Alice <alice@example.org>', 'Subject: ' + subject,
         'Date: ' + date, 'Message-ID: <%s@desk.imapfs.test>' % abs(hash(subject)),
         'MIME-Version: 1.0', 'Content-Type: multipart/mixed; boundary="%s"' % b]
    parts = ['Content-Type: text/plain; charset=utf-8\r\n\r\n' + text.replace('\n', '\r\n')]
    for name, ctype, data in files:
        enc = base64.encodebytes(data).decode().replace('\n', '\r\n')
        parts.append('Content-Type: %s; name="%s"\r\nContent-Transfer-Encoding: base64\r\n'
                     'Content-Disposition: attachment; filename="%s"\r\n\r\n%s'
                     % (ctype, name, name, enc))
    body = ''.join('--%s\r\n%s\r\n' % (b, p) for p in parts) + '--%s--\r\n' % b
    return ('\r\n'.join(h) + '\r\n\r\n' + body).encode('utf-8')


def seed_desktop(dv, mailbox='INBOX'):
    """Mail as a person's inbox has it, for the demo and its screenshots:
    several senders, RFC 2047 names, pictures and a PDF attached."""
    t0 = 1709287920  # 2024-03-01 10:12 UTC
    msgs = [
        _with_attachments('Invoice March 2024', 'Carol Finance <carol@example.com>',
                          'Fri, 01 Mar 2024 11:12:00 +0100',
                          'Dear Alice,\nplease find the invoice attached.\n',
                          [('invoice-2024-03.pdf', 'application/pdf', _pdf('Invoice March 2024'))]),
        _with_attachments('Photos from the trip', 'Dave Traveller <dave@example.net>',
                          'Sat, 02 Mar 2024 18:40:00 +0000', 'Two from the coast.\n',
                          [('beach.png', 'image/png', _png(800, 600, 1, grain=48)),
                           ('sunset.png', 'application/octet-stream', _png(640, 480, 2))]),
        make_message('=?UTF-8?Q?Gr=C3=BC=C3=9Fe_aus_Berlin?=', 'Bis bald!\n',
                     sender='=?UTF-8?Q?J=C3=B6rg_M=C3=BCller?= <joerg@example.de>',
                     date='Sun, 03 Mar 2024 09:05:00 +0100', msgid='<gruesse@desk.imapfs.test>'),
        make_message("Re: minutes of Tuesday's meeting", 'Agreed, thanks.\n',
                     sender='Eve Organiser <eve@example.org>',
                     date='Mon, 04 Mar 2024 16:30:00 +0000', msgid='<minutes@desk.imapfs.test>'),
    ]
    return append_many(dv, mailbox, [(m, imap_date(t0 + i * 86400), None)
                                     for i, m in enumerate(msgs)])


# --------------------------------------------------------------------------
# CLI

def _cli_demo(args):
    d = os.path.abspath(args.dir)
    os.makedirs(d, exist_ok=True)
    pidfile = os.path.join(d, 'dovecot.pid')
    if os.path.exists(pidfile):
        with open(pidfile) as f:
            pid = int(f.read().strip() or 0)
        if pid and _pid_alive(pid):
            print('already running: pid %d (stop it with: %s stop --dir %s)'
                  % (pid, sys.argv[0], d), file=sys.stderr)
            return 1
    ca = TestCA(os.path.join(d, 'ca')) if args.tls else None
    dv = Dovecot(os.path.join(d, 'server'), tls=args.tls, ca=ca,
                 layout=args.layout, user=args.user,
                 password=args.password or DEFAULT_PASSWORD)
    dv.start(detach=True)
    try:
        counts = seed_sample(dv)
        counts['INBOX'] = counts.get('INBOX', []) + seed_desktop(dv)
    except BaseException:
        dv.stop()
        raise
    with open(pidfile, 'w') as f:
        f.write('%d\n' % dv.pid)
    print('host: %s' % HOST)
    print('port: %d' % dv.port)
    if dv.tls:
        print('imaps_port: %d' % dv.imaps_port)
        print('cafile: %s' % ca.ca_cert)
    print('user: %s' % dv.user)
    print('password: %s' % dv.password)
    print('delimiter: %s' % dv.delimiter)
    print('messages: %d in %d mailboxes' % (sum(len(v) for v in counts.values()), len(counts)))
    print('pid: %d' % dv.pid)
    print('log: %s' % dv.log_path)
    print('url: %s' % dv.url('imap'))
    return 0


def _cli_stop(args):
    pidfile = os.path.join(os.path.abspath(args.dir), 'dovecot.pid')
    try:
        with open(pidfile) as f:
            pid = int(f.read().strip())
    except (FileNotFoundError, ValueError):
        print('no pid in %s' % pidfile, file=sys.stderr)
        return 1
    if _pid_alive(pid):
        _stop_tree(pid)
    os.unlink(pidfile)
    print('stopped pid %d' % pid)
    return 0


def main(argv=None):
    ap = argparse.ArgumentParser(description='a private Dovecot for imapfs tests')
    sub = ap.add_subparsers(dest='cmd', required=True)
    p = sub.add_parser('demo', help='start a seeded server and leave it running')
    p.add_argument('--dir', required=True)
    p.add_argument('--tls', action='store_true', help='also STARTTLS and imaps')
    p.add_argument('--layout', choices=['fs', 'maildir++'], default='fs')
    p.add_argument('--user', default=DEFAULT_USER)
    p.add_argument('--password')
    p.set_defaults(func=_cli_demo)
    p = sub.add_parser('stop', help='stop the server started by demo')
    p.add_argument('--dir', required=True)
    p.set_defaults(func=_cli_stop)
    args = ap.parse_args(argv)
    return args.func(args)


if __name__ == '__main__':
    sys.exit(main())


# --------------------------------------------------------------------------
# Maildir delivery and MIME test mail (added for tests/test_parts.py and
# bench/parts.py; defined after the CLI block, which does not use them)

MAILDIR_FLAGS = {'\\Draft': 'D', '\\Flagged': 'F', '\\Answered': 'R', '\\Seen': 'S',
                 '\\Deleted': 'T'}
_maildir_seq = [0]


def maildir_path(dv, mailbox):
    """The Maildir (the directory holding cur/ new/ tmp/) of an existing
    mailbox of dv's user: INBOX is the user's root Maildir; other names are
    kept in modified UTF-7, as nested directories for layout 'fs' and as
    '.A.B' below the root for 'maildir++' (without listescape)."""
    root = os.path.join(dv.mail_root, dv.user)
    if mailbox.upper() == 'INBOX':
        path = root
    elif dv.layout == 'fs':
        path = os.path.join(root, *mutf7_encode(mailbox).split('/'))
    else:
        path = os.path.join(root, '.' + mutf7_encode(mailbox))
    if not os.path.isdir(os.path.join(path, 'cur')):
        raise DovecotError('no Maildir for %r at %s (CREATE it first)' % (mailbox, path))
    return path


def maildir_deliver(dv, mailbox, raw, *, flags=None, mtime=None, lf=True):
    """Deliver raw (bytes) into mailbox's Maildir the way an MTA does,
    without IMAP: write tmp/<unique>, owned by the dovecot user, mode 0600,
    then rename it into new/<unique> (no flags) or cur/<unique>:2,<letters>.
    lf=True stores LF line endings (the Maildir convention; Dovecot serves
    them as CRLF); mtime (epoch seconds) becomes the INTERNALDATE. flags: only
    system flags (\\Seen ...). Dovecot sees the file at its next sync of the
    mailbox (SELECT, EXAMINE, STATUS, NOOP). Returns the file's path."""
    d = maildir_path(dv, mailbox)
    flags = list(flags or ())
    bad = [f for f in flags if f not in MAILDIR_FLAGS]
    if bad:
        raise ValueError('maildir_deliver: only system flags, not %r' % bad)
    data = raw.replace(b'\r\n', b'\n') if lf else raw
    _maildir_seq[0] += 1
    now = time.time()
    unique = '%d.M%dP%dQ%d.imapfs-test' % (int(now), int(now % 1 * 1e6), os.getpid(),
                                           _maildir_seq[0])
    tmp = os.path.join(d, 'tmp', unique)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, 'wb') as f:
        f.write(data)
    os.chown(tmp, pwd.getpwnam('dovecot').pw_uid, grp.getgrnam('dovecot').gr_gid)
    if mtime is not None:
        os.utime(tmp, (mtime, mtime))
    if flags:
        letters = ''.join(sorted(MAILDIR_FLAGS[f] for f in flags))
        dest = os.path.join(d, 'cur', unique + ':2,' + letters)
    else:
        dest = os.path.join(d, 'new', unique)
    os.rename(tmp, dest)
    return dest


def maildir_deliver_many(dv, mailbox, messages, *, lf=True):
    """Deliver messages (a list of raw bytes, or of (raw, flags, mtime)) with
    maildir_deliver, then SELECT the mailbox over IMAP so that Dovecot picks
    them up. Returns their UIDs in order, matched by content (line endings
    aside; equal messages get their UIDs in order)."""
    c = imap_client(dv)
    try:
        select(c, mailbox, readonly=False)
        typ, data = c.uid('SEARCH', 'ALL')
        before = set(int(x) for x in data[0].split()) if typ == 'OK' and data[0] else set()
        keys = []
        for m in messages:
            raw, flags, mtime = (m, None, None) if isinstance(m, bytes) else m
            maildir_deliver(dv, mailbox, raw, flags=flags, mtime=mtime, lf=lf)
            keys.append(raw.replace(b'\r\n', b'\n'))
        c.close()
        select(c, mailbox, readonly=False)  # the sync picks up new/ and cur/
        typ, data = c.uid('SEARCH', 'ALL')
        new = sorted(set(int(x) for x in data[0].split()) - before) if data[0] else []
        if len(new) != len(messages):
            raise DovecotError('%d messages delivered to %r, %d new UIDs seen'
                               % (len(messages), mailbox, len(new)))
        by_body = {}
        for uid, body in sorted(fetch_bodies(c, new).items()):
            by_body.setdefault(body.replace(b'\r\n', b'\n'), []).append(uid)
        uids = []
        for k in keys:
            got = by_body.get(k)
            if not got:
                raise DovecotError('a delivered message is not on the server as written')
            uids.append(got.pop(0))
        return uids
    finally:
        c.logout()


def make_attachment_message(total=6 << 20, b64_chars=5 << 20, seed=1,
                            filename='attachment.pdf'):
    """A multipart/mixed message of exactly `total` bytes (CRLF): a
    text/plain part that pads it to that size, then an application/pdf
    attachment (filename given) in base64 of b64_chars characters (a multiple
    of 4) in lines of 76. The attachment is '%PDF-1.4' and deterministic
    random bytes. Returns (raw, attachment bytes)."""
    rnd = random.Random(seed)
    n = b64_chars // 4 * 3
    att = b'%PDF-1.4\n%\xe2\xe3\xcf\xd3\n' + rnd.randbytes(n - 15)
    att = att[:n]
    b64 = base64.b64encode(att)
    b64 = b'\r\n'.join(b64[i:i + 76] for i in range(0, len(b64), 76)) + b'\r\n'
    boundary = b'=_imapfs_parts_%d' % seed
    head = (b'From: Parts Sender <parts@example.org>\r\nTo: alice@example.org\r\n'
            b'Subject: a %d byte message with a %d byte attachment\r\n'
            b'Date: Wed, 03 Jan 2024 12:00:00 +0100\r\n'
            b'Message-ID: <parts-big-%d@imapfs.test>\r\nMIME-Version: 1.0\r\n'
            b'Content-Type: multipart/mixed; boundary="' + boundary + b'"\r\n\r\n'
            b'--' + boundary + b'\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n'
            ) % (total, len(att), seed)
    tail = (b'\r\n--' + boundary + b'\r\nContent-Type: application/pdf; name="'
            + filename.encode() + b'"\r\nContent-Disposition: attachment; filename="'
            + filename.encode() + b'"\r\nContent-Transfer-Encoding: base64\r\n\r\n'
            + b64 + b'--' + boundary + b'--\r\n')
    pad = total - len(head) - len(tail)
    if pad < 4:
        raise ValueError('total too small for the attachment')
    line = b'The quick brown fox jumps over the lazy dog, 0123456789.\r\n'
    text = line * ((pad - 2) // len(line))
    text += b'x' * (pad - 2 - len(text)) + b'\r\n'
    raw = head + text + tail
    assert len(raw) == total, (len(raw), total)
    return raw, att
