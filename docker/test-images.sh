#!/usr/bin/env bash
# Smoke tests of the course images (official or offline stand-ins built by images.sh):
#   bash docker/test-images.sh            # all
#   bash docker/test-images.sh postgres   # some of: debian python postgres registry docker
# Needs the images (make images) and, for the debian/python parts, access to Debian's mirror
# and PyPI. Everything it creates carries the label below and is removed on exit.
set -euo pipefail

TEST_LABEL=org.4data.course.test=images
PREFIX="course-test-$$"
REGISTRY_PORT="${REGISTRY_PORT:-5055}"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/course-images-test.XXXXXX")"
FAILURES=0
PUSHED_TAG=

cleanup() {
	local ids
	ids="$(docker ps -aq --filter "label=$TEST_LABEL")"
	if [ -n "$ids" ]; then
		# shellcheck disable=SC2086
		docker rm -f -v $ids >/dev/null
	fi
	ids="$(docker volume ls -q --filter "label=$TEST_LABEL")"
	if [ -n "$ids" ]; then
		# shellcheck disable=SC2086
		docker volume rm $ids >/dev/null
	fi
	if [ -n "$PUSHED_TAG" ]; then
		docker rmi "$PUSHED_TAG" >/dev/null 2>&1 || :
	fi
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

pass() { printf '  [PASS] %s\n' "$*"; }
fail() {
	printf '  [FAIL] %s\n' "$*" >&2
	FAILURES=$((FAILURES + 1))
}
# check DESCRIPTION CMD...: run CMD quietly, report
check() {
	local what="$1"
	shift
	if "$@" >"$WORK/check.log" 2>&1; then
		pass "$what"
	else
		fail "$what"
		sed 's/^/         | /' "$WORK/check.log" | tail -n 15 >&2
	fi
}
# wait_until SECONDS CMD...: retry CMD until it succeeds or the deadline passes
wait_until() {
	local deadline=$((SECONDS + $1))
	shift
	until "$@" >/dev/null 2>&1; do
		if [ "$SECONDS" -ge "$deadline" ]; then
			return 1
		fi
		sleep 0.5
	done
}
run() { docker run --label "$TEST_LABEL" "$@"; }
volume() { docker volume create --label "$TEST_LABEL" "$1" >/dev/null; }

# ---------------------------------------------------------------------------------------------
test_debian() {
	echo "debian:trixie-slim"
	check "apt works and installed ca-certificates trust the extra (proxy) CAs: HTTPS to PyPI" \
		run --rm debian:trixie-slim bash -c '
			apt-get update -qq &&
			apt-get install -y -qq --no-install-recommends ca-certificates curl >/dev/null &&
			curl -fsS -o /dev/null https://pypi.org/simple/pip/'
}

# ---------------------------------------------------------------------------------------------
test_python() {
	echo "python:3.13-slim"
	check "python and pip on PATH, pip install from PyPI, import" \
		run --rm python:3.13-slim sh -c \
		'python --version && pip --version && pip install --no-cache-dir flask==3.1.2 && python -c "import flask"'
	check "pip can upgrade itself and pinned packages (pip install -U pip wheel)" \
		run --rm python:3.13-slim sh -c 'pip install -q --no-cache-dir -U pip wheel && pip --version'
	check "python -m venv works" \
		run --rm python:3.13-slim sh -c 'python -m venv /tmp/v && /tmp/v/bin/pip --version'
}

# ---------------------------------------------------------------------------------------------
pg_ready() { # over TCP: the temporary init server only listens on the unix socket
	docker exec "$1" pg_isready -q -h 127.0.0.1 -U postgres
}
pg_wait() {
	if ! wait_until 90 pg_ready "$1"; then
		docker logs "$1" 2>&1 | tail -n 20 >&2
		return 1
	fi
}
pg_sql() { # pg_sql CONTAINER DB SQL
	docker exec "$1" psql -U postgres -d "$2" -tAc "$3"
}
equals() { # equals EXPECTED CMD...
	local expected="$1" got
	shift
	got="$("$@")"
	if [ "$got" != "$expected" ]; then
		echo "expected '$expected', got '$got'"
		return 1
	fi
}
stops_fast() { # docker stop returns in less than 3 s and the server shut down cleanly
	local start end
	start="$(date +%s%N)"
	docker stop "$1" >/dev/null
	end="$(date +%s%N)"
	echo "docker stop took $(((end - start) / 1000000)) ms"
	[ $(((end - start) / 1000000)) -lt 3000 ] &&
		# Not `docker logs | grep -q`: with pipefail, grep's early exit makes the pipe fail (SIGPIPE).
		grep -q 'database system is shut down' <<<"$(docker logs "$1" 2>&1)"
}
refuses() { # refuses EXPECTED_MESSAGE docker-run-args...: the container exits 1 with the message
	local message="$1" rc=0
	shift
	run --rm "$@" >"$WORK/refuse.log" 2>&1 || rc=$?
	cat "$WORK/refuse.log"
	[ "$rc" = 1 ] && grep -qF "$message" "$WORK/refuse.log"
}

test_postgres() {
	echo "postgres:17"
	local pg="$PREFIX-pg" vol="$PREFIX-pgdata" init="$WORK/initdb"
	mkdir -p "$init"
	cat >"$init/01-schema.sql" <<-'EOF'
		CREATE TABLE customers (id serial PRIMARY KEY, name text NOT NULL);
		CREATE TABLE init_runs (at timestamptz DEFAULT now());
		INSERT INTO init_runs DEFAULT VALUES;
	EOF
	printf "INSERT INTO customers (name) VALUES ('Ada'), ('Grace');\n" | gzip >"$init/02-data.sql.gz"
	# not executable: sourced by the entrypoint, may use its helpers like the official image
	cat >"$init/03-sourced.sh" <<-'EOF'
		"${psql[@]}" -c "INSERT INTO customers (name) VALUES ('Linus')"
	EOF
	chmod 0644 "$init/03-sourced.sh"
	# executable: run as a program, with the POSTGRES_* variables in its environment
	cat >"$init/04-executed.sh" <<-'EOF'
		#!/bin/sh
		set -e
		psql -v ON_ERROR_STOP=1 -U "$POSTGRES_USER" -d "$POSTGRES_DB" -c "INSERT INTO customers (name) VALUES ('Margaret')"
	EOF
	chmod 0755 "$init/04-executed.sh"
	printf 'this file is ignored\n' >"$init/05-notes.txt"
	chmod 0755 "$init"
	volume "$vol"

	run -d --name "$pg" -e POSTGRES_PASSWORD=pw -e POSTGRES_DB=app \
		-v "$init:/docker-entrypoint-initdb.d:ro" -v "$vol:/var/lib/postgresql/data" postgres:17 >/dev/null
	check "server ready (pg_isready over TCP, 90 s deadline)" pg_wait "$pg"
	check "init scripts ran in order (.sql, .sql.gz, sourced .sh, executed .sh)" \
		equals 4 pg_sql "$pg" app "SELECT count(*) FROM customers"
	check "server process runs as postgres (uid 999), not root" \
		sh -c "docker exec $pg cat /proc/1/status | grep -Eq '^Uid:[[:space:]]+999[[:space:]]'"
	check "psql, pg_dump, pg_ctl, postgres on PATH" \
		docker exec "$pg" sh -c 'command -v psql && command -v pg_dump && command -v pg_ctl && command -v postgres'
	check "password auth over TCP from another container" \
		run --rm --link "$pg:db" postgres:17 psql "postgresql://postgres:pw@db/app" -tAc 'select 1'
	check "a wrong password is rejected over TCP" \
		sh -c "! docker run --rm --label $TEST_LABEL --link $pg:db postgres:17 psql postgresql://postgres:wrong@db/app -c 'select 1'"
	check "docker stop < 3 s with a clean shutdown (SIGINT = fast shutdown)" stops_fast "$pg"
	docker rm -v "$pg" >/dev/null

	run -d --name "$pg-2" -v "$init:/docker-entrypoint-initdb.d:ro" \
		-v "$vol:/var/lib/postgresql/data" postgres:17 >/dev/null
	check "new container on the same volume starts without a password" pg_wait "$pg-2"
	check "data persisted in the volume" equals 4 pg_sql "$pg-2" app "SELECT count(*) FROM customers"
	check "init scripts did not run again" equals 1 pg_sql "$pg-2" app "SELECT count(*) FROM init_runs"
	check "restart log says initialization was skipped" \
		sh -c "docker logs $pg-2 2>&1 | grep -q 'Skipping initialization'"
	docker rm -f -v "$pg-2" >/dev/null

	printf 'from-a-file\n' >"$WORK/pgpass"
	chmod 0644 "$WORK/pgpass"
	run -d --name "$pg-file" -e POSTGRES_PASSWORD_FILE=/run/secrets/pgpass -e POSTGRES_USER=course \
		-v "$WORK/pgpass:/run/secrets/pgpass:ro" postgres:17 >/dev/null
	check "POSTGRES_PASSWORD_FILE: server ready" pg_wait "$pg-file"
	check "POSTGRES_PASSWORD_FILE + POSTGRES_USER: login, database named after the user" \
		equals course run --rm --link "$pg-file:db" postgres:17 \
		psql postgresql://course:from-a-file@db/course -tAc 'select current_user'
	docker rm -f -v "$pg-file" >/dev/null

	run -d --name "$pg-user" --user postgres -e POSTGRES_PASSWORD=pw postgres:17 >/dev/null
	check "starts with --user postgres" pg_wait "$pg-user"
	docker rm -f -v "$pg-user" >/dev/null

	check "refuses to initialise without a password (exit 1, official message)" \
		refuses "Database is uninitialized and superuser password is not specified" postgres:17
	check "POSTGRES_PASSWORD and POSTGRES_PASSWORD_FILE together are an error" \
		refuses "are exclusive" -e POSTGRES_PASSWORD=a -e POSTGRES_PASSWORD_FILE=/etc/hostname postgres:17
	mkdir -p "$WORK/badinit"
	printf 'CREATE TABLE ok (id int);\nSELECT * FROM no_such_table;\n' >"$WORK/badinit/01-bad.sql"
	chmod -R a+rX "$WORK/badinit"
	check "a failing init script stops the container (ON_ERROR_STOP, non-zero exit)" \
		sh -c "! docker run --rm --label $TEST_LABEL -e POSTGRES_PASSWORD=pw \
			-v $WORK/badinit:/docker-entrypoint-initdb.d:ro postgres:17"
	check "other commands run as given (psql --version)" \
		run --rm postgres:17 psql --version
}

# ---------------------------------------------------------------------------------------------
test_registry() {
	echo "registry:2"
	local reg="$PREFIX-registry" vol="$PREFIX-registry-data"
	local base="127.0.0.1:$REGISTRY_PORT"
	volume "$vol"
	run -d --name "$reg" -p "$base:5000" -v "$vol:/var/lib/registry" registry:2 >/dev/null
	check "GET /v2/ answers 200" wait_until 30 curl -fsS "http://$base/v2/"
	PUSHED_TAG="$base/course-test:1"
	docker tag debian:trixie-slim "$PUSHED_TAG"
	check "docker push to the registry" docker push "$PUSHED_TAG"
	check "the catalog lists the pushed repository" \
		sh -c "curl -fsS http://$base/v2/_catalog | grep -q course-test"
	docker rmi "$PUSHED_TAG" >/dev/null
	check "docker pull back from the registry" docker pull "$PUSHED_TAG"
	docker rmi "$PUSHED_TAG" >/dev/null 2>&1 || :
	PUSHED_TAG=
}

# ---------------------------------------------------------------------------------------------
test_docker() {
	echo "docker:28-cli"
	# What students' scripts need from it (autograder/probes/scripts.py): the CLI and its Compose and
	# buildx plugins, for the engine's architecture, runnable as a non-root user (no daemon needed).
	check "docker CLI, Compose v2 and buildx plugins run as a non-root user" \
		run --rm --user 10001:10001 -e HOME=/tmp --network none docker:28-cli sh -c '
			docker --version &&
			docker compose version --short | grep -Eq "^v?2\." &&
			docker buildx version'
	check "the image's architecture is the engine's" sh -c '
		[ "$(docker image inspect --format "{{.Architecture}}" docker:28-cli)" = \
		  "$(docker version --format "{{.Server.Arch}}")" ]'
}

main() {
	local parts=("$@")
	if [ "${#parts[@]}" = 0 ]; then
		parts=(debian python postgres registry docker)
	fi
	local part
	for part in "${parts[@]}"; do
		case "$part" in
			debian | python | postgres | registry | docker) "test_$part" ;;
			*)
				echo "unknown part: $part (debian python postgres registry docker)" >&2
				exit 2
				;;
		esac
	done
	if [ "$FAILURES" != 0 ]; then
		echo "$FAILURES check(s) failed" >&2
		exit 1
	fi
	echo "all checks passed"
}

main "$@"
