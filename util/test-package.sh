#!/bin/sh
# `make test-package`: the Debian package from install to purge.
#
#   util/test-package.sh DEB SRCDIR
#
# DEB is the .deb `make deb` built, SRCDIR the copy of the tree it was
# built from (its debian/tests are the autopkgtests).  As root (or through
# sudo), this
#   1. installs DEB with `apt-get install ./...deb` (the package must not
#      be installed yet: an installed one is purged first);
#   2. checks what the package installed: the module, its load_module line,
#      the modules-enabled link, the nginx-abi dependency; `nginx -t` of
#      the system configuration loads the module from the package;
#   3. runs the autopkgtests (debian/tests) with autopkgtest's null
#      runner, against the installed package;
#   4. runs the whole t/ suite against the installed .so;
#   5. purges the package and checks that no file of it is left behind.
# The package is purged when the script ends, whatever happens.
#
# Installing the package enables the module for the system's nginx (the
# nginx-reload trigger reloads a running nginx service); the tests
# themselves start their own nginx on loopback ports.

set -eu

deb=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
src=$(cd "$2" && pwd)
top=$(cd "$(dirname "$0")/.." && pwd)

package=libnginx-mod-http-yoti-idv
so=/usr/lib/nginx/modules/ngx_http_yoti_idv_module.so
conf=/usr/share/nginx/modules-available/mod-http-yoti-idv.conf
link=/etc/nginx/modules-enabled/50-mod-http-yoti-idv.conf

if [ "$(id -u)" -eq 0 ]; then
    sudo=
else
    sudo=sudo
fi

export DEBIAN_FRONTEND=noninteractive

# apt-get, waiting for dpkg's lock when another apt-get holds it
apt() {
    for _ in $(seq 60); do
        if $sudo apt-get -o DPkg::Lock::Timeout=60 -y -q "$@"; then
            return 0
        fi
        if ! $sudo fuser /var/lib/dpkg/lock-frontend >/dev/null 2>&1; then
            return 1
        fi
        sleep 5
    done
    return 1
}

installed() {
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null \
        | grep -q 'installed\|config-files'
}

fail() {
    echo "test-package: FAIL: $*" >&2
    exit 1
}

purge() {
    if installed; then
        echo "test-package: apt-get purge $package"
        apt purge "$package" > /dev/null || true
    fi
}

if installed; then
    echo "test-package: $package is installed already; purging it first"
    purge
fi

if [ -e "$so" ] || [ -e "$conf" ] || [ -e "$link" ]; then
    fail "$so, $conf or $link exists without the package" \
         "(make install?): remove them first"
fi

# what was there before, to find what the package leaves behind
before=$(mktemp)
after=$(mktemp)
trap 'purge; rm -f "$before" "$after"' EXIT
trap 'exit 1' INT TERM

files_of_deb() {
    dpkg-deb -c "$deb" | awk '{ print $6 }' | sed 's|^\./|/|; s|/$||' \
        | grep -v '^$'
}

files_of_deb | while read -r f; do
    [ -e "$f" ] && echo "$f"
done | sort > "$before"

echo "== 1. apt-get install $deb"
apt install "$deb" > /dev/null
installed || fail "$package is not installed"

echo "== 2. what the package installed"
[ -f "$so" ] || fail "$so is missing"
[ -f "$conf" ] || fail "$conf is missing"
grep -qx 'load_module modules/ngx_http_yoti_idv_module.so;' "$conf" \
    || fail "$conf: $(cat "$conf")"
[ "$(readlink "$link")" = "$conf" ] || fail "$link does not link to $conf"
dpkg-query -W -f='${Depends}\n' "$package" | grep -q 'nginx-abi-' \
    || fail "no nginx-abi dependency"
echo "   $(dpkg-query -W -f='${Package} ${Version}: Depends: ${Depends}' "$package")"
$sudo nginx -t 2>&1 | sed 's/^/   /'
$sudo nginx -T 2>/dev/null | grep -q '^load_module modules/ngx_http_yoti_idv_module.so;' \
    || fail "nginx -T does not load the module"
echo "   nginx -t: the system configuration loads the module from $link"

echo "== 3. the autopkgtests (debian/tests) against the installed package"
# autopkgtest's own runner on this machine ("null" testbed); it leaves
# the package installed, as it found it
log=$(dirname "$deb")/autopkgtest.log
if $sudo autopkgtest --no-built-binaries "$deb" "$src" -- null \
       > "$log" 2>&1
then
    sed -n '/@@@@ summary/,$p' "$log" | grep -E 'PASS|FAIL|SKIP' \
        | sed 's/^/   /'
else
    tail -n 40 "$log"
    fail "autopkgtest, see $log"
fi
installed || fail "autopkgtest removed $package"

echo "== 4. the t/ suite against $so"
echo "   (the configuration tests print [emerg] and [warn] lines on purpose)"
(cd "$top" && ./util/prove.sh "$so" /usr/sbin/nginx) || fail "the t/ suite"

echo "== 5. apt-get purge $package"
apt purge "$package" > /dev/null
installed && fail "$package is still installed"
files_of_deb | while read -r f; do
    [ -e "$f" ] && echo "$f"
done | sort > "$after"
left=$(comm -13 "$before" "$after")
[ -z "$left" ] || fail "left behind: $left"
for f in "$link" "$link.removed"; do
    [ -e "$f" ] || [ -L "$f" ] && fail "left behind: $f"
done
echo "   nothing of $package is left"
echo "test-package: ok"
