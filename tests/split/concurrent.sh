#!/bin/sh
# tests/split/concurrent.sh: the concurrent variant of the split-brain test (splitbrain.sh).
exec "$(dirname "$0")/splitbrain.sh" concurrent
