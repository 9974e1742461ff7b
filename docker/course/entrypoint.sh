#!/usr/bin/env bash
# Entrypoint of the course container (docker/course/Dockerfile). Started as root, it:
#  1. gives the user `etudiant` the uid/gid of the mounted repository's owner (files created in
#     JupyterLab belong to the student on the host), never root; COURSE_UID / COURSE_GID override;
#  2. adds `etudiant` to the group owning the mounted Docker socket (its gid differs from host to
#     host), so the docker CLI works without root; COURSE_DOCKER_GID overrides; a socket owned by
#     group 0 (root) is only granted with an explicit COURSE_DOCKER_GID=0;
#  3. prepares what grading from inside the container needs: the repository is mounted at the
#     same absolute path as on the host (COURSE_DIR), so temporary folders (TMPDIR) live under
#     COURSE_DIR/build/, where the host's daemon finds them;
#  4. drops root for good (setpriv) and runs the command as `etudiant`.
# Messages for students are in French, on stderr (they show in `docker compose logs`).
set -euo pipefail

USER_NAME=etudiant
HOME_DIR=/home/etudiant

say() { printf 'course-container: %s\n' "$*" >&2; }

if [ "$(id -u)" != 0 ]; then
	# started with `--user`: nothing can be adapted, run the command as is
	exec "$@"
fi

current_uid="$(id -u "$USER_NAME")"
current_gid="$(id -g "$USER_NAME")"
uid="$current_uid"
gid="$current_gid"

COURSE_DIR="${COURSE_DIR:-}"
if [ -n "$COURSE_DIR" ]; then
	if [ ! -f "$COURSE_DIR/Makefile" ] || [ ! -d "$COURSE_DIR/labs" ]; then
		say "ERREUR : le dépôt du cours n'est pas monté en $COURSE_DIR (pas de Makefile ni de labs/)."
		say "Lancez le conteneur depuis la racine du dépôt : make course-container,"
		say "ou COURSE_DIR=\"\$PWD\" docker compose -f docker/course/compose.yaml up"
		exit 2
	fi
	uid="$(stat -c %u "$COURSE_DIR")"
	gid="$(stat -c %g "$COURSE_DIR")"
fi
uid="${COURSE_UID:-$uid}"
gid="${COURSE_GID:-$gid}"
if [ "$uid" = 0 ]; then
	uid="$current_uid"
fi
if [ "$gid" = 0 ]; then
	gid="$current_gid"
fi

# 1. uid/gid of the repository's owner
if [ "$gid" != "$current_gid" ]; then
	if getent group "$gid" >/dev/null; then
		usermod -g "$gid" "$USER_NAME"
	else
		groupmod -g "$gid" "$USER_NAME"
	fi
fi
if [ "$uid" != "$current_uid" ]; then
	# -o: the uid may already name a system user of the image; usermod also re-owns the home
	usermod -o -u "$uid" "$USER_NAME"
fi
chown "$uid:$gid" "$HOME_DIR"

# 2. the Docker socket's group
socket=/var/run/docker.sock
case "${DOCKER_HOST:-}" in
	unix://*) socket="${DOCKER_HOST#unix://}" ;;
esac
if [ -S "$socket" ]; then
	socket_gid="${COURSE_DOCKER_GID:-$(stat -c %g "$socket")}"
	if [ "$socket_gid" = 0 ] && [ "${COURSE_DOCKER_GID:-}" != 0 ]; then
		say "ATTENTION : le socket Docker $socket appartient au groupe root (gid 0) : l'utilisateur"
		say "$USER_NAME n'y a pas accès. Si vous acceptez de lui donner le groupe root du conteneur,"
		say "relancez avec COURSE_DOCKER_GID=0 (voir docker/course/README.md)."
	else
		group="$(getent group "$socket_gid" | cut -d: -f1 || true)"
		if [ -z "$group" ]; then
			group=docker-hote
			groupadd -g "$socket_gid" "$group"
		fi
		usermod -aG "$group" "$USER_NAME"
	fi
elif [ -z "${DOCKER_HOST:-}" ]; then
	say "ATTENTION : pas de socket Docker monté en $socket : docker et make check ne marcheront pas."
fi

# --reuid by name: --init-groups looks the user up, and with `usermod -o` the uid may be shared
as_user() {
	setpriv --reuid="$USER_NAME" --regid="$gid" --init-groups --no-new-privs \
		env HOME="$HOME_DIR" USER="$USER_NAME" LOGNAME="$USER_NAME" SHELL=/bin/bash "$@"
}

if [ -S "$socket" ] && ! as_user docker version --format '{{.Server.Version}}' >/dev/null 2>&1; then
	say "ATTENTION : $USER_NAME ne joint pas le démon Docker par $socket (droits du socket ?)."
fi

# 3. grading from inside the container
if [ -n "$COURSE_DIR" ]; then
	# compose.yaml sets these too, so that `docker compose exec` sessions see them
	state="$COURSE_DIR/build/course-container"
	export TMPDIR="${TMPDIR:-$state/tmp}"
	export JUPYTER_CONFIG_PATH="${JUPYTER_CONFIG_PATH:-$COURSE_DIR/jupyter/etudiant}"
	export PYTHONPATH="${PYTHONPATH:-$COURSE_DIR}"
	if ! as_user test -w "$COURSE_DIR"; then
		say "ATTENTION : $USER_NAME (uid $uid) ne peut pas écrire dans $COURSE_DIR, ni make check ni"
		say "JupyterLab ne pourront y enregistrer. Clonez le dépôt avec votre compte (pas root ni sudo),"
		say "ou rendez-le vôtre sur l'hôte : sudo chown -R \"\$USER\": $COURSE_DIR"
	else
		# temporary folders (the grader's copy of a submission) visible to the daemon at this path
		as_user mkdir -p "$TMPDIR"
	fi
	# The image's venv stands for the Makefile's .venv (COURSE_VENV). Its stamp is named after
	# requirements.txt's checksum: the same checksum means the same pins, whatever the mtime.
	stamp="$COURSE_VENV/.installed-$(cksum "$COURSE_DIR/requirements.txt" | cut -d' ' -f1)"
	if [ -e "$stamp" ]; then
		touch "$stamp"
	else
		say "ATTENTION : requirements.txt a changé depuis la construction de l'image :"
		say "reconstruisez-la sur l'hôte (make course-image) puis relancez le conteneur."
	fi
fi

# An empty token would turn JupyterLab's authentication off: never pass it on.
if [ -z "${JUPYTER_TOKEN:-}" ]; then
	unset JUPYTER_TOKEN
fi

# 4. drop root for good
exec setpriv --reuid="$USER_NAME" --regid="$gid" --init-groups --no-new-privs \
	env HOME="$HOME_DIR" USER="$USER_NAME" LOGNAME="$USER_NAME" SHELL=/bin/bash "$@"
