# SPDX-License-Identifier: GPL-2.0-or-later
"""Load tests (issue 7): 16 parallel readers hash every message and every
part of a 5,000-message mailbox through the mount.

Run:  /usr/bin/python3 -m pytest tests/test_load.py   (-rA prints figures)

The mailbox (one private Dovecot on 127.0.0.1 for the module, mailbox
'load'): 5,000 messages, deterministic -- SpamAssassin corpus messages for
most (small text, real HTML spam, a few real attachments), plus built HTML
messages (text/html alone, multipart/alternative, multipart/related with an
inline image; quoted-printable and base64) and built messages with base64
attachments of 20-500 KB (PDF, JPEG, ZIP, unknown bytes, RFC 2231 and
RFC 2047 file names, an attached message/rfc822 every few).

References:
- every <uid>.eml: sha256 of BODY.PEEK[] fetched with imaplib;
- every file of every <uid>.parts/: its bytes read through a second, fresh
  mount with `-o connections=1`, one file after another (no concurrency
  anywhere), so that a concurrency bug shows as a mismatch between the two;
  the attachments this module built are also checked against the bytes that
  were encoded, and each file's st_size against its length.

test_parallel_readers: 16 threads, on a mount with default options, each
list every <uid>.parts/ and hash every file, each in its own order; 0
mismatches, 0 errors.

test_parallel_readers_server_restarts: the same on a fresh mount with
`-o timeout=5` while the Dovecot server is killed (with its imap processes)
and restarted on the same port twice, at 1/3 and 2/3 of the run: every
operation returns exactly the right bytes (or names) or fails with EIO --
never other bytes, another errno or a hang -- and afterwards a sequential
pass that drops each file's page cache first reads every file correctly
from the server.

Thread orders: the messages are cut into blocks of BLOCK consecutive UIDs
that every thread walks in the same sequence, each thread in its own order
inside a block (thread 0 sorted, thread 1 reversed, the others shuffled
with their own seed). So the files not yet in the page cache are met by
many threads at once all along the run (the same file read by several
threads before it is cached, different files on all the pool's
connections), and a server restart at any time hits reads in flight.
"""

import base64
import email.utils
import errno
import hashlib
import math
import os
import quopri
import random
import shutil
import threading
import time

import pytest

import corpus
import dovecot
from conftest import Mount, bounded, is_mounted

MAILBOX = 'load'
N_MESSAGES = 5000
N_HTML = 300            # built HTML messages
N_ATTACH = 250          # built messages with base64 attachments
ATT_MIN, ATT_MAX = 20 << 10, 500 << 10
READERS = 16
BLOCK = 40              # messages per block of the thread orders
CHUNK = 128 << 10       # bytes per read(2)
HANG_SECONDS = 60.0     # one operation (list, or open+read+close) longer: a hang
RESTART_DOWNTIME = 1.0  # seconds the server stays down at each restart
FINAL_RETRIES = 10      # EIO retries allowed in all of the final pass
SEED = 20240607


# --------------------------------------------------------------------------
# the mailbox

def _date(i):
    """A deterministic RFC 5322 date."""
    return email.utils.formatdate(1262304000 + 4099 * i, localtime=False)


def _b64_lines(data):
    b = base64.b64encode(data)
    return b''.join(b[i:i + 76] + b'\r\n' for i in range(0, len(b), 76))


def _qp(text):
    return quopri.encodestring(text.encode('utf-8')).replace(b'\r\n', b'\n').replace(
        b'\n', b'\r\n')


def _crlf(b):
    return b.replace(b'\r\n', b'\n').replace(b'\n', b'\r\n')


def _head(i, subject, ctype):
    return _crlf((
        'From: Load Sender %d <load%d@example.org>\n'
        'To: Alice <alice@example.org>\n'
        'Subject: %s\n'
        'Date: %s\n'
        'Message-ID: <load-%d@imapfs.test>\n'
        'MIME-Version: 1.0\n'
        'Content-Type: %s\n' % (i, i % 97, subject, _date(i), i, ctype)).encode('utf-8'))


_WORDS = ('invoice meeting report quarterly Grüße straße naïve café déjà über '
          'schedule agenda budget review draft final urgent lunch Friday '
          'こんにちは mailbox attachment server client').split()


def _text(rnd, n_words):
    words = [rnd.choice(_WORDS) for _ in range(n_words)]
    lines, line = [], []
    for w in words:
        line.append(w)
        if rnd.random() < 0.08:
            lines.append(' '.join(line))
            line = []
    lines.append(' '.join(line))
    return '\n'.join(lines) + '\n'


def make_html_message(i, rnd):
    """text/html alone (QP), multipart/alternative (QP plain + base64 html),
    or multipart/related (alternative + an inline PNG)."""
    text = _text(rnd, rnd.randint(30, 600))
    html = ('<html><head><meta charset="utf-8"><title>m%d</title></head><body>\n'
            % i + ''.join('<p style="color:#%06x">%s</p>\n' % (rnd.randrange(1 << 24), line)
                          for line in text.splitlines()) + '</body></html>\n')
    kind = i % 3
    b = b'=_load_%d_' % i
    if kind == 0:
        head = _head(i, 'HTML newsletter %d' % i, 'text/html; charset=utf-8')
        return head + b'Content-Transfer-Encoding: quoted-printable\r\n\r\n' + _qp(html), {}
    alt = (b'--' + b + b'alt\r\nContent-Type: text/plain; charset=utf-8\r\n'
           b'Content-Transfer-Encoding: quoted-printable\r\n\r\n' + _qp(text)
           + b'\r\n--' + b + b'alt\r\nContent-Type: text/html; charset=utf-8\r\n'
           b'Content-Transfer-Encoding: base64\r\n\r\n'
           + _b64_lines(html.encode('utf-8')) + b'--' + b + b'alt--\r\n')
    if kind == 1:
        head = _head(i, 'HTML and text %d' % i,
                     'multipart/alternative; boundary="%salt"' % b.decode())
        return head + b'\r\nThis is a multi-part message in MIME format.\r\n\r\n' + alt, {}
    png = b'\x89PNG\r\n\x1a\n' + rnd.randbytes(rnd.randint(2000, 12000))
    head = _head(i, 'HTML with an inline image %d' % i,
                 'multipart/related; boundary="%srel"; type="multipart/alternative"'
                 % b.decode())
    body = (b'\r\n--' + b + b'rel\r\nContent-Type: multipart/alternative; boundary="'
            + b + b'alt"\r\n\r\n' + alt
            + b'\r\n--' + b + b'rel\r\nContent-Type: image/png; name="logo%d.png"\r\n'
            b'Content-Transfer-Encoding: base64\r\nContent-ID: <logo%d@imapfs.test>\r\n'
            b'Content-Disposition: inline; filename="logo%d.png"\r\n\r\n' % (i, i, i)
            + _b64_lines(png) + b'--' + b + b'rel--\r\n')
    # sections: 1.1 plain, 1.2 html, 2 the image
    return head + body, {'2-logo%d.png' % i: hashlib.sha256(png).hexdigest()}


_MAGIC = {
    'pdf': (b'application/pdf', b'%PDF-1.4\n%\xe2\xe3\xcf\xd3\n'),
    'jpg': (b'image/jpeg', b'\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01'),
    'zip': (b'application/zip', b'PK\x03\x04\x14\x00\x00\x00\x08\x00'),
    'dat': (b'application/octet-stream', b''),
}


def _attachment(rnd):
    """(bytes, type, extension): a random size log-uniform in [ATT_MIN, ATT_MAX]."""
    size = int(math.exp(rnd.uniform(math.log(ATT_MIN), math.log(ATT_MAX))))
    ext = rnd.choice(sorted(_MAGIC))
    ctype, magic = _MAGIC[ext]
    return magic + rnd.randbytes(size - len(magic)), ctype, ext


def _att_part(data, ctype, filename, style):
    """A base64 body part with its file name in the header as `style` says:
    'plain' (quoted), '2231' (filename*=utf-8''...), '2047' (name="=?...?=")."""
    if style == '2231':
        enc = ''.join(chr(b) if chr(b).isascii() and (chr(b).isalnum() or chr(b) in '.-_')
                      else '%%%02X' % b for b in filename.encode('utf-8'))
        disp = b"attachment; filename*=utf-8''" + enc.encode()
        name = b'name*=utf-8\'\'' + enc.encode()
    elif style == '2047':
        word = b'=?utf-8?B?' + base64.b64encode(filename.encode('utf-8')) + b'?='
        disp = b'attachment; filename="' + word + b'"'
        name = b'name="' + word + b'"'
    else:
        disp = b'attachment; filename="' + filename.encode() + b'"'
        name = b'name="' + filename.encode() + b'"'
    return (b'Content-Type: ' + ctype + b'; ' + name + b'\r\nContent-Disposition: ' + disp
            + b'\r\nContent-Transfer-Encoding: base64\r\n\r\n' + _b64_lines(data))


def make_attachment_message(i, rnd):
    """multipart/mixed: a text part, 1-2 base64 attachments of 20-500 KB,
    and every fifth message an attached message/rfc822 with its own text and
    attachment. Returns (raw, {part file name: sha256 of its bytes})."""
    b = b'=_load_att_%d' % i
    want = {}
    parts = [b'Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit'
             b'\r\n\r\n' + _crlf(_text(rnd, rnd.randint(20, 200)).encode('utf-8'))]
    styles = ('plain', '2231', '2047')
    for k in range(rnd.randint(1, 2)):
        data, ctype, ext = _attachment(rnd)
        stem = rnd.choice(('Rechnung März', 'report', 'photo', 'scan', 'Übersicht'))
        filename = '%s %d-%d.%s' % (stem, i, k, ext)
        parts.append(_att_part(data, ctype, filename, styles[(i + k) % 3]))
        want['%d-%s' % (len(parts), filename)] = hashlib.sha256(data).hexdigest()
    if i % 5 == 0:
        data, ctype, ext = _attachment(rnd)
        data = data[:60 << 10]
        ib = b'=_load_inner_%d' % i
        inner = (_head(100000 + i, 'forwarded %d' % i,
                       'multipart/mixed; boundary="%s"' % ib.decode())
                 + b'\r\n--' + ib + b'\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n'
                 + b'The forwarded text.\r\n--' + ib + b'\r\n'
                 + _att_part(data, ctype, 'inner-%d.%s' % (i, ext), 'plain')
                 + b'--' + ib + b'--\r\n')
        parts.append(b'Content-Type: message/rfc822\r\nContent-Disposition: attachment'
                     b'\r\n\r\n' + inner)
        sec = len(parts)
        want['%d.eml' % sec] = None   # the server's BODY[sec]: see attached_messages()
        want['%d.2-inner-%d.%s' % (sec, i, ext)] = hashlib.sha256(data).hexdigest()
    head = _head(i, 'attachments %d' % i, 'multipart/mixed; boundary="%s"' % b.decode())
    body = b'\r\n'
    for p in parts:
        body += b'--' + b + b'\r\n' + p
        if not p.endswith(b'\r\n'):
            body += b'\r\n'
    body += b'--' + b + b'--\r\n'
    return head + body, want


def build_messages():
    """The 5,000 messages in APPEND order: [(raw, {part name: sha256})]."""
    rnd = random.Random(SEED)
    n_sa = N_MESSAGES - N_HTML - N_ATTACH
    sa = corpus.spamassassin_messages(n_sa)
    built = [make_html_message(i, random.Random(SEED + i)) for i in range(N_HTML)]
    built += [make_attachment_message(N_HTML + i, random.Random(SEED + N_HTML + i))
              for i in range(N_ATTACH)]
    # spread the built messages over the UIDs, deterministically
    rnd.shuffle(built)
    slots = sorted(rnd.sample(range(N_MESSAGES), len(built)))
    out, it_sa, it_b = [], iter(sa), iter(built)
    for k in range(N_MESSAGES):
        out.append(next(it_b) if slots and k == slots[0] else (next(it_sa), {}))
        if slots and k == slots[0]:
            slots.pop(0)
    assert len(out) == N_MESSAGES
    return out


class Load:
    """The module's server and what it holds."""
    dv = None
    uids = ()           # [uid] in order
    eml = None          # uid -> (size, sha256) from BODY.PEEK[]
    built = None        # uid -> {part name: sha256} of the parts built here
    seconds = 0.0


@pytest.fixture(scope='module')
def load(_preflight):
    t0 = time.monotonic()
    base = dovecot.make_basedir('imapfs-load-')
    dv = dovecot.Dovecot(os.path.join(base, 'dovecot'))
    try:
        dv.start()
        msgs = build_messages()
        c = dovecot.imap_client(dv, timeout=120)
        try:
            dovecot.create_mailbox(c, MAILBOX)
        finally:
            c.logout()
        uids = dovecot.append_many(dv, MAILBOX, [
            (raw, dovecot.imap_date(1262304000 + 3607 * k, (0, 120, -480, 330)[k % 4]), None)
            for k, (raw, _) in enumerate(msgs)])
        assert len(uids) == N_MESSAGES == len(set(uids))
        ld = Load()
        ld.dv = dv
        ld.uids = uids
        ld.built = {u: want for u, (_, want) in zip(uids, msgs) if want}
        ld.eml = server_hashes(dv, uids)
        for u, (raw, want) in zip(uids, msgs):
            # the built messages come back as they were APPENDed (Dovecot
            # rewrites a few corpus messages: bare CR, NUL)
            if want:
                assert ld.eml[u] == (len(raw), hashlib.sha256(raw).hexdigest()), u
        del msgs
        attached_messages(dv, ld.built)
        ld.seconds = time.monotonic() - t0
        print('\nload: %d messages, %.1f MB, seeded and hashed in %.1f s'
              % (len(uids), sum(s for s, _ in ld.eml.values()) / 1e6, ld.seconds))
        yield ld
    finally:
        dv.stop()
        shutil.rmtree(base, ignore_errors=True)


def attached_messages(dv, built):
    """Fill in the sha256 of each attached message/rfc822 (want[name] None):
    its file holds the server's raw BODY.PEEK[section] (Dovecot's includes
    the CRLF that precedes the next delimiter)."""
    c = dovecot.imap_client(dv, timeout=120)
    try:
        dovecot.select(c, MAILBOX)
        for uid, want in sorted(built.items()):
            for name in [n for n, v in want.items() if v is None]:
                sec = name[:-len('.eml')]
                typ, data = c.uid('FETCH', str(uid), '(BODY.PEEK[%s])' % sec)
                bodies = [d[1] for d in data if isinstance(d, tuple)]
                assert typ == 'OK' and len(bodies) == 1, (uid, sec, typ, data)
                want[name] = hashlib.sha256(bodies[0]).hexdigest()
    finally:
        c.logout()


def server_hashes(dv, uids):
    """uid -> (size, sha256 of BODY.PEEK[]), fetched with imaplib in batches."""
    out = {}
    c = dovecot.imap_client(dv, timeout=120)
    try:
        assert dovecot.select(c, MAILBOX) == len(uids)
        for k in range(0, len(uids), 500):
            batch = uids[k:k + 500]
            for uid, body in dovecot.fetch_bodies(c, batch).items():
                out[uid] = (len(body), hashlib.sha256(body).hexdigest())
        typ, data = c.uid('SEARCH', 'UNSEEN')
        assert typ == 'OK'
        assert len(data[0].split()) == len(uids), 'the reference fetch set \\Seen'
    finally:
        c.logout()
    assert sorted(out) == sorted(uids)
    return out


# --------------------------------------------------------------------------
# reading

def read_file(path, size_hint=None, progress=None, hook=None):
    """open, fstat, read to EOF in CHUNK reads, close. Returns (st_size,
    length read, sha256 hex). The loop is bounded by the size expected.
    progress (a list), if given, gets the bytes read so far as its [0]
    (-1 until open succeeded); hook(path, bytes so far, st_size), if given,
    is called after each read(2) that returned data."""
    if progress is not None:
        progress[0] = -1
    fd = os.open(path, os.O_RDONLY)
    if progress is not None:
        progress[0] = 0
    try:
        st_size = os.fstat(fd).st_size
        limit = (max(st_size, size_hint or 0) // CHUNK) + 3
        h = hashlib.sha256()
        n = 0
        for _ in range(limit):
            b = os.read(fd, CHUNK)
            if not b:
                break
            h.update(b)
            n += len(b)
            if progress is not None:
                progress[0] = n
            if hook is not None:
                hook(path, n, st_size)
        return st_size, n, h.hexdigest()
    finally:
        os.close(fd)


def read_file_uncached(path):
    """read_file after dropping the file's pages from the page cache, so
    that the bytes come from imapfs (and the server), not the kernel."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)
    return read_file(path)


def bytes_received(m):
    return int(os.getxattr(m.path, 'user.imapfs.bytes_received'))


class Reference:
    """What every reader must see: per message the names in <uid>.parts/
    and per file (relative path) its (size, sha256)."""

    def __init__(self):
        self.names = {}     # uid -> sorted names in <uid>.parts/
        self.files = {}     # rel path -> (size, sha256)
        self.seconds = 0.0
        self.part_bytes = 0


@pytest.fixture(scope='module')
def reference(load, tmp_path_factory):
    """Every part file read through a fresh mount with -o connections=1,
    sequentially; .eml references from the server."""
    ref = Reference()
    mp = str(tmp_path_factory.mktemp('ref') / 'mnt')
    m = Mount(load.dv.url('imap'), mp, ['tls=none', 'connections=1'],
              password=load.dv.password)
    t0 = time.monotonic()
    try:
        m.start()
        box = m.p(MAILBOX)
        want = {'%d.eml' % u for u in load.uids} | {'%d.parts' % u for u in load.uids}
        got = set(os.listdir(box))
        assert got == want, ('mailbox listing differs from the server: missing %r, extra %r'
                             % (sorted(want - got)[:10], sorted(got - want)[:10]))
        problems = []
        for u in load.uids:
            ref.files['%d.eml' % u] = load.eml[u]
            d = os.path.join(box, '%d.parts' % u)
            names = sorted(os.listdir(d))
            ref.names[u] = names
            if 'header.txt' not in names or len(names) < 2:
                problems.append('%d.parts holds %r' % (u, names))
            for name in names:
                st_size, n, h = read_file(os.path.join(d, name))
                if st_size != n:
                    problems.append('%d.parts/%s: st_size %d, %d bytes read'
                                    % (u, name, st_size, n))
                ref.files['%d.parts/%s' % (u, name)] = (n, h)
                ref.part_bytes += n
            for name, sha in load.built.get(u, {}).items():
                if name not in names:
                    problems.append('%d.parts has no %r (it has %r)' % (u, name, names))
                elif ref.files['%d.parts/%s' % (u, name)][1] != sha:
                    problems.append('%d.parts/%s: not the bytes that were encoded'
                                    % (u, name))
        ref.seconds = time.monotonic() - t0
        assert not problems, '%d problems in the reference pass:\n  %s' % (
            len(problems), '\n  '.join(problems[:30]))
    finally:
        m.cleanup()
    n_parts = len(ref.files) - len(load.uids)
    print('\nreference (connections=1, sequential): %d part files, %.1f MB in %.1f s, '
          '%.1f MB/s' % (n_parts, ref.part_bytes / 1e6, ref.seconds,
                         ref.part_bytes / 1e6 / max(ref.seconds, 1e-9)))
    return ref


def thread_orders(load, ref):
    """READERS operation lists. An operation is ('list', uid) or ('read',
    rel path). Blocks of BLOCK messages in UID order, shared by all threads;
    inside a block each thread has its own order."""
    orders = []
    for t in range(READERS):
        rnd = random.Random(SEED * 31 + t)
        ops = []
        for k in range(0, len(load.uids), BLOCK):
            block = []
            for u in load.uids[k:k + BLOCK]:
                block.append(('list', u))
                block.append(('read', '%d.eml' % u))
                block.extend(('read', '%d.parts/%s' % (u, n)) for n in ref.names[u])
            if t == 0:
                pass
            elif t == 1:
                block.reverse()
            else:
                rnd.shuffle(block)
            ops.extend(block)
        orders.append(ops)
    return orders


class Outcome:
    def __init__(self):
        self.lock = threading.Lock()
        self.ok = 0
        self.bytes = 0
        self.eio = 0
        self.mismatches = []     # (thread, op, what)
        self.errors = []         # (thread, op, exception) other than EIO
        self.hangs = []          # (thread, op, seconds)
        self.done = 0            # operations finished (any outcome)
        self.eio_events = []     # (time, kind, thread, rel path) of each EIO
        self.reads_ok = 0        # of ok: files read right (the rest: listings)


def run_readers(box, orders, ref, outcome, *, on_progress=None, allow_eio=False,
                stop=None, hook=None, dump=None):
    """Run one thread per order; each operation is timed, and one that
    takes longer than HANG_SECONDS is recorded as a hang (and the caller's
    `stop` callback, which kills imapfs, unblocks it). Returns seconds."""
    current = [None] * len(orders)   # (op, start) of each thread
    finished = threading.Event()

    def reader(t, ops):
        progress = [None]
        for op in ops:
            progress[0] = None
            if finished.is_set():
                return
            current[t] = (op, time.monotonic())
            try:
                if op[0] == 'list':
                    names = sorted(os.listdir(os.path.join(box, '%d.parts' % op[1])))
                    if names != ref.names[op[1]]:
                        with outcome.lock:
                            outcome.mismatches.append((t, op, 'names %r' % (names,)))
                    else:
                        with outcome.lock:
                            outcome.ok += 1
                else:
                    size, sha = ref.files[op[1]]
                    st_size, n, h = read_file(os.path.join(box, op[1]), size, progress, hook)
                    if (n, h) != (size, sha) or st_size != size:
                        with outcome.lock:
                            outcome.mismatches.append(
                                (t, op, 'st_size %d, %d bytes read, sha256 %s; want %d '
                                 'bytes, %s' % (st_size, n, h[:16], size, sha[:16])))
                    else:
                        with outcome.lock:
                            outcome.ok += 1
                            outcome.reads_ok += 1
                            outcome.bytes += n
            except OSError as e:
                with outcome.lock:
                    if allow_eio and e.errno == errno.EIO:
                        outcome.eio += 1
                        kind = op[0]
                        if kind == 'read':
                            kind = ('open' if progress[0] == -1 else
                                    'read at 0' if progress[0] == 0 else 'read mid-file')
                        outcome.eio_events.append((time.monotonic(), kind, t, op[1]))
                    else:
                        outcome.errors.append((t, op, e))
            except Exception as e:  # noqa: B902 -- reported by the test
                with outcome.lock:
                    outcome.errors.append((t, op, e))
            current[t] = None
            with outcome.lock:
                outcome.done += 1

    threads = [threading.Thread(target=reader, args=(t, ops), daemon=True,
                                name='reader-%d' % t)
               for t, ops in enumerate(orders)]
    t0 = time.monotonic()
    for th in threads:
        th.start()
    total = sum(len(o) for o in orders)
    # bounded: a hang is detected within HANG_SECONDS, and the whole run is
    # capped by conftest's per-test watchdog
    try:
        for _ in range(int(3600 / 0.05)):
            if not any(th.is_alive() for th in threads):
                break
            now = time.monotonic()
            for t, cur in enumerate(current):
                if cur is not None and now - cur[1] > HANG_SECONDS:
                    outcome.hangs.append((t, cur[0], now - cur[1]))
            if outcome.hangs:
                if dump is not None:
                    dump()
                if stop is not None:
                    stop()
                break
            if on_progress is not None:
                on_progress(outcome.done, total)
            time.sleep(0.05)
    finally:
        finished.set()   # on a hang or an exception here, the readers stop
    for th in threads:
        th.join(HANG_SECONDS)
    alive = [t for t, th in enumerate(threads) if th.is_alive()]
    if alive and not outcome.hangs:
        outcome.hangs.append((alive[0], current[alive[0]], -1))
    return time.monotonic() - t0


def report(outcome, limit=20):
    lines = []
    for t, op, what in outcome.mismatches[:limit]:
        lines.append('MISMATCH thread %d %s %s: %s' % (t, op[0], op[1], what))
    for t, op, e in outcome.errors[:limit]:
        lines.append('ERROR thread %d %s %s: %r' % (t, op[0], op[1], e))
    for t, op, secs in outcome.hangs[:limit]:
        lines.append('HANG thread %d %r: %.0f s' % (t, op, secs))
    return '\n  '.join(lines)


def _figures(label, outcome, n_ops, secs, m):
    mb = outcome.bytes / 1e6
    print('\n%s: %d readers x (%d files + %d listings) = %d operations; '
          '%.1f MB read correctly in %.1f s, %.1f MB/s; %.1f MB received from the server'
          % (label, READERS, n_ops // READERS - N_MESSAGES, N_MESSAGES, n_ops, mb, secs,
             mb / max(secs, 1e-9), bytes_received(m) / 1e6 if m else -1))


class Restarts:
    """Kills the server (Dovecot.stop: the master and its imap processes)
    and starts it again on the same port, twice: when 1/3 and 2/3 of the
    run's operations are done. At each point a reader that is the first to
    have read the first CHUNK of a file of more than 2 CHUNKs is held there
    while the connections are cut: at the first restart it reads on while
    the server is down, at the second once it is back. If no reader gets to
    such a file before another 10% of the operations are done, the restart
    happens without one. on_progress runs in run_readers'
    monitoring loop; hook in the readers."""

    HOLD_SECONDS = 30.0

    def __init__(self, dv, box):
        self.dv = dv
        self.box = box
        self.restarts = []   # (done, total, t_down, t_up, held or None)
        self.lock = threading.Lock()
        self.armed = False
        self.held = None
        self.seen = set()   # the files of more than 2 CHUNKs read past CHUNK

    def hook(self, path, n, size):
        if n != CHUNK or size <= 2 * CHUNK:
            return
        with self.lock:
            first = path not in self.seen   # no other reader got this far
            self.seen.add(path)
            if not first or not self.armed or self.held is not None:
                return
            held = self.held = {
                'rel': os.path.relpath(path, self.box), 'path': os.path.basename(path),
                'at': n, 'size': size, 'go': threading.Event(),
                'thread': int(threading.current_thread().name.split('-')[1])}
        held['go'].wait(self.HOLD_SECONDS)

    def on_progress(self, done, total):
        k = len(self.restarts)
        if k >= 2 or done < total * (k + 1) // 3:
            return
        with self.lock:
            self.armed = True
            held = self.held
        if held is None and done < total * (k + 1) // 3 + total // 10:
            return
        t0 = time.monotonic()
        self.dv.stop()
        if held is not None and k == 0:
            held['go'].set()
        time.sleep(RESTART_DOWNTIME)
        self.dv.start()
        t1 = time.monotonic()
        if held is not None:
            held['go'].set()
        with self.lock:
            self.armed = False
            self.held = None
        self.restarts.append((done, total, t0, t1, held))


# --------------------------------------------------------------------------
# the tests

def test_parallel_readers(load, reference, tmp_path):
    """16 threads list and hash everything through a default mount: every
    listing and every file equals the reference, and nothing fails."""
    m = Mount(load.dv.url('imap'), str(tmp_path / 'mnt'), ['tls=none'],
              password=load.dv.password)
    try:
        m.start()
        orders = thread_orders(load, reference)
        outcome = Outcome()
        secs = run_readers(m.p(MAILBOX), orders, reference, outcome, stop=m.kill,
                           dump=m.print_stacks)
        n_ops = sum(len(o) for o in orders)
        _figures('parallel readers', outcome, n_ops, secs,
                 m if m.proc.poll() is None else None)
        print('  right: %d (%d file reads, %d listings); mismatches %d; errors %d; '
              'hangs %d' % (outcome.ok, outcome.reads_ok, outcome.ok - outcome.reads_ok,
                            len(outcome.mismatches), len(outcome.errors),
                            len(outcome.hangs)))
        assert not (outcome.mismatches or outcome.errors or outcome.hangs), (
            '%d mismatches, %d errors, %d hangs of %d operations:\n  %s'
            % (len(outcome.mismatches), len(outcome.errors), len(outcome.hangs), n_ops,
               report(outcome)))
        assert outcome.ok == n_ops
        assert is_mounted(m.path) and m.proc.poll() is None
        # and all that reading set no \Seen flag
        c = dovecot.imap_client(load.dv)
        try:
            dovecot.select(c, MAILBOX)
            typ, data = c.uid('SEARCH', 'SEEN')
            assert typ == 'OK' and data[0].split() == [], 'reading set \\Seen: %r' % data
        finally:
            c.logout()
    finally:
        m.cleanup()


def test_parallel_readers_server_restarts(load, reference, tmp_path):
    """The same readers while the server is killed and restarted twice:
    right bytes or EIO, nothing else; then the mount recovers."""
    dv = load.dv
    # No disk cache: the final pass must prove the restarted pool serves.
    m = Mount(dv.url('imap'), str(tmp_path / 'mnt'), ['tls=none', 'timeout=5', 'cache_size=0'],
              password=dv.password)
    ctl = Restarts(dv, m.p(MAILBOX))
    try:
        m.start()
        orders = thread_orders(load, reference)
        outcome = Outcome()
        secs = run_readers(m.p(MAILBOX), orders, reference, outcome,
                           on_progress=ctl.on_progress, hook=ctl.hook, allow_eio=True,
                           stop=m.kill, dump=m.print_stacks)
        restarts = ctl.restarts

        n_ops = sum(len(o) for o in orders)
        _figures('parallel readers, 2 server restarts', outcome, n_ops, secs,
                 m if m.proc.poll() is None else None)
        ev = sorted(outcome.eio_events)
        for k, (done, total, t_down, t_up, held) in enumerate(restarts):
            t_next = restarts[k + 1][2] if k + 1 < len(restarts) else float('inf')
            mine = [(t, kind) for t, kind, _, _ in ev if t_down <= t < t_next]
            if held:
                eio = [kind for t, kind, th, path in ev
                       if t >= t_down and th == held['thread'] and path == held['rel']]
                held['result'] = ('EIO (%s)' % eio[0]) if eio else 'the right bytes'
            kinds = {}
            for _, kd in mine:
                kinds[kd] = kinds.get(kd, 0) + 1
            print('  server killed after %d of %d operations, back after %.1f s: '
                  '%d EIO (%s), the last %.1f s after it was back'
                  % (done, total, t_up - t_down, len(mine),
                     ', '.join('%s %d' % kv for kv in sorted(kinds.items())),
                     (mine[-1][0] - t_up) if mine else float('nan')))
            if held:
                print('    a reader held %s open after %d of %d bytes, read on %s: %s'
                      % (held['path'], held['at'], held['size'],
                         'while the server was down' if k == 0 else 'after the restart',
                         held.get('result', 'no result')))
        early = [e for e in ev if not restarts or e[0] < restarts[0][2]]
        if early:
            print('  %d EIO before the first restart' % len(early))
        print('  right: %d (%d file reads, %d listings); EIO %d; mismatches %d; '
              'other errors %d; hangs %d'
              % (outcome.ok, outcome.reads_ok, outcome.ok - outcome.reads_ok, outcome.eio,
                 len(outcome.mismatches), len(outcome.errors), len(outcome.hangs)))
        assert not (outcome.mismatches or outcome.errors or outcome.hangs), (
            '%d mismatches, %d errors other than EIO, %d hangs of %d operations '
            '(%d EIO):\n  %s' % (len(outcome.mismatches), len(outcome.errors),
                                 len(outcome.hangs), n_ops, outcome.eio, report(outcome)))
        assert len(restarts) == 2, 'the run ended before both restarts: %r' % restarts
        assert all(r[0] < r[1] for r in restarts)
        assert outcome.ok + outcome.eio == n_ops
        assert is_mounted(m.path) and m.proc.poll() is None, m.stderr()[-3000:]

        # recovery: every file once more, its page cache dropped first, so
        # that the bytes come from the server through the restarted pool
        before = bytes_received(m)
        t0 = time.monotonic()
        retries = []
        problems = []
        box = m.p(MAILBOX)
        for rel, (size, sha) in sorted(reference.files.items()):
            for _ in range(FINAL_RETRIES + 1):
                result, exc, _ = bounded(HANG_SECONDS, read_file_uncached,
                                            os.path.join(box, rel))
                if (isinstance(exc, OSError) and exc.errno == errno.EIO
                        and len(retries) < FINAL_RETRIES):
                    retries.append((rel, time.monotonic() - t0))
                    time.sleep(0.5)
                    continue
                if exc is not None:
                    problems.append('%s: %r' % (rel, exc))
                elif result != (size, size, sha):
                    problems.append('%s: st_size %d, %d bytes, sha256 %s; want %d bytes, %s'
                                    % (rel, result[0], result[1], result[2][:16], size,
                                       sha[:16]))
                break
        secs = time.monotonic() - t0
        got = bytes_received(m) - before
        total_bytes = sum(s for s, _ in reference.files.values())
        print('\nfinal sequential pass: %d files, %.1f MB in %.1f s, %.1f MB/s; '
              '%.1f MB received; %d EIO retries %r'
              % (len(reference.files), total_bytes / 1e6, secs, total_bytes / 1e6 / secs,
                 got / 1e6, len(retries), retries[:5]))
        assert not problems, ('%d files not read correctly after the last restart:\n  %s'
                              % (len(problems), '\n  '.join(problems[:30])))
        # the pass really went to the server, not to the page cache
        assert got >= total_bytes // 2, (got, total_bytes)
    finally:
        m.cleanup()
