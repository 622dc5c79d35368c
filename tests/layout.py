#!/usr/bin/python3
"""The house rules of src/, checked from the code itself.

    tests/layout.py          check, print what is wrong, exit 1 if anything is
    tests/layout.py --graph  print the include graph of the layers and files

Rules (doc/architecture.md, "Layers"):
  - a file includes only files of its own folder or of a lower layer;
  - no circle between files: file A uses B when A names a function that B
    defines for others (headers only declare; a public header such as
    store.h is implemented by several files of its folder);
  - IMAP command text (a string literal starting with a command such as
    "UID FETCH" or "STATUS") and capability tests live in driver/ (and
    imap/, session/ for the connection's own commands), never in store/, fs/
    or watch/;
  - no file over 1,200 lines, no function over 120.
Reads the sources as text: no compiler, nothing built.
"""
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SRC = os.path.join(ROOT, 'src')

# Lower layers first; a folder may include only ranks below its own.
RANK = {
    'util': 0, 'log': 0, 'config': 0,
    'imap': 1, 'mime': 1, 'net': 1,
    'session': 2,
    'driver': 3, 'options': 3,
    'store': 4, 'credentials': 4,
    'fs': 5, 'watch': 5,
    'main': 6,
}
NO_COMMANDS = ('store', 'fs', 'watch')
COMMANDS = ('UID', 'FETCH', 'STORE', 'SEARCH', 'STATUS', 'SELECT', 'EXAMINE', 'LIST', 'LSUB',
            'APPEND', 'COPY', 'MOVE', 'EXPUNGE', 'CREATE', 'DELETE', 'RENAME', 'NOOP', 'IDLE',
            'NOTIFY', 'GETQUOTA', 'GETQUOTAROOT', 'GETACL', 'SETACL', 'DELETEACL', 'MYRIGHTS',
            'LISTRIGHTS', 'NAMESPACE', 'SUBSCRIBE', 'UNSUBSCRIBE', 'ENABLE', 'UNSELECT', 'CLOSE',
            'LOGOUT', 'CAPABILITY', 'LOGIN', 'AUTHENTICATE', 'STARTTLS', 'COMPRESS', 'ESEARCH',
            'BODYSTRUCTURE', 'BODY.PEEK', 'BINARY.PEEK', 'RFC822.SIZE', 'INTERNALDATE')
COMMAND_RE = re.compile(r'^\s*(?:' + '|'.join(re.escape(c) for c in COMMANDS) + r')(?![a-z_])')
MAX_FILE_LINES = 1200
MAX_FUNCTION_LINES = 120


def sources():
    for dirpath, _, names in os.walk(SRC):
        for n in sorted(names):
            if n.endswith(('.c', '.h')):
                yield os.path.relpath(os.path.join(dirpath, n), SRC)


def layer(rel):
    parts = rel.split('/')
    return parts[0] if len(parts) > 1 else os.path.splitext(parts[0])[0]


def strip_comments(text):
    return re.sub(r'/\*.*?\*/|//[^\n]*', lambda m: '\n' * m.group(0).count('\n'), text, flags=re.S)


def includes(text):
    return re.findall(r'^#include "([^"]+)"', text, flags=re.M)


def module(rel):
    return os.path.splitext(rel)[0]


def functions(text):
    """(name, first line, last line, static) of each function defined at column 0."""
    lines = text.split('\n')
    out = []
    for i, line in enumerate(lines):
        if line != '{':
            continue
        start = i - 1
        while start > 0 and lines[start - 1] and not lines[start - 1].startswith(('/', ' *', '#', '}')) \
                and lines[start - 1][0] in ' \t' + ''.join(map(chr, range(97, 123))):
            start -= 1
        head = ' '.join(lines[start:i])
        m = re.search(r'(\w+)\s*\(', head)
        if not m:
            continue
        end = i
        while end < len(lines) and not lines[end].startswith('}'):
            end += 1
        out.append((m.group(1), start + 1, end + 1, head.lstrip().startswith(('static', 'inline'))))
    return out


def main():
    texts = {rel: open(os.path.join(SRC, rel), encoding='utf-8').read() for rel in sources()}
    code = {rel: strip_comments(t) for rel, t in texts.items()}
    problems = []
    edges = {}

    # Includes: same folder or lower layers only.
    for rel, t in texts.items():
        for inc in includes(t):
            if inc == 'config.h':
                continue
            if inc not in texts:
                problems.append(f'{rel}: includes {inc}, which is not in src/')
                continue
            a, b = layer(rel), layer(inc)
            if a != b and RANK[b] >= RANK[a]:
                problems.append(f'{rel}: includes {inc} of layer {b}, not below {a}')

    # Calls: who uses the functions a module defines for others.
    defined = {}
    for rel, t in code.items():
        if rel.endswith('.c'):
            for name, _, _, static in functions(t):
                if not static:
                    defined[name] = module(rel)
    for rel, t in code.items():
        if not rel.endswith('.c'):
            continue
        for word in set(re.findall(r'\b([a-z_]\w*)\b', t)):
            owner = defined.get(word)
            if owner and owner != module(rel):
                edges.setdefault(module(rel), set()).add(owner)
        edges.setdefault(module(rel), set())

    for cycle in circles(edges):
        problems.append('circle: ' + ' -> '.join(cycle + [cycle[0]]))

    # Command text and capability tests only below the store.
    for rel, t in code.items():
        if layer(rel) not in NO_COMMANDS:
            continue
        # Log lines may name a command ("APPEND of x failed"); they send none.
        sent = re.sub(r'\blog_\w+\((?:[^;"]|"(?:[^"\\\n]|\\.)*")*\);', '', t)
        for lit in re.findall(r'"((?:[^"\\\n]|\\.)*)"', sent):
            if COMMAND_RE.match(lit):
                problems.append(f'{rel}: IMAP command text "{lit}" (it belongs in driver/)')
        if 'session_has_cap(' in t:
            problems.append(f'{rel}: tests a capability (it belongs in driver/)')

    # Sizes.
    for rel, t in texts.items():
        n = t.count('\n')
        if n > MAX_FILE_LINES:
            problems.append(f'{rel}: {n} lines (at most {MAX_FILE_LINES})')
        if rel.endswith('.c'):
            for name, first, last, _ in functions(t):
                if last - first + 1 > MAX_FUNCTION_LINES:
                    problems.append(f'{rel}:{first}: {name}() is {last - first + 1} lines '
                                    f'(at most {MAX_FUNCTION_LINES})')

    if '--graph' in sys.argv:
        print_graph(texts, edges)
    for p in problems:
        print('layout: ' + p, file=sys.stderr)
    return 1 if problems else 0


def circles(edges):
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def print_graph(texts, edges):
    folders = {}
    for rel in texts:
        folders.setdefault(layer(rel), set())
    for a, bs in edges.items():
        for b in bs:
            la, lb = layer(a + '.c'), layer(b + '.c')
            if la != lb:
                folders[la].add(lb)
    print('Layers, top down (each uses only the ones listed after its arrow):')
    for f in sorted(folders, key=lambda f: (-RANK[f], f)):
        uses = ', '.join(sorted(folders[f], key=lambda g: (-RANK[g], g)))
        print(f'  {f:12} -> {uses}' if uses else f'  {f}')
    print('\nFiles, with the files whose functions each uses:')
    for a in sorted(edges):
        print(f'  {a} -> ' + ', '.join(sorted(edges[a])))


if __name__ == '__main__':
    sys.exit(main())
