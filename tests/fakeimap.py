# SPDX-License-Identifier: GPL-2.0-or-later
"""A scripted fake IMAP server on 127.0.0.1, for hostile-server tests and
for the quirks of the big providers (personas).

By default (FakeIMAP()) it serves a minimal, correct account over plaintext:
the greeting (CAPABILITY IMAP4rev1 SASL-IR AUTH=PLAIN LITERAL+ IDLE UIDPLUS),
AUTHENTICATE PLAIN / XOAUTH2 / OAUTHBEARER, LOGIN, CAPABILITY, LIST "" "*"
(with LIST-STATUS's RETURN (STATUS (...)) where the capabilities have it),
SELECT/EXAMINE, CLOSE/UNSELECT, STATUS, CREATE, APPEND, GETQUOTAROOT, the
UID FETCH forms
imapfs sends (listing, partial BODY.PEEK[]<o.l>, BODYSTRUCTURE with
BODY.PEEK[HEADER] for one message or a UID set, BODY.PEEK[sec] and
BODY.PEEK[sec]<o.l> of any MIME section, BINARY.PEEK where BINARY is in the
capabilities, whole bodies of a UID set), UID STORE/MOVE/COPY/EXPUNGE,
NOOP, NOTIFY (refused with NO), IDLE/DONE and LOGOUT. Messages are real MIME:
sections and BODYSTRUCTURE are computed from the bytes (class Entity).

A test overrides one response with a hook:

    srv.hooks['fetch_body'] = fn      # fn(conn, req, default) -> bytes | None

`req` describes the command (tag, verb, uid, section, off, len, mailbox ...),
`default` is the bytes the server would have sent (untagged data and the
tagged completion). A hook returns the bytes to send instead, or None when it
sent what it wanted itself (or wants to send nothing at all). conn.close()
cuts the connection. Hook kinds: greeting, capability, authenticate, login,
starttls, list, select, status, fetch_list, fetch_body (one message's
BODY.PEEK[]), fetch_bodies (BODY.PEEK[] of a UID set: reading ahead),
fetch_struct, fetch_section, fetch_rows (listing items of a UID set: a
search's results), noop, notify, idle, logout, append, create,
quota (GETQUOTAROOT, answered from srv.quota = (used KiB, limit KiB)), store,
move, expunge, other; with CONDSTORE and ESEARCH in caps (FakeIMAP(caps=...)),
STATUS tells HIGHESTMODSEQ and the resync commands answer: fetch_changed
(CHANGEDSINCE) and esearch. srv.counts[kind] counts them (and 'refused' the
commands a persona refused before running them: throttling, limits);
srv.commands() is every command line in arrival order, srv.trace the same
with connection ids, srv.appended every message an APPEND added,
srv.logged_in / max_logged_in the connections logged in now / at most.
A non-synchronising literal the capabilities do not allow (no LITERAL+, or
LITERAL- and over 4096 bytes) is recorded in srv.errors.

Personas
--------
persona(name, **kw) (or the classes below) makes a server that behaves as a
big provider is documented to; the hooks above still apply on top of it.
Each persona fills its account with persona_mailboxes(): a plain message, a
multipart/mixed with a multipart/alternative (quoted-printable), a base64
PDF, a quoted-printable text file and an attached message/rfc822, and a
300 KB message (windowed reads).

  'gmail'    Gmail (imap.gmail.com). Capabilities as Gmail sends them before
             and after login (X-GM-EXT-1, CONDSTORE and ESEARCH without QRESYNC,
             LITERAL- not LITERAL+, no BINARY, no SORT: UID SORT is BAD), FETCH
             X-GM-MSGID/X-GM-THRID/X-GM-LABELS; the tree with "[Gmail]"
             \\Noselect and its special-use children, every message also in
             "[Gmail]/All Mail" (\\All; an APPEND to a label lands there too);
             CREATE refuses a name that differs from an existing one only in
             case ("NO [ALREADYEXISTS] Duplicate folder name"), while SELECT,
             STATUS and LIST stay case-sensitive; at most max_connections (15)
             logged-in connections per account, other_clients of them held by
             others ("NO [ALERT] Too many simultaneous connections. (Failure)"
             at login); download_limit bytes of bodies, then every body fetch
             is "NO [ALERT] Account exceeded command or bandwidth limits.
             (Failure)" (the daily limit); "OK Success [THROTTLED]" now and then.
  'exchange' Microsoft 365 / Exchange Online. Capabilities as it sends them
             (no CONDSTORE, ESEARCH, BINARY); XOAUTH2 only by default
             (AUTH=PLAIN is still listed, but PLAIN and LOGIN answer "NO
             AUTHENTICATE failed." / "NO LOGIN failed."; basic_auth=True
             accepts them, as an on-premises Exchange does); BODYSTRUCTURE
             with NIL where a string belongs (multipart subtype, a parameter
             value, envelope fields) and "inline" as a bare string where a
             disposition list belongs; RFC822.SIZE approximate (a few percent
             off, either way); BODY.PEEK[] answered OK with no data
             (srv.empty_fetches = {uid: how many times}); throttling:
             srv.throttle(n) answers the next n commands "NO [UNAVAILABLE]
             Server Unavailable. 15", "NO Server Unavailable. 15" or "NO User is
             authenticated but not connected." in turn (n=None: until
             srv.throttle(0)); srv.drop(n) cuts the connection ("* BYE
             Connection is closed. 13") instead of answering the next n body
             fetches, as Exchange drops connections under load.
  'yahoo'    Yahoo Mail. Its greeting with capabilities (no IDLE after
             login, XYMHIGHESTMODSEQ, no CONDSTORE), the inbox listed as
             "Inbox", HIGHESTMODSEQ in SELECT without CONDSTORE;
             srv.broken_uids: "NO [UNAVAILABLE] UID FETCH Server error while
             fetching messages" for those bodies, always; srv.unavailable(n):
             the next n body fetches "NO [UNAVAILABLE] UID FETCH Server error -
             Please try again later"; srv.rate_limit(n, bye=True): the next n
             commands "* BYE IMAP4rev1 Server logging out" then "NO [LIMIT]
             <command> Rate limit hit." and the connection closed (bye=False:
             the NO alone).
  'cyrus'    Cyrus IMAP 3.6 without its idled: IDLE is accepted and nothing
             is sent during it, whatever changes; only at DONE come the EXISTS
             and EXPUNGE it held back. BINARY (an empty part has no BINARY[n]
             item in the answer), QRESYNC, CONDSTORE, ESEARCH; mailboxes
             created in the same second share a UIDVALIDITY.

srv.deliver(mailbox, raw) adds a message as another client (or the MTA)
would: the servers that push (Gmail, Exchange, Dovecot-like) send EXISTS to a
client idling on that mailbox; Cyrus without idled does not.

Every thread is a daemon with socket timeouts; stop() closes everything.
Nothing here listens on anything but 127.0.0.1.
"""

import base64
import binascii
import quopri
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


def nstring(s):
    """NIL for None, else a quoted string, or a literal when it must be."""
    if s is None:
        return b'NIL'
    if isinstance(s, str):
        s = s.encode('utf-8')
    if any(c in s for c in (b'\r', b'\n', b'\0')) or len(s) > 1000:
        return literal(s)
    return quote(s)


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


# --------------------------------------------------------------------------
# MIME: sections and BODYSTRUCTURE computed from a message's bytes

def _unfold(header):
    """[(name lower-case, value)] of a header block (CRLF or LF)."""
    fields = []
    for line in re.split(rb'\r?\n', header):
        if not line:
            continue
        if line[:1] in (b' ', b'\t') and fields:
            fields[-1][1] += b' ' + line.strip()
            continue
        name, sep, value = line.partition(b':')
        if sep:
            fields.append([name.strip().lower().decode('latin-1'), value.strip()])
    return [(n, v) for n, v in fields]


def _params(text):
    """'type/sub; a=b; c="d e"' -> (b'type/sub', [(name, value)]), names as sent."""
    first, _, rest = text.partition(b';')
    params = []
    for m in re.finditer(rb'\s*([^=;\s]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;]*)\s*;?', rest):
        v = m.group(2).strip()
        if v.startswith(b'"'):
            v = re.sub(rb'\\(.)', rb'\1', v[1:-1])
        params.append((m.group(1), v))
    return first.strip(), params


class Entity:
    """One MIME entity: header block (with its blank line), body, the fields
    BODYSTRUCTURE tells, and its children: the parts of a multipart, or the
    one message inside a message/rfc822."""

    def __init__(self, raw, default_type=b'text/plain'):
        if raw.startswith(b'\r\n'):
            self.header, self.body = b'\r\n', raw[2:]
        else:
            i = raw.find(b'\r\n\r\n')
            self.header, self.body = (raw, b'') if i < 0 else (raw[:i + 4], raw[i + 4:])
        fields = _unfold(self.header)
        get = dict(fields).get
        ctype, self.params = _params(get('content-type', default_type))
        t, _, s = ctype.partition(b'/')
        self.type = (t or b'text').lower()
        self.subtype = (s or (b'plain' if self.type == b'text' else b'octet-stream')).lower()
        if not ctype:
            self.type, self.subtype = default_type.split(b'/')
        self.encoding = get('content-transfer-encoding', b'7bit').strip().lower()
        self.id = get('content-id')
        self.description = get('content-description')
        disp = get('content-disposition')
        self.disposition = _params(disp) if disp else None
        self.children = []
        self.inner = None
        if self.type == b'multipart':
            boundary = dict((n.lower(), v) for n, v in self.params).get(b'boundary')
            sub_default = b'message/rfc822' if self.subtype == b'digest' else b'text/plain'
            for part in split_multipart(self.body, boundary or b''):
                self.children.append(Entity(part, sub_default))
        elif self.type == b'message' and self.subtype in (b'rfc822', b'global'):
            self.inner = Entity(self.body)

    @property
    def is_multipart(self):
        return self.type == b'multipart'

    def field(self, name):
        return dict(_unfold(self.header)).get(name.lower())

    def decoded(self):
        """The body, transfer-decoded (what BINARY[] gives)."""
        if self.encoding == b'base64':
            try:
                return base64.b64decode(re.sub(rb'[^A-Za-z0-9+/=]', b'', self.body))
            except (binascii.Error, ValueError):
                return self.body
        if self.encoding == b'quoted-printable':
            return qp_decode(self.body)
        return self.body


def qp_decode(data):
    """Quoted-printable decoded, hard line breaks kept as CRLF (quopri
    would give LF)."""
    out = bytearray()
    lines = data.split(b'\r\n')
    for i, line in enumerate(lines):
        line = line.rstrip(b' \t')
        soft = line.endswith(b'=')
        if soft:
            line = line[:-1]
        out += re.sub(rb'=([0-9A-Fa-f]{2})', lambda m: bytes([int(m.group(1), 16)]), line)
        if not soft and i < len(lines) - 1:
            out += b'\r\n'
    return bytes(out)


def split_multipart(body, boundary):
    """The parts of a multipart body, each without the CRLF that belongs to
    the delimiter after it (RFC 2046 5.1.1)."""
    if not boundary:
        return []
    delim = b'--' + boundary
    marks = []
    i = 0
    while True:
        j = body.find(delim, i)
        if j < 0:
            break
        if j == 0 or body[j - 2:j] == b'\r\n':
            eol = body.find(b'\r\n', j)
            eol = len(body) if eol < 0 else eol
            close = body[j + len(delim):j + len(delim) + 2] == b'--'
            marks.append((j, eol, close))
            if close:
                break
        i = j + len(delim)
    parts = []
    for (_, eol, close), (nxt, _, _) in zip(marks, marks[1:]):
        if close:
            break
        start = min(eol + 2, len(body))
        end = nxt - 2 if nxt >= 2 else nxt
        parts.append(body[start:max(start, end)])
    return parts


def locate(msg, section):
    """The entity at a numeric section ("2", "1.2", "3.1") of msg (an
    Entity), as RFC 3501 6.4.5 numbers them, or None."""
    container = msg
    ent = None
    for n in section.split('.'):
        if not n.isdigit() or int(n) < 1:
            return None
        n = int(n)
        if container.inner is not None and container is not msg:
            container = container.inner
        if container.is_multipart:
            if n > len(container.children):
                return None
            ent = container.children[n - 1]
        elif n == 1:
            ent = container
        else:
            return None
        container = ent
    return ent


def section_bytes(msg, sec):
    """BODY[sec] of msg (an Entity): b'' when there is no such section."""
    sec = sec.upper()
    if sec == '':
        return msg.header + msg.body
    if sec == 'HEADER':
        return msg.header
    if sec == 'TEXT':
        return msg.body
    m = re.match(r'^([\d.]*?)\.?(MIME|HEADER|TEXT)?$', sec)
    if not m or not m.group(1):
        return b''
    ent = locate(msg, m.group(1))
    if ent is None:
        return b''
    what = m.group(2)
    if what == 'MIME':
        return b'' if ent is msg else ent.header
    if what in ('HEADER', 'TEXT'):
        inner = ent.inner if ent.inner is not None else ent
        return inner.header if what == 'HEADER' else inner.body
    return ent.body


def _addresses(value):
    """An address list for ENVELOPE from a header value, or NIL."""
    if not value:
        return b'NIL'
    out = []
    for a in value.split(b','):
        m = re.match(rb'\s*(?:"?([^"<]*?)"?\s*)?<([^@>]+)@([^>]+)>', a) or \
            re.match(rb'\s*()([^@\s]+)@(\S+)', a)
        if m:
            out.append(b'(%s NIL %s %s)' % (nstring(m.group(1) or None), nstring(m.group(2)),
                                            nstring(m.group(3))))
    return b'(' + b''.join(out) + b')' if out else b'NIL'


def envelope(ent, nil=False):
    if nil:
        return b'(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)'
    f = ent.field
    frm = _addresses(f('from'))
    return b'(%s %s %s %s %s %s %s %s %s %s)' % (
        nstring(f('date')), nstring(f('subject')), frm, frm, frm, _addresses(f('to')),
        _addresses(f('cc')), b'NIL', nstring(f('in-reply-to')), nstring(f('message-id')))


class Style:
    """How a server writes BODYSTRUCTURE: Dovecot-like by default."""
    upper = False          # "TEXT" "PLAIN" instead of "text" "plain"
    nil_multipart = False  # Exchange: NIL where the multipart subtype belongs
    nil_param = None       # Exchange: this parameter's value as NIL
    bare_disposition = False  # Exchange: "inline" where ("inline" NIL) belongs
    nil_envelope = False   # Exchange: envelope of NILs for an attached message

    def word(self, s):
        return quote(s.upper() if self.upper else s)


def _plist(params, style):
    if not params:
        return b'NIL'
    out = []
    for n, v in params:
        name = n.upper() if style.upper else n.lower()
        val = b'NIL' if style.nil_param and n.lower() == style.nil_param else nstring(v)
        out.append(quote(name) + b' ' + val)
    return b'(' + b' '.join(out) + b')'


def bodystructure(ent, style=None):
    style = style or Style()
    if ent.is_multipart:
        kids = b''.join(bodystructure(c, style) for c in ent.children) or \
            b'("TEXT" "PLAIN" NIL NIL NIL "7BIT" 0 0)'
        sub = b'NIL' if style.nil_multipart else style.word(ent.subtype)
        return b'(%s %s %s NIL NIL NIL)' % (kids, sub, _plist(ent.params, style))
    lines = b'%d' % ent.body.count(b'\n')
    fields = [style.word(ent.type), style.word(ent.subtype), _plist(ent.params, style),
              nstring(ent.id), nstring(ent.description), style.word(ent.encoding),
              b'%d' % len(ent.body)]
    if ent.inner is not None:
        fields += [envelope(ent.inner, style.nil_envelope), bodystructure(ent.inner, style), lines]
    elif ent.type == b'text':
        fields.append(lines)
    if ent.disposition is None and style.bare_disposition and ent.type == b'text':
        disp = b'"inline"'   # Exchange: a body part's disposition, as a bare string
    elif ent.disposition is None:
        disp = b'NIL'
    elif style.bare_disposition and not any(n.lower() in (b'filename', b'filename*')
                                            for n, _ in ent.disposition[1]):
        disp = quote(ent.disposition[0].lower())
    else:
        disp = b'(%s %s)' % (quote(ent.disposition[0].lower()), _plist(ent.disposition[1], style))
    fields += [b'NIL', disp, b'NIL', b'NIL']
    return b'(' + b' '.join(fields) + b')'


# --------------------------------------------------------------------------
# the account

class Message:
    def __init__(self, uid, raw, flags=r'\Seen', date='01-Jan-2024 10:00:00 +0000',
                 size=None, structure=None, modseq=1, gm_msgid=None, gm_thrid=None,
                 labels=()):
        self.uid = uid
        self.modseq = modseq      # CONDSTORE: when its flags last changed
        self.raw = raw
        self.flags = flags
        self.date = date
        self.size = len(raw) if size is None else size   # RFC822.SIZE as told
        self._structure = structure
        self.gm_msgid = gm_msgid  # Gmail: the same in every mailbox it shows in
        self.gm_thrid = gm_thrid
        self.labels = list(labels)
        self._entity = None

    @property
    def entity(self):
        if self._entity is None:
            self._entity = Entity(self.raw)
        return self._entity

    @property
    def header(self):
        i = self.raw.find(b'\r\n\r\n')
        return self.raw if i < 0 else self.raw[:i + 4]

    @property
    def text(self):
        i = self.raw.find(b'\r\n\r\n')
        return b'' if i < 0 else self.raw[i + 4:]

    def structure(self, style=None):
        if self._structure is not None:
            return self._structure
        try:
            return bodystructure(self.entity, style)
        except (ValueError, IndexError):
            t = self.text
            return (b'("TEXT" "PLAIN" ("CHARSET" "us-ascii") NIL NIL "7BIT" %d %d NIL NIL NIL NIL)'
                    % (len(t), t.count(b'\n')))

    def section(self, sec):
        up = sec.upper()
        if up == '':
            return self.raw
        if up == 'HEADER':
            return self.header
        if up == 'TEXT':
            return self.text
        try:
            return section_bytes(self.entity, sec)
        except (ValueError, IndexError):
            return self.text if up == '1' else b''

    def binary(self, sec):
        """BINARY[sec]: the section transfer-decoded (None: not a leaf)."""
        if sec == '':
            return self.raw
        ent = locate(self.entity, sec)
        if ent is None or ent.is_multipart:
            return None
        if ent.inner is not None:
            return ent.body
        return ent.decoded()


class Mailbox:
    def __init__(self, wire, delim='/', attrs='\\HasNoChildren', list_name=None,
                 messages=None, uidvalidity=1700000000, noselect=False):
        self.wire = wire if isinstance(wire, bytes) else wire.encode('utf-8')
        self.delim = delim
        self.attrs = attrs
        self.noselect = noselect or '\\noselect' in attrs.lower()
        # how the name is written in the LIST response (quoted by default)
        self.list_name = list_name if list_name is not None else quote(self.wire)
        self.messages = list(messages or [])
        self.uidvalidity = uidvalidity
        self.next_uid = max([m.uid for m in self.messages] + [0]) + 1

    def highestmodseq(self):
        return max([m.modseq for m in self.messages] + [1])

    def status_value(self, item):
        """A STATUS item's value (MESSAGES, UIDNEXT, UIDVALIDITY, ...)."""
        return {'MESSAGES': len(self.messages), 'UIDNEXT': self.uidnext(),
                'UIDVALIDITY': self.uidvalidity, 'UNSEEN': 0, 'RECENT': 0,
                'HIGHESTMODSEQ': self.highestmodseq(),
                'SIZE': sum(len(m.raw) for m in self.messages)}.get(item, 0)

    def list_line(self):
        d = b'NIL' if self.delim is None else quote(self.delim)
        return b'* LIST (%s) %s %s\r\n' % (self.attrs.encode(), d, self.list_name)

    def uidnext(self):
        # UIDs are never reused: an expunged last message leaves its UID used
        self.next_uid = max([m.uid for m in self.messages] + [self.next_uid - 1]) + 1
        return self.next_uid

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


# --------------------------------------------------------------------------
# sample mail for the personas

PDF_BYTES = (b'%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n'
             + bytes(range(256)) * 24 + b'\n%%EOF\n')
NOTES_TEXT = ('Notes for the meeting \u2014 Grüße aus Köln.\r\n'
              'A line that is long enough to need a soft break in quoted-printable, '
              'because it runs past seventy-six characters.\r\n'
              'Tab\there, trailing space \r\nEnd.\r\n').encode('utf-8')
PLAIN_TEXT = 'Grüße, the report is attached.\r\nSee you.\r\n'.encode('utf-8')
HTML_TEXT = '<p>Grüße, the <b>report</b> is attached.</p>\r\n'.encode('utf-8')
INNER_MESSAGE = make_message('forwarded', b'The forwarded message body.\r\n')


def b64_lines(data, width=76):
    enc = base64.b64encode(data)
    return b'\r\n'.join(enc[i:i + width] for i in range(0, len(enc), width))


def qp(data):
    """Quoted-printable with CRLF line ends (quopri writes LF)."""
    out = quopri.encodestring(data.replace(b'\r\n', b'\n'))
    return out.replace(b'\n', b'\r\n')


def make_multipart(subject='Quarterly report', msgid='report', extra_part=b''):
    """multipart/mixed: 1 multipart/alternative (1.1 text/plain QP, 1.2
    text/html QP), 2 application/pdf base64 "report.pdf", 3 text/plain QP
    attachment "notes.txt", 4 message/rfc822, and extra_part (a whole body
    part with its header) as 5 if given."""
    parts = [
        b'Content-Type: multipart/alternative; boundary="=_alt_91c2"\r\n\r\n'
        b'--=_alt_91c2\r\n'
        b'Content-Type: text/plain; charset=utf-8; format=flowed\r\n'
        b'Content-Transfer-Encoding: quoted-printable\r\n\r\n' + qp(PLAIN_TEXT) +
        b'\r\n--=_alt_91c2\r\n'
        b'Content-Type: text/html; charset=utf-8\r\n'
        b'Content-Transfer-Encoding: quoted-printable\r\n\r\n' + qp(HTML_TEXT) +
        b'\r\n--=_alt_91c2--\r\n',
        b'Content-Type: application/pdf; name="report.pdf"\r\n'
        b'Content-Disposition: attachment; filename="report.pdf"\r\n'
        b'Content-Transfer-Encoding: base64\r\n\r\n' + b64_lines(PDF_BYTES) + b'\r\n',
        b'Content-Type: text/plain; charset=utf-8; name="notes.txt"\r\n'
        b'Content-Disposition: attachment; filename="notes.txt"\r\n'
        b'Content-Transfer-Encoding: quoted-printable\r\n\r\n' + qp(NOTES_TEXT),
        b'Content-Type: message/rfc822\r\n'
        b'Content-Disposition: inline\r\n\r\n' + INNER_MESSAGE,
    ]
    if extra_part:
        parts.append(extra_part)
    head = ('From: Carol <carol@example.org>\r\n'
            'To: Alice <alice@example.org>\r\n'
            'Subject: %s\r\n'
            'Date: Tue, 02 Jan 2024 09:30:00 +0100\r\n'
            'Message-ID: <%s@fake.test>\r\n'
            'MIME-Version: 1.0\r\n'
            'Content-Type: multipart/mixed; boundary="=_mixed_7f3a"\r\n'
            '\r\n' % (subject, msgid)).encode()
    body = b'This is a multi-part message in MIME format.\r\n'
    for p in parts:
        body += b'--=_mixed_7f3a\r\n' + p + b'\r\n'
    return head + body + b'--=_mixed_7f3a--\r\n'


# What imapfs shows in <uid>.parts/ for make_multipart(), decoded.
MULTIPART_FILES = {
    '1.1.txt': PLAIN_TEXT,
    '1.2.html': HTML_TEXT,
    '2-report.pdf': PDF_BYTES,
    '3-notes.txt': NOTES_TEXT,
    '4.eml': INNER_MESSAGE,
}


def persona_mailboxes(uidvalidity=1700000000):
    """INBOX: 1 plain, 2 multipart (make_multipart), 3 300 KB; Archive: 1."""
    return [
        Mailbox('INBOX', uidvalidity=uidvalidity, messages=[
            Message(1, make_message('hello', b'Hello from the persona.\r\n'),
                    date='02-Jan-2024 09:00:00 +0100'),
            Message(2, make_multipart(), date='02-Jan-2024 09:30:00 +0100'),
            Message(3, make_message('big', big_body(300000, seed=3)),
                    date='03-Jan-2024 11:00:00 +0000'),
        ]),
        Mailbox('Archive', uidvalidity=uidvalidity + 1, messages=[
            Message(5, make_message('archived', b'An old message.\r\n'),
                    date='01-Dec-2023 08:00:00 +0000'),
        ]),
    ]


# --------------------------------------------------------------------------
# the server

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
        self.selected_rw = False
        self.authed = False
        self.caps = server.caps
        self.seen_exists = 0      # EXISTS last told for the selected mailbox
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
            if self.authed:
                self.authed = False
                self.server.logged_out(self)
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
        """One command with its literals inline (LITERAL+ or synchronising;
        a non-synchronising one the server does not allow is an error)."""
        srv = self.server
        out = b''
        while True:
            line = self.readline()
            m = re.search(rb'\{(\d+)(\+?)\}\r\n$', line)
            if not m:
                out += line
                return out
            out += line
            n = int(m.group(1))
            caps = self.caps.upper().split()
            if m.group(2) and 'LITERAL+' not in caps and not (
                    'LITERAL-' in caps and n <= 4096):
                srv.errors.append('conn %d: non-synchronising literal of %d bytes, which '
                                  'this server (%s) does not allow' % (self.cid, n, srv.name))
            if not m.group(2):
                self.send(b'+ go ahead\r\n')
            out += self.readn(n)

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
        """Sends default through the persona and the test's hook; returns
        what was sent (None if nothing)."""
        srv = self.server
        with srv._lock:
            srv.counts[kind] = srv.counts.get(kind, 0) + 1
        if req.get('tag') is not None and default is not None:
            default = srv.shape(self, kind, req, default)
        hook = srv.hooks.get(kind)
        if hook is not None:
            out = hook(self, req, default)
        else:
            out = default
        if out is not None and not self.closed:
            self.send(out)
        return out

    def ok(self, tag, text=b'done'):
        return tag + b' OK ' + text + b'\r\n'

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
        if verb == 'UID':
            sub = rest.split(b' ', 1)[0].decode('latin-1').upper()
            req['uid_verb'] = sub
        gate = srv.gate(self, req)
        if gate is not None:
            with srv._lock:
                srv.counts['refused'] = srv.counts.get('refused', 0) + 1
            if gate and not self.closed:
                self.send(gate)
            return

        if verb == 'CAPABILITY':
            self._respond('capability', req,
                          b'* CAPABILITY ' + self.caps.encode() + b'\r\n' + self.ok(t))
        elif verb == 'AUTHENTICATE':
            self._authenticate(t, req, rest)
        elif verb == 'LOGIN':
            words = rest.split(b' ', 1)
            req['user'] = parse_astring(words[0])
            req['password'] = parse_astring(words[1]) if len(words) > 1 else b''
            if not srv.password_login:
                default = t + b' NO ' + srv.login_refused + b'\r\n'
            elif srv.password is not None and req['password'] != srv.password.encode():
                default = t + b' NO [AUTHENTICATIONFAILED] Invalid credentials\r\n'
            else:
                default = srv.login_ok(self, t, req)
            out = self._respond('login', req, default)
            self._note_login(out, t)
        elif verb == 'STARTTLS':
            self._respond('starttls', req, t + b' BAD no TLS here\r\n')
        elif verb == 'LIST':
            # LIST-STATUS (RFC 5819): RETURN (STATUS (...)) after each selectable one
            st = re.search(rb'RETURN \(.*STATUS \(([^)]*)\)', rest, re.I)
            want = st.group(1).decode().upper().split() if st and \
                'LIST-STATUS' in self.caps.upper().split() else []
            out = b''
            for mb in srv.mailboxes:
                out += mb.list_line()
                if want and not mb.noselect:
                    out += b'* STATUS %s (%s)\r\n' % (quote(mb.wire), b' '.join(
                        b'%s %d' % (w.encode(), mb.status_value(w)) for w in want))
            self._respond('list', req, out + self.ok(t, srv.list_ok))
        elif verb in ('SELECT', 'EXAMINE'):
            self._select(t, req, rest, verb)
        elif verb == 'STATUS':
            self._status(t, req, rest)
        elif verb == 'UID':
            self.uid_command(t, req, rest)
        elif verb == 'NOOP':
            self._respond('noop', req, self._news() + self.ok(t))
        elif verb in ('CLOSE', 'UNSELECT') and (verb == 'CLOSE' or 'UNSELECT' in self.caps):
            if verb == 'CLOSE' and self.selected is not None and self.selected_rw:
                # CLOSE expunges silently, and only a mailbox opened with SELECT
                mb = self.selected
                mb.messages = [m for m in mb.messages if '\\Deleted' not in m.flags.split()]
            self.selected = None
            self._respond('other', req, self.ok(t))
        elif verb == 'NOTIFY':
            self._respond('notify', req, t + b' NO not supported\r\n')
        elif verb == 'IDLE':
            self._idle(t, req)
        elif verb == 'LOGOUT':
            self._respond('logout', req, b'* BYE logging out\r\n' + self.ok(t))
            self.close()
        elif verb == 'APPEND':
            self._append(t, req, rest)
        elif verb == 'CREATE':
            self._create(t, req, rest)
        elif verb == 'GETQUOTAROOT':
            if srv.quota is None:
                self._respond('quota', req, t + b' NO no quota\r\n')
                return
            self._respond('quota', req, b'* QUOTAROOT INBOX ""\r\n* QUOTA "" (STORAGE %d %d)\r\n'
                          % srv.quota + self.ok(t))
        elif verb in ('ENABLE', 'ID', 'NAMESPACE'):
            extra = {'ID': b'* ID NIL\r\n',
                     'NAMESPACE': b'* NAMESPACE (("" "/")) NIL NIL\r\n'}.get(verb, b'')
            self._respond('other', req, extra + self.ok(t))
        else:
            self._respond('other', req, t + b' ' + srv.unknown_command + b'\r\n')

    def _note_login(self, out, t):
        """A login answered OK: the connection counts, capabilities grow."""
        if out is None or (b'\r\n' + t + b' OK') not in b'\r\n' + out:
            return
        srv = self.server
        with srv._lock:
            if not self.authed:     # a server that counts in login_ok did
                self.authed = True
                srv.logged_in += 1
                srv.max_logged_in = max(srv.max_logged_in, srv.logged_in)
        self.caps = srv.caps_after_login or srv.caps

    def _authenticate(self, t, req, rest):
        srv = self.server
        parts = rest.split()
        mech = parts[0].decode('latin-1').upper() if parts else ''
        req['mechanism'] = mech
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
        if 'AUTH=' + mech not in self.caps.upper().split():
            default = t + b' NO [CANNOT] unsupported mechanism\r\n'
        elif mech == 'PLAIN':
            fields = req['plain'].split(b'\0')
            req['password'] = fields[2] if len(fields) > 2 else b''
            if not srv.password_login:
                default = t + b' NO ' + srv.auth_refused + b'\r\n'
            elif srv.password is not None and req['password'] != srv.password.encode():
                default = t + b' NO [AUTHENTICATIONFAILED] Invalid credentials\r\n'
            else:
                default = srv.login_ok(self, t, req)
        elif mech in ('XOAUTH2', 'OAUTHBEARER'):
            m = re.search(rb'auth=Bearer ([^\x01]*)\x01', req['plain'])
            req['token'] = m.group(1) if m else b''
            if srv.oauth_token is not None and req['token'] == srv.oauth_token.encode():
                default = srv.login_ok(self, t, req)
            else:
                if srv.oauth_challenge:
                    # the error challenge (Gmail); the client answers it first
                    self.send(b'+ ' + base64.b64encode(
                        b'{"status":"400","schemes":"Bearer","scope":"https://mail.google.com/"}')
                        + b'\r\n')
                    self.received.append(self.readline())
                default = t + b' NO ' + srv.oauth_refused + b'\r\n'
        else:
            default = t + b' NO [CANNOT] unsupported mechanism\r\n'
        out = self._respond('authenticate', req, default)
        self._note_login(out, t)

    def _select(self, t, req, rest, verb):
        srv = self.server
        name = parse_astring(rest)
        req['mailbox'] = name
        mb = srv.mailbox(name)
        if mb is None or mb.noselect:
            self.selected = None
            self._respond('select', req, t + b' NO [NONEXISTENT] ' + srv.no_mailbox + b'\r\n')
            return
        self.selected = mb
        self.selected_rw = verb == 'SELECT'
        self.seen_exists = len(mb.messages)
        out = (b'* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n'
               b'* %d EXISTS\r\n* 0 RECENT\r\n'
               b'* OK [UIDVALIDITY %d] UIDs valid\r\n'
               b'* OK [UIDNEXT %d] Predicted next UID\r\n'
               % (len(mb.messages), mb.uidvalidity, mb.uidnext()))
        if srv.select_modseq:
            out += b'* OK [HIGHESTMODSEQ %d]\r\n' % mb.highestmodseq()
        out += self.ok(t, b'[READ-ONLY] done' if verb == 'EXAMINE' else b'[READ-WRITE] done')
        self._respond('select', req, out)

    def _status(self, t, req, rest):
        srv = self.server
        name = parse_astring(rest)
        req['mailbox'] = name
        mb = srv.mailbox(name)
        if mb is None or mb.noselect:
            self._respond('status', req, t + b' NO [NONEXISTENT] ' + srv.no_mailbox + b'\r\n')
            return
        # a name with CR, LF or NUL can only go out as a literal
        wire = (literal(mb.wire) if any(c in mb.wire for c in (b'\r', b'\n', b'\0'))
                else quote(mb.wire))
        modseq = (b' HIGHESTMODSEQ %d' % mb.highestmodseq()
                  if 'CONDSTORE' in srv.caps_all() else b'')
        out = (b'* STATUS %s (MESSAGES %d UIDNEXT %d UIDVALIDITY %d UNSEEN 0%s)\r\n'
               % (wire, len(mb.messages), mb.uidnext(), mb.uidvalidity, modseq)) + self.ok(t)
        self._respond('status', req, out)

    def _create(self, t, req, rest):
        srv = self.server
        name = parse_astring(rest)
        req['mailbox'] = name
        refusal = srv.create_refusal(name)
        if refusal is not None:
            self._respond('create', req, t + b' ' + refusal + b'\r\n')
            return
        hook = srv.hooks.get('create')
        with srv._lock:
            srv.counts['create'] = srv.counts.get('create', 0) + 1
        out = hook(self, req, self.ok(t)) if hook else self.ok(t)
        if out is not None and out.split(b' ', 2)[1] == b'OK':
            srv.mailboxes.append(Mailbox(name, uidvalidity=srv.new_uidvalidity()))
        if out is not None and not self.closed:
            self.send(out)

    def _append(self, t, req, rest):
        """APPEND mailbox [(flags)] ["date"] {n}: the message is added (a hook
        'append' may refuse it instead); APPENDUID with UIDPLUS."""
        srv = self.server
        name = parse_astring(rest)
        lit = re.search(rb'\{(\d+)\+?\}\r\n', rest)
        fl = re.match(rb'\s*(?:"(?:[^"\\]|\\.)*"|\S+)\s+\(([^)]*)\)', rest)
        dt = re.search(rb'"(\d{1,2}-[A-Za-z]{3}-\d{4} \d\d:\d\d:\d\d [+-]\d{4})"', rest)
        req['mailbox'] = name
        req['data'] = rest[lit.end():lit.end() + int(lit.group(1))] if lit else b''
        req['flags'] = fl.group(1).decode('latin-1') if fl else ''
        mb = srv.mailbox(name)
        if mb is None or mb.noselect:
            self._respond('append', req, t + b' NO [TRYCREATE] no such mailbox\r\n')
            return
        hook = srv.hooks.get('append')
        with srv._lock:
            srv.counts['append'] = srv.counts.get('append', 0) + 1
        uid = mb.uidnext()
        default = t + (b' OK [APPENDUID %d %d] done\r\n' % (mb.uidvalidity, uid)
                       if 'UIDPLUS' in srv.caps_all() else b' OK done\r\n')
        out = hook(self, req, default) if hook else default
        if out is not None and out.split(b' ', 2)[1] == b'OK':
            msg = Message(uid, req['data'], flags=req['flags'],
                          date=dt.group(1).decode() if dt else '01-Jan-2024 10:00:00 +0000')
            mb.messages.append(msg)
            mb.next_uid = uid + 1
            srv.appended.append((mb.wire, msg))
            srv.on_append(mb, msg)
        if out is not None and not self.closed:
            self.send(out)

    def _news(self):
        """EXISTS for messages the selected mailbox gained since last told."""
        mb = self.selected
        if mb is None or len(mb.messages) == self.seen_exists:
            return b''
        grew = len(mb.messages) > self.seen_exists
        self.seen_exists = len(mb.messages)
        # EXISTS never goes down: what left was told by EXPUNGE (or not at all)
        return b'* %d EXISTS\r\n' % self.seen_exists if grew else b''

    def _idle(self, t, req):
        srv = self.server
        with srv._lock:
            srv.counts['idle'] = srv.counts.get('idle', 0) + 1
        hook = srv.hooks.get('idle')
        if hook is not None:
            out = hook(self, req, None)
            if out is not None and not self.closed:
                self.send(out)
            return
        self.send(b'+ idling\r\n')
        while b'\r\n' not in self.buf:
            if srv.idle_push:
                news = self._news()
                if news:
                    self.send(news)
            self._fill()
        line = self.readline()
        self.received.append(line)
        srv.log(self.cid, line)
        # what was held back (a server that is silent during IDLE) comes now
        self.send(self._news() + t + b' OK IDLE done\r\n')

    # -- UID commands
    def uid_command(self, t, req, rest):
        srv = self.server
        body = rest.rstrip(b'\r\n')
        se = re.match(rb'SEARCH RETURN \(ALL\) UID (\d+):(\d+)$', body, re.I)
        if se and self.selected is not None and 'ESEARCH' in srv.caps_all():
            # ESEARCH (RFC 4731), the one form imapfs sends
            lo, hi = int(se.group(1)), int(se.group(2))
            uids = [m.uid for m in self.selected.messages if lo <= m.uid <= hi]
            req['mailbox'] = self.selected.wire
            out = b'* ESEARCH (TAG "%s") UID' % t
            if uids:
                out += b' ALL ' + b','.join(b'%d' % u for u in uids)
            self._respond('esearch', req, out + b'\r\n' + t + b' OK Search done\r\n')
            return
        sub = req.get('uid_verb', '')
        if sub in ('STORE', 'MOVE', 'COPY', 'EXPUNGE') and self.selected is not None:
            self._uid_change(t, req, body, sub)
            return
        m = re.match(rb'FETCH (\S+) \((.*)\)(?: \((CHANGEDSINCE \d+)\))?$', body, re.S | re.I)
        if not m or self.selected is None:
            self._respond('other', req, t + b' BAD unsupported\r\n')
            return
        self._fetch(t, req, m.group(1).decode(), m.group(2).decode('latin-1'), m.group(3))

    def _fetch(self, t, req, uidset, items, changedsince):
        srv = self.server
        mb = self.selected
        req['items'] = items
        req['mailbox'] = mb.wire
        ok = t + b' OK Fetch completed\r\n'
        changed = re.search(r'CHANGEDSINCE (\d+)', changedsince.decode() if changedsince
                            else items, re.I)
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
        if uidset.endswith(':*') and 'RFC822.SIZE' in items.upper():
            # the listing, of all (1:*) or of the UIDs from one on; "N:*"
            # names the last message even when N is past it
            lo = int(uidset[:-2])
            rows = [(seq, msg) for seq, msg in enumerate(mb.messages, 1) if msg.uid >= lo]
            if not rows and mb.messages:
                rows = [(len(mb.messages), mb.messages[-1])]
            out = b''.join(srv.listing_row(seq, msg) for seq, msg in rows)
            req['from_uid'] = lo
            self._respond('fetch_list', req, out + ok)
            return
        uids = parse_uid_set(uidset, mb)
        sections = parse_fetch_items(items)
        if len(uids) == 1:
            uid = uids[0]
            req['uid'] = uid
            seq, msg = mb.by_uid(uid)
            req['seq'] = seq
            req['msg'] = msg
            if msg is None:
                self._respond('other', req, ok)
                return
        if 'BODYSTRUCTURE' in items.upper():
            out = b''
            for uid in uids:
                seq, msg = mb.by_uid(uid)
                if msg is not None:
                    out += self.fetch_row(seq, msg, sections)
            self._respond('fetch_struct', req, out + ok)
            return
        secs = [s for s in sections if s[0] == 'section']
        if not secs and 'RFC822.SIZE' in items.upper():
            # listing rows of chosen UIDs (a search's results)
            out = b''
            for uid in uids:
                seq, msg = mb.by_uid(uid)
                if msg is not None:
                    out += srv.listing_row(seq, msg)
            req['uids'] = uids
            self._respond('fetch_rows', req, out + ok)
            return
        if not secs:
            self._respond('other', req, t + b' BAD unsupported fetch\r\n')
            return
        if len(uids) != 1:
            out = b''
            for uid in uids:
                seq, msg = mb.by_uid(uid)
                if msg is not None:
                    out += self.fetch_row(seq, msg, sections)
            req['uids'] = uids
            self._respond('fetch_bodies', req, out + ok)
            return
        _, kind, sec, off, ln = secs[0]
        data = msg.section(sec) if kind == 'BODY' else (msg.binary(sec) or b'')
        if off is not None:
            req['off'], req['len'] = off, ln
            chunk = data[off:off + ln]
        else:
            req['off'], req['len'] = None, None
            chunk = data
        req['section'] = sec
        req['key'] = b'%s[%s]' % (kind.encode(), sec.encode()) + (
            b'<%d>' % off if off is not None else b'')
        req['data'] = chunk
        out = self.fetch_row(seq, msg, sections)
        self._respond('fetch_body' if sec == '' and len(secs) == 1 else 'fetch_section', req,
                      out + ok)

    def fetch_row(self, seq, msg, items):
        """* seq FETCH (...) of msg for the parsed items (in their order)."""
        srv = self.server
        out = [b'UID %d' % msg.uid]
        for it in items:
            if it[0] == 'attr':
                name = it[1].upper()
                if name == 'UID':
                    continue
                if name == 'FLAGS':
                    out.append(b'FLAGS (%s)' % msg.flags.encode())
                elif name == 'RFC822.SIZE':
                    out.append(b'RFC822.SIZE %d' % msg.size)
                elif name == 'INTERNALDATE':
                    out.append(b'INTERNALDATE "%s"' % msg.date.encode())
                elif name == 'BODYSTRUCTURE':
                    out.append(b'BODYSTRUCTURE ' + srv.structure_of(msg))
                elif name == 'ENVELOPE':
                    out.append(b'ENVELOPE ' + envelope(msg.entity))
                elif name == 'MODSEQ':
                    out.append(b'MODSEQ (%d)' % msg.modseq)
                elif name == 'X-GM-MSGID' and msg.gm_msgid:
                    out.append(b'X-GM-MSGID %d' % msg.gm_msgid)
                elif name == 'X-GM-THRID' and msg.gm_thrid:
                    out.append(b'X-GM-THRID %d' % msg.gm_thrid)
                elif name == 'X-GM-LABELS' and msg.gm_msgid:
                    out.append(b'X-GM-LABELS (%s)' % b' '.join(quote(x) for x in msg.labels))
                continue
            _, kind, sec, off, ln = it
            if kind == 'BINARY.SIZE':
                data = msg.binary(sec)
                out.append(b'BINARY.SIZE[%s] %d' % (sec.encode(), len(data or b'')))
                continue
            if kind == 'BINARY':
                data = msg.binary(sec)
                if data is None:
                    continue
                if not data and srv.binary_empty_missing:
                    continue   # Cyrus: an empty part has no BINARY[n] item
            else:
                data = msg.section(sec)
            key = b'%s[%s]' % (kind.encode(), sec.encode())
            if off is not None:
                data = data[off:off + ln]
                key += b'<%d>' % off
            lit = literal(data)
            if kind == 'BINARY' and b'\0' in data:
                lit = b'~' + lit
            out.append(key + b' ' + lit)
            srv.note_download(len(data))
        return b'* %d FETCH (%s)\r\n' % (seq, b' '.join(out))

    def _uid_change(self, t, req, body, sub):
        """UID STORE / MOVE / COPY / EXPUNGE of a UID set."""
        srv = self.server
        mb = self.selected
        words = body.split(b' ', 2)
        uids = parse_uid_set(words[1].decode(), mb) if len(words) > 1 else []
        req['uids'] = uids
        req['mailbox'] = mb.wire
        out = b''
        if sub == 'STORE':
            m = re.match(rb'STORE \S+ ([+-]?)FLAGS(?:\.SILENT)? \(([^)]*)\)', body, re.I)
            if not m:
                self._respond('store', req, t + b' BAD bad STORE\r\n')
                return
            for uid in uids:
                seq, msg = mb.by_uid(uid)
                if msg is None:
                    continue
                have = msg.flags.split()
                new = m.group(2).decode().split()
                if m.group(1) == b'+':
                    have += [f for f in new if f not in have]
                elif m.group(1) == b'-':
                    have = [f for f in have if f not in new]
                else:
                    have = new
                msg.flags = ' '.join(have)
                msg.modseq = mb.highestmodseq() + 1
                if b'SILENT' not in body.upper():
                    out += b'* %d FETCH (UID %d FLAGS (%s))\r\n' % (seq, uid, msg.flags.encode())
            self._respond('store', req, out + self.ok(t))
            return
        if sub == 'EXPUNGE':
            for uid in uids:
                seq, msg = mb.by_uid(uid)
                if msg is not None and '\\Deleted' in msg.flags.split():
                    mb.messages.remove(msg)
                    out += b'* %d EXPUNGE\r\n' % seq
            self.seen_exists = len(mb.messages)
            self._respond('expunge', req, out + self.ok(t))
            return
        dest = srv.mailbox(parse_astring(words[2] if len(words) > 2 else b''))
        if dest is None or dest.noselect:
            self._respond('move', req, t + b' NO [TRYCREATE] no such mailbox\r\n')
            return
        req['dest'] = dest.wire
        src, dst = [], []
        for uid in uids:
            seq, msg = mb.by_uid(uid)
            if msg is None:
                continue
            nu = dest.uidnext()
            dest.messages.append(Message(nu, msg.raw, flags=msg.flags, date=msg.date,
                                         size=msg.size, gm_msgid=msg.gm_msgid,
                                         gm_thrid=msg.gm_thrid, labels=msg.labels))
            dest.next_uid = nu + 1
            src.append(uid)
            dst.append(nu)
        code = b'[COPYUID %d %s %s] ' % (dest.uidvalidity, b','.join(b'%d' % u for u in src),
                                         b','.join(b'%d' % u for u in dst)) if src else b''
        if sub == 'COPY':
            self._respond('move', req, t + b' OK ' + code + b'done\r\n')
            return
        for uid in src:
            seq, msg = mb.by_uid(uid)
            mb.messages.remove(msg)
            out += b'* %d EXPUNGE\r\n' % seq
            srv.on_move(mb, dest, msg)
        self.seen_exists = len(mb.messages)
        self._respond('move', req, b'* OK ' + code + b'moved\r\n' + out + self.ok(t))


def parse_uid_set(text, mb):
    """The UIDs a set names ("4", "4:6", "1,3:5", "7:*") that mb holds."""
    have = [m.uid for m in mb.messages]
    top = max(have + [0])
    out = []
    for piece in text.split(','):
        lo, _, hi = piece.partition(':')
        lo = top if lo == '*' else int(lo)
        hi = lo if not hi else (top if hi == '*' else int(hi))
        lo, hi = min(lo, hi), max(lo, hi)
        out += [u for u in have if lo <= u <= hi and u not in out]
    return sorted(out)


ITEM_RE = re.compile(r'(BODY\.PEEK|BINARY\.PEEK|BINARY\.SIZE|BODY|BINARY)\[([^\]]*)\]'
                     r'(?:<(\d+)\.(\d+)>)?|([A-Za-z0-9.\-]+)', re.I)


def parse_fetch_items(items):
    """[('attr', name) | ('section', 'BODY'|'BINARY'|'BINARY.SIZE', sec, off, len)]."""
    out = []
    for m in ITEM_RE.finditer(items):
        if m.group(1):
            kind = m.group(1).upper().replace('.PEEK', '')
            off = int(m.group(3)) if m.group(3) is not None else None
            ln = int(m.group(4)) if m.group(4) is not None else None
            out.append(('section', kind, m.group(2), off, ln))
        else:
            out.append(('attr', m.group(5)))
    return out


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
    """The server: FakeIMAP().start(); .port; .hooks; .stop(). The plain
    one (name 'plain') is the Dovecot-like account the hostile tests use; the
    personas below change what the hooks' defaults are."""

    name = 'plain'
    # what the server says in the places personas differ
    login_refused = b'[AUTHENTICATIONFAILED] Authentication failed.'
    auth_refused = b'[AUTHENTICATIONFAILED] Authentication failed.'
    oauth_refused = b'[AUTHENTICATIONFAILED] Authentication failed.'
    oauth_challenge = False
    no_mailbox = b'no such mailbox'
    unknown_command = b'BAD unknown command'
    list_ok = b'List completed'
    select_modseq = False
    idle_push = False
    binary_empty_missing = False
    style = Style()

    def __init__(self, mailboxes=None, caps=CAPS, greeting=None, io_timeout=0.5):
        self.mailboxes = default_mailboxes() if mailboxes is None else mailboxes
        self.caps = caps
        self.caps_after_login = None   # capabilities once logged in (None: caps)
        self.greeting = greeting
        self.password = None           # the password PLAIN/LOGIN must carry (None: any)
        self.password_login = True     # False: PLAIN and LOGIN refused (OAuth-only account)
        self.oauth_token = None        # the bearer token XOAUTH2/OAUTHBEARER must carry
        self.hooks = {}
        self.quota = None         # (used KiB, limit KiB) for GETQUOTAROOT, with QUOTA in caps
        self.counts = {}
        self.conns = []
        self.errors = []
        self.trace = []           # (conn id, command line) in arrival order
        self.appended = []        # (mailbox wire name, Message) of every APPEND taken
        self.logged_in = 0        # connections logged in now
        self.max_logged_in = 0    # ... and at most, so far
        self.downloaded = 0       # bytes of bodies and sections sent
        self.io_timeout = io_timeout
        self.stopping = False
        self._lock = threading.Lock()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(('127.0.0.1', 0))
        self.sock.listen(64)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self._thread = None

    def url(self, scheme='imap', user='alice'):
        return '%s://%s@127.0.0.1:%d' % (scheme, user, self.port)

    def greeting_bytes(self):
        if self.greeting is not None:
            return self.greeting
        return b'* OK [CAPABILITY ' + self.caps.encode() + b'] fake IMAP ready\r\n'

    def caps_all(self):
        """Every capability this server has, before or after login."""
        return (self.caps + ' ' + (self.caps_after_login or '')).upper().split()

    def mailbox(self, wire):
        if isinstance(wire, str):
            wire = wire.encode('utf-8')
        for mb in self.mailboxes:
            if mb.wire == wire:
                return mb
        if wire.upper() == b'INBOX':
            # RFC 3501: INBOX is case-insensitive (Yahoo lists it as "Inbox")
            for mb in self.mailboxes:
                if mb.wire.upper() == b'INBOX':
                    return mb
        return None

    def log(self, cid, line):
        with self._lock:
            self.trace.append((cid, line))

    def commands(self):
        with self._lock:
            return [line for _, line in self.trace]

    def commands_matching(self, pattern):
        """Command lines (as text) that match a regular expression."""
        rx = re.compile(pattern, re.I)
        return [c for c in (line.decode('latin-1') for line in self.commands()) if rx.search(c)]

    # -- what personas change (the plain server: nothing)
    def gate(self, conn, req):
        """Bytes to answer instead of running the command (b'' to answer
        nothing, e.g. after cutting the connection), or None to run it."""
        return None

    def shape(self, conn, kind, req, default):
        """The default answer of a command, as this server writes it."""
        return default

    def login_ok(self, conn, t, req):
        """The answer to a login with the right credentials."""
        return t + b' OK [CAPABILITY ' + (self.caps_after_login or self.caps).encode() + \
            b'] Logged in\r\n'

    def logged_out(self, conn):
        with self._lock:
            self.logged_in -= 1

    def listing_row(self, seq, msg):
        return b'* %d FETCH (UID %d FLAGS (%s) RFC822.SIZE %d INTERNALDATE "%s")\r\n' % (
            seq, msg.uid, msg.flags.encode(), msg.size, msg.date.encode())

    def structure_of(self, msg):
        return msg.structure(self.style)

    def create_refusal(self, name):
        if self.mailbox(name) is not None:
            return b'NO [ALREADYEXISTS] exists'
        return None

    def new_uidvalidity(self):
        return max([mb.uidvalidity for mb in self.mailboxes] + [1700000000]) + 1

    def note_download(self, n):
        with self._lock:
            self.downloaded += n

    def on_append(self, mb, msg):
        pass

    def on_move(self, src, dest, msg):
        pass

    def deliver(self, mailbox, raw, flags='', date='04-Jan-2024 12:00:00 +0000'):
        """A new message in mailbox, as delivered by the MTA; its UID."""
        mb = self.mailbox(mailbox)
        uid = mb.uidnext()
        msg = Message(uid, raw, flags=flags, date=date, modseq=mb.highestmodseq() + 1)
        mb.messages.append(msg)
        mb.next_uid = uid + 1
        self.on_append(mb, msg)
        return uid

    # -- life
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


def _body_fetch(req):
    """Whether a command asks for message bytes (a body, section or header)."""
    items = req.get('line', b'').upper()
    return (req.get('uid_verb') == 'FETCH' and
            (b'BODY.PEEK[' in items or b'BINARY.PEEK[' in items))


# --------------------------------------------------------------------------
# personas

class Gmail(FakeIMAP):
    """imap.gmail.com, as it answers (see the module docstring)."""

    name = 'gmail'
    CAPS_BEFORE = ('IMAP4rev1 UNSELECT IDLE NAMESPACE QUOTA ID XLIST CHILDREN X-GM-EXT-1 XYZZY '
                   'SASL-IR AUTH=XOAUTH2 AUTH=PLAIN AUTH=PLAIN-CLIENTTOKEN AUTH=OAUTHBEARER '
                   'AUTH=XOAUTH')
    CAPS_AFTER = ('IMAP4rev1 UNSELECT IDLE NAMESPACE QUOTA ID XLIST CHILDREN X-GM-EXT-1 UIDPLUS '
                  'COMPRESS=DEFLATE ENABLE MOVE CONDSTORE ESEARCH UTF8=ACCEPT LIST-EXTENDED '
                  'LIST-STATUS LITERAL- SPECIAL-USE APPENDLIMIT=35651584')
    BANDWIDTH = b'NO [ALERT] Account exceeded command or bandwidth limits. (Failure)'
    TOO_MANY = b'NO [ALERT] Too many simultaneous connections. (Failure)'
    login_refused = b'[AUTHENTICATIONFAILED] Invalid credentials (Failure)'
    auth_refused = login_refused
    oauth_refused = login_refused
    oauth_challenge = True
    no_mailbox = b'Unknown Mailbox: Folder doesn\'t exist (Failure)'
    unknown_command = b'BAD Could not parse command'
    list_ok = b'Success'
    select_modseq = True
    idle_push = True

    def __init__(self, mailboxes=None, max_connections=15, other_clients=0,
                 download_limit=None, io_timeout=0.5):
        super().__init__(mailboxes=[], caps=self.CAPS_BEFORE,
                         greeting=b'* OK Gimap ready for requests from 127.0.0.1 '
                                  b'x2mb241876667wmk\r\n', io_timeout=io_timeout)
        self.caps_after_login = self.CAPS_AFTER
        self.max_connections = max_connections   # logged in at once, per account
        self.other_clients = other_clients       # ... of them held by other clients
        self.download_limit = download_limit     # bytes of bodies until the daily limit
        self.refused_connections = 0
        self._msgid = 1780000000000000000
        self.mailboxes = self._tree(persona_mailboxes() if mailboxes is None else mailboxes)

    def _tree(self, labels):
        """The labels given, "[Gmail]" and its special-use children, and in
        "[Gmail]/All Mail" every message of every label (once)."""
        allmail = Mailbox('[Gmail]/All Mail', attrs='\\All \\HasNoChildren',
                          uidvalidity=11)
        tree = []
        for mb in labels:
            if mb.wire.upper() == b'INBOX':
                mb.attrs = '\\HasNoChildren'
            tree.append(mb)
            for msg in mb.messages:
                self._gm(msg, mb)
                self._all_mail_add(allmail, msg)
        tree += [
            Mailbox('[Gmail]', attrs='\\HasChildren \\Noselect', uidvalidity=2),
            allmail,
            Mailbox('[Gmail]/Drafts', attrs='\\Drafts \\HasNoChildren', uidvalidity=12),
            Mailbox('[Gmail]/Important', attrs='\\HasNoChildren \\Important', uidvalidity=13),
            Mailbox('[Gmail]/Sent Mail', attrs='\\HasNoChildren \\Sent', uidvalidity=14),
            Mailbox('[Gmail]/Spam', attrs='\\HasNoChildren \\Junk', uidvalidity=15),
            Mailbox('[Gmail]/Starred', attrs='\\Flagged \\HasNoChildren', uidvalidity=16),
            Mailbox('[Gmail]/Trash', attrs='\\HasNoChildren \\Trash', uidvalidity=17),
        ]
        return tree

    def _gm(self, msg, mb):
        if msg.gm_msgid is None:
            self._msgid += 1
            msg.gm_msgid = msg.gm_thrid = self._msgid
        label = '\\Inbox' if mb.wire.upper() == b'INBOX' else mb.wire.decode('utf-8')
        if label not in msg.labels:
            msg.labels.append(label)

    def _all_mail_add(self, allmail, msg):
        for m in allmail.messages:
            if m.gm_msgid == msg.gm_msgid:
                return
        uid = allmail.uidnext()
        allmail.messages.append(Message(uid, msg.raw, flags=msg.flags, date=msg.date,
                                        modseq=msg.modseq, gm_msgid=msg.gm_msgid,
                                        gm_thrid=msg.gm_thrid, labels=msg.labels))
        allmail.next_uid = uid + 1

    def all_mail(self):
        return self.mailbox('[Gmail]/All Mail')

    def on_append(self, mb, msg):
        if mb.wire in (b'[Gmail]/All Mail', b'[Gmail]/Trash', b'[Gmail]/Spam'):
            return
        self._gm(msg, mb)
        self._all_mail_add(self.all_mail(), msg)

    def on_move(self, src, dest, msg):
        if dest.wire in (b'[Gmail]/Trash', b'[Gmail]/Spam'):
            # in Trash or Spam a message is no longer in All Mail
            am = self.all_mail()
            am.messages = [m for m in am.messages if m.gm_msgid != msg.gm_msgid]

    def login_ok(self, conn, t, req):
        with self._lock:
            full = self.max_connections is not None and \
                self.logged_in + self.other_clients >= self.max_connections
            if full:
                self.refused_connections += 1
            else:
                # counted here, under the lock that checked the limit: two
                # logins at once must not both take the last slot
                conn.authed = True
                self.logged_in += 1
                self.max_logged_in = max(self.max_logged_in, self.logged_in)
        if full:
            return t + b' ' + self.TOO_MANY + b'\r\n'
        return (b'* CAPABILITY ' + self.CAPS_AFTER.encode() + b'\r\n' + t +
                b' OK alice@gmail.com authenticated (Success)\r\n')

    def create_refusal(self, name):
        for mb in self.mailboxes:
            if mb.wire.lower() == name.lower():
                # labels are case-insensitive when made, nowhere else
                return b'NO [ALREADYEXISTS] Duplicate folder name ' + name + b' (Failure)'
        return None

    def gate(self, conn, req):
        t = req['tag'].encode('latin-1')
        if req['verb'] in ('SORT', 'THREAD') or req.get('uid_verb') in ('SORT', 'THREAD'):
            return t + b' BAD Could not parse command\r\n'
        if self.download_limit is not None and _body_fetch(req) and \
                self.downloaded >= self.download_limit:
            return t + b' ' + self.BANDWIDTH + b'\r\n'
        return None

    def listing_row(self, seq, msg):
        # Gmail's own order of items, with MODSEQ (CONDSTORE) beside them
        return (b'* %d FETCH (UID %d RFC822.SIZE %d INTERNALDATE "%s" FLAGS (%s) MODSEQ (%d))\r\n'
                % (seq, msg.uid, msg.size, msg.date.encode(), msg.flags.encode(), msg.modseq))

    def shape(self, conn, kind, req, default):
        t = req['tag'].encode('latin-1')
        if default.endswith(t + b' OK done\r\n'):
            return default[:-len(b'done\r\n')] + b'Success\r\n'
        if kind in ('list', 'status') and default.endswith(b'OK Success\r\n'):
            return default[:-2] + b' [THROTTLED]\r\n'
        if kind.startswith('fetch') and default.endswith(t + b' OK Fetch completed\r\n'):
            return default[:-len(b'Fetch completed\r\n')] + b'Success\r\n'
        return default


class ExchangeStyle(Style):
    nil_multipart = True
    nil_param = b'format'
    bare_disposition = True
    nil_envelope = True


class Exchange(FakeIMAP):
    """Microsoft 365 / Exchange Online (see the module docstring)."""

    name = 'exchange'
    CAPS_BEFORE = ('IMAP4 IMAP4rev1 AUTH=PLAIN AUTH=XOAUTH2 SASL-IR UIDPLUS ID UNSELECT '
                   'CHILDREN IDLE NAMESPACE LITERAL+')
    CAPS_AFTER = ('IMAP4 IMAP4rev1 AUTH=PLAIN AUTH=XOAUTH2 SASL-IR UIDPLUS MOVE ID UNSELECT '
                  'CLIENTACCESSRULES CLIENTNETWORKPRESENCELOCATION BACKENDAUTHENTICATE '
                  'CHILDREN IDLE NAMESPACE LITERAL+')
    THROTTLES = (b'NO [UNAVAILABLE] Server Unavailable. 15',
                 b'NO Server Unavailable. 15',
                 b'NO User is authenticated but not connected.')
    login_refused = b'LOGIN failed.'
    auth_refused = b'AUTHENTICATE failed.'
    oauth_refused = b'AUTHENTICATE failed.'
    no_mailbox = b'Mailbox doesn\'t exist.'
    unknown_command = b'BAD Command Error. 12'
    list_ok = b'LIST completed.'
    idle_push = True
    style = ExchangeStyle()

    def __init__(self, mailboxes=None, basic_auth=False, token='ms-token-1', io_timeout=0.5,
                 approximate_sizes=True):
        super().__init__(mailboxes=persona_mailboxes(uidvalidity=14) if mailboxes is None
                         else mailboxes, caps=self.CAPS_BEFORE,
                         greeting=b'* OK The Microsoft Exchange IMAP4 service is ready. '
                                  b'[TQBOADIAUABSADEANgBDAEEAMAAwADYAMwAuAG4AYQBtAHAA]\r\n',
                         io_timeout=io_timeout)
        self.caps_after_login = self.CAPS_AFTER
        self.password_login = basic_auth
        self.oauth_token = token
        self.empty_fetches = {}       # uid -> BODY.PEEK[] answers left to give without data
        self.empty_given = 0
        self._throttle = 0            # commands left to refuse (None: until throttle(0))
        self._throttle_i = 0
        self._drop = 0
        self.dropped = 0
        for mb in self.mailboxes:
            mb.list_name = mb.wire if re.match(rb'^[A-Za-z0-9]+$', mb.wire) else quote(mb.wire)
            if mb.wire == b'INBOX':
                mb.attrs = '\\Marked \\HasNoChildren'
            if approximate_sizes:
                for msg in mb.messages:
                    msg.size = approximate(msg.raw, msg.uid)

    def throttle(self, n=None):
        """Refuse the next n commands as Exchange's throttling does (None:
        every command until throttle(0))."""
        with self._lock:
            self._throttle = n

    def drop(self, n):
        """Cut the connection instead of answering the next n body fetches."""
        with self._lock:
            self._drop = n

    def login_ok(self, conn, t, req):
        return t + b' OK AUTHENTICATE completed.\r\n' if req['verb'] == 'AUTHENTICATE' else \
            t + b' OK LOGIN completed.\r\n'

    def gate(self, conn, req):
        t = req['tag'].encode('latin-1')
        if req['verb'] in ('LOGOUT', 'CAPABILITY', 'AUTHENTICATE', 'LOGIN'):
            return None
        with self._lock:
            if self._drop and _body_fetch(req):
                self._drop -= 1
                self.dropped += 1
                drop = True
            else:
                drop = False
            refuse = None
            if not drop and (self._throttle is None or self._throttle > 0):
                if self._throttle:
                    self._throttle -= 1
                refuse = self.THROTTLES[self._throttle_i % len(self.THROTTLES)]
                self._throttle_i += 1
        if drop:
            try:
                conn.send(b'* BYE Connection is closed. 13\r\n')
            except Closed:
                pass
            conn.close()
            return b''
        if refuse is not None:
            return t + b' ' + refuse + b'\r\n'
        return None

    def shape(self, conn, kind, req, default):
        t = req['tag'].encode('latin-1')
        if kind == 'fetch_body':
            left = self.empty_fetches.get(req.get('uid'), 0)
            if left:
                with self._lock:
                    self.empty_fetches[req['uid']] = left - 1
                    self.empty_given += 1
                return t + b' OK FETCH completed.\r\n'
        if default.endswith(t + b' OK Fetch completed\r\n'):
            return default[:-len(b'Fetch completed\r\n')] + b'FETCH completed.\r\n'
        if default.endswith(t + b' OK done\r\n'):
            return default[:-len(b'done\r\n')] + req['verb'].encode() + b' completed.\r\n'
        return default


def approximate(raw, uid):
    """An RFC822.SIZE as Exchange reports it: near the size, not it."""
    n = len(raw)
    return n + n // 40 + 17 if uid % 2 else max(1, n - n // 50 - 9)


class Yahoo(FakeIMAP):
    """Yahoo Mail (see the module docstring)."""

    name = 'yahoo'
    CAPS_BEFORE = ('IMAP4rev1 ID MOVE NAMESPACE X-ID-ACLID UIDPLUS LITERAL+ CHILDREN '
                   'XAPPLEPUSHSERVICE XYMHIGHESTMODSEQ AUTH=PLAIN AUTH=LOGIN AUTH=XOAUTH2 '
                   'AUTH=XYMCOOKIE AUTH=XYMECOOKIE AUTH=XYMCOOKIEB64 AUTH=XYMPKI')
    CAPS_AFTER = 'IMAP4rev1 ID MOVE NAMESPACE X-ID-ACLID UIDPLUS LITERAL+ XAPPLEPUSHSERVICE ' \
                 'XYMHIGHESTMODSEQ'
    SERVER_ERROR = b'NO [UNAVAILABLE] UID FETCH Server error while fetching messages'
    TRY_LATER = b'NO [UNAVAILABLE] UID FETCH Server error - Please try again later'
    login_refused = b'[AUTHENTICATIONFAILED] LOGIN Invalid credentials'
    no_mailbox = b'[NONEXISTENT] SELECT Folder does not exist'
    unknown_command = b'BAD [CLIENTBUG] Command unrecognized'
    list_ok = b'LIST completed'
    select_modseq = True      # HIGHESTMODSEQ in SELECT, without CONDSTORE

    def __init__(self, mailboxes=None, io_timeout=0.5):
        super().__init__(mailboxes=persona_mailboxes(uidvalidity=1) if mailboxes is None
                         else mailboxes, caps=self.CAPS_BEFORE, io_timeout=io_timeout)
        self.greeting = (b'* OK [CAPABILITY ' + self.CAPS_BEFORE.encode() +
                         b'] IMAP4rev1 imapgate-1.8.1_01.20166 imap1015.mail.gq1.yahoo.com\r\n')
        self.caps_after_login = self.CAPS_AFTER
        for mb in self.mailboxes:
            if mb.wire.upper() == b'INBOX':
                mb.wire = b'Inbox'
                mb.list_name = quote(b'Inbox')
        self.broken_uids = set()   # bodies that always fail (a message Yahoo cannot serve)
        self._unavailable = 0
        self._rate = 0
        self._rate_bye = True

    def unavailable(self, n):
        with self._lock:
            self._unavailable = n

    def rate_limit(self, n, bye=True):
        """Refuse the next n commands with NO [LIMIT] ... Rate limit hit."""
        with self._lock:
            self._rate = n
            self._rate_bye = bye

    def login_ok(self, conn, t, req):
        if req['verb'] == 'LOGIN':
            return t + b' OK LOGIN completed\r\n'
        return t + b' OK AUTHENTICATE completed - Mailbox size in bytes is 2624334830\r\n'

    def gate(self, conn, req):
        t = req['tag'].encode('latin-1')
        if req['verb'] in ('LOGOUT',):
            return None
        verb = req['verb'] + (' ' + req['uid_verb'] if req.get('uid_verb') else '')
        with self._lock:
            rate = self._rate > 0
            if rate:
                self._rate -= 1
            bye = self._rate_bye
            unavailable = not rate and self._unavailable > 0 and _body_fetch(req)
            if unavailable:
                self._unavailable -= 1
        if rate:
            out = t + b' NO [LIMIT] ' + verb.encode() + b' Rate limit hit.\r\n'
            if bye:
                conn.send(b'* BYE IMAP4rev1 Server logging out\r\n' + out)
                conn.close()
                return b''
            return out
        if unavailable:
            return t + b' ' + self.TRY_LATER + b'\r\n'
        if _body_fetch(req) and self.broken_uids and conn.selected is not None:
            m = re.match(rb'\S+ UID FETCH (\S+) ', req['line'])
            if m and set(parse_uid_set(m.group(1).decode(), conn.selected)) & self.broken_uids:
                return t + b' ' + self.SERVER_ERROR + b'\r\n'
        return None

    def shape(self, conn, kind, req, default):
        t = req['tag'].encode('latin-1')
        if default.endswith(t + b' OK Fetch completed\r\n'):
            return default[:-len(b'Fetch completed\r\n')] + b'UID FETCH completed\r\n'
        return default


class Cyrus(FakeIMAP):
    """Cyrus IMAP 3.6 without idled (see the module docstring)."""

    name = 'cyrus'
    CAPS_BEFORE = 'IMAP4rev1 LITERAL+ ID ENABLE AUTH=PLAIN SASL-IR'
    CAPS_AFTER = ('IMAP4rev1 LITERAL+ ID ENABLE ACL RIGHTS=kxten QUOTA MAILBOX-REFERRALS '
                  'NAMESPACE UIDPLUS NO_ATOMIC_RENAME UNSELECT CHILDREN MULTIAPPEND BINARY '
                  'CATENATE CONDSTORE ESEARCH SEARCH=FUZZY SORT SORT=MODSEQ SORT=DISPLAY '
                  'SORT=UID THREAD=ORDEREDSUBJECT THREAD=REFERENCES THREAD=REFS ANNOTATEMORE '
                  'ANNOTATE-EXPERIMENT-1 METADATA LIST-EXTENDED LIST-STATUS LIST-MYRIGHTS '
                  'LIST-METADATA WITHIN QRESYNC SCAN XLIST XMOVE MOVE SPECIAL-USE '
                  'CREATE-SPECIAL-USE DIGEST=SHA1 X-REPLICATION STATUS=SIZE OBJECTID SAVEDATE '
                  'X-CREATEDMODSEQ PREVIEW=FUZZY IDLE APPENDLIMIT=2147483647 URLAUTH '
                  'URLAUTH=BINARY')
    no_mailbox = b'Mailbox does not exist'
    list_ok = b'Completed (0.001 secs 6 calls)'
    select_modseq = True
    idle_push = False          # no idled: nothing during IDLE
    binary_empty_missing = True

    def __init__(self, mailboxes=None, io_timeout=0.5):
        super().__init__(mailboxes=persona_mailboxes(uidvalidity=int(time.time()))
                         if mailboxes is None else mailboxes, caps=self.CAPS_BEFORE,
                         greeting=b'* OK [CAPABILITY IMAP4rev1 LITERAL+ ID ENABLE AUTH=PLAIN '
                                  b'SASL-IR] localhost Cyrus IMAP 3.6.1 server ready\r\n',
                         io_timeout=io_timeout)
        self.caps_after_login = self.CAPS_AFTER

    def new_uidvalidity(self):
        return int(time.time())   # two mailboxes made in one second share it

    def shape(self, conn, kind, req, default):
        t = req['tag'].encode('latin-1')
        for old in (b' OK done\r\n', b' OK Fetch completed\r\n'):
            if default.endswith(t + old):
                return default[:-len(old)] + b' OK Completed\r\n'
        return default


PERSONAS = {'plain': FakeIMAP, 'gmail': Gmail, 'exchange': Exchange, 'yahoo': Yahoo,
            'cyrus': Cyrus}


def persona(name, **kw):
    """A server that behaves as `name` (see PERSONAS) is documented to."""
    return PERSONAS[name](**kw)


def once(fn):
    """A hook that acts on its first call only, then serves the default."""
    state = {'done': False}

    def hook(conn, req, default):
        if state['done']:
            return default
        state['done'] = True
        return fn(conn, req, default)
    return hook


if __name__ == '__main__':  # manual use: python3 fakeimap.py [persona], then imapfs -d
    import sys
    srv = persona(sys.argv[1] if len(sys.argv) > 1 else 'plain').start()
    print('%s listening on 127.0.0.1:%d' % (srv.name, srv.port), flush=True)
    try:
        while True:
            time.sleep(1)
    except KeyboardInterrupt:
        srv.stop()
