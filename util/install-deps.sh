#!/bin/sh
# Installs the Debian packages named as arguments that are not installed yet.
# Used by `make test` and `make demo`; does nothing when all are present.

missing=
for pkg in "$@"; do
    status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null)
    case "$status" in
        *"install ok installed"*) ;;
        *) missing="$missing $pkg" ;;
    esac
done

[ -z "$missing" ] && exit 0

echo "installing:$missing"

if [ "$(id -u)" -eq 0 ]; then
    sudo=
elif command -v sudo >/dev/null 2>&1; then
    sudo=sudo
else
    echo "missing packages:$missing; install them as root" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive

$sudo apt-get update -q || exit 1
# shellcheck disable=SC2086
$sudo apt-get install -y -q --no-install-recommends $missing || exit 1
