# SPDX-License-Identifier: GPL-2.0-or-later
"""Integration tests of MIME parts as files (DESIGN.md section 1):

    MOUNT/Box/<UID>.parts/header.txt      BODY[HEADER]
    MOUNT/Box/<UID>.parts/<sec>-<name>    a leaf with a file name, decoded
    MOUNT/Box/<UID>.parts/<sec>.<ext>     a leaf without one, decoded
    MOUNT/Box/<UID>.parts/<sec>.eml       an attached message/rfc822, raw

What a user sees (names, sizes, bytes, extended attributes) is compared with
a reference computed here in Python: the message as the server serves it
(BODY.PEEK[] through imaplib) parsed with the email package (policy compat32),
IMAP section numbers assigned by walking its tree (RFC 3501 6.4.5), leaves
decoded with part.get_payload(decode=True), attached messages compared with
the server's raw BODY.PEEK[section]. The walk is cross-checked with the
server's BODYSTRUCTURE, so a message the two parsers see differently is
reported as such, not as an imapfs bug.

Every content test runs with BINARY (RFC 3516) and with -o nobinary, and the
built messages also against a Dovecot that does not offer BINARY at all.
Nothing is skipped: missing prerequisites fail (see conftest.py).
"""

import base64
import ctypes
import ctypes.util
import email
import email.header
import email.policy
import errno
import functools
import hashlib
import mimetypes
import os
import quopri
import random
import re
import shutil
import stat
import subprocess
import time
import unicodedata
import zlib

import pytest

import corpus
import dovecot
from conftest import SA_COUNT, Mount, bounded

TOOL_TIMEOUT = 300
C_ENV = dict(os.environ, LC_ALL='C')
NAME_MAX = 255

# the three ways imapfs may get a part's decoded bytes
MODES = ('binary', 'nobinary')


# --------------------------------------------------------------------------
# small IMAP response parsing (for BODYSTRUCTURE, which imaplib leaves raw)

class Atom(bytes):
    """An IMAP atom (as opposed to a string)."""


def _reassemble(data):
    """imaplib's untagged data (bytes lines and (line, literal) tuples) back
    into one response stream."""
    out = []
    for item in data:
        if isinstance(item, tuple):
            out.append(item[0] + b'\r\n' + item[1])
        elif item is not None:
            out.append(item + b'\r\n')
    return b''.join(out)


_ATOM = re.compile(rb'[^ ()\r\n"{]+(?:\[[^\]]*\](?:<[0-9.]+>)?)?')


class _Parser:
    def __init__(self, buf):
        self.b = buf
        self.i = 0

    def ws(self):
        while self.i < len(self.b) and self.b[self.i] in b' \r\n':
            self.i += 1

    def value(self):
        self.ws()
        b = self.b
        c = b[self.i:self.i + 1]
        if c == b'(':
            self.i += 1
            out = []
            for _ in range(len(b)):
                self.ws()
                if b[self.i:self.i + 1] == b')':
                    self.i += 1
                    return out
                out.append(self.value())
            raise ValueError('unterminated list')
        if c == b'"':
            j = self.i + 1
            buf = bytearray()
            while b[j:j + 1] != b'"':
                if j >= len(b):
                    raise ValueError('unterminated string')
                if b[j:j + 1] == b'\\':
                    j += 1
                buf += b[j:j + 1]
                j += 1
            self.i = j + 1
            return bytes(buf)
        if c == b'~' and b[self.i + 1:self.i + 2] == b'{':  # literal8 (BINARY)
            self.i += 1
            c = b'{'
        if c == b'{':
            j = b.index(b'}', self.i)
            n = int(b[self.i + 1:j].rstrip(b'+'))
            start = j + 3
            self.i = start + n
            return bytes(b[start:start + n])
        m = _ATOM.match(b, self.i)
        if not m:
            raise ValueError('cannot parse at %d: %r' % (self.i, b[self.i:self.i + 40]))
        self.i = m.end()
        tok = m.group()
        return None if tok.upper() == b'NIL' else Atom(tok)


def parse_fetch(data):
    """imaplib FETCH data -> [{ITEM NAME: value}] (names upper-case str)."""
    buf = _reassemble(data)
    p = _Parser(buf)
    out = []
    for _ in range(len(buf) + 1):
        p.ws()
        if p.i >= len(buf):
            break
        p.value()  # message sequence number
        items = p.value()
        out.append({bytes(k).decode().upper(): v for k, v in zip(items[0::2], items[1::2])})
    return out


def uid_fetch(client, uids, items):
    """{uid: {item: value}} of one UID FETCH (uids: list or '1:*')."""
    spec = uids if isinstance(uids, str) else ','.join(str(u) for u in uids)
    typ, data = client.uid('FETCH', spec, items)
    if typ != 'OK':
        raise dovecot.DovecotError('UID FETCH %s %s: %r' % (spec, items, data))
    out = {}
    for d in parse_fetch([x for x in data if x is not None]):
        if 'UID' in d:
            out.setdefault(int(d['UID']), {}).update(d)
    return out


def fetch_section(client, uid, section, binary=False):
    """BODY.PEEK[section] (or BINARY.PEEK[section]) of uid as bytes, or an
    exception text for a NO."""
    item = ('BINARY.PEEK[%s]' if binary else 'BODY.PEEK[%s]') % section
    typ, data = client.uid('FETCH', str(uid), '(UID %s)' % item)
    if typ != 'OK':
        return 'NO %r' % (data,)
    got = uid_fetch_parse_one(data, uid)
    key = ('BINARY[%s]' if binary else 'BODY[%s]') % section
    if key not in got:
        raise dovecot.DovecotError('no %s in %r' % (key, data))
    return got[key] or b''


def uid_fetch_parse_one(data, uid):
    for d in parse_fetch([x for x in data if x is not None]):
        if int(d.get('UID', -1)) == uid:
            return d
    raise dovecot.DovecotError('no FETCH for UID %d: %r' % (uid, data))


# --------------------------------------------------------------------------
# the server's view of a message's parts: BODYSTRUCTURE flattened

def _s(v):
    if v is None:
        return None
    return bytes(v).decode('utf-8', 'surrogateescape')


def _pairs(v):
    if not isinstance(v, list):
        return []
    return [(_s(k), _s(x)) for k, x in zip(v[0::2], v[1::2])]


class BSPart:
    """One part of a flattened BODYSTRUCTURE (a leaf or a message/rfc822)."""

    def __init__(self, section, typ, sub, params, disp, disp_params, enc, size, is_message):
        self.section = section
        self.type = typ
        self.subtype = sub
        self.params = params
        self.disposition = disp
        self.disp_params = disp_params
        self.encoding = enc
        self.size = size
        self.is_message = is_message

    @property
    def mime_type(self):
        return '%s/%s' % (self.type, self.subtype)

    def param(self, name):
        for k, v in self.params:
            if k.lower() == name:
                return v
        return None

    def __repr__(self):
        return '<%s %s %s %d%s>' % (self.section, self.mime_type, self.encoding, self.size,
                                    ' msg' if self.is_message else '')


def _join(prefix, n):
    return '%s.%s' % (prefix, n) if prefix else str(n)


def bs_flatten(bs):
    """A BODYSTRUCTURE value -> [BSPart] in section order, leaves and
    message/rfc822 parts (whose own parts follow them); multiparts left out."""
    out = []

    def is_multi(b):
        return isinstance(b, list) and b and isinstance(b[0], list)

    def children(b, prefix):
        n = 0
        for child in b:
            if not isinstance(child, list):
                break
            n += 1
            part(child, _join(prefix, n))

    def message_body(b, prefix):
        if is_multi(b):
            children(b, prefix)
        else:
            part(b, _join(prefix, 1))

    def part(b, sec):
        if is_multi(b):
            children(b, sec)
            return
        typ = (_s(b[0]) or 'text').lower()
        sub = (_s(b[1]) or 'plain').lower()
        enc = (_s(b[5]) or '7bit').lower()
        size = int(b[6])
        is_msg = (typ, sub) == ('message', 'rfc822') and len(b) > 9 and isinstance(b[8], list)
        if typ == 'text':
            ext = 8
        elif is_msg:
            ext = 10
        else:
            ext = 7
        disp = b[ext + 1] if len(b) > ext + 1 else None
        dname, dparams = None, []
        if isinstance(disp, list) and disp:
            dname = (_s(disp[0]) or '').lower()
            dparams = _pairs(disp[1]) if len(disp) > 1 else []
        out.append(BSPart(sec, typ, sub, _pairs(b[2]), dname, dparams, enc, size, is_msg))
        if is_msg:
            message_body(b[8], sec)

    message_body(bs, '')
    return out


# --------------------------------------------------------------------------
# Python's view: email.message_from_bytes, sections assigned by walking

class PyPart:
    def __init__(self, section, msg, is_message):
        self.section = section
        self.msg = msg
        self.is_message = is_message

    def __repr__(self):
        return '<%s %s%s>' % (self.section, self.msg.get_content_type(),
                              ' msg' if self.is_message else '')


def py_flatten(msg):
    """[PyPart] of a parsed message, numbered as IMAP numbers them: leaves and
    message/rfc822 parts in order; multipart containers left out."""
    out = []

    def children(m, prefix):
        for i, sub in enumerate(m.get_payload(), 1):
            part(sub, _join(prefix, i))

    def message_body(m, prefix):
        if m.get_content_maintype() == 'multipart' and m.is_multipart():
            children(m, prefix)
        else:
            part(m, _join(prefix, 1))

    def part(p, sec):
        ct = p.get_content_type()
        if p.get_content_maintype() == 'multipart' and p.is_multipart():
            children(p, sec)
        elif ct == 'message/rfc822' and p.is_multipart():
            out.append(PyPart(sec, p, True))
            message_body(p.get_payload(0), sec)
        else:
            out.append(PyPart(sec, p, False))

    message_body(msg, '')
    return out


# --------------------------------------------------------------------------
# reference values (what a user should see), computed from the server's
# bytes with Python's email package

def _payload_bytes(msg):
    """The raw (still transfer-encoded) body of a non-multipart part as the
    email package delimited it, or None for a part it parsed into messages."""
    pl = msg._payload
    if isinstance(pl, bytes):
        return pl
    if not isinstance(pl, str):
        return None
    try:
        return pl.encode('ascii', 'surrogateescape')
    except UnicodeError:
        return pl.encode('raw-unicode-escape')


def python_decode(cte, body):
    """What Message.get_payload(decode=True) (compat32) gives for a body with
    this Content-Transfer-Encoding; per the specification only base64 and
    quoted-printable are decoded (x-uuencode and unknown ones are served as
    they are)."""
    if cte not in ('base64', 'quoted-printable'):
        return body
    m = email.message.Message()
    m['Content-Transfer-Encoding'] = cte
    m.set_payload(body.decode('ascii', 'surrogateescape'))
    return m.get_payload(decode=True)


def rfc2231_value(params, name):
    """The value of parameter `name` among (key, value) pairs as the email
    package gives it: RFC 2231 (name*, name*0*, name*1, ...) joined and
    charset-decoded when present, else the plain name=value; None if absent.
    Plain values keep raw 8-bit bytes as surrogates."""
    ext = [(k, v) for k, v in params if k.lower().startswith(name + '*')]
    if ext:
        decoded = email.utils.decode_params(
            [('x-type', '')] + [(k.lower(), '"%s"' % v.replace('\\', '\\\\').replace('"', '\\"'))
                                for k, v in ext])
        for k, v in decoded[1:]:
            if k == name:
                if isinstance(v, tuple):
                    v = (v[0], v[1], email.utils.unquote(v[2]))
                else:
                    v = email.utils.unquote(v)
                return email.utils.collapse_rfc2231_value(v)
    for k, v in params:
        if k.lower() == name:
            return v
    return None


def decode_words(s):
    """RFC 2047 encoded-words in s decoded (as the email package does);
    s unchanged if it holds none or they cannot be decoded."""
    if '=?' not in s:
        return s
    try:
        return str(email.header.make_header(email.header.decode_header(s)))
    except (LookupError, UnicodeError, ValueError, email.errors.HeaderParseError):
        return s


def _utf8_or_underscore(s):
    """A str holding raw bytes as surrogates -> valid UTF-8 text with every
    byte that is not part of a valid UTF-8 sequence as '_'."""
    b = s.encode('utf-8', 'surrogateescape')
    t = b.decode('utf-8', 'surrogateescape')
    return ''.join('_' if 0xdc80 <= ord(ch) <= 0xdcff else ch for ch in t)


def part_filename(b):
    """The decoded file name of BODYSTRUCTURE part b (Content-Disposition
    filename, else Content-Type name), or None."""
    v = rfc2231_value(b.disp_params, 'filename')
    if v is None:
        v = rfc2231_value(b.params, 'name')
    if v is None:
        return None
    v = _utf8_or_underscore(v)
    return decode_words(v)


def safe_name(section, filename):
    """'<section>-<filename>' made safe as the specification says, or None
    when nothing usable is left of filename."""
    if filename is None:
        return None
    out = []
    for ch in filename:
        o = ord(ch)
        out.append('_' if ch == '/' or o < 0x20 or o == 0x7f or 0xdc80 <= o <= 0xdcff else ch)
    fn = ''.join(out).lstrip('.')
    if not fn:
        return None
    name = '%s-%s' % (section, fn)
    if len(name.encode('utf-8')) <= NAME_MAX:
        return name
    dot = fn.rfind('.')
    stem, ext = (fn[:dot], fn[dot:]) if dot > 0 else (fn, '')
    budget = NAME_MAX - len(('%s-' % section).encode()) - len(ext.encode())
    cut = []
    used = 0
    for ch in stem:
        n = len(ch.encode('utf-8'))
        if used + n > budget:
            break
        cut.append(ch)
        used += n
    return '%s-%s%s' % (section, ''.join(cut), ext)


# The extensions the specification names; other types: see type_extensions().
STRICT_EXT = {
    'text/plain': 'txt', 'text/html': 'html', 'application/pdf': 'pdf',
    'image/png': 'png', 'image/jpeg': 'jpg', 'message/rfc822': 'eml',
    'application/octet-stream': 'bin',
}


def type_extensions(mime_type):
    """The extensions acceptable for a part of this type without a file
    name: exactly the specified one for the types the specification lists;
    otherwise 'bin' (unknown) or one the system's mime.types gives ('txt'
    too for text/*), since the specification leaves the table open."""
    if mime_type in STRICT_EXT:
        return {STRICT_EXT[mime_type]}
    exts = {'bin'} | {e.lstrip('.') for e in mimetypes.guess_all_extensions(mime_type)}
    if mime_type.startswith('text/'):
        exts.add('txt')
    return exts


class _Magic:
    """libmagic through ctypes (the library imapfs sniffs with)."""

    MAGIC_MIME_TYPE = 0x10

    def __init__(self):
        lib = ctypes.CDLL(ctypes.util.find_library('magic') or 'libmagic.so.1')
        lib.magic_open.restype = ctypes.c_void_p
        lib.magic_open.argtypes = [ctypes.c_int]
        lib.magic_load.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
        lib.magic_buffer.restype = ctypes.c_char_p
        lib.magic_buffer.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t]
        self.lib = lib
        self.cookie = lib.magic_open(self.MAGIC_MIME_TYPE)
        if not self.cookie or lib.magic_load(self.cookie, None) != 0:
            raise RuntimeError('libmagic: cannot load its database')

    def __call__(self, data):
        r = self.lib.magic_buffer(self.cookie, data, len(data))
        return r.decode() if r else None


@functools.lru_cache(maxsize=1)
def magic():
    return _Magic()


SNIFF_PREFIXES = (16, 64, 256, 512, 1024, 2048, 4096, 8192, 16384, 65536, 1 << 20)


def sniffed_types(content):
    """The types libmagic gives for a part's first bytes: imapfs looks at
    "its first bytes", how many is not specified, so every prefix length
    from 16 bytes to 1 MiB counts. 'application/octet-stream' stands for
    "cannot tell"."""
    out = set()
    for n in SNIFF_PREFIXES:
        t = magic()(content[:n])
        if t in (None, 'application/x-empty'):
            t = 'application/octet-stream'
        out.add(t)
        if n >= len(content):
            break
    return out


def unfold(v):
    return re.sub(r'\r?\n(?=[ \t])', '', v).replace('\r', '').replace('\n', '')


def header_text(v):
    """A header value (compat32 str, raw bytes as surrogates) -> what a
    user should see: unfolded, trimmed, raw 8-bit taken as UTF-8 when valid
    else Latin-1, RFC 2047 decoded, control characters other than TAB as
    spaces."""
    v = unfold(v).strip()
    if any(0xdc80 <= ord(ch) <= 0xdcff for ch in v):
        raw = v.encode('utf-8', 'surrogateescape')
        try:
            v = raw.decode('utf-8')
        except UnicodeDecodeError:
            v = raw.decode('latin-1')
    v = decode_words(v)
    return ''.join(' ' if (ord(ch) < 0x20 and ch != '\t') or ord(ch) == 0x7f else ch for ch in v)


class ExpectedFile:
    """One file of <uid>.parts/ as a user should see it."""

    def __init__(self, names, section, kind, content, mime_types=None, charset=None,
                 contents=None, optional=False, note=None):
        self.names = names            # acceptable names (usually one)
        self.section = section        # None for header.txt
        self.kind = kind              # 'header', 'leaf', 'message'
        self.content = content        # the bytes
        self.contents = contents      # alternatives (broken parts), or None
        self.mime_types = mime_types  # acceptable user.mime_type values
        self.charset = charset        # user.charset, None: absent
        self.optional = optional      # may be left out of the listing
        self.note = note              # how the reference was made, if unusual

    def __repr__(self):
        return '<%s %s %d bytes>' % (sorted(self.names), self.kind, len(self.content))


class MessageRef:
    def __init__(self, box, uid):
        self.box = box
        self.uid = uid
        self.eml = None
        self.files = []
        self.xattrs = {}      # name -> expected str, or None: absent or empty
        self.flags = ()
        self.notes = []       # where the email package's own walk differs
        self.binary_refused = []  # sections the server's BINARY refuses


def build_ref(client, box, uid, d, *, check_binary=False):
    """The MessageRef of one message from its FETCH items d (BODY[],
    BODY[HEADER], BODYSTRUCTURE, FLAGS); fetches BODY.PEEK[section] of every
    part with client (the mailbox selected)."""
    ref = MessageRef(box, uid)
    raw = d['BODY[]'] or b''
    ref.eml = raw
    header = d['BODY[HEADER]'] or b''
    ref.files.append(ExpectedFile({'header.txt'}, None, 'header', header))
    ref.flags = tuple(bytes(f).decode() for f in d['FLAGS'] if bytes(f) != b'\\Recent')
    msg = email.message_from_bytes(raw)
    for key, hname in (('user.imap.subject', 'subject'), ('user.imap.from', 'from'),
                       ('user.imap.date', 'date'), ('user.imap.message_id', 'message-id')):
        v = msg.get(hname)
        ref.xattrs[key] = header_text(str(v)) if v is not None else None
    ref.xattrs['user.imap.uid'] = str(uid)
    ref.xattrs['user.imap.flags'] = ' '.join(ref.flags)
    bs = bs_flatten(d['BODYSTRUCTURE'])
    py = {p.section: p for p in py_flatten(msg)}
    bs_kinds = [(b.section, b.mime_type, b.is_message) for b in bs]
    py_kinds = [(p.section, p.msg.get_content_type(), p.is_message) for p in py_flatten(msg)]
    if bs_kinds != py_kinds:
        ref.notes.append('structure: server %s, email package %s' % (bs_kinds, py_kinds))
    for b in bs:
        body = fetch_section(client, uid, b.section)
        if isinstance(body, str):
            raise dovecot.DovecotError('BODY.PEEK[%s] of %s/%d: %s' % (b.section, box, uid, body))
        if b.is_message:
            ref.files.append(ExpectedFile({'%s.eml' % b.section}, b.section, 'message', body,
                                          mime_types={'message/rfc822'},
                                          charset=b.param('charset')))
            continue
        p = py.get(b.section)
        note = None
        pcte = str(p.msg.get('content-transfer-encoding', '')).lower() if p else None
        if (p is not None and not p.is_message and p.msg.get_content_type() == b.mime_type
                and _payload_bytes(p.msg) == body
                and (pcte == b.encoding or b.encoding not in ('base64', 'quoted-printable')
                     and pcte not in ('base64', 'quoted-printable'))):
            content = (p.msg.get_payload(decode=True)
                       if b.encoding in ('base64', 'quoted-printable') else body)
        else:
            content = python_decode(b.encoding, body)
            if p is None or p.msg.get_content_type() != b.mime_type:
                note = 'the email package does not see this part'
            elif _payload_bytes(p.msg) != body:
                pb = _payload_bytes(p.msg)
                if pb is None:
                    note = 'the email package parses this %s part into messages' % b.mime_type
                else:
                    note = ('the email package delimits this part differently: %d bytes, '
                            'server %d (first difference at %d)'
                            % (len(pb), len(body), first_difference(pb, body)))
            else:
                note = 'Content-Transfer-Encoding %r, server %r' % (pcte, b.encoding)
            ref.notes.append('%s: %s' % (b.section, note))
        if b.mime_type == 'application/octet-stream':
            mime_types = sniffed_types(content)
        else:
            mime_types = {b.mime_type}
        fn = safe_name(b.section, part_filename(b))
        if fn is not None:
            names = {fn}
        else:
            names = {'%s.%s' % (b.section, e) for t in mime_types for e in type_extensions(t)}
        ref.files.append(ExpectedFile(names, b.section, 'leaf', content, mime_types=mime_types,
                                      charset=b.param('charset'), note=note))
        if check_binary and b.encoding in ('base64', 'quoted-printable'):
            pass
    return ref


def first_difference(a, b):
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return i
    return min(len(a), len(b))


def compute_refs(dv, box, uids=None):
    """{uid: MessageRef} of box (all of it, or uids) on server dv."""
    c = dovecot.imap_client(dv, timeout=120)
    try:
        dovecot.select(c, box)
        spec = '1:*' if uids is None else ','.join(str(u) for u in uids)
        items = uid_fetch(c, spec, '(UID FLAGS BODYSTRUCTURE BODY.PEEK[HEADER] BODY.PEEK[])')
        return {uid: build_ref(c, box, uid, d) for uid, d in sorted(items.items())}
    finally:
        c.logout()
