#!/bin/sh
# Configure a private copy of Debian's nginx source tree (nginx-dev) with
# the package's own flags plus this module, so the .so loads into the
# system nginx binary (--with-compat keeps the module signature in step).
#
# usage: configure-nginx.sh NGINX_SRC DEST CC_OPT LD_OPT

set -eu

src=$1
dest=$2
cc_opt=$3
ld_opt=$4
addon=$(cd "$(dirname "$0")/.." && pwd)

if [ ! -f "$src/conf_flags" ]; then
    echo "error: $src/conf_flags not found; install nginx-dev" \
         "(apt-get install nginx-dev) or run 'make deps'" >&2
    exit 1
fi

rm -rf "$dest"
mkdir -p "$(dirname "$dest")"
cp -r "$src" "$dest"
cd "$dest"

bash -c '. ./conf_flags && exec ./configure "${NGX_CONF_FLAGS[@]}" \
    --with-cc-opt="$1" --with-ld-opt="$2" --add-dynamic-module="$3"' \
    configure "$cc_opt" "$ld_opt" "$addon"
