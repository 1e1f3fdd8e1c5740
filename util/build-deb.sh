#!/bin/sh
# `make deb`: builds the Debian package libnginx-mod-http-yoti-idv out of a
# copy of the tree (the worktree stays clean), with Debian's own tooling
# (dpkg-buildpackage, debhelper and nginx-dev's dh-sequence-nginx), offline,
# then runs lintian on it and fails on any lintian error.
#
#   util/build-deb.sh OUTDIR
#
# OUTDIR gets the .deb, .buildinfo, .changes and lintian.log; the copy of
# the tree is OUTDIR/src.  The package's version (debian/changelog) must
# be the module's (NGX_HTTP_YOTI_IDV_VERSION) and the top section of CHANGES.

set -eu

out=$1
top=$(cd "$(dirname "$0")/.." && pwd)

mkdir -p "$out"
out=$(cd "$out" && pwd)

module=$(sed -n 's/^#define NGX_HTTP_YOTI_IDV_VERSION *"\(.*\)"/\1/p' \
         "$top/ngx_http_yoti_idv_module/ngx_http_yoti_idv_module.h")
package=$(cd "$top" && dpkg-parsechangelog -S Version)
changes=$(sed -n '1s/^Changes with ngx_http_yoti_idv_module \([^ ]*\).*/\1/p' \
          "$top/CHANGES")

if [ "$module" != "$package" ] || [ "$module" != "$changes" ]; then
    echo "build-deb: versions differ: the module $module," \
         "debian/changelog $package, CHANGES $changes" >&2
    exit 1
fi

src=$out/src/libnginx-mod-http-yoti-idv-$package
rm -rf "$out/src"
mkdir -p "$src"
rm -f "$out"/libnginx-mod-http-yoti-idv*_"$package"_*

# the tree without what builds and tests leave behind
(cd "$top" && tar --exclude=./.git --exclude=./build --exclude='./t/servroot*' \
     --exclude=./t/unit/build --exclude='*.o' --exclude='*.so' \
     --exclude=__pycache__ -cf - .) | (cd "$src" && tar -xf -)

echo "build-deb: dpkg-buildpackage -us -uc -b in $src"
(cd "$src" && dpkg-buildpackage -us -uc -b) > "$out/build.log" 2>&1 || {
    tail -n 40 "$out/build.log"
    echo "build-deb: dpkg-buildpackage failed, see $out/build.log" >&2
    exit 1
}

mv "$out"/src/libnginx-mod-http-yoti-idv*_"$package"_* "$out"/

deb=$(ls "$out"/libnginx-mod-http-yoti-idv_"$package"_*.deb)

echo "build-deb: lintian $deb"
lintian --fail-on error "$deb" > "$out/lintian.log" 2>&1 || {
    cat "$out/lintian.log"
    echo "build-deb: lintian reports errors" >&2
    exit 1
}
cat "$out/lintian.log"

echo "build-deb: $deb"
dpkg-deb -I "$deb" | sed -n 's/^ \(Package\|Version\|Depends\):/  \1:/p'
dpkg-deb -c "$deb" | awk '{ print "  " $6 }'
