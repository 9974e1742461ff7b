#!/usr/bin/env bash
# make images: make sure the course's pinned images exist locally, online or offline.
#
#   docker/images.sh [TAG...]   every tag listed in docker/images.txt, or only the TAGs given
#                               (each must be listed there)
#
# For each tag: keep it if it is already there (never rebuilt), else `docker pull` it, else
# build an offline stand-in under the same tag from Debian packages (debootstrap for the base,
# then the Dockerfiles in docker/<name>/, all FROM debian:trixie-slim). See docker/README.md.
#
# Environment:
#   DEBIAN_MIRROR           Debian mirror for the stand-ins (default http://deb.debian.org/debian)
#   DEBIAN_SECURITY_MIRROR  security mirror written into the images' apt sources (default
#                           http://deb.debian.org/debian-security with the default mirror, none
#                           with another mirror; set it empty to leave it out)
#   EXTRA_CA_BUNDLE         PEM bundle holding the CA certificates of a TLS-intercepting proxy
#                           (default: the host's bundle, /etc/ssl/certs/ca-certificates.crt);
#                           only certificates that are not in Mozilla's list go into the images;
#                           "none" adds nothing
#   PULL_TIMEOUT            seconds allowed to each `docker pull` (default 60)
#   NO_PULL=1               do not try `docker pull` at all (known offline classroom)
#   REBUILD=1               refresh images that are present too (pull again, else rebuild the
#                           stand-in, e.g. for Debian security updates); each tag is replaced
#                           only once its new image is ready. REBUILD="postgres:17 ..." refreshes
#                           only the tags listed
#   VERBOSE=1               stream build output instead of keeping it in a log
#   PROGRESS_INTERVAL       while a long step runs with its output in a log, print its elapsed
#                           time and latest build step every this many seconds (default 20)
#   IMAGES_ARCH             Debian architecture of the images (amd64, arm64; default: the engine's
#                           own, from `docker info`): debootstrap --arch, pull/build --platform.
#                           Another architecture runs under emulation (docker/binfmt.sh) and, under
#                           the classic image store where one tag holds one platform, belongs in a
#                           separate engine (DOCKER_HOST): a tag present for another architecture
#                           is never replaced
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

SUITE=trixie
DEFAULT_MIRROR=http://deb.debian.org/debian
DEBIAN_MIRROR="${DEBIAN_MIRROR:-$DEFAULT_MIRROR}"
if [ -z "${DEBIAN_SECURITY_MIRROR+set}" ]; then
	if [ "$DEBIAN_MIRROR" = "$DEFAULT_MIRROR" ]; then
		DEBIAN_SECURITY_MIRROR=http://deb.debian.org/debian-security
	else
		DEBIAN_SECURITY_MIRROR=
	fi
fi
PULL_TIMEOUT="${PULL_TIMEOUT:-60}"
PROGRESS_INTERVAL="${PROGRESS_INTERVAL:-20}"
# "[k/N] " before every line of the tag being made (set by main)
STEP=
NO_PULL="${NO_PULL:-}"
REBUILD="${REBUILD:-}"
VERBOSE="${VERBOSE:-}"
IMAGES_ARCH="${IMAGES_ARCH:-}" # set by main from the engine when empty

STANDIN_LABEL=org.4data.course.offline-standin
# Order matters: the other stand-ins are built FROM the base, the first tag of images.txt.
mapfile -t TAGS < <(tr -d '\r' <"$HERE/images.txt" | grep -Ev '^[[:space:]]*(#|$)')
BASE="${TAGS[0]}"

# tag -> directory of its Dockerfile under docker/
context_dir() {
	case "$1" in
		python:*) echo python ;;
		postgres:*) echo postgres ;;
		registry:*) echo registry ;;
		docker:*-cli) echo docker-cli ;;
		*) return 1 ;;
	esac
}

say() { printf '%s%s\n' "$STEP" "$*"; }
err() { printf '%s%s\n' "$STEP" "$*" >&2; }

SUDO=()
if [ "$(id -u)" != 0 ]; then
	SUDO=(sudo)
fi

WORK="$(mktemp -d "${TMPDIR:-/tmp}/course-images.XXXXXX")"
cleanup() {
	local rootfs="$WORK/rootfs"
	if [ -d "$rootfs" ]; then
		# an interrupted debootstrap may leave /proc or /sys mounted inside the rootfs
		local mnt
		while read -r mnt; do
			"${SUDO[@]}" umount -l "$mnt" 2>/dev/null || :
		done < <(awk -v r="$rootfs/" 'index($2, r) == 1 { print $2 }' /proc/mounts | sort -r)
		"${SUDO[@]}" rm -rf --one-file-system "$rootfs"
	fi
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

human_size() { # bytes -> "123 MB"
	awk -v b="$1" 'BEGIN { printf "%.0f MB", b / 1000000 }'
}

image_present() { docker image inspect "$1" >/dev/null 2>&1; }

# latest LOGFILE: the log's latest build step ("Step 4/9 : RUN ..."), else its last line, shortened
latest() {
	local line
	line="$(tr -d '\r' <"$1" | grep -E '^(Step [0-9]+/[0-9]+ :|#[0-9]+ \[)' | tail -n 1)" || :
	[ -n "$line" ] || line="$(tr -d '\r' <"$1" | grep -v '^[[:space:]]*$' | tail -n 1)" || :
	printf '%s' "${line:0:110}"
}

# Can we wait for a process with a deadline (GNU `timeout` and `tail --pid`)? Else no heartbeat.
can_watch() { command -v timeout >/dev/null 2>&1 && tail --pid=$$ -n 0 /dev/null >/dev/null 2>&1; }

# run_logged LOGFILE CMD...: run CMD with its output in LOGFILE (or on screen with VERBOSE=1),
# printing its elapsed time and latest step every PROGRESS_INTERVAL s (plain lines, readable in
# CI logs) and its duration at the end; on failure show the end of the log.
run_logged() {
	local logfile="$1" start=$SECONDS pid rc=0
	shift
	if [ -n "$VERBOSE" ]; then
		"$@" 2>&1 | tee "$logfile"
		return "${PIPESTATUS[0]}"
	fi
	"$@" >"$logfile" 2>&1 &
	pid=$!
	if can_watch; then
		# waits on the process itself, with a deadline: no fixed sleep
		while ! timeout "$PROGRESS_INTERVAL" tail --pid="$pid" -f /dev/null; do
			say "  ... $((SECONDS - start)) s: $(latest "$logfile")"
		done
	fi
	wait "$pid" || rc=$?
	if [ "$rc" != 0 ]; then
		err "  ... failed after $((SECONDS - start)) s; last lines of $(basename "$logfile"):"
		tail -n 25 "$logfile" | sed 's/^/  | /' >&2
		return 1
	fi
	say "  ... done in $((SECONDS - start)) s"
}

# ---------------------------------------------------------------------------------------------
# Extra CA certificates (TLS-intercepting proxy): every certificate of the bundle that is not one
# of the host's Mozilla certificates, one file each, in $WORK/extra-ca (update-ca-certificates
# wants one certificate per .crt file). Nothing is hard-coded: a host without a proxy adds none.
# ---------------------------------------------------------------------------------------------
EXTRA_CA_DIR="$WORK/extra-ca"
prepare_extra_cas() {
	[ -d "$EXTRA_CA_DIR" ] && return 0
	mkdir -p "$EXTRA_CA_DIR"
	# shared with docker/course/build.sh (the course container)
	bash "$HERE/extra-ca.sh" "$EXTRA_CA_DIR"
}

# ---------------------------------------------------------------------------------------------
# debian:trixie-slim: debootstrap + the official image's "slim" and docker apt/dpkg settings.
# ---------------------------------------------------------------------------------------------
build_base() {
	local tag="$1" rootfs="$WORK/rootfs"
	if ! command -v debootstrap >/dev/null 2>&1 && [ ! -x /usr/sbin/debootstrap ]; then
		err "[FAIL] $tag: debootstrap is needed to build the offline stand-in (apt-get install debootstrap)"
		return 1
	fi
	if [ "${#SUDO[@]}" -gt 0 ] && ! command -v sudo >/dev/null 2>&1; then
		err "[FAIL] $tag: debootstrap needs root: run this script as root"
		return 1
	fi
	prepare_extra_cas
	say "[BUILD] $tag: offline stand-in via debootstrap --variant=minbase $SUITE ($DEBIAN_MIRROR)"
	PATH="$PATH:/usr/sbin:/sbin" run_logged "$WORK/debootstrap.log" \
		"${SUDO[@]}" debootstrap --variant=minbase --arch "$IMAGES_ARCH" "$SUITE" "$rootfs" "$DEBIAN_MIRROR"

	say "[BUILD] $tag: configuring apt and dpkg like the official image, removing caches"
	# shellcheck disable=SC2016 # expanded by the inner shell
	"${SUDO[@]}" env ROOTFS="$rootfs" SUITE="$SUITE" MIRROR="$DEBIAN_MIRROR" \
		SECURITY="$DEBIAN_SECURITY_MIRROR" EXTRA_CA_DIR="$EXTRA_CA_DIR" bash -euo pipefail -c '
		cd "$ROOTFS"
		# apt sources in deb822 form, as in the official image
		rm -f etc/apt/sources.list
		{
			printf "Types: deb\nURIs: %s\nSuites: %s %s-updates\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.pgp\n" \
				"$MIRROR" "$SUITE" "$SUITE"
			if [ -n "$SECURITY" ]; then
				printf "\nTypes: deb\nURIs: %s\nSuites: %s-security\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.pgp\n" \
					"$SECURITY" "$SUITE"
			fi
		} >etc/apt/sources.list.d/debian.sources
		# container-friendly apt and dpkg settings (the official images ship the same ones)
		cat >etc/apt/apt.conf.d/docker-clean <<-"EOF"
			DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
			APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
			Dir::Cache::pkgcache "";
			Dir::Cache::srcpkgcache "";
		EOF
		echo "Acquire::Languages \"none\";" >etc/apt/apt.conf.d/docker-no-languages
		echo "Acquire::GzipIndexes \"true\";" >etc/apt/apt.conf.d/docker-gzip-indexes
		echo "Apt::AutoRemove::SuggestsImportant \"false\";" >etc/apt/apt.conf.d/docker-autoremove-suggests
		echo "force-unsafe-io" >etc/dpkg/dpkg.cfg.d/docker-apt-speedup
		# "slim": no documentation, manual pages or translations (copyright files stay)
		cat >etc/dpkg/dpkg.cfg.d/docker <<-"EOF"
			path-exclude /usr/share/doc/*
			path-include /usr/share/doc/*/copyright
			path-exclude /usr/share/groff/*
			path-exclude /usr/share/info/*
			path-exclude /usr/share/linda/*
			path-exclude /usr/share/lintian/overrides/*
			path-exclude /usr/share/locale/*
			path-exclude /usr/share/man/*
		EOF
		find usr/share/doc -mindepth 1 ! -type d ! -path "usr/share/doc/*/copyright" -delete
		find usr/share/doc -mindepth 1 -depth -type d -empty -delete
		rm -rf usr/share/groff/* usr/share/info/* usr/share/linda/* usr/share/lintian/overrides/* \
			usr/share/locale/* usr/share/man/*
		# caches, package lists, logs and host files debootstrap copied in
		rm -rf var/lib/apt/lists/* var/cache/apt/*.bin var/cache/apt/archives/*.deb \
			var/cache/apt/archives/partial/* var/cache/debconf/*-old var/lib/dpkg/*-old \
			var/cache/ldconfig/aux-cache var/log/bootstrap.log
		: >etc/resolv.conf
		: >etc/hostname
		# extra CA certificates: picked up as soon as an image installs ca-certificates
		if compgen -G "$EXTRA_CA_DIR/*.crt" >/dev/null; then
			install -d -m 0755 usr/local/share/ca-certificates
			install -m 0644 "$EXTRA_CA_DIR"/*.crt usr/local/share/ca-certificates/
		fi
	'

	say "[BUILD] $tag: importing the root filesystem"
	"${SUDO[@]}" tar --numeric-owner -C "$rootfs" -c . |
		docker import --platform "linux/$IMAGES_ARCH" \
			--message "offline stand-in built by docker/images.sh" \
			--change 'CMD ["bash"]' \
			--change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
			--change "LABEL $STANDIN_LABEL=true" \
			--change "LABEL org.opencontainers.image.description=\"Offline stand-in for debian:$SUITE-slim: debootstrap minbase with the official image's slim settings\"" \
			- "$tag" >/dev/null
	"${SUDO[@]}" rm -rf --one-file-system "$rootfs"
	relabel_architecture "$tag"
}

# Docker 20.10's `docker import` writes the engine's own architecture whatever --platform says:
# give the imported image IMAGES_ARCH through docker save / load (its layer is unchanged).
relabel_architecture() {
	local tag="$1" arch old dir="$WORK/relabel"
	arch="$(docker image inspect -f '{{.Architecture}}' "$tag")"
	[ "$arch" != "$IMAGES_ARCH" ] || return 0
	if ! command -v python3 >/dev/null 2>&1; then
		err "[FAIL] $tag: this engine imported it as $arch; python3 is needed to relabel it $IMAGES_ARCH"
		return 1
	fi
	say "[BUILD] $tag: this engine's docker import wrote $arch; relabelling the image $IMAGES_ARCH"
	old="$(docker image inspect -f '{{.Id}}' "$tag")"
	mkdir -p "$dir"
	docker save "$tag" | tar -C "$dir" -x
	python3 - "$dir" "$IMAGES_ARCH" <<-"EOF"
		import hashlib, json, os, sys
		folder, arch = sys.argv[1:]
		with open(os.path.join(folder, "manifest.json")) as f:
		    manifest = json.load(f)
		old = os.path.join(folder, manifest[0]["Config"])
		with open(old) as f:
		    config = json.load(f)
		config["architecture"] = arch
		config.pop("variant", None)
		if arch == "arm64":
		    config["variant"] = "v8"
		data = json.dumps(config, separators=(",", ":")).encode()
		name = hashlib.sha256(data).hexdigest() + ".json"
		with open(os.path.join(folder, name), "wb") as f:
		    f.write(data)
		os.remove(old)
		manifest[0]["Config"] = name
		with open(os.path.join(folder, "manifest.json"), "w") as f:
		    json.dump(manifest, f)
	EOF
	tar -C "$dir" -c . | docker load >/dev/null
	rm -rf "$dir"
	docker image rm "$old" >/dev/null # the import under the wrong architecture, now untagged
	arch="$(docker image inspect -f '{{.Architecture}}' "$tag")"
	[ "$arch" = "$IMAGES_ARCH" ] || {
		err "[FAIL] $tag: still $arch after relabelling"
		return 1
	}
}

# ---------------------------------------------------------------------------------------------
# python / postgres / registry: docker build of docker/<name>/ in a temporary context that also
# holds the extra CA certificates (nothing is written into the repository).
# ---------------------------------------------------------------------------------------------
build_from_dockerfile() {
	local tag="$1" name ctx f
	name="$(context_dir "$tag")"
	prepare_extra_cas
	ctx="$WORK/context-$name"
	mkdir -p "$ctx"
	cp -R "$HERE/$name/." "$ctx/"
	mkdir -p "$ctx/extra-ca"
	if compgen -G "$EXTRA_CA_DIR/*.crt" >/dev/null; then
		cp "$EXTRA_CA_DIR"/*.crt "$ctx/extra-ca/"
	fi
	# scripts run inside Linux containers: LF endings and the executable bit, whatever the checkout
	for f in "$ctx"/*.sh; do
		[ -e "$f" ] || continue
		tr -d '\r' <"$f" >"$f.lf"
		mv "$f.lf" "$f"
		chmod 0755 "$f"
	done
	say "[BUILD] $tag: offline stand-in from Debian packages (docker/$name/Dockerfile)"
	run_logged "$WORK/build-$name.log" docker build --pull=false --platform "linux/$IMAGES_ARCH" -t "$tag" "$ctx"
}

rebuild_wanted() {
	case "$REBUILD" in
		'') return 1 ;;
		1 | all | yes | true) return 0 ;;
	esac
	[[ " $REBUILD " == *" $1 "* ]]
}

# ensure TAG: present -> keep (unless REBUILD=1); else pull; else build the stand-in
ensure() {
	local tag="$1" start=$SECONDS
	if image_present "$tag"; then
		local arch
		arch="$(docker image inspect -f '{{.Architecture}}' "$tag")"
		if [ "$arch" != "$IMAGES_ARCH" ]; then
			err "[FAIL] $tag is $arch here, not $IMAGES_ARCH (IMAGES_ARCH): build $IMAGES_ARCH images into another engine (DOCKER_HOST)"
			return 1
		fi
		if ! rebuild_wanted "$tag"; then
			say "[OK] $tag (present)"
			return 0
		fi
		say "[REBUILD] $tag: present, refreshing it (REBUILD=$REBUILD)"
	fi
	if [ -z "$NO_PULL" ]; then
		say "[PULL] $tag: trying docker pull (timeout ${PULL_TIMEOUT} s)"
		local -a pull=(docker pull --platform "linux/$IMAGES_ARCH" "$tag")
		if command -v timeout >/dev/null 2>&1; then
			pull=(timeout "$PULL_TIMEOUT" "${pull[@]}")
		fi
		if "${pull[@]}" >"$WORK/pull.log" 2>&1; then
			say "[OK] $tag (pulled in $((SECONDS - start)) s)"
			return 0
		fi
		say "[PULL] $tag: failed: $(tail -n 1 "$WORK/pull.log" | sed "s/^Error response from daemon: //" | cut -c1-150); building a stand-in"
	fi
	if [ "$tag" = "$BASE" ]; then
		build_base "$tag"
	else
		build_from_dockerfile "$tag"
	fi
	image_present "$tag"
	say "[OK] $tag (offline stand-in built in $((SECONDS - start)) s)"
}

main() {
	if ! docker info >/dev/null 2>&1; then
		err "[FAIL] no Docker engine answers (is the daemon running? can this user use it?)"
		exit 1
	fi
	if [ -z "$IMAGES_ARCH" ]; then
		IMAGES_ARCH="$(docker info -f '{{.Architecture}}')"
	fi
	case "$IMAGES_ARCH" in # Go / uname names -> Debian's
		x86_64) IMAGES_ARCH=amd64 ;;
		aarch64) IMAGES_ARCH=arm64 ;;
	esac
	say "[ARCH] $IMAGES_ARCH images ($(docker info -f '{{.Architecture}}') engine at ${DOCKER_HOST:-the default socket})"
	local tag rc i=0
	if [ "$#" -gt 0 ]; then # only the tags asked for, in the list's order (the base first)
		for tag in "$@"; do
			if [[ " ${TAGS[*]} " != *" $tag "* ]]; then
				err "[FAIL] $tag is not a course image (docker/images.txt)"
				exit 2
			fi
		done
		local -a asked=()
		for tag in "${TAGS[@]}"; do
			if [[ " $* " == *" $tag "* ]]; then asked+=("$tag"); fi
		done
		TAGS=("${asked[@]}")
	fi
	for tag in "${TAGS[@]}"; do
		i=$((i + 1))
		STEP="[$i/${#TAGS[@]}] "
		if [ "$tag" != "$BASE" ] && ! image_present "$tag" && ! image_present "$BASE"; then
			err "[SKIP] $tag: needs $BASE, which is missing"
			continue
		fi
		# errexit is ignored inside functions called from `if`/`||`: run each step in a
		# subshell with its own `set -e`, and collect its status here
		set +e
		(
			set -e
			ensure "$tag"
		)
		rc=$?
		set -e
		if [ "$rc" != 0 ]; then
			err "[FAIL] $tag: could not be pulled nor built (exit $rc)"
		fi
	done
	STEP=

	local missing=0 size origin
	printf '\n%-20s %9s  %s\n' IMAGE SIZE ORIGIN
	for tag in "${TAGS[@]}"; do
		if image_present "$tag"; then
			size="$(human_size "$(docker image inspect -f '{{.Size}}' "$tag")")"
			if [ "$(docker image inspect -f "{{index .Config.Labels \"$STANDIN_LABEL\"}}" "$tag")" = true ]; then
				origin="offline stand-in (Debian packages)"
			else
				origin="registry"
			fi
		else
			size=-
			origin=MISSING
			missing=$((missing + 1))
		fi
		printf '%-20s %9s  %s\n' "$tag" "$size" "$origin"
	done
	if [ "$missing" != 0 ]; then
		err "$missing image(s) missing"
		exit 1
	fi
}

main "$@"
