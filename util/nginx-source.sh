#!/bin/sh
# Gets Debian's nginx source package for one Debian release, with
# `apt-get source` and a private apt configuration, and unpacks it (with
# Debian's patches applied).  Used by `make test-nginx-versions` and
# `make test-asan`.
#
#   util/nginx-source.sh SUITE DIR [VERSION SHA256]
#   util/nginx-source.sh trixie build/src/trixie
#
# VERSION and SHA256 (of its .dsc) name a version to fall back to when the
# mirror's index names a version whose files the mirror does not carry
# (the index is newer than the pool on some mirrors and caches): that .dsc
# is fetched from the same mirror's pool with apt's own downloader, checked
# against SHA256, and dpkg-source checks the tarballs against the .dsc.
#
# DIR/nginx is then a link to the unpacked tree (DIR/nginx-1.22.1).  When it
# is already there, nothing is downloaded; `make clean` removes it.
#
# The machine's apt setup is never read for anything but the mirror's
# address and never written: DIR/apt holds its own apt.conf (APT_CONFIG),
# sources.list with one deb-src line, for SUITE (its latest point release;
# not SUITE-security, whose files mirrors do not always carry), state and
# cache, and the index is checked with Debian's archive keyring.  The
# mirror is the one the machine's own apt uses for Debian (the first entry
# of /etc/apt/sources.list* for a Debian release itself), or $DEBIAN_MIRROR.

set -eu

suite=$1
dir=$2
fallback_version=${3:-}
fallback_sha256=${4:-}

keyring=/usr/share/keyrings/debian-archive-keyring.gpg

mkdir -p "$dir"
dir=$(cd "$dir" && pwd)

if [ -f "$dir/nginx/configure" ]; then
    echo "nginx-source: $suite: $(readlink "$dir/nginx") is already there"
    exit 0
fi

for f in "$keyring" /usr/bin/dpkg-source; do
    if [ ! -e "$f" ]; then
        echo "nginx-source: $f is missing" \
             "(apt-get install debian-archive-keyring dpkg-dev)" >&2
        exit 1
    fi
done


# The URIs of the machine's Debian entries, one per line, "URI SUITE",
# from one-line .list files and deb822 .sources files.

machine_entries() {
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -f "$f" ] || continue
        sed -e 's/#.*//' -e 's/\[[^]]*\]//' "$f" \
        | awk '$1 == "deb" || $1 == "deb-src" { print $2, $3 }'
    done

    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        awk '
            function flush() {
                if (types ~ /deb/ && enabled != "no") {
                    n = split(uris, u, " ")
                    m = split(suites, s, " ")
                    for (i = 1; i <= n; i++)
                        for (j = 1; j <= m; j++)
                            print u[i], s[j]
                }
                types = uris = suites = enabled = ""
            }
            /^[ \t]*#/ { next }
            /^[ \t]*$/ { flush(); next }
            tolower($1) == "types:"   { $1 = ""; types = $0 }
            tolower($1) == "uris:"    { $1 = ""; uris = $0 }
            tolower($1) == "suites:"  { $1 = ""; suites = $0 }
            tolower($1) == "enabled:" { enabled = tolower($2) }
            END { flush() }
        ' "$f"
    done
}

codenames='bookworm|trixie|forky|bullseye|sid|stable|testing|unstable|oldstable'

# the main archive: an entry for a Debian release itself (no "-security")
mirror=${DEBIAN_MIRROR:-$(machine_entries \
    | awk -v re="^($codenames)\$" \
          '$2 ~ re { print $1; exit }')}

if [ -z "$mirror" ]; then
    echo "nginx-source: no Debian mirror in /etc/apt/sources.list*;" \
         "set DEBIAN_MIRROR (e.g. http://deb.debian.org/debian)" >&2
    exit 1
fi

mirror=${mirror%/}


# the private apt configuration

apt=$dir/apt
rm -rf "$apt"
mkdir -p "$apt/apt.conf.d" "$apt/sources.list.d" "$apt/preferences.d" \
         "$apt/trusted.gpg.d" "$apt/state/lists/partial" \
         "$apt/cache/archives/partial"
: > "$apt/state/status"

echo "deb-src [signed-by=$keyring] $mirror $suite main" > "$apt/sources.list"

cat > "$apt/apt.conf" <<EOF
Dir::Etc::main "/dev/null";
Dir::Etc::parts "$apt/apt.conf.d";
Dir::Etc::sourcelist "$apt/sources.list";
Dir::Etc::sourceparts "$apt/sources.list.d";
Dir::Etc::preferences "$apt/preferences";
Dir::Etc::preferencesparts "$apt/preferences.d";
Dir::Etc::trusted "$apt/trusted.gpg";
Dir::Etc::trustedparts "$apt/trusted.gpg.d";
Dir::State "$apt/state";
Dir::State::status "$apt/state/status";
Dir::Cache "$apt/cache";
Dir::Log "$apt/log";
APT::Sandbox::User "$(id -un)";
Acquire::Languages "none";
Acquire::Retries "3";
EOF

export APT_CONFIG="$apt/apt.conf"

echo "nginx-source: $suite from $mirror"

apt-get -q update

work=$dir/download
rm -rf "$work"
mkdir -p "$work"

if ! (cd "$work" && apt-get -q source nginx); then

    if [ -z "$fallback_version" ]; then
        echo "nginx-source: apt-get source nginx failed for $suite" >&2
        exit 1
    fi

    echo "nginx-source: $suite: the mirror does not carry what its index" \
         "names; falling back to nginx $fallback_version"

    rm -rf "$work"
    mkdir -p "$work"

    pool=$mirror/pool/main/n/nginx
    dsc=nginx_$fallback_version.dsc

    /usr/lib/apt/apt-helper -q download-file \
        "$pool/$(echo "$dsc" | sed 's/+/%2b/g')" "$work/$dsc" \
        "SHA256:$fallback_sha256"

    # the files the .dsc lists, with their sizes and SHA-256 sums
    awk '/^Checksums-Sha256:/ { on = 1; next }
         /^[^ ]/ { on = 0 }
         on && NF == 3 { print $1, $3 }' "$work/$dsc" \
    | while read -r sum file; do
        /usr/lib/apt/apt-helper -q download-file \
            "$pool/$(echo "$file" | sed 's/+/%2b/g')" "$work/$file" \
            "SHA256:$sum"
    done

    (cd "$work" && dpkg-source -x "$dsc")
fi

tree=$(cd "$work" && ls -d nginx-*/ | head -n 1)
tree=${tree%/}

if [ -z "$tree" ] || [ ! -f "$work/$tree/configure" ]; then
    echo "nginx-source: apt-get source nginx unpacked no nginx tree" >&2
    exit 1
fi

rm -rf "${dir:?}/$tree"
mv "$work/$tree" "$dir/$tree"
ln -sfn "$tree" "$dir/nginx"

echo "nginx-source: $suite: $dir/$tree" \
     "($(cd "$work" && ls ./*.dsc | sed 's|^\./||'))"
