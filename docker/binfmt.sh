#!/usr/bin/env bash
# Run arm64 (aarch64) binaries on an x86_64 Linux host under emulation, so that
# `IMAGES_ARCH=arm64 make images` (debootstrap's second stage) and arm64 containers work here.
# Idempotent: installs qemu-user-static and binfmt-support with apt only when missing, mounts
# binfmt_misc when it is not mounted, enables qemu-aarch64 when it is not enabled.
#
#   docker/binfmt.sh          (as root)
#
# Nothing to do on an arm64 host, nor on Docker Desktop (its VM already emulates other
# architectures); this script is for Linux x86_64 hosts and CI machines.
set -euo pipefail

say() { printf '%s\n' "$*"; }

case "$(uname -m)" in
	aarch64 | arm64)
		say "[OK] cette machine est déjà arm64 : rien à émuler / this host is arm64: nothing to emulate"
		exit 0
		;;
esac
if [ "$(uname -s)" != Linux ]; then
	say "[FAIL] ce script ne vaut que pour Linux (Docker Desktop émule déjà arm64) / Linux only (Docker Desktop already emulates arm64)" >&2
	exit 1
fi
if [ "$(id -u)" != 0 ]; then
	say "[FAIL] lancez ce script en root (sudo bash docker/binfmt.sh) / run this script as root" >&2
	exit 1
fi

entry=/proc/sys/fs/binfmt_misc/qemu-aarch64
enabled() { [ -r "$entry" ] && head -n 1 "$entry" | grep -qx enabled; }

if enabled && [ -x /usr/bin/qemu-aarch64-static ]; then
	say "[OK] qemu-aarch64 déjà actif / already enabled ($(head -n 2 "$entry" | tail -n 1))"
	exit 0
fi

missing=()
for pkg in qemu-user-static binfmt-support; do
	if ! dpkg-query -W -f '${Status}' "$pkg" 2>/dev/null | grep -q 'ok installed'; then
		missing+=("$pkg")
	fi
done
if [ "${#missing[@]}" -gt 0 ]; then
	if ! command -v apt-get >/dev/null 2>&1; then
		say "[FAIL] installez ${missing[*]} avec le gestionnaire de paquets de votre distribution / install ${missing[*]} with your distribution's package manager" >&2
		exit 1
	fi
	say "[INSTALL] ${missing[*]} (apt-get)"
	export DEBIAN_FRONTEND=noninteractive
	timeout 600 apt-get update -qq
	timeout 900 apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! mountpoint -q /proc/sys/fs/binfmt_misc; then
	say "[MOUNT] binfmt_misc"
	mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
fi
if ! enabled; then
	say "[ENABLE] qemu-aarch64"
	# registers the interpreter from binfmt-support's import file (the package's postinst may
	# have failed to when binfmt_misc was not mounted yet)
	update-binfmts --import qemu-aarch64 >/dev/null 2>&1 || :
	enabled || update-binfmts --enable qemu-aarch64
fi
if ! enabled; then
	say "[FAIL] qemu-aarch64 n'a pas pu être activé / could not be enabled (see update-binfmts --display qemu-aarch64)" >&2
	exit 1
fi
say "[OK] qemu-aarch64 actif / enabled ($(head -n 2 "$entry" | tail -n 1))"
