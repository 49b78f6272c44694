#!/bin/sh
# tests/chaos/short.sh: the short fault-injection run of make check: the
# two-node cluster with the VIP under mail load, both nodes serving through
# HAProxy (CHAOS_BALANCE=0: the VIP holder alone serves), while every fault
# kind is applied once, in the order a fixed seed gives (CHAOS_SEED
# overrides it; CHAOS_STRICT=1 makes expunged messages that came back fail
# the verdict too), then the checker's verdict.  The long run: run.sh
# --seconds 1800.
exec "$(dirname "$0")/run.sh" --short --seed "${CHAOS_SEED:-1}"
