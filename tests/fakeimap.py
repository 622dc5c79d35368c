# SPDX-License-Identifier: GPL-2.0-or-later
"""A scripted fake IMAP server on 127.0.0.1, for hostile-server tests.

By default it serves a minimal, correct account over plaintext: the greeting
(CAPABILITY IMAP4rev1 SASL-IR AUTH=PLAIN LITERAL+ IDLE UIDPLUS), AUTHENTICATE
PLAIN / LOGIN, CAPABILITY, LIST "" "*", SELECT/EXAMINE, STATUS, the UID FETCH
forms imapfs sends (listing, partial BODY.PEEK[]<o.l>, BODYSTRUCTURE with
BODY.PEEK[HEADER], BODY.PEEK[sec] and BODY.PEEK[sec]<o.l>), NOOP, NOTIFY
(refused with NO), IDLE/DONE and LOGOUT.

A test overrides one response with a hook:

    srv.hooks['fetch_body'] = fn      # fn(conn, req, default) -> bytes | None

`req` describes the command (tag, verb, uid, section, off, len, mailbox ...),
`default` is the bytes the server would have sent (untagged data and the
tagged completion). A hook returns the bytes to send instead, or None when it
sent what it wanted itself (or wants to send nothing at all). conn.close()
cuts the connection. Hook kinds: greeting, capability, authenticate, login,
starttls, list, select, status, fetch_list, fetch_body, fetch_struct,
fetch_section, noop, notify, idle, logout, append, create, quota (GETQUOTAROOT,
answered from srv.quota = (used KiB, limit KiB)), other; with CONDSTORE and ESEARCH
in caps (FakeIMAP(caps=...)), STATUS tells HIGHESTMODSEQ and the resync
commands answer: fetch_changed (CHANGEDSINCE) and esearch.

Every thread is a daemon with socket timeouts; stop() closes everything.
Nothing here listens on anything but 127.0.0.1.
"""

import base64
import re
import socket
import threading
import time

CAPS = 'IMAP4rev1 SASL-IR AUTH=PLAIN LITERAL+ IDLE UIDPLUS'


def quote(s):
    if isinstance(s, str):
        s = s.encode('utf-8')
    return b'"' + s.replace(b'\\', b'\\\\').replace(b'"', b'\\"') + b'"'


def literal(data):
    return b'{%d}\r\n' % len(data) + data


def make_message(subject, body):
    """A small RFC 5322 message with CRLF line ends."""
    head = ('From: Alice <alice@example.org>\r\n'
            'To: Bob <bob@example.org>\r\n'
            'Subject: %s\r\n'
            'Date: Mon, 01 Jan 2024 10:00:00 +0000\r\n'
            'Message-ID: <%s@fake.test>\r\n'
            'MIME-Version: 1.0\r\n'
            'Content-Type: text/plain; charset=us-ascii\r\n'
            '\r\n' % (subject, re.sub(r'\W', '', subject) or 'x'))
    return head.encode() + body


def big_body(n, seed=1):
    """n bytes of distinct printable lines (CRLF), so any shift shows."""
    out = []
    total = 0
    i = 0
    while total < n:
        line = b'%08d:%06d abcdefghijklmnopqrstuvwxyz0123456789 seed %d\r\n' % (i, total, seed)
        out.append(line)
        total += len(line)
        i += 1
    return b''.join(out)[:n]


class Message:
    def __init__(self, uid, raw, flags=r'\Seen', date='01-Jan-2024 10:00:00 +0000',
                 size=None, structure=None, modseq=1):
        self.uid = uid
        self.modseq = modseq      # CONDSTORE: when its flags last changed
        self.raw = raw
        self.flags = flags
        self.date = date
        self.size = len(raw) if size is None else size   # RFC822.SIZE as told
        self._structure = structure

    @property
    def header(self):
        i = self.raw.find(b'\r\n\r\n')
        return self.raw if i < 0 else self.raw[:i + 4]

    @property
    def text(self):
        i = self.raw.find(b'\r\n\r\n')
        return b'' if i < 0 else self.raw[i + 4:]

    def structure(self):
        if self._structure is not None:
            return self._structure
        t = self.text
        return (b'("TEXT" "PLAIN" ("CHARSET" "us-ascii") NIL NIL "7BIT" %d %d NIL NIL NIL NIL)'
                % (len(t), t.count(b'\n')))

    def section(self, sec):
        sec = sec.upper()
        if sec == '':
            return self.raw
        if sec == 'HEADER':
            return self.header
        if sec in ('TEXT', '1'):
            return self.text
        return b''


class Mailbox:
    def __init__(self, wire, delim='/', attrs='\\HasNoChildren', list_name=None,
                 messages=None, uidvalidity=1700000000):
        self.wire = wire if isinstance(wire, bytes) else wire.encode('utf-8')
        self.delim = delim
        self.attrs = attrs
        # how the name is written in the LIST response (quoted by default)
        self.list_name = list_name if list_name is not None else quote(self.wire)
        self.messages = list(messages or [])
        self.uidvalidity = uidvalidity

    def highestmodseq(self):
        return max([m.modseq for m in self.messages] + [1])

    def list_line(self):
        d = b'NIL' if self.delim is None else quote(self.delim)
        return b'* LIST (%s) %s %s\r\n' % (self.attrs.encode(), d, self.list_name)

    def uidnext(self):
        return max([m.uid for m in self.messages] + [0]) + 1

    def by_uid(self, uid):
        for i, m in enumerate(self.messages):
            if m.uid == uid:
                return i + 1, m
        return None, None


def default_mailboxes():
    return [
        Mailbox('INBOX', messages=[
            Message(1, make_message('one', b'The first message.\r\n')),
            Message(2, make_message('two', b'The second message.\r\n')),
            Message(3, make_message('three', big_body(300000, seed=3))),
        ]),
        Mailbox('Other', messages=[
            Message(7, make_message('seven', b'In another mailbox.\r\n')),
        ]),
    ]


class Closed(Exception):
    pass


class Conn:
    """One client connection, served by its own thread."""

    def __init__(self, server, sock, cid):
        self.server = server
        self.sock = sock
        self.cid = cid
        self.buf = b''
        self.closed = False
        self.selected = None
        self.received = []        # raw command lines (literals inline)
        self.wlock = threading.Lock()
        sock.settimeout(server.io_timeout)

    # -- output
    def send(self, data):
        if isinstance(data, str):
            data = data.encode('utf-8')
        if self.closed:
            raise Closed()
        with self.wlock:
            try:
                self.sock.sendall(data)
            except OSError:
                self.close()
                raise Closed()

    def close(self):
        if not self.closed:
            self.closed = True
            try:
                self.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            try:
                self.sock.close()
            except OSError:
                pass

    # -- input
    def _fill(self):
        if self.closed:
            raise Closed()
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            if self.server.stopping:
                raise Closed()
            return
        except OSError:
            raise Closed()
        if not data:
            raise Closed()
        self.buf += data

    def readline(self):
        while True:
            i = self.buf.find(b'\r\n')
            if i >= 0:
                line, self.buf = self.buf[:i + 2], self.buf[i + 2:]
                return line
            if len(self.buf) > (16 << 20):
                raise Closed()
            self._fill()

    def readn(self, n):
        while len(self.buf) < n:
            self._fill()
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def read_raw(self, n, timeout):
        """At least n raw bytes if they come within timeout s (fewer on a
        timeout or a close), taken from the input buffer."""
        deadline = time.monotonic() + timeout
        while len(self.buf) < n and time.monotonic() < deadline:
            try:
                self._fill()
            except Closed:
                break
        data, self.buf = self.buf, b''
        return data

    def read_command(self):
        """One command with its literals inline (LITERAL+ or synchronising)."""
        out = b''
        while True:
            line = self.readline()
            m = re.search(rb'\{(\d+)(\+?)\}\r\n$', line)
            if not m:
                out += line
                return out
            out += line
            if not m.group(2):
                self.send(b'+ go ahead\r\n')
            out += self.readn(int(m.group(1)))

    def run(self):
        srv = self.server
        try:
            g = srv.greeting_bytes()
            self._respond('greeting', {'verb': 'GREETING', 'tag': None}, g)
            while not self.closed and not srv.stopping:
                cmd = self.read_command()
                self.received.append(cmd)
                srv.log(self.cid, cmd)
                self.handle(cmd)
        except Closed:
            pass
        except Exception as e:  # noqa: B902 -- a test server must not die silently
            srv.errors.append('conn %d: %r' % (self.cid, e))
        finally:
            self.close()

    def _respond(self, kind, req, default):
        srv = self.server
        srv.counts[kind] = srv.counts.get(kind, 0) + 1
        hook = srv.hooks.get(kind)
        if hook is not None:
            out = hook(self, req, default)
        else:
            out = default
        if out is not None and not self.closed:
            self.send(out)

    # -- commands
    def handle(self, cmd):
        srv = self.server
        m = re.match(rb'(\S+) (\S+)(?: (.*))?\r\n$', cmd, re.S)
        if not m:
            self.send(b'* BAD syntax\r\n')
            return
        tag = m.group(1).decode('latin-1')
        verb = m.group(2).decode('latin-1').upper()
        rest = m.group(3) or b''
        req = {'tag': tag, 'verb': verb, 'line': cmd}
        t = tag.encode('latin-1')

        def ok(text=b'done'):
            return t + b' OK ' + text + b'\r\n'

        if verb == 'CAPABILITY':
            self._respond('capability', req, b'* CAPABILITY ' + srv.caps.encode() + b'\r\n' + ok())
        elif verb == 'AUTHENTICATE':
            parts = rest.split()
            if len(parts) < 2:
                self.send(b'+ \r\n')
                resp = self.readline()
                self.received.append(resp)
            else:
                resp = parts[1]
            try:
                req['plain'] = base64.b64decode(resp.strip())
            except ValueError:
                req['plain'] = b''
            self._respond('authenticate', req,
                          ok(b'[CAPABILITY ' + srv.caps.encode() + b'] Logged in'))
        elif verb == 'LOGIN':
            self._respond('login', req, ok(b'Logged in'))
        elif verb == 'STARTTLS':
            self._respond('starttls', req, t + b' BAD no TLS here\r\n')
        elif verb == 'LIST':
            out = b''.join(mb.list_line() for mb in srv.mailboxes) + ok(b'List completed')
            self._respond('list', req, out)
        elif verb in ('SELECT', 'EXAMINE'):
            name = parse_astring(rest)
            req['mailbox'] = name
            mb = srv.mailbox(name)
            if mb is None:
                self.selected = None
                self._respond('select', req, t + b' NO [NONEXISTENT] no such mailbox\r\n')
                return
            self.selected = mb
            out = (b'* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n'
                   b'* %d EXISTS\r\n* 0 RECENT\r\n'
                   b'* OK [UIDVALIDITY %d] UIDs valid\r\n'
                   b'* OK [UIDNEXT %d] Predicted next UID\r\n'
                   % (len(mb.messages), mb.uidvalidity, mb.uidnext()))
            out += ok(b'[READ-ONLY] done' if verb == 'EXAMINE' else b'[READ-WRITE] done')
            self._respond('select', req, out)
        elif verb == 'STATUS':
            name = parse_astring(rest)
            req['mailbox'] = name
            mb = srv.mailbox(name)
            if mb is None:
                self._respond('status', req, t + b' NO [NONEXISTENT] no such mailbox\r\n')
                return
            # a name with CR, LF or NUL can only go out as a literal
            wire = (literal(mb.wire) if any(c in mb.wire for c in (b'\r', b'\n', b'\0'))
                    else quote(mb.wire))
            modseq = (b' HIGHESTMODSEQ %d' % mb.highestmodseq()
                      if 'CONDSTORE' in srv.caps.split() else b'')
            out = (b'* STATUS %s (MESSAGES %d UIDNEXT %d UIDVALIDITY %d UNSEEN 0%s)\r\n'
                   % (wire, len(mb.messages), mb.uidnext(), mb.uidvalidity, modseq)) + ok()
            self._respond('status', req, out)
        elif verb == 'UID':
            self.uid_command(t, req, rest)
        elif verb == 'NOOP':
            self._respond('noop', req, ok())
        elif verb == 'NOTIFY':
            self._respond('notify', req, t + b' NO not supported\r\n')
        elif verb == 'IDLE':
            self._idle(t, req)
        elif verb == 'LOGOUT':
            self._respond('logout', req, b'* BYE logging out\r\n' + ok())
            self.close()
        elif verb == 'APPEND':
            self._append(t, req, rest)
        elif verb == 'CREATE':
            name = parse_astring(rest)
            req['mailbox'] = name
            if srv.mailbox(name) is not None:
                self._respond('create', req, t + b' NO [ALREADYEXISTS] exists\r\n')
                return
            hook = srv.hooks.get('create')
            srv.counts['create'] = srv.counts.get('create', 0) + 1
            out = hook(self, req, ok()) if hook else ok()
            if out is not None and out.split(b' ', 2)[1] == b'OK':
                srv.mailboxes.append(Mailbox(name))
            if out is not None and not self.closed:
                self.send(out)
        elif verb == 'GETQUOTAROOT':
            if srv.quota is None:
                self._respond('quota', req, t + b' NO no quota\r\n')
                return
            self._respond('quota', req, b'* QUOTAROOT INBOX ""\r\n* QUOTA "" (STORAGE %d %d)\r\n'
                          % srv.quota + ok())
        elif verb in ('ENABLE', 'ID', 'NAMESPACE'):
            extra = {'ID': b'* ID NIL\r\n',
                     'NAMESPACE': b'* NAMESPACE (("" "/")) NIL NIL\r\n'}.get(verb, b'')
            self._respond('other', req, extra + ok())
        else:
            self._respond('other', req, t + b' BAD unknown command\r\n')

    def _append(self, t, req, rest):
        """APPEND mailbox [(flags)] ["date"] {n}: the message is added (a hook
        'append' may refuse it instead); APPENDUID with UIDPLUS."""
        srv = self.server
        name = parse_astring(rest)
        lit = re.search(rb'\{(\d+)\+?\}\r\n', rest)
        req['mailbox'] = name
        req['data'] = rest[lit.end():lit.end() + int(lit.group(1))] if lit else b''
        mb = srv.mailbox(name)
        if mb is None:
            self._respond('append', req, t + b' NO [TRYCREATE] no such mailbox\r\n')
            return
        hook = srv.hooks.get('append')
        srv.counts['append'] = srv.counts.get('append', 0) + 1
        uid = mb.uidnext()
        default = t + (b' OK [APPENDUID %d %d] done\r\n' % (mb.uidvalidity, uid)
                       if 'UIDPLUS' in srv.caps.split() else b' OK done\r\n')
        out = hook(self, req, default) if hook else default
        if out is not None and out.split(b' ', 2)[1] == b'OK':
            mb.messages.append(Message(uid, req['data'], flags=''))
        if out is not None and not self.closed:
            self.send(out)

    def _idle(self, t, req):
        srv = self.server
        srv.counts['idle'] = srv.counts.get('idle', 0) + 1
        hook = srv.hooks.get('idle')
        if hook is not None:
            out = hook(self, req, None)
            if out is not None and not self.closed:
                self.send(out)
            return
        self.send(b'+ idling\r\n')
        line = self.readline()
        self.received.append(line)
        srv.log(self.cid, line)
        self.send(t + b' OK IDLE done\r\n')

    def uid_command(self, t, req, rest):
        se = re.match(rb'SEARCH RETURN \(ALL\) UID (\d+):(\d+)$', rest.rstrip(b'\r\n'), re.I)
        if se and self.selected is not None:
            # ESEARCH (RFC 4731), the one form imapfs sends
            lo, hi = int(se.group(1)), int(se.group(2))
            uids = [m.uid for m in self.selected.messages if lo <= m.uid <= hi]
            req['mailbox'] = self.selected.wire
            out = b'* ESEARCH (TAG "%s") UID' % t
            if uids:
                out += b' ALL ' + b','.join(b'%d' % u for u in uids)
            self._respond('esearch', req, out + b'\r\n' + t + b' OK Search done\r\n')
            return
        m = re.match(rb'FETCH (\S+) \((.*)\)\r?\n?$', rest.rstrip(b'\r\n'), re.S | re.I)
        if not m or self.selected is None:
            self._respond('other', req, t + b' BAD unsupported\r\n')
            return
        mb = self.selected
        uidset = m.group(1).decode()
        items = m.group(2).decode('latin-1')
        req['items'] = items
        req['mailbox'] = mb.wire
        ok = t + b' OK Fetch completed\r\n'
        changed = re.search(r'CHANGEDSINCE (\d+)', items, re.I)
        if changed and re.match(r'1:(\d+)$', uidset):
            # CONDSTORE (RFC 7162): the flags changed since a modseq
            since, hi = int(changed.group(1)), int(uidset[2:])
            out = b''
            for seq, msg in enumerate(mb.messages, 1):
                if msg.uid <= hi and msg.modseq > since:
                    out += b'* %d FETCH (UID %d FLAGS (%s) MODSEQ (%d))\r\n' % (
                        seq, msg.uid, msg.flags.encode(), msg.modseq)
            self._respond('fetch_changed', req, out + ok)
            return
        if uidset.endswith(':*'):
            # the listing, of all (1:*) or of the UIDs from one on; "N:*"
            # names the last message even when N is past it
            lo = int(uidset[:-2])
            rows = [(seq, msg) for seq, msg in enumerate(mb.messages, 1) if msg.uid >= lo]
            if not rows and mb.messages:
                rows = [(len(mb.messages), mb.messages[-1])]
            out = b''
            for seq, msg in rows:
                out += b'* %d FETCH (UID %d FLAGS (%s) RFC822.SIZE %d INTERNALDATE "%s")\r\n' % (
                    seq, msg.uid, msg.flags.encode(), msg.size, msg.date.encode())
            req['from_uid'] = lo
            self._respond('fetch_list', req, out + ok)
            return
        uid = int(uidset)
        req['uid'] = uid
        seq, msg = mb.by_uid(uid)
        req['seq'] = seq
        req['msg'] = msg
        if msg is None:
            self._respond('other', req, ok)
            return
        if 'BODYSTRUCTURE' in items.upper():
            out = (b'* %d FETCH (UID %d BODYSTRUCTURE %s BODY[HEADER] %s)\r\n'
                   % (seq, uid, msg.structure(), literal(msg.header)))
            self._respond('fetch_struct', req, out + ok)
            return
        pm = re.search(r'(BODY|BINARY)\.PEEK\[([^\]]*)\](?:<(\d+)\.(\d+)>)?', items, re.I)
        if not pm:
            self._respond('other', req, t + b' BAD unsupported fetch\r\n')
            return
        kind, sec = pm.group(1).upper(), pm.group(2)
        data = msg.section(sec)
        if pm.group(3) is not None:
            off, ln = int(pm.group(3)), int(pm.group(4))
            req['off'], req['len'] = off, ln
            key = b'%s[%s]<%d>' % (kind.encode(), sec.encode(), off)
            chunk = data[off:off + ln]
        else:
            req['off'], req['len'] = None, None
            key = b'%s[%s]' % (kind.encode(), sec.encode())
            chunk = data
        req['section'] = sec
        req['key'] = key
        req['data'] = chunk
        out = b'* %d FETCH (UID %d %s %s)\r\n' % (seq, uid, key, literal(chunk))
        self._respond('fetch_body' if sec == '' else 'fetch_section', req, out + ok)


def parse_astring(rest):
    """The first astring of rest: quoted, literal (inline) or atom; bytes."""
    rest = rest.lstrip(b' ')
    if rest.startswith(b'"'):
        out = b''
        i = 1
        while i < len(rest):
            c = rest[i:i + 1]
            if c == b'\\':
                out += rest[i + 1:i + 2]
                i += 2
                continue
            if c == b'"':
                break
            out += c
            i += 1
        return out
    m = re.match(rb'\{(\d+)\+?\}\r\n', rest)
    if m:
        n = int(m.group(1))
        return rest[m.end():m.end() + n]
    return rest.split(b' ')[0].split(b'\r\n')[0]


class FakeIMAP:
    """The server: FakeIMAP().start(); .port; .hooks; .stop()."""

    def __init__(self, mailboxes=None, caps=CAPS, greeting=None, io_timeout=0.5):
        self.mailboxes = default_mailboxes() if mailboxes is None else mailboxes
        self.caps = caps
        self.greeting = greeting
        self.hooks = {}
        self.quota = None         # (used KiB, limit KiB) for GETQUOTAROOT, with QUOTA in caps
        self.counts = {}
        self.conns = []
        self.errors = []
        self.trace = []           # (conn id, command line) in arrival order
        self.io_timeout = io_timeout
        self.stopping = False
        self._lock = threading.Lock()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(('127.0.0.1', 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self._thread = None

    def url(self, scheme='imap', user='alice'):
        return '%s://%s@127.0.0.1:%d' % (scheme, user, self.port)

    def greeting_bytes(self):
        if self.greeting is not None:
            return self.greeting
        return b'* OK [CAPABILITY ' + self.caps.encode() + b'] fake IMAP ready\r\n'

    def mailbox(self, wire):
        for mb in self.mailboxes:
            if mb.wire == wire:
                return mb
        return None

    def log(self, cid, line):
        with self._lock:
            self.trace.append((cid, line))

    def commands(self):
        with self._lock:
            return [line for _, line in self.trace]

    def start(self):
        self._thread = threading.Thread(target=self._accept_loop, daemon=True)
        self._thread.start()
        return self

    def _accept_loop(self):
        cid = 0
        while not self.stopping:
            try:
                s, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                break
            cid += 1
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            c = Conn(self, s, cid)
            with self._lock:
                self.conns.append(c)
            threading.Thread(target=c.run, daemon=True).start()

    def drop_all(self):
        """Cut every client connection (the server stays up)."""
        with self._lock:
            conns = list(self.conns)
        for c in conns:
            c.close()

    def stop(self):
        self.stopping = True
        try:
            self.sock.close()
        except OSError:
            pass
        self.drop_all()
        if self._thread is not None:
            self._thread.join(2)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def once(fn):
    """A hook that acts on its first call only, then serves the default."""
    state = {'done': False}

    def hook(conn, req, default):
        if state['done']:
            return default
        state['done'] = True
        return fn(conn, req, default)
    return hook


if __name__ == '__main__':  # manual use: python3 fakeimap.py, then imapfs -d
    srv = FakeIMAP().start()
    print('listening on 127.0.0.1:%d' % srv.port, flush=True)
    try:
        while True:
            time.sleep(1)
    except KeyboardInterrupt:
        srv.stop()
