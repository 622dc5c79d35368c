# SPDX-License-Identifier: GPL-2.0-or-later
"""Integration tests of MIME parts as files (DESIGN.md section 1):

    MOUNT/Box/<UID>.parts/header.txt      BODY[HEADER]
    MOUNT/Box/<UID>.parts/<sec>-<name>    a leaf with a file name, decoded
    MOUNT/Box/<UID>.parts/<sec>.<ext>     a leaf without one, decoded
    MOUNT/Box/<UID>.parts/<sec>.eml       an attached message/rfc822, raw

Run:  /usr/bin/python3 -m pytest tests/test_parts.py   (-rA prints figures)

What a user sees (readdir, names, st_size before reading, bytes, extended
attributes, find, ls -l, and what the mount received from the server) is
compared with a reference computed here:

- the file list follows the server's BODYSTRUCTURE (flattened with RFC 3501
  6.4.5 section numbers); names are made from its Content-Disposition
  filename / Content-Type name parameters, RFC 2231 joined and decoded with
  the email package, RFC 2047 decoded, then made safe as specified;
- a leaf's bytes are what the email package gives: email.message_from_bytes
  of the message as the server serves it (BODY.PEEK[] through imaplib),
  policy compat32, the tree walked with IMAP section numbers, and
  part.get_payload(decode=True) (base64 and quoted-printable only; x-uuencode
  and unknown encodings are served as they are). Where the email package
  delimits a part differently from the server (CPython's edge-case messages,
  a missing close delimiter, a header it does not recognise), the part the
  server delimits (BODY.PEEK[section]) is decoded the email package's way,
  and the difference is listed (test_harness_reference_corpus prints them);
- an attached message's bytes are the server's raw BODY.PEEK[section];
- user.mime_type of a part declared application/octet-stream, or without a
  type (BODYSTRUCTURE "" ""), is what libmagic (the library, through ctypes)
  says of its first bytes; the types the specification lists have their
  extension checked exactly, other types any short extension.

Where Dovecot's own decoding (BINARY) and the email package differ, the
email package is the reference, as specified; explain() names the known
cases when a content check fails (quoted-printable transport padding, NUL
bytes that BODY[] shows as 0x80).

Messages: CPython's email test messages and 1,500 SpamAssassin messages
(conftest's APPENDed corpus-python and corpus-sa, plus others delivered here
as Maildir files), and the messages of built_messages() and
malformed_messages(), each both APPENDed and written as a Maildir file.
Every content test runs with BINARY and with -o nobinary; the built and
malformed messages also against a Dovecot that does not offer BINARY.
Nothing is skipped: missing prerequisites fail (see conftest.py).
"""

import base64
import ctypes
import ctypes.util
import email
import email.message
import email.utils
import errno
import functools
import hashlib
import os
import quopri
import random
import re
import shutil
import stat
import subprocess
import time
import zlib

import pytest

import corpus
import dovecot
from conftest import SA_COUNT

TOOL_TIMEOUT = 300
C_ENV = dict(os.environ, LC_ALL='C')
NAME_MAX = 255

# imapfs with the server's BINARY (RFC 3516), and with -o nobinary (BODY.PEEK
# ranges decoded by imapfs); ALL_MODES adds a Dovecot that lacks BINARY
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
    out = None
    for d in parse_fetch([x for x in data if x is not None]):
        if int(d.get('UID', -1)) == uid:
            out = dict(out or {}, **d)
    if out is None:
        raise dovecot.DovecotError('no FETCH for UID %d: %r' % (uid, data))
    return out


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
        typ = (_s(b[0]) or '').lower()
        sub = (_s(b[1]) or '').lower()
        is_msg = (typ, sub) == ('message', 'rfc822') and len(b) > 9 and isinstance(b[8], list)
        if typ == 'text':  # where the extension data starts (after lines, envelope...)
            ext = 8
        elif is_msg:
            ext = 10
        else:
            ext = 7
        untyped = not typ
        if untyped:  # no usable Content-Type: RFC 2045 says text/plain
            typ, sub = 'text', 'plain'
        elif not sub and typ == 'text':
            sub = 'plain'
        enc = (_s(b[5]) or '7bit').lower()
        size = int(b[6])
        disp = b[ext + 1] if len(b) > ext + 1 else None
        dname, dparams = None, []
        if isinstance(disp, list) and disp:
            dname = (_s(disp[0]) or '').lower()
            dparams = _pairs(disp[1]) if len(disp) > 1 else []
        out.append(BSPart(sec, typ, sub, _pairs(b[2]), dname, dparams, enc, size, is_msg))
        out[-1].untyped = untyped
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


_EW = re.compile(r'=\?([^?\s]+)\?([bBqQ])\?([^?\s]*)\?=')


def _decode_word(charset, enc, text):
    charset = charset.split('*', 1)[0]
    if enc in 'bB':
        t = re.sub(r'[^A-Za-z0-9+/]', '', text)
        t = t[:len(t) // 4 * 4 + (len(t) % 4 if len(t) % 4 > 1 else 0)]
        data = base64.b64decode(t + '=' * (-len(t) % 4))
    else:
        data = re.sub(rb'=([0-9A-Fa-f]{2})', lambda m: bytes([int(m.group(1), 16)]),
                      text.replace('_', ' ').encode('latin-1', 'replace'))
    try:
        return data.decode(charset, 'replace')
    except LookupError:
        try:
            return data.decode('utf-8')
        except UnicodeDecodeError:
            return data.decode('latin-1')


def decode_words(s):
    """RFC 2047 encoded-words in s decoded (B and Q, any charset); the
    white space between two adjacent encoded-words dropped, all other text
    kept as it is."""
    if '=?' not in s:
        return s
    out = []
    pos = 0
    prev = False
    for m in _EW.finditer(s):
        between = s[pos:m.start()]
        if not (prev and between.strip(' \t') == ''):
            out.append(between)
        try:
            out.append(_decode_word(*m.groups()))
        except (ValueError, UnicodeError):
            out.append(m.group(0))
        pos = m.end()
        prev = True
    out.append(s[pos:])
    return ''.join(out)


def _utf8_or_cp1252(s):
    """A str holding raw bytes as surrogates -> text: valid UTF-8 as it is,
    every other byte read as Windows-1252 (what imapfs does with unlabelled
    8-bit text, names included); bytes Windows-1252 leaves undefined stay C1
    controls, which the name policy then replaces."""
    b = s.encode('utf-8', 'surrogateescape')
    t = b.decode('utf-8', 'surrogateescape')
    out = []
    for ch in t:
        o = ord(ch)
        if 0xdc80 <= o <= 0xdcff:
            try:
                out.append(bytes([o - 0xdc00]).decode('cp1252'))
            except UnicodeDecodeError:
                out.append(chr(o - 0xdc00))
        else:
            out.append(ch)
    return ''.join(out)


def part_filename(b):
    """The decoded file name of BODYSTRUCTURE part b (Content-Disposition
    filename, else Content-Type name), or None."""
    v = rfc2231_value(b.disp_params, 'filename')
    if v is None:
        v = rfc2231_value(b.params, 'name')
    if v is None:
        return None
    v = _utf8_or_cp1252(v)
    return decode_words(v)


def safe_name(section, filename):
    """'<section>-<filename>' made safe as the specification says, or None
    when nothing usable is left of filename."""
    if filename is None:
        return None
    out = []
    for ch in filename:
        o = ord(ch)
        out.append('_' if ch == '/' or o < 0x20 or 0x7f <= o < 0xa0 or 0xdc80 <= o <= 0xdcff
                   or o == 0xfffd else ch)
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
    for any other type the specification leaves the table open ("unknown
    bin, ..."), so any short extension is taken (None)."""
    return {STRICT_EXT[mime_type]} if mime_type in STRICT_EXT else None


OTHER_EXT = re.compile(r'[a-z0-9]{1,10}')


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


def _mixed_decode(raw):
    """Bytes -> str: valid UTF-8 sequences as UTF-8, every other byte as
    Latin-1."""
    out = []
    i = 0
    while i < len(raw):
        for n in (1, 2, 3, 4):
            try:
                out.append(raw[i:i + n].decode('utf-8'))
                i += n
                break
            except UnicodeDecodeError:
                continue
        else:
            out.append(chr(raw[i]))
            i += 1
    return ''.join(out)


def header_texts(v):
    """A raw header value (compat32 str, raw bytes as surrogates) -> the set
    of texts a user may see: unfolded, trimmed, RFC 2047 decoded, control
    characters other than TAB as spaces. Raw 8-bit text is UTF-8 when valid;
    otherwise the specification does not say, and Latin-1 or UTF-8 where
    valid with Latin-1 for the rest are both taken."""
    v = unfold(v).strip()
    cands = {v}
    if any(0xdc80 <= ord(ch) <= 0xdcff for ch in v):
        raw = v.encode('utf-8', 'surrogateescape')
        try:
            cands = {raw.decode('utf-8')}
        except UnicodeDecodeError:
            cands = {raw.decode('latin-1'), _mixed_decode(raw)}
    return {''.join(' ' if (ord(ch) < 0x20 and ch != '\t') or ord(ch) == 0x7f else ch
                    for ch in decode_words(c)) for c in cands}


def raw_header(msg, name):
    """The first `name` field of msg as it is in the message (compat32
    turns raw 8-bit into U+FFFD when asked through get())."""
    for k, v in msg.raw_items():
        if k.lower() == name:
            return v
    return None


class ExpectedFile:
    """One file of <uid>.parts/ as a user should see it."""

    def __init__(self, names, section, kind, content, mime_types=None, charset=None,
                 contents=None, optional=False, note=None, encoded=None, encoding=None,
                 name_re=None):
        self.name_re = name_re        # or a name of this pattern (types left open)
        self.encoded = encoded        # BODY[section]
        self.encoding = encoding      # Content-Transfer-Encoding (server's)
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

    def matches(self, name):
        return name in self.names or bool(self.name_re and self.name_re.fullmatch(name))

    def describe(self):
        alts = sorted(self.names)[:4] + ([self.name_re.pattern] if self.name_re else [])
        return ' or '.join(alts)


class MessageRef:
    """What a user should see of one message: its .eml, its .parts files,
    its extended attributes."""

    def __init__(self, box, uid):
        self.box = box
        self.uid = uid
        self.eml = None
        self.files = []
        self.xattrs = {}      # name -> set of acceptable str, or None: absent or empty
        self.flags = ()
        self.notes = []       # where the email package's own walk differs


def build_ref(client, box, uid, d):
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
        v = raw_header(msg, hname)
        ref.xattrs[key] = header_texts(v) if v is not None else None
    ref.xattrs['user.imap.uid'] = {str(uid)}
    ref.xattrs['user.mime_type'] = {'message/rfc822'}
    ref.xattrs['user.imap.flags'] = {' '.join(ref.flags)}
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
        content = python_decode(b.encoding, body)
        decoding = b.encoding in ('base64', 'quoted-printable')
        pcte = str(p.msg.get('content-transfer-encoding', '')).lower() if p else None
        pbody = _payload_bytes(p.msg) if p is not None else None
        if p is None or p.is_message or p.msg.get_content_type() != b.mime_type:
            note = 'the email package does not see this part'
        elif pbody is None:
            note = 'the email package parses this %s part into messages' % b.mime_type
        elif decoding and pcte != b.encoding:
            note = 'the email package reads Content-Transfer-Encoding %r, the server %r' % (
                pcte, b.encoding)
        else:
            own = p.msg.get_payload(decode=True) if decoding else pbody
            if own != content:
                note = ('the email package delimits this part differently: %d bytes, server %d '
                        '(first difference at %d)' % (len(pbody), len(body),
                                                       first_difference(pbody, body)))
        if note:
            ref.notes.append('%s: %s' % (b.section, note))
        if b.mime_type == 'application/octet-stream' or b.untyped:
            mime_types = sniffed_types(content)
        else:
            mime_types = {b.mime_type}
        fn = safe_name(b.section, part_filename(b))
        name_re = None
        if fn is not None:
            names = {fn}
        else:
            names = set()
            for t in mime_types:
                exts = type_extensions(t)
                if exts is None:
                    name_re = re.compile(re.escape(b.section) + r'\.' + OTHER_EXT.pattern)
                else:
                    names |= {'%s.%s' % (b.section, e) for e in exts}
        ref.files.append(ExpectedFile(names, b.section, 'leaf', content, mime_types=mime_types,
                                      name_re=name_re,
                                      charset=b.param('charset'), note=note, encoded=body,
                                      encoding=b.encoding))
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


# --------------------------------------------------------------------------
# messages built for these tests

def png_bytes(w=4, h=3, seed=0):
    """A real PNG image (libmagic: image/png)."""
    import struct
    rnd = random.Random(seed)
    raw = b''.join(b'\x00' + rnd.randbytes(w * 3) for _ in range(h))

    def chunk(typ, data):
        return (struct.pack('>I', len(data)) + typ + data
                + struct.pack('>I', zlib.crc32(typ + data) & 0xffffffff))

    return (b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', w, h, 8, 2, 0, 0, 0))
            + chunk(b'IDAT', zlib.compress(raw)) + chunk(b'IEND', b''))


def pdf_bytes(n=3000, seed=0):
    """PDF-like bytes (libmagic: application/pdf), binary inside."""
    rnd = random.Random(seed)
    head = b'%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n'
    return head + rnd.randbytes(max(0, n - len(head) - 6)) + b'\n%%EOF'


def jpeg_bytes(n=2000, seed=0):
    """JPEG/JFIF-like bytes (libmagic: image/jpeg)."""
    rnd = random.Random(seed)
    head = (b'\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00'
            b'\xff\xdb\x00\x43\x00' + bytes(range(1, 65)))
    return head + rnd.randbytes(max(0, n - len(head) - 2)) + b'\xff\xd9'


def zip_bytes(seed=0):
    """A real zip archive (libmagic: application/zip)."""
    import io
    import zipfile
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, 'w', zipfile.ZIP_DEFLATED) as z:
        z.writestr(zipfile.ZipInfo('readme.txt', (2024, 1, 2, 3, 4, 6)),
                   'hello from a zip file\n' * 20)
        z.writestr(zipfile.ZipInfo('data.bin', (2024, 1, 2, 3, 4, 6)),
                   random.Random(seed).randbytes(500))
    return buf.getvalue()


def noise_bytes(n, seed):
    """Random bytes that libmagic cannot tell (application/octet-stream)."""
    for s in range(seed, seed + 100):
        b = b'\x00\x9f' + random.Random(s).randbytes(n - 2)
        if sniffed_types(b) == {'application/octet-stream'}:
            return b
    raise AssertionError('no unsniffable noise found')


def b64(data, width=76, eol=b'\r\n'):
    """base64 in lines of `width` characters, each line ended by eol."""
    e = base64.b64encode(data)
    return b''.join(e[i:i + width] + eol for i in range(0, len(e), width))


def qp(text):
    """Quoted-printable of UTF-8 text (soft breaks, =XX), CRLF lines."""
    return quopri.encodestring(text.encode('utf-8')).replace(b'\n', b'\r\n')


def _h(lines):
    return b''.join((l if isinstance(l, bytes) else l.encode('utf-8')) + b'\r\n' for l in lines)


def entity(headers, body):
    """A MIME entity: header lines (str/bytes), a blank line, body bytes."""
    return _h(headers) + b'\r\n' + body


def multipart(subtype, parts, boundary, headers=(), close=True):
    """(headers, body) of a multipart entity; parts are entity bytes."""
    bd = boundary.encode()
    body = b'This is a multi-part message in MIME format.\r\n'
    for p in parts:
        body += b'\r\n--' + bd + b'\r\n' + p
    if close:
        body += b'\r\n--' + bd + b'--\r\n'
    hs = ['Content-Type: multipart/%s; boundary="%s"' % (subtype, boundary)] + list(headers)
    return hs, body


def message(headers, body, *, subject='test', msgid=None,
            sender='Bob Example <bob@example.org>', date='Tue, 02 Jan 2024 10:00:00 +0100'):
    top = ['From: ' + sender if isinstance(sender, str) else b'From: ' + sender,
           'To: Alice <alice@example.org>',
           ('Subject: ' + subject) if isinstance(subject, str) else b'Subject: ' + subject,
           'Date: ' + date,
           'Message-ID: ' + (msgid or '<%s@imapfs.test>' % hashlib.sha1(body).hexdigest()[:16]),
           'MIME-Version: 1.0']
    return entity(top + list(headers), body)


TEXT = 'Hallo Alice,\nanbei die Unterlagen.\nGrüße, Bob\n'.replace('\n', '\r\n').encode()


def text_part(text=TEXT, subtype='plain', charset='utf-8', cte='8bit', extra=()):
    return entity(['Content-Type: text/%s; charset=%s' % (subtype, charset),
                   'Content-Transfer-Encoding: ' + cte] + list(extra), text)


def b64_part(ctype, data, *, disp=None, width=76, eol=b'\r\n', extra=()):
    hs = ['Content-Type: ' + ctype, 'Content-Transfer-Encoding: base64']
    if disp:
        hs.append('Content-Disposition: ' + disp)
    return entity(hs + list(extra), b64(data, width, eol))


class Built:
    """A message built here: its bytes, flags, and the file names (and some
    contents) a user must see, spelled out by hand."""

    def __init__(self, key, raw, names, *, flags=None, literal=None, xattrs=None,
                 lenient=None, append_only=False, partial_ok=False):
        self.key = key
        self.raw = raw
        self.names = None if names is None else set(names) | {'header.txt'}
        self.flags = flags
        self.literal = literal or {}   # name -> (mime_type, bytes or None)
        self.xattrs = xattrs or {}     # user.imap.* -> str, for the .eml
        self.lenient = lenient or {}   # section -> why it may differ (broken parts)
        self.append_only = append_only  # bytes a Maildir file cannot keep
        self.partial_ok = partial_ok    # too deep to understand: may be listed in part


def built_messages():
    """The messages every content test reads, with their expected names."""
    out = []
    pdf, png, jpg, zp = pdf_bytes(5000, 1), png_bytes(7, 5, 1), jpeg_bytes(3000, 1), zip_bytes(1)

    # attachments of the usual kinds, with and without names
    hs, body = multipart('mixed', [
        text_part(),
        b64_part('application/pdf; name="report.pdf"', pdf,
                 disp='attachment; filename="report.pdf"'),
        b64_part('image/png; name="pixel.png"', png, disp='inline; filename="pixel.png"'),
        b64_part('application/zip', zp, disp='attachment; filename="archive.zip"'),
        b64_part('application/pdf', pdf_bytes(1200, 2)),
        text_part(b'<html><body><p>Hi</p></body></html>\r\n', 'html', 'us-ascii', '7bit'),
        b64_part('image/jpeg', jpg),
    ], '=_b1_attachments')
    out.append(Built('attachments', message(hs, body, subject='Attachments'),
                     {'1.txt', '2-report.pdf', '3-pixel.png', '4-archive.zip', '5.pdf', '6.html',
                      '7.jpg'},
                     flags=['\\Seen'],
                     literal={'2-report.pdf': ('application/pdf', pdf),
                              '3-pixel.png': ('image/png', png),
                              '4-archive.zip': ('application/zip', zp),
                              '7.jpg': ('image/jpeg', jpg),
                              '1.txt': ('text/plain', TEXT)}))

    # application/octet-stream: the type (and extension) libmagic sees
    noise = noise_bytes(4000, 7)
    hs, body = multipart('mixed', [
        text_part(b'see attachments\r\n', charset='us-ascii', cte='7bit'),
        b64_part('application/octet-stream', png),
        b64_part('application/octet-stream', pdf, disp='attachment; filename="scan"'),
        b64_part('application/octet-stream', jpg),
        b64_part('application/octet-stream', noise),
        b64_part('application/octet-stream; name="data.zip"', zp),
    ], '=_b2_sniff')
    out.append(Built('octet-stream', message(hs, body, subject='Sniffed'),
                     {'1.txt', '2.png', '3-scan', '4.jpg', '5.bin', '6-data.zip'},
                     literal={'2.png': ('image/png', png), '3-scan': ('application/pdf', pdf),
                              '4.jpg': ('image/jpeg', jpg),
                              '5.bin': ('application/octet-stream', noise),
                              '6-data.zip': ('application/zip', zp)}))

    # RFC 2231 names: charsets, languages, continuations
    hs, body = multipart('mixed', [
        text_part(),
        b64_part('application/pdf', pdf,
                 disp="attachment; filename*=utf-8''Rechnung%20M%C3%A4rz.pdf"),
        b64_part('application/pdf', pdf_bytes(900, 3),
                 disp="attachment;\r\n filename*0*=utf-8''Rechnung%20M%C3;\r\n"
                      " filename*1*=%A4rz%202024.pdf"),
        entity(["Content-Type: text/plain; charset=iso-8859-1; name*=iso-8859-1'de'Gr%FC%DFe.txt",
                'Content-Transfer-Encoding: quoted-printable'], b'Gr=FC=DFe!\r\n'),
        b64_part('application/msword', b'\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1' + bytes(600),
                 disp='attachment; filename*0="Sehr langer "; filename*1="Dateiname.doc"'),
        b64_part('text/plain; charset=utf-8', 'Preis: 100 €\r\n'.encode(),
                 disp="attachment; filename*0*=utf-8''%E2%82%AC; filename*1=\" 100.txt\""),
    ], '=_b3_2231')
    out.append(Built('rfc2231', message(hs, body, subject='RFC 2231'),
                     {'1.txt', '2-Rechnung März.pdf', '3-Rechnung März 2024.pdf', '4-Grüße.txt',
                      '5-Sehr langer Dateiname.doc', '6-€ 100.txt'},
                     flags=['\\Seen', '\\Flagged'],
                     literal={'2-Rechnung März.pdf': ('application/pdf', pdf),
                              '4-Grüße.txt': ('text/plain', b'Gr\xfc\xdfe!\r\n'),
                              '6-€ 100.txt': ('text/plain', 'Preis: 100 €\r\n'.encode())}))

    # RFC 2047 words inside quoted names, and raw UTF-8
    hs, body = multipart('mixed', [
        text_part(),
        b64_part('application/pdf; name="=?utf-8?B?w5xiZXJzaWNodC5wZGY=?="', pdf),
        entity(['Content-Type: text/plain; charset=iso-8859-1',
                'Content-Disposition: attachment;\r\n'
                ' filename="=?iso-8859-1?Q?Gr=FC=DFe_aus_K=F6ln.txt?="'], b'Gruesse\r\n'),
        b64_part('application/pdf', pdf,
                 disp='attachment; filename="=?utf-8?Q?Sehr_lange_?= =?utf-8?Q?Datei.pdf?="'),
        entity(['Content-Type: text/plain; charset=utf-8',
                'Content-Disposition: attachment; filename="Größe.txt"'.encode('utf-8')],
               b'raw utf-8 name\r\n'),
        b64_part('application/pdf', pdf, disp='attachment; filename="=?utf-8?Q?x=2Fy.pdf?="'),
    ], '=_b4_2047')
    out.append(Built('rfc2047-names', message(hs, body, subject='RFC 2047 names'),
                     {'1.txt', '2-Übersicht.pdf', '3-Grüße aus Köln.txt', '4-Sehr lange Datei.pdf',
                      '5-Größe.txt', '6-x_y.pdf'},
                     literal={'2-Übersicht.pdf': ('application/pdf', pdf),
                              '3-Grüße aus Köln.txt': ('text/plain', b'Gruesse\r\n')}))

    # nested message/rfc822, two levels, and a top-level message/rfc822
    inner2 = message(['Content-Type: text/plain; charset=utf-8',
                      'Content-Transfer-Encoding: quoted-printable'],
                     qp('Innerste Nachricht: Grüße aus der Tiefe.\n'),
                     subject='inner 2', msgid='<inner2@imapfs.test>')
    hs1, body1 = multipart('mixed', [
        text_part(b'first level text\r\n', charset='us-ascii', cte='7bit'),
        entity(['Content-Type: message/rfc822'], inner2),
        b64_part('application/pdf', pdf_bytes(700, 4), disp='attachment; filename="inner.pdf"'),
    ], '=_b5_inner1')
    inner1 = message(hs1, body1, subject='inner 1', msgid='<inner1@imapfs.test>')
    hs, body = multipart('mixed', [
        text_part(b'outer text\r\n', charset='us-ascii', cte='7bit'),
        entity(['Content-Type: message/rfc822', 'Content-Disposition: attachment; filename="fwd.eml"'],
               inner1),
        b64_part('application/pdf', pdf, disp='attachment; filename="outer.pdf"'),
    ], '=_b5_outer')
    out.append(Built('nested', message(hs, body, subject='Nested'),
                     {'1.txt', '2.eml', '2.1.txt', '2.2.eml', '2.2.1.txt', '2.3-inner.pdf',
                      '3-outer.pdf'},
                     literal={'2.2.1.txt': ('text/plain',
                                            'Innerste Nachricht: Grüße aus der Tiefe.\r\n'.encode()),
                              '2.1.txt': ('text/plain', b'first level text\r\n')}))
    hsa, bodya = multipart('alternative', [
        text_part(b'plain version\r\n', charset='us-ascii', cte='7bit'),
        text_part(b'<p>html version</p>\r\n', 'html', 'us-ascii', '7bit')], '=_b6_alt')
    fwd = message(hsa, bodya, subject='forwarded', msgid='<fwd@imapfs.test>')
    out.append(Built('toplevel-rfc822',
                     message(['Content-Type: message/rfc822'], fwd, subject='Top-level rfc822'),
                     {'1.eml', '1.1.txt', '1.2.html'},
                     literal={'1.eml': ('message/rfc822', fwd),
                              '1.2.html': ('text/html', b'<p>html version</p>\r\n')}))

    # multipart/alternative inside multipart/mixed; related inside alternative
    alt_text = 'Das ist eine längere Zeile mit Umlauten äöü und einem = Zeichen, die mehr als ' \
               'sechsundsiebzig Zeichen hat und daher umbrochen wird.\nZweite Zeile.\n'
    hsa, bodya = multipart('alternative', [
        entity(['Content-Type: text/plain; charset=utf-8',
                'Content-Transfer-Encoding: quoted-printable'], qp(alt_text)),
        entity(['Content-Type: text/html; charset=utf-8',
                'Content-Transfer-Encoding: quoted-printable'],
               qp('<p>' + alt_text + '</p>\n')),
    ], '=_b7_alt')
    hs, body = multipart('mixed', [
        entity(hsa, bodya),
        b64_part('application/pdf', pdf, disp='attachment; filename="slides.pdf"'),
    ], '=_b7_mixed')
    out.append(Built('alternative-in-mixed', message(hs, body, subject='Alternative'),
                     {'1.1.txt', '1.2.html', '2-slides.pdf'},
                     flags=['\\Flagged', '$Work'],
                     literal={'1.1.txt': ('text/plain',
                                          alt_text.replace('\n', '\r\n').encode())}))
    hsr, bodyr = multipart('related', [
        text_part(b'<img src="cid:logo">\r\n', 'html', 'us-ascii', '7bit'),
        b64_part('image/png', png, extra=['Content-ID: <logo>'])], '=_b8_rel')
    hs, body = multipart('alternative', [
        text_part(b'plain\r\n', charset='us-ascii', cte='7bit'), entity(hsr, bodyr)], '=_b8_alt')
    out.append(Built('related-in-alternative', message(hs, body, subject='Related'),
                     {'1.txt', '2.1.html', '2.2.png'}))

    # non-ASCII headers
    subj = 'Grüße aus Köln – 日本語'
    out.append(Built('headers-utf8', message(
        ['Content-Type: text/plain; charset=utf-8', 'Content-Transfer-Encoding: 8bit'],
        'Körper\r\n'.encode(),
        subject='=?utf-8?B?%s?=' % base64.b64encode(subj.encode()).decode(),
        sender='=?iso-8859-1?Q?J=FCrgen_M=FCller?= <juergen@example.org>',
        msgid='<headers-utf8@imapfs.test>', date='Wed, 03 Jan 2024 09:30:00 +0100'),
        {'1.txt'}, flags=['\\Seen', '\\Flagged'],
        xattrs={'user.imap.subject': subj,
                'user.imap.from': 'Jürgen Müller <juergen@example.org>',
                'user.imap.message_id': '<headers-utf8@imapfs.test>',
                'user.imap.date': 'Wed, 03 Jan 2024 09:30:00 +0100'},
        literal={'1.txt': ('text/plain', 'Körper\r\n'.encode())}))
    out.append(Built('headers-latin1', message(
        ['Content-Type: text/plain; charset=iso-8859-1', 'Content-Transfer-Encoding: 8bit'],
        b'K\xf6rper\r\n',
        subject='=?iso-8859-1?Q?Sch=F6ne_Gr=FC=DFe?=\r\n =?utf-8?Q?und_mehr_=E2=82=AC?= bis bald',
        msgid='<headers-latin1@imapfs.test>'),
        {'1.txt'},
        xattrs={'user.imap.subject': 'Schöne Grüßeund mehr € bis bald'},
        literal={'1.txt': ('text/plain', b'K\xf6rper\r\n')}))
    out.append(Built('headers-plain', message(
        ['Content-Type: text/plain; charset=us-ascii'], b'plain\r\n', subject='Plain subject',
        msgid='<headers-plain@imapfs.test>'),
        {'1.txt'}, flags=['\\Answered'],
        xattrs={'user.imap.subject': 'Plain subject',
                'user.imap.from': 'Bob Example <bob@example.org>'}))

    # quoted-printable: soft line breaks and =XX; transport padding
    qtext = ('Grüße! ' * 30 + '\nLine with = sign and tab\there.\n' + 'x' * 200 + '\n'
             'Ende.\n')
    qbody = qp(qtext)
    assert b'=\r\n' in qbody and b'=C3=BC' in qbody
    out.append(Built('quoted-printable', message(
        ['Content-Type: text/plain; charset=utf-8', 'Content-Transfer-Encoding: quoted-printable'],
        qbody, subject='QP'), {'1.txt'},
        literal={'1.txt': ('text/plain', qtext.replace('\n', '\r\n').encode())}))
    out.append(Built('qp-trailing-whitespace', message(
        ['Content-Type: text/plain; charset=us-ascii', 'Content-Transfer-Encoding: quoted-printable'],
        b'line with trailing spaces   \r\nand a tab\t\r\nsoft=20  =\r\nbreak\r\n',
        subject='QP with transport padding'), {'1.txt'}))

    # base64 layouts
    blob = random.Random(9).randbytes(10000)
    hs, body = multipart('mixed', [
        text_part(b'base64 layouts\r\n', charset='us-ascii', cte='7bit'),
        b64_part('application/pdf', pdf_bytes(9000, 5), disp='attachment; filename="l76.pdf"'),
        b64_part('application/pdf', pdf_bytes(9001, 6), width=64,
                 disp='attachment; filename="l64.pdf"'),
        b64_part('application/pdf', pdf_bytes(9002, 7), width=76, eol=b'\n',
                 disp='attachment; filename="lf.pdf"'),
        b64_part('application/octet-stream', blob[:57 * 40],
                 disp='attachment; filename="exact-lines.dat"'),
        b64_part('text/plain; charset=utf-8', ('Grüße ' * 300).encode()),
        entity(['Content-Type: application/octet-stream; name="trailing-blank.dat"',
                'Content-Transfer-Encoding: base64'], b64(blob[:1000]) + b'\r\n\r\n\r\n'),
        entity(['Content-Type: application/octet-stream; name="one-line.dat"',
                'Content-Transfer-Encoding: base64'], base64.b64encode(blob[:3000]) + b'\r\n'),
        entity(['Content-Type: application/octet-stream; name="no-eol.dat"',
                'Content-Transfer-Encoding: BASE64'], b64(blob[:500]).rstrip(b'\r\n')),
    ], '=_b9_b64')
    out.append(Built('base64-layouts', message(hs, body, subject='Base64'),
                     {'1.txt', '2-l76.pdf', '3-l64.pdf', '4-lf.pdf', '5-exact-lines.dat', '6.txt',
                      '7-trailing-blank.dat', '8-one-line.dat', '9-no-eol.dat'},
                     literal={'5-exact-lines.dat': ('application/octet-stream', blob[:57 * 40]),
                              '6.txt': ('text/plain', ('Grüße ' * 300).encode()),
                              '7-trailing-blank.dat': ('application/octet-stream', blob[:1000]),
                              '8-one-line.dat': ('application/octet-stream', blob[:3000]),
                              '9-no-eol.dat': ('application/octet-stream', blob[:500])}))

    # LF-only line endings, sent as they are
    lf = message(['Content-Type: multipart/mixed; boundary="lf"'],
                 b'--lf\r\nContent-Type: text/plain\r\n\r\nline one\r\nline two\r\n'
                 b'--lf\r\nContent-Type: image/png\r\nContent-Transfer-Encoding: base64\r\n\r\n'
                 + b64(png) + b'--lf--\r\n', subject='LF only').replace(b'\r\n', b'\n')
    out.append(Built('lf-only', lf, {'1.txt', '2.png'},
                     literal={'2.png': ('image/png', png)}))

    # a big attachment (5 MiB of base64)
    raw, att = dovecot.make_attachment_message(6 << 20, 5 << 20, seed=2)
    out.append(Built('big-attachment', raw, {'1.txt', '2-attachment.pdf'},
                     literal={'2-attachment.pdf': ('application/pdf', att)}))

    # names that must be made safe or shortened
    long_ascii = 'a' * 300 + '.pdf'
    small = b'tiny\r\n'
    hs, body = multipart('mixed', [
        text_part(),
        b64_part('application/pdf', pdf, disp='attachment; filename="%s"' % long_ascii),
        entity(['Content-Type: text/plain; charset=utf-8',
                "Content-Disposition: attachment; filename*=utf-8''"
                + '%C3%A4' * 150 + '.txt'], small),
        entity(['Content-Type: text/plain', 'Content-Disposition: attachment; '
                'filename="../../etc/passwd"'], small),
        b64_part('application/pdf', pdf, disp='attachment; filename=".."'),
        entity(['Content-Type: text/plain', 'Content-Disposition: attachment; filename="."'], small),
        entity(['Content-Type: text/plain', 'Content-Disposition: attachment; '
                'filename=".hidden.txt"'], small),
        entity(['Content-Type: text/plain',
                "Content-Disposition: attachment; filename*=utf-8''a%01b%7Fc.txt"], small),
        entity(['Content-Type: text/plain',
                "Content-Disposition: attachment; filename*=utf-8''nul%00byte.txt"], small),
        entity(['Content-Type: text/plain',
                b'Content-Disposition: attachment; filename="caf\xe9.txt"'], small),
        entity(['Content-Type: text/plain', 'Content-Disposition: attachment; '
                'filename="dir/sub/file.txt"'], small),
        entity(['Content-Type: text/plain', 'Content-Disposition: attachment; filename="..."'],
               small),
    ], '=_b10_names')
    n2 = '2-' + 'a' * (NAME_MAX - 2 - 4) + '.pdf'
    n3 = '3-' + 'ä' * ((NAME_MAX - 2 - 4) // 2) + '.txt'
    assert len(n2.encode()) == NAME_MAX and len(n3.encode()) == NAME_MAX - 1
    # 10: a raw 8-bit name without a charset is taken as Windows-1252 (what
    # the sender's mailer meant), like unlabelled header text, not as '_'.
    out.append(Built('unsafe-names', message(hs, body, subject='Unsafe names'),
                     {'1.txt', n2, n3, '4-_.._etc_passwd', '5.pdf', '6.txt', '7-hidden.txt',
                      '8-a_b_c.txt', '9-nul_byte.txt', '10-café.txt', '11-dir_sub_file.txt',
                      '12.txt'},
                     literal={n2: ('application/pdf', pdf), n3: ('text/plain', small)}))

    # the same file name twice
    hs, body = multipart('mixed', [
        text_part(),
        b64_part('application/pdf', pdf_bytes(800, 11), disp='attachment; filename="same.pdf"'),
        b64_part('application/pdf', pdf_bytes(801, 12), disp='attachment; filename="same.pdf"'),
        entity(['Content-Type: message/rfc822'], message(*multipart('mixed', [
            b64_part('application/pdf', pdf_bytes(802, 13), disp='attachment; filename="same.pdf"')
        ], '=_b11_in'), subject='inner same')),
    ], '=_b11_same')
    out.append(Built('same-names', message(hs, body, subject='Same names'),
                     {'1.txt', '2-same.pdf', '3-same.pdf', '4.eml', '4.1-same.pdf'},
                     literal={'2-same.pdf': ('application/pdf', pdf_bytes(800, 11)),
                              '3-same.pdf': ('application/pdf', pdf_bytes(801, 12)),
                              '4.1-same.pdf': ('application/pdf', pdf_bytes(802, 13))}))

    # single-part messages
    out.append(Built('single-text', message(['Content-Type: text/plain; charset=us-ascii'],
                                            b'just text\r\n', subject='single'),
                     {'1.txt'}, literal={'1.txt': ('text/plain', b'just text\r\n')}))
    out.append(Built('single-html', message(['Content-Type: text/html; charset=us-ascii'],
                                            b'<b>x</b>\r\n', subject='html'), {'1.html'}))
    out.append(Built('single-pdf', message(
        ['Content-Type: application/pdf; name="doc.pdf"', 'Content-Transfer-Encoding: base64'],
        b64(pdf), subject='pdf only'), {'1-doc.pdf'},
        literal={'1-doc.pdf': ('application/pdf', pdf)}))
    out.append(Built('no-mime-headers', (
        b'From: old@example.org\r\nTo: alice@example.org\r\nSubject: no MIME\r\n'
        b'Date: Mon, 01 Jan 2001 00:00:00 +0000\r\n\r\nplain old mail\r\n'), {'1.txt'},
        literal={'1.txt': ('text/plain', b'plain old mail\r\n')}))
    out.append(Built('binary-cte', message(
        ['Content-Type: application/pdf; name="bin.pdf"', 'Content-Transfer-Encoding: binary'],
        pdf_bytes(2000, 14).replace(b'\r\n', b'\n') + b'\r\n', subject='binary'),
        {'1-bin.pdf'}, append_only=True))
    big_bin = pdf_bytes(200000, 15).replace(b'\r', b'') + b'\x00' * 64 + b'\r\n'
    out.append(Built('binary-cte-big', message(
        ['Content-Type: application/pdf; name="bin-big.pdf"', 'Content-Transfer-Encoding: binary'],
        big_bin, subject='binary, big'), {'1-bin-big.pdf'}, append_only=True))
    data = pdf_bytes(300000, 16)
    lines = b64(data).split(b'\r\n')
    mid = len(lines) // 2
    lines[mid:mid + 2] = [lines[mid] + lines[mid + 1][:40], lines[mid + 1][40:]]
    hs, body = multipart('mixed', [
        text_part(b'one line of the base64 is longer\r\n', charset='us-ascii', cte='7bit'),
        entity(['Content-Type: application/pdf; name="irregular.pdf"',
                'Content-Transfer-Encoding: base64'], b'\r\n'.join(lines))], '=_b12_irr')
    out.append(Built('base64-irregular-middle', message(hs, body, subject='irregular base64'),
                     {'1.txt', '2-irregular.pdf'},
                     literal={'2-irregular.pdf': ('application/pdf', data)}))
    return out


def _cut_b64(enc, frac):
    """enc cut at about frac of its length, mid-line, so that its base64
    characters are 4n+2 (a partial last quantum the email package decodes)."""
    n = int(len(enc) * frac)
    for _ in range(8):
        body = enc[:n]
        if len(re.sub(rb'[^A-Za-z0-9+/]', b'', body)) % 4 == 2 and not body.endswith(b'\n'):
            return body
        n += 1
    raise AssertionError('no cut found')


def malformed_messages():
    """Messages with broken or strange structure: the .eml must stay
    readable and the parts that can be listed must be."""
    out = []
    pdf, png = pdf_bytes(3000, 21), png_bytes(5, 5, 21)
    good = text_part(b'the good part\r\n', charset='us-ascii', cte='7bit')

    hs, body = multipart('mixed', [
        good,
        entity(['Content-Type: application/pdf; name="bogus.pdf"',
                'Content-Transfer-Encoding: x-bogus'], b'%PDF-1.4 served as it is\r\n=00=FF\r\n'),
        b64_part('image/png; name="ok.png"', png)], '=_m1')
    out.append(Built('bogus-cte', message(hs, body, subject='bogus CTE'),
                     {'1.txt', '2-bogus.pdf', '3-ok.png'},
                     literal={'2-bogus.pdf': ('application/pdf',
                                              b'%PDF-1.4 served as it is\r\n=00=FF\r\n'),
                              '3-ok.png': ('image/png', png)}))

    enc = b64(pdf)
    cut = enc[:len(enc) // 2]
    cut = cut[:cut.rindex(b'\r\n') + 2] + b'QUJDRA'  # 6 characters: a partial quantum
    hs, body = multipart('mixed', [
        good, entity(['Content-Type: application/pdf; name="truncated.pdf"',
                      'Content-Transfer-Encoding: base64'], cut),
        b64_part('image/png; name="ok.png"', png)], '=_m2')
    out.append(Built('base64-truncated', message(hs, body, subject='truncated base64'),
                     {'1.txt', '2-truncated.pdf', '3-ok.png'}))

    cut1 = enc[:len(enc) // 3]
    cut1 = cut1[:cut1.rindex(b'\r\n') + 2] + b'QUJDR'  # one character more than a quantum
    hs, body = multipart('mixed', [
        good, entity(['Content-Type: application/pdf; name="stray.pdf"',
                      'Content-Transfer-Encoding: base64'], cut1),
        b64_part('image/png; name="ok.png"', png)], '=_m3')
    out.append(Built('base64-stray-char', message(hs, body, subject='base64, 1 char too many'),
                     {'1.txt', '2-stray.pdf', '3-ok.png'},
                     lenient={'2': 'the email package cannot decode a body of 4n+1 base64 '
                                   'characters and returns it undecoded'}))

    lines = b64(pdf).split(b'\r\n')
    junk = b'\r\n'.join(l[:10] + b'*!' + l[10:40] + b' # ' + l[40:] if i % 3 == 0 else l
                        for i, l in enumerate(lines))
    junk = b'---- ** ----\r\n' + junk + b'~~~\r\n'
    hs, body = multipart('mixed', [
        good, entity(['Content-Type: application/pdf; name="junk.pdf"',
                      'Content-Transfer-Encoding: base64'], junk),
        entity(['Content-Type: application/octet-stream; name="8bit-junk.bin"',
                'Content-Transfer-Encoding: base64'],
               b64(png).replace(b'\r\n', b'\xff\xfe\r\n', 3)),
        b64_part('image/png; name="ok.png"', png)], '=_m4')
    out.append(Built('base64-junk', message(hs, body, subject='base64 with junk'),
                     {'1.txt', '2-junk.pdf', '3-8bit-junk.bin', '4-ok.png'},
                     literal={'2-junk.pdf': ('application/pdf', pdf)}))

    hs, body = multipart('mixed', [
        good, entity(['Content-Type: text/plain; charset=us-ascii',
                      'Content-Transfer-Encoding: quoted-printable'],
                     b'bad escapes =ZZ and =4 and = at the end=\r\nlower =c3=a4 ok=3D\r\nlast='),
        b64_part('image/png; name="ok.png"', png)], '=_m5')
    out.append(Built('qp-broken', message(hs, body, subject='broken QP'),
                     {'1.txt', '2.txt', '3-ok.png'}))

    hs, body = multipart('mixed', [
        good, b64_part('image/png; name="ok.png"', png),
        text_part(b'the last part, no closing delimiter\r\n', charset='us-ascii', cte='7bit')],
        '=_m6', close=False)
    out.append(Built('no-close-delimiter', message(hs, body, subject='no close delimiter'),
                     {'1.txt', '2-ok.png', '3.txt'}))

    out.append(Built('multipart-no-boundary', message(
        ['Content-Type: multipart/mixed'],
        b'--x\r\nContent-Type: text/plain\r\n\r\nno boundary parameter\r\n--x--\r\n',
        subject='no boundary'), None))

    depth = 120
    m = message(['Content-Type: text/plain'], b'at the bottom\r\n', subject='level %d' % depth)
    for lvl in range(depth - 1, -1, -1):
        m = message(['Content-Type: message/rfc822'], m, subject='level %d' % lvl)
    out.append(Built('deep-rfc822', m, None, partial_ok=True))

    m = text_part(b'deep leaf\r\n', charset='us-ascii', cte='7bit')
    for lvl in range(depth - 1):
        m = entity(*multipart('mixed', [m], '=_deep%d' % lvl))
    out.append(Built('deep-multipart',
                     message(*multipart('mixed', [m], '=_deeptop'), subject='deep multipart'),
                     None, partial_ok=True))

    hs, body = multipart('mixed', [text_part(b'part %d\r\n' % i, charset='us-ascii', cte='7bit')
                                   for i in range(300)], '=_many')
    out.append(Built('300-parts', message(hs, body, subject='300 parts'),
                     {'%d.txt' % (i + 1) for i in range(300)}))

    hs, body = multipart('mixed', [
        entity(['Content-Type: text/plain'], b''),
        b'\r\nno header at all\r\n',
        entity(['Content-Type: text'], b'no subtype\r\n'),
        entity(['Content-Type: /bar'], b'no type\r\n'),
        entity(['Content-Type: ;;;'], b'nothing\r\n'),
        b64_part('image/png; name="ok.png"', png)], '=_m8')
    out.append(Built('empty-and-untyped', message(hs, body, subject='empty and untyped'), None))

    hs, body = multipart('mixed', [
        good,
        entity(['Content-Type: ;;;', 'Content-Transfer-Encoding: base64'], b64(png)),
        entity(['Content-Type: /bar', 'Content-Transfer-Encoding: base64'], b64(pdf)),
        entity(['Content-Type: ;;;', 'Content-Disposition: attachment; filename="logo"',
                'Content-Transfer-Encoding: base64'], b64(png))], '=_m12')
    out.append(Built('untyped-sniffed', message(hs, body, subject='untyped parts'),
                     {'1.txt', '2.png', '3.pdf', '4-logo'},
                     literal={'2.png': ('image/png', png), '3.pdf': ('application/pdf', pdf),
                              '4-logo': ('image/png', png)}))

    hs, body = multipart('mixed', [
        good, entity(['Content-Type: message/rfc822', 'Content-Transfer-Encoding: base64'],
                     b64(message(['Content-Type: text/plain'], b'encoded message\r\n',
                                 subject='inside base64'))),
        b64_part('image/png; name="ok.png"', png)], '=_m9')
    out.append(Built('rfc822-in-base64', message(hs, body, subject='message/rfc822 in base64'),
                     None))

    data = pdf_bytes(300000, 22)
    lines = b64(data).split(b'\r\n')
    for i in range(len(lines) // 3, len(lines) // 3 + 5):
        lines[i] = lines[i][:30] + b'!*' + lines[i][30:]
    hs, body = multipart('mixed', [
        good, entity(['Content-Type: application/pdf; name="junk-middle.pdf"',
                      'Content-Transfer-Encoding: base64'], b'\r\n'.join(lines)),
        b64_part('image/png; name="ok.png"', png)], '=_m10')
    out.append(Built('base64-junk-middle', message(hs, body, subject='junk in big base64'),
                     {'1.txt', '2-junk-middle.pdf', '3-ok.png'},
                     literal={'2-junk-middle.pdf': ('application/pdf', data)}))
    enc = b64(data)
    hs, body = multipart('mixed', [
        good, entity(['Content-Type: application/pdf; name="big-truncated.pdf"',
                      'Content-Transfer-Encoding: base64'], _cut_b64(enc, 2 / 3) + b'\r\n'),
        b64_part('image/png; name="ok.png"', png)], '=_m11')
    out.append(Built('base64-big-truncated', message(hs, body, subject='big truncated base64'),
                     {'1.txt', '2-big-truncated.pdf', '3-ok.png'}))

    out.append(Built('header-only', b'From: a@example.org\r\nSubject: header only\r\n'
                     b'Content-Type: text/plain\r\n', None))
    out.append(Built('empty-body', message(['Content-Type: text/plain'], b'', subject='empty'),
                     {'1.txt'}))
    return out


# --------------------------------------------------------------------------
# servers holding the test mail

NO_BINARY_CAPS = ('IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE SORT SORT=DISPLAY '
                  'THREAD=REFERENCES THREAD=REFS THREAD=ORDEREDSUBJECT MULTIAPPEND URL-PARTIAL '
                  'CATENATE UNSELECT CHILDREN NAMESPACE UIDPLUS LIST-EXTENDED I18NLEVEL=1 '
                  'CONDSTORE QRESYNC ESEARCH ESORT SEARCHRES WITHIN CONTEXT=SEARCH LIST-STATUS '
                  'MOVE SNIPPET=FUZZY PREVIEW=FUZZY PREVIEW STATUS=SIZE SAVEDATE LITERAL+ '
                  'NOTIFY SPECIAL-USE')
SA_MAILDIR_COUNT = 300   # SpamAssassin messages delivered as Maildir files
SA_CHUNKS = 4            # the 1200 APPENDed ones are read in this many tests


def _maildir_flags(flags):
    return [f for f in (flags or ()) if f in dovecot.MAILDIR_FLAGS]


def sa_maildir_messages(n=SA_MAILDIR_COUNT):
    """n SpamAssassin messages other than the ones conftest APPENDs (those
    are spamassassin_messages(SA_COUNT)), evenly spaced, normalised."""
    paths = corpus.spamassassin_files()
    taken = {paths[i * len(paths) // SA_COUNT] for i in range(SA_COUNT)}
    rest = [p for p in paths if p not in taken]
    out = []
    for i in range(n):
        with open(rest[i * len(rest) // n], 'rb') as f:
            out.append(corpus.normalize(f.read()))
    return out


class Catalog:
    def __init__(self):
        self.keys = {}     # mailbox -> {uid: Built}
        self.uids = {}     # mailbox -> [uid]


def seed_parts(dv, *, maildir=True, corpora=True):
    """Mailboxes: built, malformed (APPENDed with flags); with maildir=True
    also built-maildir, malformed-maildir (the same, as Maildir files with LF
    line endings); with corpora=True python-maildir (CPython's messages) and
    sa-maildir (SA_MAILDIR_COUNT SpamAssassin messages) as Maildir files, and
    big (the 6 MiB message alone)."""
    cat = Catalog()
    c = dovecot.imap_client(dv)
    try:
        boxes = ['built', 'malformed']
        if maildir:
            boxes += ['built-maildir', 'malformed-maildir']
        if corpora:
            boxes += ['python-maildir', 'sa-maildir', 'big']
        for b in boxes:
            dovecot.create_mailbox(c, b)
    finally:
        c.logout()
    t = 1704067200
    for box, msgs in (('built', built_messages()), ('malformed', malformed_messages())):
        uids = dovecot.append_many(dv, box, [(b.raw, t + i * 3600, b.flags)
                                             for i, b in enumerate(msgs)])
        cat.keys[box] = dict(zip(uids, msgs))
        cat.uids[box] = uids
        if maildir:
            md = [b for b in msgs if not b.append_only]
            uids = dovecot.maildir_deliver_many(
                dv, box + '-maildir', [(b.raw, _maildir_flags(b.flags), t + i * 60)
                                       for i, b in enumerate(md)])
            cat.keys[box + '-maildir'] = dict(zip(uids, md))
            cat.uids[box + '-maildir'] = uids
    if corpora:
        py = corpus.python_messages()
        cat.uids['python-maildir'] = dovecot.maildir_deliver_many(
            dv, 'python-maildir', [(m, None, t - 86400 * (i + 1)) for i, m in enumerate(py)])
        sa = sa_maildir_messages()
        cat.uids['sa-maildir'] = dovecot.maildir_deliver_many(
            dv, 'sa-maildir', [(m, None, t - 3600 * (i + 1)) for i, m in enumerate(sa)])
        raw, att = dovecot.make_attachment_message(6 << 20, 5 << 20, seed=3)
        cat.uids['big'] = dovecot.append_many(dv, 'big', [(raw, t, None)])
        cat.big_attachment = att
        cat.big_raw = raw
    return cat


@pytest.fixture(scope='module')
def parts_server(_preflight):
    """A private Dovecot with the messages of seed_parts()."""
    base = dovecot.make_basedir('imapfs-parts-')
    dv = dovecot.Dovecot(os.path.join(base, 'dovecot'))
    try:
        dv.start()
        dv.catalog = seed_parts(dv)
        yield dv
    finally:
        dv.stop()
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope='module')
def nobinary_server(_preflight):
    """A Dovecot that does not offer BINARY (imap_capability lists the rest),
    with built and malformed APPENDed."""
    base = dovecot.make_basedir('imapfs-parts-nobin-')
    dv = dovecot.Dovecot(os.path.join(base, 'dovecot'),
                         extra_conf='imap_capability = %s\n' % NO_BINARY_CAPS)
    try:
        dv.start()
        c = dovecot.imap_client(dv)
        try:
            typ, data = c.capability()
            caps = b' '.join(data).upper().split()
        finally:
            c.logout()
        assert b'BINARY' not in caps and b'IMAP4REV1' in caps, caps
        dv.catalog = seed_parts(dv, maildir=False, corpora=False)
        yield dv
    finally:
        dv.stop()
        shutil.rmtree(base, ignore_errors=True)


_REFS = {}


def refs_of(dv, box):
    """{uid: MessageRef} of box, computed once per server and mailbox."""
    key = (id(dv), dv.port, box)
    if key not in _REFS:
        refs = compute_refs(dv, box)
        cat = getattr(dv, 'catalog', None)
        for uid, built in (cat.keys.get(box, {}) if cat else {}).items():
            apply_lenience(refs[uid], built)
        _REFS[key] = refs
    return _REFS[key]


def lenient_base64(body):
    """A decoding of base64 that drops a stray last character (the usual
    reading of a body of 4n+1 characters)."""
    chars = re.sub(rb'[^A-Za-z0-9+/]', b'', body.split(b'=', 1)[0])
    return base64.b64decode(chars[:len(chars) // 4 * 4])


def apply_lenience(ref, built):
    """Broken parts the specification lets go: a part that fails to decode
    may hold either reading; a structure too deep to understand may be
    listed in part."""
    ref.built = built
    for f in ref.files:
        if f.section in built.lenient:
            f.contents = [lenient_base64(f.encoded)]
            f.note = built.lenient[f.section]
    if built.partial_ok:
        for f in ref.files:
            if f.kind != 'header':
                f.optional = True


# --------------------------------------------------------------------------
# what the mount shows, compared with the reference

def read_bytes(path):
    with open(path, 'rb') as f:
        return f.read()


def xattr(path, name):
    """The value of an extended attribute, or None when absent (ENODATA)."""
    try:
        return os.getxattr(path, name)
    except OSError as e:
        if e.errno == errno.ENODATA:
            return None
        raise


def qp_rfc_decode(body):
    """Quoted-printable decoded as RFC 2045 6.7 rule 3 says: trailing white
    space of every encoded line deleted first (transport padding)."""
    import binascii
    return binascii.a2b_qp(re.sub(rb'[ \t]+(?=\r?\n|$)', b'', body))


def explain(f, got):
    """Why `got` is not the expected content of f, as precisely as can be
    told."""
    want = f.content
    i = first_difference(got, want)
    out = ['expected %d bytes, got %d; first difference at offset %d: expected %r, got %r'
           % (len(want), len(got), i, want[max(0, i - 12):i + 12], got[max(0, i - 12):i + 12])]
    if f.encoding == 'quoted-printable' and got == qp_rfc_decode(f.encoded):
        out.append('got = the RFC 2045 6.7(3) decoding (trailing white space of encoded lines '
                   'deleted, as the server\'s BINARY does); the email package keeps it')
    if (len(got) == len(want) and got != want
            and all(w == 0x80 and g == 0 for w, g in zip(want, got) if w != g)):
        out.append('differs only where the server\'s BODY[] has 0x80 for a NUL byte: got the '
                   'NULs of BINARY, the .eml shows 0x80')
    if f.encoded is not None and got == f.encoded and f.encoding in ('base64', 'quoted-printable'):
        out.append('got the undecoded body')
    if f.note:
        out.append('reference: ' + f.note)
    return '; '.join(out)


def check_message(box_dir, ref, problems, label):
    """Compare <uid>.eml and <uid>.parts/ with ref; append what differs."""
    uid = ref.uid
    key = getattr(ref, 'built', None)
    where = '%s/%d%s' % (label, uid, ' [%s]' % key.key if key else '')
    eml = os.path.join(box_dir, '%d.eml' % uid)
    try:
        st = os.stat(eml)
        got = read_bytes(eml)
    except OSError as e:
        problems.append('%s.eml: %s' % (where, e))
    else:
        if st.st_size != len(ref.eml):
            problems.append('%s.eml: st_size %d, RFC822 %d' % (where, st.st_size, len(ref.eml)))
        if got != ref.eml:
            problems.append('%s.eml: content differs at %d (%d bytes, expected %d)'
                            % (where, first_difference(got, ref.eml), len(got), len(ref.eml)))
    for name, want in ref.xattrs.items():
        try:
            v = xattr(eml, name)
        except OSError as e:
            problems.append('%s.eml: getxattr %s: %s' % (where, name, e))
            continue
        if name == 'user.imap.flags' and v is not None:
            v = ' '.join(x for x in v.decode('utf-8', 'replace').split() if x != '\\Recent')
        elif v is not None:
            try:
                v = v.decode('utf-8')
            except UnicodeDecodeError:
                problems.append('%s.eml: %s is not UTF-8: %r' % (where, name, v))
                continue
        if want is None:
            if v not in (None, ''):
                problems.append('%s.eml: %s = %r, the header is absent' % (where, name, v))
        elif v not in want:
            problems.append('%s.eml: %s = %r, expected %s'
                            % (where, name, v, ' or '.join(repr(w) for w in sorted(want))))

    pdir = os.path.join(box_dir, '%d.parts' % uid)
    try:
        st = os.stat(pdir)
        names = os.listdir(pdir)
    except OSError as e:
        problems.append('%s.parts: %s' % (where, e))
        return
    if not stat.S_ISDIR(st.st_mode):
        problems.append('%s.parts: not a directory (mode %o)' % (where, st.st_mode))
        return
    remaining = set(names)
    if len(remaining) != len(names):
        problems.append('%s.parts: readdir lists a name twice: %r' % (where, sorted(names)))
    for f in ref.files:
        hits = {n for n in remaining if f.matches(n)}
        if len(hits) != 1:
            if not hits and f.optional:
                continue
            problems.append('%s.parts: %s %s (section %s, %s)%s' % (
                where, 'no' if not hits else 'ambiguous', f.describe(),
                f.section, '/'.join(sorted(f.mime_types or ['header'])),
                ': %r' % sorted(hits) if hits else ''))
            continue
        name = hits.pop()
        remaining.discard(name)
        path = os.path.join(pdir, name)
        w = '%s.parts/%s' % (where, name)
        try:
            st = os.stat(path)
        except OSError as e:
            problems.append('%s: stat: %s' % (w, e))
            continue
        if not stat.S_ISREG(st.st_mode):
            problems.append('%s: not a regular file (mode %o)' % (w, st.st_mode))
            continue
        try:
            got = read_bytes(path)
        except OSError as e:
            problems.append('%s: read: %s (%s)' % (w, e, f.note or 'no note'))
            continue
        accepted = [f.content] + list(f.contents or [])
        if st.st_size != len(got):
            problems.append('%s: st_size %d before reading, but %d bytes read'
                            % (w, st.st_size, len(got)))
        if got not in accepted:
            problems.append('%s: content: %s' % (w, explain(f, got)))
        if f.kind == 'header':
            continue
        try:
            check_part_xattrs(path, f, w, problems)
        except OSError as e:
            problems.append('%s: getxattr: %s' % (w, e))
    if remaining:
        problems.append('%s.parts: unexpected %r' % (where, sorted(remaining)))


def check_part_xattrs(path, f, w, problems):
    sec = xattr(path, 'user.imap.section')
    if sec != f.section.encode():
        problems.append('%s: user.imap.section = %r, expected %r' % (w, sec, f.section))
    mt = xattr(path, 'user.mime_type')
    if mt is None or mt.decode('utf-8', 'replace') not in f.mime_types:
        problems.append('%s: user.mime_type = %r, expected %s'
                        % (w, mt, ' or '.join(sorted(f.mime_types))))
    cs = xattr(path, 'user.charset')
    if f.charset is None:
        if cs is not None:
            problems.append('%s: user.charset = %r, the part has none' % (w, cs))
    elif cs is None or cs.decode('utf-8', 'replace').lower() != f.charset.lower():
        problems.append('%s: user.charset = %r, expected %r' % (w, cs, f.charset))


def check_box(mount_path, box, refs, problems, uids=None, label=None):
    """Check the mailbox directory's listing (<uid>.eml and <uid>.parts for
    every message) and then every message (of uids, default all)."""
    d = os.path.join(mount_path, box)
    listing = set(os.listdir(d))
    want = {'%d.eml' % u for u in refs} | {'%d.parts' % u for u in refs}
    if listing != want:
        problems.append('%s: readdir: missing %r, unexpected %r'
                        % (box, sorted(want - listing)[:10], sorted(listing - want)[:10]))
    n = 0
    for uid in sorted(refs if uids is None else uids):
        check_message(d, refs[uid], problems, label or box)
        n += 1
    return n


def report(problems, what):
    if not problems:
        return
    head = '\n  '.join(problems[:80])
    more = '\n  ... and %d more' % (len(problems) - 80) if len(problems) > 80 else ''
    raise AssertionError('%d problems in %s:\n  %s%s' % (len(problems), what, head, more))


def mount_for(mount_factory, dv, mode, **kw):
    opts = ['tls=none']
    if mode == 'nobinary':
        opts.append('nobinary')
    return mount_factory(dv.url('imap'), opts, password=dv.password, **kw)


def run(argv, **kw):
    kw.setdefault('timeout', TOOL_TIMEOUT)
    kw.setdefault('env', C_ENV)
    return subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)


def bytes_received(root):
    v = xattr(root, 'user.imapfs.bytes_received')
    assert v is not None, 'no user.imapfs.bytes_received on the mount root'
    assert re.fullmatch(rb'[0-9]+', v), 'user.imapfs.bytes_received = %r' % v
    return int(v)


# --------------------------------------------------------------------------
# the harness itself (no imapfs involved)

def test_harness_maildir_delivery(parts_server):
    """Messages written as Maildir files are on the server as written (line
    endings served as CRLF), with their flags and mtime as INTERNALDATE."""
    cat = parts_server.catalog
    c = dovecot.imap_client(parts_server)
    try:
        for box in ('built-maildir', 'malformed-maildir'):
            meta = dovecot.fetch_meta(c, box)
            bodies = dovecot.fetch_bodies(c)
            assert sorted(meta) == sorted(cat.uids[box])
            for uid, b in cat.keys[box].items():
                assert bodies[uid] == b.raw.replace(b'\r\n', b'\n').replace(b'\n', b'\r\n'), b.key
                assert set(meta[uid][2]) - {'\\Recent'} == set(_maildir_flags(b.flags)), b.key
        meta = dovecot.fetch_meta(c, 'python-maildir')
        assert len(meta) == len(corpus.python_messages())
        assert len(dovecot.fetch_meta(c, 'sa-maildir')) == SA_MAILDIR_COUNT
    finally:
        c.logout()


def test_harness_reference(parts_server):
    """The reference names and contents equal the ones spelled out by hand;
    for the well-formed built messages the email package's walk (sections,
    types, part bytes) agrees with the server's BODYSTRUCTURE and
    BODY.PEEK[section] everywhere."""
    cat = parts_server.catalog
    problems = []
    for box in ('built', 'built-maildir', 'malformed', 'malformed-maildir'):
        refs = refs_of(parts_server, box)
        for uid, b in cat.keys[box].items():
            r = refs[uid]
            names = set().union(*(f.names for f in r.files))
            if b.names is not None and names != b.names:
                problems.append('%s %s: reference names %r, by hand %r'
                                % (box, b.key, sorted(names - b.names), sorted(b.names - names)))
            for n, (mt, content) in b.literal.items():
                fs = [f for f in r.files if n in f.names]
                if len(fs) != 1:
                    problems.append('%s %s: %s not in the reference' % (box, b.key, n))
                    continue
                if mt not in fs[0].mime_types:
                    problems.append('%s %s: %s type %r' % (box, b.key, n, fs[0].mime_types))
                if content is not None and fs[0].content != content:
                    problems.append('%s %s: %s content differs at %d'
                                    % (box, b.key, n, first_difference(fs[0].content, content)))
            for k, v in b.xattrs.items():
                if r.xattrs.get(k) != {v}:
                    problems.append('%s %s: %s %r, by hand %r' % (box, b.key, k, r.xattrs.get(k), v))
            if box.startswith('built') and r.notes:
                problems.append('%s %s: the email package and the server disagree: %s'
                                % (box, b.key, r.notes))
    report(problems, 'the reference')


@pytest.mark.parametrize('which,share', [('corpus-python', 0.35), ('corpus-sa', 0.01)])
def test_harness_reference_corpus(server, which, share):
    """On real mail the email package's walk agrees with the server's
    BODYSTRUCTURE and BODY.PEEK[section] for nearly every message (CPython's
    test messages are edge cases by design); where it does not (printed), the
    reference decodes the part the server delimits."""
    refs = refs_of(server, which)
    odd = {uid: r.notes for uid, r in sorted(refs.items()) if r.notes}
    for uid, notes in odd.items():
        for n in notes:
            print('%s/%d: %s' % (which, uid, n[:200]))
    leaves = sum(1 for r in refs.values() for f in r.files if f.kind == 'leaf')
    print('%s: %d messages, %d leaves, %d messages where the email package differs'
          % (which, len(refs), leaves, len(odd)))
    assert leaves >= len(refs)
    assert len(odd) <= share * len(refs), '%d of %d messages disagree' % (len(odd), len(refs))


# --------------------------------------------------------------------------
# what a user sees through the mount

ALL_MODES = ['binary', 'nobinary', 'no-BINARY-server']


def _timed_check(m, dv, boxes, what, uids_of=None):
    problems = []
    t0 = time.monotonic()
    n = 0
    for box in boxes:
        refs = refs_of(dv, box)
        uids = uids_of(box, refs) if uids_of else None
        n += check_box(m.path, box, refs, problems, uids=uids)
    print('%s: %d messages checked in %.1f s, %d problems'
          % (what, n, time.monotonic() - t0, len(problems)))
    report(problems, what)


@pytest.mark.parametrize('mode', ALL_MODES)
def test_built_messages(parts_server, nobinary_server, mount_factory, mode):
    """Every built message, APPENDed and written as a Maildir file: the
    names, sizes, bytes and attributes of <uid>.parts/ (and the .eml's
    attributes)."""
    if mode == 'no-BINARY-server':
        dv, boxes = nobinary_server, ['built']
    else:
        dv, boxes = parts_server, ['built', 'built-maildir']
    for box in boxes:
        refs_of(dv, box)
    m = mount_for(mount_factory, dv, 'binary' if mode == 'no-BINARY-server' else mode)
    _timed_check(m, dv, boxes, 'built messages (%s)' % mode)


@pytest.mark.parametrize('mode', ALL_MODES)
def test_malformed_messages(parts_server, nobinary_server, mount_factory, mode):
    """Broken or strange structure (bogus, truncated and junk-filled
    transfer encodings, missing delimiters, 120 levels of nesting, untyped
    parts): the .eml stays readable and every part that is listed is right;
    only a structure too deep to understand may be listed in part."""
    if mode == 'no-BINARY-server':
        dv, boxes = nobinary_server, ['malformed']
    else:
        dv, boxes = parts_server, ['malformed', 'malformed-maildir']
    for box in boxes:
        refs_of(dv, box)
    m = mount_for(mount_factory, dv, 'binary' if mode == 'no-BINARY-server' else mode)
    _timed_check(m, dv, boxes, 'malformed messages (%s)' % mode)
    # and the mount is still well: a listing and a read after all that
    assert os.listdir(m.p('malformed'))


@pytest.mark.parametrize('mode', MODES)
def test_python_corpus(server, parts_server, mount_factory, mode):
    """CPython's email test messages, APPENDed (conftest's corpus-python) and
    as Maildir files."""
    refs_of(server, 'corpus-python')
    refs_of(parts_server, 'python-maildir')
    m = mount_for(mount_factory, server, mode)
    _timed_check(m, server, ['corpus-python'], 'corpus-python (%s)' % mode)
    m2 = mount_for(mount_factory, parts_server, mode)
    _timed_check(m2, parts_server, ['python-maildir'], 'python-maildir (%s)' % mode)


@pytest.mark.parametrize('chunk', range(SA_CHUNKS))
@pytest.mark.parametrize('mode', MODES)
def test_spamassassin_corpus(server, parts_server, mount_factory, mode, chunk):
    """SpamAssassin messages: SA_COUNT APPENDed (conftest's corpus-sa) and
    SA_MAILDIR_COUNT others as Maildir files, in SA_CHUNKS tests."""
    refs = refs_of(server, 'corpus-sa')
    mrefs = refs_of(parts_server, 'sa-maildir')

    def part_of(box, refs):
        uids = sorted(refs)
        return uids[chunk * len(uids) // SA_CHUNKS:(chunk + 1) * len(uids) // SA_CHUNKS]

    m = mount_for(mount_factory, server, mode)
    _timed_check(m, server, ['corpus-sa'], 'corpus-sa part %d (%s)' % (chunk, mode), part_of)
    m2 = mount_for(mount_factory, parts_server, mode)
    _timed_check(m2, parts_server, ['sa-maildir'], 'sa-maildir part %d (%s)' % (chunk, mode),
                 part_of)
    assert len(refs) == SA_COUNT and len(mrefs) == SA_MAILDIR_COUNT


def test_find_pdf_and_ls_l(parts_server, mount_factory):
    """find MOUNT -path '*.parts/*' -name '*.pdf' finds the PDF parts of every
    well-formed message and nothing that is not a part; ls -l of a .parts
    directory shows the names, exact sizes and the INTERNALDATE as mtime."""
    dv = parts_server
    boxes = ['built', 'built-maildir', 'malformed', 'malformed-maildir', 'python-maildir',
             'sa-maildir', 'big']
    surely = set()
    refs = {}
    for box in boxes:
        for uid, r in refs_of(dv, box).items():
            refs[(box, uid)] = r
            if box.startswith('malformed'):  # those are test_malformed_messages' business
                continue
            for f in r.files:
                if f.names and all(n.endswith('.pdf') for n in f.names) and not f.name_re \
                        and not f.optional:
                    surely |= {'%s/%d.parts/%s' % (box, uid, n) for n in f.names}
    m = mount_for(mount_factory, dv, 'binary')
    r = run(['find', m.path, '-path', '*.parts/*', '-name', '*.pdf'])
    found = {os.path.relpath(p, m.path) for p in r.stdout.decode('utf-8').splitlines()}
    assert 'built/%d.parts/2-Rechnung März.pdf' % dv.catalog.uids['built'][2] in found
    assert surely <= found, 'find missed %r' % sorted(surely - found)[:20]
    odd = []
    for path in found:
        box, rest = path.split('/', 1)
        uid, name = rest.split('.parts/', 1)
        ref = refs.get((box, int(uid)))
        if ref is None or not any(f.matches(name) for f in ref.files):
            odd.append(path)
    assert not odd, 'find found unexpected %r' % sorted(odd)[:20]
    assert len(surely) > 40
    assert r.returncode == 0, r.stderr.decode(errors='replace')

    c = dovecot.imap_client(dv)
    try:
        meta = dovecot.fetch_meta(c, 'built')
    finally:
        c.logout()
    refs = refs_of(dv, 'built')
    for uid, b in dv.catalog.keys['built'].items():
        if b.key not in ('attachments', 'rfc2231', 'nested', 'unsafe-names', 'big-attachment'):
            continue
        pdir = m.p('built', '%d.parts' % uid)
        r = run(['ls', '-l', '--time-style=+%s', pdir])
        assert r.returncode == 0, (b.key, r.stderr.decode(errors='replace'))
        seen = {}
        for line in r.stdout.decode('utf-8').splitlines()[1:]:  # after "total N"
            f = line.split(None, 6)
            assert len(f) == 7 and f[0].startswith('-'), (b.key, line)
            seen[f[6]] = (int(f[4]), int(f[5]))
        assert set(seen) == set(os.listdir(pdir)), b.key
        assert len(seen) == len(refs[uid].files), (b.key, sorted(seen))
        for name, (size, mtime) in seen.items():
            f = [f for f in refs[uid].files if f.matches(name)]
            # names themselves are test_built_messages' business
            want = len(f[0].content) if f else len(read_bytes(os.path.join(pdir, name)))
            assert (size, mtime) == (want, meta[uid][1]), (b.key, name, size, mtime)


def _big(dv):
    uid = dv.catalog.uids['big'][0]
    return uid, dv.catalog.big_attachment


RATIO_LIMIT = {'binary': 1.05, 'nobinary': 1.4}
HEAD_LIMIT = 128 << 10


@pytest.mark.parametrize('mode', MODES)
def test_cat_of_attachment_fetches_only_that_part(parts_server, mount_factory, mode):
    """A fresh mount; cat of the 3.75 MiB attachment (5 MiB of base64) of a
    6 MiB message: bytes received / attachment size <= 1.05 with BINARY,
    <= 1.4 without (base64 costs 4/3), listing of the mailbox and the .parts
    directory included. The figure from just after `ls` of the .parts
    directory (the read alone) is printed too."""
    uid, att = _big(parts_server)
    m = mount_for(mount_factory, parts_server, mode)
    start = bytes_received(m.path)
    assert '%d.parts' % uid in os.listdir(m.p('big'))
    pdir = m.p('big', '%d.parts' % uid)
    r = run(['ls', '-l', pdir])
    assert r.returncode == 0 and '2-attachment.pdf' in r.stdout.decode(), r
    after_ls = bytes_received(m.path)
    t0 = time.monotonic()
    r = run(['cat', os.path.join(pdir, '2-attachment.pdf')])
    secs = time.monotonic() - t0
    end = bytes_received(m.path)
    assert r.returncode == 0, r.stderr
    assert r.stdout == att, 'content differs at %d' % first_difference(r.stdout, att)
    total = (end - start) / len(att)
    read = (end - after_ls) / len(att)
    print('cat (%s): %d bytes received for a %d byte attachment: %.3f with the listing '
          '(%d bytes for ls of the mailbox and .parts), %.3f for the read alone; %.2f s'
          % (mode, end - start, len(att), total, after_ls - start, read, secs))
    assert total <= RATIO_LIMIT[mode], (
        'received %.3f x the attachment size (%d bytes; %d of them before the read)'
        % (total, end - start, after_ls - start))


@pytest.mark.parametrize('mode', MODES)
def test_head_of_attachment_fetches_little(parts_server, mount_factory, mode):
    """A fresh mount; head -c 4096 of the attachment: under 128 KiB received,
    listing included (the read alone printed too)."""
    uid, att = _big(parts_server)
    m = mount_for(mount_factory, parts_server, mode)
    start = bytes_received(m.path)
    pdir = m.p('big', '%d.parts' % uid)
    r = run(['ls', '-l', pdir])
    assert r.returncode == 0, r
    after_ls = bytes_received(m.path)
    t0 = time.monotonic()
    r = run(['head', '-c', '4096', os.path.join(pdir, '2-attachment.pdf')])
    secs = time.monotonic() - t0
    end = bytes_received(m.path)
    assert r.returncode == 0, r.stderr
    assert r.stdout == att[:4096]
    print('head -c 4096 (%s): %d bytes received with the listing (%d for ls), %d for the read '
          'alone; %.3f s' % (mode, end - start, after_ls - start, end - after_ls, secs))
    assert end - start < HEAD_LIMIT, '%d bytes received (%d of them before the read)' % (
        end - start, after_ls - start)


def read_whole(path):
    with open(path, 'rb') as f:
        return f.read()


def drop_pages(path):
    """The kernel forgets what it cached of the file (its page cache)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


@pytest.mark.parametrize('mode', MODES)
def test_a_part_read_whole_is_fetched_once(parts_server, mount_factory, mode, tmp_path):
    """cat of the 3.75 MiB attachment keeps it on disk: read again after the
    kernel dropped the file's pages, and again after a remount with the same
    cache directory (the listing and structure asked afresh), each later read
    receives under 5% of its size from the server."""
    uid, att = _big(parts_server)
    opts = ['tls=none', 'cache_dir=%s' % (tmp_path / 'cache')] + (
        ['nobinary'] if mode == 'nobinary' else [])
    m = mount_factory(parts_server.url('imap'), opts, password=parts_server.password)
    path = m.p('big', '%d.parts' % uid, '2-attachment.pdf')
    a = bytes_received(m.path)
    assert read_whole(path) == att
    b = bytes_received(m.path)
    assert b - a >= len(att), 'the first read fetched %d bytes' % (b - a)
    drop_pages(path)
    assert read_whole(path) == att
    c = bytes_received(m.path)
    print('%s: first read %d bytes from the server, again after the pages were dropped %d'
          % (mode, b - a, c - b))
    assert c - b < len(att) * 0.05, '%d bytes fetched again' % (c - b)
    m.stop()
    m = mount_factory(parts_server.url('imap'), opts, password=parts_server.password)
    path = m.p('big', '%d.parts' % uid, '2-attachment.pdf')
    d = bytes_received(m.path)
    assert read_whole(path) == att
    e = bytes_received(m.path)
    print('%s: after a remount %d bytes (listing and structure included)' % (mode, e - d))
    assert e - d < len(att) * 0.05, '%d bytes fetched after the remount' % (e - d)


STRUCTURE_OR_PART_CMD = re.compile(rb'BODYSTRUCTURE|BINARY(?:\.PEEK|\.SIZE)?\[|BODY(?:\.PEEK)?\[[0-9]')


def _walk_parts(box_dir, uids):
    """{'<uid>.parts/<name>': (size, user.mime_type)} of every part file."""
    seen = {}
    for uid in uids:
        d = os.path.join(box_dir, '%d.parts' % uid)
        for name in sorted(os.listdir(d)):
            p = os.path.join(d, name)
            seen['%d.parts/%s' % (uid, name)] = (os.stat(p).st_size, xattr(p, 'user.mime_type'))
    return seen


@pytest.mark.parametrize('mode', ['binary', 'nobinary'])
def test_structures_kept_across_a_remount(parts_server, mount_factory, mode, tmp_path):
    """Structures of .parts directories are kept on disk with the bodies: a
    walk listing and sizing every part of built and malformed (ls -l of each
    .parts directory), made again after a remount with the same cache
    directory, shows the same names, sizes and types and sends the server no
    BODYSTRUCTURE and no part fetch (the -d log of the second mount); the
    parts read afterwards are still right."""
    cat = parts_server.catalog
    boxes = ('built', 'malformed')
    opts = ['tls=none', 'cache_dir=%s' % (tmp_path / 'cache')] + (
        ['nobinary'] if mode == 'nobinary' else [])
    m = mount_factory(parts_server.url('imap'), opts, password=parts_server.password)
    first = {b: _walk_parts(m.p(b), cat.uids[b]) for b in boxes}
    assert sum(len(v) for v in first.values()) > 3 * sum(len(cat.uids[b]) for b in boxes)
    m.stop()
    m = mount_factory(parts_server.url('imap'), opts, password=parts_server.password,
                      debug=True)
    a = bytes_received(m.path)
    log_from = os.path.getsize(m.log_path)
    again = {b: _walk_parts(m.p(b), cat.uids[b]) for b in boxes}
    got = bytes_received(m.path) - a
    with open(m.log_path, 'rb') as f:
        f.seek(log_from)
        walk_log = f.read()
    assert again == first
    problems = []
    for b in boxes:
        refs = refs_of(parts_server, b)
        for uid in cat.uids[b]:
            check_message(m.p(b), refs[uid], problems, b)
    report(problems, '%s after a remount (%s)' % (', '.join(boxes), mode))
    print('%s: the walk after the remount received %d bytes for %d parts'
          % (mode, got, sum(len(v) for v in again.values())))
    hit = STRUCTURE_OR_PART_CMD.search(walk_log)
    assert not hit, 'the walk after the remount asked the server: %r' % (
        walk_log[max(0, hit.start() - 200):hit.start() + 100])


def test_head_of_a_part_keeps_nothing_and_fetches_little(parts_server, mount_factory, tmp_path):
    """Keeping parts on disk costs a partial read nothing: head -c 4096 of the
    big attachment, twice with its pages dropped between, receives under 128
    KiB each time (nothing of it was kept: it was never read whole)."""
    uid, att = _big(parts_server)
    m = mount_factory(parts_server.url('imap'),
                      ['tls=none', 'cache_dir=%s' % (tmp_path / 'cache')],
                      password=parts_server.password)
    path = m.p('big', '%d.parts' % uid, '2-attachment.pdf')
    os.listdir(m.p('big', '%d.parts' % uid))
    for _ in range(2):
        a = bytes_received(m.path)
        with open(path, 'rb') as f:
            assert f.read(4096) == att[:4096]
        assert bytes_received(m.path) - a < HEAD_LIMIT
        drop_pages(path)


def test_bytes_received_counts(parts_server, mount_factory):
    """user.imapfs.bytes_received on the root: a decimal count that grows
    by at least what was read from the server."""
    uid, att = _big(parts_server)
    m = mount_for(mount_factory, parts_server, 'binary')
    a = bytes_received(m.path)
    assert a > 0
    data = read_bytes(m.p('big', '%d.eml' % uid))
    b = bytes_received(m.path)
    assert b - a >= len(data) == len(parts_server.catalog.big_raw)
    assert bytes_received(m.path) >= b


BINARY_CMD = re.compile(rb'BINARY(?:\.PEEK|\.SIZE)?\[')


@pytest.mark.parametrize('mode', ALL_MODES)
def test_binary_only_where_allowed(parts_server, nobinary_server, mount_factory, mode):
    """With -o nobinary, or on a server without BINARY, the IMAP trace (-d)
    shows no BINARY fetch, and the parts are still right; with BINARY
    offered, imapfs uses it for the big base64 attachment."""
    dv = nobinary_server if mode == 'no-BINARY-server' else parts_server
    refs = refs_of(dv, 'built')
    m = mount_for(mount_factory, dv, 'nobinary' if mode == 'nobinary' else 'binary',
                  debug=True)
    problems = []
    big = None
    for uid, b in dv.catalog.keys['built'].items():
        if b.key in ('attachments', 'quoted-printable', 'octet-stream', 'base64-layouts'):
            check_message(m.p('built'), refs[uid], problems, 'built')
        if b.key == 'big-attachment':
            big = (uid, b.literal['2-attachment.pdf'][1])
    report(problems, 'built (%s, -d)' % mode)
    path = m.p('built', '%d.parts' % big[0], '2-attachment.pdf')
    with open(path, 'rb') as f:
        assert f.read(4096) == big[1][:4096]
        f.seek(3 << 20)
        assert f.read(100000) == big[1][3 << 20:(3 << 20) + 100000]
    m.stop()
    with open(m.log_path, 'rb') as f:
        log = f.read()
    hits = BINARY_CMD.findall(log)
    if mode == 'binary':
        assert hits, 'imapfs never asked for BINARY although the server offers it'
    else:
        i = BINARY_CMD.search(log)
        assert not hits, 'imapfs sent BINARY (%s): %r' % (
            mode, log[max(0, i.start() - 200):i.start() + 100])


@pytest.mark.parametrize('mode', MODES)
def test_parallel_reads(parts_server, mount_factory, mode):
    """Eight readers at once over every part and message of the built,
    malformed and sa-maildir mailboxes (as xargs -P or a file manager's
    thumbnailer would): every read gives the right bytes, none fails (the
    server's refusals and dropped connections for broken BINARY parts must
    not leak into other readers)."""
    import concurrent.futures
    dv = parts_server
    jobs = []
    m = mount_for(mount_factory, dv, mode)
    for box in ('built', 'malformed', 'sa-maildir'):
        for uid, r in refs_of(dv, box).items():
            jobs.append(('%s/%d.eml' % (box, uid), [r.eml]))
            rel = '%s/%d.parts' % (box, uid)
            for name in os.listdir(m.p(rel)):  # names are test_built_messages' business
                fs = [f for f in r.files if f.matches(name)]
                if len(fs) == 1:
                    jobs.append((rel + '/' + name, [fs[0].content] + (fs[0].contents or [])))
    m.stop()
    m = mount_for(mount_factory, dv, mode)  # fresh: nothing cached
    random.Random(5).shuffle(jobs)

    def read(job):
        rel, want = job
        try:
            got = read_bytes(m.p(rel))
        except OSError as e:
            return '%s: %s' % (rel, e)
        if got not in want:
            return '%s: %d bytes, expected %d, first difference at %d' % (
                rel, len(got), len(want[0]), first_difference(got, want[0]))
        return None

    t0 = time.monotonic()
    ex = concurrent.futures.ThreadPoolExecutor(8)
    try:
        results = bounded_map(ex, read, jobs, 240)
    finally:  # never wait for a reader stuck in the mount (the watchdog frees it)
        ex.shutdown(wait=False, cancel_futures=True)
    print('%d files read by 8 readers in %.1f s (%s)' % (len(jobs), time.monotonic() - t0, mode))
    problems = [r for r in results if r]
    report(problems, 'parallel reads (%s)' % mode)


def bounded_map(ex, fn, items, timeout):
    """ex.map with an overall time limit (AssertionError past it)."""
    import concurrent.futures
    futs = [ex.submit(fn, it) for it in items]
    done, pending = concurrent.futures.wait(futs, timeout)
    if pending:
        for f in pending:
            f.cancel()
        raise AssertionError('%d reads still running after %d s (hang)' % (len(pending), timeout))
    return [f.result() for f in futs]
