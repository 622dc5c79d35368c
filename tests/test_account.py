# SPDX-License-Identifier: GPL-2.0-or-later
"""Integration tests of the account-level features: `df` shows the IMAP
QUOTA (a private Dovecot with the quota plugin), and OAuth 2.0 logins
(-o auth=xoauth2 / -o auth=oauthbearer with -o oauth_token_command=CMD)
against a small scripted IMAP server (Dovecot cannot check OAuth tokens
here): good token, refused token, failing token command, and a token that
expires while mounted and must be replaced by running the command again.

Everything listens on 127.0.0.1. Every wait is bounded; nothing is skipped."""

import base64
import errno
import json
import os
import re
import socket
import subprocess
import threading
import time

import pytest

import dovecot
from conftest import bounded, is_mounted

HOST = '127.0.0.1'
TOOL_TIMEOUT = 60
C_ENV = dict(os.environ, LC_ALL='C')

QUOTA_CONF = '''
mail_plugins = $mail_plugins quota
protocol imap {
  mail_plugins = $mail_plugins imap_quota
}
plugin {
  quota = count:User quota
  quota_rule = *:storage=10M
  quota_vsizes = yes
}
'''
QUOTA_KIB = 10240


def run(argv, timeout=TOOL_TIMEOUT, **kw):
    """A tool, bounded, output captured (LC_ALL=C for stable messages)."""
    return subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, timeout=timeout, env=C_ENV, **kw)


# --------------------------------------------------------------------------
# quota helpers

def _flatten(data):
    for x in data:
        if isinstance(x, (list, tuple)):
            yield from _flatten(x)
        elif isinstance(x, bytes):
            yield x


def server_quota(dv):
    """(used KiB, limit KiB) of STORAGE from GETQUOTAROOT INBOX, via imaplib."""
    c = dovecot.imap_client(dv)
    try:
        typ, data = c.getquotaroot('INBOX')
        assert typ == 'OK', data
        m = re.search(rb'\(STORAGE (\d+) (\d+)\)', b' '.join(_flatten(data)))
        assert m, 'no STORAGE in GETQUOTAROOT: %r' % data
        return int(m.group(1)), int(m.group(2))
    finally:
        c.logout()


def message_count(dv, box='INBOX'):
    c = dovecot.imap_client(dv)
    try:
        typ, data = c.status(dovecot.wire_mailbox(box), '(MESSAGES)')
        assert typ == 'OK', data
        return int(re.search(rb'MESSAGES (\d+)', data[0]).group(1))
    finally:
        c.logout()


def df_k(path):
    """(1K-blocks, used, available) from `df -k PATH`; asserts df succeeded."""
    r = run(['df', '-k', path])
    assert r.returncode == 0, 'df -k %s failed (%d): %r' % (path, r.returncode, r.stderr)
    lines = r.stdout.decode().strip().splitlines()
    assert len(lines) >= 2, r.stdout
    # the mount point is the last field; a long source name may wrap the line
    fields = ' '.join(lines[1:]).split()
    assert fields[-1] == os.path.realpath(path), r.stdout
    blocks, used, avail = (int(x) for x in fields[-5:-2])
    return blocks, used, avail


def padded_message(subject, size):
    """A text message of about size bytes (CRLF)."""
    line = 'The quick brown fox jumps over the lazy dog 0123456789 abcdefghij.\n'
    body = line * max(1, size // (len(line) + 1))
    return dovecot.make_message(subject, body, msgid='<%s@imapfs.test>' % subject.replace(' ', '-'))


# --------------------------------------------------------------------------
# a scripted IMAP server for OAuth

MESSAGE = dovecot.make_message('OAuth hello', 'Read through an OAuth login.\n',
                               msgid='<oauth-1@imapfs.test>')
GREETING = (b'* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=XOAUTH2 AUTH=OAUTHBEARER IDLE '
            b'LITERAL+ UIDPLUS] ready')
CAPS = b'IMAP4rev1 SASL-IR AUTH=XOAUTH2 AUTH=OAUTHBEARER IDLE LITERAL+ UIDPLUS'
ERROR_CHALLENGE = base64.b64encode(json.dumps(
    {'status': '401', 'schemes': 'bearer', 'scope': 'https://mail.example.org/'}).encode())


class _Closed(Exception):
    pass


class OAuthServer:
    """A plaintext IMAP server on 127.0.0.1 that authenticates only with SASL
    XOAUTH2 / OAUTHBEARER and serves one mailbox, INBOX, with one message.

    accept(token) -> bool decides (called under the lock). expire() makes
    every logged-in connection answer its next command (and an IDLE at once)
    with `* BYE token expired` and a close. Records: .auths (mechanism,
    token, accepted), .challenge_answers (what the client sent after the error
    challenge), .errors (malformed SASL, unknown commands), .log (lines)."""

    def __init__(self, user='alice', accept=None):
        self.user = user
        self.accept = accept or (lambda token: False)
        self.lock = threading.Lock()
        self.auths = []
        self.challenge_answers = []
        self.errors = []
        self.log = []
        self.connections = 0
        self.epoch = 0          # bumped by expire()
        self._conns = set()
        self._stop = False
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((HOST, 0))
        self.sock.listen(32)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self._thread = threading.Thread(target=self._accept_loop, daemon=True)
        self._thread.start()

    def url(self):
        return 'imap://%s@%s:%d' % (self.user, HOST, self.port)

    # -- control

    def expire(self):
        """The session tokens expire: logged-in connections are closed at
        their next command (IDLE ones at once)."""
        with self.lock:
            self.epoch += 1

    def accepted(self):
        with self.lock:
            return [a for a in self.auths if a[2]]

    def close(self):
        self._stop = True
        self._thread.join(5)
        self.sock.close()
        with self.lock:
            conns = list(self._conns)
        for c in conns:
            c.shutdown()

    def _accept_loop(self):
        for _ in range(10 ** 9):
            if self._stop:
                return
            try:
                s, _addr = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with self.lock:
                self.connections += 1
                cid = self.connections
            conn = _Conn(self, s, cid)
            with self.lock:
                self._conns.add(conn)
            threading.Thread(target=conn.serve, daemon=True).start()

    def note(self, line):
        with self.lock:
            self.log.append(line)

    def error(self, what):
        with self.lock:
            self.errors.append(what)
            self.log.append('ERROR ' + what)


class _Conn:
    def __init__(self, srv, sock, cid):
        self.srv = srv
        self.sock = sock
        self.cid = cid
        self.buf = b''
        self.authed = False
        self.auth_epoch = None
        self.selected = False
        sock.settimeout(0.2)

    def shutdown(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def send(self, data):
        self.srv.note('S%d: %r' % (self.cid, data[:200]))
        self.sock.sendall(data)

    def line(self, text):
        self.send(text + b'\r\n')

    def _expired(self):
        return self.authed and self.auth_epoch != self.srv.epoch

    def readline(self, idle=False):
        """A line without CRLF; idle=True returns None when expire() fires."""
        deadline = time.monotonic() + 120
        while b'\r\n' not in self.buf:
            if self.srv._stop or time.monotonic() > deadline:
                raise _Closed()
            if idle and self._expired():
                return None
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                raise _Closed()
            if not chunk:
                raise _Closed()
            self.buf += chunk
        line, self.buf = self.buf.split(b'\r\n', 1)
        self.srv.note('C%d: %r' % (self.cid, line[:200]))
        return line

    def read_literal(self, n):
        deadline = time.monotonic() + 120
        while len(self.buf) < n:
            if time.monotonic() > deadline:
                raise _Closed()
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                raise _Closed()
            if not chunk:
                raise _Closed()
            self.buf += chunk
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def serve(self):
        try:
            self.line(GREETING)
            for _ in range(10 ** 6):
                line = self.readline()
                # a literal at the end of the line (APPEND): read it whole
                m = re.search(rb'\{(\d+)(\+?)\}$', line)
                while m:
                    if not m.group(2):
                        self.line(b'+ go ahead')
                    line += b'\r\n' + self.read_literal(int(m.group(1)))
                    line += self.readline()
                    m = re.search(rb'\{(\d+)(\+?)\}$', line)
                if not self.command(line):
                    break
        except _Closed:
            pass
        except Exception as e:  # noqa: BLE001 -- reported through .errors
            self.srv.error('connection %d: %r' % (self.cid, e))
        finally:
            with self.srv.lock:
                self.srv._conns.discard(self)
            try:
                self.sock.close()
            except OSError:
                pass

    def bye_expired(self):
        self.line(b'* BYE token expired')
        self.shutdown()
        return False

    def command(self, line):
        parts = line.split(b' ', 2)
        if len(parts) < 2:
            self.srv.error('malformed command %r' % line)
            self.line(b'* BAD malformed')
            return True
        tag, cmd = parts[0], parts[1].upper()
        arg = parts[2] if len(parts) > 2 else b''
        if cmd == b'UID' and arg:
            sub, _, rest = arg.partition(b' ')
            cmd, arg = b'UID ' + sub.upper(), rest
        if self._expired() and cmd != b'LOGOUT':
            return self.bye_expired()
        if cmd == b'CAPABILITY':
            self.line(b'* CAPABILITY ' + CAPS)
            self.line(tag + b' OK CAPABILITY completed')
        elif cmd == b'NOOP':
            self.line(tag + b' OK NOOP completed')
        elif cmd == b'LOGOUT':
            self.line(b'* BYE logging out')
            self.line(tag + b' OK LOGOUT completed')
            return False
        elif cmd == b'AUTHENTICATE':
            self.authenticate(tag, arg)
        elif cmd in (b'LOGIN', b'STARTTLS'):
            self.srv.error('unexpected %r' % cmd)
            self.line(tag + b' NO not here')
        elif not self.authed:
            self.srv.error('%r before authentication' % cmd)
            self.line(tag + b' BAD authenticate first')
        elif cmd == b'LIST':
            self.line(b'* LIST (\\HasNoChildren) "/" INBOX')
            self.line(tag + b' OK LIST completed')
        elif cmd in (b'EXAMINE', b'SELECT'):
            if arg.strip(b'"').upper() != b'INBOX':
                self.line(tag + b' NO no such mailbox')
                return True
            self.selected = True
            self.line(b'* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)')
            self.line(b'* OK [PERMANENTFLAGS ()] none')
            self.line(b'* 1 EXISTS')
            self.line(b'* 0 RECENT')
            self.line(b'* OK [UIDVALIDITY 1] UIDs valid')
            self.line(b'* OK [UIDNEXT 2] next')
            self.line(tag + b' OK [READ-ONLY] %s completed' % cmd)
        elif cmd == b'STATUS':
            items = []
            for name, value in ((b'MESSAGES', 1), (b'UIDNEXT', 2), (b'UIDVALIDITY', 1),
                                (b'UNSEEN', 0), (b'RECENT', 0)):
                if name in arg.upper():
                    items.append(b'%s %d' % (name, value))
            self.line(b'* STATUS INBOX (' + b' '.join(items) + b')')
            self.line(tag + b' OK STATUS completed')
        elif cmd == b'UID FETCH' and self.selected:
            self.fetch(tag, arg)
        elif cmd == b'NOTIFY':
            self.line(tag + b' NO not supported')
        elif cmd == b'IDLE':
            self.idle(tag)
        elif cmd in (b'CLOSE', b'UNSELECT'):
            self.selected = False
            self.line(tag + b' OK done')
        else:
            self.srv.error('unhandled command %r' % line[:200])
            self.line(tag + b' BAD unknown command')
        return True

    def fetch(self, tag, arg):
        seq, _, items = arg.partition(b' ')
        if not (seq == b'1' or seq.startswith(b'1:') or seq == b'*'):
            self.line(tag + b' OK FETCH completed')     # no such UID
            return
        out = [b'UID 1']
        up = items.upper()
        if b'FLAGS' in up:
            out.append(b'FLAGS (\\Seen)')
        if b'RFC822.SIZE' in up:
            out.append(b'RFC822.SIZE %d' % len(MESSAGE))
        if b'INTERNALDATE' in up:
            out.append(b'INTERNALDATE "01-Jan-2024 10:00:00 +0000"')
        if b'BODYSTRUCTURE' in up:
            lines = MESSAGE.split(b'\r\n\r\n', 1)[1].count(b'\r\n')
            body = len(MESSAGE.split(b'\r\n\r\n', 1)[1])
            out.append(b'BODYSTRUCTURE ("TEXT" "PLAIN" ("CHARSET" "utf-8") NIL NIL "8BIT" %d %d '
                       b'NIL NIL NIL NIL)' % (body, lines))
        literals = []
        m = re.search(rb'BODY\.PEEK\[\](?:<(\d+)\.(\d+)>)?', items, re.I)
        if m:
            if m.group(1) is not None:
                off, n = int(m.group(1)), int(m.group(2))
                data = MESSAGE[off:off + n]
                literals.append((b'BODY[]<%d>' % off, data))
            else:
                literals.append((b'BODY[]', MESSAGE))
        m = re.search(rb'BODY\.PEEK\[HEADER\]', items, re.I)
        if m:
            literals.append((b'BODY[HEADER]', MESSAGE.split(b'\r\n\r\n', 1)[0] + b'\r\n\r\n'))
        known = re.sub(rb'BODY\.PEEK\[\](<\d+\.\d+>)?|BODY\.PEEK\[HEADER\]|UID|FLAGS|'
                       rb'RFC822\.SIZE|INTERNALDATE|BODYSTRUCTURE|[() ]', b'', items, flags=re.I)
        if known:
            self.srv.error('unhandled FETCH items %r' % items)
        text = b'* 1 FETCH (' + b' '.join(out)
        data = b''
        for name, lit in literals:
            text += b' ' + name + b' {%d}\r\n' % len(lit)
            data += text + lit
            text = b''
        self.send(data + text + b')\r\n')
        self.line(tag + b' OK FETCH completed')

    def idle(self, tag):
        self.line(b'+ idling')
        for _ in range(10 ** 6):
            line = self.readline(idle=True)
            if line is None:
                self.bye_expired()
                raise _Closed()
            if line.upper() == b'DONE':
                self.line(tag + b' OK IDLE terminated')
                return
            self.srv.error('in IDLE: %r' % line)

    def authenticate(self, tag, arg):
        mech, _, ir = arg.partition(b' ')
        mech = mech.upper()
        if mech not in (b'XOAUTH2', b'OAUTHBEARER'):
            self.srv.error('AUTHENTICATE %r' % mech)
            self.line(tag + b' NO unsupported mechanism')
            return
        if not ir:
            self.line(b'+ ')
            ir = self.readline()
        try:
            raw = base64.b64decode(ir, validate=True).decode('utf-8')
        except ValueError:
            self.srv.error('undecodable SASL response %r' % ir)
            self.line(tag + b' BAD bad base64')
            return
        token = None
        if mech == b'XOAUTH2':
            m = re.fullmatch(r'user=([^\x01]*)\x01auth=Bearer ([^\x01]*)\x01\x01', raw)
            if m and m.group(1) == self.srv.user:
                token = m.group(2)
        else:
            m = re.fullmatch(r'n,a=([^,]*),\x01host=([^\x01]*)\x01port=([^\x01]*)\x01'
                             r'auth=Bearer ([^\x01]*)\x01\x01', raw)
            if (m and m.group(1) == self.srv.user and m.group(2) == HOST
                    and m.group(3) == str(self.srv.port)):
                token = m.group(4)
        if token is None:
            self.srv.error('malformed %s initial response %r' % (mech.decode(), raw))
        with self.srv.lock:
            ok = token is not None and bool(self.srv.accept(token))
            self.srv.auths.append((mech.decode(), token, ok))
            epoch = self.srv.epoch
        if ok:
            self.authed = True
            self.auth_epoch = epoch
            self.line(tag + b' OK authenticated')
            return
        # RFC 7628 3.2.2 / Google's XOAUTH2: an error challenge first
        self.line(b'+ ' + ERROR_CHALLENGE)
        answer = self.readline()
        with self.srv.lock:
            self.srv.challenge_answers.append((mech.decode(), answer))
        want = b'' if mech == b'XOAUTH2' else b'AQ=='
        if answer != want:
            self.srv.error('answer to the %s error challenge was %r, not %r'
                           % (mech.decode(), answer, want))
        self.line(tag + b' NO [AUTHENTICATIONFAILED] invalid token')


# --------------------------------------------------------------------------
# fixtures

@pytest.fixture
def oauth_server():
    """make(accept) -> a started OAuthServer, closed after the test."""
    made = []

    def make(accept):
        srv = OAuthServer(accept=accept)
        made.append(srv)
        return srv

    yield make
    for srv in made:
        srv.close()
        # shown by pytest only when the test failed
        print('--- scripted server on port %d: last lines ---' % srv.port)
        print('\n'.join(srv.log[-150:]))
        if srv.errors:
            print('--- its protocol errors ---\n' + '\n'.join(srv.errors))


def token_script(directory, name, body):
    """An executable token command in directory; returns its path (the
    token is inside the script, never on imapfs's command line)."""
    path = os.path.join(str(directory), name)
    with open(path, 'w') as f:
        f.write(body)
    os.chmod(path, 0o700)
    return path


def fixed_token_command(directory, token):
    return token_script(directory, 'token.sh', '#!/bin/sh\nprintf "%%s\\n" "%s"\n' % token)


COUNTER_SCRIPT = '''#!/usr/bin/python3
# prints tok-N-<suffix>, N = 1, 2, 3, ... one per run
import fcntl, os, sys
path = %(counter)r
fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
fcntl.flock(fd, fcntl.LOCK_EX)
n = int(os.read(fd, 64) or b'0') + 1
os.lseek(fd, 0, 0)
os.ftruncate(fd, 0)
os.write(fd, b'%%d' %% n)
os.close(fd)
sys.stdout.write('tok-%%d-%(suffix)s\\n' %% n)
'''


def counter_token_command(directory, suffix):
    counter = os.path.join(str(directory), 'counter')
    return token_script(directory, 'token.py',
                        COUNTER_SCRIPT % {'counter': counter, 'suffix': suffix}), counter


def token_number(token):
    m = re.fullmatch(r'tok-(\d+)-.*', token or '')
    return int(m.group(1)) if m else None


def oauth_opts(mech, command, *extra):
    return ['tls=none', 'auth=' + mech, 'oauth_token_command=' + command] + list(extra)


def oauth_mount(mount_factory, srv, mech, command, *extra, start=True, debug=False):
    return mount_factory(srv.url(), oauth_opts(mech, command, *extra), password=None,
                         password_via=None, start=start, debug=debug)


def sasl_forms(mech, user, port, token):
    """The initial client responses that would carry token, raw and base64
    (none of them may show up in a log)."""
    if mech == 'xoauth2':
        raw = 'user=%s\x01auth=Bearer %s\x01\x01' % (user, token)
    else:
        raw = 'n,a=%s,\x01host=%s\x01port=%d\x01auth=Bearer %s\x01\x01' % (user, HOST, port, token)
    return [token, base64.b64encode(raw.encode()).decode()]


def read_file(path):
    with open(path, 'rb') as f:
        return f.read()


def read_with_retries(path, attempts=5, pause=1.0):
    """Read path; an EIO (the connection found dead) may be retried, a few
    times, bounded. Returns (data, [errors before success])."""
    errors = []
    for _ in range(attempts):
        data, exc, _secs = bounded(60, read_file, path)
        if exc is None:
            return data, errors
        errors.append(exc)
        time.sleep(pause)
    raise AssertionError('reading %s failed %d times: %r' % (path, attempts, errors))


MECHS = ['xoauth2', 'oauthbearer']
SASL_NAME = {'xoauth2': 'XOAUTH2', 'oauthbearer': 'OAUTHBEARER'}


# --------------------------------------------------------------------------
# quota in df

def quota_server(dovecot_factory):
    return dovecot_factory(extra_conf=QUOTA_CONF)


def fill(dv, n, size, prefix):
    c = dovecot.imap_client(dv)
    try:
        for i in range(n):
            dovecot.append(c, 'INBOX', padded_message('%s %d' % (prefix, i), size),
                           date=1704067200 + i * 60)
    finally:
        c.logout()


def test_df_shows_quota(dovecot_factory, mount_factory):
    dv = quota_server(dovecot_factory)
    fill(dv, 3, 100 * 1024, 'seed')
    used, limit = server_quota(dv)
    assert limit == QUOTA_KIB, (used, limit)
    assert 250 <= used <= 400, used
    m = mount_factory(dv.url('imap'), ['tls=none'], password=dv.password)
    blocks, dused, avail = df_k(m.path)
    assert blocks == QUOTA_KIB, 'df total %d, quota limit %d KiB' % (blocks, QUOTA_KIB)
    assert abs(dused - used) <= 1, 'df used %d KiB, server STORAGE usage %d KiB' % (dused, used)
    assert avail == blocks - dused, (blocks, dused, avail)
    # statvfs itself: 1 KiB fragments, the same numbers
    sv = os.statvfs(m.path)
    assert sv.f_blocks * sv.f_frsize == QUOTA_KIB * 1024, sv
    assert abs((sv.f_blocks - sv.f_bfree) * sv.f_frsize - used * 1024) <= 1024, sv

    # another client adds about 1 MB; a fresh mount shows the new usage
    fill(dv, 1, 1 << 20, 'another client')
    used2, limit2 = server_quota(dv)
    assert limit2 == QUOTA_KIB
    assert used2 >= used + 1000, (used, used2)
    m2 = mount_factory(dv.url('imap'), ['tls=none'], password=dv.password)
    blocks2, dused2, avail2 = df_k(m2.path)
    assert blocks2 == QUOTA_KIB, blocks2
    assert abs(dused2 - used2) <= 1, 'df used %d KiB, server STORAGE usage %d KiB' % (dused2, used2)
    assert avail2 == blocks2 - dused2
    # the mount still works after df
    assert sorted(os.listdir(m2.p('INBOX'))), 'INBOX empty through the mount'


def test_df_without_quota_claims_no_size(dovecot_factory, mount_factory):
    dv = dovecot_factory()
    fill(dv, 2, 10 * 1024, 'noquota')
    c = dovecot.imap_client(dv)
    try:
        typ, data = c.capability()
        assert b'QUOTA' not in b' '.join(data).upper().split(), data
    finally:
        c.logout()
    m = mount_factory(dv.url('imap'), ['tls=none'], password=dv.password)
    for _ in range(2):                    # the answer is cached: ask twice
        blocks, used, avail = df_k(m.path)
        assert (blocks, used, avail) == (0, 0, 0), (blocks, used, avail)
    sv = os.statvfs(m.path)
    assert sv.f_blocks == 0 and sv.f_bfree == 0 and sv.f_bavail == 0, sv
    # and the mount is fine afterwards
    assert len([n for n in os.listdir(m.p('INBOX')) if n.endswith('.eml')]) == 2


def test_df_with_message_count_quota_only_claims_no_size(dovecot_factory, mount_factory):
    """QUOTA without a STORAGE resource (a message count limit only): no
    size to show, and df still works."""
    dv = dovecot_factory(extra_conf=QUOTA_CONF.replace('storage=10M', 'messages=100'))
    fill(dv, 2, 10 * 1024, 'countonly')
    c = dovecot.imap_client(dv)
    try:
        typ, data = c.getquotaroot('INBOX')
        assert typ == 'OK', data
        text = b' '.join(_flatten(data))
        assert b'(MESSAGE 2 100)' in text and b'STORAGE' not in text, data
    finally:
        c.logout()
    m = mount_factory(dv.url('imap'), ['tls=none'], password=dv.password)
    assert df_k(m.path) == (0, 0, 0)
    assert len([n for n in os.listdir(m.p('INBOX')) if n.endswith('.eml')]) == 2


def test_cp_over_quota_fails_with_edquot(dovecot_factory, mount_factory, tmp_path):
    dv = quota_server(dovecot_factory)
    fill(dv, 2, 100 * 1024, 'before')
    before = message_count(dv)
    used_before, _ = server_quota(dv)
    m = mount_factory(dv.url('imap'), ['tls=none'], password=dv.password)
    big = padded_message('too big for the quota', 11 << 20)
    assert len(big) > QUOTA_KIB * 1024
    src = tmp_path / 'big.eml'
    src.write_bytes(big)

    # cp: non-zero exit, "Disk quota exceeded"
    r = run(['cp', str(src), m.p('INBOX', 'big.eml')], timeout=120)
    assert r.returncode != 0, 'cp of an 11 MB message into a 10 MB quota exited 0'
    assert b'Disk quota exceeded' in r.stderr, r.stderr
    assert message_count(dv) == before, 'a message over quota reached the server'

    # the system calls: the writes land locally, close() reports EDQUOT
    def write_close():
        fd = os.open(m.p('INBOX', 'big2.eml'), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            view = memoryview(big)
            while view:
                view = view[os.write(fd, view[:1 << 20]):]
        except BaseException:
            os.close(fd)
            raise
        try:
            os.close(fd)
        except OSError as e:
            return e.errno
        return 0

    got, exc, _ = bounded(120, write_close)
    assert exc is None, exc
    assert got == errno.EDQUOT, 'close() gave %s, not EDQUOT' % (errno.errorcode.get(got, got),)
    assert message_count(dv) == before, 'a message over quota reached the server'
    used_after, _ = server_quota(dv)
    assert abs(used_after - used_before) <= 1, (used_before, used_after)
    # the mount lists what the server has, and still takes a small message
    names = [n for n in os.listdir(m.p('INBOX')) if n.endswith('.eml')]
    assert len(names) == before, names
    small = padded_message('small enough', 4096)
    (tmp_path / 'small.eml').write_bytes(small)
    r = run(['cp', str(tmp_path / 'small.eml'), m.p('INBOX', 'small.eml')])
    assert r.returncode == 0, r.stderr
    assert message_count(dv) == before + 1


# --------------------------------------------------------------------------
# OAuth 2.0

@pytest.mark.parametrize('mech', MECHS)
def test_oauth_good_token_mounts(mech, oauth_server, mount_factory, tmp_path):
    token = 'ya29.good-%s-%s' % (mech, os.urandom(6).hex())
    srv = oauth_server(lambda t: t == token)
    cmd = fixed_token_command(tmp_path, token)
    m = oauth_mount(mount_factory, srv, mech, cmd, debug=True)
    names, exc, _ = bounded(30, os.listdir, m.p('INBOX'))
    assert exc is None, exc
    assert '1.eml' in names, names
    assert [n for n in names if n.endswith('.eml')] == ['1.eml'], names
    data, exc, _ = bounded(30, read_file, m.p('INBOX', '1.eml'))
    assert exc is None, exc
    assert data == MESSAGE
    assert os.stat(m.p('INBOX', '1.eml')).st_size == len(MESSAGE)
    auths = list(srv.auths)
    assert auths, 'no AUTHENTICATE reached the server'
    assert all(a == (SASL_NAME[mech], token, True) for a in auths), auths
    assert srv.errors == [], srv.errors
    rc = m.stop()
    assert rc == 0, 'imapfs exited with %r after fusermount3 -u' % rc
    err = m.stderr()
    assert 'AUTHENTICATE' in err, 'no IMAP trace with -d:\n' + err[-3000:]
    for secret in sasl_forms(mech, 'alice', srv.port, token):
        assert secret not in err, 'the token shows in the -d trace'


@pytest.mark.parametrize('debug', [False, True], ids=['quiet', 'debug'])
@pytest.mark.parametrize('mech', MECHS)
def test_oauth_bad_token_refused_before_mounting(mech, debug, oauth_server, mount_factory,
                                                 tmp_path):
    token = 'ya29.BAD-%s-%s' % (mech, os.urandom(6).hex())
    srv = oauth_server(lambda t: False)
    cmd = fixed_token_command(tmp_path, token)
    m = oauth_mount(mount_factory, srv, mech, cmd, start=False, debug=debug)
    rc, secs, was_mounted = m.run_to_exit(timeout=15)
    err = m.stderr()
    assert rc is not None, 'imapfs still running after 15 s with a refused token'
    assert rc != 0, 'imapfs exited 0 with a refused token'
    assert not was_mounted and not is_mounted(m.path)
    assert secs < 15
    assert 'oauth' in err.lower() or 'token' in err.lower(), err
    for secret in sasl_forms(mech, 'alice', srv.port, token):
        assert secret not in err, 'the token shows in stderr:\n' + err[-3000:]
    # the server saw the token, refused it with the error challenge, and
    # got the answer the mechanism requires before its NO
    assert srv.auths and srv.auths[0] == (SASL_NAME[mech], token, False), srv.auths
    assert not srv.accepted()
    want = b'' if mech == 'xoauth2' else b'AQ=='
    assert srv.challenge_answers and \
        all(a == (SASL_NAME[mech], want) for a in srv.challenge_answers), srv.challenge_answers
    assert srv.errors == [], srv.errors


@pytest.mark.parametrize('mech', MECHS)
def test_oauth_failing_token_command(mech, oauth_server, mount_factory, tmp_path):
    srv = oauth_server(lambda t: True)
    cmd = token_script(tmp_path, 'token.sh',
                       '#!/bin/sh\necho "token service unavailable" >&2\nexit 1\n')
    m = oauth_mount(mount_factory, srv, mech, cmd, start=False)
    rc, secs, was_mounted = m.run_to_exit(timeout=15)
    err = m.stderr()
    assert rc is not None, 'imapfs still running after 15 s with a failing token command'
    assert rc != 0, 'imapfs exited 0 though the token command failed'
    assert not was_mounted and not is_mounted(m.path)
    low = err.lower()
    assert 'token' in low and ('fail' in low or 'exit' in low), \
        'no clear error about the token command:\n' + err
    # no login was attempted without a token
    assert srv.auths == [], srv.auths
    assert srv.errors == [], srv.errors


@pytest.mark.parametrize('variant', ['one-connection', 'pool-and-watcher'])
@pytest.mark.parametrize('mech', MECHS)
def test_oauth_token_refreshed_after_expiry(mech, variant, oauth_server, mount_factory,
                                            tmp_path):
    """The token command prints tok-1, tok-2, ...; the server takes the
    tokens of its current generation only, and at expire() closes every
    logged-in connection (`* BYE token expired`) at its next command. A read
    through the mount afterwards must work: imapfs reconnects and runs the
    command again for a fresh token."""
    suffix = os.urandom(4).hex()
    state = {'floor': 0}                 # tokens numbered <= floor are expired
    exact = variant == 'one-connection'

    def accept(token):
        n = token_number(token)
        if n is None or not token.endswith(suffix):
            return False
        if exact:
            return n == state['floor'] + 1
        return n > state['floor']

    srv = oauth_server(accept)
    cmd, _counter = counter_token_command(tmp_path, suffix)
    extra = ['connections=1', 'noidle'] if exact else []
    m = oauth_mount(mount_factory, srv, mech, cmd, *extra)
    names, exc, _ = bounded(30, os.listdir, m.p('INBOX'))
    assert exc is None, exc
    assert '1.eml' in names, names
    first = srv.accepted()
    assert first, 'no login was accepted'
    if exact:
        assert [token_number(a[1]) for a in first] == [1], first
    # the tokens expire
    with srv.lock:
        issued = [token_number(a[1]) for a in srv.auths if a[1]]
        state['floor'] = max(issued)
        floor = state['floor']
        nlog, nauth = len(srv.log), len(srv.auths)
    srv.expire()
    time.sleep(0.3)
    # the message was never read: this read must reach the server
    data, errors = read_with_retries(m.p('INBOX', '1.eml'))
    assert data == MESSAGE
    for e in errors:
        assert isinstance(e, OSError) and e.errno == errno.EIO, errors
    with srv.lock:
        after = srv.auths[nauth:]
        log = srv.log[nlog:]
    assert any(b'BYE token expired' in line.encode() for line in log), \
        'the server closed no connection: the test did not exercise expiry'
    assert any(a[2] and token_number(a[1]) > floor for a in after), \
        'no login with a fresh token after expiry: %r' % (after,)
    if exact:
        assert [token_number(a[1]) for a in after if a[2]] == [floor + 1], after
    assert any('BODY.PEEK[]' in line for line in log if line.startswith('C')), \
        'the read after expiry did not reach the server'
    # the mount stays usable: a listing after the listing cache expired
    time.sleep(1.2)
    names, exc, _ = bounded(30, os.listdir, m.p('INBOX'))
    assert exc is None and '1.eml' in names, (exc, names)
    assert srv.errors == [], srv.errors
    assert is_mounted(m.path)
    assert suffix not in m.stderr(), 'a token shows in stderr'
