#!/usr/bin/env bash
# extra-ca.sh OUTDIR: write the CA certificates of a TLS-intercepting proxy into OUTDIR, one
# certificate per file (course-extra-ca-NNN.crt, the form update-ca-certificates wants), for the
# images built by docker/images.sh (offline stand-ins) and docker/course/build.sh (course container).
#
# Environment:
#   EXTRA_CA_BUNDLE  PEM bundle holding the proxy's CA certificates (default: the host's bundle,
#                    /etc/ssl/certs/ca-certificates.crt or the first one found); only the
#                    certificates that are not in the host's Mozilla list are kept, so a host
#                    without such a proxy writes none; "none" writes nothing.
# Prints one "[CA] ..." line; exit 1 when EXTRA_CA_BUNDLE names an unreadable file.
set -euo pipefail

out="${1:?usage: extra-ca.sh OUTDIR}"
mkdir -p "$out"
bundle="${EXTRA_CA_BUNDLE:-}"
if [ "$bundle" = none ]; then
	printf '%s\n' "[CA] EXTRA_CA_BUNDLE=none: no extra CA certificate"
	exit 0
fi
if [ -z "$bundle" ]; then
	for candidate in /etc/ssl/certs/ca-certificates.crt /etc/pki/tls/certs/ca-bundle.crt /etc/ssl/cert.pem; do
		if [ -r "$candidate" ]; then
			bundle="$candidate"
			break
		fi
	done
	if [ -z "$bundle" ]; then
		printf '%s\n' "[CA] no CA bundle on this host: no extra CA certificate"
		exit 0
	fi
elif [ ! -r "$bundle" ]; then
	printf '%s\n' "[CA] EXTRA_CA_BUNDLE=$bundle is not a readable file" >&2
	exit 1
fi
known=()
if [ -d /usr/share/ca-certificates/mozilla ]; then
	mapfile -t known < <(find /usr/share/ca-certificates/mozilla -name '*.crt' -type f | sort)
fi
# The Mozilla certificates are read first (their bodies marked as seen), then the bundle: every
# certificate of the bundle not seen yet gets its own file.
count="$(
	awk -v bundle="$bundle" -v out="$out" '
		{ sub(/\r$/, "") }
		/^-----BEGIN CERTIFICATE-----/ { inside = 1; body = ""; pem = $0 "\n"; next }
		inside && /^-----END CERTIFICATE-----/ {
			inside = 0
			pem = pem $0 "\n"
			if (FILENAME != bundle) { seen[body] = 1 }
			else if (!(body in seen)) {
				seen[body] = 1
				n++
				file = sprintf("%s/course-extra-ca-%03d.crt", out, n)
				printf "%s", pem > file
				close(file)
			}
			next
		}
		inside { line = $0; gsub(/[ \t]/, "", line); body = body line; pem = pem $0 "\n" }
		END { print n + 0 }
	' "${known[@]}" "$bundle"
)"
printf '%s\n' "[CA] $count extra CA certificate(s) from $bundle (not in Mozilla's list) go into the images"
