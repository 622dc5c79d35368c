# SPDX-License-Identifier: GPL-2.0-or-later
"""Installing and living with imapfs: the man page, `meson install`, the
Debian package (build, contents, install, mount, remove), `mount -t
fuse.imapfs`, fstab lines (root and an ordinary user), the systemd user unit's
command lines, and the -d output's discretion about the password.

Run as root (dpkg -i, mount): /usr/bin/python3 -m pytest tests/test_packaging.py

The package is installed for the tests of this module that need it and
removed (dpkg --purge) afterwards; the tests fail if imapfs is already
installed, rather than replace or remove what someone else put there.
/etc/fstab is never touched: `mount -T FILE` reads a temporary fstab, and the
ordinary-user test runs in a private mount namespace with a temporary file
bound over /etc/fstab. Every server is a private Dovecot on 127.0.0.1; every
wait is bounded; processes are stopped by pid.
"""

import base64
import hashlib
import os
import pwd
import re
import shlex
import shutil
import signal
import subprocess
import tempfile
import time

import pytest

import dovecot
from conftest import IMAPFS_BIN, REPO, Mount, is_mounted

BUILD_DEB = os.path.join(REPO, 'packaging', 'build-deb')
DEBIAN_DIR = os.path.join(REPO, 'packaging', 'debian')
UNIT = os.path.join(REPO, 'packaging', 'systemd', 'imapfs@.service')
MAN_PAGE = os.path.join(REPO, 'imapfs.1')
INSTALLED_BIN = '/usr/bin/imapfs'
INSTALLED_UNIT = '/usr/lib/systemd/user/imapfs@.service'
FUSERMOUNT = shutil.which('fusermount3') or '/usr/bin/fusermount3'

SUBJECTS = ['Packaging test %d' % i for i in range(3)]


# --------------------------------------------------------------------------
# helpers

def run(argv, timeout=60, check=True, **kw):
    """subprocess.run with text output captured and a bound on time."""
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, timeout=timeout, **kw)
    if check and p.returncode != 0:
        raise AssertionError('%s exited with %d\nstdout:\n%s\nstderr:\n%s' % (
            ' '.join(shlex.quote(a) for a in argv), p.returncode, p.stdout, p.stderr))
    return p


def meson_version():
    with open(os.path.join(REPO, 'meson.build')) as f:
        m = re.search(r"version\s*:\s*'([^']+)'", f.read())
    assert m, 'no version in meson.build'
    return m.group(1)


def imapfs_pids(mountpoint):
    """Pids of imapfs processes whose command line names mountpoint."""
    mountpoint = os.path.realpath(mountpoint)
    pids = []
    for d in os.listdir('/proc'):
        if not d.isdigit():
            continue
        try:
            with open('/proc/%s/cmdline' % d, 'rb') as f:
                argv = f.read().split(b'\0')
        except OSError:
            continue
        if argv and os.path.basename(argv[0]) == b'imapfs' and \
                mountpoint.encode() in argv:
            pids.append(int(d))
    return pids


def wait_for(pred, timeout, step=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(step)
    return pred()


def pid_gone(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    # a zombie of ours would linger; reap it if it is our child
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
        return done == pid
    except ChildProcessError:
        pass
    try:
        with open('/proc/%d/stat' % pid) as f:
            return f.read().rsplit(')', 1)[1].split()[0] == 'Z'
    except OSError:
        return True


def force_cleanup(mountpoint):
    """After a failed test: detach the mount and stop its imapfs, by pid."""
    if is_mounted(mountpoint):
        subprocess.run(['umount', '-l', mountpoint], timeout=20,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for pid in imapfs_pids(mountpoint):
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                break
            if wait_for(lambda: pid_gone(pid), 5):
                break


def write_private(path, text):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, 'w') as f:
        f.write(text)
    return path


def server_messages(dv, mailbox='INBOX'):
    c = dovecot.imap_client(dv)
    try:
        dovecot.select(c, mailbox)
        return dovecot.fetch_bodies(c)
    finally:
        c.logout()


def check_mount_shows_server(mnt, dv):
    """The mount lists INBOX's messages and serves their exact bytes."""
    want = server_messages(dv)
    assert want, 'the test server has no mail'
    names = sorted(n for n in os.listdir(os.path.join(mnt, 'INBOX')) if n.endswith('.eml'))
    assert names == sorted('%d.eml' % uid for uid in want)
    for uid, body in want.items():
        with open(os.path.join(mnt, 'INBOX', '%d.eml' % uid), 'rb') as f:
            assert f.read() == body


def mount_with_mount8(argv, mnt, dv, timeout=30):
    """Runs a mount(8) command line that mounts imapfs on mnt (daemonized),
    checks the mount, unmounts it with umount(8) and checks that imapfs
    exits. Cleans up by pid if anything fails."""
    try:
        p = run(argv, timeout=timeout, check=False)
        assert p.returncode == 0, 'mount failed (%d): %s%s' % (p.returncode, p.stdout, p.stderr)
        assert is_mounted(mnt)
        with open('/proc/self/mountinfo') as f:
            line = [ln for ln in f if (' %s ' % os.path.realpath(mnt)) in ln]
        assert line and ' - fuse.imapfs ' in line[-1], line
        pids = imapfs_pids(mnt)
        assert len(pids) == 1, 'expected one imapfs daemon for %s, found %r' % (mnt, pids)
        check_mount_shows_server(mnt, dv)
        run(['umount', mnt], timeout=20)
        assert not is_mounted(mnt)
        assert wait_for(lambda: pid_gone(pids[0]), 10), 'imapfs did not exit after umount'
    finally:
        force_cleanup(mnt)


# --------------------------------------------------------------------------
# fixtures

@pytest.fixture(scope='module')
def small_server():
    """A plaintext private Dovecot whose INBOX holds three small messages."""
    base = dovecot.make_basedir('imapfs-pkg-')
    dv = dovecot.Dovecot(os.path.join(base, 'dovecot'))
    try:
        dv.start()
        dovecot.append_many(dv, 'INBOX', [
            (dovecot.make_message(s, 'Body of %s.\n' % s, msgid='<pkg-%d@imapfs.test>' % i),
             None, None) for i, s in enumerate(SUBJECTS)])
        yield dv
    finally:
        dv.stop()
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope='module')
def deb():
    """packaging/build-deb into a temporary directory: the imapfs .deb."""
    out = tempfile.mkdtemp(prefix='imapfs-deb-out-')
    try:
        p = run([BUILD_DEB, out], timeout=600, check=False)
        assert p.returncode == 0, 'packaging/build-deb failed:\n%s\n%s' % (p.stdout, p.stderr)
        path = p.stdout.strip().splitlines()[-1]
        assert os.path.isfile(path) and os.path.dirname(path) == out, p.stdout
        yield path
    finally:
        shutil.rmtree(out, ignore_errors=True)


def _installed_status():
    p = subprocess.run(['dpkg-query', '-W', '-f=${Status}', 'imapfs'],
                       stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, timeout=30)
    return p.stdout.strip() if p.returncode == 0 else ''


def dpkg(args, check=True, lock_wait=180):
    """dpkg ARGS, waiting (bounded) while another dpkg or apt holds the lock."""
    deadline = time.monotonic() + lock_wait
    while True:
        p = run(['dpkg'] + args, timeout=120, check=False,
                env=dict(os.environ, DEBIAN_FRONTEND='noninteractive'))
        if p.returncode == 0 or 'lock' not in p.stderr or time.monotonic() > deadline:
            break
        time.sleep(2)
    if check:
        assert p.returncode == 0, 'dpkg %s exited with %d:\n%s%s' % (
            ' '.join(args), p.returncode, p.stdout, p.stderr)
    return p


@pytest.fixture(scope='module')
def installed(deb):
    """The .deb installed with dpkg -i for this module, purged afterwards."""
    assert os.geteuid() == 0, 'installing the package needs root'
    status = _installed_status()
    assert not status.endswith(' installed'), (
        'the imapfs package is already installed (%s): remove it first '
        '(dpkg -r imapfs); these tests install and remove their own' % status)
    assert not os.path.exists(INSTALLED_BIN), '%s exists already' % INSTALLED_BIN
    try:
        dpkg(['-i', deb])
        yield deb
    finally:
        dpkg(['--purge', 'imapfs'], check=False)
        assert _installed_status() in ('', 'unknown ok not-installed',
                                        'deinstall ok config-files', 'purge ok not-installed'), \
            _installed_status()
        assert not os.path.exists(INSTALLED_BIN)
        assert not os.path.exists(INSTALLED_UNIT)


# --------------------------------------------------------------------------
# the man page

def test_man_page_renders_without_warnings():
    p = run(['man', '-l', MAN_PAGE], env=dict(os.environ, MANWIDTH='80', MANPAGER='cat',
                                              PAGER='cat'))
    assert p.stderr == '', p.stderr
    text = p.stdout
    p = run(['groff', '-man', '-ww', '-z', MAN_PAGE])
    assert p.stdout == '' and p.stderr == '', p.stderr
    for width in ('80n', '65n'):
        p = run(['groff', '-man', '-Tutf8', '-ww', '-z', '-rLL=' + width, MAN_PAGE])
        assert p.stderr == '', p.stderr
    for section in ('SYNOPSIS', 'OPTIONS', 'CHANGING MAIL', 'MOUNTING WITH MOUNT AND FSTAB',
                    'MOUNTING WITH SYSTEMD', 'EXAMPLES', 'ENVIRONMENT', 'FILES', 'SEE ALSO'):
        assert re.search(r'^%s$' % re.escape(section), text, re.M), section
    for needle in ('fuse.imapfs', 'noauto,user,_netdev', 'imapfs@.service', 'EACCES', 'EPERM',
                   'ENOTEMPTY', 'IMAPFS_PASSWORD', 'user.imap.flags'):
        assert needle in text, needle


def test_man_page_lists_every_option_of_help():
    """`imapfs --help` and the man page list the same imapfs options."""
    p = run([IMAPFS_BIN, '--help'])
    ours = p.stdout.split('FUSE options:')[0]
    names = set(re.findall(r'^\s+-o ([a-z_]+)', ours, re.M))
    assert {'tls', 'cafile', 'password_file', 'password_command', 'timeout',
            'connections', 'ro'} <= names, names
    man = run(['man', '-l', MAN_PAGE], env=dict(os.environ, MANWIDTH='200',
                                                MANPAGER='cat', PAGER='cat')).stdout
    options = man.split('\nOPTIONS\n', 1)[1].split('\nCHANGING MAIL\n', 1)[0]
    missing = sorted(n for n in names if not re.search(r'-o %s\b' % n, options))
    assert not missing, 'options in --help but not in imapfs.1: %s' % missing


# --------------------------------------------------------------------------
# meson install

def test_meson_install_into_destdir(tmp_path):
    build = tmp_path / 'build'
    dest = tmp_path / 'dest'
    run(['meson', 'setup', str(build), '--prefix=/usr'], cwd=REPO, timeout=120)
    run(['ninja', '-C', str(build), 'imapfs'], timeout=300)
    run(['meson', 'install', '-C', str(build), '--no-rebuild', '--destdir', str(dest)],
        timeout=120)
    binary = dest / 'usr' / 'bin' / 'imapfs'
    man = dest / 'usr' / 'share' / 'man' / 'man1' / 'imapfs.1'
    assert binary.is_file() and os.access(binary, os.X_OK)
    assert man.is_file()
    with open(MAN_PAGE, 'rb') as a, open(man, 'rb') as b:
        assert a.read() == b.read()
    p = run([str(binary), '--version'])
    assert p.stdout.startswith('imapfs %s\n' % meson_version()), p.stdout
    assert not os.path.exists(os.path.join(REPO, 'debian'))


# --------------------------------------------------------------------------
# the Debian package

def test_deb_version_matches_meson():
    p = run(['dpkg-parsechangelog', '-l', os.path.join(DEBIAN_DIR, 'changelog'),
             '-S', 'Version'])
    assert p.stdout.strip() == meson_version()
    with open(os.path.join(DEBIAN_DIR, 'source', 'format')) as f:
        assert f.read().strip() == '3.0 (native)'


def test_deb_builds_with_expected_contents(deb):
    assert not os.path.exists(os.path.join(REPO, 'debian')), 'build-deb left debian/ in the tree'
    assert os.path.basename(deb) == 'imapfs_%s_%s.deb' % (
        meson_version(), run(['dpkg', '--print-architecture']).stdout.strip())
    listing = run(['dpkg-deb', '-c', deb]).stdout
    files = {line.split()[-1] for line in listing.splitlines() if line.strip()}
    for want in ('./usr/bin/imapfs', './usr/share/man/man1/imapfs.1.gz',
                 './usr/lib/systemd/user/imapfs@.service',
                 './usr/share/doc/imapfs/copyright',
                 './usr/share/doc/imapfs/examples/account.conf.example'):
        assert want in files, '%s not in the package:\n%s' % (want, listing)
    assert any(f.startswith('./usr/share/doc/imapfs/user-guide.md') for f in files), listing
    assert not any('mount.fuse.imapfs' in f for f in files)
    depends = run(['dpkg-deb', '-f', deb, 'Depends']).stdout
    deps = {d.strip().split()[0] for d in depends.split(',')}
    assert {'fuse3', 'libfuse3-3', 'libssl3', 'libmagic1'} <= deps, depends
    assert run(['dpkg-deb', '-f', deb, 'Version']).stdout.strip() == meson_version()


def test_installed_package_mounts(installed, tls_server, test_ca, tmp_path):
    p = run([INSTALLED_BIN, '--version'])
    assert p.stdout.startswith('imapfs %s\n' % meson_version()), p.stdout
    assert run(['man', '-w', 'imapfs']).stdout.strip() == '/usr/share/man/man1/imapfs.1.gz'
    assert os.path.isfile(INSTALLED_UNIT)
    url = 'imaps://%s@localhost:%d' % (tls_server.user, tls_server.imaps_port)
    m = Mount(url, str(tmp_path / 'mnt'), ['cafile=' + test_ca.ca_cert],
              password=tls_server.password, password_via='file', binary=INSTALLED_BIN)
    try:
        with m:
            subjects = set()
            for uid in tls_server.seed.uids['INBOX']:
                with open(m.p('INBOX', '%d.eml' % uid), 'rb') as f:
                    subjects |= set(re.findall(rb'^Subject: (.*?)\r?$', f.read(), re.M))
            assert subjects == {b'TLS 0', b'TLS 1', b'TLS 2'}
        assert m.returncode == 0, m.stderr()
    finally:
        m.cleanup()


def test_systemd_unit_verifies(installed, tmp_path):
    """systemd-analyze verify accepts the installed user unit. It runs as
    nobody, so it can touch nothing of the machine."""
    home = tempfile.mkdtemp(prefix='imapfs-unit-')
    try:
        os.chmod(home, 0o755)
        os.chown(home, pwd.getpwnam('nobody').pw_uid, -1)
        p = run(['runuser', '-u', 'nobody', '--', 'env', 'HOME=' + home,
                 'XDG_RUNTIME_DIR=' + home, 'systemd-analyze', '--user', 'verify',
                 INSTALLED_UNIT.replace('@.service', '@test.service')],
                timeout=60, check=False, cwd=home)
        assert p.returncode == 0 and 'imapfs' not in p.stderr, p.stdout + p.stderr
    finally:
        shutil.rmtree(home, ignore_errors=True)


# --------------------------------------------------------------------------
# mount(8) and fstab

def test_mount_t_fuse_imapfs(installed, small_server, tmp_path):
    mnt = str(tmp_path / 'mnt')
    os.mkdir(mnt)
    pw = write_private(str(tmp_path / 'pw'), small_server.password + '\n')
    mount_with_mount8(['mount', '-t', 'fuse.imapfs', small_server.url('imap'), mnt,
                       '-o', 'tls=none,password_file=%s,_netdev,noauto' % pw], mnt, small_server)


def test_fstab_line_with_mount_T(installed, small_server, tmp_path):
    """The user guide's fstab line (here with tls=none for the plaintext test
    server), read from a temporary fstab with mount -T, mounted by its mount
    point alone."""
    mnt = str(tmp_path / 'mail')
    os.mkdir(mnt)
    pw = write_private(str(tmp_path / 'pw'), small_server.password + '\n')
    fstab = tmp_path / 'fstab'
    fstab.write_text('# a temporary fstab for imapfs tests\n'
                     '%s %s fuse.imapfs noauto,user,_netdev,tls=none,password_file=%s 0 0\n'
                     % (small_server.url('imap'), mnt, pw))
    mount_with_mount8(['mount', '-T', str(fstab), mnt], mnt, small_server)


def test_fstab_user_mount_by_ordinary_user(installed, small_server):
    """With `user`, an ordinary user (nobody) mounts the fstab line herself,
    imapfs runs as her, and she unmounts it with umount. Runs in a private
    mount namespace where a temporary fstab is bound over /etc/fstab (and a
    0666 node of /dev/fuse over /dev/fuse, which may be 0600 here)."""
    nobody = pwd.getpwnam('nobody')
    base = tempfile.mkdtemp(prefix='imapfs-usermount-')
    mnt = os.path.join(base, 'mail')
    try:
        os.chmod(base, 0o755)
        os.mkdir(mnt)
        pw = write_private(os.path.join(base, 'pw'), small_server.password + '\n')
        for path in (mnt, pw):
            os.chown(path, nobody.pw_uid, nobody.pw_gid)
        fstab = os.path.join(base, 'fstab')
        with open(fstab, 'w') as f:
            f.write('%s %s fuse.imapfs noauto,user,_netdev,tls=none,password_file=%s 0 0\n'
                    % (small_server.url('imap'), mnt, pw))
        uid = min(server_messages(small_server))
        script = r'''
set -u
fusenode=%(base)s/fuse
mknod "$fusenode" c 10 229 && chmod 666 "$fusenode" && mount --bind "$fusenode" /dev/fuse
mount --bind %(fstab)s /etc/fstab
cleanup() {
    umount -l %(mnt)s 2>/dev/null
    for pid in $(pgrep -f '^imapfs .*%(mnt)s'); do kill "$pid"; done
}
trap cleanup EXIT
runuser -u nobody -- mount %(mnt)s; echo "mount=$?"
grep -q ' %(mnt)s .* - fuse.imapfs ' /proc/self/mountinfo && echo mounted=yes
echo "owner=$(ps -o user= -p "$(pgrep -f '^imapfs .*%(mnt)s' | head -n1)")"
echo "sha=$(runuser -u nobody -- sha256sum %(mnt)s/INBOX/%(uid)d.eml | cut -d' ' -f1)"
runuser -u nobody -- umount %(mnt)s; echo "umount=$?"
for i in $(seq 100); do pgrep -f '^imapfs .*%(mnt)s' >/dev/null || break; sleep 0.1; done
pgrep -f '^imapfs .*%(mnt)s' >/dev/null && echo exited=no || echo exited=yes
''' % {'base': base, 'fstab': fstab, 'mnt': mnt, 'uid': uid}
        p = run(['unshare', '-m', '--propagation', 'private', 'bash', '-c', script],
                timeout=90, check=False)
        out = dict(line.split('=', 1) for line in p.stdout.splitlines() if '=' in line)
        want = hashlib.sha256(server_messages(small_server)[uid]).hexdigest()
        assert out.get('mount') == '0', p.stdout + p.stderr
        assert out.get('mounted') == 'yes', p.stdout + p.stderr
        assert out.get('owner') == 'nobody', p.stdout + p.stderr
        assert out.get('sha') == want, p.stdout + p.stderr
        assert out.get('umount') == '0', p.stdout + p.stderr
        assert out.get('exited') == 'yes', p.stdout + p.stderr
    finally:
        for pid in imapfs_pids(mnt):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        shutil.rmtree(base, ignore_errors=True)


# --------------------------------------------------------------------------
# the systemd unit's command lines

def parse_environment_file(text):
    """A systemd EnvironmentFile (systemd.exec(5)): VAR=value lines, '#' and
    ';' comments, double-quoted values with shell escapes, single-quoted
    values verbatim."""
    env = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line[0] in '#;' or '=' not in line:
            continue
        name, value = line.split('=', 1)
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] == "'":
            value = value[1:-1]
        elif len(value) >= 2 and value[0] == value[-1] == '"':
            value = re.sub(r'\\([\\"`$])', r'\1', value[1:-1])
        env[name.strip()] = value
    return env


def unit_commands(unit_text, key):
    return [line.split('=', 1)[1] for line in unit_text.splitlines()
            if line.startswith(key + '=')]


def expand_command(line, env, home, instance):
    """An Exec line as systemd runs it: '-' prefix noted, specifiers %h %i
    replaced, ${VAR} one word, $VAR split with quotes respected, $$ a '$',
    a bare command resolved on the standard path."""
    ignore = line.startswith('-')
    line = line.lstrip('-')
    line = line.replace('%h', home).replace('%i', instance)
    argv = []
    for word in shlex.split(line):
        m = re.fullmatch(r'\$([A-Za-z_][A-Za-z0-9_]*)', word)
        if m:
            argv += shlex.split(env.get(m.group(1), ''))
            continue
        word = re.sub(r'\$\{([A-Za-z_][A-Za-z0-9_]*)\}', lambda m: env.get(m.group(1), ''), word)
        argv.append(word.replace('$$', '$'))
    if '/' not in argv[0]:
        found = shutil.which(argv[0], path='/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin')
        assert found, argv[0]
        argv[0] = found
    return ignore, argv


def test_systemd_unit_commands_mount_and_unmount(installed, small_server, tmp_path):
    """The installed unit's ExecStartPre/ExecStart/ExecStop, run with the
    environment file of the documented format (as systemd.exec(5) and
    systemd.service(5) say they expand), mount the account and unmount it
    cleanly; after a SIGKILL, ExecStopPost detaches the dead mount."""
    with open(INSTALLED_UNIT) as f:
        unit = f.read()
    assert 'EnvironmentFile=%h/.config/imapfs/%i.conf' in unit
    assert re.search(r'^Restart=on-failure$', unit, re.M)
    assert re.search(r'^After=.*network-online\.target', unit, re.M)
    home = str(tmp_path / 'home')
    mnt = os.path.join(home, 'mail')   # created by ExecStartPre
    os.makedirs(os.path.join(home, '.config', 'imapfs'))
    pw = write_private(os.path.join(home, 'pw'), small_server.password + '\n')
    conf = write_private(os.path.join(home, '.config', 'imapfs', 'test.conf'),
                         '# the account of imapfs@test.service\n'
                         'IMAPFS_URL=%s\n'
                         'IMAPFS_MOUNTPOINT=%s\n'
                         'IMAPFS_OPTIONS="-o tls=none -o \'password_command=head -n 1 %s\'"\n'
                         % (small_server.url('imap'), mnt, pw))
    with open(conf) as f:
        env = parse_environment_file(f.read())
    child_env = {k: v for k, v in os.environ.items() if k != 'IMAPFS_PASSWORD'}
    child_env.update(env, HOME=home)

    def start():
        for line in unit_commands(unit, 'ExecStartPre'):
            ignore, argv = expand_command(line, env, home, 'test')
            p = run(argv, timeout=30, check=False, env=child_env)
            assert ignore or p.returncode == 0, (argv, p.stderr)
        [line] = unit_commands(unit, 'ExecStart')
        _, argv = expand_command(line, env, home, 'test')
        assert argv[1] == '-f' and 'password_command=head -n 1 %s' % pw in argv, argv
        log = open(os.path.join(home, 'log'), 'ab')
        proc = subprocess.Popen(argv, env=child_env, stdin=subprocess.DEVNULL,
                                stdout=log, stderr=log)
        log.close()
        ok = wait_for(lambda: is_mounted(mnt) or proc.poll() is not None, 15)
        assert ok and is_mounted(mnt), open(os.path.join(home, 'log')).read()
        return proc

    proc = None
    try:
        proc = start()
        check_mount_shows_server(mnt, small_server)
        for line in unit_commands(unit, 'ExecStop'):
            _, argv = expand_command(line, env, home, 'test')
            run(argv, timeout=30, env=child_env)
        assert proc.wait(15) == 0, open(os.path.join(home, 'log')).read()
        assert not is_mounted(mnt)

        # killed: the dead mount is left behind, ExecStopPost detaches it
        proc = start()
        proc.kill()
        proc.wait(10)
        assert is_mounted(mnt)
        post_env = dict(child_env, EXIT_CODE='killed', EXIT_STATUS='KILL')
        for line in unit_commands(unit, 'ExecStopPost'):
            _, argv = expand_command(line, env, home, 'test')
            run(argv, timeout=30, env=post_env)
        assert not is_mounted(mnt)
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait(10)
        if is_mounted(mnt):
            subprocess.run([FUSERMOUNT, '-u', '-z', mnt], timeout=20)


# --------------------------------------------------------------------------
# the -d output

@pytest.mark.parametrize('via', ['env', 'file', 'command'])
def test_debug_output_never_contains_the_password(small_server, tmp_path, via):
    """imapfs -d shows the IMAP conversation but neither the password nor
    the base64 AUTHENTICATE PLAIN string that carries it."""
    dv = small_server
    opts = ['tls=none']
    kw = {'password': dv.password, 'password_via': via}
    if via == 'command':
        pw = write_private(str(tmp_path / 'pw'), dv.password + '\n')
        opts.append('password_command=cat ' + pw)
        kw = {'password': None, 'password_via': None}
    m = Mount(dv.url('imap'), str(tmp_path / 'mnt'), opts, debug=True, **kw)
    try:
        with m:
            check_mount_shows_server(m.path, dv)
        log = m.stderr()
    finally:
        m.cleanup()
    assert 'AUTHENTICATE <credentials hidden>' in log, log[:3000]
    assert re.search(r'S\d+: .*FETCH', log), 'no IMAP trace in the -d output'
    plain = ('\0%s\0%s' % (dv.user, dv.password)).encode()
    secrets = [dv.password, 'Pw-7gQ2', base64.b64encode(plain).decode(),
               base64.b64encode(('%s\0%s\0%s' % (dv.user, dv.user, dv.password)).encode()).decode(),
               base64.b64encode(dv.password.encode()).decode()]
    for s in secrets:
        assert s not in log, 'the -d output contains %r' % s
