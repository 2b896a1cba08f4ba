#!/bin/sh
# Device side, every call of a lease: copy what this call carried (a bundle part, wheels) out of
# the working tree into $LEASE_DIR (default /tmp/cr), and show how the background preparation
# is doing.   sh bench/gpu/lease/stage.sh .gpu/p00
set -u
L=${LEASE_DIR:-/tmp/cr}   # lives as long as the machine
mkdir -p $L
cp "$1"/* $L/ && ls -la $L
[ -f $L/prep.log ] && tail -n 4 $L/prep.log
exit 0
