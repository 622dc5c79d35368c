#!/bin/bash
# Screenshots of a file manager on imapfs: mounts the demo (tests/demo) with
# readable names, opens its INBOX and a message's .parts folder in pcmanfm
# under a private Xvfb, and saves PNGs. Also prints what the thumbnails cost:
# bytes received from the server while showing them, showing them again, and
# reading a picture afterwards (user.imapfs.bytes_received).
#
#   doc/screenshot.sh [OUTDIR]     default OUTDIR: doc/screenshots
#
# Needs pcmanfm, Xvfb, xdotool and ImageMagick (installed with apt-get when
# run as root). Everything it starts it stops, by pid.
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(realpath -m "${1:-doc/screenshots}")
mkdir -p "$out"

need=()
command -v pcmanfm >/dev/null || need+=(pcmanfm)
command -v Xvfb >/dev/null || need+=(xvfb)
command -v xdotool >/dev/null || need+=(xdotool)
command -v import >/dev/null || need+=(imagemagick)
if ((${#need[@]})); then
	if [[ $(id -u) != 0 ]]; then
		echo "screenshot.sh: install ${need[*]} first" >&2
		exit 1
	fi
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

work=$(mktemp -d /tmp/imapfs-screenshot.XXXXXX)
mnt=$work/mail
xvfb_pid= fm_pid=
cleanup() {
	[[ -n $fm_pid ]] && kill "$fm_pid" 2>/dev/null || true
	[[ -n $xvfb_pid ]] && kill "$xvfb_pid" 2>/dev/null || true
	tests/demo stop >/dev/null 2>&1 || true
	rm -rf "$work"
}
trap cleanup EXIT

IMAPFS_OPTS=names=readable tests/demo "$mnt" >/dev/null

# A display of our own: the first free number from 90.
disp=90
while [[ -e /tmp/.X11-unix/X$disp || -e /tmp/.X$disp-lock ]] && ((disp < 190)); do
	disp=$((disp + 1))
done
Xvfb ":$disp" -screen 0 1280x800x24 -nolisten tcp >/dev/null 2>&1 &
xvfb_pid=$!
export DISPLAY=:$disp
for _ in $(seq 50); do
	xdotool getdisplaygeometry >/dev/null 2>&1 && break
	sleep 0.1
done

# A fresh profile: pcmanfm's settings and thumbnails are the script's own.
export HOME=$work/home XDG_CONFIG_HOME=$work/home/.config XDG_CACHE_HOME=$work/home/.cache
mkdir -p "$XDG_CONFIG_HOME/pcmanfm/default" "$XDG_CONFIG_HOME/libfm"
cat >"$XDG_CONFIG_HOME/libfm/libfm.conf" <<EOF
[config]
single_click=0
show_thumbnail=1
thumbnail_local=1
thumbnail_max=8192
EOF

bytes() { getfattr --only-values -n user.imapfs.bytes_received "$mnt"; }

# Opens dir in pcmanfm in view mode (list, thumbnail), waits for it to settle, saves png.
shot() {
	local dir=$1 mode=$2 png=$3
	cat >"$XDG_CONFIG_HOME/pcmanfm/default/pcmanfm.conf" <<EOF
[ui]
view_mode=$mode
win_width=1260
win_height=780
side_pane_mode=places
show_statusbar=1
sort=name;ascending;mingle;
EOF
	pcmanfm --no-desktop "$dir" >/dev/null 2>&1 &
	fm_pid=$!
	for _ in $(seq 100); do
		xdotool search --pid "$fm_pid" --onlyvisible --name . >/dev/null 2>&1 && break
		sleep 0.1
	done
	sleep 4 # listing, icons and thumbnails
	import -window root "$png"
	kill "$fm_pid" 2>/dev/null || true
	wait "$fm_pid" 2>/dev/null || true
	fm_pid=
}

shot "$mnt/INBOX" list "$out/mailbox.png"
parts=$(find "$mnt/INBOX" -maxdepth 1 -name '*Photos from the trip*.parts' | head -1)
b0=$(bytes)
shot "$parts" thumbnail "$out/parts.png"
b1=$(bytes)
shot "$parts" thumbnail "$work/again.png"
b2=$(bytes)
cat "$parts"/*beach*.png >/dev/null
b3=$(bytes)
echo "screenshots: $out/mailbox.png $out/parts.png"
echo "thumbnails of '$(basename "$parts")': $((b1 - b0)) bytes received;" \
	"shown again: $((b2 - b1)); cat of a picture after: $((b3 - b2))"
