#!/bin/sh
# Entrypoint of the offline `registry:2` stand-in: same argument handling as the official image
# (`docker run registry:2 garbage-collect /etc/docker/registry/config.yml` works in both).
set -e

case "$1" in
	*.yaml | *.yml) set -- registry serve "$@" ;;
	serve | garbage-collect | help | -*) set -- registry "$@" ;;
esac

exec "$@"
