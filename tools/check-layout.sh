#!/bin/sh
# The structure the code keeps (DEVELOPERS.md, "Layout rules"):
#   - the #include graph of src/ and ngx_signal_module.c has no cycle;
#   - nothing in src/ includes anything of ngx_signal_module.c;
#   - no C file is longer than 800 lines;
#   - no function is longer than 120 lines, but the frame reader's state
#     machine (ngx_signal_ws_read).
# Prints what breaks a rule and exits 1, or prints "layout ok".

set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
status=0

# "dependency file" pairs: tsort finds a cycle, if any
edges=$(for f in src/*.c src/*.h ngx_signal_module.c; do
    sed -n 's/^#include "\(.*\)"$/\1/p' "$f" | while read -r h; do
        echo "src/$h $f"
    done
done)

if ! echo "$edges" | tsort >/dev/null 2>/tmp/check-layout.$$; then
    echo "include cycle:"; cat /tmp/check-layout.$$
    status=1
fi
rm -f /tmp/check-layout.$$

if grep -l 'ngx_signal_module\.\(c\|h\)"' src/*.c src/*.h 2>/dev/null; then
    echo "the files above include ngx_signal_module.*"
    status=1
fi

for f in src/*.c ngx_signal_module.c; do
    n=$(wc -l < "$f")
    if [ "$n" -gt 800 ]; then
        echo "$f: $n lines (more than 800)"
        status=1
    fi
done

# a function: its name at the start of a line, "{" alone, then "}" alone
awk 'FNR == 1 { name = "" }
     /^[a-z_][a-z_0-9]*\(/ { name = $0; sub(/\(.*/, "", name) }
     /^\{$/ && name != "" { start = FNR }
     /^\}$/ && name != "" {
         if (FNR - start > 120 && name != "ngx_signal_ws_read") {
             printf "%s: %s is %d lines (more than 120)\n", FILENAME, name,
                    FNR - start
             bad = 1
         }
         name = ""
     }
     END { exit bad }' src/*.c ngx_signal_module.c || status=1

if [ "$status" = 0 ]; then
    echo "layout ok"
fi

exit $status
