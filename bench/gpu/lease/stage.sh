#!/bin/sh
# Device side, every call of a lease: copy what this call carried (a bundle part, wheels) out of
# the working tree into /tmp/cr, which lives as long as the machine, and show how the background
# preparation is doing.   sh bench/gpu/lease/stage.sh .gpu/p00
set -u
mkdir -p /tmp/cr
cp "$1"/* /tmp/cr/ && ls -la /tmp/cr
[ -f /tmp/cr/prep.log ] && tail -n 4 /tmp/cr/prep.log
exit 0
